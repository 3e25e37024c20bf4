import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, HacpError } from '@hacp/core';

/**
 * Processes the testkit started, so that they are stopped by pid whatever happens to the test:
 * each one is in this in-memory set (killed on process exit), and, when the vitest global setup of
 * this package is in use, in a pid file that its teardown reaps if the worker itself died.
 */
const running = new Set<ChildProcess>();

/** The folder of pid files, set by the global setup (`HACP_TESTKIT_PID_DIR`). */
function pidDir(): string | undefined {
  return process.env.HACP_TESTKIT_PID_DIR || undefined;
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
}

export interface SpawnedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. */
  stop(options?: { signal?: NodeJS.Signals; graceMs?: number }): Promise<void>;
}

/**
 * Starts `command` with its output appended to `logFile`, tracked for teardown. `marker` must
 * appear in its command line (a data dir, say): the reaper checks it before killing a pid, so it
 * never kills a process that merely reused the number.
 */
export function spawnTracked(options: {
  command: string;
  args: readonly string[];
  logFile: string;
  marker: string;
  env?: NodeJS.ProcessEnv;
}): SpawnedProcess {
  installExitHook();
  const log = openSync(options.logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      stdio: ['ignore', log, log],
      env: { ...process.env, ...options.env },
    });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
  if (child.pid === undefined) {
    throw new HacpError({
      code: ErrorCode.DEPENDENCY_MISSING,
      message: `Could not start ${options.command}: it is not installed or not executable.`,
      actions: ['Run bash scripts/setup.sh, which installs the Debian packages hacp needs.'],
      details: { command: options.command },
    });
  }
  const pid = child.pid;
  running.add(child);
  const dir = pidDir();
  const pidFile = dir === undefined ? undefined : join(dir, String(pid));
  if (pidFile !== undefined) {
    mkdirSync(dir as string, { recursive: true, mode: 0o700 });
    writeFileSync(pidFile, options.marker);
  }
  void exited.then(() => {
    running.delete(child);
    if (pidFile !== undefined) rmSync(pidFile, { force: true });
  });
  const isRunning = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid,
    logFile: options.logFile,
    exited,
    isRunning,
    async stop({ signal = 'SIGTERM', graceMs = 10_000 } = {}) {
      if (!isRunning()) return;
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs);
      });
      const outcome = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout' && isRunning()) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Whether pid `pid` runs a command line containing `marker` (Linux /proc). */
function commandLineHas(pid: number, marker: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(marker);
  } catch {
    return false;
  }
}

/**
 * Kills, by pid, every process recorded in `dir` whose command line still carries its marker, and
 * removes the records. Returns the pids it killed.
 */
export function reapRecordedProcesses(dir: string): number[] {
  const killed: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return killed;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    const file = join(dir, entry);
    if (Number.isInteger(pid) && pid > 0) {
      const marker = readFileSync(file, 'utf8');
      if (marker !== '' && commandLineHas(pid, marker)) {
        try {
          process.kill(pid, 'SIGKILL');
          killed.push(pid);
        } catch {
          // exited meanwhile
        }
      }
    }
    rmSync(file, { force: true });
  }
  return killed;
}

/** Whether a process with that pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids the testkit started in this process that are still running. */
export function trackedPids(): number[] {
  return [...running]
    .filter((child) => child.exitCode === null && child.signalCode === null)
    .map((c) => c.pid as number);
}
