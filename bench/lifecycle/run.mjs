// Times the `hacp` CLI's lifecycle commands (up, replicate ×2, status, remove ×2, down), each a new
// process in a fresh state folder, on the local provider (real etcd and HAProxy on loopback), twice:
// an etcd-only cluster (`up --no-kubernetes`), against the bare-etcd floor of adding a member (as
// bench/etcd-add measures it, on an empty database) and the CLI's cold start against `node -e ''`; and,
// when HACP_KUBE_RELEASE_URL says where Kubernetes binaries come from, a cluster running the whole
// Kubernetes control plane (`up --kubernetes-version 1.23`), against the same binaries started by hand
// to /readyz and /healthz (kubernetes-floor.mjs). A benchmark, not a test:
// `node bench/lifecycle/run.mjs` (full run, records results) or `--quick` (smoke run, records nothing).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createClusterPki } from '@hacp/certs';
import { createMembershipClient, memberFlags } from '@hacp/etcd';
import { startEtcdCluster } from '@hacp/testkit';
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
} from '../etcd-add/floor.mjs';
import { buildHash, CLI, CLI_DIR, cliEnv } from '../lib/cli.mjs';
import { benchOptions, onInterrupt, removeFolder, tempFolder } from '../lib/harness.mjs';
import {
  dependencyVersion,
  describeHost,
  describeTmpFolder,
  firstLine,
  packageVersion,
  procStat,
} from '../lib/machine.mjs';
import {
  loadText,
  markdownTable,
  median,
  msText as ms,
  plural,
  readResults,
  recordedOn,
  round1,
  round2,
  saveResults,
  spreadMs,
} from '../lib/report.mjs';
import {
  differencesFromHacp,
  FLOOR_VARIANTS,
  floorRound,
  PROBE_INTERVAL_MS,
  removeFloorReplica,
} from './kubernetes-floor.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const options = benchOptions(import.meta.url);
const { quick } = options;
const ROUNDS = quick ? 1 : 3;
/** Cold-start runs of each process per round (after the round's `remove --zone local-b`): 12 in all. */
const COLD_RUNS_PER_ROUND = quick ? 3 : 4;
const COMMAND_TIMEOUT_MS = 240_000;
const README_START = '<!-- lifecycle-results:start -->';
const README_END = '<!-- lifecycle-results:end -->';
const README_KUBE_START = '<!-- lifecycle-kubernetes-results:start -->';
const README_KUBE_END = '<!-- lifecycle-kubernetes-results:end -->';

/** The lifecycle, in order, as a user runs it; `replicas` is what each leaves behind. */
const lifecycle = (kubernetesFlags) => [
  { args: ['up', '--zone', 'local-a', '--multizone', ...kubernetesFlags], replicas: 1 },
  { args: ['replicate', '--zone', 'local-b'], replicas: 2 },
  { args: ['replicate', '--zone', 'local-c'], replicas: 3 },
  { args: ['status', '--json'], replicas: 3 },
  { args: ['remove', '--zone', 'local-c'], replicas: 2 },
  { args: ['remove', '--zone', 'local-b'], replicas: 1 },
  { args: ['down', '--yes'], replicas: 0 },
];
/** The etcd-only lifecycle: what this benchmark timed before the replicas ran Kubernetes. */
const LIFECYCLE = lifecycle(['--no-kubernetes']);
/** The Kubernetes version the second lifecycle asks for, resolved at HACP_KUBE_RELEASE_URL (v1.23.16). */
const KUBERNETES_SPEC = '1.23';
const KUBE_LIFECYCLE = lifecycle(['--kubernetes-version', KUBERNETES_SPEC]);
/**
 * Where the CLI caches the binaries (its XDG_CACHE_HOME): one folder for every round and run, filled
 * before any timing, so that no command downloads.
 */
const KUBE_CACHE = join(tmpdir(), 'hacp-bench-lifecycle-cache');
const label = (args) => `hacp ${args.join(' ')}`;

// --- the CLI ----------------------------------------------------------------------------------------

/** The process group of the child now running, so that a timeout or Ctrl-C stops it by its pid. */
let running;

/**
 * Runs a process to completion and times it from just before the spawn to its exit (streams
 * closed). `onChunk` sees stdout as it arrives, with the time since the spawn.
 */
function timed(command, args, { env, cwd, onChunk } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running = child;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      onChunk?.(performance.now() - started, chunk);
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), COMMAND_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = performance.now() - started;
      clearTimeout(timer);
      running = undefined;
      resolve({ ms, code, signal, stdout, stderr });
    });
  });
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {}
  }
}

const shellQuote = (word) => `'${word.replaceAll("'", "'\\''")}'`;

/** `script -qefc`: the command on a pseudo-terminal, as a person runs it, so that hacp prints its steps. */
const onTerminal = (argv) => ['script', ['-qefc', argv.map(shellQuote).join(' '), '/dev/null']];

/** The ordered parts of a command, by step title, for the breakdown (the titles come from @hacp/topology). */
const STEP_KINDS = [
  ['checks', /^Check that /],
  ['zone', /^Check zone /],
  ['snapshot', /etcd snapshot/],
  ['certs', /^Issue the certificates|^Create the cluster PKI/],
  ['add-learner', /as a learner/],
  ['start-replica', /^Create \S+ in \S+; its etcd/],
  ['promote', /^Promote /],
  ['wait-healthy', /^Wait until \S+ is healthy/],
  ['drain', /let its connections drain/],
  ['stop-kubernetes', /Kubernetes components/],
  ['remove-member', /etcd member/],
  ['identity-lease', /identity lease/],
  ['move-leader', /^Move etcd leadership/],
  ['delete-replica', /^Delete \S+ and its disk/],
  ['endpoint', /load balancer|endpoint address/],
  ['other', /./],
];
const kindOf = (title) => STEP_KINDS.find(([, pattern]) => pattern.test(title))[0];

/** How hacp words a step's outcome (apps/cli's stepOutcomeText); `skipped` as older builds printed it. */
const OUTCOMES = 'done|already in place|already gone|not needed|skipped';
/** hacp's line while a replica's Kubernetes components are waited for, inside its `Wait until … is healthy` step. */
const KUBERNETES_WAIT = /kube-apiserver, controller-manager and scheduler to be ready/;

