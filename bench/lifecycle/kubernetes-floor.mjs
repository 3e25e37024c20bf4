// The floor of one replica's Kubernetes control plane, for bench/lifecycle: the same binaries hacp runs,
// started by hand as a script would (etcd with TLS, kube-apiserver on it, kube-controller-manager and
// kube-scheduler with their kubeconfigs), each polled until it answers, with hacp's own command lines.
// The PKI and the replica's files are made beforehand, outside the timing; what is timed is process
// start → ready.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClusterPki, issueReplicaCerts, replicaNodeFiles, withReplica } from '@hacp/certs';
import { spawnTracked } from '@hacp/testkit';
import { removeFolder, tempFolder } from '../lib/harness.mjs';
import { round1 } from '../lib/report.mjs';

/** How often a script's `until curl …; do sleep 0.1; done` asks; the same as bench/etcd-add's floor. */
export const PROBE_INTERVAL_MS = 100;
/** How long the floor waits for any one component before it gives up. */
const READY_TIMEOUT_MS = 300_000;
/** A probe that has not answered in this long counts as not ready yet. */
const PROBE_TIMEOUT_MS = 1_000;
/** The standard ports, as hacp renders them with a port offset of 0. */
export const PORTS = {
  etcdClient: 2379,
  etcdPeer: 2380,
  etcdMetrics: 2381,
  apiserver: 6443,
  cm: 10257,
  sch: 10259,
};
const NAME = 'kubernetes-master';

/** Whether every one of `ports` can be bound on `address` now. */
async function portsFree(address, ports) {
  for (const port of ports) {
    const free = await new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, address, () => server.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

/**
 * A loopback address of its own (as the local provider gives each replica), so that the floor listens
 * on the standard ports with hacp's exact flags, beside the lifecycle's replicas.
 */
async function ownLoopbackAddress() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const octet = () => 1 + Math.floor(Math.random() * 254);
    const address = `127.${octet()}.${octet()}.${octet()}`;
    if (await portsFree(address, Object.values(PORTS))) return address;
  }
  throw new Error('found no loopback address with the standard ports free');
}

/**
 * The command lines, as hacp renders them for a replica (apps/sdk: render.ts and kubernetes/components.ts
 * for a 1.20–1.25 version; identityLeaseFlags is empty for others), written out as a script holds them.
 * `advertise` is the address the apiserver advertises: hacp's is the cluster endpoint, the floor's its own.
 */
