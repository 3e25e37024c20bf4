import { createHash } from 'node:crypto';
import { chmod, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, HacpError, isSecret, type Logger, type NodeConfig, redactText } from '@hacp/core';
import { ensureDir, readJsonFile, writeJsonFile } from './files.js';
import {
  dependencyMissing,
  findProgram,
  isAlive,
  logTail,
  type ProcessRecord,
  type StartedProcess,
  startDetached,
  stopProcess,
} from './processes.js';

/** A process of an instance as stored: what to run again on `start`. */
export interface StoredProcess {
  name: string;
  /** As the NodeConfig gave it; resolved on each start. */
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/** Where one instance's files live: `<stateDir>/instances/<name>/`. */
export interface InstancePaths {
  dir: string;
  /** Where the NodeConfig's relative paths land (InstanceNetwork.rootDir): the instance's "disk". */
  root: string;
  logs: string;
  /** Pid files, one per running process. */
  run: string;
  record: string;
}

/** The folders and files of instance `name` under `<stateDir>/instances`. */
export function instancePaths(instancesDir: string, name: string): InstancePaths {
  const dir = join(instancesDir, name);
  return {
    dir,
    root: join(dir, 'root'),
    logs: join(dir, 'logs'),
    run: join(dir, 'run'),
    record: join(dir, 'instance.json'),
  };
}

/** Where a process's stdout and stderr go. */
export const logFileOf = (paths: InstancePaths, process: string) => join(paths.logs, `${process}.log`);
/** Where a running process's ProcessRecord is kept. */
export const pidFileOf = (paths: InstancePaths, process: string) => join(paths.run, `${process}.pid.json`);

/** A digest of what a NodeConfig makes, secrets included (revealed only into the hash). */
export function nodeConfigDigest(config: NodeConfig, extra: unknown): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(extra));
  for (const file of config.files) {
    const contents = isSecret(file.contents) ? file.contents.reveal() : file.contents;
    const contentsDigest = createHash('sha256').update(contents).digest('hex');
    hash.update(JSON.stringify([file.path, file.mode, contentsDigest]));
  }
  hash.update(JSON.stringify(config.processes));
  return hash.digest('hex');
}

/** Writes the NodeConfig's files under the instance root: folders 0700, each file with its mode. */
export async function writeNodeFiles(root: string, config: NodeConfig): Promise<void> {
  await ensureDir(root);
  for (const file of config.files) {
    const target = join(root, file.path);
    await ensureDir(dirname(target));
    const handle = await open(target, 'w', file.mode);
    try {
      // A Secret is revealed here only, into its own file with its own mode.
      await handle.writeFile(isSecret(file.contents) ? file.contents.reveal() : file.contents);
    } finally {
      await handle.close();
    }
    // open() keeps the mode of a file that existed, and the umask trims a new one: set it.
    await chmod(target, file.mode);
  }
}

/** The recorded process, or undefined when it was never started or was stopped. */
export async function processRecordOf(
  paths: InstancePaths,
  processName: string,
): Promise<ProcessRecord | undefined> {
  return (await readJsonFile<{ process?: ProcessRecord }>(pidFileOf(paths, processName)))?.process;
}

/** Whether each process of the instance runs now: recorded, and that pid still the process started. */
export async function runningStates(
  paths: InstancePaths,
  processes: readonly Pick<StoredProcess, 'name'>[],
): Promise<boolean[]> {
  const states: boolean[] = [];
  for (const process of processes) {
    const record = await processRecordOf(paths, process.name).catch(() => undefined);
    states.push(record !== undefined && isAlive(record));
  }
  return states;
}

/**
 * Starts each process of the instance that is not running, detached, with its own log and pid
 * file, in the instance root. Then waits `startCheckMs`: a process that exits within it did not
 * start. Then, and when a command does not exist, every process this call started is stopped by
 * pid, its pid file removed, and the error names the process with the end of its log (secrets
 * removed).
 *
 * @throws HacpError DEPENDENCY_MISSING naming a command that does not exist; PROVIDER_ERROR for a
 *   process that exited right away.
 */
export async function startProcesses(options: {
  paths: InstancePaths;
  processes: readonly StoredProcess[];
  instance: string;
  /** The environment processes start with (their own `env` on top) and whose PATH finds bare commands. */
  env: Readonly<Record<string, string | undefined>>;
  startCheckMs: number;
  stopGraceMs: number;
  logger: Logger;
}): Promise<void> {
  const { paths, logger, instance } = options;
  await ensureDir(paths.logs);
  await ensureDir(paths.run);
  const started: { name: string; run: StartedProcess }[] = [];
  try {
    for (const process of options.processes) {
      const existing = await processRecordOf(paths, process.name);
      if (existing !== undefined && isAlive(existing)) continue;
      const program = findProgram(process.command, { cwd: paths.root, path: options.env.PATH });
      if (program === undefined) {
        throw dependencyMissing(process.command, `process ${process.name} of instance ${instance}`);
      }
      const run = startDetached({
        command: program,
        args: process.args,
        cwd: paths.root,
        logFile: logFileOf(paths, process.name),
        env: { ...options.env, ...process.env },
      });
      started.push({ name: process.name, run });
      await writeJsonFile(pidFileOf(paths, process.name), { process: run.record });
      logger.info('started process', {
        instance,
        process: process.name,
        pid: run.record.pid,
        startTime: run.record.startTime,
      });
    }
    if (started.length === 0) return;
    const exits = started.map(({ name, run }) => run.exited.then((exit) => ({ name, exit })));
    const early = await Promise.race([
      ...exits,
      new Promise<undefined>((done) => setTimeout(() => done(undefined), options.startCheckMs)),
    ]);
    const failed = early?.name ?? started.find(({ run }) => !isAlive(run.record))?.name;
    if (failed !== undefined) {
      const tail = redactText(logTail(logFileOf(paths, failed)));
      const exit = early?.exit;
      const how =
        exit?.spawnError !== undefined
          ? ` (${exit.spawnError})`
          : exit?.code !== undefined && exit.code !== null
            ? ` with exit code ${exit.code}`
            : exit?.signal
              ? ` on ${exit.signal}`
              : '';
      throw new HacpError({
        code: ErrorCode.PROVIDER_ERROR,
        message: `Process ${failed} of instance ${instance} exited right after it started${how}.${tail ? ` The end of its log:\n${tail}` : ''}`,
        actions: ['Fix what its log says, then create the instance again.'],
        details: { instance, process: failed, ...(tail ? { logTail: tail } : {}) },
        retryable: false,
      });
    }
  } catch (error) {
    for (const { name, run } of started.reverse()) {
      await stopProcess(run.record, options.stopGraceMs).catch((stopError: unknown) =>
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

/** Stops every recorded process of the instance by pid, last first, and removes their pid files. */
export async function stopProcesses(options: {
  paths: InstancePaths;
  processes: readonly Pick<StoredProcess, 'name'>[];
  instance: string;
  stopGraceMs: number;
  logger: Logger;
}): Promise<void> {
  for (const process of [...options.processes].reverse()) {
    const record = await processRecordOf(options.paths, process.name);
    if (record === undefined) continue;
    await stopProcess(record, options.stopGraceMs);
    await rm(pidFileOf(options.paths, process.name), { force: true });
    options.logger.info('stopped process', {
      instance: options.instance,
      process: process.name,
      pid: record.pid,
    });
  }
}
