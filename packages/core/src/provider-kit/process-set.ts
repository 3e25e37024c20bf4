import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, HacpError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactText } from '../redact.js';
import { ensureDir, type JsonFiles } from './json-files.js';
import {
  isAlive,
  logTail,
  type ProcessExit,
  type ProcessRecord,
  type StartedProcess,
  startDetached,
  stopProcess,
} from './processes.js';
import { sleep } from './sleep.js';

/** A process of an instance as stored: what to run again on `start`. */
export interface StoredProcess {
  name: string;
  /** Absolute where it could be resolved at create; a path relative to the root is resolved at start. */
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** SIGTERM to SIGKILL, from NodeProcess.stopGraceSeconds; absent: the provider's stopGraceMs. */
  stopGraceSeconds?: number;
}

/** Where one instance's files live: its own folder, holding its root, logs and pid files. */
export interface InstancePaths {
  /** Deleting the instance removes it (all but `root` with keepDisk). */
  dir: string;
  /** Where the NodeConfig's relative paths land (InstanceNetwork.rootDir): the instance's disk. */
  root: string;
  logs: string;
  /** One pid file per running process. */
  run: string;
}

/** The folders of instance `name` under `replicasDir`. */
export function instancePaths(replicasDir: string, name: string): InstancePaths {
  const dir = join(replicasDir, name);
  return { dir, root: join(dir, 'root'), logs: join(dir, 'logs'), run: join(dir, 'run') };
}

/** Where a process's stdout and stderr go. */
export const logFileOf = (paths: InstancePaths, process: string): string =>
  join(paths.logs, `${process}.log`);
/** Where a running process's ProcessRecord is kept (`{ format, process }`). */
export const pidFileOf = (paths: InstancePaths, process: string): string =>
  join(paths.run, `${process}.json`);

/** How long `process` gets between SIGTERM and SIGKILL: its own grace, else the provider's. */
export function stopGraceMsOf(process: Pick<StoredProcess, 'stopGraceSeconds'>, defaultMs: number): number {
  return process.stopGraceSeconds === undefined ? defaultMs : process.stopGraceSeconds * 1000;
}

/** One process of an instance now. */
export interface ProcessState {
  name: string;
  pid?: number;
  running: boolean;
  logFile: string;
}

/** The recorded process, or undefined when it never started or was stopped. */
export async function processRecordOf(
  files: JsonFiles,
  paths: InstancePaths,
  name: string,
): Promise<ProcessRecord | undefined> {
  return (await files.read<{ process?: ProcessRecord }>(pidFileOf(paths, name)))?.process;
}

/** Which of the instance's processes run now: recorded, and that pid still the process started. */
export async function processStates(
  files: JsonFiles,
  paths: InstancePaths,
  processes: readonly Pick<StoredProcess, 'name'>[],
): Promise<ProcessState[]> {
  const states: ProcessState[] = [];
  for (const process of processes) {
    const record = await processRecordOf(files, paths, process.name);
    states.push({
      name: process.name,
      ...(record ? { pid: record.pid } : {}),
      running: record !== undefined && isAlive(record),
      logFile: logFileOf(paths, process.name),
    });
  }
  return states;
}

/** How startProcessSet starts an instance's processes. */
export interface StartProcessSetOptions {
  files: JsonFiles;
  paths: InstancePaths;
  processes: readonly StoredProcess[];
  /** The instance's name, for logs and errors. */
  instance: string;
  /** The absolute program of a stored command. @throws HacpError DEPENDENCY_MISSING */
  resolveProgram(command: string): string;
  /** The environment every process starts with; its own `env` goes on top. */
  env: Readonly<Record<string, string | undefined>>;
  hostname?: { name: string; unshare: string };
  /** How long a started process must stay up to count as started. */
  startCheckMs: number;
  stopGraceMs: number;
  logger: Logger;
}

function exitedEarly(
  options: StartProcessSetOptions,
  name: string,
  exit: ProcessExit | undefined,
): HacpError {
  const logFile = logFileOf(options.paths, name);
  // Logs may hold secrets (a flag with a password): the message never does.
  const tail = redactText(logTail(logFile));
  const how =
    exit?.spawnError !== undefined
      ? ` (${exit.spawnError})`
      : exit?.code !== undefined && exit.code !== null
        ? ` (exit code ${exit.code})`
        : exit?.signal
          ? ` (${exit.signal})`
          : '';
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `Process ${name} of instance ${options.instance} exited right after it started${how}.${
      tail ? ` The end of its log:\n${tail}` : ''
    }`,
    actions: [`Read ${logFile}, fix what it says, then try again.`],
    details: { instance: options.instance, process: name, logFile },
    retryable: false,
  });
}