/**
 * The steps hacp printed, each with when its line appeared and when its outcome (`done`, `already
 * gone`, …) did, in ms after the spawn: `[i/n] title …` at the start, the outcome appended in place
 * when nothing came in between, else the whole line again with it; and the `waiting for …` lines
 * printed in between, each with when it appeared.
 */
function stepsOf(chunks) {
  let text = '';
  const ends = [];
  for (const [ms, chunk] of chunks) {
    text += chunk;
    ends.push([text.length, ms]);
  }
  const at = (position) => ends.find(([end]) => end > position)[1];
  const steps = new Map();
  const lines = new RegExp(
    `\\[(\\d+)\\/(\\d+)\\] ([^\\r\\n]*?) …(?: (${OUTCOMES}))?|  waiting for ([^\\r\\n]*?) …`,
    'g',
  );
  let open;
  for (const match of text.matchAll(lines)) {
    if (match[5] !== undefined) {
      open?.waits.push({ message: match[5], atMs: round1(at(match.index)) });
      continue;
    }
    const index = Number(match[1]);
    if (!steps.has(index)) {
      steps.set(index, {
        index,
        of: Number(match[2]),
        title: match[3],
        startMs: round1(at(match.index)),
        waits: [],
      });
    }
    open = steps.get(index);
    if (match[4] !== undefined) {
      open.status = match[4];
      open.endMs = round1(at(match.index + match[0].length - match[4].length));
    }
  }
  return [...steps.values()]
    .sort((a, b) => a.index - b.index)
    .map(({ waits, ...step }) => ({
      ...step,
      ...(waits.length > 0 ? { waits } : {}),
      kind: kindOf(step.title),
      ms: round1(step.endMs - step.startMs),
    }));
}

/**
 * One lifecycle command; mutating ones on a terminal (steps timed), `status --json` with pipes.
 * `kubernetes` (the Kubernetes lifecycle): the version every replica must run, and the CLI's
 * environment for the binaries; without it the cluster must be etcd-only.
 */
async function runLifecycleCommand(stateDir, { args, replicas }, kubernetes) {
  const json = args.includes('--json');
  const chunks = [];
  const argv = [process.execPath, CLI, ...args];
  const [command, commandArgs] = json ? [argv[0], argv.slice(1)] : onTerminal(argv);
  const run = await timed(command, commandArgs, {
    env: cliEnv(stateDir, kubernetes?.env),
    onChunk: (ms, chunk) => chunks.push([ms, chunk]),
  });
  const fail = (why) =>
    new Error(`${label(args)} ${why} (exit ${run.code ?? run.signal}):\n${run.stdout}\n${run.stderr}`);
  if (run.code !== 0) throw fail('failed');
  if (json) {
    checkStatus(parseEnvelope(run.stdout, fail), replicas, fail, kubernetes?.version);
    return { wallMs: round1(run.ms) };
  }
  // Equal work: the command says it finished and names the replicas it left.
  const finished = /(\w+) finished on cluster \S+ \((op-[^)]+)\): (\d+) steps/.exec(run.stdout);
  const left = replicas === 0 ? /Replicas: none/.test(run.stdout) : /Replicas \((\d+)\):/.exec(run.stdout);
  if (finished === null || finished[1] !== args[0]) throw fail('printed no "finished" line');
  if (replicas === 0 ? !left : Number(left?.[1]) !== replicas)
    throw fail(`did not leave ${replicas} replicas`);
  const version = /^Kubernetes: (\S+)/m.exec(run.stdout)?.[1];
  if (replicas > 0 && version !== kubernetes?.version) {
    throw fail(
      `said the replicas run Kubernetes ${version ?? '(none)'}, not ${kubernetes?.version ?? '(none)'}`,
    );
  }
  const steps = stepsOf(chunks);
  if (steps.length !== Number(finished[3]) || steps.some((step) => step.status === undefined)) {
    throw fail(`printed ${steps.length} complete steps, not ${finished[3]}`);
  }
  return {
    wallMs: round1(run.ms),
    operationId: finished[2],
    beforeFirstStepMs: steps[0].startMs,
    stepsMs: round1(steps.at(-1).endMs - steps[0].startMs),
    afterLastStepMs: round1(run.ms - steps.at(-1).endMs),
    steps,
    warnings: [...run.stdout.matchAll(/Warning \(([A-Z_]+)\)/g)].map((match) => match[1]),
  };
}

function parseEnvelope(stdout, fail) {
  try {
    return JSON.parse(stdout);
  } catch {
    throw fail('printed no JSON envelope');
  }
}

/**
 * `status --json`: the replicas all healthy voters, in zones a, b, c in turn, the endpoint as hacp's
 * rules say, and with `kubernetesVersion` that version on every replica with its kube-apiserver,
 * controller-manager and scheduler answering; without it, no Kubernetes at all.
 */
function checkStatus(envelope, replicas, fail, kubernetesVersion) {
  const status = envelope?.result;
  if (envelope?.status !== 0 || status === undefined) throw fail('returned an error envelope');
  const names = status.replicas.map((replica) => replica.name).sort();
  const members = status.etcd.members;
  const zones = status.replicas.map((replica) => replica.zone).sort();
  const ok =
    names.length === replicas &&
    zones.join(',') === ['local-a', 'local-b', 'local-c'].slice(0, replicas).join(',') &&
    status.replicas.every((replica) => replica.state === 'healthy') &&
    members
      .map((member) => member.name)
      .sort()
      .join(',') === names.join(',') &&
    members.every((member) => !member.learner && member.healthy) &&
    (replicas === 1
      ? status.endpoint.mode === 'attached' && status.endpoint.attachedTo === names[0]
      : status.endpoint.mode === 'load-balanced' &&
        status.endpoint.targets
          .map((target) => target.replica)
          .sort()
          .join(',') === names.join(','));
  if (!ok)
    throw fail(`did not show ${replicas} healthy voters behind the endpoint: ${JSON.stringify(status)}`);
  const components = (replica) => Object.values(replica.kubernetes ?? {});
  const kubernetesOk =
    kubernetesVersion === undefined
      ? status.kubernetes === undefined &&
        status.replicas.every((replica) => replica.kubernetes === undefined)
      : status.kubernetes?.version === kubernetesVersion &&
        status.replicas.every(
          (replica) =>
            components(replica).length === 3 && components(replica).every((state) => state === 'ok'),
        );
  if (!kubernetesOk) {
    throw fail(
      `did not show ${kubernetesVersion === undefined ? 'an etcd-only cluster' : `Kubernetes ${kubernetesVersion} ready on every replica`}: ${JSON.stringify({ kubernetes: status.kubernetes, replicas: status.replicas })}`,
    );
  }
}

