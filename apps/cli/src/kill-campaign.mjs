// The kill -9 campaign (issue 18): on the local provider, an etcd-only cluster grows and shrinks
// between one and three replicas while each operation's CLI is SIGKILLed at a random progress line
// or after a random delay; the first `hacp resume` (or, with nothing to resume, the same command
// again) must leave the cluster converged. scripts/kill-campaign.mjs runs it at length and
// kill-campaign.e2e.test.ts with fixed seeds; typed by kill-campaign.d.mts. It never prints: the
// caller gets each trial's result through `onTrial`.
import { convergenceProblems, etcdctl, failureOf, hacpJson, processesUnder } from './convergence.mjs';
import { CLI, parseStepLine, runOnTerminal } from './terminal-run.mjs';

/** The local provider's zones: the cluster spans up to three, one replica in each. */
export const ZONES = ['local-a', 'local-b', 'local-c'];

/** The six operations of the campaign, by the replica count they start from. */
export const OPERATIONS = [
  { operation: 'replicate', from: 1 },
  { operation: 'replicate', from: 2 },
  { operation: 'remove', from: 3 },
  { operation: 'remove', from: 2 },
  { operation: 'replace', from: 3 },
  { operation: 'replace', from: 2 },
];

/** What a delay-killed operation is assumed to take until one has run uninterrupted. */
const FIRST_ESTIMATE_MS = 8_000;
/** A kill at a step's line lands up to this much later, somewhere inside the step. */
const MAX_AFTER_LINE_MS = 300;

/** A small seeded generator (mulberry32): the same seed, the same campaign. */
export function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const describeOperation = ({ operation, from }) =>
  operation === 'replicate'
    ? `replicate ${from}→${from + 1}`
    : operation === 'remove'
      ? `remove ${from}→${from - 1}`
      : `replace at ${from}`;

const countAfter = ({ operation, from }) =>
  operation === 'replicate' ? from + 1 : operation === 'remove' ? from - 1 : from;

/**
 * The trials of a campaign from its seed, starting from one replica: each the least-tried
 * operation the replica count allows (ties broken at random), killed at a random step's line (two
 * in three) or after a random share of the operation's time.
 */
export function planTrials({ seed, trials }) {
  const random = seededRandom(seed);
  const tried = new Map(OPERATIONS.map((op) => [describeOperation(op), 0]));
  const specs = [];
  let count = 1;
  for (let i = 0; i < trials; i++) {
    const allowed = OPERATIONS.filter((op) => op.from === count);
    const fewest = Math.min(...allowed.map((op) => tried.get(describeOperation(op))));
    const least = allowed.filter((op) => tried.get(describeOperation(op)) === fewest);
    const chosen = least[Math.floor(random() * least.length)];
    tried.set(describeOperation(chosen), fewest + 1);
    const pick = random();
    const kill =
      random() < 2 / 3
        ? { step: random(), afterLineMs: Math.floor(random() * MAX_AFTER_LINE_MS) }
        : { share: random() };
    specs.push({ ...chosen, pick, kill });
    count = countAfter(chosen);
  }
  return specs;
}

/** The command line of a trial on the cluster as it is: a free zone to grow into, a replica to remove or replace. */
function commandOf(spec, replicas) {
  if (spec.operation === 'replicate') {
    const free = ZONES.filter((zone) => !replicas.some((replica) => replica.zone === zone));
    const zone = free[Math.floor(spec.pick * free.length)];
    return { args: ['replicate', '--zone', zone], subject: zone };
  }
  const names = replicas.map((replica) => replica.name).sort();
  const name = names[Math.floor(spec.pick * names.length)];
  return { args: [spec.operation, '--replica', name], subject: name };
}

/** A seeded kill as the terminal harness takes it: at the line of the step `step` points at, or after a share of the run. */
function killPlanOf(spec, estimateMs) {
  if (spec.kill.plan !== undefined) return spec.kill.plan;
  if (spec.kill.share !== undefined) return { afterMs: Math.floor(spec.kill.share * estimateMs) };
  let target;
  return {
    atLine(line) {
      const step = parseStepLine(line);
      if (step === undefined || step.outcome !== undefined) return false;
      target ??= 1 + Math.floor(spec.kill.step * step.steps);
      return step.index === target;
    },
    afterMs: spec.kill.afterLineMs ?? 0,
  };
}

const lastLines = (text, count = 3) => text.trim().split('\n').slice(-count).join(' | ');

/**
 * The campaign's cluster in its own state folder: `up`, one trial at a time, `down`. See
 * kill-campaign.d.mts.
 */
