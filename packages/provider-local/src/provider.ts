import { mkdir, readdir, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type Address,
  type AddressRef,
  assertClusterName,
  assertFirewallRule,
  assertHealthCheck,
  assertNodeConfig,
  assertPort,
  assertRegionName,
  assertResourceName,
  assertZone,
  ErrorCode,
  type FirewallRule,
  HacpError,
  type Instance,
  type InstanceNetwork,
  type InstanceRef,
  type InstanceSpec,
  type InstanceStatus,
  invalidArgument,
  type LoadBalancer,
  type LoadBalancerSpec,
  type Logger,
  type MutationOptions,
  type NodeFile,
  type ProviderBaseSettings,
  type ProviderV1,
  type ReadOptions,
  regionOfZone,
  resolveLogger,
  throwIfAborted,
  type ZoneInfo,
} from '@hacp/core';
import { DIR_MODE, ensureDir, readJsonFile, writeJsonFile } from './files.js';
import {
  applyEndpoint,
  type EndpointConfig,
  type EndpointListener,
  endpointServerStates,
  markServerDown,
  stopEndpoint,
} from './haproxy.js';
import { selfRecord, withMutex } from './mutex.js';
import { pickLoopbackIp, pickPortOffset, STANDARD_PORTS } from './network.js';
import {
  dependencyMissing,
  findProgram,
  isAlive,
  ownHostnameSupport,
  type ProcessRecord,
} from './processes.js';
import {
  materialiseFiles,
  nodeConfigDigest,
  processStates,
  type ReplicaPaths,
  replicaPaths,
  type StoredProcess,
  startReplicaProcesses,
  stopReplicaProcesses,
  storedProcess,
} from './replicas.js';
import { createFolderStateStore } from './state-store.js';
import { assertFileUpdate, syncFolder } from './sync-files.js';

/** Settings of createLocalProvider. */
export interface LocalProviderSettings extends ProviderBaseSettings {
  /** The state folder. Default `HACP_STATE_DIR`, else `$XDG_STATE_HOME/hacp`, else `~/.local/state/hacp`. */
  stateDir?: string;
  /** The etcd program. Default `etcd` on PATH (Debian package etcd-server). */
  etcdBinary?: string;
  /** The HAProxy program. Default `haproxy` on PATH or in /usr/sbin (Debian package haproxy). */
  haproxyBinary?: string;
  logger?: Logger;
  /**
   * Give each replica and endpoint its own loopback address (127.x.y.z) with the standard ports.
   * Default: on Linux, where all of 127.0.0.0/8 is local. `false`: everything on 127.0.0.1 with a
   * port offset per replica.
   */
  loopbackAliases?: boolean;
  /** How long a started process must stay up to count as started. Default 500 ms. */
  startGraceMs?: number;
  /** How long a stopping process gets before SIGKILL, unless its NodeProcess gives stopGraceSeconds. Default 10 s. */
  stopGraceMs?: number;
  /** Where HACP_STATE_DIR, XDG_STATE_HOME and PATH are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** The zones the local provider lists (any `<region>-<letter>` is accepted too). */
export const LOCAL_ZONES: readonly ZoneInfo[] = Object.freeze([
  { name: 'local-a', region: 'local' },
  { name: 'local-b', region: 'local' },
  { name: 'local-c', region: 'local' },
]);

/** One process of a replica as `processes()` reports it. */
export interface LocalProcessState {
  name: string;
  pid?: number;
  running: boolean;
  logFile: string;
}

/** The local provider: Provider contract v1 plus what only a local machine can do. */
export interface LocalProvider extends ProviderV1 {
  readonly name: 'local';
  /** The state folder in use. */
  readonly stateDir: string;
  /**
   * Replicas run the Kubernetes programs as processes on this machine: the SDK finds (or downloads)
   * them and renders their absolute paths.
   */
  readonly kubernetes: { programs: 'host' };
  /** The programs found: etcd for the replicas, HAProxy for the endpoint. */
  readonly binaries: { etcd?: string; haproxy?: string };
  /** Whether each replica runs under its own hostname (Linux, root: its own UTS namespace). */
  readonly ownHostnames: boolean;
  /** Whether each replica has its own loopback address (else a port offset on 127.0.0.1). */
  readonly loopbackAliases: boolean;
  instances: ProviderV1['instances'] & {
    stop(ref: InstanceRef, options: MutationOptions): Promise<void>;
    /**
     * Starts every process of the instance that does not run (also those stopProcesses stopped).
     * In every load balancer that targets it, the instance is marked DOWN first, so it gets traffic
     * again only after its health check passes `healthyThreshold` times.
     */
    start(ref: InstanceRef, options: MutationOptions): Promise<void>;
    /**
     * Stops the named processes (in reverse order, each with its stopGraceSeconds) and records them
     * as stopped on purpose: the status stays `running` while the others run. `start`,
     * `restoreZone` start them again. Unknown or stopped names are fine.
     * @throws HacpError NOT_FOUND when the instance does not exist; ABORTED on `signal` (a repeat finishes).
     */
    stopProcesses(ref: InstanceRef, names: readonly string[], options: MutationOptions): Promise<void>;
    /**
     * Makes `<rootDir>/<prefix>/` hold exactly `files`, each written atomically with its mode, in
     * 0700 folders; others there are removed. Works while the instance is stopped.
     * @throws HacpError INVALID_ARGUMENT for a path outside `<prefix>/` (nothing written); NOT_FOUND
     *   when the instance does not exist.
     */
    syncFiles(
      ref: InstanceRef,
      update: { prefix: string; files: readonly NodeFile[] },
      options: MutationOptions,
    ): Promise<void>;
  };
  /**
   * Stops every process of every replica in the zone (as a zone outage would) and refuses new
   * instances there until restoreZone. Replicas stopped on their own stay stopped on restore.
   */
  failZone(zone: string, options?: { signal?: AbortSignal }): Promise<string[]>;
  /** Starts again every replica that failZone stopped, and allows the zone again. */
  restoreZone(zone: string, options?: { signal?: AbortSignal }): Promise<string[]>;
  /** The zones failZone failed and restoreZone has not restored. */
  failedZones(): Promise<string[]>;
  /** The processes of an instance, with pids and logs. @throws HacpError NOT_FOUND */
  processes(ref: InstanceRef): Promise<LocalProcessState[]>;
}

const LOCAL_ZONE = /^[a-z][a-z0-9-]*-[a-z]$/;

/** Zones are `<region>-<letter>`: local-a, or europe-west1-b. */
function assertLocalZone(zone: unknown): asserts zone is string {
  assertZone(zone as string);
  if (!LOCAL_ZONE.test(zone as string)) {
    throw new HacpError({
      code: ErrorCode.ZONE_INVALID,
      message: `"${String(zone)}" is not a zone of the local provider: a zone is a region plus a letter, such as local-a.`,
      actions: ['Use local-a, local-b or local-c.'],
      details: { zone: String(zone) },
    });
  }
}

/** An address serves one region: its instances and targets must be there (GCE's rule). */
function assertInRegion(instance: InstanceRef, region: string): void {
  if (regionOfZone(instance.zone) !== region) {
    throw new HacpError({
      code: ErrorCode.ZONE_NOT_IN_REGION,
      message: `Instance ${instance.name} is in zone ${instance.zone}, outside region ${region} of the address.`,
      actions: [`Use an instance in a zone of ${region}.`],
      details: { instance: instance.name, zone: instance.zone, region },
    });
  }
}

function notFound(what: string, details: Record<string, unknown>, actions: string[] = []): HacpError {
  return new HacpError({ code: ErrorCode.NOT_FOUND, message: `${what} does not exist.`, actions, details });
}

function conflict(message: string, details: Record<string, unknown>, actions: string[]): HacpError {
  return new HacpError({ code: ErrorCode.CONFLICT, message, actions, details, retryable: false });
}

function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (env.HACP_STATE_DIR) return env.HACP_STATE_DIR;
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'hacp');
}