// --- cold start -------------------------------------------------------------------------------------

const COLD = [
  { id: 'node', title: "`node -e ''`", argv: () => [process.execPath, '-e', ''] },
  { id: 'version', title: '`hacp --version`', argv: () => [process.execPath, CLI, '--version'] },
  {
    id: 'status',
    title: '`hacp status --json` (1 replica)',
    argv: () => [process.execPath, CLI, 'status', '--json'],
  },
  {
    id: 'sdk',
    title: 'loading `@hacp/sdk` once the command is loaded',
    // What a command loads when it runs, beyond what `--version` loads: in a fresh node, the command's
    // module first (with oclif and the provider), then @hacp/sdk, timed inside the process and printed.
    argv: () => [
      process.execPath,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(pathToFileURL(join(CLI_DIR, 'dist', 'commands', 'replicate.js')).href)});` +
        " const t = performance.now(); await import('@hacp/sdk'); console.log(performance.now() - t);",
    ],
    cwd: () => CLI_DIR,
    printed: true,
  },
  {
    id: 'script',
    title: "`script` + `node -e ''`",
    argv: () => onTerminal([process.execPath, '-e', '']).flat(),
  },
];

/** Each process `COLD_RUNS_PER_ROUND` times, rotating which goes first, against the round's one-replica cluster. */
async function coldStart(stateDir, into) {
  for (let run = 0; run < COLD_RUNS_PER_ROUND; run++) {
    for (let offset = 0; offset < COLD.length; offset++) {
      const cold = COLD[(run + offset) % COLD.length];
      const [command, ...args] = cold.argv();
      const result = await timed(command, args, { env: cliEnv(stateDir), cwd: cold.cwd?.() });
      const fail = (why) =>
        new Error(`${cold.title} ${why} (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
      if (result.code !== 0) throw fail('failed');
      if (cold.id === 'version' && !/^hacp\/\S+ /.test(result.stdout)) throw fail('printed no version');
      if (cold.id === 'status') checkStatus(parseEnvelope(result.stdout, fail), 1, fail);
      if (cold.printed && !Number.isFinite(Number.parseFloat(result.stdout))) throw fail('printed no time');
      into[cold.id].push(round1(cold.printed ? Number.parseFloat(result.stdout) : result.ms));
    }
  }
}

// --- the floor: bench/etcd-add's two ways of adding a member (etcd-add/floor.mjs) -------------------
// The round around them (timedAdd) keeps etcd-add's wait for a stable cluster, its checks and its
// reset, without the write-latency probe.

/** One timed add on the floor's one-member cluster (etcd-add's timedAdd without its write probe). */
async function timedAdd(floor, variant) {
  const { cluster, admin, leaderUrl } = floor;
  const name = `member-${++floor.added + 1}`;
  const member = await memberToAdd(cluster, { name, leaderUrl });
  // Stable (one healthy voter, no membership change) for over 5 s when the add starts. etcd-add sleeps the
  // whole 5.5 s; here the lifecycle commands usually ran since the last change, so the wait is the rest.
  const waitedMs = Math.max(0, STABLE_MS - (performance.now() - floor.lastChangeAt));
  await sleep(waitedMs);
  const added =
    variant === 'hacp' ? await addWithHacp(cluster, member) : await addWithEtcdctl(cluster, member);
  const hashes = await checkAdded({ cluster, admin, member, added, variant });
  // The reset, untimed, as etcd-add does it.
  await removeAdded({ cluster, admin, added, name });
  floor.lastChangeAt = performance.now();

  return {
    ...addRecord(variant, name, added),
    stableWaitMs: round1(waitedMs),
    verified: { promotedVoter: true, kvHash: hashes[0].hash, revision: hashes[0].revision },
  };
}

async function startFloor() {
  const pki = await createClusterPki({ clusterName: 'bench', endpointAddress: HOST });
  const cluster = await startEtcdCluster({ members: 1, pki, memberFlags });
  const leaderUrl = cluster.member('etcd-1').clientUrl;
  const admin = createMembershipClient({ endpoints: [leaderUrl], tls: tlsOf(cluster.pki) });
  return { cluster, admin, leaderUrl, added: 0, lastChangeAt: performance.now() };
}

// --- the Kubernetes lifecycle and its floor (kubernetes-floor.mjs) ---------------------------------

/**
 * Where the Kubernetes binaries come from, with the CLI's cache filled by `hacp binaries fetch` before
 * any timing (so that no timed command downloads); or why the Kubernetes lifecycle is not run.
 */
async function prepareKubernetes() {
  const releaseUrl = process.env.HACP_KUBE_RELEASE_URL?.trim();
  if (!releaseUrl) {
    return {
      ran: false,
      reason: 'HACP_KUBE_RELEASE_URL is not set, so there were no Kubernetes binaries to run',
    };
  }
  process.stderr.write(`kubernetes: hacp binaries fetch --kubernetes-version ${KUBERNETES_SPEC}\n`);
  mkdirSync(KUBE_CACHE, { recursive: true, mode: 0o700 });
  const env = { HACP_KUBE_RELEASE_URL: releaseUrl, XDG_CACHE_HOME: KUBE_CACHE };
  const args = [CLI, 'binaries', 'fetch', '--kubernetes-version', KUBERNETES_SPEC, '--json'];
  const fetched = await timed(process.execPath, args, { env: cliEnv(undefined, env) });
  let envelope;
  try {
    envelope = JSON.parse(fetched.stdout);
  } catch {}
  if (fetched.code !== 0 || envelope?.status !== 0) {
    const why =
      envelope?.error?.message ?? (fetched.stderr.trim() || `exit ${fetched.code ?? fetched.signal}`);
    return {
      ran: false,
      reason: `hacp binaries fetch --kubernetes-version ${KUBERNETES_SPEC} failed: ${why}`,
    };
  }
  const { version, downloaded, binaries } = envelope.result;
  return {
    ran: true,
    env,
    releaseUrl,
    version,
    minor: Number(/^v\d+\.(\d+)\./.exec(version)?.[1]),
    binaries: {
      etcd: firstLine('sh', ['-c', 'command -v etcd']),
      ...Object.fromEntries(binaries.map((b) => [b.name, b.path])),
    },
    fetch: { ms: round1(fetched.ms), downloaded },
  };
}

