import type { Logger } from '@hacp/core';
import { resolveReference } from './links.js';
import type { Json, ProjectState, ServerContext } from './model.js';
import { interfacesOf } from './network.js';
import type { VmRuntime } from './vm-runtime.js';
import type { VpcRouting } from './vpc.js';

/** How long one health probe may take, as a health check's default timeoutSec (5 s) would. */
const PROBE_TIMEOUT_MS = 5000;

type HealthState = 'HEALTHY' | 'UNHEALTHY';

interface MemberHealth {
  state: HealthState;
  successes: number;
  failures: number;
  nextProbeAt: number;
  probing: boolean;
}

/** A legacy HTTP health check's settings, with GCE's defaults. */
interface CheckSettings {
  port: number;
  requestPath: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

/**
 * The load balancer's data path and health checks, kept in step with the API's resources:
 * - health is checked the way GCE checks a target pool's members: every `checkIntervalSec`, an HTTP
 *   GET to the forwarding rule's IP at the check's port and path, delivered inside each member VM (so
 *   only a process listening on that address, or on 0.0.0.0, answers), a member turning HEALTHY after
 *   `healthyThreshold` successes and UNHEALTHY after `unhealthyThreshold` failures (new members start
 *   UNHEALTHY); a pool without a check counts every running member healthy; a pool no forwarding rule
 *   points at is not checked;
 * - packets to a forwarding rule's IP go to its pool's healthy running members (to all running members
 *   when none is healthy, as GCE does); an instance's external IP goes to the instance (one-to-one NAT).
 */
export interface DataPath {
  /** A member's health as last checked; UNHEALTHY when never checked or not running. */
  health(project: ProjectState, poolPath: string, instancePath: string): HealthState;
  /** Re-reads the resources and applies routing now (after an operation changed them). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

function settingsOf(check: Json): CheckSettings {
  const http = (check.httpHealthCheck as Json | undefined) ?? check;
  const seconds = (value: unknown, fallback: number) => (Number(value) > 0 ? Number(value) : fallback) * 1000;
  return {
    port: Number(http.port ?? 80),
    requestPath: String(http.requestPath ?? '/'),
    intervalMs: seconds(check.checkIntervalSec, 5),
    timeoutMs: Math.min(seconds(check.timeoutSec, 5), PROBE_TIMEOUT_MS),
    healthyThreshold: Number(check.healthyThreshold ?? 2),
    unhealthyThreshold: Number(check.unhealthyThreshold ?? 2),
  };
}

/** Every forwarding rule of the project, with the pool path it targets. */
function rulesByPool(project: ProjectState, ownRoots: readonly string[]): Map<string, Json[]> {
  const rules = new Map<string, Json[]>();
  for (const [path, resource] of project.resources) {
    if (!/^regions\/[^/]+\/forwardingRules\//.test(path) || typeof resource.target !== 'string') continue;
    const pool = resolveReference(resource.target, { project: project.name, ownRoots })?.path;
    if (pool === undefined) continue;
    rules.set(pool, [...(rules.get(pool) ?? []), resource]);
  }
  return rules;
}

function pools(project: ProjectState): [string, Json][] {
  return [...project.resources].filter(([path]) => /^regions\/[^/]+\/targetPools\//.test(path));
}

function instanceAt(
  project: ProjectState,
  ownRoots: readonly string[],
  link: string,
): [string, Json] | undefined {
  const path = resolveReference(link, { project: project.name, ownRoots })?.path;
  const instance = path === undefined ? undefined : project.resources.get(path);
  return path === undefined || instance === undefined ? undefined : [path, instance];
}

/** Starts checking health and keeping the VPC's routes in step; `intervalMs` is how often it looks. */
export function startDataPath(options: {
  server: ServerContext;
  runtime: VmRuntime;
  logger: Logger;
  intervalMs?: number;
}): DataPath {
  const { server, runtime, logger } = options;
  const members = new Map<string, MemberHealth>();
  let closed = false;
  let syncing: Promise<void> = Promise.resolve();
  const keyOf = (project: string, pool: string, instance: string) => `${project}|${pool}|${instance}`;

  function checkOf(project: ProjectState, pool: Json): CheckSettings | undefined {
    const link = ((pool.healthChecks as string[] | undefined) ?? [])[0];
    if (link === undefined) return undefined;
    const check = project.resources.get(
      resolveReference(link, { project: project.name, ownRoots: server.ownRoots })?.path ?? '',
    );
    return check === undefined ? undefined : settingsOf(check);
  }

  function probe(member: MemberHealth, instance: Json, check: CheckSettings, ruleIp: string): void {
    member.probing = true;
    member.nextProbeAt = Date.now() + check.intervalMs;
    const zone =
      String(instance.zone ?? '')
        .split('/')
        .pop() ?? '';
    const url = `http://${ruleIp}:${check.port}${check.requestPath}`;
    void runtime
      .probeFrom(String(instance.name), zone, url, check.timeoutMs)
      .then((healthy) => {
        member.probing = false;
        const before = member.state;
        if (healthy) {
          member.successes += 1;
          member.failures = 0;
          if (member.successes >= check.healthyThreshold) member.state = 'HEALTHY';
        } else {
          member.failures += 1;
          member.successes = 0;
          if (member.failures >= check.unhealthyThreshold) member.state = 'UNHEALTHY';
        }
        // Packets follow health at once, not at the next look.
        if (member.state !== before) void sync();
      })
      .catch(() => {
        member.probing = false;
      });
  }

  /** Probes what is due and returns the routing the resources and health call for. */
  function plan(): VpcRouting {
    const nat = new Map<string, string>();
    const forwarding = new Map<string, string[]>();
    const local = new Map<string, string[]>();
    const seen = new Set<string>();
    for (const project of server.projects.values()) {
      for (const [path, instance] of project.resources) {
        if (!/^zones\/[^/]+\/instances\//.test(path) || instance.status !== 'RUNNING') continue;
        for (const nic of interfacesOf(instance)) {
          for (const config of nic.accessConfigs ?? []) {
            if (config.natIP !== undefined) nat.set(config.natIP, nic.networkIP);
          }
        }
      }
      const rules = rulesByPool(project, server.ownRoots);
      for (const [poolPath, pool] of pools(project)) {
        const poolRules = rules.get(poolPath) ?? [];
        const check = checkOf(project, pool);
        const running: string[] = [];
        const healthy: string[] = [];
        for (const link of (pool.instances as string[] | undefined) ?? []) {
          const found = instanceAt(project, server.ownRoots, link);
          if (found === undefined) continue;
          const [instancePath, instance] = found;
          const zone =
            String(instance.zone ?? '')
              .split('/')
              .pop() ?? '';
          const ip = interfacesOf(instance)[0]?.networkIP;
          if (ip === undefined) continue;
          const vmKey = `${zone}/${String(instance.name)}`;
          local.set(vmKey, [...(local.get(vmKey) ?? []), ...poolRules.map((rule) => String(rule.IPAddress))]);
          if (instance.status !== 'RUNNING') continue;
          running.push(ip);
          const key = keyOf(project.name, poolPath, instancePath);
          seen.add(key);
          let member = members.get(key);
          if (member === undefined) {
            member = { state: 'UNHEALTHY', successes: 0, failures: 0, nextProbeAt: 0, probing: false };
            members.set(key, member);
          }
          if (check === undefined) member.state = 'HEALTHY';
          else if (poolRules.length > 0 && !member.probing && Date.now() >= member.nextProbeAt) {
            probe(member, instance, check, String(poolRules[0]?.IPAddress));
          }
          if (member.state === 'HEALTHY') healthy.push(ip);
        }
        for (const rule of poolRules) {
          forwarding.set(String(rule.IPAddress), healthy.length > 0 ? healthy : running);
        }
      }
    }
    for (const key of members.keys()) if (!seen.has(key)) members.delete(key);
    return { nat, forwarding, local };
  }

  function sync(): Promise<void> {
    syncing = syncing
      .then(async () => {
        if (!closed) await runtime.vpc.apply(plan());
      })
      .catch((error: unknown) => {
        // Tests see it with the VM runtime's failures; GCE's API would report nothing either.
        server.runtimeErrors.push({ instance: '(data path)', action: 'route', error: String(error) });
        logger.error('compute api data path failed', { error: String(error) });
      });
    return syncing;
  }

  const timer = setInterval(() => void sync(), options.intervalMs ?? 500);
  timer.unref();

  return {
    health(project, poolPath, instancePath) {
      return members.get(keyOf(project.name, poolPath, instancePath))?.state ?? 'UNHEALTHY';
    },
    sync,
    async close() {
      closed = true;
      clearInterval(timer);
      await syncing;
    },
  };
}
