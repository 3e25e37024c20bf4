import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterPki } from '@hacp/certs';
import { createClusterPki, issueReplicaCerts, replicaNodeFiles, withReplica } from '@hacp/certs';
import type { InstanceNetwork, NodeConfig } from '@hacp/core';
import { STANDARD_PORTS } from '@hacp/core/provider-kit';
import { memberFlags } from '@hacp/etcd';
import { createLocalProvider, type LocalProvider, type LocalProviderSettings } from './provider.js';

/** A fresh state folder for one test, under the OS temp folder. */
export async function tempStateDir(
  prefix = 'hacp-local-test-',
): Promise<{ dir: string; remove(): Promise<void> }> {
  // Under the global setup's root, so that its teardown stops whatever a failed test left running.
  const dir = await mkdtemp(join(process.env.HACP_LOCAL_TEST_ROOT ?? tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface PlannedMember {
  name: string;
  network: InstanceNetwork;
}

const clientUrl = (network: InstanceNetwork) =>
  `https://${network.internalIp}:${STANDARD_PORTS.etcdClient + network.portOffset}`;
const peerUrl = (network: InstanceNetwork) =>
  `https://${network.internalIp}:${STANDARD_PORTS.etcdPeer + network.portOffset}`;

/**
 * Renders what the SDK will render for an etcd-only replica, with the production renderers:
 * certificates from @hacp/certs for the allocated address, and etcd's flags from @hacp/etcd.
 */
export async function etcdNodeConfigs(options: {
  cluster: string;
  endpointAddress: string;
  members: readonly PlannedMember[];
  token: string;
}): Promise<{ pki: ClusterPki; configs: Map<string, NodeConfig> }> {
  let pki = await createClusterPki({
    clusterName: options.cluster,
    endpointAddress: options.endpointAddress,
  });
  for (const member of options.members) {
    const certs = await issueReplicaCerts(pki, {
      replicaName: member.name,
      hostname: member.network.hostname,
      internalIp: member.network.internalIp,
    });
    pki = withReplica(pki, certs);
  }
  const initialCluster = options.members.map((member) => ({
    name: member.name,
    peerUrl: peerUrl(member.network),
  }));
  const configs = new Map<string, NodeConfig>();
  for (const member of options.members) {
    const root = member.network.rootDir;
    const args = memberFlags({
      name: member.name,
      clientUrls: [clientUrl(member.network)],
      peerUrls: [peerUrl(member.network)],
      pkiPaths: {
        trustedCaFile: join(root, 'pki/etcd/ca.crt'),
        certFile: join(root, 'pki/etcd/server.crt'),
        keyFile: join(root, 'pki/etcd/server.key'),
        peerCertFile: join(root, 'pki/etcd/peer.crt'),
        peerKeyFile: join(root, 'pki/etcd/peer.key'),
      },
      initialCluster,
      state: 'new',
      token: options.token,
      dataDir: join(root, 'etcd-data'),
    });
    configs.set(member.name, {
      files: replicaNodeFiles(pki, member.name),
      processes: [{ name: 'etcd', command: 'etcd', args, ports: { client: 2379, peer: 2380 } }],
    });
  }
  return { pki, configs };
}

/** Writes hacp's etcd client certificate for etcdctl; returns its flags. */
export async function etcdctlTls(pki: ClusterPki, dir: string): Promise<string[]> {
  await writeFile(join(dir, 'etcd-ca.crt'), pki.etcdCa.certPem);
  await writeFile(join(dir, 'client.crt'), pki.etcdClient.certPem);
  await writeFile(join(dir, 'client.key'), pki.etcdClient.keyPem.reveal(), { mode: 0o600 });
  return [
    `--cacert=${join(dir, 'etcd-ca.crt')}`,
    `--cert=${join(dir, 'client.crt')}`,
    `--key=${join(dir, 'client.key')}`,
  ];
}

/** The records of one kind in a state folder (`local/<kind>/*.json`), parsed. */
async function recordsOf<T>(dir: string, kind: string): Promise<T[]> {
  const names = await readdir(join(dir, 'local', kind)).catch(() => [] as string[]);
  return Promise.all(
    names.map(async (name) => JSON.parse(await readFile(join(dir, 'local', kind, name), 'utf8')) as T),
  );
}

/**
 * A provider on a fresh state folder (`stopGraceMs` 3 s unless given), and `cleanUp`, which deletes
 * every load balancer, instance and address it made, so that nothing it started outlives the
 * test, then the folder.
 */
export async function freshProvider(
  settings: LocalProviderSettings = {},
): Promise<{ provider: LocalProvider; dir: string; cleanUp(): Promise<void> }> {
  const temp = await tempStateDir();
  const provider = createLocalProvider({ stateDir: temp.dir, stopGraceMs: 3_000, ...settings });
  const op = { requestId: 'test-cleanup' };
  return {
    provider,
    dir: temp.dir,
    async cleanUp() {
      for (const { spec } of await recordsOf<{ spec: { name: string; region: string } }>(
        temp.dir,
        'load-balancers',
      )) {
        await provider.loadBalancers.delete(spec, op);
      }
      for (const instance of await recordsOf<{ name: string; zone: string }>(temp.dir, 'instances')) {
        await provider.instances.delete({ name: instance.name, zone: instance.zone }, op);
      }
      for (const address of await recordsOf<{ name: string; region: string }>(temp.dir, 'addresses')) {
        await provider.addresses.detach(address, op);
        await provider.addresses.release(address, op);
      }
      await temp.remove();
    },
  };
}
