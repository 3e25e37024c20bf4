// One etcd replica as a local process on its own loopback address, the cluster endpoint (HAProxy)
// attached to it, and a write and a member list through that endpoint. Then everything is deleted.
// Run from the repository root after `npm test` (or a build):
//   node packages/provider-local/examples/one-replica.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClusterPki, issueReplicaCerts, replicaNodeFiles, withReplica } from '@hacp/certs';
import { createMembershipClient, memberFlags } from '@hacp/etcd';
import { createLocalProvider } from '@hacp/provider-local';

const stateDir = mkdtempSync(join(tmpdir(), 'hacp-example-'));
const provider = createLocalProvider({ stateDir });
const replica = { name: 'example-master', zone: 'local-a' };
const addressRef = { name: 'example-master-ip', region: 'local' };
let n = 0;
const op = () => ({ requestId: `example-${++n}` });

try {
  // 1. Where the replica and the endpoint will be, before anything runs.
  const network = await provider.instances.allocateNetwork({ ...replica, cluster: 'example' }, op());
  const address = await provider.addresses.reserve(addressRef, op());
  console.log(`replica ${replica.name} at ${network.internalIp}, endpoint at ${address.ip}`);

  // 2. What the SDK renders: certificates for that address, etcd's flags (the provider renders nothing).
  let pki = await createClusterPki({ clusterName: 'example', endpointAddress: address.ip });
  pki = withReplica(
    pki,
    await issueReplicaCerts(pki, {
      replicaName: replica.name,
      hostname: network.hostname,
      internalIp: network.internalIp,
    }),
  );
  const at = (file) => join(network.rootDir, file);
  const args = memberFlags({
    name: replica.name,
    clientUrls: [`https://${network.internalIp}:${2379 + network.portOffset}`],
    peerUrls: [`https://${network.internalIp}:${2380 + network.portOffset}`],
    pkiPaths: {
      trustedCaFile: at('pki/etcd/ca.crt'),
      certFile: at('pki/etcd/server.crt'),
      keyFile: at('pki/etcd/server.key'),
      peerCertFile: at('pki/etcd/peer.crt'),
      peerKeyFile: at('pki/etcd/peer.key'),
    },
    initialCluster: [
      { name: replica.name, peerUrl: `https://${network.internalIp}:${2380 + network.portOffset}` },
    ],
    state: 'new',
    token: 'hacp-example',
    dataDir: at('etcd-data'),
  });

  // 3. The provider materialises it: files with their modes, a detached etcd, HAProxy on the address.
  await provider.instances.create(
    {
      ...replica,
      cluster: 'example',
      nodeConfig: {
        files: replicaNodeFiles(pki, replica.name),
        processes: [{ name: 'etcd', command: 'etcd', args }],
      },
    },
    op(),
  );
  await provider.addresses.attach(addressRef, replica, op());
  const [etcd] = await provider.processes(replica);
  console.log(`etcd runs as pid ${etcd.pid}, its log in ${etcd.logFile}`);

  // 4. Through the endpoint, with client certificates.
  const client = createMembershipClient({
    endpoints: [`https://${address.ip}:${2379 + (address.portOffset ?? 0)}`],
    tls: { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem },
  });
  const members = await client.members();
  console.log(`members through the endpoint: ${members.map((member) => member.name).join(', ')}`);
  await client.close();
} finally {
  await provider.addresses.detach(addressRef, op()).catch(() => undefined);
  await provider.addresses.release(addressRef, op());
  await provider.instances.delete(replica, op());
  rmSync(stateDir, { recursive: true, force: true });
  console.log('deleted: no process of the example is left');
}