/** The command lines hacp started for a replica, as the local provider records them. */
function instanceRecord(stateDir, replica) {
  return JSON.parse(readFileSync(join(stateDir, 'local', 'instances', `${replica}.json`), 'utf8'));
}

/** Floor replicas in use, removed by cleanup() when the run is interrupted. */
const floorReplicas = new Set();

/**
 * One round of the Kubernetes lifecycle: the floor first (on an otherwise idle machine, as `up` runs),
 * then the lifecycle in a fresh state folder; after `up`, equal work: the floor's command lines must
 * be the ones hacp started, but for addresses and folders.
 */
async function kubernetesRound(kube, round, steps) {
  process.stderr.write(`kubernetes round ${round}: floor`);
  const floorTimes = await floorRoundOf(kube, round);
  const spans = ['together', 'inOrder', 'onData'].map((variant) => floorTimes[variant].totalMs.toFixed(0));
  process.stderr.write(` ${spans.join(' / ')} ms`);
  stateDir = tempFolder('lifecycle');
  for (const step of steps) {
    const sample = await runLifecycleCommand(stateDir, step, kube);
    step.samples.push({ round, ...sample });
    process.stderr.write(`, ${step.args[0]} ${sample.wallMs.toFixed(0)} ms`);
    if (step.args[0] === 'up') {
      const differences = differencesFromHacp(floorTimes, instanceRecord(stateDir, 'kubernetes-master'));
      if (differences.length > 0) {
        throw new Error(`The floor does not run what hacp runs:\n${differences.join('\n')}`);
      }
    }
  }
  process.stderr.write('\n');
  const problems = await removeCluster(stateDir, { down: false });
  stateDir = undefined;
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const { commands: _, address: __, root: ___, ...kept } = floorTimes;
  return { round, ...kept };
}

/** The floor's round, its two fresh variants alternating which goes first. */
function floorRoundOf(kube, round) {
  return floorRound({
    binaries: kube.binaries,
    minor: kube.minor,
    first: round % 2 === 1 ? 'together' : 'inOrder',
    live: floorReplicas,
  });
}

// --- cleanup ----------------------------------------------------------------------------------------

/**
 * The replica processes and HAProxies hacp started in the state folder, still running: the local
 * provider records each (pid and start time) in a pid file.
 */
function leftoverProcesses(stateDir) {
  const records = [];
  const list = (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  const read = (path, pick) => {
    try {
      const record = pick(JSON.parse(readFileSync(path, 'utf8')));
      if (typeof record?.pid === 'number') records.push(record);
    } catch {}
  };
  for (const replica of list(join(stateDir, 'replicas'))) {
    for (const file of list(join(stateDir, 'replicas', replica, 'run'))) {
      read(join(stateDir, 'replicas', replica, 'run', file), (body) => body.process);
    }
  }
  for (const endpoint of list(join(stateDir, 'endpoints'))) {
    read(join(stateDir, 'endpoints', endpoint, 'haproxy.json'), (body) => body.process ?? body);
  }
  return records.filter((record) => {
    // Field 3 (the state: Z for a zombie) and field 22 (the start time) of /proc/<pid>/stat.
    const stat = procStat(record.pid);
    return (
      stat !== undefined &&
      stat[0] !== 'Z' &&
      (record.startTime === undefined || stat[19] === record.startTime)
    );
  });
}

/** `hacp down --yes`, then whatever hacp left running is stopped by its recorded pid, then the folder goes. */
async function removeCluster(stateDir, { down }) {
  const problems = [];
  if (down && existsSync(join(stateDir, 'state'))) {
    const down = await timed(process.execPath, [CLI, 'down', '--yes', '--json'], { env: cliEnv(stateDir) });
    if (down.code !== 0) problems.push(`hacp down --yes exited ${down.code}: ${down.stdout}${down.stderr}`);
  }
  const left = leftoverProcesses(stateDir);
  for (const record of left) killGroup(record.pid, 'SIGTERM');
  if (left.length > 0) await sleep(2_000);
  for (const record of leftoverProcesses(stateDir)) killGroup(record.pid, 'SIGKILL');
  if (left.length > 0)
    problems.push(`stopped by pid what hacp left running: ${left.map((r) => r.pid).join(', ')}`);
  removeFolder(stateDir);
  return problems;
}

let stateDir;
let floor;
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    if (running !== undefined) killGroup(running.pid, 'SIGKILL');
    const problems = stateDir === undefined ? [] : await removeCluster(stateDir, { down: true });
    if (floor !== undefined) {
      floor.admin.close();
      await floor.cluster.stop();
    }
    for (const replica of floorReplicas) await removeFloorReplica(replica);
    for (const problem of problems) process.stderr.write(`cleanup: ${problem}\n`);
  })();
  return cleaning;
}
onInterrupt('the clusters this run started', cleanup);

// --- reporting --------------------------------------------------------------------------------------

function machine() {
  const cliPackage = join(CLI_DIR, 'package.json');
  return {
    ...describeHost(),
    hacp: packageVersion(cliPackage),
    oclifCore: dependencyVersion(cliPackage, '@oclif/core'),
    oclifManifest: existsSync(join(CLI_DIR, 'oclif.manifest.json')),
    etcd: firstLine('etcd', ['--version']).replace(/^etcd Version:\s*/, ''),
    etcdctl: firstLine('etcdctl', ['version']).replace(/^etcdctl version:\s*/, ''),
    haproxy: firstLine('haproxy', ['-v'])
      .replace(/^HAProxy version\s*/, '')
      .split(' ')[0],
    script: firstLine('script', ['--version']),
    ...describeTmpFolder(),
    hacpBuildSha256: buildHash(),
  };
}

const range = (summary) => `${ms(summary.medianMs)} (${ms(summary.minMs)}–${ms(summary.maxMs)})`;
const KIND_TITLES = {
  checks: 'checks',
  zone: 'zone check',
  snapshot: 'etcd snapshot',
  certs: 'certificates',
  'add-learner': 'add learner',
  'start-replica': 'start replica',
  promote: 'promote',
  'wait-healthy': 'wait healthy',
  drain: 'out of the LB + drain',
  'remove-member': 'remove member',
  'move-leader': 'move leader',
  'delete-replica': 'delete replica',
  'stop-kubernetes': 'stop Kubernetes',
  'identity-lease': 'identity lease',
  endpoint: 'endpoint (HAProxy)',
  other: 'other',
};

