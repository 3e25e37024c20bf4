// Crash safety (kill -9 after every step, then the same command again: crash-steps.test-support),
// two replicates at once, and every refusal with its exit code and the state folder unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crashAfterEveryStep, expectConverged, type Status } from './crash-steps.test-support.js';
import {
  type ClusterCli,
  clusterCli,
  endpointOf,
  etcdctl,
  hacp,
  snapshotTree,
  tempStateDir,
} from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

let stateDir: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  for (const cluster of ['crash', 'race', 'refuse', 'kubeup']) {
    await hacp(['down', '--yes', '--cluster', cluster], { stateDir: stateDir.dir });
  }
  await stateDir.remove();
});

const cli = (cluster: string) => clusterCli(stateDir.dir, cluster);

describe('crash safety', () => {
  it('replicate and remove killed with -9 after each step converge when run again', async () => {
    const c = cli('crash');
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    // Named, so that the random name of a second replica can never be the one the test picks next.
    await c.ok(['replicate', '--zone', 'local-c', '--name', 'crash-master-c0c']);
    const endpoint = endpointOf(stateDir.dir, 'crash');
    await etcdctl(stateDir.dir, 'crash', endpoint, ['put', 'crash/before', 'kept']);

    const grow = ['replicate', '--zone', 'local-b', '--name', 'crash-master-b0b'];
    const shrink = ['remove', '--replica', 'crash-master-b0b'];
    // A late kill's operation is undone by its opposite, and the campaign runs again.
    const undoneBy = (args: string[], count: number) => async () => {
      await c.ok(args);
      await expectConverged(c, count);
    };
    const grown = await crashAfterEveryStep(c, stateDir.dir, grow, {
      converged: () => expectConverged(c, 3),
      undo: undoneBy(shrink, 2),
    });
    expect(grown).toContain('add-learner:crash-master-b0b');
    expect(grown).toContain('promote-learner:crash-master-b0b');

    const shrunk = await crashAfterEveryStep(c, stateDir.dir, shrink, {
      converged: () => expectConverged(c, 2),
      undo: undoneBy(grow, 3),
    });
    expect(shrunk).toContain('remove-member:crash-master-b0b');

    // 2→1 moves the address back: killed after each of those steps too.
    const last = (await c.ok<Status>(['status'])).replicas.find((r) => r.name !== 'crash-master');
    if (last === undefined) throw new Error('no second replica');
    const toOne = await crashAfterEveryStep(c, stateDir.dir, ['remove', '--replica', last.name], {
      converged: () => expectConverged(c, 1),
      undo: undoneBy(['replicate', '--zone', last.zone, '--name', last.name], 2),
    });
    expect(toOne).toContain('move-address-to-replica:crash-master');
    expect(
      await etcdctl(stateDir.dir, 'crash', endpoint, ['get', '--print-value-only', 'crash/before']),
    ).toBe('kept');
    expect((await c.run(['down', '--yes'])).code).toBe(0);
  });
});

describe('one operation at a time', () => {
  it('two replicates at once: one is refused with LOCKED and no second learner is added', async () => {
    const c = cli('race');
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    const [first, second] = await Promise.all([
      c.run(['replicate', '--zone', 'local-b', '--json']),
      c.run(['replicate', '--zone', 'local-b', '--json']),
    ]);
    const codes = [first.code, second.code].sort();
    expect(codes).toEqual([0, 3]);
    const refused = first.code === 3 ? first : second;
    expect(refused.json).toMatchObject({ status: 3, error: { code: 'LOCKED' } });
    expect(refused.stdout).not.toMatch(/PRIVATE KEY/);
    await expectConverged(c, 2);
    expect((await c.run(['down', '--yes'])).code).toBe(0);
  });
});

