// The kill -9 campaign of issue 18, at length:
//   node scripts/kill-campaign.mjs [--trials N] [--seed S] [--keep]
// On the local provider, an etcd-only cluster in a temporary state folder of its own: `up`, then N
// trials of replicate 1→2 and 2→3, remove 3→2 and 2→1, replace at 3 and at 2, each CLI SIGKILLed
// by pid at a random progress line or after a random delay (seeded), then `hacp resume` (or the same
// command again when there is nothing to resume) and the checks (apps/cli/src/kill-campaign.mjs).
// One line per trial, a summary, `down`; exits 1 when a trial did not converge or something is
// left running. Build first: bash scripts/pnpm.sh --filter hacp run build (and @hacp/sdk).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCampaign } from '../apps/cli/src/kill-campaign.mjs';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '60' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const trials = Number(values.trials);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isInteger(trials) || trials < 1 || !Number.isInteger(seed)) {
  console.error('usage: node scripts/kill-campaign.mjs [--trials N (a whole number, 1 or more)] [--seed S]');
  process.exit(2);
}

const stateDir = mkdtempSync(join(tmpdir(), 'hacp-kill-campaign-'));
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
console.log(`kill campaign: ${trials} trials, seed ${seed}, commit ${commit}, state ${stateDir}`);

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const summary = await runCampaign({
  stateDir,
  seed,
  trials,
  onTrial(result) {
    const verdict = result.converged ? 'converged' : `NOT CONVERGED: ${result.problems.join('; ')}`;
    console.log(
      `#${result.index} ${result.operation} (${result.subject}) ${result.kill}; ${result.recovery || '-'}; ${verdict} [${seconds(result.ms)}]`,
    );
  },
});

console.log(
  `\n${summary.converged} of ${summary.trials} trials converged (seed ${seed}, commit ${commit}, ${new Date().toISOString().slice(0, 10)}, ${seconds(summary.ms)})`,
);
if (summary.stopped !== undefined) console.log(`stopped early: ${summary.stopped}`);
for (const problem of summary.leftAfterDown) console.log(`after down: ${problem}`);
const failed = summary.converged !== summary.trials || summary.leftAfterDown.length > 0;
if (!values.keep && !failed) rmSync(stateDir, { recursive: true, force: true });
else console.log(`state folder kept: ${stateDir}`);
process.exit(failed ? 1 : 0);
