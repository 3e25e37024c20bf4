import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, HacpError, type Logger, redactText } from '@hacp/core';
import { ensureDir, readJsonFile, writeJsonFile } from './files.js';
import type { ForwarderConfig, ForwarderStatus } from './forwarder-config.js';
import {
  isAlive,
  logTail,
  type ProcessRecord,
  signalProcess,
  startDetached,
  stopProcess,
} from './processes.js';

/** How long a forwarder gets to apply a config and answer. */
const APPLY_TIMEOUT_MS = 5_000;
/** The fastest a forwarder probes; its status is stale after three missed rounds (and at least 3 s). */
const MIN_STALE_MS = 3_000;

/** The files of one endpoint address's forwarder. */
export interface ForwarderPaths {
  dir: string;
  config: string;
  pidFile: string;
  status: string;
  log: string;
}

/** The forwarder files in an endpoint's folder (`<stateDir>/endpoints/<region>.<address>`). */
export function forwarderPaths(dir: string): ForwarderPaths {
  return {
    dir,
    config: join(dir, 'forwarder.json'),
    pidFile: join(dir, 'forwarder.pid.json'),
    status: join(dir, 'status.json'),
    log: join(dir, 'forwarder.log'),
  };
}

/**
 * The built forwarder script: next to this module once bundled (`dist/index.js` and
 * `dist/forwarder.js`), or in `dist/` when this module runs from `src/` (the package's own tests).
 */
export function defaultForwarderScript(): string | undefined {
  for (const candidate of ['./forwarder.js', '../dist/forwarder.js']) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** DEPENDENCY_MISSING for a package whose forwarder was not built. */
export function forwarderMissing(): HacpError {
  return new HacpError({
    code: ErrorCode.DEPENDENCY_MISSING,
    message: 'The endpoint forwarder (dist/forwarder.js of hacp-provider-example) is missing.',
    actions: ['Build the package: pnpm --filter hacp-provider-example build.'],
    details: { program: 'forwarder.js' },
  });
}

async function readPid(paths: ForwarderPaths): Promise<ProcessRecord | undefined> {
  return (await readJsonFile<{ process?: ProcessRecord }>(paths.pidFile))?.process;
}

async function readStatus(paths: ForwarderPaths): Promise<ForwarderStatus | undefined> {
  try {
    return JSON.parse(await readFile(paths.status, 'utf8')) as ForwarderStatus;
  } catch {
    // Missing, or being replaced right now (the forwarder renames, so only missing in practice).
    return undefined;
  }
}

function unavailable(address: string, why: string, paths: ForwarderPaths): HacpError {
  const tail = redactText(logTail(paths.log));
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `The endpoint of address ${address} is not serving: ${why}.${tail ? ` The end of its log:\n${tail}` : ''}`,
    actions: [`Read ${paths.log}, then retry the call.`],
    details: { address, log: paths.log },
  });
}

/** Stops an endpoint's forwarder by pid and removes its files (the folder stays). */
export async function stopForwarder(paths: ForwarderPaths, graceMs: number): Promise<void> {
  const record = await readPid(paths).catch(() => undefined);
  if (record !== undefined) await stopProcess(record, graceMs);
  for (const file of [paths.pidFile, paths.config, paths.status]) await rm(file, { force: true });
}

/**
 * Makes the forwarder serve `config`: writes it, then signals the running forwarder (SIGHUP) or
 * starts one (`process.execPath forwarder.js`, detached), and waits until it reports this write's
 * generation. Nothing is written or signalled when it serves that config already. The caller
 * serialises calls for one address.
 *
 * @throws HacpError UNAVAILABLE when the forwarder does not answer, dies, or cannot bind a port;
 *   its log tail, without secrets, is in the message.
 */
export async function applyForwarder(options: {
  paths: ForwarderPaths;
  config: Pick<ForwarderConfig, 'listeners' | 'healthCheck'>;
  script: string;
  address: string;
  logger: Logger;
}): Promise<void> {
  const { paths, logger, address } = options;
  const body = { listeners: options.config.listeners, healthCheck: options.config.healthCheck };
  const digest = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  await ensureDir(paths.dir);
  let record = await readPid(paths);
  const running = record !== undefined && isAlive(record);
  const current = running ? await readStatus(paths) : undefined;
  // Serving this config already; one that failed to bind a port is signalled to try again.
  if (current?.pid === record?.pid && current?.digest === digest && current?.error === undefined) return;
  const generation = randomBytes(8).toString('hex');
  const config: Omit<ForwarderConfig, 'format'> = { digest, generation, statusFile: paths.status, ...body };
  await writeJsonFile(paths.config, config);
  if (running && record !== undefined) {
    signalProcess(record, 'SIGHUP');
  } else {
    const started = startDetached({
      command: process.execPath,
      args: [options.script, paths.config],
      cwd: paths.dir,
      logFile: paths.log,
      env: process.env,
    });
    record = started.record;
    await writeJsonFile(paths.pidFile, { process: record });
    logger.info('started forwarder', { address, pid: record.pid, startTime: record.startTime });
  }
  const deadline = Date.now() + APPLY_TIMEOUT_MS;
  for (;;) {
    const status = await readStatus(paths);
    if (status?.pid === record?.pid && status?.generation === generation) {
      if (status?.error !== undefined) throw unavailable(address, status.error, paths);
      return;
    }
    if (record === undefined || !isAlive(record)) throw unavailable(address, 'its forwarder exited', paths);
    if (Date.now() >= deadline) {
      throw unavailable(address, `its forwarder did not answer within ${APPLY_TIMEOUT_MS} ms`, paths);
    }
    await new Promise((done) => setTimeout(done, 20));
  }
}

/**
 * The health of each backend key as the running forwarder last saw it. Empty (every target
 * unhealthy) when no forwarder runs or its report is stale.
 */
export async function forwarderHealth(
  paths: ForwarderPaths,
  intervalMs: number,
): Promise<Record<string, boolean>> {
  const record = await readPid(paths).catch(() => undefined);
  if (record === undefined || !isAlive(record)) return {};
  const status = await readStatus(paths);
  if (status === undefined || status.pid !== record.pid) return {};
  const age = Date.now() - Date.parse(status.updatedAt);
  if (!(age <= Math.max(3 * intervalMs, MIN_STALE_MS))) return {};
  return status.health ?? {};
}
