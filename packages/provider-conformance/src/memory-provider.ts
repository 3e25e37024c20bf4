/**
 * The reference ProviderV1, all in memory: what each call must check, refuse and return, without a
 * cloud in the way. It runs no processes, so read `create` for where a real provider materialises
 * the NodeConfig.
 */
import { randomUUID } from 'node:crypto';
import {
  type Address,
  type AddressRef,
  assertClusterName,
  assertNodeConfig,
  ErrorCode,
  type FirewallRule,
  HacpError,
  type Instance,
  type InstanceApi,
  type InstanceNetwork,
  type InstanceRef,
  type InstanceStatus,
  type LoadBalancer,
  type LoadBalancerSpec,
  type MutationOptions,
  type NodeFile,
  type ProviderV1,
  regionOfZone,
  type StateLock,
} from '@hacp/core';
import {
  assertExpectedVersion,
  assertFileUpdate,
  assertFirewallRule,
  assertInstanceRef,
  assertLetterZone,
  assertLoadBalancerSpec,
  assertLockRequest,
  assertName,
  assertPort,
  assertRegionalRef,
  assertStateKey,
  assertTargets,
  throwIfAborted,
  toJson,
} from './input-rules.js';

/** Settings of `createMemoryProvider`. */
export interface MemoryProviderSettings {
  /** The provider's name. Default `memory`. */
  name?: string;
  /** The zones `zones.list()` offers. Default `local-a`, `local-b`, `local-c` (region `local`). */
  zones?: readonly string[];
}

/**
 * A ProviderV1 with every optional instance method (`stop`, `start`, `stopProcesses`, `syncFiles`,
 * `writeFiles`, `seedData`, `bootProgress`).
 */
export interface MemoryProvider extends ProviderV1 {
  readonly instances: Required<InstanceApi>;
  /**
   * The files an instance holds (its NodeConfig's, as `syncFiles` changed them), under `prefix/`
   * when given, sorted by path, Secrets revealed: what a real provider's disk would show.
   * @throws HacpError NOT_FOUND when the instance does not exist.
   */
  instanceFiles(ref: InstanceRef, prefix?: string): { path: string; mode: number; contents: string }[];
  /** The firewall rules it holds, sorted by name: what a real provider's firewall list would show. */
  firewallRules(): FirewallRule[];
  /** Frees the address and keeps the rest of the load balancer (GCE: only the forwarding rule goes). */
  readonly loadBalancers: Required<Pick<ProviderV1['loadBalancers'], 'releaseAddress'>> &
    ProviderV1['loadBalancers'];
  /**
   * A zone outage, as the local provider's `hacp zone fail`: `zones.list()` reports the zone
   * `down`, its running instances are stopped, and nothing may be created or started there until
   * `restoreZone`. Returns the instances it stopped.
   */
  failZone(zone: string): string[];
  /** The zone is up again; the instances `failZone` stopped run again. Returns them. */
  restoreZone(zone: string): string[];
  /** Every instance of the cluster and every network place allocated to it, deleted. */
  deleteLeftovers: NonNullable<ProviderV1['deleteLeftovers']>;
}

function fail(code: ErrorCode, message: string, details: Record<string, unknown> = {}): HacpError {
  return new HacpError({ code, message, details });
}

function ipOf(prefix: readonly [number, number], host: number): string {
  return `${prefix[0]}.${prefix[1] + ((host >> 16) & 0x3f)}.${(host >> 8) & 0xff}.${host & 0xff}`;
}

const regionalKey = (ref: { name: string; region: string }) => `${ref.region}/${ref.name}`;

const sameInstance = (a: InstanceRef, b: InstanceRef) => a.name === b.name && a.zone === b.zone;

const instanceCopy = (instance: Instance): Instance => ({
  ...instance,
  labels: { ...instance.labels },
  createdAt: new Date(instance.createdAt),
});