export function floorCommands({ root, address, binaries, minor, etcdToken, advertise }) {
  const at = (file) => join(root, file);
  const etcdUrl = (port) => `https://${address}:${port}`;
  const kubeconfig = (file) => [
    `--kubeconfig=${at(file)}`,
    `--authentication-kubeconfig=${at(file)}`,
    `--authorization-kubeconfig=${at(file)}`,
    `--bind-address=${address}`,
  ];
  const identityLeaseFlags =
    minor >= 20 && minor <= 25
      ? ['--feature-gates=APIServerIdentity=true', '--identity-lease-duration-seconds=60']
      : [];
  return [
    {
      name: 'etcd',
      command: binaries.etcd,
      args: [
        `--name=${NAME}`,
        `--data-dir=${at('etcd-data')}`,
        `--listen-client-urls=${etcdUrl(PORTS.etcdClient)}`,
        `--advertise-client-urls=${etcdUrl(PORTS.etcdClient)}`,
        `--listen-peer-urls=${etcdUrl(PORTS.etcdPeer)}`,
        `--initial-advertise-peer-urls=${etcdUrl(PORTS.etcdPeer)}`,
        `--initial-cluster=${NAME}=${etcdUrl(PORTS.etcdPeer)}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=${etcdToken}`,
        `--cert-file=${at('pki/etcd/server.crt')}`,
        `--key-file=${at('pki/etcd/server.key')}`,
        '--client-cert-auth=true',
        `--trusted-ca-file=${at('pki/etcd/ca.crt')}`,
        `--peer-cert-file=${at('pki/etcd/peer.crt')}`,
        `--peer-key-file=${at('pki/etcd/peer.key')}`,
        '--peer-client-cert-auth=true',
        `--peer-trusted-ca-file=${at('pki/etcd/ca.crt')}`,
        '--strict-reconfig-check=true',
        '--snapshot-count=10000',
        '--quota-backend-bytes=4294967296',
        `--listen-metrics-urls=http://${address}:${PORTS.etcdMetrics}`,
        '--logger=zap',
        '--log-outputs=stderr',
      ],
    },
    {
      name: 'kube-apiserver',
      command: binaries['kube-apiserver'],
      args: [
        `--advertise-address=${advertise}`,
        `--bind-address=${address}`,
        `--secure-port=${PORTS.apiserver}`,
        `--etcd-servers=${etcdUrl(PORTS.etcdClient)}`,
        `--etcd-cafile=${at('pki/etcd/ca.crt')}`,
        `--etcd-certfile=${at('pki/apiserver-etcd-client.crt')}`,
        `--etcd-keyfile=${at('pki/apiserver-etcd-client.key')}`,
        `--tls-cert-file=${at('pki/apiserver.crt')}`,
        `--tls-private-key-file=${at('pki/apiserver.key')}`,
        `--client-ca-file=${at('pki/ca.crt')}`,
        `--kubelet-client-certificate=${at('pki/apiserver-kubelet-client.crt')}`,
        `--kubelet-client-key=${at('pki/apiserver-kubelet-client.key')}`,
        '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
        `--service-account-key-file=${at('pki/sa.pub')}`,
        `--service-account-signing-key-file=${at('pki/sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.0.0.0/16',
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        '--allow-privileged=true',
        `--requestheader-client-ca-file=${at('pki/front-proxy-ca.crt')}`,
        `--proxy-client-cert-file=${at('pki/front-proxy-client.crt')}`,
        `--proxy-client-key-file=${at('pki/front-proxy-client.key')}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-username-headers=X-Remote-User',
        // A loopback address cannot be a Service endpoint (hacp turns the reconciler off there too).
        '--endpoint-reconciler-type=none',
        '--shutdown-delay-duration=3s',
        '--shutdown-send-retry-after=true',
        ...identityLeaseFlags,
      ],
    },
    {
      name: 'kube-controller-manager',
      command: binaries['kube-controller-manager'],
      args: [
        ...kubeconfig('controller-manager.conf'),
        `--secure-port=${PORTS.cm}`,
        '--leader-elect=true',
        `--client-ca-file=${at('pki/ca.crt')}`,
        `--requestheader-client-ca-file=${at('pki/front-proxy-ca.crt')}`,
        `--cluster-signing-cert-file=${at('pki/ca.crt')}`,
        `--cluster-signing-key-file=${at('pki/ca.key')}`,
        `--root-ca-file=${at('pki/ca.crt')}`,
        `--service-account-private-key-file=${at('pki/sa.key')}`,
        '--use-service-account-credentials=true',
        '--controllers=*,bootstrapsigner,tokencleaner',
        '--cluster-name=kubernetes',
        '--service-cluster-ip-range=10.0.0.0/16',
      ],
    },
    {
      name: 'kube-scheduler',
      command: binaries['kube-scheduler'],
      args: [...kubeconfig('scheduler.conf'), `--secure-port=${PORTS.sch}`, '--leader-elect=true'],
    },
  ];
}

/**
 * The floor's replica, made outside the timing: a loopback address, a fresh cluster PKI (ECDSA, hacp's
 * default) and the replica's files written as hacp writes them (`replicaNodeFiles`: kubeadm's names,
 * keys 0600 in 0700 folders, the component kubeconfigs pointing at this replica's apiserver).
 * `prepareMs` says how long that took, for the record.
 */
export async function prepareFloorReplica({ binaries, minor }) {
  const started = performance.now();
  const address = await ownLoopbackAddress();
  const dir = tempFolder('kube-floor');
  chmodSync(dir, 0o700);
  const root = join(dir, 'root');
  const pki = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: address });
  const certs = await issueReplicaCerts(pki, { replicaName: NAME, hostname: NAME, internalIp: address });
  const apiserverUrl = `https://${address}:${PORTS.apiserver}`;
  const files = replicaNodeFiles(withReplica(pki, certs), NAME, { apiserverUrl });
  for (const file of files) {
    const path = join(root, file.path);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const contents = typeof file.contents === 'string' ? file.contents : file.contents.reveal();
    writeFileSync(path, contents, { mode: file.mode });
    chmodSync(path, file.mode);
  }
  mkdirSync(join(dir, 'logs'), { mode: 0o700 });
  const token = `hacp-bench-floor-${Math.random().toString(16).slice(2, 14)}`;
  return {
    dir,
    root,
    address,
    caPem: pki.ca.certPem,
    commands: floorCommands({ root, address, binaries, minor, etcdToken: token, advertise: address }),
    prepareMs: performance.now() - started,
    processes: new Map(),
  };
}

