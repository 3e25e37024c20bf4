// Leader election on a Lease: takeover time after a crash and after a release, and API requests per
// elector per minute, for @hacp/lease-identity's elector and for client-go's LeaderElector (ported
// below, line for line in what it sends and when), both through @kubernetes/client-node against the
// testkit's Lease API server over HTTPS, in the same run. A benchmark, not a test:
// `node bench/leases/run.mjs` (full run, records results) or `--quick` (smoke run, records nothing).
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLeaderElector } from '@hacp/lease-identity';
import { startLeaseApiServer } from '@hacp/testkit';
import { CoordinationV1Api, KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import { benchOptions } from '../lib/harness.mjs';
import { describeHost, packageVersion } from '../lib/machine.mjs';
import {
  markdownTable,
  median,
  plural,
  readResults,
  recordedOn,
  round1,
  saveResults,
  spread,
} from '../lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const options = benchOptions(import.meta.url);
const { quick } = options;
const NAMESPACE = 'bench';
const CANDIDATES = 4;
const README_START = '<!-- leases-results:start -->';
const README_END = '<!-- leases-results:end -->';

/** client-go's defaults (component-base RecommendedDefaultLeaderElectionConfiguration). */
const DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
/** The same proportions, five times faster: what makes several rounds fit in a short run. */
const SCALED = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 400 };
// client-go's acquire loop waits retryPeriod × [1, 1 + JitterFactor) between tries (wait.JitterUntil).
const CLIENT_GO_JITTER = 1.2;

const PHASES = quick
  ? [{ label: 'scaled ÷5', timings: SCALED, rounds: 2, steadyPeriods: 10 }]
  : [
      { label: 'scaled ÷5', timings: SCALED, rounds: 5, steadyPeriods: 20 },
      { label: 'defaults', timings: DEFAULTS, rounds: 1, steadyPeriods: 6 },
    ];

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** A CoordinationV1Api whose calls are counted by verb: who sent what, which the server's log cannot tell. */
function countingApi(kubeConfig) {
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  const counts = { get: 0, create: 0, update: 0 };
  const counted = (verb, method) => (param, options) => {
    counts[verb]++;
    return api[method](param, options);
  };
  return {
    counts,
    api: {
      readNamespacedLease: counted('get', 'readNamespacedLease'),
      createNamespacedLease: counted('create', 'createNamespacedLease'),
      replaceNamespacedLease: counted('update', 'replaceNamespacedLease'),
      listNamespacedLease: (param, options) => api.listNamespacedLease(param, options),
      deleteNamespacedLease: (param, options) => api.deleteNamespacedLease(param, options),
    },
  };
}

// --- client-go's LeaderElector, as the reference ---------------------------------------------------

/**
 * client-go's tools/leaderelection (v0.30+, with the leader's optimistic fast path of PR #122069) and
 * its LeaseLock: the same requests, in the same order, at the same times. `Run` is acquire (JitterUntil
 * retryPeriod × 1.2, sliding), then renew (Until retryPeriod of PollImmediateUntil retryPeriod bounded by
 * renewDeadline), then release if ReleaseOnCancel. observedTime is taken after each answer, as there.
 */
class ClientGoElector {
  constructor({ api, name, identity, timings, releaseOnCancel, onStartedLeading }) {
    Object.assign(this, { api, name, identity, timings, releaseOnCancel, onStartedLeading });
    this.lease = undefined;
    this.observed = undefined;
    this.observedRaw = undefined;
    this.observedTime = 0;
    this.cancel = new AbortController();
    this.crashed = false;
  }

  isLeader() {
    return this.observed?.holderIdentity === this.identity;
  }

  isLeaseValid(now) {
    return this.observedTime + (this.observed?.leaseDurationSeconds ?? 0) * 1000 > now;
  }

  setObserved(record) {
    this.observed = record;
    this.observedTime = performance.now();
  }

  recordOf(lease) {
    const spec = lease.spec ?? {};
    return {
      holderIdentity: spec.holderIdentity ?? '',
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      acquireTime: spec.acquireTime,
      renewTime: spec.renewTime,
      leaseTransitions: spec.leaseTransitions ?? 0,
    };
  }

