import { ErrorCode, isHacpError } from '@hacp/core';
import { freePorts } from '@hacp/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { membershipOf, startTestCluster, type TestCluster, writeKeys } from './test-support.js';

async function rejection(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!isHacpError(error)) throw new Error(`expected a HacpError, got ${String(error)}`);
  return error;
}

/** Waits until member `id` has published its name: its process started and reached the cluster. */
async function waitUntilStarted(test: TestCluster, id: string): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    if ((await test.etcd.members()).find((member) => member.id === id)?.started) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`member ${id} did not start`);
}

/** A learner added at free ports, and how to start its process with the flags etcd asked for. */
async function addLearnerOnFreePorts(test: TestCluster, name: string) {
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const added = await test.etcd.addLearner({ name, peerUrl: `https://127.0.0.1:${peerPort}` });
  const start = () =>
    test.cluster.spawnMember({
      name,
      initialCluster: added.initialCluster.split(','),
      state: 'existing',
      clientPort,
      peerPort,
    });
  return { added, start };
}

async function freePeerUrl(): Promise<string> {
  const [port] = await freePorts(1);
  return `https://127.0.0.1:${port}`;
}

describe('with one of three members down', () => {
  let test: TestCluster;
  beforeAll(async () => {
    test = await startTestCluster(3);
    await writeKeys(test.cluster, 'before', 20);
    await test.cluster.killMember('etcd-3');
  });
  afterAll(async () => {
    await test?.stop();
  });

  it('status and health show which member is down', async () => {
    const status = await test.etcd.status({ endpoints: test.cluster.endpoints });
    const down = test.cluster.member('etcd-3').clientUrl;
    const answered = status.filter((entry) => entry.ok);
    expect(answered).toHaveLength(2);
    expect(status.find((entry) => entry.endpoint === down)).toMatchObject({
      ok: false,
      error: { code: ErrorCode.UNAVAILABLE },
    });
    const [one, two] = answered;
    expect(one?.leaderId).toBe(two?.leaderId);
    expect(one?.raftTerm).toBe(two?.raftTerm);
    for (const entry of answered) {
      expect(entry.dbSizeBytes).toBeGreaterThan(0);
      expect(BigInt(entry.appliedIndex as string)).toBeGreaterThan(20n);
      expect(BigInt(entry.raftIndex as string)).toBeGreaterThanOrEqual(
        BigInt(entry.appliedIndex as string) - 1n,
      );
      expect(entry).toMatchObject({ alarms: [], errors: [], learner: false });
    }
    const health = await test.etcd.health({ timeoutMs: 2000 });
    expect(Object.fromEntries(health.map((entry) => [entry.name, entry.healthy]))).toEqual({
      'etcd-1': true,
      'etcd-2': true,
      'etcd-3': false,
    });
    expect(health.find((entry) => entry.name === 'etcd-3')?.error).toMatch(/ECONNREFUSED|did not answer/);
  });

  it('refuses to add a member, and the cluster is unchanged', async () => {
    const before = await membershipOf(test.etcd);
    const error = await rejection(test.etcd.addLearner({ name: 'etcd-4', peerUrl: await freePeerUrl() }));
    expect(error.code).toBe(ErrorCode.QUORUM_AT_RISK);
    expect(error.message).toContain('etcd-3');
    expect(error.actions.length).toBeGreaterThan(0);
    expect(await membershipOf(test.etcd)).toEqual(before);
  });

  it('refuses to remove a healthy member, and the cluster is unchanged', async () => {
    const before = await membershipOf(test.etcd);
    const healthy = await test.memberNamed('etcd-1');
    const error = await rejection(test.etcd.removeMember(healthy.id));
    expect(error.code).toBe(ErrorCode.QUORUM_AT_RISK);
    expect(error.message).toMatch(/would leave 1 healthy voter of 2, fewer than the quorum of 2/);
    expect(await membershipOf(test.etcd)).toEqual(before);
    expect(test.cluster.member('etcd-1').running).toBe(true);
  });

  it('removes the member that is down, and the two left keep serving', async () => {
    const down = await test.memberNamed('etcd-3');
    const removed = await test.etcd.removeMember(down.id);
    expect(removed.removed.name).toBe('etcd-3');
    expect(removed.leaderMove).toBeUndefined();
    expect((await test.etcd.members()).map((member) => member.name).sort()).toEqual(['etcd-1', 'etcd-2']);
    await writeKeys(test.cluster, 'after', 20);
    expect(await test.expectConsistent()).toBe(2);
  });
});