/** One GET over https on loopback: its status, or 0 when nothing answered in time. */
function httpsStatus(url, tls) {
  return new Promise((resolve) => {
    const outgoing = request(url, { ...tls, agent: false, timeout: PROBE_TIMEOUT_MS }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', () => resolve(0));
    });
    outgoing.on('timeout', () => outgoing.destroy());
    outgoing.on('error', () => resolve(0));
    outgoing.end();
  });
}

function httpStatus(url) {
  return fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
    .then((response) => response.text().then(() => response.status))
    .catch(() => 0);
}

/**
 * What each component is asked, as hacp asks it: etcd's /health on its metrics listener (kubeadm's
 * probe), kube-apiserver's /readyz checked against the cluster CA, anonymous (hacp's probe), and the
 * controller-manager's and scheduler's /healthz (self-signed serving certificates).
 */
function probeOf(replica, name) {
  const { address, caPem } = replica;
  const insecure = { rejectUnauthorized: false };
  switch (name) {
    case 'etcd':
      return () => httpStatus(`http://${address}:${PORTS.etcdMetrics}/health`);
    case 'kube-apiserver':
      return () =>
        httpsStatus(`https://${address}:${PORTS.apiserver}/readyz`, {
          ca: caPem,
          checkServerIdentity: () => undefined,
        });
    case 'kube-controller-manager':
      return () => httpsStatus(`https://${address}:${PORTS.cm}/healthz`, insecure);
    default:
      return () => httpsStatus(`https://${address}:${PORTS.sch}/healthz`, insecure);
  }
}

function logTail(file) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

/** Spawns one of the replica's processes (tracked, so a crash of this run still stops it by pid). */
function spawnComponent(replica, name) {
  const { command, args } = replica.commands.find((entry) => entry.name === name);
  const child = spawnTracked({
    command,
    args,
    logFile: join(replica.dir, 'logs', `${name}.log`),
    marker: replica.dir,
  });
  replica.processes.set(name, child);
  return child;
}

/** Polls `name` every PROBE_INTERVAL_MS until it answers 200; fails at once when its process exits. */
async function untilReady(replica, name) {
  const probe = probeOf(replica, name);
  const child = replica.processes.get(name);
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (let probes = 1; ; probes++) {
    if (!child.isRunning()) throw new Error(`${name} exited while starting:\n${logTail(child.logFile)}`);
    if ((await probe()) === 200) return { readyAt: performance.now(), probes };
    if (performance.now() > deadline) throw new Error(`${name} was not ready in ${READY_TIMEOUT_MS} ms`);
    await sleep(PROBE_INTERVAL_MS);
  }
}

/**
 * Starts the components stage by stage: every one of a stage at once, the next stage once all of them
 * answer; each timed from its spawn to its first 200. Returns the whole span (the first spawn to the
 * last answer) and each component's part.
 *
 * @example await startStages(replica, [['etcd'], ['kube-apiserver'], ['kube-controller-manager', 'kube-scheduler']])
 */
export async function startStages(replica, stages) {
  const startedAt = performance.now();
  const components = {};
  for (const stage of stages) {
    const spawned = stage.map((name) => ({
      name,
      at: performance.now(),
      child: spawnComponent(replica, name),
    }));
    const ready = await Promise.all(spawned.map(({ name }) => untilReady(replica, name)));
    spawned.forEach(({ name, at }, index) => {
      components[name] = { ms: round1(ready[index].readyAt - at), probes: ready[index].probes };
    });
  }
  return { totalMs: round1(performance.now() - startedAt), components };
}

