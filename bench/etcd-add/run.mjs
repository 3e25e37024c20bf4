// Times adding a member to a one-member etcd 3.4 cluster the hacp way (addLearner, start etcd,
// promoteWhenReady) against the same change made with bare etcdctl commands, for an empty database,
// 256 MiB and 1 GiB, and the leader's write latency before and during the add. A benchmark, not a
// test: `node bench/etcd-add/run.mjs` (full run, records results) or `--quick` (smoke run, records nothing).
import { randomBytes } from 'node:crypto';
import { readFileSync, statfsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createClusterPki } from '@hacp/certs';
import { createMembershipClient, memberFlags } from '@hacp/etcd';
import { startEtcdCluster } from '@hacp/testkit';
import { benchOptions, onInterrupt } from '../lib/harness.mjs';
import {
  cpuShare,
  cpuTicks,
  describeHost,
  describeTmpFolder,
  fileSha256,
  firstLine,
  packageVersion,
} from '../lib/machine.mjs';
import {
  loadText,
  markdownTable,
  median,
  msText as ms,
  percentile,
  plural,
  readResults,
  recordedOn,
  round1,
  round2,
  saveResults,
} from '../lib/report.mjs';
import {
  addRecord,
  addSummary,
  addWithEtcdctl,
  addWithHacp,
  checkAdded,
  FLOOR_RETRY_MS,
  HOST,
  memberToAdd,
  PROMOTE_OPTIONS,
  removeAdded,
  STABLE_MS,
  tlsOf,
} from './floor.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const options = benchOptions(import.meta.url);
const { quick } = options;
const MiB = 1024 * 1024;
const SIZES = quick
  ? [
      { label: 'empty', bytes: 0 },
      { label: '32 MiB', bytes: 32 * MiB },
    ]
  : [
      { label: 'empty', bytes: 0 },
      { label: '256 MiB', bytes: 256 * MiB },
      { label: '1 GiB', bytes: 1024 * MiB },
    ];
const ROUNDS = quick ? 1 : 3;
/** The last part of that wait is the "before" window of the write-latency probe. */
const BEFORE_WINDOW_MS = 3_000;
/** The probe: one small put at a time through the leader, at most one every 10 ms (≤ 100 writes/s). */
const WRITER_INTERVAL_MS = 10;
const FILL_VALUE_BYTES = 100 * 1024;
const FILL_IN_FLIGHT = 64;
/** memberFlags' `--snapshot-count` (kubeadm's and kube-up's 10000). */
const SNAPSHOT_COUNT = 10_000;
const README_START = '<!-- etcd-add-results:start -->';
const README_END = '<!-- etcd-add-results:end -->';

// --- the cluster ------------------------------------------------------------------------------

const live = new Set();
onInterrupt('the etcd clusters this run started', () =>
  Promise.allSettled([...live].map((cluster) => cluster.stop())),
);

/** Lines of an etcd (zap) log from byte `from` on, parsed. */
function logLines(file, from = 0) {
  const text = readFileSync(file).subarray(from).toString('utf8');
  const lines = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line));
    } catch {}
  }
  return lines;
}
const logSize = (file) => readFileSync(file).length;

/**
 * Fills the database with ~100 KiB values, 64 puts in flight, until the leader's `dbSize` reaches
 * `bytes`; then, when the leader has not taken a raft snapshot yet, writes small puts until it has
 * (it takes one every 10000 entries and then drops the log up to 5000 entries before it), so that a
 * new member receives the database as a snapshot, as it would from any cluster that has lived.
 */
