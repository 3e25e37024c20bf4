// A local cluster as the benchmarks drive it: the built `hacp` run as a process per command, its
// status, a replica killed as a crash would, and the machine's etcd and HAProxy versions.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, CLI_DIR, cliEnv } from './cli.mjs';
import { onInterrupt, removeFolder, tempFolder } from './harness.mjs';
import { describeHost, describeTmpFolder, firstLine, packageVersion } from './machine.mjs';

const COMMAND_TIMEOUT_MS = 300_000;

/**
 * Runs `hacp <args> --cluster <cluster>` (etcd only), timed from just before the spawn to its exit;
 * throws unless it exits 0.
 */
export function hacpIn(stateDir, cluster, args) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args, '--cluster', cluster], {
      env: { ...cliEnv(stateDir), HACP_KUBERNETES: 'false' },
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
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`hacp ${args.join(' ')} exited ${code}:\n${stdout}${stderr}`));
      else resolve({ ms, stdout });
    });
  });
}

/** `hacp status --json`'s result. */
export const statusOf = async (stateDir, cluster) =>
  JSON.parse((await hacpIn(stateDir, cluster, ['status', '--json'])).stdout).result;

/** Kills every process of the replica by its pid files, as a crash would; waits until status sees it. */
export async function killReplica(stateDir, cluster, replica) {
  const runDir = join(stateDir, 'replicas', replica, 'run');
  for (const file of readdirSync(runDir)) {
    const pid = JSON.parse(readFileSync(join(runDir, file), 'utf8')).process?.pid;
    if (pid === undefined) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  for (let waited = 0; ; waited += 500) {
    const seen = await statusOf(stateDir, cluster);
    if (seen.replicas.find((r) => r.name === replica)?.state !== 'healthy') return;
    if (waited > 30_000) throw new Error(`${replica} still healthy 30 s after its processes were killed`);
    await sleep(500);
  }
}

/** Whether there are three healthy replicas in local-a, -b, -c, every member a healthy voter. */
export function threeHealthy(seen) {
  const healthy = seen.replicas.length === 3 && seen.replicas.every((r) => r.state === 'healthy');
  const voters = seen.etcd.members.length === 3 && seen.etcd.members.every((m) => !m.learner && m.healthy);
  const zones = seen.replicas.map((r) => r.zone).sort();
  return healthy && voters && zones.join() === 'local-a,local-b,local-c';
}

/** Three healthy voters in three zones; fails the run otherwise. */
export function checkThree(seen) {
  if (!threeHealthy(seen))
    throw new Error(`not three healthy voters in three zones: ${JSON.stringify(seen)}`);
}

/** The machine as these benchmarks record it: host, etcd, HAProxy, hacp and the temp folder. */
export function localMachine() {
  return {
    ...describeHost(),
    etcd: firstLine('etcd', ['--version']).replace(/^etcd Version:\s*/, ''),
    haproxy: firstLine('haproxy', ['-v'])
      .replace(/^HAProxy version\s*/, '')
      .split(' ')[0],
    hacp: packageVersion(join(CLI_DIR, 'package.json')),
    ...describeTmpFolder(),
  };
}

/**
 * A three-replica etcd-only cluster in local-a, -b and -c, in a fresh temp folder; `cleanup()` (also
 * run on an interruption) deletes it with `hacp down` and removes the folder.
 */
export async function threeReplicaCluster(kind, cluster) {
  const stateDir = tempFolder(kind);
  let cleaning;
  const cleanup = () => {
    cleaning ??= (async () => {
      await hacpIn(stateDir, cluster, ['down', '--yes']).catch((error) =>
        process.stderr.write(`cleanup: ${error.message}\n`),
      );
      removeFolder(stateDir);
    })();
    return cleaning;
  };
  onInterrupt('the cluster this run started', cleanup);
  await hacpIn(stateDir, cluster, ['up', '--zone', 'local-a', '--multizone', '--no-kubernetes']);
  await hacpIn(stateDir, cluster, ['replicate', '--zone', 'local-b']);
  await hacpIn(stateDir, cluster, ['replicate', '--zone', 'local-c']);
  return { stateDir, cleanup };
}