/** The Kubernetes components, which start on an etcd; etcd comes first in every command list. */
const KUBERNETES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
/** The three ways of starting a replica that each round times. */
export const FLOOR_VARIANTS = {
  together: [['etcd', ...KUBERNETES]],
  inOrder: [['etcd'], ['kube-apiserver'], ['kube-controller-manager', 'kube-scheduler']],
  onData: [KUBERNETES],
};

/**
 * One round of the floor, each variant on a fresh replica made beforehand: `together` (etcd and the
 * three components spawned at once, as hacp's provider and a kubelet's static pods start them),
 * `inOrder` (each after the one it needs answers, as a cautious script does), and right after it, on
 * the same etcd now holding that cluster's data, `onData` (the three components stopped and spawned at
 * once again, as on a replica joining a running cluster). `first` says which fresh variant goes first.
 * `live` holds the replica in use, so that an interrupted run can remove it.
 */
export async function floorRound({ binaries, minor, first, live }) {
  const round = { prepareMs: [] };
  const fresh = async (variant) => {
    const replica = await prepareFloorReplica({ binaries, minor });
    live.add(replica);
    round.prepareMs.push(round1(replica.prepareMs));
    try {
      round[variant] = await startStages(replica, FLOOR_VARIANTS[variant]);
      if (variant === 'inOrder') {
        await stopComponents(replica, KUBERNETES);
        round.onData = await startStages(replica, FLOOR_VARIANTS.onData);
      }
      round.commands = replica.commands;
      round.address = replica.address;
      round.root = replica.root;
    } finally {
      await removeFloorReplica(replica);
      live.delete(replica);
    }
  };
  for (const variant of first === 'together' ? ['together', 'inOrder'] : ['inOrder', 'together'])
    await fresh(variant);
  return round;
}

/** Stops the given processes (all when none are named) by pid: SIGTERM, SIGKILL after `graceMs`. */
export async function stopComponents(replica, names = [...replica.processes.keys()], graceMs = 2_000) {
  // The Kubernetes components first and together, etcd last, as a replica shuts down.
  const kube = names.filter((name) => name !== 'etcd');
  await Promise.all(kube.map((name) => replica.processes.get(name)?.stop({ signal: 'SIGTERM', graceMs })));
  if (names.includes('etcd')) await replica.processes.get('etcd')?.stop({ signal: 'SIGTERM', graceMs });
  for (const name of names) replica.processes.delete(name);
}

/** Stops everything and removes the replica's folder. */
export async function removeFloorReplica(replica) {
  await stopComponents(replica);
  removeFolder(replica.dir);
}

/**
 * Equal work: the floor's command lines against those hacp started for a replica (the local provider's
 * instance record), with the parts that must differ (addresses, the root folder, the etcd token, the
 * advertised address) put in words. Returns the differences, none when they match.
 */
export function differencesFromHacp(replica, instanceRecord) {
  const hacpIp = instanceRecord.network.internalIp;
  const hacpRoot = instanceRecord.network.rootDir;
  const normalize = (arg, ip, root) =>
    arg
      .replaceAll(root, '<root>')
      .replaceAll(ip, '<ip>')
      .replace(/^--initial-cluster-token=.*/, '--initial-cluster-token=<token>')
      .replace(/^--advertise-address=.*/, '--advertise-address=<advertised>')
      .replace(/^--name=.*/, '--name=<name>')
      .replace(/^--initial-cluster=[^=]+=/, '--initial-cluster=<name>=');
  const differences = [];
  for (const floor of replica.commands) {
    const hacp = instanceRecord.processes.find((process) => process.name === floor.name);
    if (hacp === undefined) {
      differences.push(`hacp ran no ${floor.name}`);
      continue;
    }
    if (hacp.command !== floor.command)
      differences.push(`${floor.name}: hacp ran ${hacp.command}, the floor ${floor.command}`);
    const ours = floor.args.map((arg) => normalize(arg, replica.address, replica.root));
    const theirs = hacp.args.map((arg) => normalize(arg, hacpIp, hacpRoot));
    for (const arg of theirs.filter((arg) => !ours.includes(arg)))
      differences.push(`${floor.name}: only hacp has ${arg}`);
    for (const arg of ours.filter((arg) => !theirs.includes(arg)))
      differences.push(`${floor.name}: only the floor has ${arg}`);
  }
  return differences;
}
