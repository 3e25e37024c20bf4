/**
 * The load balancer kube-up's `create-loadbalancer` made, without its bugs: a target pool
 * `<name>` WITH a legacy HTTP health check `<name>-hc` (kube-up's pool had none), and a forwarding
 * rule `<name>` on the reserved address. Every part is checked before it is made, so a move that
 * failed half-way is completed by calling again (kube-up's `target-pools create` failed on a pool
 * that existed). `prepare` builds everything but the forwarding rule while the address is still on
 * the VM; `ensure` of the spec this provider prepared then inserts the rule at once (GCE refuses it,
 * changing nothing, when the address or the pool is not as prepared, and ensure goes the careful
 * way), so the VM-to-load-balancer gap is only the detach and the rule's insert. Reads that do not
 * depend on each other go side by side, and a health poll is one `getHealth` per target.
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
  isHacpError,
  type LoadBalancer,
  type LoadBalancerApi,
  type LoadBalancerSpec,
  type MutationOptions,
  regionOfZone,
  type TargetHealth,
  throwIfAborted,
} from '@hacp/core';
import { type GceAddresses, holderOf } from './addresses.js';
import { type HttpHealthCheckResource, NO_GAX_RETRY } from './compute.js';
import type { GceContext } from './context.js';
import { isRefusal } from './errors.js';
import type { GceFirewall, GceFirewalls } from './firewalls.js';
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
type GceAddress = protos.google.cloud.compute.v1.IAddress;

/** What the pool's and the forwarding rule's descriptions remember of the spec. */
interface RememberedSpec {
  address: string;
  port: number;
}

/**
 * The legacy HTTP check a spec's health check becomes: always the replica's health endpoint, with the
 * spec's timing. GCE sends a target pool's checks to the forwarding rule's address, which only a
 * process listening on every address receives: the health endpoint does (`bind *:8081`) and checks
 * the same backend a spec names (kube-apiserver's /readyz, else etcd's /health), where etcd's metrics
 * port listens on the internal IP alone and would never look healthy. Legacy checks cannot say https
 * or tcp either.
 */
