/**
 * The load balancer kube-up's `create-loadbalancer` made, without its bugs: a target pool
 * `<name>` WITH a legacy HTTP health check `<name>-hc` (kube-up's pool had none), and a forwarding
 * rule `<name>` on the reserved address. Every part is checked before it is made, so a move that
 * failed half-way is completed by calling again (kube-up's `target-pools create` failed on a pool
 * that existed). `prepare` builds everything but the forwarding rule while the address is still on
 * the VM, so the VM-to-load-balancer gap is only the detach and the forwarding rule insert.
 */

import type { protos } from '@google-cloud/compute';
import {
  assertHealthCheck,
  assertPort,
  assertRegionName,
  assertResourceName,
  ErrorCode,
  HacpError,
  type HealthCheck,
  type InstanceRef,
  invalidArgument,
  type LoadBalancer,
  type LoadBalancerApi,
  type LoadBalancerSpec,
  type MutationOptions,
  regionOfZone,
  throwIfAborted,
} from '@hacp/core';
import { type GceAddresses, holderOf } from './addresses.js';
import { type HttpHealthCheckResource, NO_GAX_RETRY } from './compute.js';
import type { GceContext } from './context.js';
import type { GceFirewalls } from './firewalls.js';
import { assertInstanceRef, type GceInstances } from './instances.js';
import {
  assertDerivedNamesFit,
  CLUSTER_LABEL,
  derivedName,
  HEALTH_CHECK_SOURCE_RANGES,
  lastSegment,
  masterTag,
  parseResourceUrl,
} from './names.js';
import { HEALTH_ENDPOINT } from './startup/index.js';

type GceTargetPool = protos.google.cloud.compute.v1.ITargetPool;
type GceInstance = protos.google.cloud.compute.v1.IInstance;

/** What the pool's and the forwarding rule's descriptions remember of the spec. */
interface RememberedSpec {
  address: string;
  port: number;
}

/** The legacy HTTP check a spec's health check becomes; https and tcp go to the replica's health endpoint. */
export function httpCheckOf(name: string, check: HealthCheck): HttpHealthCheckResource {
  const http = check.protocol === 'http';
  return {
    name: derivedName.healthCheck(name),
    // The spec as given: legacy checks cannot say https or tcp, and `get` returns the spec back.
    description: JSON.stringify({ 'hacp-health-check': check }),
    port: http ? check.port : HEALTH_ENDPOINT.port,
    requestPath: http ? (check.path ?? '/') : HEALTH_ENDPOINT.path,
    checkIntervalSec: check.intervalSeconds ?? 5,
    // GCE refuses a timeout longer than the interval.
    timeoutSec: check.timeoutSeconds ?? Math.min(5, check.intervalSeconds ?? 5),
    healthyThreshold: check.healthyThreshold ?? 2,
    unhealthyThreshold: check.unhealthyThreshold ?? 2,
  };
}

function checkFromResource(resource: HttpHealthCheckResource | undefined): HealthCheck {
  try {
    const remembered = (JSON.parse(resource?.description ?? '') as { 'hacp-health-check'?: HealthCheck })[
      'hacp-health-check'
    ];
    if (remembered !== undefined) return remembered;
  } catch {
    // Made by someone else: read its fields.
  }
  return {
    protocol: 'http',
    port: resource?.port ?? 80,
    path: resource?.requestPath ?? '/',
    ...(resource?.checkIntervalSec ? { intervalSeconds: resource.checkIntervalSec } : {}),
    ...(resource?.timeoutSec ? { timeoutSeconds: resource.timeoutSec } : {}),
    ...(resource?.healthyThreshold ? { healthyThreshold: resource.healthyThreshold } : {}),
    ...(resource?.unhealthyThreshold ? { unhealthyThreshold: resource.unhealthyThreshold } : {}),
  };
}