  /** LeaseLock.Update: the cached lease with its spec replaced by the record. */
  async update(record) {
    const body = { ...this.lease, spec: { ...record } };
    this.lease = await this.api.replaceNamespacedLease({ name: this.name, namespace: NAMESPACE, body });
  }

  async tryAcquireOrRenew() {
    const now = new V1MicroTime();
    const record = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.timings.leaseDurationMs / 1000,
      renewTime: now,
      acquireTime: now,
      leaseTransitions: 0,
    };
    // 1. fast path for the leader
    if (this.isLeader() && this.isLeaseValid(performance.now())) {
      record.acquireTime = this.observed.acquireTime;
      record.leaseTransitions = this.observed.leaseTransitions;
      try {
        await this.update(record);
        this.setObserved(record);
        return true;
      } catch {}
    }
    // 2. obtain or create the record
    let current;
    try {
      current = await this.api.readNamespacedLease({ name: this.name, namespace: NAMESPACE });
    } catch (error) {
      if (error?.code !== 404) return false;
      try {
        this.lease = await this.api.createNamespacedLease({
          namespace: NAMESPACE,
          body: { metadata: { name: this.name, namespace: NAMESPACE }, spec: record },
        });
      } catch {
        return false;
      }
      this.setObserved(record);
      return true;
    }
    this.lease = current;
    // 3. record obtained: check the identity and time
    const old = this.recordOf(current);
    const raw = JSON.stringify(old);
    if (raw !== this.observedRaw) {
      this.setObserved(old);
      this.observedRaw = raw;
    }
    if (old.holderIdentity !== '' && this.isLeaseValid(performance.now()) && !this.isLeader()) return false;
    // 4. update
    if (this.isLeader()) {
      record.acquireTime = old.acquireTime;
      record.leaseTransitions = old.leaseTransitions;
    } else {
      record.leaseTransitions = old.leaseTransitions + 1;
    }
    try {
      await this.update(record);
    } catch {
      return false;
    }
    this.setObserved(record);
    return true;
  }

  async run() {
    const { retryPeriodMs, renewDeadlineMs } = this.timings;
    const signal = this.cancel.signal;
    // acquire: JitterUntil(tryAcquireOrRenew, retryPeriod, 1.2, sliding)
    for (;;) {
      if (signal.aborted) return;
      if (await this.tryAcquireOrRenew()) break;
      await sleep(retryPeriodMs * (1 + Math.random() * CLIENT_GO_JITTER), signal);
    }
    if (signal.aborted) return;
    this.leading = true;
    this.onStartedLeading();
    // renew: Until(PollImmediateUntil(retryPeriod, tryAcquireOrRenew, renewDeadline), retryPeriod)
    renew: for (;;) {
      const deadline = performance.now() + renewDeadlineMs;
      for (;;) {
        if (signal.aborted) break renew;
        if (await this.tryAcquireOrRenew()) break;
        if (performance.now() + retryPeriodMs > deadline) break renew;
        await sleep(retryPeriodMs, signal);
      }
      await sleep(retryPeriodMs, signal);
    }
    this.leading = false;
    if (this.releaseOnCancel && !this.crashed) await this.release();
  }

  async release() {
    if (!this.isLeader()) return;
    const now = new V1MicroTime();
    const record = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      renewTime: now,
      acquireTime: now,
      leaseTransitions: this.observed.leaseTransitions,
    };
    try {
      await this.update(record);
      this.setObserved(record);
    } catch {}
  }

  start() {
    this.running = this.run();
  }

  async stop({ release }) {
    this.crashed = !release;
    this.cancel.abort();
    await this.running;
  }
}

// --- the two candidates' factories ------------------------------------------------------------------