/** Per command: the wall times, the parts around the steps, and each kind of step's median total. */
function summarizeCommand(entry) {
  const { samples } = entry;
  const row = {
    command: label(entry.args),
    replicasAfter: entry.replicas,
    wall: spreadMs(samples.map((s) => s.wallMs)),
  };
  if (samples[0].steps === undefined) return row;
  const kinds = [...new Set(samples.flatMap((sample) => sample.steps.map((step) => step.kind)))];
  const byKind = Object.fromEntries(
    kinds.map((kind) => [
      kind,
      round1(
        median(
          samples.map((sample) =>
            sample.steps.filter((step) => step.kind === kind).reduce((sum, step) => sum + step.ms, 0),
          ),
        ),
      ),
    ]),
  );
  return {
    ...row,
    steps: samples[0].steps.length,
    beforeFirstStepMs: round1(median(samples.map((sample) => sample.beforeFirstStepMs))),
    stepsMs: round1(median(samples.map((sample) => sample.stepsMs))),
    afterLastStepMs: round1(median(samples.map((sample) => sample.afterLastStepMs))),
    byKindMedianMs: byKind,
  };
}

function floorSummary(samples, variant) {
  return addSummary(samples.filter((sample) => sample.variant === variant));
}

/** `replicate` against the floor: its parts (medians of each part on its own), the ratio and the difference. */
function replicateBreakdown(command, coldStart, floors) {
  const version = coldStart.version.medianMs;
  const sdk = coldStart.sdk.medianMs;
  const kind = (name) => command.byKindMedianMs[name] ?? 0;
  const membership = round1(
    median(
      command.samples.map((sample) =>
        sample.steps
          .filter((step) => ['add-learner', 'start-replica', 'promote'].includes(step.kind))
          .reduce((sum, step) => sum + step.ms, 0),
      ),
    ),
  );
  return {
    command: command.command,
    wallMs: command.wall.medianMs,
    parts: {
      cliStartMs: version,
      loadSdkMs: sdk,
      beforeFirstStepRestMs: round1(command.beforeFirstStepMs - version - sdk),
      checksAndZoneMs: round1(kind('checks') + kind('zone')),
      snapshotMs: kind('snapshot'),
      certsMs: kind('certs'),
      addLearnerMs: kind('add-learner'),
      startReplicaMs: kind('start-replica'),
      promoteMs: kind('promote'),
      waitHealthyMs: kind('wait-healthy'),
      endpointMs: kind('endpoint'),
      afterLastStepMs: command.afterLastStepMs,
    },
    membershipStepsMs: membership,
    overFloor: {
      hacpEtcd: {
        ratio: round2(command.wall.medianMs / floors.hacpEtcd.medianMs),
        differenceMs: round1(command.wall.medianMs - floors.hacpEtcd.medianMs),
      },
      etcdctl: {
        ratio: round2(command.wall.medianMs / floors.etcdctl.medianMs),
        differenceMs: round1(command.wall.medianMs - floors.etcdctl.medianMs),
      },
    },
  };
}

function lifecycleTable(commands) {
  return markdownTable(
    [
      { title: 'command' },
      { title: 'replicas after', right: true },
      { title: 'wall ms: median (min–max)', right: true },
      { title: 'before the first step', right: true },
      { title: 'steps', right: true },
      { title: 'after the last step', right: true },
      { title: 'longest kind of step: median ms' },
    ],
    commands.map((command) => {
      const kinds = Object.entries(command.byKindMedianMs ?? {}).sort((a, b) => b[1] - a[1]);
      return [
        `\`${command.command}\``,
        String(command.replicasAfter),
        range(command.wall),
        command.steps === undefined ? 'n/a' : ms(command.beforeFirstStepMs),
        command.steps === undefined ? 'n/a' : `${ms(command.stepsMs)} (${command.steps})`,
        command.steps === undefined ? 'n/a' : ms(command.afterLastStepMs),
        kinds.length === 0 ? 'n/a' : `${KIND_TITLES[kinds[0][0]]} ${ms(kinds[0][1])}`,
      ];
    }),
  );
}

function replicateTable(breakdowns, floors) {
  const [b, c] = breakdowns;
  const rows = [
    ['`hacp replicate`, wall time', (x) => x.wallMs],
    ['CLI start: node, oclif, the command (`hacp --version`)', (x) => x.parts.cliStartMs],
    ['loading `@hacp/sdk`', (x) => x.parts.loadSdkMs],
    [
      'the rest before the first step: state, lock, 1 look at the cluster',
      (x) => x.parts.beforeFirstStepRestMs,
    ],
    ['steps: checks, zone', (x) => x.parts.checksAndZoneMs],
    ['step: etcd snapshot', (x) => x.parts.snapshotMs],
    ["step: the replica's certificates", (x) => x.parts.certsMs],
    ['step: add learner', (x) => x.parts.addLearnerMs],
    ['step: start replica (etcd, the provider\u2019s start check)', (x) => x.parts.startReplicaMs],
    ['step: promote', (x) => x.parts.promoteMs],
    ['step: wait healthy', (x) => x.parts.waitHealthyMs],
    ['steps: endpoint (HAProxy LB, address, health checks)', (x) => x.parts.endpointMs],
    ['after the last step: result, exit', (x) => x.parts.afterLastStepMs],
    ['add learner + start replica + promote', (x) => x.membershipStepsMs],
  ].map(([title, pick]) => [title, ms(pick(b)), ms(pick(c))]);
  const floorRow = (title, floorMs) => [title, ms(floorMs), ms(floorMs)];
  rows.push(floorRow('floor: @hacp/etcd add → promoted (etcd-add, empty)', floors.hacpEtcd.medianMs));
  rows.push(floorRow('floor: etcdctl add → promoted (etcd-add, empty)', floors.etcdctl.medianMs));
  rows.push([
    'replicate ÷ floor (@hacp/etcd; etcdctl)',
    ...[b, c].map(
      (x) => `${x.overFloor.hacpEtcd.ratio.toFixed(1)}×; ${x.overFloor.etcdctl.ratio.toFixed(1)}×`,
    ),
  ]);
  rows.push([
    'replicate − floor (@hacp/etcd; etcdctl), ms',
    ...[b, c].map((x) => `${ms(x.overFloor.hacpEtcd.differenceMs)}; ${ms(x.overFloor.etcdctl.differenceMs)}`),
  ]);
  return markdownTable(
    [
      { title: 'part (medians of each part on its own)' },
      { title: '→ local-b (1 → 2) ms', right: true },
      { title: '→ local-c (2 → 3) ms', right: true },
    ],
    rows,
  );
}

