// Killing a CLI command with SIGKILL right after each step of its plan, then running it again:
// the crash-safety campaign the safety and recover e2e tests share. The kills come from outside,
// as a person's would: the CLI runs on a terminal and is SIGKILLed by pid when a step's progress
// line says it is done (terminal-run.mjs); the shipped CLI has no fault hook.
import { expect } from 'vitest';
import type { ClusterCli } from './e2e-support.js';
import { parseStepLine, runOnTerminal } from './terminal-run.mjs';

export interface Status {
  replicas: { name: string; zone: string; state: string }[];
  etcd: { members: { name: string; learner: boolean; healthy: boolean }[] };
  endpoint: { mode: string; attachedTo?: string; targets: { replica: string }[] };
  operation?: unknown;
}

export interface Plan {
  steps: { id: string; title: string }[];
}

/** No orphan: members equal instances, no learner, the address held as the replica count says. */
export async function expectConverged(c: ClusterCli, count: number): Promise<Status> {
  const status = await c.ok<Status>(['status']);
  const replicas = status.replicas.map((r) => r.name).sort();
  expect(replicas).toHaveLength(count);
  expect(status.etcd.members.map((m) => m.name).sort()).toEqual(replicas);
  expect(status.etcd.members.some((m) => m.learner)).toBe(false);
  expect(status.replicas.every((r) => r.state === 'healthy')).toBe(true);
  expect(status.operation).toBeUndefined();
  if (count === 1) expect(status.endpoint).toMatchObject({ mode: 'attached', attachedTo: replicas[0] });
  else expect(status.endpoint.targets.map((t) => t.replica).sort()).toEqual(replicas);
  return status;
}

/** How many times a campaign is run again for the steps whose kill landed late. */
const CAMPAIGN_ROUNDS = 4;

/**
 * Runs `args` killed with SIGKILL right after each step at `positions` in turn (when a step at or
 * past the position reads done; a run that finds it done already is killed after the next one it
 * does); then once more to the end, unless the last kill landed after the operation finished.
 * Returns the steps each kill landed after.
 */
async function killCampaign(
  c: ClusterCli,
  stateDir: string,
  args: string[],
  plan: Plan,
  positions: number[],
  doneExit: number,
): Promise<string[]> {
  const killedAfter: string[] = [];
  for (const position of positions) {
    const result = await runOnTerminal([...args, '--cluster', c.cluster], {
      stateDir,
      kill: {
        atLine: (line) => {
          const shown = parseStepLine(line);
          return shown?.outcome !== undefined && shown.index > position;
        },
      },
    });
    // The kill is sent when the step's line shows; on two busy cores the run can finish its last,
    // quick steps (a lease already gone, "not needed") before the signal lands. Then the operation
    // is complete, and there is no later point of it left to kill: this run either finished it
    // itself, or found it finished by the run killed before (and is refused as any command run
    // again after it finished, with `doneExit`: the replica is gone or exists already, exit 2; the
    // cluster has quorum, nothing to recover, exit 1).
    if (result.signal !== 'SIGKILL') {
      if (result.code !== 0 && killedAfter.length > 0) {
        expect(result.code, `${args.join(' ')} again: ${result.output}`).toBe(doneExit);
        expect((await c.ok<Status>(['status'])).operation).toBeUndefined();
        break;
      }
      const step = plan.steps[position]?.id;
      expect(result.code, `${args.join(' ')}, to be killed after ${step}, failed: ${result.output}`).toBe(0);
      expect(result.output).toMatch(/finished on cluster/);
      break;
    }
    const after = parseStepLine(result.killedAt ?? '');
    expect(after?.steps).toBe(plan.steps.length);
    killedAfter.push(plan.steps[(after?.index ?? 0) - 1]?.id ?? '');
  }
  // Killed after the last step, it may have finished the operation before the signal landed.
  if ((await c.ok<Status>(['status'])).operation !== undefined) {
    const last = await c.run([...args, '--json']);
    expect(last.code, last.stdout + last.stderr).toBe(0);
  }
  return killedAfter;
}

/**
 * Kills `args` after every step but the last (killCampaign), converging each time. A kill that
 * landed late (after a later step, or after the operation finished) leaves a step no kill followed:
 * the operation is then undone with `undo` and run again, killed only after the steps missed, up to
 * CAMPAIGN_ROUNDS times. Returns every step a kill landed after.
 */
export async function crashAfterEveryStep(
  c: ClusterCli,
  stateDir: string,
  args: string[],
  expected: {
    /** Checks the cluster converged where the command leaves it. */
    converged: () => Promise<unknown>;
    /** Takes the cluster back to where the command starts from. */
    undo: () => Promise<void>;
    /** The exit code of the command run again once the operation is complete (2: bad input). */
    doneExit?: number;
  },
): Promise<string[]> {
  // `plan` takes the operation's flags but asks nothing: it has no --yes.
  const plan = await c.ok<Plan>(['plan', ...args.filter((arg) => arg !== '--yes')]);
  const killedAfter = new Set<string>();
  // After the last step there is nothing left to resume: a kill there proves no more than the run.
  let missing = plan.steps.slice(0, -1).map((_, position) => position);
  for (let round = 0; round < CAMPAIGN_ROUNDS && missing.length > 0; round += 1) {
    if (round > 0) {
      await expected.undo();
    }
    for (const id of await killCampaign(c, stateDir, args, plan, missing, expected.doneExit ?? 2))
      killedAfter.add(id);
    await expected.converged();
    missing = missing.filter((position) => !killedAfter.has(plan.steps[position]?.id ?? ''));
  }
  return [...killedAfter];
}