async function fill(client, leaderLog, bytes) {
  const started = performance.now();
  const values = Array.from({ length: 16 }, () => randomBytes(FILL_VALUE_BYTES));
  let size = Number((await client.maintenance.status()).dbSize);
  let next = 0;
  const worker = async () => {
    while (size < bytes) {
      const n = next++;
      await client.put(`fill/${String(n).padStart(8, '0')}`).value(values[n % values.length]);
      if (n % 32 === 0) size = Math.max(size, Number((await client.maintenance.status()).dbSize));
    }
  };
  await Promise.all(Array.from({ length: FILL_IN_FLIGHT }, worker));
  const filledMs = performance.now() - started;
  const compacted = () => logLines(leaderLog).some((line) => line.msg === 'compacted Raft logs');
  let padPuts = 0;
  const padStarted = performance.now();
  if (bytes > 0 && !compacted()) {
    let index = Number((await client.maintenance.status()).raftIndex);
    const padWorker = async () => {
      while (index <= SNAPSHOT_COUNT + 200) {
        const n = padPuts++;
        await client.put(`pad/${n % 64}`).value('x');
        if (n % 64 === 0) index = Math.max(index, Number((await client.maintenance.status()).raftIndex));
      }
    };
    await Promise.all(Array.from({ length: FILL_IN_FLIGHT }, padWorker));
    for (let waited = 0; !compacted(); waited += 100) {
      if (waited > 30_000) throw new Error('the leader took no raft snapshot after 10000 entries');
      await sleep(100);
    }
  }
  const status = await client.maintenance.status();
  return {
    fillPuts: next,
    fillMs: round1(filledMs),
    padPuts,
    padMs: round1(performance.now() - padStarted),
    dbSizeBytes: Number(status.dbSize),
    dbSizeInUseBytes: Number(status.dbSizeInUse),
    raftIndex: Number(status.raftIndex),
    leaderTookRaftSnapshot: compacted(),
  };
}

/** Sequential small puts through the leader, each one's start and latency kept. */
function startWriter(client) {
  const samples = [];
  const errors = [];
  let stopping = false;
  const done = (async () => {
    for (let n = 0; !stopping; n++) {
      const started = performance.now();
      try {
        await client.put('bench/writer').value(`write-${n}`);
        samples.push([started, performance.now() - started]);
      } catch (error) {
        errors.push({ at: started, message: error.message });
      }
      const wait = WRITER_INTERVAL_MS - (performance.now() - started);
      if (wait > 0) await sleep(wait);
    }
  })();
  return {
    samples,
    errors,
    async stop() {
      stopping = true;
      await done;
    },
  };
}

// --- one timed add, its checks and the reset ----------------------------------------------------

async function timedAdd(context, variant, name) {
  const { cluster, admin, writerClient, leaderUrl, leaderLog } = context;
  const member = await memberToAdd(cluster, { name, leaderUrl });
  const leaderLogFrom = logSize(leaderLog);
  const loadBefore = loadavg()[0];
  const writer = startWriter(writerClient);
  let added;
  try {
    // The cluster has been stable (one healthy voter, no membership change) for over 5 s when the add starts.
    await sleep(STABLE_MS);
    added = variant === 'hacp' ? await addWithHacp(cluster, member) : await addWithEtcdctl(cluster, member);
  } finally {
    await writer.stop();
  }

  const hashes = await checkAdded({ cluster, admin, member, added, variant });
  const [joinedStatus] = await admin.status({ endpoints: [member.clientUrl] });
  const sent = logLines(leaderLog, leaderLogFrom).filter((line) => line.msg === 'sent database snapshot');
  const joinedLog = logLines(cluster.member(name).logFile);
  const received = joinedLog.filter((line) => line.msg === 'received and saved database snapshot');
  // etcd serves clients only once the member has published its name through raft; in 3.4 a publish
  // proposed before a snapshot arrives times out (~6 s) and is retried, so the member can be a voter
  // before it answers clients. When it began to serve, from its log, against when the add finished:
  const serving = joinedLog.find((line) => line.msg === 'serving client traffic securely');
  const wallClock = (at) => performance.timeOrigin + at;

  // The snapshot's way, on this run's clock: the leader begins to send it, the new member has applied it.
  const perfClock = (line) => (line === undefined ? undefined : Date.parse(line.ts) - performance.timeOrigin);
  const leaderLines = logLines(leaderLog, leaderLogFrom);
  const transferFrom = perfClock(leaderLines.find((line) => line.msg === 'sending merged snapshot'));
  const transferTo = perfClock(joinedLog.find((line) => line.msg === 'applied snapshot'));
  const transfer =
    transferFrom === undefined || transferTo === undefined
      ? undefined
      : { fromMs: round1(transferFrom - added.startedAt), toMs: round1(transferTo - added.startedAt) };

  const inWindow = (from, to) => writer.samples.filter(([at]) => at >= from && at < to);
  const latencies = (samples) => samples.map(([, latency]) => round2(latency));
  const before = latencies(inWindow(added.startedAt - BEFORE_WINDOW_MS, added.startedAt));
  const duringSamples = inWindow(added.startedAt, added.endedAt);
  const during = latencies(duringSamples);
  // The log's clock has whole milliseconds: widen the window by one on each side.
  const inTransfer = transfer === undefined ? [] : latencies(inWindow(transferFrom - 1, transferTo + 1));
  const writeErrors = writer.errors.filter(
    ({ at }) => at >= added.startedAt - BEFORE_WINDOW_MS && at < added.endedAt,
  );

  await removeAdded({ cluster, admin, added, name });

  return {
    ...addRecord(variant, name, added),
    verified: {
      promotedVoter: true,
      kvHash: hashes[0].hash,
      revision: hashes[0].revision,
      newMemberDbSizeBytes: joinedStatus.dbSizeBytes,
    },
    snapshot: {
      sentByLeader: sent.length,
      sentBytes: sent.reduce((sum, line) => sum + Number(line.bytes ?? 0), 0) || undefined,
      receivedByMember: received.length,
      // From the leader's "sending merged snapshot" to the new member's "applied snapshot", in ms after the add began.
      window: transfer,
    },
    clients: {
      servingAfterPromotedMs:
        serving === undefined ? undefined : Math.round(Date.parse(serving.ts) - wallClock(added.endedAt)),
      publishRetried: joinedLog.some(
        (line) => line.msg === 'failed to publish local member to cluster through raft',
      ),
    },
    writes: {
      before: summarize(before),
      during: summarize(during),
      inTransfer: summarize(inTransfer),
      errors: writeErrors.length,
      beforeMs: before,
      duringMs: during,
      // When each put of `duringMs` began, in ms after the add began.
      duringStartedAtMs: duringSamples.map(([at]) => round1(at - added.startedAt)),
      inTransferMs: inTransfer,
    },
    loadAverageOneMinute: { before: round1(loadBefore), after: round1(loadavg()[0]) },
  };
}