/**
 * Starts each process of the instance that does not run, detached, with its own log and pid file,
 * in the instance root. Then waits `startCheckMs`: a process that exits within it did not start (a
 * bad flag, a port in use). Then, and when a program is missing, every process this call started
 * is stopped again by pid and its pid file removed.
 *
 * @throws HacpError UNAVAILABLE naming a process that exited right away, with the end of its log
 *   (secrets removed); DEPENDENCY_MISSING from `resolveProgram`.
 */
export async function startProcessSet(options: StartProcessSetOptions): Promise<void> {
  const { files, paths, logger, instance } = options;
  await ensureDir(paths.logs);
  await ensureDir(paths.run);
  const started: { name: string; run: StartedProcess; graceMs: number }[] = [];
  try {
    for (const process of options.processes) {
      const existing = await processRecordOf(files, paths, process.name);
      if (existing !== undefined && isAlive(existing)) continue;
      const run = startDetached({
        command: options.resolveProgram(process.command),
        args: process.args,
        cwd: paths.root,
        logFile: logFileOf(paths, process.name),
        env: { ...options.env, ...process.env },
        ...(options.hostname ? { hostname: options.hostname } : {}),
      });
      started.push({ name: process.name, run, graceMs: stopGraceMsOf(process, options.stopGraceMs) });
      await files.write(pidFileOf(paths, process.name), { process: run.record });
      logger.info('started process', {
        instance,
        process: process.name,
        pid: run.record.pid,
        startTime: run.record.startTime,
      });
    }
    if (started.length === 0) return;
    const exits = started.map(({ name, run }) => run.exited.then((exit) => ({ name, exit })));
    let timer: NodeJS.Timeout | undefined;
    const early = await Promise.race([
      ...exits,
      new Promise<undefined>((done) => {
        timer = setTimeout(() => done(undefined), options.startCheckMs);
      }),
    ]);
    clearTimeout(timer);
    if (early !== undefined) throw exitedEarly(options, early.name, early.exit);
    const dead = started.find(({ run }) => !isAlive(run.record));
    if (dead !== undefined) {
      // It died as the wait ended: its exit event (with the code) follows in a moment.
      const exit = await Promise.race([dead.run.exited, sleep(1_000).then(() => undefined)]);
      throw exitedEarly(options, dead.name, exit);
    }
  } catch (error) {
    for (const { name, run, graceMs } of started.reverse()) {
      await stopProcess(run.record, { graceMs }).catch((stopError: unknown) =>
        logger.error('could not stop a process of a failed start', {
          instance,
          process: name,
          pid: run.record.pid,
          error: String(stopError),
        }),
      );
      await rm(pidFileOf(paths, name), { force: true });
    }
    throw error;
  }
}

/**
 * Stops the given recorded processes of the instance by pid, last first (etcd, listed first, stops
 * last), each with its own grace, and removes their pid files. With `signal`, an abort between two
 * processes throws ABORTED; those stopped stay stopped.
 */
export async function stopProcessSet(options: {
  files: JsonFiles;
  paths: InstancePaths;
  processes: readonly Pick<StoredProcess, 'name' | 'stopGraceSeconds'>[];
  instance: string;
  stopGraceMs: number;
  logger: Logger;
  signal?: AbortSignal;
}): Promise<void> {
  const stopped: string[] = [];
  for (const process of [...options.processes].reverse()) {
    const record = await processRecordOf(options.files, options.paths, process.name);
    if (record === undefined) continue;
    if (options.signal?.aborted) {
      throw new HacpError({
        code: ErrorCode.ABORTED,
        message: `Stopping the processes of instance ${options.instance} was aborted${
          stopped.length > 0 ? ` after ${stopped.join(', ')}` : ''
        }; ${process.name} still runs.`,
        actions: ['Run it again to stop the rest.'],
        details: { instance: options.instance, stopped, running: process.name },
        cause: options.signal.reason,
      });
    }
    await stopProcess(record, { graceMs: stopGraceMsOf(process, options.stopGraceMs) });
    await rm(pidFileOf(options.paths, process.name), { force: true });
    stopped.push(process.name);
    options.logger.info('stopped process', {
      instance: options.instance,
      process: process.name,
      pid: record.pid,
    });
  }
}
