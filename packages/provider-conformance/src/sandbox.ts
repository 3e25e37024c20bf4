/**
 * Everything one conformance test creates, under names no other test (or other run) uses, and the
 * cleanup that deletes it again whatever the test's outcome.
 */
import { AssertionError } from 'node:assert';
import { randomBytes } from 'node:crypto';
import {
  type Address,
  type AddressRef,
  firstReplicaName,
  type Instance,
  type InstanceRef,
  type InstanceSpec,
  isHacpError,
  type NodeConfig,
  type ProviderV1,
  regionOfZone,
  Secret,
  type StateLock,
} from '@hacp/core';
import { describeOutcome } from './assertions.js';
import type { ConformanceCapabilities, ConformanceOptions } from './types.js';

/** What `Sandbox.skip` throws, for runInSandbox to hand to the runner once it has cleaned up. */
class SkipRequest extends Error {
  constructor(
    readonly reason: string,
    readonly remedy: string,
  ) {
    super(`skipped: ${reason}`);
  }
}

function hex(length: number): string {
  return randomBytes(Math.ceil(length / 2))
    .toString('hex')
    .slice(0, length);
}

/**
 * What test instances run unless the capabilities say otherwise: a 0644 file, a 0600 Secret file
 * (a random value, not a real key) and one process, `sleep 3600`.
 *
 * @example
 * // Keep the files, run your own idle process instead of sleep.
 * capabilities: {
 *   nodeConfig: (name) => ({ ...defaultNodeConfig(name), processes: [{ name: 'idle', command: '/bin/idle', args: [] }] }),
 * }
 */
export function defaultNodeConfig(instanceName: string): NodeConfig {
  return {
    files: [
      {
        path: 'conformance/instance.txt',
        mode: 0o644,
        contents: `conformance test instance ${instanceName}\n`,
      },
      // Not a real key: it only proves the provider writes a Secret's value with a 0600 mode.
      { path: 'conformance/instance.key', mode: 0o600, contents: new Secret(`not-a-key-${hex(16)}\n`) },
    ],
    processes: [{ name: 'idle', command: 'sleep', args: ['3600'] }],
  };
}

/** The region of a zone, or undefined for a malformed zone (the zone checks report those). */
function regionOrUndefined(zone: string): string | undefined {
  try {
    return regionOfZone(zone);
  } catch {
    return undefined;
  }
}

/** Zones from `zones.list()`: the first, then the next in its region, else simply the next. */
function pickZones(offered: readonly string[]): string[] {
  const [first, ...rest] = offered;
  if (first === undefined) return [];
  const region = regionOrUndefined(first);
  const second = rest.find((zone) => regionOrUndefined(zone) === region) ?? rest[0];
  return second === undefined ? [first] : [first, second];
}

const key = (ref: { name: string; zone?: string; region?: string }) =>
  `${ref.zone ?? ref.region ?? ''}/${ref.name}`;

/**
 * One test's provider, names and resources. Every name it hands out is tracked, before the call that
 * creates the resource, so that cleanup also finds what a failed call made half-way.
 */
export class Sandbox {
  /** The test cluster: `conf-<6 hex>`. */
  readonly cluster = Sandbox.newClusterName();

  /**
   * Ends the test as skipped, not passed: for a check of an optional method the provider lacks.
   * `remedy` says how to leave the check out on a runner that cannot skip at run time (jest).
   */
  skip(reason: string, remedy: string): never {
    throw new SkipRequest(reason, remedy);
  }
  readonly #clusters = new Set<string>([this.cluster]);
  readonly #instances = new Map<string, InstanceRef>();
  readonly #addresses = new Map<string, AddressRef>();
  readonly #loadBalancers = new Map<string, { name: string; region: string }>();
  readonly #firewalls = new Set<string>();
  readonly #stateKeys = new Set<string>();
  readonly #locks: StateLock[] = [];
  readonly #usedNames = new Set<string>();
  #requests = 0;

  private constructor(
    readonly provider: ProviderV1,
    readonly capabilities: ConformanceCapabilities,
    readonly zones: readonly string[],
    private readonly zonesProblem: string | undefined,
  ) {}

  /** A cluster name no other test or run uses: `conf-<6 hex>`. */
  static newClusterName(): string {
    return `conf-${hex(6)}`;
  }

  /** Makes the provider and finds the zones to use; a zone listing failure surfaces in the tests that need zones. */
  static async open(options: ConformanceOptions): Promise<Sandbox> {
    const provider = await options.create();
    const capabilities = options.capabilities ?? {};
    if (capabilities.zones !== undefined) {
      const problem = capabilities.zones.length === 0 ? 'capabilities.zones is empty' : undefined;
      return new Sandbox(provider, capabilities, capabilities.zones, problem);
    }
    try {
      const offered = await provider.zones.list();
      const zones = pickZones(offered.map((zone) => zone.name));
      return new Sandbox(
        provider,
        capabilities,
        zones,
        zones.length === 0 ? 'zones.list() offered no zone' : undefined,
      );
    } catch (error) {
      return new Sandbox(provider, capabilities, [], `zones.list() threw ${describeOutcome(error)}`);
    }
  }

