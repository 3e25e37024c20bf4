import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, HacpError } from '../errors.js';
import { redactText } from '../redact.js';
import type { ProcessCloud } from './cloud.js';
import type { EndpointDriver, EndpointPlan } from './endpoints.js';
import { ensureDir } from './json-files.js';
import {
  isAlive,
  logTail,
  type ProcessRecord,
  signalProcess,
  startDetached,
  stopProcess,
} from './processes.js';
import { sleep } from './sleep.js';

/** How long a forwarder gets to apply a config and answer. */
const APPLY_TIMEOUT_MS = 5_000;
const STOP_GRACE_MS = 2_000;
/** The forwarder probes at least this often, however long the check's interval. */
const MAX_PROBE_INTERVAL_MS = 5_000;
/** A probe that takes longer than this counts as failed. */
const MAX_PROBE_TIMEOUT_MS = 1_000;
/** Its report is stale after three missed rounds, and at least 3 s. */
const MIN_STALE_MS = 3_000;

/** What the driver tells the forwarder (`forwarder.json`): the plan, and where to answer. */
export interface ForwarderConfig {
  /** New on every write, echoed in the status once this write is applied. */
  generation: string;
  /** Where the forwarder writes its ForwarderStatus. */
  statusFile: string;
  plan: EndpointPlan;
  /** The plan's health check as run: a round every `intervalMs`, a probe failing after `timeoutMs`. */
  intervalMs: number;
  timeoutMs: number;
}

/** What the forwarder reports (`status.json`) after each (re)load and each health-check round. */
export interface ForwarderStatus {
  pid: number;
  /** The generation of the config applied. */
  generation: string;
  updatedAt: string;
  /** `host:port` of each listener bound. */
  listening: string[];
  /** Each checked server's health by name; only with a health check. */
  health: Record<string, boolean>;
  /** Why a listener could not be bound, when one could not. */
  error?: string;
}

/** The forwarder's files in an endpoint's folder. */
export function forwarderPaths(dir: string) {
  return {
    config: join(dir, 'forwarder.json'),
    pidFile: join(dir, 'forwarder.pid.json'),
    status: join(dir, 'status.json'),
    log: join(dir, 'forwarder.log'),
  };
}

/**
 * The built forwarder program: beside the bundled kit (`dist/provider-kit/forwarder.js`), or in
 * `dist/` when the kit runs from `src/` (its own tests); undefined when the package was not built.
 */
export function forwarderScript(): string | undefined {
  for (const candidate of [
    './forwarder.js',
    './provider-kit/forwarder.js',
    '../../dist/provider-kit/forwarder.js',
  ]) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

async function readStatus(path: string): Promise<ForwarderStatus | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ForwarderStatus;
  } catch {
    // Missing, or being replaced right now (the forwarder renames, so only missing in practice).
    return undefined;
  }
}

function unavailable(dir: string, why: string): HacpError {
  const { log } = forwarderPaths(dir);
  const tail = redactText(logTail(log));
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `The endpoint ${basename(dir)} is not serving: ${why}.${tail ? ` The end of its log:\n${tail}` : ''}`,
    actions: [`Read ${log}, then retry the call.`],
    details: { endpoint: basename(dir), log },
  });
}

/**
 * The kit's own endpoint program, for a provider that brings none: a detached TCP forwarder per
 * address (`node forwarder.js <config>`, Node's built-ins only), round robin over the servers its
 * health check (tcp, http or https, at most every 5 s, 1 s timeout) finds healthy. An apply writes
 * its config and signals it (SIGHUP), or starts it, then waits until its status names this write.
 * It logs `started forwarder` with the pid and start time.
 *
 * @example
 * const { groups } = createProcessProvider({ cloud, networks, endpoint: forwarderEndpointDriver(cloud), ... });
 * @throws HacpError DEPENDENCY_MISSING (from assertAvailable and apply) when the forwarder program
 *   is missing; UNAVAILABLE (from apply) when it cannot bind a port (the message says which) or
 *   does not answer within 5 s.
 */