interface NetworkFile extends Record<string, unknown> {
  name: string;
  cluster: string;
  zone: string;
  network: InstanceNetwork;
}

interface InstanceFile extends Record<string, unknown> {
  name: string;
  zone: string;
  cluster: string;
  labels: Record<string, string>;
  createdAt: string;
  specDigest: string;
  requestId: string;
  /** `creating` until every process started; a crashed create leaves it, and the next one cleans up. */
  state: 'creating' | 'created';
  creator: ProcessRecord;
  /** Who stopped it: the operator (`instance`) or failZone (`zone`). */
  stopped?: 'instance' | 'zone';
  /** Processes stopProcesses stopped on purpose; status ignores them until start or restoreZone. */
  stoppedProcesses?: string[];
  network: InstanceNetwork;
  processes: StoredProcess[];
}

interface AddressFile extends Record<string, unknown> {
  name: string;
  region: string;
  ip: string;
  portOffset: number;
  holder?: { kind: 'instance'; instance: InstanceRef } | { kind: 'load-balancer'; name: string };
}

interface LoadBalancerFile extends Record<string, unknown> {
  spec: LoadBalancerSpec;
}

/**
 * Creates the local provider: each replica is a set of detached processes (etcd and the Kubernetes
 * control plane, as the NodeConfig says) on its own loopback address, the endpoint is HAProxy on
 * another, and the state is a 0700 folder. Everything it starts outlives the process that created
 * it, until deleted.
 *
 * @example
 * const provider = createLocalProvider({ stateDir: '/tmp/hacp-state' });
 * const [zone] = await provider.zones.list();
 *
 * @throws HacpError DEPENDENCY_MISSING when `etcdBinary` or `haproxyBinary` is given and does not
 *   exist or is not executable.
 */
