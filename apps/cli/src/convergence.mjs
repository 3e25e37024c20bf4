// Whether a local cluster converged, read from outside as an operator would: `hacp status --json`,
// etcdctl through the endpoint address, and the local provider's state folder and the processes
// running from it (orphans). The kill campaign's checks (kill-campaign.mjs); typed by
// convergence.d.mts. Plain JavaScript so that scripts run it with node alone.
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '@hacp/core/provider-kit';
import { CLI } from './terminal-run.mjs';

/** Runs `hacp <args> --json` without a terminal; never rejects for a non-zero exit. */
export function hacpJson(args, { stateDir, cluster, cli = CLI }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args, '--cluster', cluster, '--json'], {
      env: { ...process.env, HACP_STATE_DIR: stateDir, HACP_KUBERNETES: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let envelope;
      try {
        envelope = JSON.parse(stdout);
      } catch {
        envelope = undefined;
      }
      resolve({ code, envelope, stderr: stderr.trim() });
    });
  });
}

/** What a failed `hacpJson` run said: its error's code and message, else its stderr. */
export const failureOf = (run) =>
  run.envelope?.error
    ? `${run.envelope.error.code}: ${run.envelope.error.message}`
    : run.stderr || `exit ${run.code}`;

const readJson = (path) => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
};

const listDir = (dir) => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

const sorted = (names) => [...names].sort();
const sameNames = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

/** The provider's records and folders of a local state folder (see @hacp/core/provider-kit's layout). */
export function localState(stateDir) {
  const records = (folder) =>
    listDir(join(stateDir, 'local', folder))
      .filter((file) => file.endsWith('.json'))
      .map((file) => readJson(join(stateDir, 'local', folder, file)))
      .filter((record) => record !== undefined);
  return {
    instances: records('instances'),
    networks: records('networks'),
    addresses: records('addresses'),
    loadBalancers: records('load-balancers'),
    replicaFolders: listDir(join(stateDir, 'replicas')),
    endpointFolders: listDir(join(stateDir, 'endpoints')),
    endpointDir: (address) => join(stateDir, 'endpoints', `${address.region}.${address.name}`),
    runDir: (replica) => join(stateDir, 'replicas', replica, 'run'),
  };
}

/** The servers HAProxy's configuration in `endpointDir` sends the API's port to. */
export function configuredServers(endpointDir) {
  let text;
  try {
    text = readFileSync(join(endpointDir, 'haproxy.cfg'), 'utf8');
  } catch {
    return undefined;
  }
  const backend = text.split(/^backend /m).find((part) => part.startsWith('be_apiserver'));
  return [...(backend ?? '').matchAll(/^\s*server (\S+) /gm)].map((match) => match[1]);
}