export function forwarderEndpointDriver(
  cloud: Pick<ProcessCloud, 'files' | 'logger'>,
  /** `script`: the forwarder program; default the one built beside the kit. */
  settings: { script?: string } = {},
): EndpointDriver {
  const script = settings.script ?? forwarderScript();
  const recordOf = async (dir: string) =>
    (await cloud.files.read<{ process?: ProcessRecord }>(forwarderPaths(dir).pidFile).catch(() => undefined))
      ?.process;
  const running = async (dir: string) => {
    const record = await recordOf(dir);
    return record !== undefined && isAlive(record) ? record : undefined;
  };
  const requireScript = () => {
    if (script !== undefined && existsSync(script)) return script;
    throw new HacpError({
      code: ErrorCode.DEPENDENCY_MISSING,
      message: `The endpoint forwarder of @hacp/core (dist/provider-kit/forwarder.js) is missing${script ? ` at ${script}` : ''}.`,
      actions: ['Build @hacp/core (pnpm --filter @hacp/core build), or install it again.'],
      details: { program: script ?? 'forwarder.js' },
    });
  };

  async function awaitGeneration(dir: string, record: ProcessRecord, generation: string): Promise<void> {
    const deadline = Date.now() + APPLY_TIMEOUT_MS;
    for (;;) {
      const status = await readStatus(forwarderPaths(dir).status);
      if (status?.pid === record.pid && status.generation === generation) {
        if (status.error !== undefined) throw unavailable(dir, status.error);
        return;
      }
      if (!isAlive(record)) throw unavailable(dir, 'its forwarder exited');
      if (Date.now() >= deadline) {
        throw unavailable(dir, `its forwarder did not answer within ${APPLY_TIMEOUT_MS} ms`);
      }
      await sleep(20);
    }
  }

  return {
    assertAvailable() {
      requireScript();
    },
    async apply({ dir, plan }) {
      const program = requireScript();
      const paths = forwarderPaths(dir);
      const check = plan.healthCheck;
      const config: ForwarderConfig = {
        generation: randomBytes(8).toString('hex'),
        statusFile: paths.status,
        plan,
        intervalMs: Math.min((check?.intervalSeconds ?? 1) * 1000, MAX_PROBE_INTERVAL_MS),
        timeoutMs: Math.min((check?.timeoutSeconds ?? 1) * 1000, MAX_PROBE_TIMEOUT_MS),
      };
      await ensureDir(dir);
      await cloud.files.write(paths.config, config);
      let record = await running(dir);
      if (record !== undefined) {
        signalProcess(record, 'SIGHUP');
      } else {
        const started = startDetached({
          command: process.execPath,
          args: [program, paths.config],
          cwd: dir,
          logFile: paths.log,
        });
        record = started.record;
        await cloud.files.write(paths.pidFile, { process: record });
        cloud.logger.info('started forwarder', {
          endpoint: basename(dir),
          pid: record.pid,
          startTime: record.startTime,
        });
      }
      await awaitGeneration(dir, record, config.generation);
    },
    async stop(dir) {
      const paths = forwarderPaths(dir);
      const record = await recordOf(dir);
      if (record !== undefined) await stopProcess(record, { graceMs: STOP_GRACE_MS });
      for (const file of [paths.pidFile, paths.config, paths.status]) await rm(file, { force: true });
    },
    running: async (dir) => (await running(dir)) !== undefined,
    async health(dir) {
      const paths = forwarderPaths(dir);
      const record = await running(dir);
      const status = record === undefined ? undefined : await readStatus(paths.status);
      const config = await cloud.files.read<ForwarderConfig>(paths.config).catch(() => undefined);
      const age = Date.now() - Date.parse(status?.updatedAt ?? '');
      const fresh =
        status?.pid === record?.pid && age <= Math.max(3 * (config?.intervalMs ?? 0), MIN_STALE_MS);
      return new Map(fresh ? Object.entries(status?.health ?? {}) : []);
    },
  };
}
