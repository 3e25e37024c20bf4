// The seed's story with the built CLI and real processes: 1→3→1 replicas in one zone and across
// zones, a zone failure survived, a killed replica replaced, and every step checked against etcd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterCli, clusterCli, hacp, killReplica, snapshotTree, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

interface Status {
  replicas: { name: string; zone: string; internalIp: string; state: string }[];
  etcd: { members: { id: string; name: string; learner: boolean; healthy: boolean; leader: boolean }[] };
  endpoint: {
    address: string;
    mode: string;
    attachedTo?: string;
    targets: { replica: string; healthy: boolean }[];
  };
  faultTolerance: {
    voters: number;
    quorum: number;
    tolerates: number;
    healthy: number;
    canStillLose: number;
    zoneLoss: string;
  };
  warnings: { code: string }[];
}

let stateDir: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  for (const cluster of ['across', 'single']) {
    await hacp(['down', '--yes', '--cluster', cluster], { stateDir: stateDir.dir });
  }
  await stateDir.remove();
});

const cli = (cluster: string) => clusterCli(stateDir.dir, cluster);

/** After each step: members equal replicas, all voters and healthy, the endpoint as the rules say. */
async function checkInvariants(c: ClusterCli, count: number): Promise<Status> {
  const result = await c.run(['status', '--json']);
  expect(result.code, result.stdout + result.stderr).toBe(0);
  assertEnvelope('status', result.json);
  const status = (result.json as { result: Status }).result;
  const replicas = status.replicas.map((r) => r.name).sort();
  expect(replicas).toHaveLength(count);
  expect(status.etcd.members.map((m) => m.name).sort()).toEqual(replicas);
  expect(status.etcd.members.every((m) => !m.learner && m.healthy)).toBe(true);
  expect(status.replicas.every((r) => r.state === 'healthy')).toBe(true);
  if (count === 1) {
    expect(status.endpoint).toMatchObject({ mode: 'attached', attachedTo: replicas[0] });
  } else {
    expect(status.endpoint.mode).toBe('load-balanced');
    expect(status.endpoint.targets.map((t) => t.replica).sort()).toEqual(replicas);
  }
  return status;
}

describe('hacp end to end on the local provider', () => {
  it('across zones: 1→3, a zone fails and the endpoint keeps serving, 3→1, down', async () => {
    const c = cli('across');
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    await checkInvariants(c, 1);
    await c.etcd(['put', 'seed/1', 'one']);

    await c.ok(['replicate', '--zone', 'local-b']);
    await checkInvariants(c, 2);
    expect(await c.etcd(['get', '--print-value-only', 'seed/1'])).toBe('one');
    await c.etcd(['put', 'seed/2', 'two']);

    await c.ok(['replicate', '--zone', 'local-c']);
    const three = await checkInvariants(c, 3);
    expect(new Set(three.replicas.map((r) => r.zone))).toEqual(new Set(['local-a', 'local-b', 'local-c']));
    expect(three.faultTolerance).toMatchObject({ voters: 3, quorum: 2, tolerates: 1 });

    // The tree a person reads.
    const tree = await c.run(['status']);
    expect(tree.code).toBe(0);
    for (const name of three.replicas.map((r) => r.name)) expect(tree.stdout).toContain(name);
    expect(tree.stdout).toMatch(/load-balanced/);

    const failed = await c.run(['zone', 'fail', 'local-a', '--json']);
    expect(failed.code).toBe(0);
    // Quorum is kept and the endpoint serves, reads and writes.
    await c.etcd(['put', 'seed/during-outage', 'kept']);
    expect(await c.etcd(['get', '--print-value-only', 'seed/2'])).toBe('two');
    const during = await c.ok<Status>(['status']);
    expect(during.replicas.find((r) => r.zone === 'local-a')?.state).not.toBe('healthy');
    expect(during.etcd.members.filter((m) => m.healthy)).toHaveLength(2);
    expect(during.faultTolerance).toMatchObject({ voters: 3, healthy: 2, canStillLose: 0 });
    expect(during.faultTolerance.zoneLoss).toMatch(/loses quorum/);

    // Removing a healthy replica now would leave one healthy voter of two: refused, nothing changed.
    const before = snapshotTree(stateDir.dir);
    const refused = await c.run(['remove', '--zone', 'local-b', '--json']);
    expect(refused.code).toBe(3);
    expect(refused.json).toMatchObject({ status: 3, error: { code: 'QUORUM_AT_RISK' } });
    assertEnvelope('error', refused.json);
    expect(snapshotTree(stateDir.dir)).toEqual(before);

    expect((await c.run(['zone', 'restore', 'local-a', '--json'])).code).toBe(0);
    await expect
      .poll(async () => (await c.ok<Status>(['status'])).replicas.every((r) => r.state === 'healthy'), {
        timeout: 60_000,
        interval: 1000,
      })
      .toBe(true);
    await checkInvariants(c, 3);

    await c.ok(['remove', '--zone', 'local-c']);
    await checkInvariants(c, 2);
    const last = await c.run(['remove', '--zone', 'local-b', '--json']);
    expect(last.code).toBe(0);
    const one = await checkInvariants(c, 1);
    expect(one.replicas[0]?.name).toBe('across-master');
    expect(await c.etcd(['get', '--print-value-only', 'seed/during-outage'])).toBe('kept');

    const down = await c.run(['down', '--yes', '--json']);
    expect(down.code).toBe(0);
    const gone = await c.run(['status', '--json']);
    expect(gone.code).toBe(2);
    expect(gone.json).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('in one zone: 1→3, a killed replica is replaced in its zone, 3→1', async () => {
    const c = cli('single');
    await c.ok(['up', '--zone', 'local-b']);
    await c.etcd(['put', 'single/1', 'one']);
    await c.ok(['replicate']);
    await checkInvariants(c, 2);
    await c.ok(['replicate']);
    const three = await checkInvariants(c, 3);
    expect(three.replicas.every((r) => r.zone === 'local-b')).toBe(true);

    // Kill one replica's processes (not through hacp): its member goes down.
    const victim = three.replicas.find((r) => r.name !== 'single-master') ?? three.replicas[0];
    if (victim === undefined) throw new Error('no replica');
    await killReplica(c, stateDir.dir, victim.name);

    // Its data folder survived, so replace would migrate its member; --no-keep-data adds a new one.
    await c.ok(['replace', '--replica', victim.name, '--no-keep-data']);
    const replaced = await checkInvariants(c, 3);
    expect(replaced.replicas.map((r) => r.name)).not.toContain(victim.name);
    expect(replaced.replicas.every((r) => r.zone === 'local-b')).toBe(true);
    expect(await c.etcd(['get', '--print-value-only', 'single/1'])).toBe('one');

    await c.ok(['remove', '--zone', 'local-b']);
    await checkInvariants(c, 2);
    await c.ok(['remove', '--zone', 'local-b']);
    await checkInvariants(c, 1);
    expect(await c.etcd(['get', '--print-value-only', 'single/1'])).toBe('one');
    expect((await c.run(['down', '--yes'])).code).toBe(0);
  });
});
