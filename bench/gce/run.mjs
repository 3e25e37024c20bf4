// Counts the Compute API round trips on the critical path of `replicate` 1→2 and `remove` 2→1 of
// @hacp/sdk on the GCE provider, against the testkit's Compute API server with 200 ms added to every
// request and every operation taking as long as its kind takes on GCE (its VMs booted on this machine
// with real etcd, the guest's boot delayed as a GCE VM's), and sets them beside the gcloud calls
// kube-up.sh and kube-down.sh make one after another for the same change, counted at gcloud's real
// request costs and timed under the same latency and operation times. A benchmark, not a test:
// `node bench/gce/run.mjs` (full run, records results) or `--quick` (smoke run, records nothing);
// `--out <file>` writes the results, every request included, to that file as well.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createGceProvider } from '@hacp/provider-gce';
import { createControlPlane } from '@hacp/sdk';
import { isAlive, startComputeApiServer, trackedPids } from '@hacp/testkit';
import { benchOptions, onInterrupt, removeFolder, tempFolder } from '../lib/harness.mjs';
import {
  builtCodeSha256,
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
  saveResults,
  spread,
  toJson,
} from '../lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
/** `--out <file>`: also write the results (every request of every round) there, with `--quick` too. */
const options = benchOptions(import.meta.url, { out: { type: 'string' } });
const { quick, out: outFile } = options;
const ROUNDS = quick ? 1 : 3;
const PROJECT = 'hacp-test';
const REGION = 'europe-west1';
const CLUSTER = 'kubernetes';
const FIRST_ZONE = 'europe-west1-b';
const SECOND_ZONE = 'europe-west1-c';
/** The latency added to every request of the measured operation (and only to those). */
const LATENCY_MS = 200;
/** The server's own operation time (its default): what each kind takes is OPERATION_MS, below. */
const OPERATION_DELAY_MS = 20;
/**
 * How long an operation of each kind runs on GCE from the call's acceptance to DONE, one figure per
 * kind. GCE publishes none of these and no source gave them per kind: every figure is an estimate
 * (seconds for addresses and disks, longer for load-balancer parts and firewalls, an instance until it
 * is RUNNING), to be replaced by measured figures when the provider runs against a real project.
 * Every mutating method the measured operation calls must be here (the run stops otherwise).
 */
const OPERATION_MS = {
  'compute.instances.insert': 10_000,
  'compute.instances.delete': 20_000,
  'compute.instances.addAccessConfig': 5_000,
  'compute.instances.deleteAccessConfig': 5_000,
  'compute.instances.setDiskAutoDelete': 3_000,
  'compute.instances.setMetadata': 5_000,
  'compute.instances.setLabels': 5_000,
  'compute.disks.insert': 3_000,
  'compute.disks.delete': 3_000,
  'compute.addresses.insert': 3_000,
  'compute.addresses.delete': 3_000,
  'compute.targetPools.insert': 5_000,
  'compute.targetPools.delete': 5_000,
  'compute.targetPools.addInstance': 5_000,
  'compute.targetPools.removeInstance': 5_000,
  'compute.forwardingRules.insert': 10_000,
  'compute.forwardingRules.delete': 10_000,
  'compute.httpHealthChecks.insert': 5_000,
  'compute.httpHealthChecks.delete': 5_000,
  'compute.firewalls.insert': 10_000,
  'compute.firewalls.delete': 10_000,
  'compute.projects.setCommonInstanceMetadata': 5_000,
};
/**
 * From an instance's RUNNING to its startup script (the guest OS's boot). Published time-to-SSH on GCE
 * is ~23–25 s (R. Aboukhalil, "Move Fast and Break the Cloud", 2018, ~5,000 VMs) to ~41.5 s (C.
 * McAnlis, "Understanding and Profiling GCE cold-boot time", 2-CPU Debian); 10 s to RUNNING plus this
 * is the low end of that.
 */
const BOOT_DELAY_MS = 15_000;
/** The SDK's drain after a replica leaves the load balancer (default 2 s): 0, so the remove is API and etcd work only. */
const DRAIN_MS = 0;
/** Longest a measured operation may take before the run gives up on it. */
const OPERATION_TIMEOUT_MS = 600_000;
/** How long the check after a change looks again before it calls the cluster wrong. */
const CHECK_FOR_MS = 30_000;
const README_START = '<!-- gce-results:start -->';
const README_END = '<!-- gce-results:end -->';

// --- kube-up's side: the gcloud calls, one after another --------------------------------------------
// From ../shared/reference/kube-up-behaviour.md §2.3 (KUBE_REPLICATE_EXISTING_MASTER=true) and §2.4
// (KUBE_DELETE_NODES=false KUBE_GCE_ZONE=<zone> kube-down.sh, KUBE_REPLICA_NAME unset), checked line by
// line against cluster/gce/util.sh and cluster/gce/gci/master-helper.sh (kubernetes/cloud-provider-gcp,
// the copy the reference calls CPG): every `gcloud compute` invocation on the path of a public cluster
// (GCE_PRIVATE_CLUSTER unset) with gci masters, MASTER_NAME kubernetes-master, every call succeeding at
// its first attempt. None of them runs in the background: each waits for the one before.

