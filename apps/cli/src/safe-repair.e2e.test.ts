// Issue 21's outage sequence through the built CLI: with zone local-c failed, `hacp repair` leaves
// the cluster exactly as it was and names `hacp zone restore local-c`; after the restore all is
// healthy; a replica whose processes were killed is started again by `repair` (same member id).
import { describe, expect, it } from 'vitest';
import { clusterCli, killReplica, stateDirOfFile } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

interface Status {
  replicas: { name: string; zone: string; state: string }[];
  etcd: { members: { id: string; name: string; learner: boolean }[] };
  endpoint: { targets: { replica: string }[] };
  operation?: unknown;
}

interface RepairResult {
  steps: { id: string; status: string }[];
  warnings: { code: string; message: string }[];
}

const CLUSTER = 'outage';
const stateDir = stateDirOfFile([CLUSTER]);

/** Replicas with their zones, members with their ids, the load balancer's targets: what repair must keep. */
const shape = (status: Status) => ({
  replicas: status.replicas.map((r) => `${r.name}@${r.zone}`).sort(),
  members: status.etcd.members.map((m) => `${m.name}:${m.id}:${m.learner ? 'learner' : 'voter'}`).sort(),
  targets: status.endpoint.targets.map((t) => t.replica).sort(),
});

describe('repair in an outage (issue 21)', () => {
  it('leaves a failed zone as it is, naming zone restore, and starts a killed replica again', async () => {
    const c = clusterCli(stateDir(), CLUSTER);
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    await c.ok(['replicate', '--zone', 'local-b']);
    await c.ok(['replicate', '--zone', 'local-c']);
    const before = shape(await c.ok<Status>(['status']));

    expect((await c.run(['zone', 'fail', 'local-c'])).code).toBe(0);
    const repair = await c.run(['repair', '--json']);
    expect(repair.code, repair.stdout + repair.stderr).toBe(0);
    assertEnvelope('repair', repair.json);
    const result = (repair.json as { result: RepairResult }).result;
    expect(result.steps).toEqual([]);
    const zoneDown = result.warnings.find((w) => w.code === 'ZONE_DOWN');
    expect(zoneDown?.message).toContain('`hacp zone restore local-c`');
    const during = await c.ok<Status>(['status']);
    expect(shape(during)).toEqual(before);
    expect(during.operation).toBeUndefined();
    expect(during.replicas.find((r) => r.zone === 'local-c')?.state).toBe('zone-down');
    // Not in flight: the next command is not refused CONFLICT.
    expect((await c.run(['plan', 'repair', '--json'])).code).toBe(0);

    expect((await c.run(['zone', 'restore', 'local-c'])).code).toBe(0);
    await expect
      .poll(async () => (await c.ok<Status>(['status'])).replicas.every((r) => r.state === 'healthy'), {
        timeout: 30_000,
        interval: 500,
      })
      .toBe(true);
    expect(shape(await c.ok<Status>(['status']))).toEqual(before);

    // A replica whose processes died (not its zone): repair starts it, its member kept.
    const victim = during.replicas.find((r) => r.zone === 'local-b');
    if (victim === undefined) throw new Error('no replica in local-b');
    await killReplica(c, stateDir(), victim.name);
    const started = await c.ok<RepairResult>(['repair']);
    expect(started.steps.map((s) => `${s.id}:${s.status}`)).toEqual([
      `start-instance:${victim.name}:done`,
      `wait-healthy:${victim.name}:done`,
    ]);
    const after = await c.ok<Status>(['status']);
    expect(after.replicas.every((r) => r.state === 'healthy')).toBe(true);
    expect(shape(after)).toEqual(before);
  }, 300_000);
});