function summarize(latencies) {
  return {
    count: latencies.length,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.length === 0 ? undefined : Math.max(...latencies),
  };
}

// --- one size -----------------------------------------------------------------------------------

async function measureSize(pki, size) {
  process.stderr.write(`${size.label}: starting etcd`);
  const cluster = await startEtcdCluster({ members: 1, pki, memberFlags });
  live.add(cluster);
  let admin;
  try {
    const leaderUrl = cluster.member('etcd-1').clientUrl;
    const leaderLog = cluster.member('etcd-1').logFile;
    // A longer deadline than the default 5 s: hashing 1 GiB takes a while.
    admin = createMembershipClient({
      endpoints: [leaderUrl],
      tls: tlsOf(cluster.pki),
      callTimeoutMs: 120_000,
    });
    process.stderr.write(size.bytes > 0 ? ', filling' : '');
    const filled = await fill(cluster.client({ members: ['etcd-1'] }), leaderLog, size.bytes);
    if (size.bytes > 0) {
      process.stderr.write(
        ` ${(filled.dbSizeBytes / MiB).toFixed(0)} MiB in ${(filled.fillMs / 1000).toFixed(1)} s`,
      );
    }
    const context = {
      cluster,
      admin,
      writerClient: cluster.client({ members: ['etcd-1'] }),
      leaderUrl,
      leaderLog,
    };
    const samples = [];
    let added = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so neither always follows the other.
      const order = round % 2 === 0 ? ['hacp', 'etcdctl'] : ['etcdctl', 'hacp'];
      for (const variant of order) {
        added++;
        samples.push({ round: round + 1, ...(await timedAdd(context, variant, `member-${added + 1}`)) });
        process.stderr.write(`, ${variant} ${samples.at(-1).totalMs.toFixed(0)} ms`);
      }
    }
    process.stderr.write('\n');
    const status = await admin.status({ endpoints: [leaderUrl] });
    return {
      size: size.label,
      targetBytes: size.bytes,
      ...filled,
      leaderDbSizeAtEndBytes: status[0].dbSizeBytes,
      samples,
    };
  } finally {
    admin?.close();
    await cluster.stop();
    live.delete(cluster);
  }
}

