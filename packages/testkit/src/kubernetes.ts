import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { adminKubeconfig, type ClusterPki, createClusterPki } from '@hacp/certs';
import { ErrorCode, HacpError, isHacpError, throwIfAborted, waitUntil } from '@hacp/core';
import {
  ensureKubernetesBinaries,
  type KubernetesBinaries,
  resolveKubernetesVersion,
} from '@hacp/kubernetes-release';
import { type EtcdTestCluster, startEtcdCluster } from './etcd-cluster.js';
import { freePorts } from './ports.js';
import { type SpawnedProcess, spawnTracked } from './processes.js';

/** The two versions the suites run with: the 1.23 line and the 1.32 line. */
export const TEST_KUBERNETES_VERSIONS = ['1.23', 'latest-1.32'] as const;

/** Why a suite that needs Kubernetes binaries is skipped when the location is not configured. */
const NO_RELEASE_URL = 'no Kubernetes binaries: HACP_KUBE_RELEASE_URL is not set';

/**
 * The test runs' binaries of `spec` (`1.23`, `latest-1.32`, `v1.23.16`): resolved at, and fetched from,
 * `HACP_KUBE_RELEASE_URL` (never the official location), cached in `HACP_TEST_KUBE_CACHE` (default
 * `<os tmpdir>/hacp-test-kubernetes`). Safe when several test processes call it at once: one fetch's
 * rename wins and the others use it. A skip says why there are none; use it as the suite's reason.
 *
 * @example
 * const kube = await testKubernetesBinaries('1.23');
 * describe.skipIf(kube.skip)(`the apiserver (${kube.skip ?? 'v1.23'})`, () => { ... });
 * @throws HacpError CHECKSUM_MISMATCH: a mirror serving corrupt binaries fails the suites rather than
 *   skipping them; any other HacpError (not there, unreachable) becomes a skip with its message.
 */
export async function testKubernetesBinaries(
  spec: string,
  options: { env?: Readonly<Record<string, string | undefined>> } = {},
): Promise<{ binaries: KubernetesBinaries; skip?: undefined } | { binaries?: undefined; skip: string }> {
  const env = options.env ?? process.env;
  const releaseUrl = env.HACP_KUBE_RELEASE_URL?.trim();
  if (!releaseUrl) return { skip: NO_RELEASE_URL };
  const cacheDir = resolve(env.HACP_TEST_KUBE_CACHE?.trim() || join(tmpdir(), 'hacp-test-kubernetes'));
  const source = { cacheDir, releaseUrl };
  try {
    const { version } = await resolveKubernetesVersion(spec, source);
    return { binaries: await ensureKubernetesBinaries(version, source) };
  } catch (error) {
    if (isHacpError(error) && error.code !== ErrorCode.CHECKSUM_MISMATCH) return { skip: error.message };
    throw error;
  }
}

/** A kube-apiserver the testkit runs, on one etcd member, with an admin kubeconfig. */
export interface TestApiserver {
  /** `https://127.0.0.1:<port>`. */
  url: string;
  /** The admin kubeconfig (`O=system:masters`), written 0600 at `kubeconfigPath`. */
  kubeconfig: string;
  kubeconfigPath: string;
  /** The folder holding certificates, kubeconfig, logs and etcd's data; removed by `stop()`. */
  dir: string;
  /** The cluster's PKI: the CA the apiserver trusts, the admin client certificate, ... */
  pki: ClusterPki;
  /** The etcd member it stores into. */
  etcd: EtcdTestCluster;
  /** Log files: the apiserver's, and the controller manager's when it runs. */
  logs: { apiserver: string; controllerManager?: string };
  /** Stops every process it started (SIGTERM, SIGKILL after a few seconds) and removes `dir`. */
  stop(): Promise<void>;
}