/**
 * The Compute API requests one gcloud invocation makes, one after another, and the operations it waits
 * for. Counted with gcloud 528.0.0 against the Compute API server (each command run alone, its requests
 * in the server's log), except where said:
 * - a read (`describe`, `list`): the request itself (a `list` without a scope is one aggregatedList);
 * - `create`: the call, the operation's wait, a get of what it made (3); `disks create` first gets the
 *   zone (4); `instances create` gets the zone and the project first (5);
 * - `add-*`, `remove-*`, `*-access-config`: the call, the wait, a get of the target (3);
 * - `delete`: the call and the wait (2); `instances delete --delete-disks all` gets the instance first
 *   (counted: 3), and before the delete turns on the auto-delete of the data disk kube-up attached with
 *   `auto-delete=no` (`setDiskAutoDelete` and its wait, +2: from gcloud's code; the server has no
 *   setDiskAutoDelete);
 * - `ssh NAME --command CMD`: instances.get (the VM's IP) and projects.get (the SSH keys in the project
 *   metadata) before ssh starts (lib/surface/compute/ssh.py; not counted against the server). The SSH
 *   session itself goes to the VM, not to the API, and is not counted.
 */
const READ = { requests: 1, operations: [] };
const SSH = { requests: 2, operations: [] };
const created = (operation, requests = 3) => ({ requests, operations: [operation] });
const changed = (operation) => ({ requests: 3, operations: [operation] });
const deleted = (operation) => ({ requests: 2, operations: [operation] });

const call = (kind, command, from, cost = kind === 'ssh' ? SSH : READ) => ({ kind, command, from, ...cost });

/** kube-up.sh with KUBE_REPLICATE_EXISTING_MASTER=true, one replica in europe-west1-b, the new one in -c. */
const KUBE_UP_REPLICATE = [
  call('read', 'gcloud compute addresses describe kubernetes-master-ip', '§2.3 detect-master'),
  call(
    'read',
    'gcloud compute forwarding-rules describe kubernetes-master (not there yet)',
    '§2.3 create-loadbalancer 0',
  ),
  call(
    'read',
    'gcloud compute instances list --filter "name ~ \'^kubernetes-master(-...)?\'"',
    '§2.3 create-loadbalancer 1 (get-all-replica-names)',
  ),
  call(
    'read',
    "gcloud compute instances list kubernetes-master --format='value(zone)'",
    '§2.3 create-loadbalancer 1',
  ),
  call(
    'read',
    'gcloud compute instances describe kubernetes-master (its access config name)',
    '§2.3 create-loadbalancer 2 (attach-external-ip)',
  ),
  call(
    'mutating',
    'gcloud compute instances delete-access-config kubernetes-master',
    '§2.3 create-loadbalancer 2 (attach-external-ip)',
    changed('compute.instances.deleteAccessConfig'),
  ),
  call(
    'mutating',
    'gcloud compute instances add-access-config kubernetes-master (ephemeral IP)',
    '§2.3 create-loadbalancer 2 (attach-external-ip)',
    changed('compute.instances.addAccessConfig'),
  ),
  call(
    'mutating',
    'gcloud compute target-pools create kubernetes-master',
    '§2.3 create-loadbalancer 3',
    created('compute.targetPools.insert'),
  ),
  call(
    'mutating',
    'gcloud compute target-pools add-instances kubernetes-master --instances kubernetes-master',
    '§2.3 create-loadbalancer 4',
    changed('compute.targetPools.addInstance'),
  ),
  call(
    'mutating',
    'gcloud compute forwarding-rules create kubernetes-master --address=<static IP> --ports=443',
    '§2.3 create-loadbalancer 5',
    created('compute.forwardingRules.insert'),
  ),
  call('read', 'gcloud compute instances list (set-replica-name)', '§2.3 replicate-master 1'),
  call(
    'read',
    'gcloud compute instances list (set-existing-master: its first line)',
    '§2.3 replicate-master 2',
  ),
  call(
    'ssh',
    'gcloud compute ssh kubernetes-master --command "curl … 127.0.0.1:2379/v2/members -XPOST"',
    '§2.3 replicate-master 4 (add-replica-to-etcd 2379, §5.3)',
  ),
  call(
    'ssh',
    'gcloud compute ssh kubernetes-master --command "curl … 127.0.0.1:4002/v2/members -XPOST"',
    '§2.3 replicate-master 4 (add-replica-to-etcd 4002, §5.3)',
  ),
  call(
    'mutating',
    'gcloud compute disks create kubernetes-master-xyz-pd',
    '§2.3 replicate-master 5',
    created('compute.disks.insert', 4),
  ),
  call(
    'read',
    'gcloud compute instances list (get-all-replica-names)',
    '§2.3 replicate-master 6 (get-all-replica-names)',
  ),
  ...['kube-env', 'kube-master-certs', 'cluster-name', 'gci-update-strategy', 'cluster-location'].map((key) =>
    call(
      'ssh',
      `gcloud compute ssh kubernetes-master --command "curl …/instance/attributes/${key}"`,
      '§2.3 replicate-master 7 (replicate-master-instance: get-metadata, §1.3)',
    ),
  ),
  call(
    'mutating',
    'gcloud compute instances create kubernetes-master-xyz --disk name=kubernetes-master-xyz-pd …',
    '§2.3 replicate-master 7 (create-master-instance-internal, §3.4)',
    created('compute.instances.insert', 5),
  ),
  call(
    'mutating',
    'gcloud compute target-pools add-instances kubernetes-master --instances kubernetes-master-xyz',
    '§2.3 replicate-master 8',
    changed('compute.targetPools.addInstance'),
  ),
];