export function httpCheckOf(name: string, check: HealthCheck): HttpHealthCheckResource {
  return {
    name: derivedName.healthCheck(name),
    // The spec as given, so that `get` returns it back.
    description: JSON.stringify({ 'hacp-health-check': check }),
    port: HEALTH_ENDPOINT.port,
    requestPath: HEALTH_ENDPOINT.path,
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

/** A load balancer's key in what this provider remembers of it. */
const keyOf = (ref: { name: string; region: string }) => `${ref.region}/${ref.name}`;

/** A spec as `ensure` compares it with the one `prepare` built. */
const specKey = (spec: LoadBalancerSpec) =>
  JSON.stringify({
    ...spec,
    targets: sortedRefs(spec.targets),
    healthCheck: httpCheckOf(spec.name, spec.healthCheck),
  });

/** How long `health` polls the members this provider last read or set before it reads the pool again. */
const MEMBERS_REUSE_MS = 60_000;

/** The instances a pool's `instances` URLs name. */
function membersOf(pool: GceTargetPool): InstanceRef[] {
  const targets: InstanceRef[] = [];
  for (const url of pool.instances ?? []) {
    const parsed = parseResourceUrl(url);
    if (parsed.kind === 'instance') targets.push({ name: parsed.name, zone: parsed.zone });
  }
  return sortedRefs(targets);
}

/**
 * The load balancers of the GCE provider, with the optional `prepare`, `releaseAddress` and `health`.
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
  /** Specs `prepare` built, by load balancer: `ensure` of the same spec takes the address at once. */
  const prepared = new Map<string, string>();
  /** Load balancers whose forwarding rule this provider deleted (`releaseAddress`). */
  const released = new Set<string>();
  /** Each pool's members as this provider last read or set them, for `health`. */
  const members = new Map<string, { targets: InstanceRef[]; at: number }>();

  function rememberMembers(ref: { name: string; region: string }, targets: readonly InstanceRef[]): void {
    members.set(keyOf(ref), { targets: sortedRefs(targets), at: Date.now() });
  }

  async function readPool(ref: { name: string; region: string }, signal?: AbortSignal) {
    const found = await session.find(
      { call: `get targetPool regions/${ref.region}/targetPools/${ref.name}`, signal, region: ref.region },
      () =>
        session
          .clients()
          .targetPools.get({ project, region: ref.region, targetPool: ref.name }, NO_GAX_RETRY),
    );
    const pool = found?.[0];
    if (pool === undefined) members.delete(keyOf(ref));
    else rememberMembers(ref, membersOf(pool));
    return pool;
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
    const rule = found?.[0];
    // A rule that is there was not released, whatever this provider did before.
    if (rule !== undefined) released.delete(keyOf(ref));
    return rule;
  }

  const readCheck = (name: string, signal?: AbortSignal) =>
    session.httpHealthChecks.get(derivedName.healthCheck(name), { signal });

  /** The targets, each read (or as read a moment ago): undefined for one that does not exist. */
  function lookTargets(targets: readonly InstanceRef[], signal?: AbortSignal) {
    return Promise.all(targets.map((target) => instances.look(target, signal)));
  }

  /** The targets as `lookTargets` found them, or NOT_FOUND for the first that does not exist. */
  function requireTargets(targets: readonly InstanceRef[], found: readonly (GceInstance | undefined)[]) {
    return targets.map((target, index) => {
      const instance = found[index];
      if (instance === undefined) {
        throw notFound(`Target instance ${target.name} does not exist in ${target.zone}.`, { ...target });
      }
      return instance;
    });
  }

  /** One target's health, as the pool's check sees it; `find` makes a missing pool or member unhealthy. */
  async function targetHealth(
    ref: { name: string; region: string },
    target: InstanceRef,
    read: 'find' | 'read',
    signal?: AbortSignal,
  ): Promise<TargetHealth> {
    const call = { call: `getHealth ${poolUrl(ref)} ${instances.url(target)}`, signal, region: ref.region };
    const send = () =>
      session.clients().targetPools.getHealth(
        {
          project,
          region: ref.region,
          targetPool: ref.name,
          instanceReferenceResource: { instance: instances.url(target) },
        },
        NO_GAX_RETRY,
      );
    const health = read === 'find' ? await session.find(call, send) : await session.read(call, send);
    const states = health?.[0]?.healthStatus ?? [];
    return {
      instance: { name: target.name, zone: target.zone },
      healthy: states.length > 0 && states.every((state) => String(state.healthState) === 'HEALTHY'),
    };
  }

  /** Every target's health, asked side by side. */
  function healthOf(
    ref: { name: string; region: string },
    targets: readonly InstanceRef[],
    signal?: AbortSignal,
    read: 'find' | 'read' = 'find',
  ): Promise<TargetHealth[]> {
    return Promise.all(sortedRefs(targets).map((target) => targetHealth(ref, target, read, signal)));
  }

  /** The address, and CONFLICT when a load balancer other than this one holds it. */
  function addressState(spec: LoadBalancerSpec, address: GceAddress) {
    const holder = holderOf(address);
    const ours = holder?.kind === 'load-balancer' && holder.name === spec.name;
    return { holder, ours };
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
    known: { existing: GceFirewall | undefined },
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
      known,
    );
  }

  async function ensureHealthCheck(
    spec: LoadBalancerSpec,
    options: MutationOptions,
    existing: HttpHealthCheckResource | undefined,
  ): Promise<void> {
    const wanted = httpCheckOf(spec.name, spec.healthCheck);
    const name = wanted.name as string;
    if (existing === undefined) {
      await session.httpHealthChecks.insert(wanted, options);
      logger.info('created health check', { name });
      return;
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
  }

  /** Brings the pool's members to `targets` by difference: one call adds, then one removes. */
  async function syncTargets(
    ref: { name: string; region: string },
    pool: GceTargetPool,
    targets: readonly InstanceRef[],
    options: MutationOptions,
  ): Promise<void> {
    const key = (target: InstanceRef) => `${target.zone}/${target.name}`;
    const current = new Map(membersOf(pool).map((target) => [key(target), target]));
    const wanted = new Map(targets.map((target) => [key(target), target]));
    const toAdd = sortedRefs([...wanted.entries()].filter(([id]) => !current.has(id)).map(([, t]) => t));
    const toRemove = sortedRefs([...current.entries()].filter(([id]) => !wanted.has(id)).map(([, t]) => t));
    const scope = { region: ref.region };
    const urls = (list: InstanceRef[]) => list.map((target) => instances.url(target));
    members.delete(keyOf(ref));
    if (toAdd.length > 0) {
      await session.mutate(
        context.mutation(`addInstance ${poolUrl(ref)} ${urls(toAdd).join(' ')}`, scope, options),
        (requestId) =>
          session.clients().targetPools.addInstance(
            {
              project,
              region: ref.region,
              targetPool: ref.name,
              requestId,
              targetPoolsAddInstanceRequestResource: {
                instances: urls(toAdd).map((instance) => ({ instance })),
              },
            },
            NO_GAX_RETRY,
          ),
      );
    }
    if (toRemove.length > 0) {
      await session.mutate(
        context.mutation(`removeInstance ${poolUrl(ref)} ${urls(toRemove).join(' ')}`, scope, options),
        (requestId) =>
          session.clients().targetPools.removeInstance(
            {
              project,
              region: ref.region,
              targetPool: ref.name,
              requestId,
              targetPoolsRemoveInstanceRequestResource: {
                instances: urls(toRemove).map((instance) => ({ instance })),
              },
            },
            NO_GAX_RETRY,
          ),
      );
    }
    rememberMembers(ref, targets);
  }

  /** What `buildPool` needs read: the health firewall, the check and the pool. */
  interface PoolParts {
    firewall: GceFirewall | undefined;
    check: HttpHealthCheckResource | undefined;
    pool: GceTargetPool | undefined;
  }

  function readPoolParts(spec: { name: string; region: string }, signal?: AbortSignal) {
    return Promise.all([
      firewalls.read(derivedName.healthFirewall(spec.name), signal),
      readCheck(spec.name, signal),
      readPool(spec, signal),
    ]).then(([firewall, check, pool]): PoolParts => ({ firewall, check, pool }));
  }

  /**
   * Health firewall and health check (side by side), then the target pool with the check and the
   * targets: everything but the rule, from `parts` as just read.
   */
  async function buildPool(
    spec: LoadBalancerSpec,
    targets: readonly GceInstance[],
    options: MutationOptions,
    parts: PoolParts,
  ): Promise<void> {
    const check = httpCheckOf(spec.name, spec.healthCheck);
    await Promise.all([
      ensureHealthFirewall(spec.name, check.port as number, targets, options, { existing: parts.firewall }),
      ensureHealthCheck(spec, options, parts.check),
    ]);
    const { pool } = parts;
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
      rememberMembers(spec, spec.targets);
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

  /** The forwarding rule on the address (its IP, or its URL, which GCE resolves): the take-over. */
  async function insertRule(
    spec: LoadBalancerSpec,
    ipAddress: string,
    purpose: string,
    options: MutationOptions,
  ): Promise<void> {
    const description: RememberedSpec = { address: spec.address, port: spec.port };
    await session.mutate(
      context.mutation(
        `insert forwardingRule regions/${spec.region}/forwardingRules/${spec.name}${purpose}`,
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
              IPAddress: ipAddress,
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
    released.delete(keyOf(spec));
    logger.info('load balancer took the address', { name: spec.name, address: spec.address });
  }

  /**
   * After the rule took the address: targets that a detach left without an external address get an
   * ephemeral one back (side by side), and every target's health is asked, for the result.
   */
  async function afterTakeOver(spec: LoadBalancerSpec, options: MutationOptions): Promise<LoadBalancer> {
    const [targetHealth] = await Promise.all([
      healthOf(spec, spec.targets, options.signal),
      ...spec.targets.map((target) => addresses.ensureExternalAccess(target, options)),
    ]);
    return ensured(spec, targetHealth);
  }

  /** The caller's spec, as given (GCE keeps no protocol for https/tcp checks beyond our description). */
  function ensured(spec: LoadBalancerSpec, targetHealth: TargetHealth[]): LoadBalancer {
    return {
      name: spec.name,
      region: spec.region,
      address: spec.address,
      port: spec.port,
      ...(spec.targetPort === undefined ? {} : { targetPort: spec.targetPort }),
      healthCheck: { ...spec.healthCheck },
      targets: sortedRefs(spec.targets),
      targetHealth,
    };
  }

  /** `ensure` of a spec this provider just prepared: the rule first, by the address's URL. */
  async function takeOverAtOnce(spec: LoadBalancerSpec, options: MutationOptions): Promise<boolean> {
    const addressUrl = `projects/${project}/regions/${spec.region}/addresses/${spec.address}`;
    try {
      await insertRule(spec, addressUrl, ' right after prepare', options);
      return true;
    } catch (error) {
      if (!isRefusal(error)) throw error;
      logger.debug('taking the address at once was refused; reading the load balancer first', {
        name: spec.name,
        error: String(error),
      });
      return false;
    }
  }

  /** `ensure` the careful way: everything read side by side, then what is missing or different made. */
  async function ensureCarefully(spec: LoadBalancerSpec, options: MutationOptions): Promise<LoadBalancer> {
    const [address, rule, found, poolParts] = await Promise.all([
      addresses.require({ name: spec.address, region: spec.region }, options.signal),
      readRule(spec, options.signal),
      Promise.all(spec.targets.map((target) => instances.read(target, options.signal))),
      readPoolParts(spec, options.signal),
    ]);
    const { holder, ours } = addressState(spec, address);
    if (holder !== undefined && !ours) throw conflictOver(spec, holder);
    const targets = requireTargets(spec.targets, found);
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
    await buildPool(spec, targets, options, poolParts);
    if (rule !== undefined) return ensured(spec, await healthOf(spec, spec.targets, options.signal));
    throwIfAborted(options.signal);
    await insertRule(spec, ip, '', options);
    return afterTakeOver(spec, options);
  }

  /** The load balancer as GCE has it: pool, rule and check side by side, then each target's health. */
  async function view(
    ref: { name: string; region: string },
    signal?: AbortSignal,
  ): Promise<LoadBalancer | undefined> {
    const [pool, rule, check] = await Promise.all([
      readPool(ref, signal),
      readRule(ref, signal),
      readCheck(ref.name, signal),
    ]);
    if (pool === undefined) return undefined;
    const fromPool = remembered(pool.description);
    const fromRule = remembered(rule?.description);
    const targets = membersOf(pool);
    return {
      name: ref.name,
      region: ref.region,
      address: fromRule.address ?? fromPool.address ?? '',
      port: portOf(rule?.portRange) ?? fromPool.port ?? 0,
      healthCheck: checkFromResource(check),
      targets,
      targetHealth: await healthOf(ref, targets, signal),
      // Without its forwarding rule the pool serves nothing (someone deleted the rule, or a move
      // between the address's holders is half-way): `ensure` makes it again on the address.
      ...(rule === undefined ? { serving: false } : {}),
    };
  }

  async function deleteRule(
    ref: { name: string; region: string },
    options: MutationOptions,
    purpose = '',
  ): Promise<boolean> {
    const deleted = await session.mutateIfFound(
      context.mutation(
        `delete forwardingRule regions/${ref.region}/forwardingRules/${ref.name}${purpose}`,
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
    released.add(keyOf(ref));
    return deleted;
  }

  async function deletePool(ref: { name: string; region: string }, options: MutationOptions, purpose = '') {
    members.delete(keyOf(ref));
    return session.mutateIfFound(
      context.mutation(`delete targetPool ${poolUrl(ref)}${purpose}`, { region: ref.region }, options),
      (requestId) =>
        session
          .clients()
          .targetPools.delete({ project, region: ref.region, targetPool: ref.name, requestId }, NO_GAX_RETRY),
    );
  }

  /**
   * The rule (unless this provider released it), then the pool, then the check. A pool GCE still
   * finds in use (a rule made since the release) has its rule deleted and is deleted again.
   */
  async function deleteRuleAndPool(ref: { name: string; region: string }, options: MutationOptions) {
    if (!released.has(keyOf(ref))) await deleteRule(ref, options);
    try {
      await deletePool(ref, options);
    } catch (error) {
      if (!isHacpError(error, ErrorCode.CONFLICT)) throw error;
      await deleteRule(ref, options, ' still there');
      await deletePool(ref, options, ' after its rule');
    }
    await session.httpHealthChecks.delete(derivedName.healthCheck(ref.name), options);
  }

  return {
    async prepare(spec, options) {
      assertSpec(spec);
      throwIfAborted(options.signal);
      const [address, found, poolParts] = await Promise.all([
        addresses.require({ name: spec.address, region: spec.region }, options.signal),
        lookTargets(spec.targets, options.signal),
        readPoolParts(spec, options.signal),
      ]);
      const { holder, ours } = addressState(spec, address);
      if (holder !== undefined && holder.kind !== 'instance' && !ours) throw conflictOver(spec, holder);
      await buildPool(spec, requireTargets(spec.targets, found), options, poolParts);
      prepared.set(keyOf(spec), specKey(spec));
    },

    async ensure(spec, options) {
      assertSpec(spec);
      throwIfAborted(options.signal);
      const wasPrepared = prepared.get(keyOf(spec)) === specKey(spec);
      prepared.delete(keyOf(spec));
      if (wasPrepared && (await takeOverAtOnce(spec, options))) return afterTakeOver(spec, options);
      return ensureCarefully(spec, options);
    },

    async get(ref, options) {
      assertRef(ref);
      throwIfAborted(options?.signal);
      return view(ref, options?.signal);
    },

    async health(ref, options) {
      assertRef(ref);
      throwIfAborted(options?.signal);
      const known = members.get(keyOf(ref));
      if (known !== undefined && Date.now() - known.at <= MEMBERS_REUSE_MS) {
        try {
          return await healthOf(ref, known.targets, options?.signal, 'read');
        } catch (error) {
          // Not a member any more, or no pool: the members changed, so read them.
          if (!isHacpError(error, ErrorCode.NOT_FOUND) && !isHacpError(error, ErrorCode.INVALID_ARGUMENT)) {
            throw error;
          }
        }
      }
      const pool = await readPool(ref, options?.signal);
      return pool === undefined ? undefined : healthOf(ref, membersOf(pool), options?.signal);
    },

    async setTargets(ref, targets, options) {
      assertRef(ref);
      assertTargets(targets, ref.region);
      throwIfAborted(options.signal);
      const [pool, rule, check, found, firewall] = await Promise.all([
        readPool(ref, options.signal),
        readRule(ref, options.signal),
        readCheck(ref.name, options.signal),
        lookTargets(targets, options.signal),
        firewalls.read(derivedName.healthFirewall(ref.name), options.signal),
      ]);
      if (pool === undefined) {
        throw notFound(`There is no load balancer ${ref.name} in ${ref.region}.`, { ...ref }, [
          'Create it with ensure first.',
        ]);
      }
      const read = requireTargets(targets, found);
      if (check?.port != null) {
        await ensureHealthFirewall(ref.name, check.port, read, options, { existing: firewall });
      }
      await syncTargets(ref, pool, targets, options);
      const fromPool = remembered(pool.description);
      return {
        name: ref.name,
        region: ref.region,
        address: remembered(rule?.description).address ?? fromPool.address ?? '',
        port: portOf(rule?.portRange) ?? fromPool.port ?? 0,
        healthCheck: checkFromResource(check),
        targets: sortedRefs(targets),
        targetHealth: await healthOf(ref, targets, options.signal),
      };
    },

    async releaseAddress(ref, options) {
      assertRef(ref);
      throwIfAborted(options.signal);
      prepared.delete(keyOf(ref));
      const [pool, rule] = await Promise.all([readPool(ref, options.signal), readRule(ref, options.signal)]);
      if (rule === undefined) {
        released.add(keyOf(ref));
        return;
      }
      const addressName = remembered(rule.description).address ?? remembered(pool?.description).address;
      if (addressName !== undefined)
        addresses.rememberIp({ name: addressName, region: ref.region }, rule.IPAddress ?? '');
      // The last target is where the address goes next: without its ephemeral access config, the
      // attach right after the rule goes is one call (GCE allows one access config per interface).
      const last = pool === undefined ? [] : membersOf(pool);
      if (last.length === 1 && last[0] !== undefined) await addresses.dropExternalAccess(last[0], options);
      if (await deleteRule(ref, options))
        logger.info('load balancer released its address', { name: ref.name });
    },

    async delete(ref, options) {
      assertRef(ref);
      throwIfAborted(options.signal);
      prepared.delete(keyOf(ref));
      // The health firewall depends on nothing else: it goes while the rule, pool and check go.
      await Promise.all([
        deleteRuleAndPool(ref, options),
        firewalls.deleteRule(derivedName.healthFirewall(ref.name), options),
      ]);
      released.delete(keyOf(ref));
      logger.info('deleted load balancer', { name: ref.name });
    },
  };
}
