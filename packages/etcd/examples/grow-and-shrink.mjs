// Grows a real etcd cluster from one member to three the safe way, removes its leader, and prints
// the member list at each step. Run from the repository root after `npm test` (or a build):
//   node packages/etcd/examples/grow-and-shrink.mjs
import { createClusterPki } from '@hacp/certs';
import { createMembershipClient, memberFlags } from '@hacp/etcd';
import { freePorts, startEtcdCluster } from '@hacp/testkit';

const pki = await createClusterPki({ clusterName: 'example', endpointAddress: '127.0.0.1' });
const cluster = await startEtcdCluster({ members: 1, pki, memberFlags });
const etcd = createMembershipClient({
  endpoints: cluster.endpoints,
  tls: { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem },
});

async function show(title) {
  const [members, status] = [
    await etcd.members(),
    await etcd.status({ endpoints: cluster.members.filter((m) => m.running).map((m) => m.clientUrl) }),
  ];
  const leader = status.find((entry) => entry.ok)?.leaderId;
  console.log(`\n${title}`);
  for (const member of members) {
    const role = member.learner ? 'learner' : member.id === leader ? 'leader' : 'voter';
    console.log(
      `  ${member.name.padEnd(8)} ${member.id.padEnd(21)} ${role.padEnd(8)} ${member.peerUrls.join(',')}`,
    );
  }
}

try {
  await cluster.client().put('greeting').value('hello');
  await show('one member:');
  for (const name of ['etcd-2', 'etcd-3']) {
    const [clientPort, peerPort] = await freePorts(2);
    const added = await etcd.addLearner({ name, peerUrl: `https://127.0.0.1:${peerPort}` });
    await cluster.spawnMember({
      name,
      initialCluster: added.initialCluster.split(','),
      state: added.state,
      clientPort,
      peerPort,
    });
    await etcd.promoteWhenReady(added.member.id);
  }
  await show('grown to three (each added as a learner, promoted once caught up):');
  const leaderName = await cluster.leader();
  const leader = (await etcd.members()).find((member) => member.name === leaderName);
  const removed = await etcd.removeMember(leader.id);
  await cluster.stopMember(leaderName);
  console.log(`\nremoved the leader ${leaderName}; leadership moved first to ${removed.leaderMove?.to}`);
  await show('two left:');
  const hashes = await etcd.hashKv();
  console.log(`\nKV hash on every member: ${[...new Set(hashes.map((entry) => entry.hash))].join(', ')}`);
} finally {
  etcd.close();
  await cluster.stop();
}
