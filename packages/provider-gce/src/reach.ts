/**
 * How hacp reaches a replica's port from this machine: directly on its internal IP (hacp runs in
 * the VPC), or through a tunnel that gcloud holds open: `gcloud compute start-iap-tunnel` (IAP TCP
 * forwarding, the default) or `gcloud compute ssh ... -- -N -L` through IAP. Each tunnel is a child
 * process, killed by its pid when the Reach (or the provider) is closed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { ErrorCode, HacpError, isHacpError, type Logger, type Reach, waitUntil } from '@hacp/core';
import type { ReachMode } from './context.js';

/** How long a tunnel gets to accept connections. */
export const TUNNEL_READY_TIMEOUT_MS = 30_000;

/** How long a tunnel gets to exit on SIGTERM before SIGKILL. */
const TUNNEL_STOP_GRACE_MS = 3_000;

/** How gcloud is installed, for DEPENDENCY_MISSING's actions. */
const INSTALL_GCLOUD = [
  'Install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install (Debian: apt-get install google-cloud-cli).',
  'Or pass the path of gcloud in the provider settings (`gcloud`).',
  'Or, when hacp runs inside the VPC, use reach `direct` (HACP_GCE_REACH=direct).',
];

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The gcloud to run: the configured path, else `gcloud` on PATH.
 *
 * @throws HacpError DEPENDENCY_MISSING with how to install it, when there is none that can run.
 */
export function findGcloud(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (configured !== undefined) {
    if (isExecutableFile(configured)) return configured;
    throw new HacpError({
      code: ErrorCode.DEPENDENCY_MISSING,
      message: `gcloud was configured at ${configured}, and there is no executable file there.`,
      actions: INSTALL_GCLOUD,
      details: { program: 'gcloud', path: configured },
    });
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, 'gcloud');
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new HacpError({
    code: ErrorCode.DEPENDENCY_MISSING,
    message: 'Reaching GCE replicas through IAP needs gcloud, and it is not on PATH.',
    actions: INSTALL_GCLOUD,
    details: { program: 'gcloud' },
  });
}

/** A free TCP port on 127.0.0.1 (bound and released; gcloud binds it next). */
export function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The last lines of what a process wrote, for an error message. */
function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Gone in the meantime.
      }
    }
  }, TUNNEL_STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** A replica's place, as a tunnel needs it. */
export interface TunnelTarget {
  name: string;
  zone: string;
  internalIp: string;
}

/** Opens and tracks the tunnels of one provider. */
export interface Tunnels {
  open(target: TunnelTarget, port: number, signal?: AbortSignal): Promise<Reach>;
  /** The pids of the tunnels open now. */
  pids(): number[];
  /** Closes every tunnel. */
  closeAll(): Promise<void>;
}

/**
 * Tunnels through gcloud, `iap` or `ssh`.
 *
 * @example
 * const tunnels = createTunnels({ mode: 'iap', project, gcloud: undefined, logger });
 * const reach = await tunnels.open({ name, zone, internalIp }, 2379);
 * // ... connect to reach.host:reach.port ...
 * await reach.close();
 */
export function createTunnels(options: {
  mode: Exclude<ReachMode, 'direct'>;
  project: string;
  gcloud: string | undefined;
  logger: Logger;
  readyTimeoutMs?: number;
}): Tunnels {
  const { mode, project, logger } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? TUNNEL_READY_TIMEOUT_MS;
  const open = new Set<ChildProcess>();

  function unavailable(target: TunnelTarget, port: number, reason: string, stderr: string): HacpError {
    return new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `Could not open a tunnel to ${target.name}:${port} in ${target.zone} through gcloud (${reason})${stderr ? `:\n${tail(stderr)}` : '.'}`,
      actions: [
        'Log in: gcloud auth login',
        `Allow IAP's range 35.235.240.0/20 to the port in a firewall rule (hacp makes <rule>-iap companions for its rules).`,
        `Grant yourself roles/iap.tunnelResourceAccessor on project ${project}.`,
      ],
      details: { instance: target.name, zone: target.zone, port, mode },
      retryable: true,
    });
  }

  return {
    async open(target, port, signal) {
      // Prerequisites first: nothing is spawned without a gcloud that can run.
      const gcloud = findGcloud(options.gcloud);
      const localPort = await freeLocalPort();
      const args =
        mode === 'iap'
          ? [
              'compute',
              'start-iap-tunnel',
              target.name,
              String(port),
              `--local-host-port=localhost:${localPort}`,
              '--zone',
              target.zone,
              '--project',
              project,
            ]
          : [
              'compute',
              'ssh',
              target.name,
              '--zone',
              target.zone,
              '--project',
              project,
              '--tunnel-through-iap',
              '--',
              '-N',
              '-L',
              `127.0.0.1:${localPort}:${target.internalIp}:${port}`,
            ];
      const child = spawn(gcloud, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      open.add(child);
      let stderr = '';
      child.stdout?.resume();
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-8_192);
      });
      const exited = new Promise<string>((resolve) => {
        child.once('exit', (code, signalName) =>
          resolve(signalName ? `signal ${signalName}` : `exit code ${code}`),
        );
        child.once('error', (error) => resolve(error.message));
      });
      let exitReason: string | undefined;
      void exited.then((reason) => {
        exitReason = reason;
        open.delete(child);
      });
      try {
        await waitUntil({
          description: `gcloud's tunnel to ${target.name}:${port} to accept on localhost:${localPort}`,
          timeoutMs: readyTimeoutMs,
          signal,
          minDelayMs: 100,
          maxDelayMs: 100,
          // Only "not accepting yet" is worth another look; gcloud ending is final.
          retryOn: () => false,
          check: async () => {
            if (exitReason !== undefined)
              throw unavailable(target, port, `gcloud ended early: ${exitReason}`, stderr);
            return (await accepts('localhost', localPort)) ? { done: true, value: true } : { done: false };
          },
        });
      } catch (error) {
        await stopChild(child);
        if (isHacpError(error, ErrorCode.TIMEOUT)) {
          throw unavailable(
            target,
            port,
            `no connection on localhost:${localPort} after ${readyTimeoutMs} ms`,
            stderr,
          );
        }
        throw error;
      }
      logger.debug('tunnel open', { instance: target.name, port, localPort, pid: child.pid, mode });
      let closing: Promise<void> | undefined;
      return {
        host: 'localhost',
        port: localPort,
        close: () => {
          closing ??= stopChild(child).then(() => {
            open.delete(child);
          });
          return closing;
        },
      };
    },

    pids() {
      return [...open].map((child) => child.pid).filter((pid): pid is number => pid !== undefined);
    },

    async closeAll() {
      await Promise.all([...open].map((child) => stopChild(child)));
      open.clear();
    },
  };
}