/** kube-down.sh with KUBE_DELETE_NODES=false KUBE_GCE_ZONE=europe-west1-c: two replicas, the one in -c goes. */
const KUBE_DOWN_REMOVE = [
  call(
    'read',
    'gcloud compute instance-groups managed list --filter "name ~ \'kubernetes-minion-.+\' …"',
    'UTIL kube-down, before §2.4 0 (detect-node-names, Linux)',
  ),
  call(
    'read',
    'gcloud compute instance-groups managed list --filter "name ~ \'kubernetes-windows-node-.+\' …"',
    'UTIL kube-down, before §2.4 0 (detect-node-names, Windows)',
  ),
  call(
    'read',
    'gcloud compute instances list --filter "… AND zone:(europe-west1-c)"',
    '§2.4 1 (get-replica-name)',
  ),
  call('read', 'gcloud compute instances list (its first line)', '§2.4 2 (set-existing-master)'),
  call(
    'ssh',
    'gcloud compute ssh kubernetes-master --command "curl … 127.0.0.1:2379/v2/members/<id> -XDELETE"',
    '§2.4 3 (remove-replica-from-etcd 2379, §5.3)',
  ),
  call(
    'ssh',
    'gcloud compute ssh kubernetes-master --command "curl … 127.0.0.1:4002/v2/members/<id> -XDELETE"',
    '§2.4 3 (remove-replica-from-etcd 4002, §5.3)',
  ),
  call('read', 'gcloud compute instances describe kubernetes-master-xyz', '§2.4 4'),
  call('read', 'gcloud compute target-pools describe kubernetes-master', '§2.4 4'),
  call(
    'mutating',
    'gcloud compute target-pools remove-instances kubernetes-master --instances kubernetes-master-xyz',
    '§2.4 4',
    changed('compute.targetPools.removeInstance'),
  ),
  call('mutating', 'gcloud compute instances delete --delete-disks all kubernetes-master-xyz', '§2.4 4', {
    requests: 5,
    operations: ['compute.instances.setDiskAutoDelete', 'compute.instances.delete'],
  }),
  call('read', 'gcloud compute disks describe kubernetes-master-xyz-pd (gone with the VM)', '§2.4 5'),
  call('read', 'gcloud compute instances list (its lines counted: REMAINING_MASTER_COUNT)', '§2.4 6'),
  call('read', 'gcloud compute addresses describe kubernetes-master-ip', '§2.4 7.1 (detect-master)'),
  call('read', 'gcloud compute instances list (get-all-replica-names)', '§2.4 7.1'),
  call('read', "gcloud compute instances list kubernetes-master --format='value(zone)'", '§2.4 7.1'),
  call('read', 'gcloud compute forwarding-rules describe kubernetes-master', '§2.4 7.2'),
  call(
    'mutating',
    'gcloud compute forwarding-rules delete kubernetes-master',
    '§2.4 7.2',
    deleted('compute.forwardingRules.delete'),
  ),
  call(
    'read',
    'gcloud compute instances describe kubernetes-master (its access config name)',
    '§2.4 7.2 (attach-external-ip)',
  ),
  call(
    'mutating',
    'gcloud compute instances delete-access-config kubernetes-master',
    '§2.4 7.2 (attach-external-ip)',
    changed('compute.instances.deleteAccessConfig'),
  ),
  call(
    'mutating',
    'gcloud compute instances add-access-config kubernetes-master --address <static IP>',
    '§2.4 7.2 (attach-external-ip)',
    changed('compute.instances.addAccessConfig'),
  ),
  call(
    'mutating',
    'gcloud compute target-pools delete kubernetes-master',
    '§2.4 7.2',
    deleted('compute.targetPools.delete'),
  ),
];

/**
 * What kube-up's sequence costs: its calls by kind, the API requests gcloud makes for them (one after
 * another), and its time under the same latency and operation times as hacp's: every request LATENCY_MS,
 * and a wait that ends when its operation is DONE, OPERATION_MS after the call was accepted (so each
 * operation adds its time less the one latency of its wait). Left out: gcloud's own start for every call,
 * the SSH sessions, and kube-up's wait for the load balancer to answer (none of it API time).
 */
function kubeUpSide(calls) {
  const byKind = { read: 0, mutating: 0, ssh: 0 };
  for (const { kind } of calls) byKind[kind] += 1;
  const timed = calls.map((entry, index) => {
    const operationsMs = entry.operations.map((method) => OPERATION_MS[method]);
    return {
      step: index + 1,
      ...entry,
      operationsMs,
      ms: entry.requests * LATENCY_MS + operationsMs.reduce((sum, ms) => sum + ms - LATENCY_MS, 0),
    };
  });
  const requests = timed.reduce((sum, entry) => sum + entry.requests, 0);
  return {
    gcloudCalls: calls.length,
    byKind,
    requests,
    operations: timed.reduce((sum, entry) => sum + entry.operations.length, 0),
    atLatencyMs: requests * LATENCY_MS,
    operationsMs: timed.reduce((sum, entry) => sum + entry.operationsMs.reduce((a, b) => a + b, 0), 0),
    wallMs: timed.reduce((sum, entry) => sum + entry.ms, 0),
    calls: timed,
  };
}

// --- hacp's side: the requests the server saw -------------------------------------------------------

/** An operation's poll or wait: `.../operations/<name>` (get) or `.../operations/<name>/wait`. */
const OPERATION_PATH = /\/operations\/[^/]+(\/wait)?$/;
/** POSTs that change nothing: GCE's getHealth takes the instance in its body. */
const READ_ONLY_POSTS = new Set(['compute.targetPools.getHealth']);
const kindOf = (request) =>
  OPERATION_PATH.test(request.path)
    ? 'operationWait'
    : request.httpMethod === 'GET' || READ_ONLY_POSTS.has(request.method)
      ? 'read'
      : 'mutating';

/** The operation named in a poll or wait path, if it is one. */
const operationName = (path) => /\/operations\/([^/]+)(?:\/wait)?$/.exec(path)?.[1];

/**
 * Whether a request is about hacp's own state, kept in the project metadata (the record, the journal
 * saved after every step, the cluster lock): projects.get, setCommonInstanceMetadata and the waits for
 * its operations. kube-up keeps no state of its own in the API.
 */