  /** The zone test resources go in. */
  get zone(): string {
    const zone = this.zones[0];
    if (zone === undefined) {
      throw new AssertionError({
        message: `There is no zone to place test instances in: ${this.zonesProblem}.`,
      });
    }
    return zone;
  }

  /** A second zone, the first one when the provider offers only one. */
  get secondZone(): string {
    return this.zones[1] ?? this.zone;
  }

  /** A zone other than `zone` in the same region when there is one, for an address's second instance. */
  get peerZone(): string {
    return regionOfZone(this.secondZone) === this.region ? this.secondZone : this.zone;
  }

  /** The region of `zone`, where the test's address and load balancer go. */
  get region(): string {
    return regionOfZone(this.zone);
  }

  /** A fresh idempotency token; pass the same one again to repeat a change. */
  requestId(): string {
    this.#requests += 1;
    return `${this.cluster}-request-${this.#requests}-${hex(4)}`;
  }

  /** Another cluster name, whose instances cleanup deletes too. */
  otherCluster(): string {
    const cluster = Sandbox.newClusterName();
    this.#clusters.add(cluster);
    return cluster;
  }

  /** A replica name not used yet in this test: `<cluster>-master`, then `<cluster>-master-<3 hex>`. */
  instanceName(cluster = this.cluster): string {
    let name = firstReplicaName(cluster);
    while (this.#usedNames.has(name)) name = `${firstReplicaName(cluster)}-${hex(3)}`;
    this.#usedNames.add(name);
    return name;
  }

  /** What the instance runs: `capabilities.nodeConfig`, else `defaultNodeConfig`. */
  nodeConfig(instanceName: string): NodeConfig {
    return (this.capabilities.nodeConfig ?? defaultNodeConfig)(instanceName);
  }

  /** A complete spec for a new instance of the test cluster, tracked for cleanup. */
  instanceSpec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
    const cluster = overrides.cluster ?? this.cluster;
    const name = overrides.name ?? this.instanceName(cluster);
    const spec = { name, zone: this.zone, cluster, nodeConfig: this.nodeConfig(name), ...overrides };
    this.trackInstance(spec);
    return spec;
  }

  /** Creates an instance (tracked before the call, so a half-made one is deleted too). */
  async createInstance(overrides: Partial<InstanceSpec> = {}): Promise<Instance> {
    return this.provider.instances.create(this.instanceSpec(overrides), { requestId: this.requestId() });
  }

  /** Has cleanup delete this instance (and its network allocation). */
  trackInstance(ref: InstanceRef): void {
    this.#instances.set(key(ref), { name: ref.name, zone: ref.zone });
  }

  /** The test cluster's endpoint address: `<cluster>-master-ip` in the test region. */
  addressRef(): AddressRef {
    return this.trackAddress({ name: `${this.cluster}-master-ip`, region: this.region });
  }

  /** Has cleanup detach and release this address. */
  trackAddress(ref: AddressRef): AddressRef {
    this.#addresses.set(key(ref), ref);
    return ref;
  }

  /** Reserves the test cluster's endpoint address. */
  async reserveAddress(): Promise<Address> {
    return this.provider.addresses.reserve(this.addressRef(), { requestId: this.requestId() });
  }

  /** The test cluster's load balancer: `<cluster>-master-lb` in the test region, tracked for cleanup. */
  loadBalancerRef(): { name: string; region: string } {
    const ref = { name: `${this.cluster}-master-lb`, region: this.region };
    this.#loadBalancers.set(key(ref), ref);
    return ref;
  }

  /** A firewall rule name `<cluster>-<suffix>`, tracked for cleanup. */
  firewallName(suffix: string): string {
    const name = `${this.cluster}-${suffix}`;
    this.#firewalls.add(name);
    return name;
  }

  /** A state key under the test's own prefix `<cluster>/`. */
  stateKey(suffix: string): string {
    return this.trackStateKey(`${this.cluster}/${suffix}`);
  }

  /** Has cleanup delete this state key. */
  trackStateKey(stateKey: string): string {
    this.#stateKeys.add(stateKey);
    return stateKey;
  }

  /** The name of the test's lock. */
  lockName(): string {
    return `${this.cluster}-lock`;
  }

  /** Has cleanup release this lock. */
  trackLock(lock: StateLock): StateLock {
    this.#locks.push(lock);
    return lock;
  }

