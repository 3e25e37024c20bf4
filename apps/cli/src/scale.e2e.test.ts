// `hacp scale` through the built CLI (issue 21 part 1): refusals exit 2 with the state folder
// unchanged; 1 → 3 killed with SIGKILL in the middle of its second change (as a person's kill
// would land: on a terminal, by pid, when a step's line shows), then run again, converges with one
// replica per zone; back to 1 keeps the first. The counts in between are the SDK's tests.
import { describe, expect, it } from 'vitest';
import { clusterCli, snapshotTree, stateDirOfFile } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';
import { parseStepLine, runOnTerminal } from './terminal-run.mjs';

interface Status {
  replicas: { name: string; zone: string; state: string }[];
  etcd: { members: { name: string; learner: boolean }[] };
  endpoint: { mode: string; attachedTo?: string };
  operation?: { operation: string };
}

const CLUSTER = 'scaled';
const stateDir = stateDirOfFile([CLUSTER]);

describe('hacp scale', () => {
  it('refuses an even count and more than 7 (exit 2, nothing changed); 1 → 3 killed midway converges when run again; back to 1 keeps the first', async () => {
    const c = clusterCli(stateDir(), CLUSTER);
    await c.ok(['up', '--zone', 'local-a', '--multizone']);

    const before = snapshotTree(stateDir());
    for (const [args, reason] of [
      [['--replicas', '2'], /2 is an even count/],
      [['--replicas', '9'], /more than 7/],
    ] as const) {
      const refused = await c.run(['scale', ...args, '--json']);
      expect(refused.code, refused.stdout).toBe(2);
      expect(refused.json).toMatchObject({
        error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(reason) },
      });
    }
    expect(snapshotTree(stateDir())).toEqual(before);

    // Killed once the second replicate's learner is in: a member without its instance.
    let operations = 0;
    const killed = await runOnTerminal(['scale', '--replicas', '3', '--cluster', CLUSTER], {
      stateDir: stateDir(),
      kill: {
        atLine: (line) => {
          const shown = parseStepLine(line);
          // Each operation's first step reads done once; its start line may not show on its own
          // (a quick step's start and end can reach the terminal together).
          if (shown?.index === 1 && shown.outcome !== undefined) operations++;
          return operations === 2 && shown?.outcome !== undefined && /as a learner/.test(shown.title);
        },
      },
    });
    expect(killed.signal, killed.output).toBe('SIGKILL');
    const cut = await c.ok<Status>(['status']);
    expect(cut.operation?.operation).toBe('replicate');

    const again = await c.run(['scale', '--replicas', '3', '--json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    assertEnvelope('scale', again.json);
    const result = (again.json as { result: { changes: { resumed: boolean }[]; to: number } }).result;
    expect(result.changes[0]?.resumed).toBe(true);
    expect(result.to).toBe(3);
    const three = await c.ok<Status>(['status']);
    expect(three.operation).toBeUndefined();
    expect(three.replicas.map((r) => r.zone).sort()).toEqual(['local-a', 'local-b', 'local-c']);
    expect(three.replicas.every((r) => r.state === 'healthy')).toBe(true);
    expect(three.etcd.members.map((m) => m.name).sort()).toEqual(three.replicas.map((r) => r.name).sort());
    expect(three.etcd.members.some((m) => m.learner)).toBe(false);

    const one = await c.run(['scale', '--replicas', '1', '--json']);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    assertEnvelope('scale', one.json);
    const last = await c.ok<Status>(['status']);
    expect(last.replicas.map((r) => r.name)).toEqual([`${CLUSTER}-master`]);
    expect(last.endpoint).toMatchObject({ mode: 'attached', attachedTo: `${CLUSTER}-master` });
  }, 300_000);
});