const IMPLEMENTATIONS = {
  hacp: async ({ kubeConfig, name, identity, timings, onStartedLeading }) => {
    const { api, counts } = countingApi(kubeConfig);
    const elector = await createLeaderElector({
      client: api,
      name,
      namespace: NAMESPACE,
      identity,
      ...timings,
      onStartedLeading,
    });
    return { identity, counts, isLeader: () => elector.isLeader(), stop: (options) => elector.stop(options) };
  },
  'client-go': async ({ kubeConfig, name, identity, timings, onStartedLeading }) => {
    const { api, counts } = countingApi(kubeConfig);
    const elector = new ClientGoElector({
      api,
      name,
      identity,
      timings,
      releaseOnCancel: true,
      onStartedLeading,
    });
    elector.start();
    return {
      identity,
      counts,
      isLeader: () => elector.leading === true && elector.isLeader(),
      stop: (options) => elector.stop(options),
    };
  },
};

// --- measuring ----------------------------------------------------------------------------------------

const round0 = (value) => Math.round(value);

async function waitFor(condition, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (condition()) return true;
    await sleep(5);
  }
  return condition();
}

/**
 * One round for one implementation on a fresh lease: CANDIDATES candidates; a steady state (counted
 * per candidate and in the server's log); the leader killed (stopped with no more requests, no
 * release); the next leader's start timed from the kill; then that leader releases and the next
 * start is timed from the release.
 */
async function round({ server, kubeConfig, implementation, timings, index, steadyPeriods }) {
  const name = `${implementation}-${timings.retryPeriodMs}-${index}`;
  const started = [];
  const candidates = [];
  for (let n = 0; n < CANDIDATES; n++) {
    const identity = `${name}-c${n}`;
    candidates.push(
      await IMPLEMENTATIONS[implementation]({
        kubeConfig,
        name,
        identity,
        timings,
        onStartedLeading: () => started.push({ identity, at: performance.now() }),
      }),
    );
  }
  const { leaseDurationMs, retryPeriodMs } = timings;
  const limit = leaseDurationMs + 4 * CLIENT_GO_JITTER * retryPeriodMs + 2_000;
  if (!(await waitFor(() => candidates.some((c) => c.isLeader()), limit)))
    throw new Error(`${name}: no leader`);

  // Steady state: let every candidate settle into its loop, then count for steadyPeriods retry periods.
  await sleep(2 * retryPeriodMs);
  let steady;
  if (steadyPeriods > 0) {
    const before = candidates.map((c) => ({ ...c.counts }));
    const from = new Date();
    const windowMs = steadyPeriods * retryPeriodMs;
    await sleep(windowMs);
    const to = new Date();
    const leaderIndex = candidates.findIndex((c) => c.isLeader());
    const perMinute = (count) => (count * 60_000) / windowMs;
    const delta = candidates.map((c, i) => ({
      get: c.counts.get - before[i].get,
      update: c.counts.update - before[i].update,
    }));
    const logged = server.requests.filter((r) => r.name === name && r.time >= from && r.time < to);
    steady = {
      windowMs,
      leader: { get: perMinute(delta[leaderIndex].get), update: perMinute(delta[leaderIndex].update) },
      followers: delta
        .filter((_, i) => i !== leaderIndex)
        .map((d) => ({ get: perMinute(d.get), update: perMinute(d.update) })),
      serverLog: {
        get: perMinute(logged.filter((r) => r.method === 'GET').length),
        update: perMinute(logged.filter((r) => r.method === 'PUT').length),
      },
    };
  }

  // A random phase within a retry period, so the kill does not always follow a renewal by the same time.
  await sleep(Math.random() * retryPeriodMs);
  const leader = candidates.find((c) => c.isLeader());
  const killedAt = performance.now();
  await leader.stop({ release: false });
  const afterKill = started.length;
  if (!(await waitFor(() => started.length > afterKill, limit)))
    throw new Error(`${name}: no takeover after crash`);
  const crashMs = started[afterKill].at - killedAt;

  await sleep(retryPeriodMs + Math.random() * retryPeriodMs);
  const second = candidates.find((c) => c.isLeader());
  const afterRelease = started.length;
  const releasedAt = performance.now();
  await second.stop({ release: true });
  if (!(await waitFor(() => started.length > afterRelease, limit)))
    throw new Error(`${name}: no takeover after release`);
  const releaseMs = started[afterRelease].at - releasedAt;

  await Promise.all(
    candidates.filter((c) => c !== leader && c !== second).map((c) => c.stop({ release: false })),
  );
  return { crashMs, releaseMs, steady };
}