describe('refusals leave the state folder byte-for-byte unchanged', () => {
  async function refused(
    c: ClusterCli,
    args: string[],
    expected: { exit: number; code: string; message?: RegExp },
    env?: Record<string, string>,
  ) {
    const before = snapshotTree(stateDir.dir);
    const result = await c.run([...args, '--json'], env);
    expect(result.code, result.stdout + result.stderr).toBe(expected.exit);
    expect(result.json).toMatchObject({ status: expected.exit, error: { code: expected.code } });
    assertEnvelope('error', result.json);
    const error = (result.json as { error: { message: string; actions: string[] } }).error;
    expect(error.actions.length).toBeGreaterThan(0);
    // The message, or what to do next, says it (LAST_REPLICA points at `hacp down`).
    if (expected.message) expect(`${error.message} ${error.actions.join(' ')}`).toMatch(expected.message);
    expect(snapshotTree(stateDir.dir)).toEqual(before);
    // The same refusal in text: its code, a plain message and what to do next, on stderr.
    const text = await c.run(args, env);
    expect(text.code).toBe(expected.exit);
    expect(text.stderr).toContain(expected.code);
    expect(text.stderr).toContain(error.actions[0] as string);
    expect(snapshotTree(stateDir.dir)).toEqual(before);
  }

  it('bad input exits 2, safety rules exit 3', async () => {
    const c = cli('refuse');
    await refused(c, ['replicate', '--zone', 'local-b'], {
      exit: 2,
      code: 'NOT_FOUND',
      message: /does not exist/,
    });
    await refused(
      c,
      ['up', '--zone', 'local-a'],
      { exit: 2, code: 'INVALID_ARGUMENT', message: /MULTIZONE/ },
      {
        MULTIZONE: 'maybe',
      },
    );
    await refused(c, ['up', '--zone', 'local-a', '--no-kubernetes', '--kubernetes-version', '1.23'], {
      exit: 2,
      code: 'INVALID_ARGUMENT',
      message: /contradict/,
    });
    await c.ok(['up', '--zone', 'local-a']);
    await refused(c, ['up', '--zone', 'local-a'], { exit: 2, code: 'ALREADY_EXISTS' });
    // An etcd-only cluster (the helpers' HACP_KUBERNETES=false) has no kubeconfig, leases or add-ons.
    await refused(c, ['kubeconfig'], { exit: 2, code: 'INVALID_ARGUMENT', message: /etcd only/ });
    await refused(c, ['leases'], { exit: 2, code: 'INVALID_ARGUMENT', message: /--kubeconfig/ });
    await refused(c, ['addons', 'apply', '-f', '/nonexistent/dns.yaml'], {
      exit: 2,
      code: 'INVALID_ARGUMENT',
      message: /no such file/,
    });
    expect(await c.ok(['addons', 'list'])).toEqual({ files: [] });
    await refused(c, ['replicate', '--zone', 'us-east1-b'], { exit: 2, code: 'ZONE_NOT_IN_REGION' });
    await refused(c, ['replicate', '--zone', 'local-b'], { exit: 2, code: 'MULTIZONE_REQUIRED' });
    await refused(c, ['remove', '--replica', 'refuse-master-fff'], { exit: 2, code: 'REPLICA_NOT_FOUND' });
    await refused(c, ['remove', '--zone', 'local-a'], {
      exit: 3,
      code: 'LAST_REPLICA',
      message: /hacp down/,
    });
    await refused(
      c,
      ['kube-up'],
      { exit: 2, code: 'INVALID_ARGUMENT', message: /MULTIZONE/ },
      {
        KUBE_GCE_ZONE: 'local-a',
        MULTIZONE: 'maybe',
      },
    );
    // Quorum: covered with a failed zone in lifecycle.e2e.test.ts (exit 3, QUORUM_AT_RISK).
    expect((await c.run(['down', '--yes'])).code).toBe(0);
  });

  it('kube-up and kube-down read the seed variables and dispatch', async () => {
    const c = cli('kubeup');
    const up = await c.run(['kube-up', '--json'], {
      KUBE_GCE_ZONE: 'local-a',
      MULTIZONE: 'true',
      ENABLE_ETCD_QUORUM_READS: 'true',
    });
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const status = await c.ok<{ multizone: boolean; quorumReads: boolean }>(['status']);
    expect(status).toMatchObject({ multizone: true, quorumReads: true });
    const grow = await c.run(['kube-up', '--json'], {
      KUBE_GCE_ZONE: 'local-b',
      KUBE_REPLICATE_EXISTING_MASTER: 'true',
    });
    expect(grow.code, grow.stdout + grow.stderr).toBe(0);
    expect((await c.ok<Status>(['status'])).replicas).toHaveLength(2);
    const shrink = await c.run(['kube-down', '--json'], {
      KUBE_GCE_ZONE: 'local-b',
      KUBE_DELETE_NODES: 'false',
    });
    expect(shrink.code, shrink.stdout + shrink.stderr).toBe(0);
    expect((await c.ok<Status>(['status'])).replicas.map((r) => r.zone)).toEqual(['local-a']);
    const down = await c.run(['kube-down', '--yes', '--json']);
    expect(down.code, down.stdout + down.stderr).toBe(0);
  });
});
