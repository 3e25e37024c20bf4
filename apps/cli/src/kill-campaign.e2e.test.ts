// The kill -9 campaign in the suite (issue 18): the windows the issue names, each hit on purpose and
// shown to have been hit, then a few seeded trials. scripts/kill-campaign.mjs runs the same core at
// length.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configuredServers, type LocalStateView, localState } from './convergence.mjs';
import { tempStateDir } from './e2e-support.js';
import { createKillCampaign, runCampaign, type TrialResult } from './kill-campaign.mjs';
import { type KillPlan, parseStepLine } from './terminal-run.mjs';

// A state folder each: the checks count every replica and endpoint folder in it as the campaign's.
const stateDirs: { dir: string; remove(): Promise<void> }[] = [];
async function ownStateDir(): Promise<string> {
  const made = await tempStateDir();
  stateDirs.push(made);
  return made.dir;
}
afterAll(async () => {
  for (const made of stateDirs) await made.remove();
});

const openStep = (line: string, title: RegExp) => {
  const step = parseStepLine(line);
  return step !== undefined && step.outcome === undefined && title.test(step.title);
};

/** A replica whose instance record says `creating` while its etcd already runs. */
function halfCreated(state: LocalStateView) {
  return state.instances.find(
    (record) => record.state === 'creating' && existsSync(join(state.runDir(record.name), 'etcd.json')),
  );
}

/** The servers HAProxy is configured with, and the targets the load balancer's record lists. */
function endpointViews(state: LocalStateView, cluster: string) {
  const address = state.addresses.find((record) => record.name === `${cluster}-master-ip`);
  const record = state.loadBalancers.find((balancer) => balancer.spec.name === `${cluster}-master`);
  return {
    served: (address === undefined ? undefined : configuredServers(state.endpointDir(address)))?.sort(),
    recorded: record?.spec.targets.map((target) => target.name).sort(),
  };
}

const disagree = ({ served, recorded }: ReturnType<typeof endpointViews>) =>
  served !== undefined && recorded !== undefined && served.join() !== recorded.join();

function expectConverged(result: TrialResult): void {
  expect(result.problems, `${result.operation}: ${result.kill}; ${result.recovery}`).toEqual([]);
  expect(result.converged).toBe(true);
}

describe('kill -9 at the windows issue 18 names, then the first resume converges', () => {
  it('while the instance is created, between HAProxy and the load balancer record, and in replace at 3', async () => {
    const dir = await ownStateDir();
    const campaign = createKillCampaign({ stateDir: dir, cluster: 'windows' });
    await campaign.up();
    try {
      // 1→2, killed while the new replica's record says `creating` and its etcd already runs.
      let creating: { name: string; creatorKilled: boolean } | undefined;
      const created = await campaign.trial(
        {
          operation: 'replicate',
          from: 1,
          pick: 0,
          kill: {
            plan: {
              atLine: (line) => openStep(line, /^Create \S+ in local-/),
              when: () => halfCreated(localState(dir)) !== undefined,
              whenDescription: 'its record says creating while its etcd runs',
            },
          },
          onKilled(run) {
            const record = halfCreated(localState(dir));
            if (record) creating = { name: record.name, creatorKilled: record.creator.pid === run.pid };
          },
        },
        1,
      );
      expect(created.run?.signal, created.run?.output).toBe('SIGKILL');
      expect(creating).toEqual({ name: expect.any(String), creatorKilled: true });
      expect(created.recovery).toBe('resume');
      expectConverged(created);

      // 2→3, killed while HAProxy is configured with the new target and the record does not list it yet.
      const between: KillPlan = {
        atLine: (line) => openStep(line, /the load balancer (once|and let)/),
        when: () => disagree(endpointViews(localState(dir), 'windows')),
        whenDescription: "HAProxy's configuration and the load balancer's record disagree",
      };
      // What the state folder held right after each kill.
      const seen: ReturnType<typeof endpointViews>[] = [];
      const look = () => {
        seen.push(endpointViews(localState(dir), 'windows'));
      };
      const grown = await campaign.trial(
        { operation: 'replicate', from: 2, pick: 0, kill: { plan: between }, onKilled: look },
        2,
      );
      expect(grown.run?.signal, grown.run?.output).toBe('SIGKILL');
      expect(seen[0]?.served).toHaveLength(3);
      expect(seen[0]?.recorded).toHaveLength(2);
      expectConverged(grown);

      // Replace at 3, killed half-way: at the 8th of its 15 steps, the new replica a voter, the old one untouched.
      const replaced = await campaign.trial(
        { operation: 'replace', from: 3, pick: 0.5, kill: { step: 0.5, afterLineMs: 150 } },
        3,
      );
      expect(replaced.run?.signal, replaced.run?.output).toBe('SIGKILL');
      expectConverged(replaced);

      // 3→2, killed while HAProxy no longer sends to the replica and the record still lists it.
      const shrunk = await campaign.trial(
        { operation: 'remove', from: 3, pick: 0.9, kill: { plan: between }, onKilled: look },
        4,
      );
      expect(shrunk.run?.signal, shrunk.run?.output).toBe('SIGKILL');
      expect(seen[1]?.served).toHaveLength(2);
      expect(seen[1]?.recorded).toHaveLength(3);
      expectConverged(shrunk);
    } finally {
      expect(await campaign.down()).toEqual([]);
    }
  });
});

describe('the seeded campaign', () => {
  it('converges in every trial and leaves nothing running after down', async () => {
    const summary = await runCampaign({
      stateDir: await ownStateDir(),
      cluster: 'seeded',
      seed: 18,
      trials: 3,
    });
    expect(summary.stopped).toBeUndefined();
    const failed = summary.results.filter((result) => !result.converged);
    expect(failed.map((result) => `${result.operation}: ${result.problems.join('; ')}`)).toEqual([]);
    expect(summary).toMatchObject({ trials: 3, ran: 3, converged: 3, leftAfterDown: [] });
    // Every trial was really killed or ran whole, and each recovered as its kill asked.
    for (const result of summary.results) {
      expect(result.recovery === 'none').toBe(result.run?.killed === false);
    }
  });
});
