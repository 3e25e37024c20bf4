import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, HacpError, type Logger, redactText } from '@hacp/core';
import {
  type EndpointDriver,
  type EndpointPlan,
  ensureDir,
  isAlive,
  jsonFiles,
  logTail,
  type ProcessRecord,
  signalProcess,
  startDetached,
  stopProcess,
} from '@hacp/core/provider-kit';
import type { ForwarderConfig, ForwarderStatus } from './forwarder-config.js';

/** How long a forwarder gets to apply a config and answer. */
const APPLY_TIMEOUT_MS = 5_000;
const STOP_GRACE_MS = 2_000;
/** The forwarder probes at least this often, however long the spec's interval. */
const MAX_PROBE_INTERVAL_MS = 5_000;
/** A probe that takes longer than this counts as failed. */
const MAX_PROBE_TIMEOUT_MS = 1_000;
/** Its report is stale after three missed rounds, and at least 3 s. */
const MIN_STALE_MS = 3_000;

const files = jsonFiles({ writer: 'hacp-provider-example' });

/** The forwarder's files in an endpoint's folder (`<stateDir>/endpoints/<region>.<address>`). */
export function forwarderPaths(dir: string) {
  return {
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

/** What the forwarder is told for a plan: each listener's backends by `<zone>/<name>`, and the probes. */
export function forwarderConfigOf(plan: EndpointPlan): Pick<ForwarderConfig, 'listeners' | 'healthCheck'> {
  const key = (server: { zone: string; name: string }) => `${server.zone}/${server.name}`;
  const listeners = plan.listeners.map((listener) => ({
    name: listener.name,
    host: listener.bindHost,
    port: listener.bindPort,
    backends: listener.servers.map((server) => ({ key: key(server), host: server.host, port: server.port })),
  }));
  const check = plan.healthCheck;
  if (check === undefined) return { listeners };
  const targets = (plan.listeners[0]?.servers ?? []).map((server) => ({
    key: key(server),
    host: server.host,
  }));
  return {
    listeners,
    healthCheck: {
      protocol: check.protocol,
      port: check.port,
      path: check.path ?? '/',
      intervalMs: Math.min((check.intervalSeconds ?? 1) * 1000, MAX_PROBE_INTERVAL_MS),
      timeoutMs: Math.min((check.timeoutSeconds ?? 1) * 1000, MAX_PROBE_TIMEOUT_MS),
      healthyThreshold: check.healthyThreshold ?? 1,
      unhealthyThreshold: check.unhealthyThreshold ?? 1,
      targets,
    },
  };
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
  const log = forwarderPaths(dir).log;
  const tail = redactText(logTail(log));
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `The endpoint ${basename(dir)} is not serving: ${why}.${tail ? ` The end of its log:\n${tail}` : ''}`,
    actions: [`Read ${log}, then retry the call.`],
    details: { endpoint: basename(dir), log },
  });
}

/**
 * Example Cloud's endpoints: a detached forwarder (`node forwarder.js <config>`) per address. An
 * apply writes its config and signals it (SIGHUP), or starts it, then waits until its status
 * names this write's generation.
 */
export function forwarderEndpointDriver(options: {
  script: string | undefined;
  logger: Logger;
}): EndpointDriver {
  const recordOf = async (dir: string) =>
    (await files.read<{ process?: ProcessRecord }>(forwarderPaths(dir).pidFile).catch(() => undefined))
      ?.process;
  const running = async (dir: string) => {
    const record = await recordOf(dir);
    return record !== undefined && isAlive(record) ? record : undefined;
  };
  const requireScript = () => {
    if (options.script !== undefined) return options.script;
    throw new HacpError({
      code: ErrorCode.DEPENDENCY_MISSING,
      message: 'The endpoint forwarder (dist/forwarder.js of hacp-provider-example) is missing.',
      actions: ['Build the package: pnpm --filter hacp-provider-example build.'],
      details: { program: 'forwarder.js' },
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
      if (Date.now() >= deadline)
        throw unavailable(dir, `its forwarder did not answer within ${APPLY_TIMEOUT_MS} ms`);
      await new Promise((done) => setTimeout(done, 20));
    }
  }

  return {
    assertAvailable() {
      requireScript();
    },
    async apply({ dir, plan }) {
      const paths = forwarderPaths(dir);
      const body = forwarderConfigOf(plan);
      const digest = createHash('sha256').update(JSON.stringify(body)).digest('hex');
      const generation = randomBytes(8).toString('hex');
      await ensureDir(dir);
      await files.write(paths.config, { digest, generation, statusFile: paths.status, ...body });
      let record = await running(dir);
      if (record !== undefined) {
        signalProcess(record, 'SIGHUP');
      } else {
        const started = startDetached({
          command: process.execPath,
          args: [requireScript(), paths.config],
          cwd: dir,
          logFile: paths.log,
        });
        record = started.record;
        await files.write(paths.pidFile, { process: record });
        options.logger.info('started forwarder', {
          endpoint: basename(dir),
          pid: record.pid,
          startTime: record.startTime,
        });
      }
      await awaitGeneration(dir, record, generation);
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
      const config = await files.read<ForwarderConfig>(paths.config).catch(() => undefined);
      const age = Date.now() - Date.parse(status?.updatedAt ?? '');
      const fresh =
        status?.pid === record?.pid &&
        age <= Math.max(3 * (config?.healthCheck?.intervalMs ?? 0), MIN_STALE_MS);
      const health = fresh ? Object.entries(status?.health ?? {}) : [];
      // Backend keys are `<zone>/<name>`; the kit asks by name.
      return new Map(health.map(([key, healthy]) => [key.slice(key.indexOf('/') + 1), healthy]));
    },
  };
}
