// Times `hacp replace` of a replica whose processes died but whose data folder survived, both ways, on
// the same three-replica cluster in the same run: `--no-keep-data` (its member removed, a new one
// added, the database streamed to it from the leader) and `--keep-data` (etcd's member migration: the
// same member id and data, nothing streamed). The cluster holds about 32 MiB and the leader has taken a
// raft snapshot first, as a cluster that has lived has. On the local provider (real etcd and HAProxy on
// loopback), each command a new `hacp` process. A benchmark, not a test:
// `node bench/replace/run.mjs` (full run, records results) or `--quick` (smoke run, records nothing).
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { buildHash } from '../lib/cli.mjs';
import { benchOptions } from '../lib/harness.mjs';
import {
  checkThree,
  hacpIn,
  killReplica,
  localMachine,
  statusOf,
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
const { quick } = options;
const ROUNDS = quick ? 1 : 3;
const MiB = 1024 * 1024;
const FILL_BYTES = 32 * MiB;
const FILL_VALUE_BYTES = 100 * 1024;
const FILL_IN_FLIGHT = 32;
/** memberFlags' `--snapshot-count`: the leader takes a raft snapshot every 10000 entries. */
const SNAPSHOT_COUNT = 10_000;
const CLUSTER = 'bench';
const README_START = '<!-- replace-results:start -->';
const README_END = '<!-- replace-results:end -->';
const MODES = [
  { mode: 'new member', flag: '--no-keep-data' },
  { mode: 'keep data', flag: '--keep-data' },
];

// --- the CLI ----------------------------------------------------------------------------------------

/** Runs `hacp <args> --cluster bench`, timed; throws unless it exits 0. */
const hacp = (stateDir, args) => hacpIn(stateDir, CLUSTER, args);

const status = (stateDir) => statusOf(stateDir, CLUSTER);

// --- the cluster ------------------------------------------------------------------------------------

/** An etcd3 client through the cluster's endpoint, with hacp's health-check client certificate. */
function clientOf(stateDir) {
  const pki = join(stateDir, 'clusters', CLUSTER, 'pki', 'pki', 'etcd');
  const addresses = join(stateDir, 'local', 'addresses');
  const address = readdirSync(addresses)
    .map((file) => JSON.parse(readFileSync(join(addresses, file), 'utf8')))
    .find((entry) => entry.name === `${CLUSTER}-master-ip`);
  return new Etcd3({
    hosts: `https://${address.ip}:${2379 + (address.portOffset ?? 0)}`,
    credentials: {
      rootCertificate: readFileSync(join(pki, 'ca.crt')),
      certChain: readFileSync(join(pki, 'healthcheck-client.crt')),
      privateKey: readFileSync(join(pki, 'healthcheck-client.key')),
    },
  });
}

const etcdLog = (stateDir, replica) => join(stateDir, 'replicas', replica, 'logs', 'etcd.log');

/** The `msg` of every zap JSON line of a log from byte `from` on. */
function logMessages(file, from = 0) {
  return readFileSync(file)
    .subarray(from)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line).msg ?? '');
}

/**
 * Fills the database with ~100 KiB values until it holds `FILL_BYTES`, then writes small puts until
 * the raft index passes the snapshot count, so that the leader has taken a raft snapshot and dropped
 * the log before it: a new member then gets the database as a snapshot, as from any cluster that has lived.
 */
async function fill(client) {
  const values = Array.from({ length: 16 }, (_, i) => Buffer.alloc(FILL_VALUE_BYTES, i + 1));
  let size = Number((await client.maintenance.status()).dbSize);
  let next = 0;
  const filler = async () => {
    while (size < FILL_BYTES) {
      const n = next++;
      await client.put(`fill/${String(n).padStart(8, '0')}`).value(values[n % values.length]);
      if (n % 16 === 0) size = Math.max(size, Number((await client.maintenance.status()).dbSize));
    }
  };
  await Promise.all(Array.from({ length: FILL_IN_FLIGHT }, filler));
  let index = Number((await client.maintenance.status()).raftIndex);
  let pad = 0;
  const padder = async () => {
    while (index <= SNAPSHOT_COUNT + 500) {
      const n = pad++;
      await client.put(`pad/${n % 64}`).value('x');
      if (n % 64 === 0) index = Math.max(index, Number((await client.maintenance.status()).raftIndex));
    }
  };
  await Promise.all(Array.from({ length: 64 }, padder));
  const end = await client.maintenance.status();
  return { puts: next + pad, dbSizeBytes: Number(end.dbSize), raftIndex: Number(end.raftIndex) };
}