function remembered(description: string | null | undefined): Partial<RememberedSpec> {
  try {
    const parsed = JSON.parse(description ?? '') as Partial<RememberedSpec>;
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return {};
  }
}

function portOf(portRange: string | null | undefined): number | undefined {
  const match = /^(\d+)(?:-\d+)?$/.exec(portRange ?? '');
  return match ? Number(match[1]) : undefined;
}

function notFound(message: string, details: Record<string, unknown>, actions: string[] = []): HacpError {
  return new HacpError({ code: ErrorCode.NOT_FOUND, message, actions, details });
}

function sortedRefs(targets: readonly InstanceRef[]): InstanceRef[] {
  return targets
    .map((target) => ({ name: target.name, zone: target.zone }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.zone < b.zone ? -1 : 1));
}

function assertTargets(targets: readonly InstanceRef[], region: string): void {
  if (!Array.isArray(targets))
    throw invalidArgument({ field: 'targets', message: 'targets must be a list of instances.' });
  const seen = new Set<string>();
  for (const target of targets) {
    assertInstanceRef(target);
    if (seen.has(`${target.zone}/${target.name}`)) {
      throw invalidArgument({
        field: 'targets',
        value: target.name,
        message: `Target ${target.name} appears twice.`,
      });
    }
    seen.add(`${target.zone}/${target.name}`);
    if (regionOfZone(target.zone) !== region) {
      throw new HacpError({
        code: ErrorCode.ZONE_NOT_IN_REGION,
        message: `Target ${target.name} is in zone ${target.zone}, outside region ${region} of the load balancer.`,
        actions: [`Use instances in zones of ${region}.`],
        details: { instance: target.name, zone: target.zone, region },
      });
    }
  }
}

function assertRef(ref: { name: string; region: string }): void {
  assertResourceName('name', ref?.name);
  assertRegionName(ref.region);
  assertDerivedNamesFit('name', ref.name, ['-health', '-hc']);
}

/** A spec's input rules, GCE's included: a target pool cannot translate ports. */
function assertSpec(spec: LoadBalancerSpec): void {
  assertRef(spec);
  assertResourceName('address', spec.address);
  assertPort('port', spec.port);
  if (spec.targetPort !== undefined) {
    assertPort('targetPort', spec.targetPort);
    if (spec.targetPort !== spec.port) {
      throw invalidArgument({
        field: 'targetPort',
        value: spec.targetPort,
        message: `A GCE target pool forwards to the port clients use: targetPort ${spec.targetPort} cannot differ from port ${spec.port}.`,
        actions: [`Leave targetPort out, or set it to ${spec.port}.`],
      });
    }
  }
  assertHealthCheck(spec.healthCheck);
  const { intervalSeconds, timeoutSeconds } = spec.healthCheck;
  if (timeoutSeconds !== undefined && timeoutSeconds > (intervalSeconds ?? 5)) {
    throw invalidArgument({
      field: 'healthCheck.timeoutSeconds',
      value: timeoutSeconds,
      message: `A GCE health check's timeout (${timeoutSeconds} s) cannot be longer than its interval (${intervalSeconds ?? 5} s).`,
      actions: ['Lower healthCheck.timeoutSeconds, or raise healthCheck.intervalSeconds.'],
    });
  }
  assertTargets(spec.targets, spec.region);
}

/**
 * The load balancers of the GCE provider, with the optional `prepare` and `releaseAddress`.
 *
 * @example
 * await loadBalancers.prepare(spec, { requestId: 'move/prepare' });
 * await addresses.detach({ name: spec.address, region }, { requestId: 'move/detach' });
 * await loadBalancers.ensure(spec, { requestId: 'move/ensure' });
 */