function stateRequests(server) {
  const types = new Map(
    server.state()[PROJECT].operations.map((operation) => [operation.name, operation.operationType]),
  );
  return (request) =>
    request.method === 'compute.projects.get' ||
    request.method === 'compute.projects.setCommonInstanceMetadata' ||
    types.get(operationName(request.path)) === 'compute.projects.setCommonInstanceMetadata';
}

/**
 * The part of the work a request is, for the table of parts: the method for reads and changes of
 * resources (`instances.get`, `targetPools.addInstance`), `projects.get` and `setCommonInstanceMetadata`
 * for the state store, and the wait for an operation by what the operation was (a state write, or a
 * change of a resource), so that waited operations are counted apart from plain requests.
 */
function partOf(request, isState) {
  const method = (request.method ?? `${request.httpMethod} ${request.path}`).replace(/^compute\./, '');
  if (!OPERATION_PATH.test(request.path)) return method;
  return isState(request) ? 'wait: state write' : 'wait: resource change';
}

/**
 * The requests that arrived in [from, to] (epoch ms), and from them: counts by kind and by method, the
 * serial round trips (requests sorted by arrival; one that arrives before every earlier one was answered
 * overlaps them, else it starts a new round), how many of those rounds a state request opened, and the
 * time covered by at least one request in flight.
 */
function analyse(requests, from, to, isState) {
  const within = requests
    .filter((request) => request.time.getTime() >= from && request.time.getTime() <= to)
    .sort((a, b) => a.time.getTime() - b.time.getTime());
  const kinds = { read: 0, mutating: 0, operationWait: 0 };
  const byMethod = {};
  // Per part: its requests, and the serial round trips its requests opened (the first of a round).
  const byPart = {};
  let rounds = 0;
  let stateRequestCount = 0;
  let stateRounds = 0;
  let answeredBy = Number.NEGATIVE_INFINITY;
  let apiMs = 0;
  let coverFrom;
  let coverTo;
  let unanswered = 0;
  for (const request of within) {
    kinds[kindOf(request)] += 1;
    const method = request.method ?? `${request.httpMethod} ${request.path}`;
    byMethod[method] = (byMethod[method] ?? 0) + 1;
    const state = isState(request);
    if (state) stateRequestCount += 1;
    const arrived = request.time.getTime();
    if (request.answeredAt === undefined) unanswered += 1;
    const answered = request.answeredAt?.getTime() ?? to;
    const partName = partOf(request, isState);
    byPart[partName] ??= { requests: 0, rounds: 0 };
    const part = byPart[partName];
    part.requests += 1;
    if (arrived >= answeredBy) {
      rounds += 1;
      part.rounds += 1;
      if (state) stateRounds += 1;
    }
    answeredBy = Math.max(answeredBy, answered);
    if (coverTo === undefined || arrived > coverTo) {
      if (coverTo !== undefined) apiMs += coverTo - coverFrom;
      coverFrom = arrived;
      coverTo = answered;
    } else coverTo = Math.max(coverTo, answered);
  }
  if (coverTo !== undefined) apiMs += coverTo - coverFrom;
  // 404s are expected (existence checks); anything else here would be a retry on the critical path.
  const errorAnswers = within
    .filter((request) => request.status === undefined || request.status >= 400)
    .map((request) => `${request.method ?? request.path} ${request.dropped ? 'dropped' : request.status}`);
  return {
    requests: within.length,
    ...kinds,
    serialRoundTrips: rounds,
    stateRequests: stateRequestCount,
    stateSerialRoundTrips: stateRounds,
    apiMs,
    byMethod,
    byPart,
    errorAnswers,
    unanswered,
    within,
  };
}

/** The SDK's step events, with when each began and ended (epoch ms, as the server's request times). */
function stepRecorder() {
  const steps = new Map();
  return {
    onEvent(event) {
      if (event.type === 'step-started') {
        steps.set(event.index, { index: event.index, title: event.title, startedAt: Date.now() });
      } else if (event.type === 'step-done') {
        const step = steps.get(event.index) ?? {
          index: event.index,
          title: event.title,
          startedAt: Date.now(),
        };
        steps.set(event.index, { ...step, endedAt: Date.now(), status: event.status });
      }
    },
    take() {
      const list = [...steps.values()].sort((a, b) => a.index - b.index);
      steps.clear();
      return list;
    },
  };
}

// --- one round: a fresh cluster ---------------------------------------------------------------------

/** Fires on Ctrl-C or SIGTERM: the operation running stops at its next step (the SDK keeps its journal). */
const stopping = new AbortController();
/** Every pid the testkit ran for the VMs of this run, checked at the end. */
const seenPids = new Set();
let world;

async function startWorld() {
  const root = tempFolder('gce');
  const server = await startComputeApiServer({
    projects: [PROJECT],
    latencyMs: 0,
    operationDelayMs: OPERATION_DELAY_MS,
    runtime: { dir: join(root, 'compute'), bootDelayMs: BOOT_DELAY_MS },
  });
  const provider = createGceProvider({
    project: PROJECT,
    region: REGION,
    apiEndpoint: server.url,
    reach: 'direct',
    kubeApiserver: false,
  });
  const steps = stepRecorder();
  const controlPlane = createControlPlane({
    provider,
    cluster: CLUSTER,
    dataDir: join(root, 'clusters', CLUSTER),
    timeouts: { drain: DRAIN_MS },
    onEvent: steps.onEvent,
  });
  const current = { root, server, provider, controlPlane, steps, inFlight: undefined };
  // The operation running now, so that an interrupted run lets it stop (and release the lock) before `down`.
  current.run = (operation) => {
    current.inFlight = operation();
    return current.inFlight;
  };
  world = current;
  return world;
}