/**
 * An in-memory ProviderV1 that passes the whole conformance kit: the reference for provider
 * authors, and a fast provider for SDK unit tests. No processes run; stop and start only change the
 * status. Internal IPs come from 10.0.0.0/8, reserved addresses from 100.64.0.0/10. Any zone of
 * the form `<region>-<letter>` is accepted, listed or not.
 *
 * @example
 * const provider = createMemoryProvider({ zones: ['europe-west1-b', 'europe-west1-c'] });
 * const instance = await provider.instances.create(
 *   { name: 'kubernetes-master', zone: 'europe-west1-b', cluster: 'kubernetes', nodeConfig },
 *   { requestId: 'create-kubernetes-master' },
 * );
 * @throws HacpError ZONE_INVALID when a zone in `settings.zones` is not `<region>-<letter>`.
 */
export function createMemoryProvider(settings: MemoryProviderSettings = {}): MemoryProvider {
  const zones = [...(settings.zones ?? ['local-a', 'local-b', 'local-c'])];
  for (const zone of zones) assertLetterZone(zone);

  const records = new Map<string, { version: number; json: string }>();
  const locks = new Map<string, { holder: string; expiresAt: number; token: string }>();
  const allocations = new Map<string, { cluster: string; zone: string; network: InstanceNetwork }>();
  const instances = new Map<string, Instance>();
  const addresses = new Map<string, Address>();
  const balancers = new Map<string, LoadBalancerSpec>();
  const firewalls = new Map<string, FirewallRule>();
  /** Each instance's files by path, as its disk would hold them. */
  const disks = new Map<string, Map<string, NodeFile>>();
  /** Zones `failZone` took down, with the instances it stopped there. */
  const downZones = new Map<string, Set<string>>();
  /** Load balancers whose address `releaseAddress` freed: they exist but serve nothing. */
  const released = new Set<string>();
  let internalHosts = 1;
  let externalHosts = 1;

  /** The instance `ref` names: same name and zone. */
  function findInstance(ref: InstanceRef): Instance | undefined {
    const instance = instances.get(ref.name);
    return instance !== undefined && sameInstance(instance, ref) ? instance : undefined;
  }

  function requireInstance(ref: InstanceRef): Instance {
    const instance = findInstance(ref);
    if (instance === undefined) {
      throw fail(ErrorCode.NOT_FOUND, `There is no instance ${ref.name} in ${ref.zone}.`, { ...ref });
    }
    return instance;
  }

  function requireAddress(ref: AddressRef): Address {
    const address = addresses.get(regionalKey(ref));
    if (address === undefined) {
      throw fail(ErrorCode.NOT_FOUND, `Address ${ref.name} is not reserved in ${ref.region}.`, { ...ref });
    }
    return address;
  }

  function lockedError(name: string, current: { holder: string; expiresAt: number } | undefined): HacpError {
    if (current === undefined) return fail(ErrorCode.LOCKED, `Lock ${name} was released.`, { name });
    const expiresAt = new Date(current.expiresAt).toISOString();
    const message = `Lock ${name} is held by ${current.holder} until ${expiresAt}.`;
    return fail(ErrorCode.LOCKED, message, { lock: name, holder: current.holder, expiresAt });
  }

  function allocate(ref: InstanceRef & { cluster: string }): InstanceNetwork {
    assertInstanceRef(ref);
    assertClusterName(ref.cluster);
    const existing = allocations.get(ref.name);
    if (existing !== undefined) {
      if (existing.cluster !== ref.cluster || existing.zone !== ref.zone) {
        const message = `Instance name ${ref.name} belongs to cluster ${existing.cluster} in ${existing.zone}.`;
        throw fail(ErrorCode.ALREADY_EXISTS, message, {
          ...ref,
          cluster: existing.cluster,
          zone: existing.zone,
        });
      }
      return { ...existing.network };
    }
    internalHosts += 1;
    // Nothing is written, so the root is only a name; a real provider gives the folder it writes to.
    const rootDir = `/memory/${ref.name}`;
    const network = { internalIp: ipOf([10, 0], internalHosts), hostname: ref.name, portOffset: 0, rootDir };
    allocations.set(ref.name, { cluster: ref.cluster, zone: ref.zone, network });
    return { ...network };
  }

  function assertZoneUp(zone: string): void {
    if (downZones.has(zone)) {
      throw new HacpError({
        code: ErrorCode.UNAVAILABLE,
        message: `Zone ${zone} is down: nothing can start there until it is back.`,
        actions: ['Use another zone, or wait until it is back.'],
        details: { zone },
        retryable: true,
      });
    }
  }

  async function setStatus(
    ref: InstanceRef,
    status: InstanceStatus,
    options: MutationOptions,
  ): Promise<void> {
    throwIfAborted(options.signal);
    assertInstanceRef(ref);
    const instance = requireInstance(ref);
    if (status === 'running' && instance.status !== 'running') assertZoneUp(ref.zone);
    instance.status = status;
  }

  function balancerView(spec: LoadBalancerSpec): LoadBalancer {
    const targetHealth = spec.targets.map((target) => ({
      instance: { name: target.name, zone: target.zone },
      healthy: findInstance(target)?.status === 'running',
    }));
    return {
      ...structuredClone(spec),
      targetHealth,
      ...(released.has(regionalKey(spec)) ? { serving: false } : {}),
    };
  }

  /** Frees the address a load balancer holds, when it moves to another address or is deleted. */
  function freeAddressOf(spec: LoadBalancerSpec): void {
    const address = addresses.get(regionalKey({ name: spec.address, region: spec.region }));
    if (address?.holder?.kind === 'load-balancer' && address.holder.name === spec.name) delete address.holder;
  }

  return {
    specificationVersion: 'v1',
    name: settings.name ?? 'memory',

    zones: {
      async list(options) {
        throwIfAborted(options?.signal);
        return zones.map((name) => ({
          name,
          region: regionOfZone(name),
          ...(downZones.has(name) ? { status: 'down' as const } : {}),
        }));
      },
    },

    state: {
      async get<T>(key: string, options?: { signal?: AbortSignal }) {
        throwIfAborted(options?.signal);
        assertStateKey('key', key);
        const record = records.get(key);
        return record && { key, version: record.version, value: JSON.parse(record.json) as T };
      },
      async put(key, value, options) {
        throwIfAborted(options.signal);
        assertStateKey('key', key);
        assertExpectedVersion(options.expectedVersion);
        const json = toJson(value);
        const version = records.get(key)?.version ?? 0;
        if (version !== options.expectedVersion) {
          const message = `State key ${key} is at version ${version}, not ${options.expectedVersion}: read it again.`;
          throw fail(ErrorCode.CONFLICT, message, { key, version, expectedVersion: options.expectedVersion });
        }
        records.set(key, { version: version + 1, json });
        return { key, version: version + 1, value: JSON.parse(json) };
      },
      async delete(key, options) {
        throwIfAborted(options.signal);
        assertStateKey('key', key);
        assertExpectedVersion(options.expectedVersion);
        const version = records.get(key)?.version;
        if (version === undefined) return;
        if (version !== options.expectedVersion) {
          const message = `State key ${key} is at version ${version}, not ${options.expectedVersion}.`;
          throw fail(ErrorCode.CONFLICT, message, { key, version, expectedVersion: options.expectedVersion });
        }
        records.delete(key);
      },
      async list(prefix, options) {
        throwIfAborted(options?.signal);
        assertStateKey('prefix', prefix, { allowEmpty: true });
        return [...records.keys()].filter((key) => key.startsWith(prefix)).sort();
      },
      async lock(name, { holder, ttlMs, signal }) {
        throwIfAborted(signal);
        assertLockRequest(name, holder, ttlMs);
        const current = locks.get(name);
        // A live lock is refused to its own holder too: two processes may share a holder name.
        if (current !== undefined && current.expiresAt > Date.now()) throw lockedError(name, current);
        const entry = { holder, expiresAt: Date.now() + ttlMs, token: randomUUID() };
        locks.set(name, entry);
        const lock: StateLock = {
          name,
          holder,
          expiresAt: new Date(entry.expiresAt),
          async renew() {
            const now = locks.get(name);
            // Expired but taken by no one is still ours; taken by another holder, it is lost.
            if (now?.token !== entry.token) throw lockedError(name, now);
            entry.expiresAt = Date.now() + ttlMs;
            lock.expiresAt = new Date(entry.expiresAt);
          },
          async release() {
            if (locks.get(name)?.token === entry.token) locks.delete(name);
          },
        };
        return lock;
      },
    },

    instances: {
      async allocateNetwork(ref, options) {
        throwIfAborted(options.signal);
        return allocate(ref);
      },
      async create(spec, options) {
        throwIfAborted(options.signal);
        assertInstanceRef(spec);
        assertClusterName(spec.cluster);
        assertNodeConfig(spec.nodeConfig);
        const existing = instances.get(spec.name);
        if (existing === undefined) assertZoneUp(spec.zone);
        if (existing !== undefined) {
          if (existing.cluster !== spec.cluster || existing.zone !== spec.zone) {
            const message = `Instance ${spec.name} exists in ${existing.zone} for cluster ${existing.cluster}.`;
            throw fail(ErrorCode.ALREADY_EXISTS, message, { name: spec.name, cluster: existing.cluster });
          }
          return instanceCopy(existing);
        }
        const { internalIp, hostname, portOffset } = allocate(spec);
        // A real provider materialises spec.nodeConfig here: it writes every file with its mode
        // (revealing a Secret only into its file), then starts every process. When any step fails
        // it deletes what it made, frees the allocation and throws: a failed create leaves nothing.
        const instance: Instance = {
          name: spec.name,
          zone: spec.zone,
          cluster: spec.cluster,
          status: 'running',
          internalIp,
          hostname,
          portOffset,
          labels: { ...spec.labels, 'hacp-cluster': spec.cluster },
          createdAt: new Date(),
        };
        instances.set(spec.name, instance);
        disks.set(spec.name, new Map(spec.nodeConfig.files.map((file) => [file.path, { ...file }])));
        return instanceCopy(instance);
      },
      async get(ref, options) {
        throwIfAborted(options?.signal);
        assertInstanceRef(ref);
        const instance = findInstance(ref);
        return instance && instanceCopy(instance);
      },
      async list({ cluster }, options) {
        throwIfAborted(options?.signal);
        assertClusterName(cluster);
        return [...instances.values()]
          .filter((instance) => instance.cluster === cluster)
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
          .map(instanceCopy);
      },
      async delete(ref, options) {
        throwIfAborted(options.signal);
        assertInstanceRef(ref);
        if (findInstance(ref) !== undefined) {
          instances.delete(ref.name);
          disks.delete(ref.name);
          // As on a cloud, an address attached to a deleted instance stays reserved and is free again.
          for (const address of addresses.values()) {
            const { holder } = address;
            if (holder?.kind === 'instance' && sameInstance(holder.instance, ref)) delete address.holder;
          }
        }
        // A kept disk keeps the network place too: the same name is created again on both.
        if (!options.keepDisk && allocations.get(ref.name)?.zone === ref.zone) allocations.delete(ref.name);
      },
      stop: (ref, options) => setStatus(ref, 'stopped', options),
      start: (ref, options) => setStatus(ref, 'running', options),
      // No processes run here: stopping some changes nothing a caller can see, the status included.
      async stopProcesses(ref, names, options) {
        throwIfAborted(options.signal);
        assertInstanceRef(ref);
        if (!Array.isArray(names) || names.some((name) => typeof name !== 'string')) {
          throw fail(ErrorCode.INVALID_ARGUMENT, 'names must be a list of process names.', {
            field: 'names',
          });
        }
        requireInstance(ref);
      },
      async syncFiles(ref, update, options) {
        throwIfAborted(options.signal);
        assertInstanceRef(ref);
        assertFileUpdate(update);
        requireInstance(ref);
        const disk = disks.get(ref.name) ?? new Map<string, NodeFile>();
        for (const path of disk.keys()) if (path.startsWith(`${update.prefix}/`)) disk.delete(path);
        for (const file of update.files) disk.set(file.path, { ...file });
        disks.set(ref.name, disk);
      },
      // No disk holds data here: a seed is checked, and then there is nothing to copy it to.
      async seedData(ref, seed, options) {
        throwIfAborted(options.signal);
        assertInstanceRef(ref);
        if (typeof seed?.path !== 'string' || typeof seed.from !== 'string') {
          throw fail(ErrorCode.INVALID_ARGUMENT, 'A seed names a path and a folder to copy from.', {
            field: 'seed',
          });
        }
        if (findInstance(ref) !== undefined) {
          throw fail(
            ErrorCode.CONFLICT,
            `Instance ${ref.name} exists: its disk can be seeded only before it is created.`,
            {
              instance: ref.name,
            },
          );
        }
      },
      async writeFiles(ref, files, options) {
        throwIfAborted(options.signal);
        assertInstanceRef(ref);
        if (!Array.isArray(files))
          throw fail(ErrorCode.INVALID_ARGUMENT, 'files must be a list of files.', { field: 'files' });
        assertNodeConfig({ files, processes: [] });
        requireInstance(ref);
        const disk = disks.get(ref.name) ?? new Map<string, NodeFile>();
        for (const file of files) disk.set(file.path, { ...file });
        disks.set(ref.name, disk);
      },
      // Nothing boots here: an instance is started once it exists.
      async bootProgress(ref, options) {
        throwIfAborted(options?.signal);
        assertInstanceRef(ref);
        requireInstance(ref);
        return { pending: [] };
      },
    },

    instanceFiles(ref, prefix) {
      requireInstance(ref);
      return [...(disks.get(ref.name)?.values() ?? [])]
        .filter((file) => prefix === undefined || file.path.startsWith(`${prefix}/`))
        .map((file) => ({
          path: file.path,
          mode: file.mode,
          contents: typeof file.contents === 'string' ? file.contents : file.contents.reveal(),
        }))
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    },

    failZone(zone) {
      assertLetterZone(zone);
      const stopped = downZones.get(zone) ?? new Set<string>();
      for (const instance of instances.values()) {
        if (instance.zone !== zone || instance.status !== 'running') continue;
        instance.status = 'stopped';
        stopped.add(instance.name);
      }
      downZones.set(zone, stopped);
      return [...stopped].sort();
    },

    restoreZone(zone) {
      assertLetterZone(zone);
      const stopped = downZones.get(zone) ?? new Set<string>();
      downZones.delete(zone);
      const started: string[] = [];
      for (const name of stopped) {
        const instance = instances.get(name);
        if (instance?.zone !== zone || instance.status !== 'stopped') continue;
        instance.status = 'running';
        started.push(name);
      }
      return started.sort();
    },

    async deleteLeftovers(filter, options) {
      throwIfAborted(options.signal);
      assertClusterName(filter.cluster);
      const deleted: string[] = [];
      for (const [name, instance] of [...instances.entries()]) {
        if (instance.cluster !== filter.cluster) continue;
        instances.delete(name);
        disks.delete(name);
        deleted.push(`instances/${name}`);
      }
      for (const [name, allocation] of [...allocations.entries()]) {
        if (allocation.cluster !== filter.cluster) continue;
        allocations.delete(name);
        deleted.push(`networks/${name}`);
      }
      return deleted.sort();
    },

    firewallRules() {
      return [...firewalls.values()]
        .map((rule) => structuredClone(rule))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    addresses: {
      async reserve(ref, options) {
        throwIfAborted(options.signal);
        assertRegionalRef(ref);
        let address = addresses.get(regionalKey(ref));
        if (address === undefined) {
          externalHosts += 1;
          address = { name: ref.name, region: ref.region, ip: ipOf([100, 64], externalHosts) };
          addresses.set(regionalKey(ref), address);
        }
        return structuredClone(address);
      },
      async get(ref, options) {
        throwIfAborted(options?.signal);
        assertRegionalRef(ref);
        const address = addresses.get(regionalKey(ref));
        return address && structuredClone(address);
      },
      async release(ref, options) {
        throwIfAborted(options.signal);
        assertRegionalRef(ref);
        const address = addresses.get(regionalKey(ref));
        if (address === undefined) return;
        if (address.holder !== undefined) {
          const message = `Address ${ref.name} is in use: detach it, or delete its load balancer, first.`;
          throw fail(ErrorCode.CONFLICT, message, { ...ref, holder: address.holder });
        }
        addresses.delete(regionalKey(ref));
      },
      async attach(ref, target, options) {
        throwIfAborted(options.signal);
        assertRegionalRef(ref);
        assertInstanceRef(target);
        const address = requireAddress(ref);
        requireInstance(target);
        if (regionOfZone(target.zone) !== ref.region) {
          const message = `Zone ${target.zone} is not in region ${ref.region}, where address ${ref.name} is.`;
          throw fail(ErrorCode.ZONE_NOT_IN_REGION, message, { zone: target.zone, region: ref.region });
        }
        const { holder } = address;
        if (holder?.kind === 'instance' && sameInstance(holder.instance, target))
          return structuredClone(address);
        if (holder !== undefined) {
          const message = `Address ${ref.name} is held by another ${holder.kind}; it was left there.`;
          throw fail(ErrorCode.CONFLICT, message, { ...ref, holder });
        }
        address.holder = { kind: 'instance', instance: { name: target.name, zone: target.zone } };
        return structuredClone(address);
      },
      async detach(ref, options) {
        throwIfAborted(options.signal);
        assertRegionalRef(ref);
        const address = requireAddress(ref);
        // Only an instance lets go here; a load balancer keeps its address until it is deleted.
        if (address.holder?.kind === 'instance') delete address.holder;
        return structuredClone(address);
      },
    },

    loadBalancers: {
      async ensure(spec, options) {
        throwIfAborted(options.signal);
        assertLoadBalancerSpec(spec);
        const address = requireAddress({ name: spec.address, region: spec.region });
        const { holder } = address;
        if (holder !== undefined && !(holder.kind === 'load-balancer' && holder.name === spec.name)) {
          const message = `Address ${spec.address} is held by another ${holder.kind}; detach it first.`;
          throw fail(ErrorCode.CONFLICT, message, { address: spec.address, holder });
        }
        const previous = balancers.get(regionalKey(spec));
        if (previous !== undefined && previous.address !== spec.address) freeAddressOf(previous);
        const stored = structuredClone(spec);
        balancers.set(regionalKey(spec), stored);
        released.delete(regionalKey(spec));
        address.holder = { kind: 'load-balancer', name: spec.name };
        return balancerView(stored);
      },
      async releaseAddress(ref, options) {
        throwIfAborted(options.signal);
        assertRegionalRef(ref);
        const spec = balancers.get(regionalKey(ref));
        if (spec === undefined) return;
        freeAddressOf(spec);
        released.add(regionalKey(ref));
      },
      async get(ref, options) {
        throwIfAborted(options?.signal);
        assertRegionalRef(ref);
        const spec = balancers.get(regionalKey(ref));
        return spec && balancerView(spec);
      },
      async setTargets(ref, targets, options) {
        throwIfAborted(options.signal);
        assertRegionalRef(ref);
        assertTargets(targets);
        const spec = balancers.get(regionalKey(ref));
        if (spec === undefined) {
          throw fail(ErrorCode.NOT_FOUND, `There is no load balancer ${ref.name} in ${ref.region}.`, {
            ...ref,
          });
        }
        spec.targets = targets.map((target) => ({ name: target.name, zone: target.zone }));
        return balancerView(spec);
      },
      async delete(ref, options) {
        throwIfAborted(options.signal);
        assertRegionalRef(ref);
        const spec = balancers.get(regionalKey(ref));
        if (spec === undefined) return;
        freeAddressOf(spec);
        balancers.delete(regionalKey(ref));
        released.delete(regionalKey(ref));
      },
    },

    firewalls: {
      async ensure(rule, options) {
        throwIfAborted(options.signal);
        assertFirewallRule(rule);
        firewalls.set(rule.name, structuredClone(rule));
      },
      async delete(name, options) {
        throwIfAborted(options.signal);
        assertName('name', name);
        firewalls.delete(name);
      },
    },

    async reach(ref, port, options) {
      throwIfAborted(options?.signal);
      assertInstanceRef(ref);
      assertPort('port', port);
      const instance = requireInstance(ref);
      if (instance.status !== 'running') {
        const message = `Instance ${ref.name} is ${instance.status}, so nothing answers on port ${port}.`;
        throw fail(ErrorCode.UNAVAILABLE, message, { ...ref, status: instance.status });
      }
      return { host: instance.internalIp, port: port + (instance.portOffset ?? 0), close: async () => {} };
    },
  };
}