export function createGceLoadBalancers(
  context: GceContext,
  parts: { instances: GceInstances; addresses: GceAddresses; firewalls: GceFirewalls },
): Required<LoadBalancerApi> {
  const { session, settings, logger } = context;
  const { instances, addresses, firewalls } = parts;
  const project = settings.project;
  const poolUrl = (ref: { name: string; region: string }) =>
    `projects/${project}/regions/${ref.region}/targetPools/${ref.name}`;
  const checkUrl = (name: string) =>
    `projects/${project}/global/httpHealthChecks/${derivedName.healthCheck(name)}`;

  async function readPool(ref: { name: string; region: string }, signal?: AbortSignal) {
    const found = await session.find(
      { call: `get targetPool regions/${ref.region}/targetPools/${ref.name}`, signal, region: ref.region },
      () =>
        session
          .clients()
          .targetPools.get({ project, region: ref.region, targetPool: ref.name }, NO_GAX_RETRY),
    );
    return found?.[0];
  }

  async function readRule(ref: { name: string; region: string }, signal?: AbortSignal) {
    const found = await session.find(
      {
        call: `get forwardingRule regions/${ref.region}/forwardingRules/${ref.name}`,
        signal,
        region: ref.region,
      },
      () =>
        session
          .clients()
          .forwardingRules.get({ project, region: ref.region, forwardingRule: ref.name }, NO_GAX_RETRY),
    );
    return found?.[0];
  }

  /** Every target, read: NOT_FOUND for one that does not exist. */
  async function readTargets(targets: readonly InstanceRef[], signal?: AbortSignal): Promise<GceInstance[]> {
    const found: GceInstance[] = [];
    for (const target of targets) {
      const instance = await instances.read(target, signal);
      if (instance === undefined) {
        throw notFound(`Target instance ${target.name} does not exist in ${target.zone}.`, { ...target });
      }
      found.push(instance);
    }
    return found;
  }

  /** The address, and CONFLICT when a load balancer other than this one holds it. */
  async function addressFor(spec: LoadBalancerSpec, signal?: AbortSignal) {
    const address = await addresses.require({ name: spec.address, region: spec.region }, signal);
    const holder = holderOf(address);
    const ours = holder?.kind === 'load-balancer' && holder.name === spec.name;
    return { address, holder, ours };
  }

  function conflictOver(spec: LoadBalancerSpec, holder: NonNullable<ReturnType<typeof holderOf>>): HacpError {
    const who =
      holder.kind === 'instance'
        ? `instance ${holder.instance.name}`
        : holder.kind === 'load-balancer'
          ? `load balancer ${holder.name}`
          : holder.url;
    return new HacpError({
      code: ErrorCode.CONFLICT,
      message: `Address ${spec.address} is held by ${who}; load balancer ${spec.name} was not changed.`,
      actions: [
        holder.kind === 'instance'
          ? 'Detach the address from the instance first.'
          : 'Delete that load balancer first.',
      ],
      details: { address: spec.address, holder },
      retryable: false,
    });
  }

  /** Lets GCE's health checkers reach the health port of the targets' clusters. */
  async function ensureHealthFirewall(
    name: string,
    healthPort: number,
    targets: readonly GceInstance[],
    options: MutationOptions,
  ): Promise<void> {
    const tags = [...new Set(targets.map((target) => target.labels?.[CLUSTER_LABEL]).filter(Boolean))]
      .map((cluster) => masterTag(cluster as string))
      .sort();
    if (tags.length === 0) return;
    await firewalls.ensureShape(
      {
        name: derivedName.healthFirewall(name),
        description: `hacp: GCE health checks of load balancer ${name}`,
        protocol: 'tcp',
        ports: [String(healthPort)],
        targetTags: tags,
        sourceRanges: [...HEALTH_CHECK_SOURCE_RANGES],
      },
      options,
    );
  }

  async function ensureHealthCheck(
    spec: LoadBalancerSpec,
    options: MutationOptions,
  ): Promise<HttpHealthCheckResource> {
    const wanted = httpCheckOf(spec.name, spec.healthCheck);
    const name = wanted.name as string;
    const existing = await session.httpHealthChecks.get(name, { signal: options.signal });
    if (existing === undefined) {
      await session.httpHealthChecks.insert(wanted, options);
      logger.info('created health check', { name });
      return wanted;
    }
    const fields = [
      'description',
      'port',
      'requestPath',
      'checkIntervalSec',
      'timeoutSec',
      'healthyThreshold',
      'unhealthyThreshold',
    ] as const;
    if (fields.some((field) => existing[field] !== wanted[field])) {
      await session.httpHealthChecks.patch(name, wanted, options);
      logger.info('updated health check', { name });
    }
    return wanted;
  }

  /** Brings the pool's members to `targets` by difference: adds first, then removes. */
  async function syncTargets(
    ref: { name: string; region: string },
    pool: GceTargetPool,
    targets: readonly InstanceRef[],
    options: MutationOptions,
  ): Promise<void> {
    const key = (target: InstanceRef) => `${target.zone}/${target.name}`;
    const current = new Map<string, InstanceRef>();
    for (const url of pool.instances ?? []) {
      const parsed = parseResourceUrl(url);
      if (parsed.kind === 'instance') current.set(key(parsed), { name: parsed.name, zone: parsed.zone });
    }
    const wanted = new Map(targets.map((target) => [key(target), target]));
    const toAdd = [...wanted.entries()].filter(([id]) => !current.has(id)).map(([, target]) => target);
    const toRemove = [...current.entries()].filter(([id]) => !wanted.has(id)).map(([, target]) => target);
    const scope = { region: ref.region };
    for (const target of sortedRefs(toAdd)) {
      await session.mutate(
        context.mutation(`addInstance ${poolUrl(ref)} ${instances.url(target)}`, scope, options),
        (requestId) =>
          session.clients().targetPools.addInstance(
            {
              project,
              region: ref.region,
              targetPool: ref.name,
              requestId,
              targetPoolsAddInstanceRequestResource: { instances: [{ instance: instances.url(target) }] },
            },
            NO_GAX_RETRY,
          ),
      );
    }
    for (const target of sortedRefs(toRemove)) {
      await session.mutate(
        context.mutation(`removeInstance ${poolUrl(ref)} ${instances.url(target)}`, scope, options),
        (requestId) =>
          session.clients().targetPools.removeInstance(
            {
              project,
              region: ref.region,
              targetPool: ref.name,
              requestId,
              targetPoolsRemoveInstanceRequestResource: { instances: [{ instance: instances.url(target) }] },
            },
            NO_GAX_RETRY,
          ),
      );
    }
  }

  /** Health firewall, health check, target pool with the check and the targets: everything but the rule. */
  async function buildPool(
    spec: LoadBalancerSpec,
    targets: readonly GceInstance[],
    options: MutationOptions,
  ) {
    const check = httpCheckOf(spec.name, spec.healthCheck);
    await ensureHealthFirewall(spec.name, check.port as number, targets, options);
    await ensureHealthCheck(spec, options);
    const pool = await readPool(spec, options.signal);
    if (pool === undefined) {
      throwIfAborted(options.signal);
      const description: RememberedSpec = { address: spec.address, port: spec.port };
      await session.mutate(
        context.mutation(`insert targetPool ${poolUrl(spec)}`, { region: spec.region }, options),
        (requestId) =>
          session.clients().targetPools.insert(
            {
              project,
              region: spec.region,
              requestId,
              targetPoolResource: {
                name: spec.name,
                description: JSON.stringify(description),
                healthChecks: [checkUrl(spec.name)],
                instances: sortedRefs(spec.targets).map((target) => instances.url(target)),
                sessionAffinity: 'NONE',
              },
            },
            NO_GAX_RETRY,
          ),
      );
      logger.info('created target pool', { name: spec.name, targets: spec.targets.length });
      return;
    }
    const checks = (pool.healthChecks ?? []).map((url) => lastSegment(url));
    if (!checks.includes(derivedName.healthCheck(spec.name))) {
      await session.mutate(
        context.mutation(
          `addHealthCheck ${poolUrl(spec)} ${checkUrl(spec.name)}`,
          { region: spec.region },
          options,
        ),
        (requestId) =>
          session.clients().targetPools.addHealthCheck(
            {
              project,
              region: spec.region,
              targetPool: spec.name,
              requestId,
              targetPoolsAddHealthCheckRequestResource: {
                healthChecks: [{ healthCheck: checkUrl(spec.name) }],
              },
            },
            NO_GAX_RETRY,
          ),
      );
    }
    await syncTargets(spec, pool, spec.targets, options);
  }

  async function view(
    ref: { name: string; region: string },
    signal?: AbortSignal,
  ): Promise<LoadBalancer | undefined> {
    const pool = await readPool(ref, signal);
    if (pool === undefined) return undefined;
    const rule = await readRule(ref, signal);
    const check = await session.httpHealthChecks.get(derivedName.healthCheck(ref.name), { signal });
    const fromPool = remembered(pool.description);
    const fromRule = remembered(rule?.description);
    const targets: InstanceRef[] = [];
    for (const url of pool.instances ?? []) {
      const parsed = parseResourceUrl(url);
      if (parsed.kind === 'instance') targets.push({ name: parsed.name, zone: parsed.zone });
    }
    const targetHealth: { instance: InstanceRef; healthy: boolean }[] = [];
    for (const target of sortedRefs(targets)) {
      const health = await session.find(
        { call: `getHealth ${poolUrl(ref)} ${instances.url(target)}`, signal, region: ref.region },
        () =>
          session.clients().targetPools.getHealth(
            {
              project,
              region: ref.region,
              targetPool: ref.name,
              instanceReferenceResource: { instance: instances.url(target) },
            },
            NO_GAX_RETRY,
          ),
      );
      const states = health?.[0]?.healthStatus ?? [];
      targetHealth.push({
        instance: target,
        healthy: states.length > 0 && states.every((state) => String(state.healthState) === 'HEALTHY'),
      });
    }
    return {
      name: ref.name,
      region: ref.region,
      address: fromRule.address ?? fromPool.address ?? '',
      port: portOf(rule?.portRange) ?? fromPool.port ?? 0,
      healthCheck: checkFromResource(check),
      targets: sortedRefs(targets),
      targetHealth,
    };
  }

  async function deleteRule(
    ref: { name: string; region: string },
    options: MutationOptions,
  ): Promise<boolean> {
    return session.mutateIfFound(
      context.mutation(
        `delete forwardingRule regions/${ref.region}/forwardingRules/${ref.name}`,
        { region: ref.region },
        options,
      ),
      (requestId) =>
        session
          .clients()
          .forwardingRules.delete(
            { project, region: ref.region, forwardingRule: ref.name, requestId },
            NO_GAX_RETRY,
          ),
    );
  }

  return {
    async prepare(spec, options) {
      assertSpec(spec);
      throwIfAborted(options.signal);
      const { holder, ours } = await addressFor(spec, options.signal);
      if (holder !== undefined && holder.kind !== 'instance' && !ours) throw conflictOver(spec, holder);
      const targets = await readTargets(spec.targets, options.signal);
      await buildPool(spec, targets, options);
    },

    async ensure(spec, options) {
      assertSpec(spec);
      throwIfAborted(options.signal);
      const { address, holder, ours } = await addressFor(spec, options.signal);
      if (holder !== undefined && !ours) throw conflictOver(spec, holder);
      const targets = await readTargets(spec.targets, options.signal);
      const rule = await readRule(spec, options.signal);
      const ip = address.address ?? '';
      if (
        rule !== undefined &&
        (rule.IPAddress !== ip ||
          lastSegment(rule.target) !== spec.name ||
          portOf(rule.portRange) !== spec.port)
      ) {
        throw new HacpError({
          code: ErrorCode.CONFLICT,
          message: `Forwarding rule ${spec.name} serves ${rule.IPAddress} port ${rule.portRange} to ${lastSegment(rule.target)}, not what the spec asks; it was left as it is.`,
          actions: ['Delete the load balancer first to change its address or port.'],
          details: { name: spec.name, ip: rule.IPAddress, portRange: rule.portRange },
          retryable: false,
        });
      }
      await buildPool(spec, targets, options);
      if (rule === undefined) {
        // A detach that was interrupted between its two calls left a target without external access.
        for (const target of sortedRefs(spec.targets)) await addresses.ensureExternalAccess(target, options);
        throwIfAborted(options.signal);
        const description: RememberedSpec = { address: spec.address, port: spec.port };
        await session.mutate(
          context.mutation(
            `insert forwardingRule regions/${spec.region}/forwardingRules/${spec.name}`,
            { region: spec.region },
            options,
          ),
          (requestId) =>
            session.clients().forwardingRules.insert(
              {
                project,
                region: spec.region,
                requestId,
                forwardingRuleResource: {
                  name: spec.name,
                  description: JSON.stringify(description),
                  IPAddress: ip,
                  IPProtocol: 'TCP',
                  portRange: `${spec.port}-${spec.port}`,
                  loadBalancingScheme: 'EXTERNAL',
                  networkTier: 'PREMIUM',
                  target: poolUrl(spec),
                },
              },
              NO_GAX_RETRY,
            ),
        );
        logger.info('load balancer took the address', { name: spec.name, ip });
      }
      const result = await view(spec, options.signal);
      if (result === undefined) {
        throw new HacpError({
          code: ErrorCode.PROVIDER_ERROR,
          message: `Load balancer ${spec.name} was built but its target pool cannot be read back.`,
          details: { name: spec.name, region: spec.region },
        });
      }
      // The caller's spec, as given: GCE keeps no protocol for https/tcp checks beyond our description.
      return { ...result, address: spec.address, port: spec.port, healthCheck: { ...spec.healthCheck } };
    },

    async get(ref, options) {
      assertRef(ref);
      throwIfAborted(options?.signal);
      return view(ref, options?.signal);
    },

    async setTargets(ref, targets, options) {
      assertRef(ref);
      assertTargets(targets, ref.region);
      throwIfAborted(options.signal);
      const pool = await readPool(ref, options.signal);
      if (pool === undefined) {
        throw notFound(`There is no load balancer ${ref.name} in ${ref.region}.`, { ...ref }, [
          'Create it with ensure first.',
        ]);
      }
      const read = await readTargets(targets, options.signal);
      const check = await session.httpHealthChecks.get(derivedName.healthCheck(ref.name), {
        signal: options.signal,
      });
      if (check?.port != null) await ensureHealthFirewall(ref.name, check.port, read, options);
      await syncTargets(ref, pool, targets, options);
      const result = await view(ref, options.signal);
      if (result === undefined) throw notFound(`Load balancer ${ref.name} went away.`, { ...ref });
      return result;
    },

    async releaseAddress(ref, options) {
      assertRef(ref);
      throwIfAborted(options.signal);
      if (await deleteRule(ref, options))
        logger.info('load balancer released its address', { name: ref.name });
    },

    async delete(ref, options) {
      assertRef(ref);
      throwIfAborted(options.signal);
      await deleteRule(ref, options);
      await session.mutateIfFound(
        context.mutation(`delete targetPool ${poolUrl(ref)}`, { region: ref.region }, options),
        (requestId) =>
          session
            .clients()
            .targetPools.delete(
              { project, region: ref.region, targetPool: ref.name, requestId },
              NO_GAX_RETRY,
            ),
      );
      await session.httpHealthChecks.delete(derivedName.healthCheck(ref.name), options);
      await firewalls.deleteRule(derivedName.healthFirewall(ref.name), options);
      logger.info('deleted load balancer', { name: ref.name });
    },
  };
}