async function stopWorld() {
  const current = world;
  if (current === undefined) return [];
  world = undefined;
  const problems = [];
  for (const pid of trackedPids()) seenPids.add(pid);
  await current.inFlight?.catch(() => undefined);
  current.server.latencyMs = 0;
  await current.controlPlane.down().catch((error) => problems.push(`down failed: ${error}`));
  await current.controlPlane.close().catch(() => undefined);
  await current.provider.close().catch(() => undefined);
  await current.server.close();
  if (current.server.runtimeErrors.length > 0) {
    problems.push(`VM runtime errors: ${JSON.stringify(current.server.runtimeErrors)}`);
  }
  removeFolder(current.root);
  return problems;
}

/**
 * Each operation's time on GCE, on the server: the server runs every operation in OPERATION_DELAY_MS, so
 * the mutating call itself is held for the rest, less the latency its wait adds (the provider waits for
 * each operation right after its call). From the call to its wait's answer that is LATENCY_MS +
 * OPERATION_MS, as on GCE, and the change applies when the operation is DONE, as on GCE; the time shows
 * on the call rather than on the wait. Returns a function that takes the holds off.
 */
function operationTimes(server) {
  const faults = Object.entries(OPERATION_MS).map(([method, ms]) =>
    server.faults.add({
      match: { method },
      times: Number.POSITIVE_INFINITY,
      effect: { kind: 'latency', ms: Math.max(0, ms - LATENCY_MS - OPERATION_DELAY_MS) },
    }),
  );
  return () => {
    for (const fault of faults) fault.remove();
  };
}

/**
 * Runs one operation with LATENCY_MS on every request and GCE's operation times, and takes its
 * requests and steps apart.
 */
async function measured(w, operation) {
  // The pids of the replicas the operation may delete, before they are gone from the testkit's list.
  for (const pid of trackedPids()) seenPids.add(pid);
  w.steps.take();
  w.server.latencyMs = LATENCY_MS;
  const plainOperations = operationTimes(w.server);
  const from = Date.now();
  const started = performance.now();
  try {
    await w.run(() =>
      operation(AbortSignal.any([stopping.signal, AbortSignal.timeout(OPERATION_TIMEOUT_MS)])),
    );
  } finally {
    plainOperations();
    w.server.latencyMs = 0;
  }
  const wallMs = performance.now() - started;
  const to = Date.now();
  for (const pid of trackedPids()) seenPids.add(pid);
  const isState = stateRequests(w.server);
  const whole = analyse(w.server.requests, from, to, isState);
  const recorded = w.steps.take();
  const part = (key, title, startedAt, endedAt, extra = {}) => {
    const of = analyse(w.server.requests, startedAt, endedAt, isState);
    return {
      key,
      title,
      ...extra,
      ms: endedAt - startedAt,
      requests: of.requests,
      serialRoundTrips: of.serialRoundTrips,
      stateSerialRoundTrips: of.stateSerialRoundTrips,
      apiMs: of.apiMs,
    };
  };
  // The SDK's steps, and the time around them (reading the state, the lock, the journal).
  const steps = recorded.map((step) =>
    part(`step ${step.index}`, step.title, step.startedAt, step.endedAt ?? to, { status: step.status }),
  );
  if (recorded.length > 0) {
    steps.unshift(part('before', 'before the first step', from, recorded[0].startedAt));
    steps.push(part('after', 'after the last step', recorded.at(-1).endedAt ?? to, to));
  }
  if (whole.unanswered > 0)
    throw new Error(`${whole.unanswered} requests were still in flight when the operation returned`);
  const untimed = [
    ...new Set(
      whole.within
        .filter((request) => kindOf(request) === 'mutating' && !(request.method in OPERATION_MS))
        .map((request) => request.method ?? request.path),
    ),
  ];
  if (untimed.length > 0) throw new Error(`no GCE operation time for ${untimed.join(', ')} in OPERATION_MS`);
  const { within, apiMs, ...counts } = whole;
  return {
    wallMs: round1(wallMs),
    apiMs,
    otherMs: round1(wallMs - apiMs),
    ...counts,
    steps,
    // Every request: ms after the start it arrived, ms until it was answered, method, HTTP status.
    log: within.map((request) => [
      request.time.getTime() - from,
      (request.answeredAt?.getTime() ?? to) - request.time.getTime(),
      request.method ?? `${request.httpMethod} ${request.path}`,
      request.status ?? 0,
    ]),
  };
}

/** What the server holds, by kind (read from the server, not through the provider). */
function resources(server) {
  const project = server.state()[PROJECT];
  const names = (list) => list.map((resource) => resource.name).sort();
  return {
    instances: names(project.instances),
    targetPools: names(project.targetPools),
    forwardingRules: names(project.forwardingRules),
  };
}

/** The cluster as it should be after the change, or why not. */
async function problemWith(w, replicas) {
  const status = await w.controlPlane.status();
  const made = resources(w.server);
  const names = status.replicas.map((replica) => replica.name).sort();
  const members = status.etcd.members;
  const ok =
    names.length === replicas &&
    made.instances.join(',') === names.join(',') &&
    status.replicas.every((replica) => replica.state === 'healthy') &&
    members
      .map((member) => member.name)
      .sort()
      .join(',') === names.join(',') &&
    members.every((member) => !member.learner && member.healthy) &&
    (replicas === 1
      ? status.endpoint.mode === 'attached' &&
        status.endpoint.attachedTo === names[0] &&
        made.forwardingRules.length === 0 &&
        made.targetPools.length === 0
      : status.endpoint.mode === 'load-balanced' &&
        status.endpoint.targets.length === replicas &&
        status.endpoint.targets.every((target) => target.healthy) &&
        made.forwardingRules.join(',') === `${CLUSTER}-master` &&
        made.targetPools.join(',') === `${CLUSTER}-master`);
  return ok ? undefined : JSON.stringify({ status, made });
}

