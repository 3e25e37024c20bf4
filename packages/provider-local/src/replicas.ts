import { createHash } from 'node:crypto';
import { chmod, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, HacpError, isSecret, type Logger, type NodeConfig, type NodeProcess } from '@hacp/core';
import { ensureDir, readJsonFile, writeJsonFile } from './files.js';
import {
  isAlive,
  logTail,
  type ProcessRecord,
  type StartedProcess,
  startProcess,
  stopProcess,
} from './processes.js';

/** A process of a replica as stored: what to run again on `start`. */
export interface StoredProcess {
  name: string;
  /** The resolved, absolute program. */
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** SIGTERM to SIGKILL, from NodeProcess.stopGraceSeconds; absent: the provider's stopGraceMs. */
  stopGraceSeconds?: number;
}

/** How long `process` gets between SIGTERM and SIGKILL: its own grace, else the provider's. */
export function stopGraceMsOf(process: Pick<StoredProcess, 'stopGraceSeconds'>, defaultMs: number): number {
  return process.stopGraceSeconds === undefined ? defaultMs : process.stopGraceSeconds * 1000;
}

/** Where one replica's files live in the state folder. */
export interface ReplicaPaths {
  /** The replica's own folder; deleting the instance removes it. */
  dir: string;
  /** Where the NodeConfig's relative paths land (InstanceNetwork.rootDir). */
  root: string;
  logs: string;
  run: string;
}

export function replicaPaths(replicasDir: string, name: string): ReplicaPaths {
  const dir = join(replicasDir, name);
  return { dir, root: join(dir, 'root'), logs: join(dir, 'logs'), run: join(dir, 'run') };
}

export function logFileOf(paths: ReplicaPaths, processName: string): string {
  return join(paths.logs, `${processName}.log`);
}

function pidFileOf(paths: ReplicaPaths, processName: string): string {
  return join(paths.run, `${processName}.json`);
}

/** A digest of what a NodeConfig makes, secrets included (revealed only into the hash). */
export function nodeConfigDigest(config: NodeConfig, extra: unknown): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(extra));
  for (const file of config.files) {
    const contents = isSecret(file.contents) ? file.contents.reveal() : file.contents;
    hash.update(JSON.stringify([file.path, file.mode, createHash('sha256').update(contents).digest('hex')]));
  }
  hash.update(JSON.stringify(config.processes));
  return hash.digest('hex');
}

