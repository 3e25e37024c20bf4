// `hacp replace --keep-data` with the built CLI and real etcd: a replica whose processes died but
// whose data folder survived keeps its etcd member (same id, same data), and no snapshot is streamed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterCli, hacp, killReplica, snapshotTree, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

interface Status {
  replicas: { name: string; zone: string; state: string }[];
  etcd: { members: { id: string; name: string; learner: boolean; healthy: boolean }[] };
}

const CLUSTER = 'keep';
let stateDir: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  await hacp(['down', '--yes', '--cluster', CLUSTER], { stateDir: stateDir.dir });
  await stateDir.remove();
});

const etcdLog = (replica: string) => join(stateDir.dir, 'replicas', replica, 'logs', 'etcd.log');

/** The `msg` of every zap JSON line of a log from byte `from` on. */
function logMessages(file: string, from = 0): string[] {
  return readFileSync(file)
    .subarray(from)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => (JSON.parse(line) as { msg?: string }).msg ?? '');
}

describe('hacp replace --keep-data on the local provider', () => {
  it('migrates a killed replica: the same member id and data, no snapshot sent, three healthy voters; refused at two', async () => {
    const c = clusterCli(stateDir.dir, CLUSTER);
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    await c.ok(['replicate', '--zone', 'local-b']);
    await c.ok(['replicate', '--zone', 'local-c']);
    await c.etcd(['put', 'keep/before', 'kept']);
    const three = await c.ok<Status>(['status']);
    const victim = three.replicas.find((r) => r.zone === 'local-b');
    if (victim === undefined) throw new Error('no replica in local-b');
    const memberId = three.etcd.members.find((m) => m.name === victim.name)?.id;
    const others = three.replicas.filter((r) => r.name !== victim.name).map((r) => r.name);
    const logFrom = new Map(others.map((name) => [name, readFileSync(etcdLog(name)).length]));

    // Kill its processes (not through hacp): its member goes down, its data folder stays.
    await killReplica(c, stateDir.dir, victim.name);

    const plan = await c.run(['plan', 'replace', '--replica', victim.name, '--keep-data']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(
      `Point ${victim.name}'s stopped member at its new peer URL, keeping its id`,
    );
    expect(plan.stdout).toContain('as asked (--keep-data)');
    expect(plan.stdout).not.toMatch(/learner/i);

    const replaced = await c.run(['replace', '--replica', victim.name, '--keep-data', '--json']);
    expect(replaced.code, replaced.stdout + replaced.stderr).toBe(0);
    assertEnvelope('replace', replaced.json);
    const steps = (replaced.json as { result: { steps: { id: string; status: string }[] } }).result.steps;
    // The local provider keeps a kept disk's address too: the member's peer URL is still right.
    expect(steps).toContainEqual({
      id: `migrate-member:${victim.name}`,
      title: expect.any(String),
      status: 'skipped',
    });

    const after = await c.ok<Status>(['status']);
    expect(after.replicas.map((r) => r.name).sort()).toEqual(three.replicas.map((r) => r.name).sort());
    expect(after.replicas.every((r) => r.state === 'healthy')).toBe(true);
    expect(after.etcd.members).toHaveLength(3);
    expect(after.etcd.members.every((m) => !m.learner && m.healthy)).toBe(true);
    expect(after.etcd.members.find((m) => m.name === victim.name)?.id).toBe(memberId);
    for (const name of others) {
      expect(logMessages(etcdLog(name), logFrom.get(name))).not.toContain('sent database snapshot');
    }
    expect(logMessages(etcdLog(victim.name))).not.toContain('received and saved database snapshot');
    expect(await c.etcd(['get', '--print-value-only', 'keep/before'])).toBe('kept');

    // At two replicas the other alone is no quorum while the member is down: refused, nothing changed.
    await c.ok(['remove', '--zone', 'local-c']);
    const before = snapshotTree(stateDir.dir);
    const refused = await c.run(['replace', '--replica', victim.name, '--keep-data', '--json']);
    expect(refused.code, refused.stdout + refused.stderr).toBe(3);
    assertEnvelope('error', refused.json);
    expect(refused.json).toMatchObject({
      error: { code: 'QUORUM_AT_RISK', message: expect.stringContaining(`Migrating ${victim.name}`) },
    });
    expect(snapshotTree(stateDir.dir)).toEqual(before);
    const two = await c.ok<Status>(['status']);
    expect(two.etcd.members.find((m) => m.name === victim.name)?.id).toBe(memberId);
  });
});