  /**
   * Deletes what the test made, in dependency order (load balancers free addresses, addresses are
   * detached before release). Gone already counts as done.
   * @returns what could not be deleted, one line each.
   */
  async cleanUp(): Promise<string[]> {
    const problems: string[] = [];
    const attempt = async (what: string, run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (error) {
        if (!isHacpError(error, 'NOT_FOUND')) problems.push(`${what} threw ${describeOutcome(error)}`);
      }
    };
    const { provider } = this;
    for (const lock of this.#locks) await attempt(`releasing lock ${lock.name}`, () => lock.release());
    for (const ref of this.#loadBalancers.values()) {
      await attempt(`deleting load balancer ${ref.name}`, () =>
        provider.loadBalancers.delete(ref, { requestId: this.requestId() }),
      );
    }
    for (const ref of this.#addresses.values()) {
      await attempt(`releasing address ${ref.name}`, async () => {
        const address = await provider.addresses.get(ref);
        if (address === undefined) return;
        if (address.holder?.kind === 'instance') {
          await provider.addresses.detach(ref, { requestId: this.requestId() });
        }
        await provider.addresses.release(ref, { requestId: this.requestId() });
      });
    }
    const instances = new Map(this.#instances);
    for (const cluster of this.#clusters) {
      await attempt(`listing the instances of cluster ${cluster}`, async () => {
        for (const instance of await provider.instances.list({ cluster }))
          instances.set(key(instance), instance);
      });
    }
    for (const ref of instances.values()) {
      await attempt(`deleting instance ${ref.name} in ${ref.zone}`, () =>
        provider.instances.delete({ name: ref.name, zone: ref.zone }, { requestId: this.requestId() }),
      );
    }
    for (const name of this.#firewalls) {
      await attempt(`deleting firewall rule ${name}`, () =>
        provider.firewalls.delete(name, { requestId: this.requestId() }),
      );
    }
    for (const stateKey of this.#stateKeys) {
      await attempt(`deleting state key ${stateKey}`, async () => {
        const record = await provider.state.get(stateKey);
        if (record === undefined) return;
        await provider.state.delete(stateKey, {
          requestId: this.requestId(),
          expectedVersion: record.version,
        });
      });
    }
    return problems;
  }
}

/** The test runner's handles on the running test: `this` (mocha) and the first argument (vitest, node:test). */
export interface RunnerContext {
  self?: unknown;
  context?: unknown;
}

/**
 * Marks the running test skipped through whatever the runner offers: vitest's `context.skip(note)`
 * (throws), node:test's `t.skip(message)` (returns), mocha's `this.skip()` (throws).
 *
 * @throws AssertionError on a runner that cannot skip at run time (jest), saying how to leave the
 *   check out.
 */
function skipTest(runner: RunnerContext, request: SkipRequest): void {
  for (const candidate of [runner.context, runner.self]) {
    const skip = (candidate as { skip?: unknown } | undefined)?.skip;
    // vitest 4's test context is itself a function, with skip on it.
    const holder = (typeof candidate === 'object' && candidate !== null) || typeof candidate === 'function';
    if (holder && typeof skip === 'function') {
      skip.call(candidate, request.reason);
      return;
    }
  }
  throw new AssertionError({
    message: `This check does not apply (${request.reason}), and this test runner cannot skip a test while it runs: ${request.remedy}.`,
  });
}

/**
 * Runs one test body against a fresh provider, then deletes what it made and closes the provider.
 * The body's failure wins; a cleanup failure fails an otherwise passing test, since it means the
 * provider cannot delete what it created. A body that skips itself is reported to the runner as
 * skipped, after the cleanup.
 */
export async function runInSandbox(
  options: ConformanceOptions,
  body: (sandbox: Sandbox) => Promise<void>,
  runner: RunnerContext = {},
): Promise<void> {
  const sandbox = await Sandbox.open(options);
  let failure: { error: unknown } | undefined;
  try {
    await body(sandbox);
  } catch (error) {
    failure = { error };
  }
  const problems = await sandbox.cleanUp();
  try {
    await sandbox.provider.close?.();
  } catch (error) {
    problems.push(`close() threw ${describeOutcome(error)}`);
  }
  const skipped = failure?.error instanceof SkipRequest ? failure.error : undefined;
  if (failure !== undefined && skipped === undefined) throw failure.error;
  if (problems.length > 0) {
    throw new AssertionError({
      message: `${skipped ? 'The check was skipped' : 'The checks passed'}, but deleting what the test created failed:\n- ${problems.join('\n- ')}`,
    });
  }
  if (skipped !== undefined) skipTest(runner, skipped);
}

/** How a group of checks registers its tests. */
export interface CheckRegistry {
  readonly capabilities: ConformanceCapabilities;
  /** Registers one test: `body` runs in a fresh sandbox. */
  check(name: string, body: (sandbox: Sandbox) => Promise<void>): void;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