/** Writes the NodeConfig's files under the replica root: folders 0700, each file with its mode. */
export async function materialiseFiles(paths: ReplicaPaths, config: NodeConfig): Promise<void> {
  await ensureDir(paths.root);
  for (const file of config.files) {
    const target = join(paths.root, file.path);
    await ensureDir(dirname(target));
    const handle = await open(target, 'w', file.mode);
    try {
      await handle.chmod(file.mode);
      await handle.writeFile(isSecret(file.contents) ? file.contents.reveal() : file.contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // A file that existed keeps its old mode through open(); set it again explicitly.
    await chmod(target, file.mode);
  }
}

/** The recorded process, or undefined when it never started or was stopped. */
export async function processRecordOf(
  paths: ReplicaPaths,
  processName: string,
): Promise<ProcessRecord | undefined> {
  const body = await readJsonFile<{ process?: ProcessRecord }>(pidFileOf(paths, processName));
  return body?.process;
}

/** Which of the replica's processes run now. */
export async function processStates(
  paths: ReplicaPaths,
  processes: readonly Pick<StoredProcess, 'name'>[],
): Promise<{ name: string; pid?: number; running: boolean; logFile: string }[]> {
  const states = [];
  for (const process of processes) {
    const record = await processRecordOf(paths, process.name);
    const running = record !== undefined && isAlive(record);
    states.push({
      name: process.name,
      ...(record ? { pid: record.pid } : {}),
      running,
      logFile: logFileOf(paths, process.name),
    });
  }
  return states;
}

/**
 * Starts every process of the replica that is not running, detached, each with its own log and
 * pid file, under the replica's hostname where `hostname` is given. Then waits `graceMs`: a process
 * that exits within it did not start (a bad flag, a port in use), and then every process this call
 * started is stopped again and UNAVAILABLE names the process with the end of its log.
 */
export async function startReplicaProcesses(options: {
  paths: ReplicaPaths;
  processes: readonly StoredProcess[];
  hostname?: { name: string; unshare: string };
  graceMs: number;
  stopGraceMs: number;
  logger: Logger;
  replica: string;
}): Promise<void> {
  const { paths, logger } = options;
  await ensureDir(paths.logs);
  await ensureDir(paths.run);
  const started: { name: string; started: StartedProcess }[] = [];
  try {
    for (const process of options.processes) {
      const existing = await processRecordOf(paths, process.name);
      if (existing !== undefined && isAlive(existing)) continue;
      const run = startProcess({
        command: process.command,
        args: process.args,
        cwd: paths.root,
        logFile: logFileOf(paths, process.name),
        ...(process.env ? { env: process.env } : {}),
        ...(options.hostname ? { hostname: options.hostname } : {}),
      });
      started.push({ name: process.name, started: run });
      await writeJsonFile(pidFileOf(paths, process.name), { process: run.record });
      logger.info('started replica process', {
        replica: options.replica,
        process: process.name,
        pid: run.record.pid,
      });
    }
    const exits = started.map(({ name, started: run }) => run.exited.then((exit) => ({ name, exit })));
    const early = await Promise.race([
      ...exits,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), options.graceMs)),
    ]);
    const failed = early?.name ?? started.find(({ started: run }) => !isAlive(run.record))?.name;
    if (failed !== undefined) {
      const tail = logTail(logFileOf(paths, failed));
      throw new HacpError({
        code: ErrorCode.UNAVAILABLE,
        message: `Process ${failed} of replica ${options.replica} exited right after it started${
          early?.exit.code !== undefined && early.exit.code !== null ? ` (exit code ${early.exit.code})` : ''
        }.${tail ? ` The end of its log:\n${tail}` : ''}`,
        actions: [`Read ${logFileOf(paths, failed)}.`],
        details: { replica: options.replica, process: failed, logFile: logFileOf(paths, failed) },
        retryable: false,
      });
    }
  } catch (error) {
    for (const { name, started: run } of started.reverse()) {
      const process = options.processes.find((candidate) => candidate.name === name);
      const graceMs = stopGraceMsOf(process ?? {}, options.stopGraceMs);
      await stopProcess(run.record, { graceMs }).catch(() => undefined);
      await rm(pidFileOf(paths, name), { force: true });
    }
    throw error;
  }
}

/**
 * Stops the given recorded processes of the replica by pid, in reverse order (etcd, listed first,
 * stops last), each with its own grace, and removes their pid files. With `signal`, an abort between
 * two processes throws ABORTED; those stopped stay stopped.
 */
export async function stopReplicaProcesses(options: {
  paths: ReplicaPaths;
  processes: readonly Pick<StoredProcess, 'name' | 'stopGraceSeconds'>[];
  stopGraceMs: number;
  logger: Logger;
  replica: string;
  signal?: AbortSignal;
}): Promise<void> {
  const stopped: string[] = [];
  for (const process of [...options.processes].reverse()) {
    const record = await processRecordOf(options.paths, process.name);
    if (record === undefined) continue;
    if (options.signal?.aborted) {
      throw new HacpError({
        code: ErrorCode.ABORTED,
        message: `Stopping the processes of replica ${options.replica} was aborted${
          stopped.length > 0 ? ` after ${stopped.join(', ')}` : ''
        }; ${process.name} still runs.`,
        actions: ['Run it again to stop the rest.'],
        details: { replica: options.replica, stopped, running: process.name },
        cause: options.signal.reason,
      });
    }
    await stopProcess(record, { graceMs: stopGraceMsOf(process, options.stopGraceMs) });
    await rm(pidFileOf(options.paths, process.name), { force: true });
    stopped.push(process.name);
    options.logger.info('stopped replica process', {
      replica: options.replica,
      process: process.name,
      pid: record.pid,
    });
  }
}

/** The stored form of a NodeConfig process, with its program resolved. */
export function storedProcess(process: NodeProcess, command: string): StoredProcess {
  return {
    name: process.name,
    command,
    args: [...process.args],
    ...(process.env ? { env: { ...process.env } } : {}),
    ...(process.stopGraceSeconds === undefined ? {} : { stopGraceSeconds: process.stopGraceSeconds }),
  };
}
