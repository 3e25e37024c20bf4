import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { ErrorCode, HacpError } from '../errors.js';
import { sleep } from './sleep.js';

/**
 * What identifies a process a provider started: its pid and, on Linux, its start time in clock
 * ticks since boot (field 22 of /proc/<pid>/stat). A pid alone can be reused by an unrelated
 * process; pid plus start time cannot, so nothing is ever signalled by mistake.
 */
export interface ProcessRecord {
  pid: number;
  /** From /proc/<pid>/stat; absent where /proc could not be read. */
  startTime?: string;
  /** The program, for status output and diagnostics. */
  command: string;
  startedAt: string;
}

/** State (field 3) and start time (field 22) of /proc/<pid>/stat; undefined when there is no such process. */
export function processStat(pid: number): { state: string; startTime: string } | undefined {
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

const HAS_PROC = (() => {
  try {
    accessSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** This process as a ProcessRecord, so that another process can tell whether it still runs. */
export function selfRecord(): ProcessRecord {
  const stat = processStat(process.pid);
  return {
    pid: process.pid,
    ...(stat ? { startTime: stat.startTime } : {}),
    command: process.argv0,
    startedAt: new Date().toISOString(),
  };
}

/** Whether the recorded process still runs and is still the one recorded (a zombie has exited). */
export function isAlive(record: ProcessRecord): boolean {
  if (HAS_PROC) {
    const stat = processStat(record.pid);
    if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return false;
    return record.startTime === undefined || stat.startTime === record.startTime;
  }
  try {
    process.kill(record.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Sends `signal` to the process group the recorded process leads (a detached process leads its
 * own, so this reaches what it forked too), only while it is still the process recorded.
 */
export function signalProcess(record: ProcessRecord, signal: NodeJS.Signals): void {
  if (!isAlive(record)) return;
  try {
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
 * Stops a recorded process: SIGTERM (or `signal`) to its group, SIGKILL after `graceMs` (default
 * 10 s), each only while the pid is still the process recorded. Resolves once it has exited.
 *
 * @throws HacpError UNAVAILABLE when it survives SIGKILL for 5 s.
 */
export async function stopProcess(
  record: ProcessRecord,
  options: { graceMs?: number; signal?: NodeJS.Signals } = {},
): Promise<void> {
  if (!isAlive(record)) return;
  signalProcess(record, options.signal ?? 'SIGTERM');
  const deadline = Date.now() + (options.graceMs ?? 10_000);
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

/** The Debian package that provides a program hacp runs, for DEPENDENCY_MISSING messages. */
export const DEBIAN_PACKAGE_OF: Readonly<Record<string, string>> = Object.freeze({
  etcd: 'etcd-server',
  etcdctl: 'etcd-client',
  haproxy: 'haproxy',
  unshare: 'util-linux',
});

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The absolute program a command names: an absolute path as it is, a relative path (with a slash)
 * under `cwd`, a bare name from `path` (a PATH, default this process's) and then the sbin folders,
 * where Debian puts programs such as haproxy. Undefined when it is not there or not executable.
 *
 * @example
 * findProgram('haproxy'); // '/usr/sbin/haproxy' on Debian
 */
export function findProgram(
  command: string,
  options: { cwd?: string; path?: string } = {},
): string | undefined {
  if (isAbsolute(command)) return isExecutable(command) ? command : undefined;
  if (command.includes('/')) {
    if (options.cwd === undefined) return undefined;
    const candidate = resolve(options.cwd, command);
    return isExecutable(candidate) ? candidate : undefined;
  }
  const path = options.path ?? process.env.PATH ?? '';
  for (const folder of [...path.split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    if (folder === '') continue;
    const candidate = join(folder, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** DEPENDENCY_MISSING for a program, naming the Debian package where one provides it. */
export function dependencyMissing(
  program: string,
  options: { what?: string; hint?: string } = {},
): HacpError {
  const name = program.split('/').pop() ?? program;
  const debianPackage = DEBIAN_PACKAGE_OF[name];
  return new HacpError({
    code: ErrorCode.DEPENDENCY_MISSING,
    message: `${program} is not installed or not executable${debianPackage ? ` (Debian package ${debianPackage})` : ''}${
      options.what ? `, so ${options.what} cannot start` : ''
    }.`,
    actions: [
      ...(debianPackage
        ? [`Install it: apt-get install ${debianPackage} (bash scripts/setup.sh does this).`]
        : [`Install ${program}, or give its absolute path.`]),
      ...(options.hint ? [options.hint] : []),
    ],
    details: { program, ...(debianPackage ? { debianPackage } : {}) },
  });
}

/** How a process ended, as seen by the process that started it. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it could not be spawned at all (ENOENT, EACCES). */
  spawnError?: string;
}

/** A started process: the record to keep, and its exit while this process still watches. */
export interface StartedProcess {
  record: ProcessRecord;
  /** Resolves when it exits or fails to spawn; never rejects. */
  exited: Promise<ProcessExit>;
}

/** How startDetached starts a process. */
export interface DetachedProcessOptions {
  /** An absolute, executable path (find it with findProgram first). */
  command: string;
  args: readonly string[];
  cwd: string;
  /** Where stdout and stderr are appended (created 0600). */
  logFile: string;
  /** Its whole environment. Default: this process's. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Runs it in its own UTS namespace under this hostname (Linux, root, `unshare` found; see
   * ownHostnameSupport), as on a machine of its own.
   */
  hostname?: { name: string; unshare: string };
}

// `$0` is the hostname, `$@` the command: the shell sets the namespace's hostname and execs the
// program, so the recorded pid is the program's own.
const SET_HOSTNAME_AND_EXEC = 'printf %s "$0" > /proc/sys/kernel/hostname && exec "$@"';

/**
 * Starts a detached process in its own process group and session, so that it outlives the
 * process that started it, with its output appended to `logFile`.
 *
 * @example
 * const { record } = startDetached({ command: '/usr/bin/sleep', args: ['60'], cwd: '/tmp', logFile: '/tmp/sleep.log' });
 * await stopProcess(record);
 * @throws HacpError UNAVAILABLE when the kernel gives it no pid.
 */
export function startDetached(options: DetachedProcessOptions): StartedProcess {
  const [command, args] = options.hostname
    ? [
        options.hostname.unshare,
        [
          '--uts',
          '--',
          '/bin/sh',
          '-c',
          SET_HOSTNAME_AND_EXEC,
          options.hostname.name,
          options.command,
          ...options.args,
        ],
      ]
    : [options.command, [...options.args]];
  const log = openSync(options.logFile, 'a', 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...(options.env ?? process.env) },
    });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<ProcessExit>((done) => {
    child.once('exit', (code, signal) => done({ code, signal }));
    child.once('error', (error: NodeJS.ErrnoException) =>
      done({ code: null, signal: null, spawnError: error.code ?? error.message }),
    );
  });
  if (child.pid === undefined) {
    throw new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `${options.command} could not be started.`,
      actions: [`Check that ${options.command} runs by hand.`],
      details: { program: options.command },
    });
  }
  child.unref();
  const stat = processStat(child.pid);
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

/**
 * Whether this process may give the processes it starts their own hostname: Linux, root, unshare
 * present, and the namespace really allowed (root in a container may lack CAP_SYS_ADMIN).
 */
export function ownHostnameSupport(): { unshare: string } | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const unshare = findProgram('unshare');
  if (unshare === undefined) return undefined;
  const probe = spawnSync(
    unshare,
    ['--uts', '--', '/bin/sh', '-c', SET_HOSTNAME_AND_EXEC, 'hacp-probe', 'true'],
    {
      stdio: 'ignore',
      timeout: 5_000,
    },
  );
  return probe.status === 0 ? { unshare } : undefined;
}

/** The last `lines` lines of a log file, for error messages; empty when unreadable. */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