/** What client-go would do, computed from its loops (see the README). */
function clientGoModel(timings) {
  const { leaseDurationMs: lease, retryPeriodMs: retry } = timings;
  return {
    // A follower sees the last renewal up to 2.2 retry periods late and tries again up to 2.2 later.
    crashBoundMs: { min: round0(lease - retry), max: round0(lease + 2 * (1 + CLIENT_GO_JITTER) * retry) },
    releaseBoundMs: round0((1 + CLIENT_GO_JITTER) * retry),
    leaderPerMinute: {
      'v0.30+': { update: 60_000 / retry },
      'before v0.30': { get: 60_000 / retry, update: 60_000 / retry },
    },
    followerPerMinute: { get: round1(60_000 / (retry * (1 + CLIENT_GO_JITTER / 2))) },
  };
}

async function phase(server, kubeConfig, { label, timings, rounds, steadyPeriods }) {
  const results = { hacp: [], 'client-go': [] };
  for (let index = 0; index < rounds; index++) {
    // Both implementations at once, on their own leases: they share the machine's noise.
    const [hacp, clientGo] = await Promise.all(
      ['hacp', 'client-go'].map((implementation) =>
        round({
          server,
          kubeConfig,
          implementation,
          timings,
          index,
          steadyPeriods: index === 0 ? steadyPeriods : 0,
        }),
      ),
    );
    results.hacp.push(hacp);
    results['client-go'].push(clientGo);
    process.stderr.write(`${label}: round ${index + 1}/${rounds}\n`);
  }
  const summarise = (implementation) => {
    const rows = results[implementation];
    const crash = rows.map((r) => r.crashMs);
    const released = rows.map((r) => r.releaseMs);
    const steady = rows[0].steady;
    const followerGets = median(steady.followers.map((f) => f.get));
    return {
      implementation,
      crashMs: spread(crash, round0),
      releaseMs: spread(released, round0),
      leaderPerMinute: { get: round1(steady.leader.get), update: round1(steady.leader.update) },
      followerPerMinute: {
        get: round1(followerGets),
        update: round1(median(steady.followers.map((f) => f.update))),
      },
      serverLogPerMinute: { get: round1(steady.serverLog.get), update: round1(steady.serverLog.update) },
      steadyWindowMs: steady.windowMs,
    };
  };
  return {
    label,
    timings,
    rounds,
    // Rates at these timings; per minute at client-go's 2 s retry period multiply by retryPeriodMs / 2000.
    hacp: summarise('hacp'),
    clientGo: summarise('client-go'),
    bounds: {
      hacp: { crashMs: timings.leaseDurationMs + timings.retryPeriodMs, releaseMs: timings.retryPeriodMs },
      clientGo: clientGoModel(timings),
    },
  };
}

// --- reporting ----------------------------------------------------------------------------------------