/**
 * Equal work, untimed and at no added latency: the change really happened. A target's health is one
 * real HTTP probe per look (1 s timeout), which a loaded machine can miss once, so look again for up
 * to CHECK_FOR_MS before calling it wrong.
 */
async function check(w, replicas) {
  const started = Date.now();
  for (let looks = 1; ; looks++) {
    const problem = await problemWith(w, replicas);
    if (problem === undefined) return { replicas, looks };
    if (Date.now() - started > CHECK_FOR_MS) {
      throw new Error(`expected ${replicas} healthy voters behind the endpoint: ${problem}`);
    }
    await sleep(1_000);
  }
}

const SCENARIOS = [
  {
    id: 'replicate',
    change: 'replicate 1→2',
    kubeUp: kubeUpSide(KUBE_UP_REPLICATE),
    kubeUpCommand: `KUBE_REPLICATE_EXISTING_MASTER=true KUBE_GCE_ZONE=${SECOND_ZONE} cluster/kube-up.sh`,
    hacpCall: `controlPlane.replicate({ zone: '${SECOND_ZONE}' })`,
    async round() {
      const w = await startWorld();
      await w.run(() => w.controlPlane.up({ zone: FIRST_ZONE, multizone: true, signal: stopping.signal }));
      await check(w, 1);
      const sample = await measured(w, (signal) => w.controlPlane.replicate({ zone: SECOND_ZONE, signal }));
      return { ...sample, verified: await check(w, 2) };
    },
  },
  {
    id: 'remove',
    change: 'remove 2→1',
    kubeUp: kubeUpSide(KUBE_DOWN_REMOVE),
    kubeUpCommand: `KUBE_DELETE_NODES=false KUBE_GCE_ZONE=${SECOND_ZONE} cluster/kube-down.sh`,
    hacpCall: `controlPlane.remove({ zone: '${SECOND_ZONE}' })`,
    async round() {
      const w = await startWorld();
      await w.run(() => w.controlPlane.up({ zone: FIRST_ZONE, multizone: true, signal: stopping.signal }));
      await w.run(() => w.controlPlane.replicate({ zone: SECOND_ZONE, signal: stopping.signal }));
      await check(w, 2);
      const sample = await measured(w, (signal) => w.controlPlane.remove({ zone: SECOND_ZONE, signal }));
      return { ...sample, verified: await check(w, 1) };
    },
  },
];

// --- reporting --------------------------------------------------------------------------------------

/** A replica named by the SDK: the cluster's master name and three hex characters, as kube-up names them. */
const NEW_REPLICA = new RegExp(`\\b${CLUSTER}-master-[0-9a-f]{3}\\b`, 'g');

function summarize(scenario, samples) {
  const of = (pick) => spread(samples.map(pick));
  // Step by step (every round runs the same plan), each part's median over the rounds on its own.
  const keys = samples[0].steps.map((step) => step.key);
  const steps = keys.map((key) => {
    const found = samples.map((sample) => sample.steps.find((step) => step.key === key)).filter(Boolean);
    return {
      // The new replica's name differs per round: kube-up's placeholder instead.
      title: found[0].title.replace(NEW_REPLICA, `${CLUSTER}-master-xyz`),
      rounds: found.length,
      medianMs: round1(median(found.map((step) => step.ms))),
      medianRequests: median(found.map((step) => step.requests)),
      medianSerialRoundTrips: median(found.map((step) => step.serialRoundTrips)),
      medianStateSerialRoundTrips: median(found.map((step) => step.stateSerialRoundTrips)),
      medianApiMs: round1(median(found.map((step) => step.apiMs))),
    };
  });
  const partNames = [...new Set(samples.flatMap((sample) => Object.keys(sample.byPart)))];
  const parts = Object.fromEntries(
    sortParts(partNames).map((name) => [
      name,
      {
        requests: median(samples.map((sample) => sample.byPart[name]?.requests ?? 0)),
        serialRoundTrips: median(samples.map((sample) => sample.byPart[name]?.rounds ?? 0)),
      },
    ]),
  );
  return {
    change: scenario.change,
    hacp: {
      call: scenario.hacpCall,
      serialRoundTrips: of((sample) => sample.serialRoundTrips),
      stateSerialRoundTrips: of((sample) => sample.stateSerialRoundTrips),
      stateRequests: of((sample) => sample.stateRequests),
      requests: of((sample) => sample.requests),
      reads: of((sample) => sample.read),
      mutating: of((sample) => sample.mutating),
      operationWaits: of((sample) => sample.operationWait),
      wallMs: of((sample) => sample.wallMs),
      apiMs: of((sample) => sample.apiMs),
      otherMs: of((sample) => sample.otherMs),
      serialRoundTripsAtLatencyMs: round1(
        median(samples.map((sample) => sample.serialRoundTrips)) * LATENCY_MS,
      ),
      parts,
      steps,
    },
    kubeUp: { command: scenario.kubeUpCommand, ...scenario.kubeUp },
  };
}

const seconds = (value) => `${(value / 1000).toFixed(2)} s`;
const count = (summary) =>
  summary.min === summary.max ? String(summary.median) : `${summary.median} (${summary.min}–${summary.max})`;

