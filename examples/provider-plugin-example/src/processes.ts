import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { ErrorCode, HacpError } from '@hacp/core';

/**
 * What identifies a process this provider started: its pid and its start time (field 22 of
 * /proc/<pid>/stat, clock ticks since boot). A pid alone may be reused by an unrelated process; pid
 * plus start time cannot, so nothing is ever signalled by mistake.
 */
export interface ProcessRecord {
  pid: number;
  /** From /proc/<pid>/stat; absent where /proc could not be read. */
  startTime?: string;
  /** The program, for diagnostics. */
  command: string;
  startedAt: string;
}

/** State (field 3) and start time (field 22) of /proc/<pid>/stat; undefined when there is no such process. */
export function procStat(pid: number): { state: string; startTime: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2, the command name, is in parentheses and may itself hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  return state === undefined || startTime === undefined ? undefined : { state, startTime };
}

/** This process as a ProcessRecord, so that another process can tell whether it still runs. */
export function selfRecord(): ProcessRecord {
  const stat = procStat(process.pid);
  return {
    pid: process.pid,
    ...(stat ? { startTime: stat.startTime } : {}),
    command: process.argv0,
    startedAt: new Date().toISOString(),
  };
}

/** Whether the recorded process still runs and is still the one recorded (a zombie has exited). */
export function isAlive(record: ProcessRecord): boolean {
  const stat = procStat(record.pid);
  if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return false;
  return record.startTime === undefined || stat.startTime === record.startTime;
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * Sends `signal` to the process group the recorded process leads, only while it is still the
 * process recorded.
 */
export function signalProcess(record: ProcessRecord, signal: NodeJS.Signals): void {
  if (!isAlive(record)) return;
  try {
    // Detached processes lead their own group, so this reaches what they forked too.
    process.kill(-record.pid, signal);
  } catch {
    try {
      process.kill(record.pid, signal);
    } catch {
      // Exited in between.
    }
  }
}

/**
 * Stops a recorded process by pid: SIGTERM to its group, SIGKILL after `graceMs`, each only while
 * the pid is still the process recorded. Resolves once it has exited.
 *
 * @throws HacpError UNAVAILABLE when it survives SIGKILL for 5 s.
 */
export async function stopProcess(record: ProcessRecord, graceMs: number): Promise<void> {
  if (!isAlive(record)) return;
  signalProcess(record, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(record) && Date.now() < deadline) await sleep(20);
  if (!isAlive(record)) return;
  signalProcess(record, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (isAlive(record) && Date.now() < killDeadline) await sleep(20);
  if (isAlive(record)) {
    throw new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `Process ${record.pid} (${record.command}) did not exit after SIGKILL.`,
      actions: [`Look at it with: ps -o pid,stat,cmd -p ${record.pid}`],
      details: { pid: record.pid },
    });
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The absolute program a NodeConfig command names: an absolute path as it is, a relative path
 * (with a slash) under `cwd`, a bare name on PATH. Undefined when it is not there or not executable.
 */
export function findProgram(command: string, options: { cwd: string; path?: string }): string | undefined {
  if (isAbsolute(command)) return isExecutable(command) ? command : undefined;
  if (command.includes('/')) {
    const candidate = resolve(options.cwd, command);
    return isExecutable(candidate) ? candidate : undefined;
  }
  for (const folder of (options.path ?? '').split(delimiter)) {
    if (folder === '') continue;
    const candidate = join(folder, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** DEPENDENCY_MISSING naming the program. */
export function dependencyMissing(command: string, context: string): HacpError {
  return new HacpError({
    code: ErrorCode.DEPENDENCY_MISSING,
    message: `${command} is not installed or not executable, so ${context} cannot start.`,
    actions: [`Install ${command}, or give its absolute path in the NodeConfig.`],
    details: { program: command },
  });
}

/** A started process: its record, and its exit while this process still watches. */
export interface StartedProcess {
  record: ProcessRecord;
  /** Resolves when it exits (or fails to spawn); never rejects. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: string }>;
}

/**
 * Starts a detached process in its own process group, stdout and stderr appended to `logFile`
 * (0600), so that it outlives the CLI that started it.
 *
 * @throws HacpError PROVIDER_ERROR when the kernel gives it no pid.
 */
export function startDetached(options: {
  command: string;
  args: readonly string[];
  cwd: string;
  logFile: string;
  /** The whole environment of the process. */
  env: Readonly<Record<string, string | undefined>>;
}): StartedProcess {
  const log = openSync(options.logFile, 'a', 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...options.env },
    });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: string }>(
    (done) => {
      child.once('exit', (code, signal) => done({ code, signal }));
      child.once('error', (error: NodeJS.ErrnoException) =>
        done({ code: null, signal: null, spawnError: error.code ?? error.message }),
      );
    },
  );
  if (child.pid === undefined) {
    throw new HacpError({
      code: ErrorCode.PROVIDER_ERROR,
      message: `${options.command} could not be started.`,
      actions: [`Check that ${options.command} runs by hand.`],
      details: { program: options.command },
    });
  }
  child.unref();
  const stat = procStat(child.pid);
  return {
    record: {
      pid: child.pid,
      ...(stat ? { startTime: stat.startTime } : {}),
      command: options.command,
      startedAt: new Date().toISOString(),
    },
    exited,
  };
}

/** The last `lines` lines of a log file, for error messages; empty when unreadable. */
export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