export interface StartTestApiserverOptions {
  binaries: KubernetesBinaries;
  /** Also run kube-controller-manager (leader-elected, service-account credentials). Default false. */
  controllerManager?: boolean;
  /** More kube-apiserver flags, e.g. `--feature-gates=APIServerIdentity=true`. */
  apiserverArgs?: readonly string[];
  /** How long to wait for /readyz. Default 180 s: 5–20 s is usual on two busy cores. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const HOST = '127.0.0.1';
/**
 * A 1.23 apiserver with APIServerIdentity on takes about 40 s to exit on SIGTERM; the data is
 * thrown away anyway, so a few seconds of grace are enough.
 */
const STOP_GRACE_MS = 5_000;

interface PkiPaths {
  ca: string;
  caKey: string;
  apiserver: string;
  apiserverKey: string;
  etcdCa: string;
  etcdClient: string;
  etcdClientKey: string;
  serviceAccountPublic: string;
  serviceAccountKey: string;
  frontProxyCa: string;
  frontProxyClient: string;
  frontProxyClientKey: string;
}

/** Writes what the apiserver and controller manager read, kubeadm's names, keys 0600 in a 0700 folder. */
async function writePkiFiles(dir: string, pki: ClusterPki, replica: string): Promise<PkiPaths> {
  const certs = pki.replicas[replica];
  if (certs === undefined)
    throw new HacpError({ code: ErrorCode.INTERNAL, message: `No certificates for ${replica}.` });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const files: [keyof PkiPaths, string, string, number][] = [
    ['ca', 'ca.crt', pki.ca.certPem, 0o644],
    ['caKey', 'ca.key', pki.ca.keyPem.reveal(), 0o600],
    ['apiserver', 'apiserver.crt', certs.apiserver.certPem, 0o644],
    ['apiserverKey', 'apiserver.key', certs.apiserver.keyPem.reveal(), 0o600],
    ['etcdCa', 'etcd-ca.crt', pki.etcdCa.certPem, 0o644],
    ['etcdClient', 'apiserver-etcd-client.crt', certs.apiserverEtcdClient.certPem, 0o644],
    ['etcdClientKey', 'apiserver-etcd-client.key', certs.apiserverEtcdClient.keyPem.reveal(), 0o600],
    ['serviceAccountPublic', 'sa.pub', pki.serviceAccount.publicKeyPem, 0o644],
    ['serviceAccountKey', 'sa.key', pki.serviceAccount.privateKeyPem.reveal(), 0o600],
    ['frontProxyCa', 'front-proxy-ca.crt', pki.frontProxyCa.certPem, 0o644],
    ['frontProxyClient', 'front-proxy-client.crt', pki.frontProxyClient.certPem, 0o644],
    ['frontProxyClientKey', 'front-proxy-client.key', pki.frontProxyClient.keyPem.reveal(), 0o600],
  ];
  const paths = {} as PkiPaths;
  for (const [name, file, contents, mode] of files) {
    paths[name] = join(dir, file);
    await writeFile(paths[name], contents, { mode });
    await chmod(paths[name], mode);
  }
  return paths;
}

function apiserverArgs(input: {
  port: number;
  etcd: string;
  pki: PkiPaths;
  serviceCidr: string;
  certDir: string;
}) {
  const { pki } = input;
  return [
    `--advertise-address=${HOST}`,
    `--bind-address=${HOST}`,
    `--secure-port=${input.port}`,
    `--etcd-servers=${input.etcd}`,
    `--etcd-cafile=${pki.etcdCa}`,
    `--etcd-certfile=${pki.etcdClient}`,
    `--etcd-keyfile=${pki.etcdClientKey}`,
    `--client-ca-file=${pki.ca}`,
    `--tls-cert-file=${pki.apiserver}`,
    `--tls-private-key-file=${pki.apiserverKey}`,
    `--service-account-key-file=${pki.serviceAccountPublic}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-cluster-ip-range=${input.serviceCidr}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    '--allow-privileged=true',
    `--proxy-client-cert-file=${pki.frontProxyClient}`,
    `--proxy-client-key-file=${pki.frontProxyClientKey}`,
    `--requestheader-client-ca-file=${pki.frontProxyCa}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    `--cert-dir=${input.certDir}`,
    '--profiling=false',
  ];
}

function controllerManagerArgs(input: {
  port: number;
  kubeconfigPath: string;
  pki: PkiPaths;
  serviceCidr: string;
  certDir: string;
}) {
  return [
    `--kubeconfig=${input.kubeconfigPath}`,
    `--authentication-kubeconfig=${input.kubeconfigPath}`,
    `--authorization-kubeconfig=${input.kubeconfigPath}`,
    `--bind-address=${HOST}`,
    `--secure-port=${input.port}`,
    `--cert-dir=${input.certDir}`,
    '--leader-elect=true',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${input.pki.serviceAccountKey}`,
    `--root-ca-file=${input.pki.ca}`,
    `--cluster-signing-cert-file=${input.pki.ca}`,
    `--cluster-signing-key-file=${input.pki.caKey}`,
    '--cluster-name=kubernetes',
    `--service-cluster-ip-range=${input.serviceCidr}`,
    '--controllers=*,bootstrapsigner,tokencleaner',
    '--profiling=false',
  ];
}

/** One GET over TLS on loopback; never throws for an HTTP status. */
function get(
  url: string,
  tls: { ca?: string; cert?: string; key?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const outgoing = request(
      url,
      { ...tls, rejectUnauthorized: tls.ca !== undefined, agent: false, timeout: 10_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolvePromise({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('no answer in 10 s')));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

async function logTail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Waits until `url` answers 200 `ok`, failing at once when `process` exits. */
async function waitHealthy(input: {
  name: string;
  url: string;
  process: SpawnedProcess;
  tls: { ca?: string; cert?: string; key?: string };
  timeoutMs: number;
  signal: AbortSignal | undefined;
}): Promise<void> {
  await waitUntil({
    description: `${input.name} to answer ${input.url}`,
    timeoutMs: input.timeoutMs,
    minDelayMs: 250,
    maxDelayMs: 2_000,
    signal: input.signal,
    check: async () => {
      if (!input.process.isRunning()) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `${input.name} exited while starting. Its log (${input.process.logFile}) ends with:\n${await logTail(input.process.logFile)}`,
          retryable: false,
          details: { logFile: input.process.logFile },
        });
      }
      const answer = await get(input.url, input.tls).catch((error: Error) => ({
        status: 0,
        body: error.message,
      }));
      return answer.status === 200 && answer.body.trim() === 'ok'
        ? { done: true, value: undefined }
        : {
            done: false,
            reason: `HTTP ${answer.status}: ${answer.body.trim().split('\n').slice(-3).join(' ')}`,
          };
    },
  });
}

/**
 * A bare kube-apiserver for package tests: one etcd member with mTLS (the testkit's etcd harness), a
 * fresh PKI from @hacp/certs, kube-apiserver on 127.0.0.1 at a free port with the essential flags
 * (client CA, service-account keys and issuer, service CIDR 10.0.0.0/16, Node and RBAC authorization,
 * the front-proxy CA), and optionally kube-controller-manager. Resolves when /readyz answers ok (and
 * the controller manager's /healthz). Every process is recorded for reaping and stopped by pid in
 * `stop()`; a start that fails or is aborted stops what it began and removes its folder.
 *
 * @example
 * const kube = await testKubernetesBinaries('1.23');
 * const apiserver = await startTestApiserver({ binaries: kube.binaries!, controllerManager: true });
 * try {
 *   const kc = new KubeConfig();
 *   kc.loadFromString(apiserver.kubeconfig);
 * } finally {
 *   await apiserver.stop();
 * }
 * @throws HacpError UNAVAILABLE (with its log tail) when a process exits while starting; TIMEOUT;
 *   ABORTED; DEPENDENCY_MISSING when etcd is not installed.
 */
export async function startTestApiserver(options: StartTestApiserverOptions): Promise<TestApiserver> {
  throwIfAborted(options.signal);
  const timeoutMs = options.timeoutMs ?? 180_000;
  const dir = await mkdtemp(join(tmpdir(), 'hacp-kube-apiserver-'));
  await chmod(dir, 0o700);
  const processes: SpawnedProcess[] = [];
  let etcd: EtcdTestCluster | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all(processes.map((child) => child.stop({ signal: 'SIGTERM', graceMs: STOP_GRACE_MS })));
      await etcd?.stop();
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    const pki = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: HOST });
    etcd = await startEtcdCluster({ members: 1, pki, dir: join(dir, 'etcd'), names: ['etcd-1'] });
    const pkiPaths = await writePkiFiles(join(dir, 'pki'), etcd.pki, 'etcd-1');
    const [port, controllerManagerPort] = (await freePorts(2)) as [number, number];
    const url = `https://${HOST}:${port}`;
    const kubeconfig = adminKubeconfig(pki, { server: url });
    const kubeconfigPath = join(dir, 'admin.conf');
    await writeFile(kubeconfigPath, kubeconfig, { mode: 0o600 });
    const serviceCidr = pki.settings.serviceCidr;
    const admin = { ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem.reveal() };

    const apiserver = spawnTracked({
      command: options.binaries.paths['kube-apiserver'],
      args: [
        ...apiserverArgs({
          port,
          etcd: etcd.endpoints[0] as string,
          pki: pkiPaths,
          serviceCidr,
          certDir: join(dir, 'apiserver-certs'),
        }),
        ...(options.apiserverArgs ?? []),
      ],
      logFile: join(dir, 'kube-apiserver.log'),
      marker: dir,
    });
    processes.push(apiserver);
    await waitHealthy({
      name: 'kube-apiserver',
      url: `${url}/readyz`,
      process: apiserver,
      tls: admin,
      timeoutMs,
      signal: options.signal,
    });

    const logs: TestApiserver['logs'] = { apiserver: apiserver.logFile };
    if (options.controllerManager) {
      const controllerManager = spawnTracked({
        command: options.binaries.paths['kube-controller-manager'],
        args: controllerManagerArgs({
          port: controllerManagerPort,
          kubeconfigPath,
          pki: pkiPaths,
          serviceCidr,
          certDir: join(dir, 'controller-manager-certs'),
        }),
        logFile: join(dir, 'kube-controller-manager.log'),
        marker: dir,
      });
      processes.push(controllerManager);
      logs.controllerManager = controllerManager.logFile;
      // Its serving certificate is self-signed; this is a loopback health probe, nothing more.
      await waitHealthy({
        name: 'kube-controller-manager',
        url: `https://${HOST}:${controllerManagerPort}/healthz`,
        process: controllerManager,
        tls: {},
        timeoutMs,
        signal: options.signal,
      });
    }
    return { url, kubeconfig, kubeconfigPath, dir, pki: etcd.pki, etcd, logs, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
