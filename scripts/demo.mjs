// The main job, until the hacp CLI exists: a full cluster PKI made with @hacp/certs, a real 3-member
// etcd cluster with peer and client mTLS on loopback (through the testkit), a key written and read
// back, the member list, and everything stopped again.
import { checkExpiry, createClusterPki } from '@hacp/certs';
import { isHacpError, newReplicaName } from '@hacp/core';
import { startEtcdCluster } from '@hacp/testkit';

const cluster = 'kubernetes';
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const step = (text) => console.log(`[${elapsed()}] ${text}`);

function table(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  return rows
    .map((row) => `  ${row.map((cell, column) => String(cell).padEnd(widths[column])).join('  ')}`)
    .join('\n');
}

const names = [];
for (let i = 0; i < 3; i++) names.push(newReplicaName({ cluster, existing: names }));

step(`creating the PKI of cluster "${cluster}" (ECDSA P-256)`);
const pki = await createClusterPki({ clusterName: cluster, endpointAddress: '127.0.0.1' });

step(`starting etcd members ${names.join(', ')} on 127.0.0.1 with peer and client mTLS`);
let etcd;
const stop = async () => {
  if (etcd) {
    const current = etcd;
    etcd = undefined;
    await current.stop();
  }
};
process.once('SIGINT', () => {
  void stop().finally(() => process.exit(130));
});

try {
  etcd = await startEtcdCluster({ members: 3, pki, names });
  step('cluster is healthy');

  const client = etcd.client();
  const value = `written at ${new Date().toISOString()}`;
  await client.put('hacp/demo').value(value);
  const read = await client.get('hacp/demo').string();
  step(`wrote hacp/demo and read it back (linearizable): ${read === value ? 'match' : `MISMATCH: ${read}`}`);
  if (read !== value) process.exitCode = 1;

  const anonymous = etcd.client({ withCertificate: false, dialTimeoutMs: 1500 });
  const refused = await anonymous
    .get('hacp/demo')
    .string()
    .then(
      () => false,
      () => true,
    );
  step(
    `a client without a certificate: ${refused ? 'refused, as it must be' : 'ACCEPTED (mTLS is not enforced!)'}`,
  );
  if (!refused) process.exitCode = 1;

  const { members } = await client.cluster.memberList({ linearizable: true });
  const statuses = await Promise.all(
    etcd.members.map((m) => etcd.client({ members: [m.name] }).maintenance.status()),
  );
  const leaderId = statuses[0].leader;
  const byId = new Map(statuses.map((s) => [s.header.member_id, s]));
  console.log('\netcd members');
  console.log(
    table([
      ['ID', 'NAME', 'ROLE', 'LEADER', 'PEER URL', 'CLIENT URL', 'RAFT INDEX', 'DB SIZE'],
      ...members.map((m) => [
        BigInt(m.ID).toString(16),
        m.name,
        m.isLearner ? 'learner' : 'voter',
        m.ID === leaderId ? 'yes' : '',
        m.peerURLs.join(','),
        m.clientURLs.join(','),
        byId.get(m.ID)?.raftIndex ?? '?',
        `${byId.get(m.ID)?.dbSize ?? '?'} B`,
      ]),
    ]),
  );
  const voters = members.filter((m) => !m.isLearner);
  const quorum = Math.floor(voters.length / 2) + 1;
  const healthy = voters.length === 3 && statuses.length === 3 && members.every((m) => m.name !== '');
  console.log(
    `\n${healthy ? 'healthy' : 'NOT healthy'}: ${voters.length} voters, quorum ${quorum}, tolerates the loss of ${voters.length - quorum}`,
  );
  if (!healthy) process.exitCode = 1;

  const expiry = checkExpiry(etcd.pki);
  const soonest = expiry.filter((e) => !e.isCa).sort((a, b) => a.daysLeft - b.daysLeft)[0];
  console.log(
    `certificates: ${expiry.length} issued, CAs valid ${expiry[0].daysLeft} days, leaves ${soonest.daysLeft} days`,
  );
} catch (error) {
  process.exitCode = 1;
  if (isHacpError(error)) {
    console.error(`error ${error.code}: ${error.message}`);
    for (const action of error.actions) console.error(`  -> ${action}`);
  } else {
    console.error(error);
  }
} finally {
  step('stopping every etcd member');
  await stop();
  step(process.exitCode ? 'demo FAILED' : 'done: all processes stopped, data removed');
}