function mainTable(summaries) {
  return markdownTable(
    [
      { title: 'change' },
      { title: 'hacp serial round trips', right: true },
      { title: 'of which for its state', right: true },
      { title: 'hacp requests: reads / mutating / op waits', right: true },
      { title: 'hacp wall time', right: true },
      { title: 'of which waiting for the API', right: true },
      { title: 'kube-up sequential gcloud calls: reads / mutating / ssh', right: true },
      { title: "kube-up API requests (gcloud's), one after another: of which op waits", right: true },
      { title: `kube-up wall time, at least: requests × ${LATENCY_MS} ms + operations`, right: true },
    ],
    summaries.map(({ change, hacp, kubeUp }) => [
      change,
      count(hacp.serialRoundTrips),
      count(hacp.stateSerialRoundTrips),
      `${count(hacp.requests)}: ${hacp.reads.median} / ${hacp.mutating.median} / ${hacp.operationWaits.median}`,
      `${seconds(hacp.wallMs.median)} (${seconds(hacp.wallMs.min)}–${seconds(hacp.wallMs.max)})`,
      seconds(hacp.apiMs.median),
      `${kubeUp.gcloudCalls}: ${kubeUp.byKind.read} / ${kubeUp.byKind.mutating} / ${kubeUp.byKind.ssh}`,
      `${kubeUp.requests}: ${kubeUp.operations}`,
      `${seconds(kubeUp.wallMs)} (${seconds(kubeUp.atLatencyMs)} + ${seconds(kubeUp.wallMs - kubeUp.atLatencyMs)})`,
    ]),
  );
}

/** The operation times both sides are measured and timed with, and which methods each side calls. */
function operationsTable(results) {
  const calledBy = (method, side) =>
    results.changes.filter((summary) => side(summary).includes(method)).map((summary) => summary.change);
  const hacpCalls = (summary) => Object.keys(summary.hacp.parts);
  const kubeUpCalls = (summary) => summary.kubeUp.calls.flatMap((entry) => entry.operations);
  return markdownTable(
    [
      { title: 'operation' },
      { title: 'GCE time (estimate), s', right: true },
      { title: 'hacp waits for it in' },
      { title: 'kube-up waits for it in' },
    ],
    Object.entries(results.settings.operationMs).map(([method, ms]) => [
      `\`${method.replace(/^compute\./, '')}\``,
      String(ms / 1000),
      calledBy(method.replace(/^compute\./, ''), hacpCalls).join(', '),
      calledBy(method, kubeUpCalls).join(', '),
    ]),
  );
}

/** Resources in the order the table of parts lists them; reads of a resource before its changes. */
const PART_ORDER = [
  'instances',
  'disks',
  'addresses',
  'targetPools',
  'forwardingRules',
  'httpHealthChecks',
  'firewalls',
  'zones',
  'projects',
  'wait',
];
const READ_VERBS = ['get', 'list', 'aggregatedList', 'getHealth'];

function sortParts(names) {
  const rank = (name) => {
    const [resource, verb] = name.split(/[.:]/);
    const at = PART_ORDER.indexOf(resource);
    const read = READ_VERBS.indexOf(verb);
    return [at < 0 ? PART_ORDER.length : at, read < 0 ? READ_VERBS.length : read, name];
  };
  return [...names].sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
  });
}

/**
 * Both changes by part: requests, and the serial round trips those requests opened (medians). Then
 * the plain requests and the operation waits apart, each with its round trips.
 */
function partsTable(summaries) {
  const names = sortParts([...new Set(summaries.flatMap((summary) => Object.keys(summary.hacp.parts)))]);
  const cell = (summary, name) => {
    const part = summary.hacp.parts[name];
    return part === undefined ? '' : `${part.requests} (${part.serialRoundTrips})`;
  };
  const total = (summary, waits) => {
    const picked = Object.entries(summary.hacp.parts).filter(([name]) => name.startsWith('wait:') === waits);
    const sum = (key) => picked.reduce((value, [, part]) => value + part[key], 0);
    return `${sum('requests')} (${sum('serialRoundTrips')})`;
  };
  return markdownTable(
    [
      { title: 'part: requests (serial round trips they opened), medians' },
      ...summaries.map((summary) => ({ title: `hacp ${summary.change}`, right: true })),
    ],
    [
      ...names.map((name) => [`\`${name}\``, ...summaries.map((summary) => cell(summary, name))]),
      ['plain requests', ...summaries.map((summary) => total(summary, false))],
      ['operation waits', ...summaries.map((summary) => total(summary, true))],
    ],
  );
}

function stepsTable(summary) {
  return markdownTable(
    [
      { title: `hacp ${summary.change}: part (medians, each on its own)` },
      { title: 'ms', right: true },
      { title: 'requests', right: true },
      { title: 'serial round trips (of which its state)', right: true },
      { title: 'API ms', right: true },
    ],
    summary.hacp.steps.map((step) => [
      step.title,
      ms(step.medianMs),
      String(step.medianRequests),
      `${step.medianSerialRoundTrips} (${step.medianStateSerialRoundTrips})`,
      ms(step.medianApiMs),
    ]),
  );
}

function kubeUpTable(summary) {
  return markdownTable(
    [
      { title: 'step', right: true },
      { title: `kube-up ${summary.change}: gcloud call, in order` },
      { title: 'from' },
      { title: 'kind' },
      { title: 'API requests', right: true },
      { title: 'operations waited for (s)' },
      { title: 's', right: true },
    ],
    summary.kubeUp.calls.map((entry) => [
      String(entry.step),
      `\`${entry.command.replaceAll('`', "'")}\``,
      entry.from,
      entry.kind,
      String(entry.requests),
      entry.operations
        .map((method, index) => `${method.replace(/^compute\./, '')} (${entry.operationsMs[index] / 1000})`)
        .join(', '),
      (entry.ms / 1000).toFixed(1),
    ]),
  );
}