export function createLocalProvider(settings: LocalProviderSettings = {}): LocalProvider {
  const env = settings.env ?? process.env;
  const logger = resolveLogger(settings.logger);
  // Absolute, because replicas run with their own folder as working directory and flags such as
  // etcd's --data-dir need absolute paths.
  const stateDir = resolve(settings.stateDir ?? defaultStateDir(env));
  const startGraceMs = settings.startGraceMs ?? 500;
  const stopGraceMs = settings.stopGraceMs ?? 10_000;

  const explicit = (program: string | undefined, name: string): string | undefined => {
    if (program === undefined) return undefined;
    const found = findProgram(program, env);
    if (found === undefined) throw dependencyMissing(name === program ? name : program);
    return found;
  };
  const binaries = {
    etcd: explicit(settings.etcdBinary, 'etcd') ?? findProgram('etcd', env),
    haproxy: explicit(settings.haproxyBinary, 'haproxy') ?? findProgram('haproxy', env),
  };
  const hostnameSupport = ownHostnameSupport();
  const loopbackAliases = settings.loopbackAliases ?? process.platform === 'linux';

  const dirs = {
    mutex: join(stateDir, '.mutex'),
    records: join(stateDir, 'state', 'records'),
    locks: join(stateDir, 'state', 'locks'),
    instances: join(stateDir, 'local', 'instances'),
    networks: join(stateDir, 'local', 'networks'),
    addresses: join(stateDir, 'local', 'addresses'),
    loadBalancers: join(stateDir, 'local', 'load-balancers'),
    firewalls: join(stateDir, 'local', 'firewalls'),
    zones: join(stateDir, 'local', 'zones.json'),
    replicas: join(stateDir, 'replicas'),
    endpoints: join(stateDir, 'endpoints'),
  };

  const state = createFolderStateStore({
    paths: { records: dirs.records, locks: dirs.locks, mutex: dirs.mutex },
    logger,
  });

  async function prepare(): Promise<void> {
    // Created 0700; an existing folder keeps its mode (HACP_STATE_DIR may name a shared one), and
    // every folder hacp makes inside it is 0700 whatever the parent's mode.
    await mkdir(stateDir, { recursive: true, mode: DIR_MODE });
    for (const dir of [dirs.instances, dirs.networks, dirs.addresses, dirs.loadBalancers, dirs.firewalls]) {
      await ensureDir(dir);
    }
  }

  const locked = <T>(work: () => Promise<T>): Promise<T> => withMutex(dirs.mutex, work);

  // ---- records -----------------------------------------------------------------------------

  const instancePath = (name: string) => join(dirs.instances, `${name}.json`);
  const networkPath = (name: string) => join(dirs.networks, `${name}.json`);
  const addressPath = (ref: AddressRef) => join(dirs.addresses, `${ref.region}.${ref.name}.json`);
  const loadBalancerPath = (ref: { name: string; region: string }) =>
    join(dirs.loadBalancers, `${ref.region}.${ref.name}.json`);
  const firewallPath = (name: string) => join(dirs.firewalls, `${name}.json`);
  const endpointDir = (ref: AddressRef) => join(dirs.endpoints, `${ref.region}.${ref.name}`);

  async function readAll<T extends Record<string, unknown>>(dir: string): Promise<T[]> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const bodies: T[] = [];
    for (const name of names.filter((entry) => entry.endsWith('.json')).sort()) {
      const body = await readJsonFile<T>(join(dir, name));
      if (body !== undefined) bodies.push(body);
    }
    return bodies;
  }

  async function failedZoneSet(): Promise<Set<string>> {
    const body = await readJsonFile<{ failed?: string[] }>(dirs.zones);
    return new Set(body?.failed ?? []);
  }

  // ---- instances ---------------------------------------------------------------------------

  function pathsOf(name: string): ReplicaPaths {
    return replicaPaths(dirs.replicas, name);
  }

  function statusOf(
    file: InstanceFile,
    processes: readonly { name: string; running: boolean }[],
  ): InstanceStatus {
    if (file.state === 'creating') return 'provisioning';
    if (file.stopped !== undefined) return 'stopped';
    // A process stopped on purpose (stopProcesses) is not a failure: the machine still runs.
    const expected = processes.filter((process) => !file.stoppedProcesses?.includes(process.name));
    return expected.every((process) => process.running) ? 'running' : 'terminated';
  }

  async function toInstance(file: InstanceFile): Promise<Instance> {
    const processes = await processStates(pathsOf(file.name), file.processes);
    return {
      name: file.name,
      zone: file.zone,
      cluster: file.cluster,
      status: statusOf(file, processes),
      internalIp: file.network.internalIp,
      hostname: file.network.hostname,
      portOffset: file.network.portOffset,
      labels: { ...file.labels },
      createdAt: new Date(file.createdAt),
    };
  }

  async function readInstance(ref: InstanceRef): Promise<InstanceFile | undefined> {
    const file = await readJsonFile<InstanceFile>(instancePath(ref.name));
    return file !== undefined && file.zone === ref.zone ? file : undefined;
  }

  async function takenAddresses(): Promise<{ ips: Set<string>; offsets: Set<number> }> {
    const networks = await readAll<NetworkFile>(dirs.networks);
    const addresses = await readAll<AddressFile>(dirs.addresses);
    return {
      ips: new Set([...networks.map((file) => file.network.internalIp), ...addresses.map((file) => file.ip)]),
      offsets: new Set([
        ...networks.map((file) => file.network.portOffset),
        ...addresses.map((file) => file.portOffset),
      ]),
    };
  }

  async function pickAddress(): Promise<{ ip: string; portOffset: number }> {
    const taken = await takenAddresses();
    if (loopbackAliases) return { ip: pickLoopbackIp(taken.ips), portOffset: 0 };
    return { ip: '127.0.0.1', portOffset: pickPortOffset(taken.offsets) };
  }

  /** Must run under the mutex. */
  async function allocateLocked(
    ref: InstanceRef & { cluster: string },
  ): Promise<{ network: InstanceNetwork; made: boolean }> {
    const existing = await readJsonFile<NetworkFile>(networkPath(ref.name));
    if (existing !== undefined) {
      if (existing.cluster !== ref.cluster || existing.zone !== ref.zone) {
        throw new HacpError({
          code: ErrorCode.ALREADY_EXISTS,
          message: `The name ${ref.name} is taken by cluster ${existing.cluster} in zone ${existing.zone}.`,
          actions: ['Use another replica name.'],
          details: { name: ref.name, cluster: existing.cluster, zone: existing.zone },
        });
      }
      return { network: existing.network, made: false };
    }
    const { ip, portOffset } = await pickAddress();
    const network: InstanceNetwork = {
      internalIp: ip,
      hostname: ref.name,
      portOffset,
      rootDir: pathsOf(ref.name).root,
    };
    await writeJsonFile(networkPath(ref.name), {
      name: ref.name,
      cluster: ref.cluster,
      zone: ref.zone,
      network,
    });
    return { network, made: true };
  }

  function validateRef(ref: InstanceRef): void {
    assertResourceName('name', ref?.name);
    assertLocalZone(ref.zone);
  }

  /**
   * The program a NodeProcess runs: the etcd found for `etcd`, an absolute path as it is, any other
   * name from PATH. The SDK renders the Kubernetes programs as absolute paths of binaries it found.
   */
  function resolveCommand(command: string): string {
    if (command === 'etcd') {
      if (binaries.etcd === undefined) throw dependencyMissing('etcd');
      return binaries.etcd;
    }
    const found = findProgram(command, env);
    if (found === undefined) throw dependencyMissing(command);
    return found;
  }

  async function zoneMustBeUp(zone: string): Promise<void> {
    if ((await failedZoneSet()).has(zone)) {
      throw new HacpError({
        code: ErrorCode.UNAVAILABLE,
        message: `Zone ${zone} is failed (hacp zone fail): nothing can start there until it is restored.`,
        actions: [`Restore it: hacp zone restore ${zone}.`, 'Or use another zone.'],
        details: { zone },
        retryable: true,
      });
    }
  }

  /** Stops the processes and removes the folder and records of a half-made or deleted instance. */
  async function dismantle(file: Pick<InstanceFile, 'name' | 'processes'>, keepDisk: boolean): Promise<void> {
    const paths = pathsOf(file.name);
    await stopReplicaProcesses({ paths, processes: file.processes, stopGraceMs, logger, replica: file.name });
    if (keepDisk) {
      await rm(paths.run, { recursive: true, force: true });
    } else {
      await rm(paths.dir, { recursive: true, force: true });
    }
  }

  const instances: LocalProvider['instances'] = {
    async allocateNetwork(ref, options) {
      validateRef(ref);
      assertClusterName(ref.cluster);
      throwIfAborted(options?.signal);
      await prepare();
      return locked(async () => (await allocateLocked(ref)).network);
    },

    async create(spec: InstanceSpec, options: MutationOptions) {
      validateRef(spec);
      assertClusterName(spec.cluster);
      assertNodeConfig(spec.nodeConfig);
      const processes = spec.nodeConfig.processes.map((process) =>
        storedProcess(process, resolveCommand(process.command)),
      );
      throwIfAborted(options.signal);
      await prepare();
      const labels = { ...spec.labels, 'hacp-cluster': spec.cluster };
      const specDigest = nodeConfigDigest(spec.nodeConfig, {
        cluster: spec.cluster,
        zone: spec.zone,
        labels,
        processes,
      });

      type Claim =
        | { kind: 'existing'; file: InstanceFile }
        | { kind: 'restart'; file: InstanceFile }
        | { kind: 'new'; file: InstanceFile; madeNetwork: boolean };
      const claim = await locked(async (): Promise<Claim> => {
        const existing = await readJsonFile<InstanceFile>(instancePath(spec.name));
        if (existing !== undefined) {
          const same =
            existing.cluster === spec.cluster &&
            existing.zone === spec.zone &&
            (existing.specDigest === specDigest || existing.requestId === options.requestId);
          if (existing.state === 'creating' && same) {
            if (isAlive(existing.creator)) {
              throw new HacpError({
                code: ErrorCode.CONFLICT,
                message: `Instance ${spec.name} is being created by another call (pid ${existing.creator.pid}).`,
                actions: ['Wait for it to finish, then look again.'],
                details: { name: spec.name, pid: existing.creator.pid },
                retryable: true,
              });
            }
            // Its creator died half-way: start over from a clean folder.
            return { kind: 'restart', file: existing };
          }
          if (same) return { kind: 'existing', file: existing };
          throw new HacpError({
            code: ErrorCode.ALREADY_EXISTS,
            message:
              existing.cluster === spec.cluster
                ? `Instance ${spec.name} exists in zone ${existing.zone} with another configuration.`
                : `Instance ${spec.name} exists and belongs to cluster ${existing.cluster}.`,
            actions: ['Use another replica name, or delete that instance first.'],
            details: { name: spec.name, cluster: existing.cluster, zone: existing.zone },
          });
        }
        await zoneMustBeUp(spec.zone);
        const { network, made } = await allocateLocked(spec);
        const file: InstanceFile = {
          name: spec.name,
          zone: spec.zone,
          cluster: spec.cluster,
          labels,
          createdAt: new Date().toISOString(),
          specDigest,
          requestId: options.requestId,
          state: 'creating',
          creator: selfRecord(),
          network,
          processes,
        };
        await writeJsonFile(instancePath(spec.name), file);
        return { kind: 'new', file, madeNetwork: made };
      });

      if (claim.kind === 'existing') return toInstance(claim.file);
      let file = claim.file;
      const madeNetwork = claim.kind === 'new' && claim.madeNetwork;
      if (claim.kind === 'restart') {
        await dismantle(claim.file, false);
        file = { ...claim.file, creator: selfRecord(), createdAt: new Date().toISOString() };
        await writeJsonFile(instancePath(spec.name), file);
      }

      const paths = pathsOf(spec.name);
      try {
        await ensureDir(paths.dir);
        await materialiseFiles(paths, spec.nodeConfig);
        await startReplicaProcesses({
          paths,
          processes,
          ...(hostnameSupport
            ? { hostname: { name: file.network.hostname, unshare: hostnameSupport.unshare } }
            : {}),
          graceMs: startGraceMs,
          stopGraceMs,
          logger,
          replica: spec.name,
        });
        throwIfAborted(options.signal);
      } catch (error) {
        await dismantle(file, false).catch((cleanupError: unknown) =>
          logger.error('could not clean up a failed create', {
            replica: spec.name,
            error: String(cleanupError),
          }),
        );
        await locked(async () => {
          await rm(instancePath(spec.name), { force: true });
          if (madeNetwork) await rm(networkPath(spec.name), { force: true });
        });
        throw error;
      }
      const created: InstanceFile = { ...file, state: 'created' };
      await locked(() => writeJsonFile(instancePath(spec.name), created));
      logger.info('created instance', { replica: spec.name, zone: spec.zone, ip: file.network.internalIp });
      return toInstance(created);
    },

    async get(ref: InstanceRef, options?: ReadOptions) {
      validateRef(ref);
      throwIfAborted(options?.signal);
      const file = await readInstance(ref);
      return file === undefined ? undefined : toInstance(file);
    },

    async list(filter: { cluster: string }, options?: ReadOptions) {
      assertClusterName(filter?.cluster);
      throwIfAborted(options?.signal);
      const files = (await readAll<InstanceFile>(dirs.instances)).filter(
        (file) => file.cluster === filter.cluster,
      );
      const result = await Promise.all(files.map(toInstance));
      return result.sort((a, b) => a.name.localeCompare(b.name));
    },

    async delete(ref: InstanceRef, options: MutationOptions & { keepDisk?: boolean }) {
      validateRef(ref);
      throwIfAborted(options.signal);
      const file = await readInstance(ref);
      if (file !== undefined) {
        // Like a cloud deleting a VM that held a static address: the address stays reserved, unattached.
        for (const address of await readAll<AddressFile>(dirs.addresses)) {
          if (address.holder?.kind === 'instance' && address.holder.instance.name === ref.name) {
            await stopEndpoint({ dir: endpointDir(address) });
            await locked(async () => {
              const current = await readJsonFile<AddressFile>(addressPath(address));
              if (current?.holder?.kind === 'instance' && current.holder.instance.name === ref.name) {
                const { holder: _holder, ...rest } = current;
                await writeJsonFile(addressPath(address), rest);
              }
            });
          }
        }
        await dismantle(file, options.keepDisk === true);
      }
      await locked(async () => {
        const network = await readJsonFile<NetworkFile>(networkPath(ref.name));
        if (file !== undefined) await rm(instancePath(ref.name), { force: true });
        if (network !== undefined && network.zone === ref.zone)
          await rm(networkPath(ref.name), { force: true });
      });
      if (file !== undefined) logger.info('deleted instance', { replica: ref.name, zone: ref.zone });
    },

    async stop(ref: InstanceRef, options: MutationOptions) {
      validateRef(ref);
      throwIfAborted(options.signal);
      await stopInstance(ref, 'instance');
    },

    async start(ref: InstanceRef, options: MutationOptions) {
      validateRef(ref);
      throwIfAborted(options.signal);
      await zoneMustBeUp(ref.zone);
      await startInstance(ref);
    },

    async stopProcesses(ref, names, options) {
      validateRef(ref);
      if (!Array.isArray(names) || names.some((name) => typeof name !== 'string')) {
        throw invalidArgument({ field: 'names', message: 'names must be a list of process names.' });
      }
      throwIfAborted(options.signal);
      const file = await locked(async () => {
        const current = await readInstance(ref);
        if (current === undefined) {
          throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { name: ref.name, zone: ref.zone });
        }
        const named = current.processes.map((process) => process.name).filter((name) => names.includes(name));
        const stoppedProcesses = [...new Set([...(current.stoppedProcesses ?? []), ...named])];
        if (stoppedProcesses.length === (current.stoppedProcesses ?? []).length) return current;
        // Recorded before any stops, so that status never reads an intended stop as a failure.
        const next: InstanceFile = { ...current, stoppedProcesses };
        await writeJsonFile(instancePath(ref.name), next);
        return next;
      });
      await stopReplicaProcesses({
        paths: pathsOf(ref.name),
        processes: file.processes.filter((process) => names.includes(process.name)),
        stopGraceMs,
        logger,
        replica: ref.name,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },

    async syncFiles(ref, update, options) {
      validateRef(ref);
      assertFileUpdate(update);
      throwIfAborted(options.signal);
      const file = await readInstance(ref);
      if (file === undefined) {
        throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { name: ref.name, zone: ref.zone });
      }
      // Outside the mutex, which guards short record updates only; the SDK's cluster lock orders
      // the calls for one replica.
      const { written, removed } = await syncFolder(pathsOf(file.name).root, update);
      if (written.length + removed.length > 0) {
        logger.info('synced replica files', {
          replica: ref.name,
          prefix: update.prefix,
          written: written.length,
          removed: removed.length,
        });
      }
    },
  };

  async function stopInstance(ref: InstanceRef, by: 'instance' | 'zone'): Promise<void> {
    const file = await locked(async () => {
      const current = await readInstance(ref);
      if (current === undefined) {
        throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { name: ref.name, zone: ref.zone });
      }
      // An operator's stop wins over a zone failure: restoreZone must not start it again.
      const stopped = current.stopped === 'instance' ? 'instance' : by;
      const next: InstanceFile = { ...current, stopped };
      await writeJsonFile(instancePath(ref.name), next);
      return next;
    });
    await stopReplicaProcesses({
      paths: pathsOf(ref.name),
      processes: file.processes,
      stopGraceMs,
      logger,
      replica: ref.name,
    });
  }

  /**
   * Marks the replica DOWN in every running load balancer that targets it. Its processes are about
   * to start: HAProxy may not have noticed they had stopped (a restart within `fall` checks), and
   * a starting kube-apiserver answers before it is ready.
   */
  async function markDownInLoadBalancers(ref: InstanceRef): Promise<void> {
    for (const address of await readAll<AddressFile>(dirs.addresses)) {
      if (address.holder?.kind !== 'load-balancer') continue;
      const body = await readJsonFile<LoadBalancerFile>(
        loadBalancerPath({ name: address.holder.name, region: address.region }),
      );
      if (!body?.spec.targets.some((target) => target.name === ref.name && target.zone === ref.zone))
        continue;
      const listeners = await markServerDown({ dir: endpointDir(address), server: ref.name });
      if (listeners.length > 0) {
        logger.info('target marked down until its health check passes', {
          replica: ref.name,
          loadBalancer: address.holder.name,
          listeners,
        });
      }
    }
  }

  async function startInstance(ref: InstanceRef): Promise<void> {
    const current = await readInstance(ref);
    if (current === undefined) {
      throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { name: ref.name, zone: ref.zone });
    }
    const states = await processStates(pathsOf(ref.name), current.processes);
    if (states.some((state) => !state.running)) await markDownInLoadBalancers(ref);
    const file = await locked(async () => {
      const latest = await readInstance(ref);
      if (latest === undefined) {
        throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { name: ref.name, zone: ref.zone });
      }
      const { stopped: _stopped, stoppedProcesses: _stoppedProcesses, ...rest } = latest;
      await writeJsonFile(instancePath(ref.name), rest);
      return rest as InstanceFile;
    });
    await startReplicaProcesses({
      paths: pathsOf(ref.name),
      processes: file.processes,
      ...(hostnameSupport
        ? { hostname: { name: file.network.hostname, unshare: hostnameSupport.unshare } }
        : {}),
      graceMs: startGraceMs,
      stopGraceMs,
      logger,
      replica: ref.name,
    });
  }

  // ---- the endpoint ------------------------------------------------------------------------

  function requireHaproxy(): string {
    if (binaries.haproxy === undefined) throw dependencyMissing('haproxy');
    return binaries.haproxy;
  }

  /** What HAProxy should serve for an address, from its holder; undefined when nothing holds it. */
  async function endpointConfigOf(address: AddressFile): Promise<EndpointConfig | undefined> {
    const holder = address.holder;
    if (holder === undefined) return undefined;
    const at = (port: number) => port + address.portOffset;
    if (holder.kind === 'instance') {
      const file = await readInstance(holder.instance);
      if (file === undefined) return undefined;
      const on = (port: number) => port + file.network.portOffset;
      const server = (port: number) => [{ name: file.name, host: file.network.internalIp, port: on(port) }];
      return {
        listeners: [
          {
            name: 'apiserver',
            bindHost: address.ip,
            bindPort: at(STANDARD_PORTS.apiserver),
            servers: server(STANDARD_PORTS.apiserver),
          },
          {
            name: 'etcd',
            bindHost: address.ip,
            bindPort: at(STANDARD_PORTS.etcdClient),
            servers: server(STANDARD_PORTS.etcdClient),
          },
        ],
      };
    }
    const body = await readJsonFile<LoadBalancerFile>(
      loadBalancerPath({ name: holder.name, region: address.region }),
    );
    if (body === undefined) return undefined;
    const spec = body.spec;
    const targets: InstanceFile[] = [];
    for (const target of spec.targets) {
      const file = await readInstance(target);
      if (file !== undefined) targets.push(file);
    }
    const servers = (port: number) =>
      targets.map((file) => ({
        name: file.name,
        host: file.network.internalIp,
        port: port + file.network.portOffset,
        checkPort: spec.healthCheck.port + file.network.portOffset,
      }));
    const listeners: EndpointListener[] = [
      {
        name: 'apiserver',
        bindHost: address.ip,
        bindPort: at(spec.port),
        servers: servers(spec.targetPort ?? spec.port),
      },
    ];
    if (spec.port !== STANDARD_PORTS.etcdClient) {
      listeners.push({
        name: 'etcd',
        bindHost: address.ip,
        bindPort: at(STANDARD_PORTS.etcdClient),
        servers: servers(STANDARD_PORTS.etcdClient),
      });
    }
    return { listeners, healthCheck: spec.healthCheck };
  }

  async function applyAddress(address: AddressFile, signal?: AbortSignal): Promise<void> {
    const config = await endpointConfigOf(address);
    if (config === undefined) {
      await stopEndpoint({ dir: endpointDir(address) });
      return;
    }
    await applyEndpoint({
      binary: requireHaproxy(),
      dir: endpointDir(address),
      config,
      ...(signal ? { signal } : {}),
    });
  }

  function validateAddressRef(ref: AddressRef): void {
    assertResourceName('name', ref?.name);
    assertRegionName(ref.region);
  }

  function toAddress(file: AddressFile): Address {
    return {
      name: file.name,
      region: file.region,
      ip: file.ip,
      ...(file.portOffset === 0 ? {} : { portOffset: file.portOffset }),
      ...(file.holder ? { holder: structuredClone(file.holder) } : {}),
    };
  }

  async function requireAddress(ref: AddressRef): Promise<AddressFile> {
    const file = await readJsonFile<AddressFile>(addressPath(ref));
    if (file === undefined) {
      throw notFound(`Address ${ref.name} in region ${ref.region}`, { name: ref.name, region: ref.region }, [
        'Reserve it first.',
      ]);
    }
    return file;
  }

  function describeHolder(holder: NonNullable<AddressFile['holder']>): string {
    return holder.kind === 'instance' ? `instance ${holder.instance.name}` : `load balancer ${holder.name}`;
  }

  const addresses: ProviderV1['addresses'] = {
    async reserve(ref, options) {
      validateAddressRef(ref);
      throwIfAborted(options.signal);
      await prepare();
      return locked(async () => {
        const existing = await readJsonFile<AddressFile>(addressPath(ref));
        if (existing !== undefined) return toAddress(existing);
        const { ip, portOffset } = await pickAddress();
        const file: AddressFile = { name: ref.name, region: ref.region, ip, portOffset };
        await writeJsonFile(addressPath(ref), file);
        logger.info('reserved address', { address: ref.name, ip });
        return toAddress(file);
      });
    },

    async get(ref, options) {
      validateAddressRef(ref);
      throwIfAborted(options?.signal);
      const file = await readJsonFile<AddressFile>(addressPath(ref));
      return file === undefined ? undefined : toAddress(file);
    },

    async release(ref, options) {
      validateAddressRef(ref);
      throwIfAborted(options.signal);
      await locked(async () => {
        const file = await readJsonFile<AddressFile>(addressPath(ref));
        if (file === undefined) return;
        if (file.holder !== undefined) {
          throw conflict(
            `Address ${ref.name} is held by ${describeHolder(file.holder)}; nothing was released.`,
            { name: ref.name, holder: file.holder },
            ['Detach it, or delete the load balancer, first.'],
          );
        }
        await rm(addressPath(ref), { force: true });
      });
      await stopEndpoint({ dir: endpointDir(ref) });
      await rm(endpointDir(ref), { recursive: true, force: true });
    },

    async attach(ref, instance, options) {
      validateAddressRef(ref);
      validateRef(instance);
      assertInRegion(instance, ref.region);
      throwIfAborted(options.signal);
      // Before anything changes: without HAProxy there is no endpoint to serve.
      requireHaproxy();
      const { file, changed } = await locked(async () => {
        const current = await requireAddress(ref);
        if (current.holder !== undefined) {
          const same = current.holder.kind === 'instance' && current.holder.instance.name === instance.name;
          if (!same) {
            throw conflict(
              `Address ${ref.name} is held by ${describeHolder(current.holder)}; it was not moved.`,
              { name: ref.name, holder: current.holder },
              [
                current.holder.kind === 'instance'
                  ? 'Detach it from that instance first.'
                  : 'Delete the load balancer first.',
              ],
            );
          }
          return { file: current, changed: false };
        }
        if ((await readInstance(instance)) === undefined) {
          throw notFound(`Instance ${instance.name} in zone ${instance.zone}`, { ...instance });
        }
        const next: AddressFile = {
          ...current,
          holder: { kind: 'instance', instance: { name: instance.name, zone: instance.zone } },
        };
        await writeJsonFile(addressPath(ref), next);
        return { file: next, changed: true };
      });
      try {
        await applyAddress(file, options.signal);
      } catch (error) {
        // Attaching is all or nothing: without a serving endpoint the address is not attached.
        if (changed) {
          await locked(async () => {
            const { holder: _holder, ...rest } = file;
            await writeJsonFile(addressPath(ref), rest);
          });
          await stopEndpoint({ dir: endpointDir(ref) }).catch(() => undefined);
        }
        throw error;
      }
      if (changed)
        logger.info('attached address', { address: ref.name, ip: file.ip, instance: instance.name });
      return toAddress(file);
    },

    async detach(ref, options) {
      validateAddressRef(ref);
      throwIfAborted(options.signal);
      const { file, stop } = await locked(async () => {
        const current = await requireAddress(ref);
        // A load balancer's address is not an instance's to detach: leave it (a resumed 1→2 move
        // repeats its detach after the load balancer took the address over).
        if (current.holder?.kind === 'load-balancer') return { file: current, stop: false };
        const { holder: _holder, ...rest } = current;
        if (current.holder !== undefined) await writeJsonFile(addressPath(ref), rest);
        return { file: rest as AddressFile, stop: true };
      });
      if (stop) await stopEndpoint({ dir: endpointDir(ref) });
      return toAddress(file);
    },
  };

  // ---- load balancers ----------------------------------------------------------------------

  function validateTargets(targets: readonly InstanceRef[]): void {
    if (!Array.isArray(targets)) {
      throw invalidArgument({ field: 'targets', message: 'targets must be a list of instances.' });
    }
    const seen = new Set<string>();
    for (const target of targets) {
      validateRef(target);
      if (seen.has(target.name)) {
        throw invalidArgument({
          field: 'targets',
          value: target.name,
          message: `Target ${target.name} appears twice.`,
        });
      }
      seen.add(target.name);
    }
  }

  async function targetsMustExist(targets: readonly InstanceRef[]): Promise<void> {
    for (const target of targets) {
      if ((await readInstance(target)) === undefined) {
        throw notFound(`Target instance ${target.name} in zone ${target.zone}`, { ...target });
      }
    }
  }

  async function toLoadBalancer(
    spec: LoadBalancerSpec,
    address: AddressFile | undefined,
  ): Promise<LoadBalancer> {
    const states =
      address === undefined
        ? []
        : await endpointServerStates({ dir: endpointDir({ name: spec.address, region: spec.region }) });
    return {
      ...structuredClone(spec),
      targetHealth: spec.targets.map((target) => ({
        instance: { name: target.name, zone: target.zone },
        healthy: states.some(
          (entry) => entry.listener === 'apiserver' && entry.server === target.name && entry.up,
        ),
      })),
    };
  }

  const loadBalancers: ProviderV1['loadBalancers'] = {
    async ensure(spec, options) {
      assertResourceName('name', spec?.name);
      assertRegionName(spec.region);
      assertResourceName('address', spec.address);
      assertPort('port', spec.port);
      if (spec.targetPort !== undefined) assertPort('targetPort', spec.targetPort);
      assertHealthCheck(spec.healthCheck);
      validateTargets(spec.targets);
      for (const target of spec.targets) assertInRegion(target, spec.region);
      throwIfAborted(options.signal);
      // Before anything changes: without HAProxy there is no endpoint to serve.
      requireHaproxy();
      await prepare();
      const stored: LoadBalancerSpec = {
        name: spec.name,
        region: spec.region,
        address: spec.address,
        port: spec.port,
        ...(spec.targetPort === undefined ? {} : { targetPort: spec.targetPort }),
        healthCheck: { ...spec.healthCheck },
        targets: spec.targets.map((target) => ({ name: target.name, zone: target.zone })),
      };
      const address = await locked(async () => {
        const current = await requireAddress({ name: spec.address, region: spec.region });
        if (
          current.holder !== undefined &&
          !(current.holder.kind === 'load-balancer' && current.holder.name === spec.name)
        ) {
          throw conflict(
            `Address ${spec.address} is held by ${describeHolder(current.holder)}; the load balancer was not changed.`,
            { address: spec.address, holder: current.holder },
            [
              current.holder.kind === 'instance'
                ? 'Detach the address from the instance first.'
                : 'Delete that load balancer first.',
            ],
          );
        }
        const existing = await readJsonFile<LoadBalancerFile>(loadBalancerPath(spec));
        if (existing !== undefined && existing.spec.address !== spec.address) {
          throw conflict(
            `Load balancer ${spec.name} serves address ${existing.spec.address}, not ${spec.address}.`,
            { name: spec.name, address: existing.spec.address },
            ['Delete it first to move it to another address.'],
          );
        }
        await targetsMustExist(stored.targets);
        await writeJsonFile(loadBalancerPath(spec), { spec: stored });
        const next: AddressFile = { ...current, holder: { kind: 'load-balancer', name: spec.name } };
        await writeJsonFile(addressPath({ name: spec.address, region: spec.region }), next);
        return next;
      });
      await applyAddress(address, options.signal);
      logger.info('load balancer ensured', {
        name: spec.name,
        address: address.ip,
        targets: stored.targets.length,
      });
      return toLoadBalancer(stored, address);
    },

    async get(ref, options) {
      assertResourceName('name', ref?.name);
      assertRegionName(ref.region);
      throwIfAborted(options?.signal);
      const body = await readJsonFile<LoadBalancerFile>(loadBalancerPath(ref));
      if (body === undefined) return undefined;
      const address = await readJsonFile<AddressFile>(
        addressPath({ name: body.spec.address, region: ref.region }),
      );
      return toLoadBalancer(body.spec, address);
    },

    async setTargets(ref, targets, options) {
      assertResourceName('name', ref?.name);
      assertRegionName(ref.region);
      validateTargets(targets);
      for (const target of targets) assertInRegion(target, ref.region);
      throwIfAborted(options.signal);
      // Before anything changes: without HAProxy there is no endpoint to serve.
      requireHaproxy();
      const { spec, address } = await locked(async () => {
        const body = await readJsonFile<LoadBalancerFile>(loadBalancerPath(ref));
        if (body === undefined) {
          throw notFound(`Load balancer ${ref.name} in region ${ref.region}`, { ...ref }, [
            'Create it with ensure first.',
          ]);
        }
        await targetsMustExist(targets);
        const next: LoadBalancerSpec = {
          ...body.spec,
          targets: targets.map((target) => ({ name: target.name, zone: target.zone })),
        };
        await writeJsonFile(loadBalancerPath(ref), { spec: next });
        const addressFile = await readJsonFile<AddressFile>(
          addressPath({ name: next.address, region: ref.region }),
        );
        return { spec: next, address: addressFile };
      });
      if (address !== undefined) await applyAddress(address, options.signal);
      return toLoadBalancer(spec, address);
    },

    async delete(ref, options) {
      assertResourceName('name', ref?.name);
      assertRegionName(ref.region);
      throwIfAborted(options.signal);
      const body = await readJsonFile<LoadBalancerFile>(loadBalancerPath(ref));
      if (body === undefined) return;
      const addressRef = { name: body.spec.address, region: ref.region };
      const address = await readJsonFile<AddressFile>(addressPath(addressRef));
      if (address?.holder?.kind === 'load-balancer' && address.holder.name === ref.name) {
        await stopEndpoint({ dir: endpointDir(addressRef) });
      }
      await locked(async () => {
        const current = await readJsonFile<AddressFile>(addressPath(addressRef));
        if (current?.holder?.kind === 'load-balancer' && current.holder.name === ref.name) {
          const { holder: _holder, ...rest } = current;
          await writeJsonFile(addressPath(addressRef), rest);
        }
        await rm(loadBalancerPath(ref), { force: true });
      });
      logger.info('load balancer deleted', { name: ref.name });
    },
  };

  // ---- firewalls ---------------------------------------------------------------------------

  const firewalls: ProviderV1['firewalls'] = {
    // Every replica is on this machine's loopback, which no remote host reaches: the rules are kept
    // so that status shows them and a cloud move keeps them, and nothing needs enforcing.
    async ensure(rule, options) {
      assertFirewallRule(rule);
      throwIfAborted(options.signal);
      await prepare();
      const stored: FirewallRule = {
        name: rule.name,
        cluster: rule.cluster,
        protocol: rule.protocol,
        ports: [...rule.ports],
        from: rule.from,
      };
      await locked(() => writeJsonFile(firewallPath(rule.name), { rule: stored }));
    },
    async delete(name, options) {
      assertResourceName('name', name);
      throwIfAborted(options.signal);
      await locked(() => rm(firewallPath(name), { force: true }));
    },
  };

  // ---- zones -------------------------------------------------------------------------------

  async function instancesInZone(zone: string): Promise<InstanceFile[]> {
    return (await readAll<InstanceFile>(dirs.instances)).filter((file) => file.zone === zone);
  }

  const provider: LocalProvider = {
    specificationVersion: 'v1',
    name: 'local',
    kubernetes: { programs: 'host' },
    stateDir,
    binaries,
    ownHostnames: hostnameSupport !== undefined,
    loopbackAliases,
    zones: {
      async list(options) {
        throwIfAborted(options?.signal);
        return LOCAL_ZONES.map((zone) => ({ ...zone }));
      },
    },
    state,
    instances,
    addresses,
    loadBalancers,
    firewalls,

    async reach(instance, port, options) {
      validateRef(instance);
      assertPort('port', port);
      throwIfAborted(options?.signal);
      const file = await readInstance(instance);
      if (file === undefined) {
        throw notFound(`Instance ${instance.name} in zone ${instance.zone}`, { ...instance });
      }
      return {
        host: file.network.internalIp,
        port: port + file.network.portOffset,
        close: async () => undefined,
      };
    },

    async failZone(zone, options) {
      assertLocalZone(zone);
      throwIfAborted(options?.signal);
      await prepare();
      await locked(async () => {
        const failed = await failedZoneSet();
        failed.add(zone);
        await writeJsonFile(dirs.zones, { failed: [...failed].sort() });
      });
      const stopped: string[] = [];
      for (const file of await instancesInZone(zone)) {
        if (file.stopped === 'instance' || file.state === 'creating') continue;
        await stopInstance(file, 'zone');
        stopped.push(file.name);
      }
      logger.warn('zone failed', { zone, stopped });
      return stopped;
    },

    async restoreZone(zone, options) {
      assertLocalZone(zone);
      throwIfAborted(options?.signal);
      await prepare();
      await locked(async () => {
        const failed = await failedZoneSet();
        failed.delete(zone);
        await writeJsonFile(dirs.zones, { failed: [...failed].sort() });
      });
      const started: string[] = [];
      for (const file of await instancesInZone(zone)) {
        if (file.stopped !== 'zone') continue;
        await startInstance(file);
        started.push(file.name);
      }
      logger.info('zone restored', { zone, started });
      return started;
    },

    async failedZones() {
      return [...(await failedZoneSet())].sort();
    },

    async processes(ref) {
      validateRef(ref);
      const file = await readInstance(ref);
      if (file === undefined) throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { ...ref });
      return processStates(pathsOf(file.name), file.processes);
    },
  };
  return provider;
}