describe('removing the leader', () => {
  let test: TestCluster;
  beforeAll(async () => {
    test = await startTestCluster(3);
  });
  afterAll(async () => {
    await test?.stop();
  });

  it('moves leadership first; writes go on with at most one retried request', async () => {
    const leaderName = await test.cluster.leader();
    const leader = await test.memberNamed(leaderName);
    const others = test.cluster.members
      .filter((member) => member.name !== leaderName)
      .map((member) => member.name);
    const writer = test.cluster.client({ members: others });
    let running = true;
    const written: string[] = [];
    let failed = 0;
    const writes = (async () => {
      for (let i = 0; running; i++) {
        try {
          await writer.put(`during/${i}`).value(String(i));
          written.push(`during/${i}`);
        } catch {
          failed++;
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const removed = await test.etcd.removeMember(leader.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    running = false;
    await writes;
    await test.cluster.stopMember(leaderName);

    expect(removed.leaderMove).toMatchObject({ moved: true, from: leader.id });
    expect(removed.leaderMove?.to).not.toBe(leader.id);
    expect(failed).toBeLessThanOrEqual(1);
    expect(written.length).toBeGreaterThan(20);
    const stored = await writer.getAll().prefix('during/').keys();
    expect(stored.sort()).toEqual([...written].sort());
    const newLeader = await test.cluster.leader();
    expect(newLeader).not.toBe(leaderName);
    expect((await test.etcd.members()).map((member) => member.id)).not.toContain(leader.id);
  });

  it('moveLeaderAway leaves a follower alone', async () => {
    const leaderName = await test.cluster.leader();
    const follower = (await test.etcd.members()).find((member) => member.name !== leaderName);
    const move = await test.etcd.moveLeaderAway(follower?.id as string);
    expect(move.moved).toBe(false);
    expect(await test.cluster.leader()).toBe(leaderName);
  });
});

describe('learners', () => {
  let test: TestCluster;
  beforeAll(async () => {
    test = await startTestCluster(3);
    await writeKeys(test.cluster, 'base', 20);
  });
  afterAll(async () => {
    await test?.stop();
  });

  it('refuses a second learner with LEARNER_PRESENT, and the cluster is unchanged', async () => {
    const first = await test.etcd.addLearner({ name: 'etcd-4', peerUrl: await freePeerUrl() });
    const before = await membershipOf(test.etcd);
    const error = await rejection(test.etcd.addLearner({ name: 'etcd-5', peerUrl: await freePeerUrl() }));
    expect(error.code).toBe(ErrorCode.LEARNER_PRESENT);
    expect(error.details).toMatchObject({ learnerId: first.member.id });
    expect(await membershipOf(test.etcd)).toEqual(before);
    // Clean up for the next test: a learner can always go.
    await test.etcd.removeMember(first.member.id);
    expect((await test.etcd.members()).some((member) => member.learner)).toBe(false);
  });

  it('evicts a learner whose process never starts within the start bound as MEMBER_NOT_STARTED, not at the stall bound', async () => {
    const peerUrl = await freePeerUrl();
    const added = await test.etcd.addLearner({ name: 'etcd-6', peerUrl });
    const memberStartTimeoutMs = 3000;
    const stallAfterMs = 1000;
    const started = Date.now();
    const error = await rejection(
      test.etcd.promoteWhenReady(added.member.id, { memberStartTimeoutMs, stallAfterMs, timeoutMs: 60_000 }),
    );
    const took = Date.now() - started;
    expect(error.code).toBe(ErrorCode.MEMBER_NOT_STARTED);
    expect(error.message).toContain(peerUrl);
    expect(error.message).toContain('never started');
    expect(error.details).toMatchObject({
      memberId: added.member.id,
      peerUrls: [peerUrl],
      memberStartTimeoutMs,
    });
    expect(took).toBeGreaterThanOrEqual(memberStartTimeoutMs);
    expect(took).toBeLessThan(memberStartTimeoutMs + 5000);
    const members = await test.etcd.members();
    expect(members.map((member) => member.id)).not.toContain(added.member.id);
    expect(members.filter((member) => !member.learner)).toHaveLength(3);
    await writeKeys(test.cluster, 'after-eviction', 10);
    expect(await test.expectConsistent()).toBe(3);
  });

  it('promotes a learner whose process starts only after longer than the stall bound', async () => {
    const { added, start } = await addLearnerOnFreePorts(test, 'etcd-8');
    const stallAfterMs = 1500;
    const promotion = test.etcd.promoteWhenReady(added.member.id, {
      stallAfterMs,
      memberStartTimeoutMs: 30_000,
      timeoutMs: 30_000,
    });
    // A slow boot: more than twice the stall bound before the process starts.
    await new Promise((resolve) => setTimeout(resolve, 2 * stallAfterMs + 500));
    expect((await test.etcd.members()).find((member) => member.id === added.member.id)?.learner).toBe(true);
    await start();
    expect(await promotion).toMatchObject({ id: added.member.id, name: 'etcd-8', learner: false });
    expect(await test.expectConsistent()).toBe(4);
    // Back to three voters for the tests after this one.
    await test.etcd.removeMember(added.member.id);
    await test.cluster.killMember('etcd-8');
    expect((await test.etcd.members()).map((member) => member.name).sort()).toEqual([
      'etcd-1',
      'etcd-2',
      'etcd-3',
    ]);
  });

  it('evicts a learner that started and then stopped making progress as LEARNER_STALLED, at the stall bound', async () => {
    const { added, start } = await addLearnerOnFreePorts(test, 'etcd-9');
    await start();
    await waitUntilStarted(test, added.member.id);
    await test.cluster.killMember('etcd-9');
    // Far enough ahead that etcd refuses to promote it (it needs 90% of the leader's log).
    await writeKeys(test.cluster, 'while-stopped', 200);
    const stallAfterMs = 2000;
    const started = Date.now();
    const error = await rejection(
      test.etcd.promoteWhenReady(added.member.id, {
        stallAfterMs,
        memberStartTimeoutMs: 30_000,
        timeoutMs: 60_000,
      }),
    );
    const took = Date.now() - started;
    expect(error.code).toBe(ErrorCode.LEARNER_STALLED);
    expect(error.details).toMatchObject({ memberId: added.member.id, name: 'etcd-9', stallAfterMs });
    expect(took).toBeGreaterThanOrEqual(stallAfterMs);
    expect(took).toBeLessThan(stallAfterMs + 5000);
    const members = await test.etcd.members();
    expect(members.map((member) => member.id)).not.toContain(added.member.id);
    expect(members.filter((member) => !member.learner)).toHaveLength(3);
    expect(await test.expectConsistent()).toBe(3);
  });

  it('never promotes a learner before it has caught up', async () => {
    const { added, start } = await addLearnerOnFreePorts(test, 'etcd-7');
    const promotion = test.etcd.promoteWhenReady(added.member.id, {
      stallAfterMs: 30_000,
      timeoutMs: 60_000,
    });
    let settled = false;
    promotion.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    // It has nothing yet: etcd refuses every attempt and promoteWhenReady keeps waiting.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(settled).toBe(false);
    expect((await test.etcd.members()).find((member) => member.id === added.member.id)?.learner).toBe(true);
    await start();
    const promoted = await promotion;
    expect(promoted).toMatchObject({ id: added.member.id, learner: false });
    // Promoted with everything: its key space equals the others'.
    expect(await test.expectConsistent()).toBe(4);
    const own = test.cluster.client({ members: ['etcd-7'] });
    expect(await own.getAll().prefix('base/').keys()).toHaveLength(20);
  });
});