function summaryText(results) {
  const { machine: host } = results;
  return [
    mainTable(results.changes),
    '',
    operationsTable(results),
    '',
    partsTable(results.changes),
    '',
    ...results.changes.flatMap((summary) => [stepsTable(summary), '']),
    ...results.changes.flatMap((summary) => [kubeUpTable(summary), '']),
    `${recordedOn(results.date, host)}, @hacp/sdk ${host.sdk}, @hacp/provider-gce ${host.providerGce}, @google-cloud/compute ${host.googleCloudCompute} (REST fallback), etcd ${host.etcd} (build ${host.hacpBuildSha256}); VM and data dirs on ${host.tmpFilesystem}; load average ${loadText(results.loadAverage.start)} at the start, ${loadText(results.loadAverage.end)} at the end. ${plural(results.rounds, 'round')} of each change, each on a fresh cluster and server; ${LATENCY_MS} ms added to every request and the operation times above to every operation of the measured operation only (the setup runs at 0 ms and operations DONE ${results.settings.operationDelayMs} ms after they were accepted), guests booting ${results.settings.bootDelayMs / 1000} s after their instance is RUNNING, drain ${DRAIN_MS} ms; the whole run took ${Math.round(results.runMs / 1000)} s.`,
  ].join('\n');
}

/** A hash of the built code the run loads (the SDK and the workspace packages it uses), to tell builds apart. */
function buildHash() {
  const dirs = [
    join(repoRoot, 'apps', 'sdk', 'dist'),
    ...['certs', 'core', 'etcd', 'lease-identity', 'provider-gce', 'testkit', 'topology'].map((name) =>
      join(repoRoot, 'packages', name, 'dist'),
    ),
  ];
  return builtCodeSha256({ root: repoRoot, dirs });
}

function machine() {
  const providerPackage = join(repoRoot, 'packages', 'provider-gce', 'package.json');
  return {
    ...describeHost(),
    sdk: packageVersion(join(repoRoot, 'apps', 'sdk', 'package.json')),
    providerGce: packageVersion(providerPackage),
    googleCloudCompute: dependencyVersion(providerPackage, '@google-cloud/compute'),
    etcd: firstLine('etcd', ['--version']).replace(/^etcd Version:\s*/, ''),
    ...describeTmpFolder(),
    hacpBuildSha256: buildHash(),
  };
}

// --- cleanup ----------------------------------------------------------------------------------------

/** Whether a pid still runs (a zombie does not count). */
function running(pid) {
  if (!isAlive(pid)) return false;
  const stat = procStat(pid);
  return stat !== undefined && stat[0] !== 'Z';
}

let cleaning;
function cleanup() {
  cleaning ??= stopWorld().then((problems) => {
    for (const problem of problems) process.stderr.write(`cleanup: ${problem}\n`);
  });
  return cleaning;
}
onInterrupt('the cluster and server this run started', () => {
  stopping.abort();
  return cleanup();
});

// --- the run ----------------------------------------------------------------------------------------

/** Both changes, alternating which goes first, each round on a fresh cluster and server. */
async function measure() {
  // Every module of hacp's is loaded once, when this process starts (the imports above), so a rebuild
  // during the run cannot mix two builds; the hash tells which build these numbers are from.
  const runStarted = performance.now();
  const loadAtStart = loadavg();
  const host = machine();
  const samples = Object.fromEntries(SCENARIOS.map(({ id }) => [id, []]));
  const problems = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which change goes first, so that both share the machine's noise.
      const order = round % 2 === 0 ? SCENARIOS : [...SCENARIOS].reverse();
      process.stderr.write(`round ${round + 1}:`);
      for (const scenario of order) {
        const sample = await scenario.round();
        problems.push(...(await stopWorld()));
        samples[scenario.id].push({ round: round + 1, ...sample });
        process.stderr.write(
          ` ${scenario.id} ${sample.serialRoundTrips} round trips, ${sample.requests} requests, ${(sample.wallMs / 1000).toFixed(2)} s;`,
        );
      }
      process.stderr.write('\n');
    }
  } finally {
    await cleanup();
  }
  // Nothing the run started may still run: every VM process the testkit tracked, by pid.
  const left = [...seenPids].filter(running);
  if (left.length > 0 || trackedPids().length > 0) {
    problems.push(`processes left running: ${[...new Set([...left, ...trackedPids()])].join(', ')}`);
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return {
    date: new Date().toISOString(),
    machine: host,
    rounds: ROUNDS,
    settings: {
      project: PROJECT,
      region: REGION,
      zones: [FIRST_ZONE, SECOND_ZONE],
      latencyMs: LATENCY_MS,
      latencyDuring: 'the measured operation only (up, and the replicate before a measured remove, at 0)',
      operationDelayMs: OPERATION_DELAY_MS,
      operationMs: OPERATION_MS,
      operationTimesAs:
        'a latency fault on each mutating call of OPERATION_MS - latencyMs - operationDelayMs, during the measured operation only',
      bootDelayMs: BOOT_DELAY_MS,
      provider: {
        reach: 'direct',
        kubeApiserver: false,
        retry: 'default ({ attempts: 5, baseDelayMs: 500 })',
      },
      timeouts: { drain: DRAIN_MS },
      kubeUpRequestsPerCall:
        'counted with gcloud 528.0.0 against the server: read 1, create 3 (disks 4, instances 5), add/remove/access-config 3, delete 2 (instances --delete-disks all 5), ssh 2',
      vmProcessesChecked: seenPids.size,
    },
    loadAverage: { start: loadAtStart.map(round1), end: loadavg().map(round1) },
    runMs: Math.round(performance.now() - runStarted),
    changes: SCENARIOS.map((scenario) => summarize(scenario, samples[scenario.id])),
    samples: SCENARIOS.map(({ id, change }) => ({ change, rounds: samples[id] })),
  };
}

const results = options['from-results'] ? readResults(here) : await measure();
const text = summaryText(results);
console.log(text);
if (outFile !== undefined) writeFileSync(outFile, `${toJson(results)}\n`);
saveResults({ folder: here, options, results, sections: [{ start: README_START, end: README_END, text }] });
