/**
 * Runs the built `hacp` (bin/run.js) as a user would, each command a new process, against a state
 * folder of its own under the global setup's root (whose teardown stops leftovers by pid). Clusters
 * are etcd-only unless a test says otherwise (see {@link hacp}).
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect } from 'vitest';

const run = promisify(execFile);
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run.js');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The `--json` envelope, when stdout held one. */
  json?: Envelope;
}

export type Envelope =
  | { status: 0; result: unknown; warnings: { code: string; message: string }[] }
  | { status: number; error: { code: string; message: string; actions: string[] } };

/**
 * Runs `hacp <args>` to completion; never throws for a non-zero exit. The child gets
 * `HACP_KUBERNETES=false` unless `env` has its own `HACP_KUBERNETES` (undefined unsets it): a
 * cluster with Kubernetes would otherwise resolve its default version at the official release
 * location, which a test must never reach, and the suites that need Kubernetes say so.
 */
export function hacp(
  args: readonly string[],
  options: { stateDir: string; env?: Record<string, string | undefined>; timeoutMs?: number; cwd?: string },
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HACP_STATE_DIR: options.stateDir,
      HACP_KUBERNETES: 'false',
      ...options.env,
    };
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    const child = spawn(process.execPath, [CLI, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 240_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let json: Envelope | undefined;
      if (args.includes('--json') && stdout.trim() !== '') {
        try {
          json = JSON.parse(stdout) as Envelope;
        } catch {
          json = undefined;
        }
      }
      resolve({ code, signal, stdout, stderr, ...(json === undefined ? {} : { json }) });
    });
  });
}

/** Runs a command that must succeed with `--json`, and returns its result. */
export async function ok<T = Record<string, unknown>>(
  args: readonly string[],
  options: { stateDir: string; env?: Record<string, string | undefined>; cwd?: string },
): Promise<T> {
  const result = await hacp([...args, '--json'], options);
  if (result.code !== 0 || result.json === undefined || !('result' in result.json)) {
    throw new Error(`hacp ${args.join(' ')} exited ${result.code}: ${result.stdout}\n${result.stderr}`);
  }
  return result.json.result as T;
}

export async function tempStateDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(process.env.HACP_LOCAL_TEST_ROOT ?? tmpdir(), 'hacp-cli-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Every file and folder under `dir` with its mode and a hash of its bytes. Logs are left out: they
 * record the replicas' own activity (health checks, compactions), which goes on whatever hacp does;
 * so are sockets (HAProxy's stats socket), which have no bytes, each replica's etcd data folder,
 * the member's own disk, which a running etcd writes to by itself (cluster version, compactions),
 * and the example plugin's forwarder status, which the running forwarder rewrites with each health
 * check.
 */
const isForwarderStatus = (key: string) =>
  /(^|\/)providers\/example\/endpoints\/[^/]+\/status\.json$/.test(key);

export function snapshotTree(dir: string): Record<string, string> {
  const tree: Record<string, string> = {};
  if (!existsSync(dir)) return tree;
  const walk = (path: string) => {
    const stat = lstatSync(path);
    const key = relative(dir, path) || '.';
    if (stat.isDirectory() && key.endsWith('/etcd-data')) {
      tree[key] = `dir ${(stat.mode & 0o777).toString(8)} (etcd's own)`;
    } else if (stat.isDirectory()) {
      tree[key] = `dir ${(stat.mode & 0o777).toString(8)}`;
      for (const entry of readdirSync(path)) walk(join(path, entry));
    } else if (stat.isFile() && !path.endsWith('.log') && !isForwarderStatus(key)) {
      const hash = createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
      tree[key] = `file ${(stat.mode & 0o777).toString(8)} ${hash}`;
    }
  };
  walk(dir);
  return tree;
}

/** etcdctl through the cluster's endpoint, with hacp's etcd client certificate. */
export async function etcdctl(
  stateDir: string,
  cluster: string,
  endpoint: { address: string; port: number },
  args: string[],
): Promise<string> {
  const pki = join(stateDir, 'clusters', cluster, 'pki', 'pki');
  const { stdout } = await run(
    'etcdctl',
    [
      `--endpoints=https://${endpoint.address}:${endpoint.port}`,
      `--cacert=${join(pki, 'etcd/ca.crt')}`,
      `--cert=${join(pki, 'etcd/healthcheck-client.crt')}`,
      `--key=${join(pki, 'etcd/healthcheck-client.key')}`,
      '--command-timeout=10s',
      ...args,
    ],
    { env: { ...process.env, ETCDCTL_API: '3' } },
  );
  return stdout.trim();
}

/** The endpoint's etcd port: the address file records a port offset where loopback aliases are missing. */
export function endpointOf(stateDir: string, cluster: string): { address: string; port: number } {
  const dir = join(stateDir, 'local', 'addresses');
  for (const file of readdirSync(dir)) {
    const body = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      name: string;
      ip: string;
      portOffset?: number;
    };
    if (body.name === `${cluster}-master-ip`)
      return { address: body.ip, port: 2379 + (body.portOffset ?? 0) };
  }
  throw new Error(`no address for cluster ${cluster} in ${dir}`);
}

/** `hacp` bound to one cluster in one state folder. */
export function clusterCli(stateDir: string, cluster: string) {
  const options = { stateDir };
  return {
    cluster,
    ok: <T = Record<string, unknown>>(args: string[]) => ok<T>([...args, '--cluster', cluster], options),
    run: (args: string[], env?: Record<string, string>) =>
      hacp([...args, '--cluster', cluster], { ...options, ...(env ? { env } : {}) }),
    etcd: (args: string[]) => etcdctl(stateDir, cluster, endpointOf(stateDir, cluster), args),
  };
}
export type ClusterCli = ReturnType<typeof clusterCli>;

/**
 * Kills every process of a local replica by its pid files (not through hacp), as a crash would,
 * leaving its data folder; resolves once `hacp status` no longer calls it healthy.
 */
export async function killReplica(c: ClusterCli, stateDir: string, replica: string): Promise<void> {
  const runDir = join(stateDir, 'replicas', replica, 'run');
  for (const file of readdirSync(runDir)) {
    const pid = (JSON.parse(readFileSync(join(runDir, file), 'utf8')) as { process?: { pid?: number } })
      .process?.pid;
    if (pid !== undefined) process.kill(-pid, 'SIGKILL');
  }
  type Status = { replicas: { name: string; state: string }[] };
  await expect
    .poll(async () => (await c.ok<Status>(['status'])).replicas.find((r) => r.name === replica)?.state, {
      timeout: 30_000,
      interval: 500,
    })
    .not.toBe('healthy');
}

/**
 * A state folder for one test file, made before its tests and, after them, its clusters taken down
 * and the folder removed. Returns the folder's path (read it inside a test or hook).
 */
export function stateDirOfFile(clusters: readonly string[]): () => string {
  let stateDir: { dir: string; remove(): Promise<void> } | undefined;
  beforeAll(async () => {
    stateDir = await tempStateDir();
  });
  afterAll(async () => {
    if (stateDir === undefined) return;
    for (const cluster of clusters)
      await hacp(['down', '--yes', '--cluster', cluster], { stateDir: stateDir.dir });
    await stateDir.remove();
  });
  return () => {
    if (stateDir === undefined) throw new Error('the state folder is made in beforeAll');
    return stateDir.dir;
  };
}