function coldTable(cold) {
  const node = cold.node.medianMs;
  return markdownTable(
    [
      { title: 'process' },
      { title: 'ms: median (min–max)', right: true },
      { title: 'runs', right: true },
      { title: "minus `node -e ''`", right: true },
    ],
    COLD.map(({ id, title, printed }) => [
      title,
      range(cold[id]),
      String(cold[id].samplesMs.length),
      id === 'node' || printed ? '' : ms(round1(cold[id].medianMs - node)),
    ]),
  );
}

/** What `status --json` does beyond starting: one look at the cluster, and printing it. */
function coldNote({ coldStart: cold }) {
  const look = cold.status.medianMs - cold.version.medianMs - cold.sdk.medianMs;
  return `Loading \`@hacp/sdk\` is timed inside a fresh \`node\` that has loaded the command's module first, as the CLI has when it runs a command (its own wall time is not the point: node's start is in the other rows). \`hacp status --json\` minus \`hacp --version\` minus loading the SDK: ${ms(round1(look))} ms to look at the one-replica cluster and print it. \`script\` (the pseudo-terminal the mutating commands ran on) adds ${ms(round1(cold.script.medianMs - cold.node.medianMs))} ms to a process.`;
}

// --- reporting: the Kubernetes lifecycle against its floor ----------------------------------------

const medianOf = (samples, pick) => round1(median(samples.map(pick)));
const kindMs = (sample, kinds) =>
  sample.steps.filter((step) => kinds.includes(step.kind)).reduce((sum, step) => sum + step.ms, 0);

/**
 * A command that starts a replica (up, replicate), taken apart: each part's median on its own, hacp's
 * own spawn → ready (from the start of its create step to the end of its wait, which also holds the
 * etcd promotion on replicate), and against the floor.
 */
function kubernetesBreakdown(command, floor) {
  const { samples } = command;
  const step = (sample, kind) => sample.steps.find((each) => each.kind === kind);
  const kubernetesWait = (sample) => {
    const wait = step(sample, 'wait-healthy');
    const line = (wait.waits ?? []).find((each) => KUBERNETES_WAIT.test(each.message));
    return line === undefined ? undefined : wait.endMs - line.atMs;
  };
  const listed = ['certs', 'start-replica', 'add-learner', 'promote', 'wait-healthy', 'endpoint'];
  const spawnToReady = medianOf(
    samples,
    (s) => step(s, 'wait-healthy').endMs - step(s, 'start-replica').startMs,
  );
  const wallMs = command.wall.medianMs;
  return {
    command: command.command,
    wallMs,
    parts: {
      beforeFirstStepMs: command.beforeFirstStepMs,
      certsMs: medianOf(samples, (s) => kindMs(s, ['certs'])),
      startReplicaMs: medianOf(samples, (s) => kindMs(s, ['start-replica'])),
      learnerAndPromoteMs: medianOf(samples, (s) => kindMs(s, ['add-learner', 'promote'])),
      waitHealthyMs: medianOf(samples, (s) => kindMs(s, ['wait-healthy'])),
      waitKubernetesMs: medianOf(samples, kubernetesWait),
      endpointMs: medianOf(samples, (s) => kindMs(s, ['endpoint'])),
      otherStepsMs: medianOf(samples, (s) => s.stepsMs - kindMs(s, listed)),
      afterLastStepMs: command.afterLastStepMs,
    },
    spawnToReadyMs: spawnToReady,
    overFloor: {
      ratio: round2(wallMs / floor.together.medianMs),
      differenceMs: round1(wallMs - floor.together.medianMs),
      spawnToReadyDifferenceMs: round1(spawnToReady - floor.together.medianMs),
    },
  };
}

/** Each floor variant over the rounds: its span and each component's median from spawn to ready. */
function kubernetesFloorSummary(rounds) {
  const variant = (name) => ({
    ...spreadMs(rounds.map((round) => round[name].totalMs)),
    componentsMedianMs: Object.fromEntries(
      Object.keys(rounds[0][name].components).map((component) => [
        component,
        medianOf(rounds, (round) => round[name].components[component].ms),
      ]),
    ),
  });
  return {
    prepareMs: spreadMs(rounds.flatMap((round) => round.prepareMs)),
    together: variant('together'),
    inOrder: variant('inOrder'),
    onData: variant('onData'),
  };
}

function kubernetesFloorTable(floor) {
  const variants = [
    ['together', 'all four at once, fresh (**the floor**)'],
    ['inOrder', 'etcd; then kube-apiserver; then the other two, fresh'],
    ['onData', 'the three Kubernetes components at once, on an etcd with data'],
  ];
  const component = (variant, name) => ms(floor[variant].componentsMedianMs[name]);
  return markdownTable(
    [
      { title: 'started by hand' },
      { title: 'spawn → all ready ms: median (min–max)', right: true },
      { title: 'etcd /health', right: true },
      { title: 'kube-apiserver /readyz', right: true },
      { title: 'controller-manager /healthz', right: true },
      { title: 'scheduler /healthz', right: true },
    ],
    variants.map(([variant, title]) => [
      title,
      range(floor[variant]),
      component(variant, 'etcd'),
      component(variant, 'kube-apiserver'),
      component(variant, 'kube-controller-manager'),
      component(variant, 'kube-scheduler'),
    ]),
  );
}

