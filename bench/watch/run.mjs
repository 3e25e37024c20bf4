// Times how long a three-replica cluster runs on two voters after one replica dies (its processes
// killed with SIGKILL, as a crash): under `hacp watch --interval 5s`, from the kill until `status`
// reports three healthy voters again; beside the reference, a person who runs `hacp repair` (again, until status shows it whole) the moment
// the replica is seen unhealthy, timed the same way. Both in the same run, on the same cluster, the
// local provider (real etcd and HAProxy on loopback), each command a new `hacp` process. A benchmark,
// not a test: `node bench/watch/run.mjs` (full run, records results) or `--quick` (records nothing).
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { buildHash, CLI, cliEnv } from '../lib/cli.mjs';
import { benchOptions } from '../lib/harness.mjs';
import {
  checkThree,
  hacpIn,
  killReplica,
  localMachine,
  statusOf,
  threeHealthy,
  threeReplicaCluster,
} from '../lib/local-cluster.mjs';
import {
  loadText,
  markdownTable,
  median,
  msText as ms,
  plural,
  readResults,
  recordedOn,
  round1,
  saveResults,
} from '../lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const options = benchOptions(import.meta.url);
const ROUNDS = options.quick ? 1 : 3;
const CLUSTER = 'bench';
const INTERVAL = '5s';
const HEALED_TIMEOUT_MS = 300_000;
const README_START = '<!-- watch-results:start -->';
const README_END = '<!-- watch-results:end -->';
const ZONES = ['local-a', 'local-b', 'local-c'];

const hacp = (stateDir, args) => hacpIn(stateDir, CLUSTER, args);

/** Polls `status` until three healthy voters; the time since `from`. */
async function untilHealed(stateDir, from) {
  for (;;) {
    if (threeHealthy(await statusOf(stateDir, CLUSTER))) return performance.now() - from;
    if (performance.now() - from > HEALED_TIMEOUT_MS) throw new Error('not healed within 5 minutes');
    await sleep(250);
  }
}

/** `hacp watch --json` in the background, with its events; `stop()` ends it with SIGTERM. */
function startWatch(stateDir) {
  const child = spawn(
    process.execPath,
    [CLI, 'watch', '--interval', INTERVAL, '--no-backups', '--json', '--cluster', CLUSTER],
    {
      env: { ...cliEnv(stateDir), HACP_KUBERNETES: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  return {
    events: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{"type":"watch"'))
        .map((line) => JSON.parse(line)),
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** One death of the replica in `zone` and its healing, by `way`; what it took. */
async function timedHealing(stateDir, way, zone) {
  const before = await statusOf(stateDir, CLUSTER);
  checkThree(before);
  const victim = before.replicas.find((r) => r.zone === zone).name;
  const watch = way === 'watch' ? startWatch(stateDir) : undefined;
  try {
    // The watch's first look sees the cluster healthy before the death.
    if (watch) while (watch.events().length === 0) await sleep(100);
    const killedAt = performance.now();
    await killReplica(stateDir, CLUSTER, victim);
    const seenMs = performance.now() - killedAt;
    // The person runs `hacp repair` until status shows the cluster whole (a first run can come while
    // the instance still reads running: repair then finds nothing it may change yet).
    let repairs = 0;
    if (way === 'repair')
      while (!threeHealthy(await statusOf(stateDir, CLUSTER))) {
        repairs += 1;
        await hacp(stateDir, ['repair']);
        if (repairs > 20) throw new Error('20 repairs did not heal the cluster');
      }
    const healedMs = await untilHealed(stateDir, killedAt).catch((error) => {
      throw new Error(`${error.message}; the watch said:\n${JSON.stringify(watch?.events() ?? [], null, 1)}`);
    });
    // Stopped only once its action has ended: stopped mid-way, it would leave that operation for the
    // next watch to finish first.
    if (watch)
      while (!watch.events().some((e) => e.action === 'done' || e.action === 'refused')) await sleep(100);
    const actions = watch?.events().filter((e) => ['repair', 'replace'].includes(e.action)) ?? [];
    const after = await statusOf(stateDir, CLUSTER);
    return {
      way,
      zone,
      replica: victim,
      seenMs: round1(seenMs),
      healedMs: round1(healedMs),
      sameReplica: after.replicas.some((r) => r.name === victim),
      actions: actions.map((e) => e.action),
      repairs,
    };
  } finally {
    await watch?.stop();
  }
}

async function measure() {
  const runStarted = performance.now();
  const loadAtStart = loadavg();
  const build = buildHash();
  const { stateDir, cleanup } = await threeReplicaCluster('watch', CLUSTER);
  try {
    const samples = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['watch', 'repair'] : ['repair', 'watch'];
      for (const [i, way] of order.entries()) {
        const sample = await timedHealing(stateDir, way, ZONES[(round * 2 + i) % 3]);
        process.stderr.write(`round ${round + 1}: ${way} healed in ${ms(sample.healedMs)} ms\n`);
        samples.push({ round: round + 1, ...sample });
      }
    }
    if (buildHash() !== build) throw new Error('the built code changed during the run; nothing recorded');
    const rows = ['watch', 'repair'].map((way) => {
      const of = samples.filter((s) => s.way === way);
      return {
        way,
        healedMsMedian: round1(median(of.map((s) => s.healedMs))),
        healedMsMin: round1(Math.min(...of.map((s) => s.healedMs))),
        healedMsMax: round1(Math.max(...of.map((s) => s.healedMs))),
        sameReplica: of.every((s) => s.sameReplica),
      };
    });
    return {
      date: new Date().toISOString(),
      machine: localMachine(),
      build,
      rounds: ROUNDS,
      settings: { interval: INTERVAL },
      loadAverage: { start: loadAtStart.map(round1), end: loadavg().map(round1) },
      runMs: Math.round(performance.now() - runStarted),
      rows,
      samples,
    };
  } finally {
    await cleanup();
  }
}

function summary(results) {
  const [watch, repair] = results.rows;
  const table = markdownTable(
    [
      { title: 'after a replica dies' },
      { title: 'replica' },
      { title: 'to three healthy voters, ms: median (min–max)', right: true },
    ],
    results.rows.map((row) => [
      row.way === 'watch'
        ? `\`hacp watch --interval ${results.settings.interval}\``
        : '`hacp repair` at once (reference)',
      row.sameReplica ? 'started again (same member)' : 'replaced',
      `${ms(row.healedMsMedian)} (${ms(row.healedMsMin)}–${ms(row.healedMsMax)})`,
    ]),
  );
  const host = results.machine;
  return [
    table,
    '',
    `Under watch the cluster ran on two voters ${(watch.healedMsMedian / 1000).toFixed(1)} s (median) after a death, against ${(repair.healedMsMedian / 1000).toFixed(1)} s for a person who repairs the moment it shows; the difference is the wait for the next look (up to the interval) and the look itself.`,
    '',
    `${recordedOn(results.date, host)}, etcd ${host.etcd}, HAProxy ${host.haproxy}; load average ${loadText(results.loadAverage.start)} at the start, ${loadText(results.loadAverage.end)} at the end. ${plural(results.rounds, 'round')} of each, alternating which goes first and which zone's replica dies; the whole run took ${Math.round(results.runMs / 1000)} s.`,
  ].join('\n');
}

const results = options['from-results'] ? readResults(here) : await measure();
const text = summary(results);
console.log(text);
saveResults({ folder: here, options, results, sections: [{ start: README_START, end: README_END, text }] });
