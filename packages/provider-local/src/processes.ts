import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { ErrorCode, HacpError } from '@hacp/core';

/**
 * What identifies a process we started: its pid and, on Linux, its start time in clock ticks since
 * boot (field 22 of /proc/<pid>/stat). A pid alone can be reused by an unrelated process after a
 * reboot or a long time; pid plus start time cannot, so nothing is ever signalled by mistake.
 */
export interface ProcessRecord {
  pid: number;
  /** From /proc/<pid>/stat; absent where /proc does not exist. */
  startTime?: string;
  /** The resolved program, for status output and diagnostics. */
  command: string;
  startedAt: string;
}

/** Field 22 (starttime) and field 3 (state) of /proc/<pid>/stat, or undefined when unreadable. */
function procStat(pid: number): { state: string; startTime: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined) return undefined;
  return { state, startTime };
}

const HAS_PROC = (() => {
  try {
    accessSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** Whether the recorded process is still the one we started and has not exited (zombies count as exited). */
export function isAlive(record: ProcessRecord): boolean {
  if (HAS_PROC) {
    const stat = procStat(record.pid);
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function signalGroup(record: ProcessRecord, signal: NodeJS.Signals): void {
  try {
    // Detached processes lead their own process group, so this reaches anything they forked too.
    process.kill(-record.pid, signal);
  } catch {
    try {
      process.kill(record.pid, signal);
    } catch {
      // gone already
    }
  }
}

/**
 * Stops a recorded process by pid: `signal` (SIGTERM) to its process group, then SIGKILL after
 * `graceMs`. Only when it is still the process that was recorded. Resolves once it has exited.
 */
export async function stopProcess(
  record: ProcessRecord,
  options: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<void> {
  if (!isAlive(record)) return;
  signalGroup(record, options.signal ?? 'SIGTERM');
  const deadline = Date.now() + (options.graceMs ?? 10_000);
  while (isAlive(record)) {
    if (Date.now() >= deadline) {
      signalGroup(record, 'SIGKILL');
      const killDeadline = Date.now() + 5_000;
      while (isAlive(record) && Date.now() < killDeadline) await sleep(25);
      if (isAlive(record)) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `Process ${record.pid} (${record.command}) did not exit after SIGKILL.`,
          actions: [`Check it with ps -o pid,stat,cmd -p ${record.pid}.`],
          details: { pid: record.pid },
        });
      }
      return;
    }
    await sleep(25);
  }
}

/** The Debian package that provides a program hacp runs, for DEPENDENCY_MISSING messages. */
export const DEBIAN_PACKAGE_OF: Readonly<Record<string, string>> = {
  etcd: 'etcd-server',
  etcdctl: 'etcd-client',
  haproxy: 'haproxy',
  unshare: 'util-linux',
};

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The absolute path of a program: itself when absolute, else the first executable match on PATH and
 * the sbin folders (where Debian puts haproxy, often not on a user's PATH); undefined when none.
 */
export function findProgram(program: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (isAbsolute(program)) return isExecutable(program) ? program : undefined;
  const folders = [...(env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const folder of folders) {
    if (folder === '') continue;
    const candidate = join(folder, program);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** DEPENDENCY_MISSING for a program, naming the Debian package where one provides it. */
export function dependencyMissing(program: string, hint?: string): HacpError {
  const name = program.split('/').pop() ?? program;
  const debianPackage = DEBIAN_PACKAGE_OF[name];
  return new HacpError({
    code: ErrorCode.DEPENDENCY_MISSING,
    message: `${program} is not installed or not executable${debianPackage ? ` (Debian package ${debianPackage})` : ''}.`,
    actions: [
      ...(debianPackage
        ? [`Install it: apt-get install ${debianPackage} (bash scripts/setup.sh does this).`]
        : []),
      ...(hint ? [hint] : []),
    ],
    details: { program, ...(debianPackage ? { debianPackage } : {}) },
  });
}

/** How a process is started. */
export interface StartProcessOptions {
  /** An absolute, executable path (resolve it with findProgram first). */
  command: string;
  args: readonly string[];
  cwd: string;
  logFile: string;
  env?: Readonly<Record<string, string>>;
  /**
   * Run it in its own UTS namespace with this hostname (Linux, root, `unshare` found): each replica
   * then has its own identity, as on its own machine.
   */
  hostname?: { name: string; unshare: string };
}

/** What a start returns: the record to keep, and the exit, for a caller that stays to watch. */
export interface StartedProcess {
  record: ProcessRecord;
  /** Resolves when it exits while this process still runs; never rejects. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

// `$0` is the hostname, `$@` the command: the shell sets the namespace's hostname and execs the
// program, so the recorded pid is the program's own.
const SET_HOSTNAME_AND_EXEC = 'printf %s "$0" > /proc/sys/kernel/hostname && exec "$@"';

/**
 * Starts a detached process in its own process group (it outlives the caller), with stdout and
 * stderr appended to `logFile` (0600).
 *
 * @throws HacpError UNAVAILABLE when the spawn itself fails.
 */
export function startProcess(options: StartProcessOptions): StartedProcess {
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
      code: ErrorCode.UNAVAILABLE,
      message: `Could not start ${options.command}.`,
      actions: [`Check that ${options.command} runs by hand.`],
      details: { command: options.command },
    });
  }
  child.unref();
  const stat = procStat(child.pid);
  const record: ProcessRecord = {
    pid: child.pid,
    ...(stat ? { startTime: stat.startTime } : {}),
    command: options.command,
    startedAt: new Date().toISOString(),
  };
  return { record, exited };
}

/** Whether this process may give its children their own hostname (Linux, root, unshare present). */
export function ownHostnameSupport(): { unshare: string } | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const unshare = findProgram('unshare');
  if (unshare === undefined) return undefined;
  // Root in a container may still lack CAP_SYS_ADMIN: try it once.
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
    const text = readFileSync(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