function kubernetesCompareTable(breakdowns, floor, etcdFloor) {
  const rows = [
    ['wall time', (x) => ms(x.wallMs)],
    [
      'before the first step: CLI start, SDK, state, lock, 1 look at the cluster',
      (x) => ms(x.parts.beforeFirstStepMs),
    ],
    ['step(s): certificates (up: the cluster PKI too)', (x) => ms(x.parts.certsMs)],
    [
      'step: create the replica (spawn its 5 processes, the 500 ms start check)',
      (x) => ms(x.parts.startReplicaMs),
    ],
    [
      'steps: add learner + promote (etcd)',
      (x) => (x.command.includes(' up ') ? '–' : ms(x.parts.learnerAndPromoteMs)),
    ],
    [
      'step: wait healthy (its etcd member, then its Kubernetes components)',
      (x) => ms(x.parts.waitHealthyMs),
    ],
    [
      '… of which the Kubernetes wait: /readyz and /healthz, then the identity lease labelled',
      (x) => ms(x.parts.waitKubernetesMs),
    ],
    ['steps: endpoint (address, HAProxy, its health checks)', (x) => ms(x.parts.endpointMs)],
    ['the other steps (checks, zone, address, firewall, record, snapshot)', (x) => ms(x.parts.otherStepsMs)],
    ['after the last step: result, exit', (x) => ms(x.parts.afterLastStepMs)],
    ["hacp's spawn → ready: the create step's start to the wait's end", (x) => ms(x.spawnToReadyMs)],
    ['floor: one replica spawned by hand at once → all ready', () => ms(floor.together.medianMs)],
    ['floor: its Kubernetes components on an etcd with data', () => ms(floor.onData.medianMs)],
    [
      'etcd floor: etcdctl add → promoted (the etcd-only part of this run)',
      (x) => (x.command.includes(' up ') || etcdFloor === undefined ? '–' : ms(etcdFloor.medianMs)),
    ],
    ['wall time ÷ floor', (x) => `${x.overFloor.ratio.toFixed(1)}×`],
    ['wall time − floor, ms', (x) => ms(x.overFloor.differenceMs)],
    ["hacp's spawn → ready − floor, ms", (x) => ms(x.overFloor.spawnToReadyDifferenceMs)],
  ];
  const heading = (x) =>
    x.command.includes(' up ') ? '`up` (0 → 1) ms' : `→ ${x.command.split(' ').at(-1)} ms`;
  return markdownTable(
    [
      { title: 'part (medians of each part on its own)' },
      ...breakdowns.map((x) => ({ title: heading(x), right: true })),
    ],
    rows.map(([title, pick]) => [title, ...breakdowns.map(pick)]),
  );
}

/** The README's Kubernetes section: the lifecycle, hacp against the floor, the floor's variants. */
function kubernetesSummary(kube, { loadAverage }) {
  if (!kube.ran) return `Not run: ${kube.reason}.`;
  const floor = kube.floor;
  return [
    lifecycleTable(kube.commands),
    '',
    kubernetesCompareTable(kube.starts, floor, kube.etcdFloor),
    '',
    kubernetesFloorTable(floor),
    '',
    `Kubernetes ${kube.version} (\`--kubernetes-version ${KUBERNETES_SPEC}\`), its binaries fetched into the CLI's cache before the timing (${ms(kube.fetch.ms)} ms, ${kube.fetch.downloaded ? 'downloaded' : 'already there'}); ${plural(kube.rounds, 'round')}, each the floor (its two fresh variants alternating which goes first) and then the lifecycle in a fresh state folder; the floor's PKI and files, made before each variant and not timed, took ${range(floor.prepareMs)} ms; probes every ${PROBE_INTERVAL_MS} ms. Same machine and build as above; load average ${loadText(loadAverage.kubernetesStart)} at the start of this part, ${loadText(loadAverage.end)} at the end; this part took ${Math.round(kube.runMs / 1000)} s. The floor ran exactly hacp's command lines (checked after every \`up\`, but for addresses and folders).`,
  ].join('\n');
}

function summary(results) {
  const { machine: host } = results;
  const floor = results.floor;
  return [
    lifecycleTable(results.commands),
    '',
    'Mutating commands ran on a pseudo-terminal, so the times around and of their steps are from the lines hacp printed; `status --json` ran with pipes.',
    '',
    replicateTable(results.replicate, floor),
    '',
    `Floor phases (medians): @hacp/etcd add ${ms(floor.hacpEtcd.phasesMedianMs.add)}, start etcd ${ms(floor.hacpEtcd.phasesMedianMs.start)}, start → promoted ${ms(floor.hacpEtcd.phasesMedianMs.promote)} ms (${floor.hacpEtcd.promoteAttemptsMedian} promote attempts, ${range(floor.hacpEtcd)} ms in all); etcdctl add ${ms(floor.etcdctl.phasesMedianMs.add)}, start etcd ${ms(floor.etcdctl.phasesMedianMs.start)}, start → promoted ${ms(floor.etcdctl.phasesMedianMs.promote)} ms (${floor.etcdctl.promoteAttemptsMedian} attempts, ${range(floor.etcdctl)} ms in all).`,
    '',
    coldTable(results.coldStart),
    '',
    coldNote(results),
    '',
    `${recordedOn(results.date, host)}, hacp ${host.hacp} (build ${host.hacpBuildSha256}, @oclif/core ${host.oclifCore}, ${host.oclifManifest ? 'with' : 'without'} an oclif manifest), etcd ${host.etcd}, etcdctl ${host.etcdctl}, HAProxy ${host.haproxy}; state and data dirs on ${host.tmpFilesystem}; load average ${loadText(results.loadAverage.start)} at the start, ${loadText(results.loadAverage.end)} at the end. ${plural(results.rounds, 'round')}, each a fresh state folder; floor: ${plural(results.rounds, 'add')} of each side; cold start: ${results.coldStart.node.samplesMs.length} runs of each; this etcd-only part took ${Math.round(results.etcdOnlyMs / 1000)} s, the whole run ${Math.round(results.runMs / 1000)} s.`,
  ].join('\n');
}

// --- the run ----------------------------------------------------------------------------------------

/** The Kubernetes part of the results: what ran, or why not. */
function kubernetesResults({ kube, kubeSamples, kubeFloorRounds, kubernetesStarted, etcdFloor }) {
  if (!kube.ran) return { ran: false, reason: kube.reason };
  const kubeCommands = kubeSamples.map((entry) => ({ ...summarizeCommand(entry), samples: entry.samples }));
  const kubeFloor = kubernetesFloorSummary(kubeFloorRounds);
  const { env: _, minor: __, ...about } = kube;
  return {
    ran: true,
    ...about,
    rounds: ROUNDS,
    settings: {
      lifecycle: KUBE_LIFECYCLE.map((step) => label(step.args)),
      cliEnvironment: { HACP_KUBE_RELEASE_URL: kube.releaseUrl, XDG_CACHE_HOME: KUBE_CACHE },
      floorProbeIntervalMs: PROBE_INTERVAL_MS,
      // As words: bench/lib/report.mjs's toJson does not lay out arrays of arrays as biome does.
      floorVariants: Object.fromEntries(
        Object.entries(FLOOR_VARIANTS).map(([variant, stages]) => [
          variant,
          stages.map((stage) => stage.join(' + ')).join('; then '),
        ]),
      ),
    },
    runMs: Math.round(performance.now() - kubernetesStarted),
    commands: kubeCommands.map(({ samples: _, ...command }) => command),
    starts: kubeCommands
      .filter((command) => /^hacp (up|replicate) /.test(command.command))
      .map((command) => kubernetesBreakdown(command, kubeFloor)),
    floor: { ...kubeFloor, rounds: kubeFloorRounds },
    etcdFloor,
    samples: kubeCommands.map(({ command, samples: each }) => ({ command, rounds: each })),
  };
}