function rowOf(measured) {
  const of = (variant) => measured.samples.filter((sample) => sample.variant === variant);
  const pooled = (variant, window) => of(variant).flatMap((sample) => sample.writes[`${window}Ms`]);
  const side = (variant) => {
    const samples = of(variant);
    return {
      ...addSummary(samples),
      writesBefore: summarize(pooled(variant, 'before')),
      writesDuring: summarize(pooled(variant, 'during')),
      writeErrors: samples.reduce((sum, sample) => sum + sample.writes.errors, 0),
      writesInTransfer: summarize(pooled(variant, 'inTransfer')),
      transferMsMedian: samples.every((sample) => sample.snapshot.window)
        ? round1(median(samples.map((sample) => sample.snapshot.window.toMs - sample.snapshot.window.fromMs)))
        : undefined,
      servingAfterPromotedMs: samples.map((sample) => sample.clients.servingAfterPromotedMs),
      publishRetries: samples.filter((sample) => sample.clients.publishRetried).length,
    };
  };
  const hacp = side('hacp');
  const etcdctl = side('etcdctl');
  const snapshots = measured.samples.map((sample) => sample.snapshot.receivedByMember > 0);
  return {
    size: measured.size,
    dbSizeMiB: round1(measured.dbSizeBytes / MiB),
    dbSizeBytes: measured.dbSizeBytes,
    catchUp: snapshots.every(Boolean) ? 'snapshot' : snapshots.some(Boolean) ? 'mixed' : 'log',
    hacp,
    etcdctl,
    hacpOverFloor: round2(hacp.medianMs / etcdctl.medianMs),
  };
}

// --- reporting ------------------------------------------------------------------------------------

function machine() {
  const modules = join(here, '..', 'node_modules');
  return {
    ...describeHost(),
    etcd: firstLine('etcd', ['--version']).replace(/^etcd Version:\s*/, ''),
    etcdctl: firstLine('etcdctl', ['version']).replace(/^etcdctl version:\s*/, ''),
    etcd3: packageVersion(join(modules, 'etcd3', 'package.json')),
    ...describeTmpFolder(),
    hacpEtcdDistSha256: fileSha256(join(modules, '@hacp', 'etcd', 'dist', 'index.js')),
  };
}

const latency = (summary) =>
  summary.count === 0 ? 'n/a' : `${ms(summary.p50)} / ${ms(summary.p99)} (${summary.count})`;

function mainTable(rows) {
  return markdownTable(
    [
      { title: 'size' },
      { title: 'DB MiB', right: true },
      { title: 'catch-up' },
      { title: 'hacp add → promoted ms: median (min)', right: true },
      { title: 'etcdctl floor ms: median (min)', right: true },
      { title: 'hacp ÷ floor', right: true },
      { title: 'writes before hacp: p50 / p99 ms (n)', right: true },
      { title: 'during hacp', right: true },
      { title: 'writes before floor', right: true },
      { title: 'during floor', right: true },
    ],
    rows.map((row) => [
      row.size,
      row.dbSizeMiB < 1 ? (row.dbSizeBytes / 1024 ** 2).toFixed(2) : row.dbSizeMiB.toFixed(0),
      row.catchUp,
      `${ms(row.hacp.medianMs)} (${ms(row.hacp.minMs)})`,
      `${ms(row.etcdctl.medianMs)} (${ms(row.etcdctl.minMs)})`,
      `${row.hacpOverFloor.toFixed(2)}×`,
      latency(row.hacp.writesBefore),
      latency(row.hacp.writesDuring),
      latency(row.etcdctl.writesBefore),
      latency(row.etcdctl.writesDuring),
    ]),
  );
}