function table(phases) {
  const s = (ms) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`);
  const spread = ({ median: m, min, max }) => (min === max ? s(m) : `${s(m)} (${s(min)}–${s(max)})`);
  // Per minute at the 2 s default retry period: the scaled phase's rates × retryPeriod / 2000.
  const rate = (value, timings) =>
    round1((value * timings.retryPeriodMs) / DEFAULTS.retryPeriodMs).toFixed(1);
  const requests = (counts, timings) =>
    [
      counts.get ? `${rate(counts.get, timings)} GET` : '',
      counts.update ? `${rate(counts.update, timings)} PUT` : '',
    ]
      .filter(Boolean)
      .join(' + ') || '0';
  const columns = [
    { title: 'timings (lease / renew / retry)' },
    { title: 'elector' },
    { title: 'takeover after crash: median (min–max)', right: true },
    { title: 'bound', right: true },
    { title: 'after release', right: true },
    { title: 'bound', right: true },
    { title: 'leader req/min', right: true },
    { title: 'follower req/min', right: true },
  ];
  const rows = [];
  for (const p of phases) {
    const t = p.timings;
    const timings = `${p.label}: ${t.leaseDurationMs / 1000} s / ${t.renewDeadlineMs / 1000} s / ${t.retryPeriodMs / 1000} s`;
    const model = p.bounds.clientGo;
    rows.push([
      timings,
      'hacp',
      spread(p.hacp.crashMs),
      `≤ ${s(p.bounds.hacp.crashMs)}`,
      spread(p.hacp.releaseMs),
      `≤ ${s(p.bounds.hacp.releaseMs)}`,
      requests(p.hacp.leaderPerMinute, t),
      requests(p.hacp.followerPerMinute, t),
    ]);
    rows.push([
      timings,
      'client-go (measured)',
      spread(p.clientGo.crashMs),
      `${s(model.crashBoundMs.min)}–${s(model.crashBoundMs.max)}`,
      spread(p.clientGo.releaseMs),
      `≤ ${s(model.releaseBoundMs)}`,
      requests(p.clientGo.leaderPerMinute, t),
      requests(p.clientGo.followerPerMinute, t),
    ]);
  }
  return markdownTable(columns, rows);
}

function machine() {
  return {
    ...describeHost(),
    clientNode: packageVersion(
      join(here, '..', 'node_modules', '@kubernetes', 'client-node', 'package.json'),
    ),
  };
}

function summary(results) {
  const { machine: host, date } = results;
  const rounds = results.phases.map((p) => `${plural(p.rounds, 'round')} (${p.label})`).join(', ');
  return [
    table(results.phases),
    '',
    `${recordedOn(date, host)}, @kubernetes/client-node ${host.clientNode}; ${CANDIDATES} candidates per lease, ${rounds}, hacp and client-go running at the same time on their own leases; load average ${results.loadAverage.start.toFixed(1)} at the start, ${results.loadAverage.end.toFixed(1)} at the end. Requests per minute are at the default 2 s retry period (the scaled phase's counts × 0.2); the server's log agreed with the per-elector counts: ${results.serverLogAgrees ? 'yes' : 'NO'}.`,
  ].join('\n');
}

// --- the run ----------------------------------------------------------------------------------------

/** Every phase against one Lease API server, then whether its log agrees with the electors' counts. */
async function measure() {
  const startedAt = performance.now();
  const loadAtStart = loadavg()[0];
  const server = await startLeaseApiServer({ namespaces: [NAMESPACE] });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(server.kubeconfig({ namespace: NAMESPACE }));
  const phases = [];
  try {
    for (const spec of PHASES) phases.push(await phase(server, kubeConfig, spec));
  } finally {
    await server.stop();
  }
  // The per-elector counts and the server's log count the same requests (to a request or two at the edges).
  const serverLogAgrees = phases.every((p) =>
    [p.hacp, p.clientGo].every((row) => {
      const followers = CANDIDATES - 1;
      const fromCounts = {
        get: row.leaderPerMinute.get + followers * row.followerPerMinute.get,
        update: row.leaderPerMinute.update + followers * row.followerPerMinute.update,
      };
      const slack = (2 * 60_000) / row.steadyWindowMs;
      return (
        Math.abs(fromCounts.get - row.serverLogPerMinute.get) <= slack * CANDIDATES &&
        Math.abs(fromCounts.update - row.serverLogPerMinute.update) <= slack * CANDIDATES
      );
    }),
  );
  return {
    date: new Date().toISOString(),
    machine: machine(),
    candidates: CANDIDATES,
    loadAverage: { start: round1(loadAtStart), end: round1(loadavg()[0]) },
    durationS: round1((performance.now() - startedAt) / 1000),
    serverLogAgrees,
    phases,
  };
}

const results = options['from-results'] ? readResults(here) : await measure();
const text = summary(results);
console.log(text);
console.log(`\n(${results.durationS} s)`);
saveResults({
  folder: here,
  options,
  results,
  sections: [{ start: README_START, end: README_END, text }],
  format: (value) => JSON.stringify(value, null, 2),
  tables: 'the table',
});
