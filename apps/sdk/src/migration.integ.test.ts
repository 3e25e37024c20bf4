// `replace` with keepData (etcd's member migration) on the local provider with real etcd: the member
// keeps its id and data, and the leader streams nothing to it.
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { journalKey } from './record.js';
import { expectMembersMatchReplicas, localWorld } from './test-support.js';
import type { ClusterStatus } from './types.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

/** Each replica's etcd log file, by replica name. */
async function etcdLogs(w: World, status: ClusterStatus): Promise<Map<string, string>> {
  const logs = new Map<string, string>();
  for (const replica of status.replicas) {
    const etcd = (await w.provider.processes(replica)).find((p) => p.name === 'etcd');
    if (etcd !== undefined) logs.set(replica.name, etcd.logFile);
  }
  return logs;
}

/** The `msg` of every zap JSON line of a log from byte `from` on. */
async function logMessages(file: string, from = 0): Promise<string[]> {
  const text = (await readFile(file)).subarray(from).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => (JSON.parse(line) as { msg?: string }).msg ?? '');
}

/** A cluster of three in local-a, -b, -c with data written, and its local-b replica's processes killed. */
async function threeWithKilledReplica(w: World) {
  await w.controlPlane.up({ zone: 'local-a', multizone: true });
  await w.controlPlane.replicate({ zone: 'local-b' });
  await w.controlPlane.replicate({ zone: 'local-c' });
  await w.etcdctl(['put', 'hacp/before', 'kept']);
  const healthy = await w.controlPlane.status();
  const victim = healthy.replicas.find((r) => r.zone === 'local-b');
  if (victim === undefined) throw new Error('no replica in local-b');
  const memberId = healthy.etcd.members.find((m) => m.name === victim.name)?.id;
  const logs = await etcdLogs(w, healthy);
  const logSizes = new Map<string, number>();
  for (const [name, file] of logs) logSizes.set(name, (await readFile(file)).length);
  for (const proc of await w.provider.processes(victim)) {
    if (proc.running && proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL');
  }
  const broken = await w.controlPlane.status();
  expect(broken.replicas.find((r) => r.name === victim.name)?.state).not.toBe('healthy');
  return { victim, memberId, logs, logSizes };
}

describe('replace with keepData on the local provider', () => {
  it('migrates a killed replica onto its surviving data folder: same member id, no snapshot sent, data kept', async () => {
    world = await localWorld();
    const w = world;
    const { victim, memberId, logs, logSizes } = await threeWithKilledReplica(w);
    expect(memberId).toBeDefined();

    // Without keepData the plan already migrates, and says why.
    const plan = await w.controlPlane.plan({ operation: 'replace', name: victim.name });
    expect(plan.steps.map((s) => s.action.kind)).toContain('migrate-member');
    expect(plan.steps.map((s) => s.action.kind)).not.toContain('add-learner');
    expect(plan.steps[0]?.title).toMatch(/its data disk survived/);

    const result = await w.controlPlane.replace({ name: victim.name, keepData: true });
    expect(result.steps.map((s) => s.id)).toContain(`migrate-member:${victim.name}`);

    const after = await w.controlPlane.status();
    expect(expectMembersMatchReplicas(after, 3)).toContain(victim.name);
    expect(after.replicas.find((r) => r.name === victim.name)).toMatchObject({
      zone: 'local-b',
      state: 'healthy',
    });
    // The same member: etcd's id is kept, so the data was not streamed to a new one.
    expect(after.etcd.members.find((m) => m.name === victim.name)?.id).toBe(memberId);
    expect(after.etcd.members.every((m) => !m.learner)).toBe(true);
    // No member sent a database snapshot meanwhile, and the migrated one received none.
    for (const [name, file] of logs) {
      if (name === victim.name) continue;
      expect(await logMessages(file, logSizes.get(name))).not.toContain('sent database snapshot');
    }
    const migrated = (await etcdLogs(w, after)).get(victim.name);
    if (migrated === undefined) throw new Error(`no etcd log of ${victim.name}`);
    const messages = await logMessages(migrated);
    expect(messages).not.toContain('received and saved database snapshot');
    expect(messages).not.toContain('applied snapshot');
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/before'])).toBe('kept');
    // The cluster takes writes through the migrated member's peers again.
    await w.etcdctl(['put', 'hacp/after', 'written']);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/after'])).toBe('written');
  });

  it('refuses keepData at two replicas (the other alone is no quorum while it is down), changing nothing', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    await w.controlPlane.replicate({ zone: 'local-b' });
    const victim = (await w.controlPlane.status()).replicas.find((r) => r.zone === 'local-b');
    if (victim === undefined) throw new Error('no replica in local-b');
    // What a delete or create would change: which instances exist, where, since when, at which address.
    const instances = async () =>
      (await w.provider.instances.list({ cluster: 'kubernetes' })).map((i) => ({
        name: i.name,
        zone: i.zone,
        createdAt: i.createdAt.toISOString(),
        internalIp: i.internalIp,
      }));
    const before = await instances();
    const members = (await w.controlPlane.status()).etcd.members.map((m) => m.id);

    await expect(w.controlPlane.replace({ name: victim.name, keepData: true })).rejects.toMatchObject({
      code: 'QUORUM_AT_RISK',
    });
    expect(await instances()).toEqual(before);
    expect((await w.controlPlane.status()).etcd.members.map((m) => m.id)).toEqual(members);
    expect(await w.provider.state.get(journalKey('kubernetes'))).toBeUndefined();
  });
});