function phaseTable(rows) {
  return markdownTable(
    [
      { title: 'size' },
      { title: 'side' },
      { title: 'add ms', right: true },
      { title: 'start etcd ms', right: true },
      { title: 'start → promoted ms', right: true },
      { title: 'promote attempts', right: true },
      { title: 'write max ms: before / during', right: true },
      { title: 'snapshot sent and applied ms', right: true },
      { title: 'writes meanwhile: p50 / p99 / max ms (n)', right: true },
      { title: 'serves clients, ms after promoted (each round)', right: true },
    ],
    rows.flatMap((row) =>
      [
        ['hacp', row.hacp],
        ['etcdctl', row.etcdctl],
      ].map(([side, data]) => [
        row.size,
        side,
        ms(data.phasesMedianMs.add),
        ms(data.phasesMedianMs.start),
        ms(data.phasesMedianMs.promote),
        String(data.promoteAttemptsMedian),
        `${ms(data.writesBefore.max)} / ${ms(data.writesDuring.max)}`,
        data.transferMsMedian === undefined ? 'none' : ms(data.transferMsMedian),
        data.writesInTransfer.count === 0
          ? 'n/a'
          : `${ms(data.writesInTransfer.p50)} / ${ms(data.writesInTransfer.p99)} / ${ms(data.writesInTransfer.max)} (${data.writesInTransfer.count})`,
        data.servingAfterPromotedMs.map((value) => (value === undefined ? 'n/a' : String(value))).join(', '),
      ]),
    ),
  );
}

function summary(results) {
  const { machine: host } = results;
  return [
    mainTable(results.rows),
    '',
    'Medians of the rounds; the phases are medians of each phase on its own, so they need not add up to the total.',
    '',
    phaseTable(results.rows),
    '',
    `${recordedOn(results.date, host)}, etcd ${host.etcd}, etcdctl ${host.etcdctl}, etcd3 ${host.etcd3}; data dirs on ${host.tmpFilesystem}; load average ${loadText(results.loadAverage.start)} at the start, ${loadText(results.loadAverage.end)} at the end${
      results.cpu === undefined
        ? ''
        : `; other processes and the kernel used ${results.cpu.otherPercentOfMachine}% of the cores meanwhile (${results.cpu.otherSeconds} CPU s, against ${results.cpu.thisRunSeconds} s for this run and its etcd processes)`
    }. ${plural(results.rounds, 'round')} of each per size, alternating which goes first; the whole run took ${Math.round(results.runMs / 1000)} s.`,
  ].join('\n');
}

/** The run: every size on a fresh cluster, then the rows. */
async function measure() {
  const runStarted = performance.now();
  const largest = Math.max(...SIZES.map((size) => size.bytes));
  const { bavail, bsize } = statfsSync(tmpdir());
  // The leader's database, the new member's copy, the snapshot it receives next to it, and slack.
  const needed = 3 * largest + 1024 * MiB;
  if (bavail * bsize < needed) {
    throw new Error(
      `${tmpdir()} has ${Math.floor((bavail * bsize) / MiB)} MiB free; this run needs about ${Math.ceil(needed / MiB)} MiB.`,
    );
  }
  const loadAtStart = loadavg();
  const cpuAtStart = cpuTicks();
  const pki = await createClusterPki({ clusterName: 'bench', endpointAddress: HOST });
  const measured = [];
  for (const size of SIZES) measured.push(await measureSize(pki, size));
  const rows = measured.map(rowOf);
  return {
    date: new Date().toISOString(),
    machine: machine(),
    rounds: ROUNDS,
    settings: {
      stableBeforeAddMs: STABLE_MS,
      beforeWindowMs: BEFORE_WINDOW_MS,
      writerIntervalMs: WRITER_INTERVAL_MS,
      fillValueBytes: FILL_VALUE_BYTES,
      fillInFlight: FILL_IN_FLIGHT,
      snapshotCount: SNAPSHOT_COUNT,
      hacpPromoteOptions: { ...PROMOTE_OPTIONS, intervalMs: 'default (500)' },
      floorRetryMs: FLOOR_RETRY_MS,
    },
    loadAverage: { start: loadAtStart.map(round1), end: loadavg().map(round1) },
    runMs: Math.round(performance.now() - runStarted),
    // CPU time of other processes and the kernel (which also writes this run's data back to disk) while it ran.
    cpu: cpuShare(cpuAtStart, cpuTicks(), performance.now() - runStarted),
    rows,
    sizes: measured,
  };
}

// --- the run --------------------------------------------------------------------------------------

const results = options['from-results'] ? readResults(here) : await measure();
const text = summary(results);
console.log(text);
saveResults({ folder: here, options, results, sections: [{ start: README_START, end: README_END, text }] });