/** One replace of the local-b replica, killed first (not timed); what it took and what the logs say. */
async function timedReplace(stateDir, { mode, flag }) {
  const before = await status(stateDir);
  checkThree(before);
  const victim = before.replicas.find((r) => r.zone === 'local-b').name;
  const memberId = before.etcd.members.find((m) => m.name === victim).id;
  const others = before.replicas.filter((r) => r.name !== victim).map((r) => r.name);
  const logFrom = new Map(others.map((name) => [name, readFileSync(etcdLog(stateDir, name)).length]));
  await killReplica(stateDir, CLUSTER, victim);
  const { ms: wallMs, stdout } = await hacp(stateDir, ['replace', '--replica', victim, flag, '--json']);
  const steps = JSON.parse(stdout).result.steps;
  const after = await status(stateDir);
  checkThree(after);
  const successor = after.replicas.find((r) => r.zone === 'local-b').name;
  const successorId = after.etcd.members.find((m) => m.name === successor).id;
  const migrated = steps.some((step) => step.id.startsWith('migrate-member:'));
  const sent = others.reduce(
    (count, name) =>
      count +
      logMessages(etcdLog(stateDir, name), logFrom.get(name)).filter(
        (msg) => msg === 'sent database snapshot',
      ).length,
    0,
  );
  const received = logMessages(etcdLog(stateDir, successor)).includes('received and saved database snapshot');
  if (flag === '--keep-data' && (!migrated || successorId !== memberId || successor !== victim || sent > 0))
    throw new Error(`--keep-data did not keep ${victim}'s member (or a snapshot was sent): ${stdout}`);
  if (flag === '--no-keep-data' && (migrated || successorId === memberId))
    throw new Error(`--no-keep-data kept ${victim}'s member: ${stdout}`);
  return {
    mode,
    wallMs: round1(wallMs),
    replica: victim,
    successor,
    memberKept: successorId === memberId,
    snapshotsSent: sent,
    successorReceivedSnapshot: received,
    steps: steps.length,
  };
}

// --- the run ----------------------------------------------------------------------------------------

async function measure() {
  const runStarted = performance.now();
  const loadAtStart = loadavg();
  const build = buildHash();
  const { stateDir, cleanup } = await threeReplicaCluster('replace', CLUSTER);
  try {
    const client = clientOf(stateDir);
    let filled;
    try {
      filled = await fill(client);
    } finally {
      client.close();
    }
    process.stderr.write(
      `filled ${(filled.dbSizeBytes / MiB).toFixed(0)} MiB with ${filled.puts} puts (raft index ${filled.raftIndex})\n`,
    );
    const samples = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so both share the machine's drift.
      const order = round % 2 === 0 ? MODES : [...MODES].reverse();
      for (const mode of order) {
        const sample = await timedReplace(stateDir, mode);
        process.stderr.write(`round ${round + 1}: ${sample.mode} ${ms(sample.wallMs)} ms\n`);
        samples.push({ round: round + 1, ...sample });
      }
    }
    if (buildHash() !== build) throw new Error('the built code changed during the run; nothing recorded');
    const rows = MODES.map(({ mode, flag }) => {
      const of = samples.filter((sample) => sample.mode === mode);
      return {
        mode,
        flag,
        wallMsMedian: round1(median(of.map((s) => s.wallMs))),
        wallMsMin: round1(Math.min(...of.map((s) => s.wallMs))),
        wallMsMax: round1(Math.max(...of.map((s) => s.wallMs))),
        memberKept: of.every((s) => s.memberKept),
        snapshotsSent: of.map((s) => s.snapshotsSent),
        steps: of[0].steps,
      };
    });
    return {
      date: new Date().toISOString(),
      machine: localMachine(),
      build,
      rounds: ROUNDS,
      settings: { fillBytes: FILL_BYTES, fillValueBytes: FILL_VALUE_BYTES, snapshotCount: SNAPSHOT_COUNT },
      filled,
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
  const [plain, keep] = results.rows;
  const table = markdownTable(
    [
      { title: 'hacp replace' },
      { title: 'member' },
      { title: 'snapshots sent (per round)', right: true },
      { title: 'steps', right: true },
      { title: 'wall ms: median (min–max)', right: true },
    ],
    results.rows.map((row) => [
      `\`${row.flag}\``,
      row.memberKept ? 'kept (same id)' : 'new (removed, added)',
      row.snapshotsSent.join(', '),
      String(row.steps),
      `${ms(row.wallMsMedian)} (${ms(row.wallMsMin)}–${ms(row.wallMsMax)})`,
    ]),
  );
  const host = results.machine;
  return [
    table,
    '',
    `\`--keep-data\` took ${(keep.wallMsMedian / plain.wallMsMedian).toFixed(2)}× the time of \`--no-keep-data\` (medians) on ${(results.filled.dbSizeBytes / MiB).toFixed(0)} MiB.`,
    '',
    `${recordedOn(results.date, host)}, etcd ${host.etcd}, HAProxy ${host.haproxy}; data dirs on ${host.tmpFilesystem}; load average ${loadText(results.loadAverage.start)} at the start, ${loadText(results.loadAverage.end)} at the end. ${plural(results.rounds, 'round')} of each, alternating which goes first; the whole run took ${Math.round(results.runMs / 1000)} s.`,
  ].join('\n');
}

const results = options['from-results'] ? readResults(here) : await measure();
const text = summary(results);
console.log(text);
saveResults({ folder: here, options, results, sections: [{ start: README_START, end: README_END, text }] });