/** Both lifecycles, each round with its floor, then what the results file holds. */
async function measure() {
  if (!existsSync(join(CLI_DIR, 'dist', 'commands', 'up.js'))) {
    throw new Error(`${CLI_DIR} is not built (no dist/commands/up.js): run the build first.`);
  }
  const runStarted = performance.now();
  const loadAtStart = loadavg();
  const host = machine();
  const samples = LIFECYCLE.map((step) => ({ ...step, samples: [] }));
  const floorSamples = [];
  const cold = Object.fromEntries(COLD.map(({ id }) => [id, []]));
  const kubeSamples = KUBE_LIFECYCLE.map((step) => ({ ...step, samples: [] }));
  const kubeFloorRounds = [];
  let kube;
  let etcdOnlyMs;
  let kubernetesStarted;
  let loadAtKubernetesStart;
  try {
    process.stderr.write('floor: starting a one-member etcd cluster\n');
    floor = await startFloor();
    for (let round = 0; round < ROUNDS; round++) {
      // The floor's two sides alternate: one before the lifecycle, the other once the hacp cluster is back
      // to one replica (idle), so that the lifecycle commands stand between the floor's membership changes.
      const [first, second] = round % 2 === 0 ? ['hacp', 'etcdctl'] : ['etcdctl', 'hacp'];
      process.stderr.write(`round ${round + 1}: floor ${first}`);
      floorSamples.push({ round: round + 1, ...(await timedAdd(floor, first)) });
      process.stderr.write(` ${floorSamples.at(-1).totalMs.toFixed(0)} ms`);
      stateDir = tempFolder('lifecycle');
      for (const step of samples) {
        if (step.args[0] === 'down') {
          process.stderr.write(`, floor ${second}`);
          floorSamples.push({ round: round + 1, ...(await timedAdd(floor, second)) });
          process.stderr.write(` ${floorSamples.at(-1).totalMs.toFixed(0)} ms, cold start`);
          await coldStart(stateDir, cold);
        }
        const sample = await runLifecycleCommand(stateDir, step);
        step.samples.push({ round: round + 1, ...sample });
        process.stderr.write(`, ${step.args[0]} ${sample.wallMs.toFixed(0)} ms`);
      }
      process.stderr.write('\n');
      // The lifecycle's own `down` ran last; this only checks that nothing was left running, and removes the folder.
      const problems = await removeCluster(stateDir, { down: false });
      stateDir = undefined;
      if (problems.length > 0) throw new Error(problems.join('\n'));
    }
    floor.admin.close();
    await floor.cluster.stop();
    floor = undefined;
    etcdOnlyMs = Math.round(performance.now() - runStarted);

    kubernetesStarted = performance.now();
    loadAtKubernetesStart = loadavg();
    kube = await prepareKubernetes();
    if (!kube.ran) process.stderr.write(`kubernetes: not run: ${kube.reason}\n`);
    for (let round = 1; kube.ran && round <= ROUNDS; round++) {
      kubeFloorRounds.push(await kubernetesRound(kube, round, kubeSamples));
    }
  } finally {
    await cleanup();
  }
  if (buildHash() !== host.hacpBuildSha256) {
    throw new Error(
      'The hacp build changed during the run (its dist was rebuilt): these numbers mix two builds.',
    );
  }

  const coldStartResults = Object.fromEntries(
    COLD.map(({ id, title }) => [
      id,
      { process: title.replaceAll('`', ''), ...spreadMs(cold[id]), samplesMs: cold[id] },
    ]),
  );
  const commands = samples.map((entry) => ({ ...summarizeCommand(entry), samples: entry.samples }));
  const floors = {
    hacpEtcd: floorSummary(floorSamples, 'hacp'),
    etcdctl: floorSummary(floorSamples, 'etcdctl'),
  };
  return {
    date: new Date().toISOString(),
    machine: host,
    rounds: ROUNDS,
    settings: {
      lifecycle: LIFECYCLE.map((step) => label(step.args)),
      mutatingCommandsOn: 'a pseudo-terminal (script -qefc)',
      coldRunsPerRound: COLD_RUNS_PER_ROUND,
      floorStableBeforeAddMs: STABLE_MS,
      floorHacpPromoteOptions: { ...PROMOTE_OPTIONS, intervalMs: 'default (500)' },
      floorRetryMs: FLOOR_RETRY_MS,
    },
    loadAverage: {
      start: loadAtStart.map(round1),
      kubernetesStart: loadAtKubernetesStart.map(round1),
      end: loadavg().map(round1),
    },
    runMs: Math.round(performance.now() - runStarted),
    etcdOnlyMs,
    commands: commands.map(({ samples: _, ...command }) => command),
    replicate: commands
      .filter((command) => command.command.startsWith('hacp replicate'))
      .map((command) => replicateBreakdown(command, coldStartResults, floors)),
    floor: { ...floors, samples: floorSamples },
    coldStart: coldStartResults,
    samples: commands.map(({ command, samples: each }) => ({ command, rounds: each })),
    kubernetes: kubernetesResults({
      kube,
      kubeSamples,
      kubeFloorRounds,
      kubernetesStarted,
      etcdFloor: floors.etcdctl,
    }),
  };
}

const results = options['from-results'] ? readResults(here) : await measure();
const text = summary(results);
const kubeText = kubernetesSummary(results.kubernetes, results);
console.log(`${text}\n\nWith Kubernetes:\n\n${kubeText}`);
saveResults({
  folder: here,
  options,
  results,
  sections: [
    { start: README_START, end: README_END, text },
    { start: README_KUBE_START, end: README_KUBE_END, text: kubeText },
  ],
});