/** The parent pid of `pid`, from /proc (field 4 of its stat). */
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Every running process whose command line names a path in `stateDir`. */
export function processesUnder(stateDir) {
  const found = [];
  for (const entry of listDir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let command;
    try {
      command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    if (command.includes(`${stateDir}/`)) found.push({ pid: Number(entry), command });
  }
  return found;
}

/** Every process the state folder records (replica pid files, endpoint HAProxies), with where. */
function recordedProcesses(state) {
  const recorded = [];
  for (const replica of state.replicaFolders) {
    for (const file of listDir(state.runDir(replica))) {
      const body = readJson(join(state.runDir(replica), file));
      if (body?.process) recorded.push({ ...body.process, where: `${replica}/${file}` });
    }
  }
  for (const address of state.addresses) {
    const body = readJson(join(state.endpointDir(address), 'haproxy.json'));
    if (body?.pid) recorded.push({ ...body, where: `endpoint ${address.name}` });
  }
  return recorded;
}

/**
 * What is left over: a process running from the state folder that no pid file records (nor a
 * child of one, as HAProxy's workers are), a recorded process that has died, and records or
 * folders of replicas, network allocations and endpoints that do not match `replicas`.
 */
export function orphans(stateDir, cluster, replicas) {
  const problems = [];
  const state = localState(stateDir);
  const instances = state.instances.filter((record) => record.cluster === cluster);
  const compare = (what, names) => {
    if (!sameNames(names, replicas))
      problems.push(`${what} [${sorted(names)}] ≠ replicas [${sorted(replicas)}]`);
  };
  compare(
    'instance records',
    instances.map((record) => record.name),
  );
  compare(
    'network allocations',
    state.networks.filter((r) => r.cluster === cluster).map((r) => r.name),
  );
  compare('replica folders', state.replicaFolders);
  for (const record of instances) {
    if (record.state !== 'created') problems.push(`instance ${record.name} is still ${record.state}`);
  }
  const expectedEndpoints = state.addresses.map((address) => `${address.region}.${address.name}`);
  if (!sameNames(state.endpointFolders, expectedEndpoints)) {
    problems.push(
      `endpoint folders [${sorted(state.endpointFolders)}] ≠ addresses [${sorted(expectedEndpoints)}]`,
    );
  }
  const recorded = recordedProcesses(state);
  for (const record of recorded) {
    if (!isAlive(record)) problems.push(`${record.where} records pid ${record.pid}, which is not running`);
  }
  const live = new Set(recorded.filter((record) => isAlive(record)).map((record) => record.pid));
  for (const { pid, command } of processesUnder(stateDir)) {
    let ancestor = pid;
    while (ancestor !== undefined && ancestor > 1 && !live.has(ancestor)) ancestor = parentOf(ancestor);
    if (ancestor === undefined || !live.has(ancestor))
      problems.push(`orphan process ${pid}: ${command.slice(0, 120)}`);
  }
  return problems;
}

/** etcdctl through the cluster's endpoint address, with hacp's health-check client certificate. */
export function etcdctl({ stateDir, cluster }, args) {
  const address = localState(stateDir).addresses.find((record) => record.name === `${cluster}-master-ip`);
  if (address === undefined) return Promise.reject(new Error(`cluster ${cluster} has no endpoint address`));
  const pki = join(stateDir, 'clusters', cluster, 'pki', 'pki', 'etcd');
  const flags = [
    `--endpoints=https://${address.ip}:${2379 + (address.portOffset ?? 0)}`,
    `--cacert=${join(pki, 'ca.crt')}`,
    `--cert=${join(pki, 'healthcheck-client.crt')}`,
    `--key=${join(pki, 'healthcheck-client.key')}`,
    '--dial-timeout=5s',
    '--command-timeout=10s',
  ];
  return new Promise((resolve, reject) => {
    execFile(
      'etcdctl',
      [...flags, ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`etcdctl ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolve(stdout.trim());
      },
    );
  });
}

function statusProblems(status, expected) {
  const problems = [];
  const replicas = status.replicas.map((replica) => replica.name);
  if (replicas.length !== expected) problems.push(`${replicas.length} replicas, not ${expected}`);
  const members = status.etcd.members.map((member) => member.name);
  if (!sameNames(members, replicas))
    problems.push(`etcd members [${sorted(members)}] ≠ replicas [${sorted(replicas)}]`);
  for (const member of status.etcd.members) {
    if (member.learner) problems.push(`member ${member.name} is a learner`);
    else if (!member.healthy) problems.push(`voter ${member.name} is not healthy`);
  }
  for (const replica of status.replicas) {
    if (replica.state !== 'healthy') problems.push(`replica ${replica.name} is ${replica.state}`);
  }
  if (status.operation !== undefined) problems.push(`operation ${status.operation.id} is still in flight`);
  return problems;
}

/** One replica: the address attached to it; more: load-balanced to every replica, in status, records and HAProxy. */
function endpointProblems(status, stateDir, cluster) {
  const replicas = status.replicas.map((replica) => replica.name);
  const { endpoint } = status;
  const state = localState(stateDir);
  const problems = [];
  const balancers = state.loadBalancers.filter((record) => record.spec.name === `${cluster}-master`);
  if (replicas.length === 1) {
    if (endpoint.mode !== 'attached' || endpoint.attachedTo !== replicas[0])
      problems.push(`endpoint ${endpoint.mode} ${endpoint.attachedTo ?? ''}, not attached to ${replicas[0]}`);
    if (balancers.length > 0) problems.push('a load balancer is left behind with one replica');
  } else {
    const targets = (endpoint.targets ?? []).map((target) => target.replica);
    if (endpoint.mode !== 'load-balanced') problems.push(`endpoint ${endpoint.mode}, not load-balanced`);
    if (!sameNames(targets, replicas)) problems.push(`endpoint targets [${sorted(targets)}] ≠ replicas`);
    for (const target of endpoint.targets ?? []) {
      if (!target.healthy) problems.push(`target ${target.replica} is not healthy`);
    }
    const recorded = balancers[0]?.spec.targets.map((target) => target.name) ?? [];
    if (!sameNames(recorded, replicas))
      problems.push(`load balancer record targets [${sorted(recorded)}] ≠ replicas`);
  }
  const address = state.addresses.find((record) => record.name === `${cluster}-master-ip`);
  const served = address === undefined ? undefined : configuredServers(state.endpointDir(address));
  if (served === undefined || !sameNames(served, replicas))
    problems.push(`HAProxy serves [${served === undefined ? 'nothing' : sorted(served)}], not the replicas`);
  return problems;
}

/** Through the endpoint: etcd's members are the replicas, none a learner, every one healthy. */
async function etcdProblems(where, replicas) {
  const problems = [];
  try {
    const { members = [] } = JSON.parse(await etcdctl(where, ['member', 'list', '-w', 'json']));
    const names = members.map((member) => member.name);
    if (!sameNames(names, replicas)) problems.push(`etcdctl member list [${sorted(names)}] ≠ replicas`);
    if (members.some((member) => member.isLearner)) problems.push('etcdctl lists a learner');
    const health = JSON.parse(await etcdctl(where, ['endpoint', 'health', '--cluster', '-w', 'json']));
    const healthy = health.filter((entry) => entry.health === true);
    if (healthy.length !== replicas.length)
      problems.push(`${healthy.length} of ${replicas.length} members healthy`);
  } catch (error) {
    problems.push(String(error.message ?? error));
  }
  return problems;
}

/**
 * Whether the cluster converged on `expected` replicas: `hacp status --json` (replicas equal etcd
 * members, every voter healthy, no operation in flight, the endpoint in the right mode with every
 * replica a target), etcdctl through the endpoint address, and no orphan process, allocation or
 * folder. Returns what is wrong, nothing when it converged.
 */
export async function convergenceProblems({ stateDir, cluster, cli = CLI, expected }) {
  const run = await hacpJson(['status'], { stateDir, cluster, cli });
  if (run.code !== 0 || run.envelope?.result === undefined)
    return { problems: [`status exited ${run.code}: ${failureOf(run)}`], replicas: [] };
  const status = run.envelope.result;
  const replicas = status.replicas.map((replica) => ({ name: replica.name, zone: replica.zone }));
  const names = replicas.map((replica) => replica.name);
  const problems = [
    ...statusProblems(status, expected),
    ...endpointProblems(status, stateDir, cluster),
    ...(await etcdProblems({ stateDir, cluster }, names)),
    ...orphans(stateDir, cluster, names),
  ];
  return { problems, replicas };
}
