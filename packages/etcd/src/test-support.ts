import { type ClusterPki, createClusterPki } from '@hacp/certs';
import { type EtcdTestCluster, freePorts, startEtcdCluster } from '@hacp/testkit';
import { expect } from 'vitest';
import { createMembershipClient, type EtcdMember, type MembershipClient } from './client.js';
import { type MemberFlagsOptions, memberFlags } from './flags.js';

let sharedPki: Promise<ClusterPki> | undefined;

/** One PKI per test file: making it is the slow part, and clusters never share members. */
export function testPki(): Promise<ClusterPki> {
  sharedPki ??= createClusterPki({ clusterName: 'etcd-tests', endpointAddress: '127.0.0.1' });
  return sharedPki;
}

export interface TestCluster {
  cluster: EtcdTestCluster;
  etcd: MembershipClient;
  /** addLearner → start the process with memberFlags → promoteWhenReady, as the SDK does. */
  grow(name: string): Promise<EtcdMember>;
  /** The member by name, from the member list. */
  memberNamed(name: string): Promise<EtcdMember>;
  /** Every started voter has the same KV hash at one revision; returns how many were compared. */
  expectConsistent(): Promise<number>;
  stop(): Promise<void>;
}

/** A real etcd cluster (testkit) whose members run with @hacp/etcd's own `memberFlags`. */
export async function startTestCluster(
  members: 1 | 3 | 5,
  options: { flags?: Partial<MemberFlagsOptions> } = {},
): Promise<TestCluster> {
  const pki = await testPki();
  const cluster = await startEtcdCluster({
    members,
    pki,
    memberFlags: (input) => memberFlags({ ...input, ...options.flags }),
  });
  const etcd = createMembershipClient({
    endpoints: cluster.endpoints,
    tls: { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem },
  });
  const memberNamed = async (name: string) => {
    const found = (await etcd.members()).find((member) => member.name === name);
    if (found === undefined) throw new Error(`no member named ${name}`);
    return found;
  };
  return {
    cluster,
    etcd,
    memberNamed,
    async grow(name) {
      const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
      const added = await etcd.addLearner({ name, peerUrl: `https://127.0.0.1:${peerPort}` });
      expect(added.member.learner).toBe(true);
      expect(added.state).toBe('existing');
      await cluster.spawnMember({
        name,
        initialCluster: added.initialCluster.split(','),
        state: added.state,
        clientPort,
        peerPort,
      });
      return etcd.promoteWhenReady(added.member.id, { timeoutMs: 30_000, stallAfterMs: 15_000 });
    },
    async expectConsistent() {
      const hashes = await etcd.hashKv();
      expect(new Set(hashes.map((entry) => entry.hash)).size).toBe(1);
      return hashes.length;
    },
    async stop() {
      etcd.close();
      await cluster.stop();
    },
  };
}

/** Writes `count` keys under `prefix` through the testkit's client. */
export async function writeKeys(cluster: EtcdTestCluster, prefix: string, count: number): Promise<void> {
  const client = cluster.client({
    members: cluster.members.filter((member) => member.running).map((member) => member.name),
  });
  for (let i = 0; i < count; i++) await client.put(`${prefix}/${i}`).value(`value-${i}`);
}

/** The member list in a comparable form: id, name, peer URLs, learner. */
export async function membershipOf(etcd: MembershipClient): Promise<string[]> {
  return (await etcd.members())
    .map(
      (member) =>
        `${member.id} ${member.name} ${member.peerUrls.join(',')} ${member.learner ? 'learner' : 'voter'}`,
    )
    .sort();
}
