import { readFile } from 'node:fs/promises';
import { createClusterPki } from '@hacp/certs';
import { ErrorCode, isHacpError } from '@hacp/core';
import { freePorts } from '@hacp/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchMetrics } from './metrics.js';
import { membershipOf, startTestCluster, type TestCluster, testPki } from './test-support.js';

/** What etcd 3.4 logs on the receiving side when a leader streams it a whole database. */
const RECEIVED_SNAPSHOT = /receiving database snapshot|received and saved database snapshot/;

/** Enough writes for the leader to cut a raft snapshot (snapshot-count 100) and trim its log. */
async function fill(test: TestCluster, prefix: string, count: number): Promise<void> {
  const client = test.cluster.client({
    members: test.cluster.members.filter((member) => member.running).map((member) => member.name),
  });
  const batch = 64;
  for (let start = 0; start < count; start += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, (_, i) =>
        client.put(`${prefix}/${start + i}`).value('x'.repeat(100)),
      ),
    );
  }
}

describe('member migration: same id, same data dir, new peer URL', () => {
  let test: TestCluster;
  beforeAll(async () => {
    // A small snapshot count makes a fresh member need a streamed snapshot: the contrast below.
    test = await startTestCluster(3, { flags: { snapshotCount: 100 } });
    await fill(test, 'before', 6000);
  });
  afterAll(async () => {
    await test?.stop();
  });

  it('refuses to migrate a member that still runs, and changes nothing', async () => {
    const member = await test.memberNamed('etcd-2');
    const [port] = await freePorts(1);
    const before = await membershipOf(test.etcd);
    const error = await test.etcd
      .migrateMember(member.id, `https://127.0.0.1:${port}`)
      .catch((e: unknown) => e);
    expect(isHacpError(error, ErrorCode.CONFLICT)).toBe(true);
    expect((error as Error).message).toMatch(/still runs/);
    expect(await membershipOf(test.etcd)).toEqual(before);
  });

  it('rejoins with its id and data, without a snapshot transfer', async () => {
    const member = await test.memberNamed('etcd-2');
    const oldPeerUrl = member.peerUrls[0];
    await test.cluster.stopMember('etcd-2');
    const logBefore = await readFile(test.cluster.member('etcd-2').logFile, 'utf8');
    await fill(test, 'while-stopped', 200);

    const [peerPort] = (await freePorts(1)) as [number];
    const newPeerUrl = `https://127.0.0.1:${peerPort}`;
    const migrated = await test.etcd.migrateMember(member.id, newPeerUrl);
    expect(migrated.member).toMatchObject({ id: member.id, name: 'etcd-2', peerUrls: [newPeerUrl] });
    expect(migrated.initialCluster).toContain(`etcd-2=${newPeerUrl}`);
    expect(migrated.initialCluster).not.toContain(oldPeerUrl);

    await test.cluster.startMember('etcd-2', { peerPort });
    await test.cluster.waitHealthy();
    const after = await test.memberNamed('etcd-2');
    expect(after).toMatchObject({ id: member.id, peerUrls: [newPeerUrl], learner: false, started: true });
    expect(await test.expectConsistent()).toBe(3);
    const own = test.cluster.client({ members: ['etcd-2'] });
    expect(await own.getAll().prefix('while-stopped/').count()).toBe(200);
    const logAfter = (await readFile(test.cluster.member('etcd-2').logFile, 'utf8')).slice(logBefore.length);
    expect(logAfter).not.toMatch(RECEIVED_SNAPSHOT);
  });

  it('(control) a fresh member of the same cluster does receive a streamed snapshot', async () => {
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    const added = await test.etcd.addLearner({ name: 'etcd-4', peerUrl: `https://127.0.0.1:${peerPort}` });
    const fresh = await test.cluster.spawnMember({
      name: 'etcd-4',
      initialCluster: added.initialCluster.split(','),
      state: 'existing',
      clientPort,
      peerPort,
    });
    const promoted = await test.etcd.promoteWhenReady(added.member.id, {
      timeoutMs: 30_000,
      waitServing: true,
    });
    expect(await readFile(fresh.logFile, 'utf8')).toMatch(RECEIVED_SNAPSHOT);
    // waitServing: promoted and answering linearizable reads, not only counted as a voter.
    expect(promoted).toMatchObject({ name: 'etcd-4', learner: false, started: true });
    const health = await test.etcd.health({ timeoutMs: 1000 });
    expect(health.find((entry) => entry.id === added.member.id)?.healthy).toBe(true);
  });

  it("reads the leader's metrics over its client URL with the client certificate", async () => {
    const pki = await testPki();
    const leader = test.cluster.member(await test.cluster.leader());
    const tls = { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem };
    expect(await fetchMetrics(leader.clientUrl, tls, 2000)).toMatch(/^etcd_server_is_leader 1$/m);
    const foreign = await createClusterPki({ clusterName: 'foreign-metrics', endpointAddress: '127.0.0.1' });
    await expect(
      fetchMetrics(
        leader.clientUrl,
        { ...tls, certPem: foreign.etcdClient.certPem, keyPem: foreign.etcdClient.keyPem },
        2000,
      ),
    ).rejects.toThrow();
  });
});