export function createKillCampaign(settings) {
  const { stateDir, cluster = 'campaign', cli = CLI } = settings;
  const options = { stateDir, cluster, cli };
  const estimates = new Map();
  let written = 0;
  /** The replicas (name, zone) the last check found. */
  let replicas = [];

  async function check(expected) {
    const found = await convergenceProblems({ ...options, expected });
    replicas = found.replicas;
    return found.problems;
  }

  /** The first `resume`, or with nothing to resume the same command again, unless it had finished. */
  async function recover(spec, command, run) {
    if (!run.killed) {
      return run.code === 0
        ? { how: 'none' }
        : { how: 'none', problem: `exited ${run.code} without a kill: ${lastLines(run.output)}` };
    }
    const resumed = await hacpJson(['resume'], options);
    if (resumed.code === 0) return { how: 'resume' };
    const status = await hacpJson(['status'], options);
    const result = status.envelope?.result;
    if (
      resumed.envelope?.error?.code !== 'NOT_FOUND' ||
      result === undefined ||
      result.operation !== undefined
    )
      return { how: 'resume', problem: `resume exited ${resumed.code}: ${failureOf(resumed)}` };
    const names = result.replicas.map((replica) => replica.name);
    const done =
      spec.operation === 'replicate' ? names.length === spec.from + 1 : !names.includes(command.subject);
    if (done) return { how: 'nothing to resume: it had finished' };
    const again = await hacpJson(command.args, options);
    return again.code === 0
      ? { how: 'the same command again' }
      : { how: 'the same command again', problem: `the re-run exited ${again.code}: ${failureOf(again)}` };
  }

  async function converged(spec, command) {
    const problems = await check(countAfter(spec));
    if (spec.operation !== 'replicate' && replicas.some((replica) => replica.name === command.subject))
      problems.push(`${command.subject} is still a replica`);
    try {
      const keys = await etcdctl(options, ['get', 'campaign/', '--prefix', '--keys-only']);
      const kept = keys.split('\n').filter((line) => line.startsWith('campaign/')).length;
      if (kept !== written)
        problems.push(`${kept} of the ${written} keys written through the endpoint are left`);
    } catch (error) {
      problems.push(String(error.message ?? error));
    }
    return problems;
  }

  async function trial(spec, index) {
    const started = Date.now();
    const operation = describeOperation(spec);
    const result = { index, operation, subject: '', kill: '', recovery: '', problems: [] };
    try {
      if (replicas.length !== spec.from) throw new Error(`${replicas.length} replicas before ${operation}`);
      const command = commandOf(spec, replicas);
      result.subject = command.subject;
      await etcdctl(options, ['put', `campaign/${index}`, `trial ${index}: ${operation}`]);
      written += 1;
      const run = await runOnTerminal([...command.args, '--cluster', cluster], {
        stateDir,
        cli,
        kill: killPlanOf(spec, estimates.get(operation) ?? FIRST_ESTIMATE_MS),
      });
      if (!run.killed && run.code === 0) estimates.set(operation, run.ms);
      result.kill = run.killed
        ? `killed at ${run.killedAt} (${run.killedAfterMs} ms)`
        : `not killed: exited ${run.code} after ${run.ms} ms`;
      result.run = run;
      if (run.killed) await spec.onKilled?.(run);
      const recovery = await recover(spec, command, run);
      result.recovery = recovery.how;
      if (recovery.problem !== undefined) result.problems.push(recovery.problem);
      result.problems.push(...(await converged(spec, command)));
      if (result.problems.length > 0)
        result.problems.push(`the killed run showed: ${lastLines(run.output, 4)}`);
    } catch (error) {
      result.problems.push(String(error.message ?? error));
    }
    return { ...result, converged: result.problems.length === 0, ms: Date.now() - started };
  }

  return {
    stateDir,
    cluster,
    async up() {
      const run = await hacpJson(['up', '--zone', ZONES[0], '--multizone', '--no-kubernetes'], options);
      if (run.code !== 0) throw new Error(`up exited ${run.code}: ${failureOf(run)}`);
      const problems = await check(1);
      if (problems.length > 0) throw new Error(`up did not converge: ${problems.join('; ')}`);
    },
    trial,
    /** After a trial that did not converge: one more `resume`, and whether that converged it. */
    async rescue(expected) {
      await hacpJson(['resume'], options);
      return (await check(expected)).length === 0;
    },
    /** `down --yes`, then whatever still runs from the state folder is named, and stopped by pid. */
    async down() {
      const problems = [];
      const run = await hacpJson(['down', '--yes'], options);
      if (run.code !== 0) problems.push(`down exited ${run.code}: ${failureOf(run)}`);
      for (const { pid, command } of processesUnder(stateDir)) {
        problems.push(`still running after down: ${pid} ${command.slice(0, 120)}`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      return problems;
    },
  };
}

/** The campaign: `up`, the seeded trials, `down`. See kill-campaign.d.mts. */
export async function runCampaign(settings) {
  const { seed, trials, onTrial } = settings;
  const started = Date.now();
  const campaign = createKillCampaign(settings);
  const specs = planTrials({ seed, trials });
  const results = [];
  let stopped;
  let leftAfterDown = [];
  try {
    await campaign.up();
    for (const [i, spec] of specs.entries()) {
      const result = await campaign.trial(spec, i + 1);
      results.push(result);
      onTrial?.(result);
      if (!result.converged && !(await campaign.rescue(countAfter(spec)))) {
        stopped = `trial ${i + 1} left a cluster that another resume did not converge either`;
        break;
      }
    }
  } catch (error) {
    stopped = String(error.message ?? error);
  } finally {
    leftAfterDown = await campaign.down();
  }
  return {
    seed,
    trials: specs.length,
    ran: results.length,
    converged: results.filter((result) => result.converged).length,
    results,
    ...(stopped === undefined ? {} : { stopped }),
    leftAfterDown,
    ms: Date.now() - started,
  };
}
