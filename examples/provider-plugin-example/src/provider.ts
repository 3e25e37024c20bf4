import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import {
  type Address,
  type AddressRef,
  assertClusterName,
  assertFirewallRule,
  assertHealthCheck,
  assertNodeConfig,
  assertPort,
  assertResourceName,
  ErrorCode,
  type FirewallRule,
  HacpError,
  type Instance,
  type InstanceApi,
  type InstanceNetwork,
  type InstanceRef,
  type InstanceSpec,
  type InstanceStatus,
  invalidArgument,
  type LoadBalancer,
  type LoadBalancerSpec,
  type Logger,
  type MutationOptions,
  type ProviderBaseSettings,
  type ProviderV1,
  type ReadOptions,
  regionOfZone,
  resolveLogger,
  throwIfAborted,
} from '@hacp/core';
import {
  applyForwarder,
  defaultForwarderScript,
  type ForwarderPaths,
  forwarderHealth,
  forwarderMissing,
  forwarderPaths,
  stopForwarder,
} from './endpoint.js';
import { DIR_MODE, ensureDir, listFolder, readJsonFile, writeJsonFile } from './files.js';
import type { ForwarderConfig, ForwarderHealthCheck, ForwarderListener } from './forwarder-config.js';
import { FileMutex } from './mutex.js';
import { pickLoopbackIp } from './network.js';
import { dependencyMissing, findProgram, isAlive, type ProcessRecord, selfRecord } from './processes.js';
import {
  type InstancePaths,
  instancePaths,
  nodeConfigDigest,
  runningStates,
  type StoredProcess,
  startProcesses,
  stopProcesses,
  writeNodeFiles,
} from './replicas.js';
import { createFileStateStore } from './state-store.js';
import { assertExampleRegion, assertExampleZone, EXAMPLE_ZONES } from './zones.js';

/** Settings of createExampleProvider. */
export interface ExampleProviderSettings extends ProviderBaseSettings {
  /** The folder that holds everything: state, instances, logs, pid files. Made 0700 when missing. */
  stateDir: string;
  logger?: Logger;
  /** How long a stopping process gets between SIGTERM and SIGKILL. Default 5000 ms. */
  stopGraceMs?: number;
  /** How long a started process must stay up to count as started. Default 1500 ms. */
  startCheckMs?: number;
  /**
   * The environment replica processes start with (a process's own `env` goes on top), and whose
   * PATH finds bare commands such as `etcd`. Default `process.env`.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Example Cloud as a ProviderV1, with `instances.stop` and `instances.start`. */
export interface ExampleProvider extends ProviderV1 {
  readonly name: 'example';
  /** The state folder in use, absolute. */
  readonly stateDir: string;
  readonly instances: Required<Omit<InstanceApi, 'stopProcesses' | 'syncFiles'>>;
}

/** The standard ports an endpoint forwards while an instance holds it. */
const INSTANCE_ENDPOINT_PORTS = { apiserver: 6443, etcdClient: 2379 } as const;
/** The forwarder probes at least this often, however long the spec's interval. */
const MAX_PROBE_INTERVAL_MS = 5_000;
/** A probe that takes longer than this counts as failed. */
const MAX_PROBE_TIMEOUT_MS = 1_000;
const FORWARDER_STOP_GRACE_MS = 2_000;

interface NetworkFile {
  name: string;
  cluster: string;
  zone: string;
  network: InstanceNetwork;
}

interface InstanceFile {
  name: string;
  zone: string;
  cluster: string;
  labels: Record<string, string>;
  createdAt: string;
  specDigest: string;
  requestId: string;
  /** `creating` until every process started; a create that died half-way leaves it so. */
  state: 'creating' | 'created';
  /** The call that is creating it; a later create takes over when this process is gone. */
  creator: ProcessRecord & { token: string };
  /** Whether the root folder (a kept disk) was there before the create, so a rollback keeps it. */
  rootExisted: boolean;
  stopped?: boolean;
  network: InstanceNetwork;
  processes: StoredProcess[];
}

interface AddressFile {
  name: string;
  region: string;
  ip: string;
  holder?: { kind: 'instance'; instance: InstanceRef } | { kind: 'load-balancer'; name: string };
}

interface LoadBalancerFile {
  spec: LoadBalancerSpec;
}

function notFound(what: string, details: Record<string, unknown>, actions: string[] = []): HacpError {
  return new HacpError({ code: ErrorCode.NOT_FOUND, message: `${what} does not exist.`, actions, details });
}

function conflict(message: string, details: Record<string, unknown>, actions: string[]): HacpError {
  return new HacpError({ code: ErrorCode.CONFLICT, message, actions, details, retryable: false });
}

function nonNegativeInteger(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw invalidArgument({
      field,
      value,
      message: `${field} must be a whole number of milliseconds, 0 or more.`,
    });
  }
  return value;
}

/** An address serves one region: the instances it reaches must be there (as on GCE). */
function assertInRegion(instance: InstanceRef, region: string, what: string): void {
  if (regionOfZone(instance.zone) !== region) {
    throw new HacpError({
      code: ErrorCode.ZONE_NOT_IN_REGION,
      message: `Instance ${instance.name} is in zone ${instance.zone}, outside region ${region} of ${what}.`,
      actions: [`Use an instance in a zone of ${region}.`],
      details: { instance: instance.name, zone: instance.zone, region },
    });
  }
}

function validateRef(ref: InstanceRef): void {
  assertResourceName('name', ref?.name);
  assertExampleZone(ref.zone);
}

function validateRegional(ref: { name: string; region: string }): void {
  assertResourceName('name', ref?.name);
  assertExampleRegion(ref.region);
}

function validateTargets(targets: readonly InstanceRef[], region: string): void {
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
    assertInRegion(target, region, 'the load balancer');
  }
}

const backendKey = (ref: InstanceRef) => `${ref.zone}/${ref.name}`;
const sameRef = (a: InstanceRef, b: InstanceRef) => a.name === b.name && a.zone === b.zone;

function describeHolder(holder: NonNullable<AddressFile['holder']>): string {
  return holder.kind === 'instance' ? `instance ${holder.instance.name}` : `load balancer ${holder.name}`;
}

function toAddress(file: AddressFile): Address {
  return {
    name: file.name,
    region: file.region,
    ip: file.ip,
    ...(file.holder ? { holder: structuredClone(file.holder) } : {}),
  };
}

function probeIntervalMs(spec: LoadBalancerSpec): number {
  return Math.min((spec.healthCheck.intervalSeconds ?? 1) * 1000, MAX_PROBE_INTERVAL_MS);
}

/**
 * Creates Example Cloud: each instance is a set of detached processes on this machine with its own
 * loopback IP (127.a.b.c, `a` in 1..63), each endpoint address a detached TCP forwarder on another,
 * and the state a 0700 folder of JSON files. What it starts outlives the process that created it,
 * until deleted; `close()` stops nothing.
 *
 * @example
 * import { createExampleProvider } from 'hacp-provider-example';
 *
 * const provider = createExampleProvider({ stateDir: '/tmp/example-cloud' });
 * const zones = await provider.zones.list(); // moon-east-a, moon-east-b, ...
 * @throws HacpError INVALID_ARGUMENT for a missing stateDir or a negative duration.
 */
export function createExampleProvider(settings: ExampleProviderSettings): ExampleProvider {
  if (typeof settings?.stateDir !== 'string' || settings.stateDir.length === 0) {
    throw invalidArgument({
      field: 'stateDir',
      message: 'Example Cloud needs a stateDir, a folder for its state.',
    });
  }
  // Absolute, because processes run in their own root folder and take absolute paths in flags.
  const stateDir = resolve(settings.stateDir);
  const logger = resolveLogger(settings.logger);
  const stopGraceMs = nonNegativeInteger('stopGraceMs', settings.stopGraceMs, 5_000);
  const startCheckMs = nonNegativeInteger('startCheckMs', settings.startCheckMs, 1_500);
  const env = settings.env ?? process.env;

  const dirs = {
    mutex: join(stateDir, 'mutex'),
    records: join(stateDir, 'state', 'records'),
    locks: join(stateDir, 'state', 'locks'),
    networks: join(stateDir, 'networks'),
    instances: join(stateDir, 'instances'),
    addresses: join(stateDir, 'addresses'),
    loadBalancers: join(stateDir, 'load-balancers'),
    firewalls: join(stateDir, 'firewalls'),
    endpoints: join(stateDir, 'endpoints'),
  };
  // One mutex for every read-modify-write of the state folder; one per endpoint for its forwarder,
  // whose (re)start is too slow to hold the state mutex for.
  const mutex = new FileMutex(join(dirs.mutex, 'state.lock'));
  const endpointMutexes = new Map<string, FileMutex>();
  const locked = <T>(work: () => Promise<T>): Promise<T> => mutex.run(work);

  const state = createFileStateStore({ recordsDir: dirs.records, locksDir: dirs.locks, mutex, logger });

  async function prepare(): Promise<void> {
    // An existing state folder keeps its mode; everything made inside it is 0700.
    await mkdir(stateDir, { recursive: true, mode: DIR_MODE });
    for (const dir of [dirs.networks, dirs.instances, dirs.addresses, dirs.loadBalancers, dirs.firewalls]) {
      await ensureDir(dir);
    }
  }

  // ---- records -------------------------------------------------------------------------------

  const networkPath = (name: string) => join(dirs.networks, `${name}.json`);
  const regionalFile = (dir: string, ref: { name: string; region: string }) =>
    join(dir, `${ref.region}.${ref.name}.json`);
  const addressPath = (ref: AddressRef) => regionalFile(dirs.addresses, ref);
  const loadBalancerPath = (ref: { name: string; region: string }) => regionalFile(dirs.loadBalancers, ref);
  const firewallPath = (name: string) => join(dirs.firewalls, `${name}.json`);
  const pathsOf = (name: string): InstancePaths => instancePaths(dirs.instances, name);
  const endpointPathsOf = (ref: AddressRef): ForwarderPaths =>
    forwarderPaths(join(dirs.endpoints, `${ref.region}.${ref.name}`));

  async function readAll<T extends object>(dir: string): Promise<T[]> {
    const bodies: T[] = [];
    for (const name of (await listFolder(dir)).filter((entry) => entry.endsWith('.json')).sort()) {
      const body = await readJsonFile<T>(join(dir, name));
      if (body !== undefined) bodies.push(body);
    }
    return bodies;
  }

  async function readInstance(ref: InstanceRef): Promise<InstanceFile | undefined> {
    const file = await readJsonFile<InstanceFile>(pathsOf(ref.name).record);
    return file !== undefined && file.zone === ref.zone ? file : undefined;
  }

  async function allInstances(): Promise<InstanceFile[]> {
    const files: InstanceFile[] = [];
    for (const name of (await listFolder(dirs.instances)).sort()) {
      const file = await readJsonFile<InstanceFile>(pathsOf(name).record);
      if (file !== undefined) files.push(file);
    }
    return files;
  }

  /** Every IP this state folder has given out: instances' and addresses'. */
  async function takenIps(): Promise<Set<string>> {
    const networks = await readAll<NetworkFile>(dirs.networks);
    const addresses = await readAll<AddressFile>(dirs.addresses);
    return new Set([...networks.map((file) => file.network.internalIp), ...addresses.map((file) => file.ip)]);
  }

  // ---- instances ---------------------------------------------------------------------------

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
          actions: ['Use another instance name.'],
          details: { name: ref.name, cluster: existing.cluster, zone: existing.zone },
        });
      }
      return { network: existing.network, made: false };
    }
    const network: InstanceNetwork = {
      internalIp: pickLoopbackIp(await takenIps()),
      hostname: `${ref.name}.${ref.zone}.example.internal`,
      portOffset: 0,
      rootDir: pathsOf(ref.name).root,
    };
    const file: NetworkFile = { name: ref.name, cluster: ref.cluster, zone: ref.zone, network };
    await writeJsonFile(networkPath(ref.name), file);
    return { network, made: true };
  }

  async function statusOf(file: InstanceFile): Promise<InstanceStatus> {
    // A create that died half-way runs nothing: `terminated`, so that the SDK creates it again.
    if (file.state === 'creating') return isAlive(file.creator) ? 'provisioning' : 'terminated';
    if (file.stopped) return 'stopped';
    const running = await runningStates(pathsOf(file.name), file.processes);
    if (running.every(Boolean)) return 'running';
    return running.some(Boolean) ? 'unknown' : 'terminated';
  }

  async function toInstance(file: InstanceFile): Promise<Instance> {
    return {
      name: file.name,
      zone: file.zone,
      cluster: file.cluster,
      status: await statusOf(file),
      internalIp: file.network.internalIp,
      hostname: file.network.hostname,
      portOffset: file.network.portOffset,
      labels: { ...file.labels },
      createdAt: new Date(file.createdAt),
    };
  }

  /** Fails before anything is made when a command found on PATH (or absolute) is not there. */
  function assertCommandsExist(spec: InstanceSpec): void {
    for (const process of spec.nodeConfig.processes) {
      // Relative paths (`bin/server`) are looked up in the root once the files are written.
      if (!isAbsolute(process.command) && process.command.includes('/')) continue;
      if (findProgram(process.command, { cwd: stateDir, path: env.PATH }) === undefined) {
        throw dependencyMissing(process.command, `process ${process.name} of instance ${spec.name}`);
      }
    }
  }

  /** Stops what an instance runs and removes its folder, all but the root when `keepRoot`. */
  async function dismantle(file: Pick<InstanceFile, 'name' | 'processes'>, keepRoot: boolean): Promise<void> {
    const paths = pathsOf(file.name);
    await stopProcesses({ paths, processes: file.processes, instance: file.name, stopGraceMs, logger });
    if (!keepRoot) {
      await rm(paths.dir, { recursive: true, force: true });
      return;
    }
    for (const path of [paths.run, paths.logs, paths.record])
      await rm(path, { recursive: true, force: true });
  }

  const instances: ExampleProvider['instances'] = {
    async allocateNetwork(ref, options) {
      throwIfAborted(options?.signal);
      validateRef(ref);
      assertClusterName(ref.cluster);
      await prepare();
      return structuredClone((await locked(() => allocateLocked(ref))).network);
    },

    async create(spec, options) {
      throwIfAborted(options.signal);
      validateRef(spec);
      assertClusterName(spec.cluster);
      assertNodeConfig(spec.nodeConfig);
      assertCommandsExist(spec);
      await prepare();
      const labels = { ...spec.labels, 'hacp-cluster': spec.cluster };
      const specDigest = nodeConfigDigest(spec.nodeConfig, {
        cluster: spec.cluster,
        zone: spec.zone,
        labels,
      });
      const processes: StoredProcess[] = spec.nodeConfig.processes.map((process) => ({
        name: process.name,
        command: process.command,
        args: [...process.args],
        ...(process.env ? { env: { ...process.env } } : {}),
      }));
      const paths = pathsOf(spec.name);
      const creator = { ...selfRecord(), token: randomBytes(8).toString('hex') };

      type Claim =
        | { kind: 'existing'; file: InstanceFile }
        | { kind: 'restart'; file: InstanceFile }
        | { kind: 'new'; file: InstanceFile; madeNetwork: boolean };
      const claim = await locked(async (): Promise<Claim> => {
        const existing = await readJsonFile<InstanceFile>(paths.record);
        if (existing !== undefined) {
          const same =
            existing.cluster === spec.cluster &&
            existing.zone === spec.zone &&
            (existing.specDigest === specDigest || existing.requestId === options.requestId);
          if (!same) {
            throw new HacpError({
              code: ErrorCode.ALREADY_EXISTS,
              message:
                existing.cluster === spec.cluster
                  ? `Instance ${spec.name} exists in zone ${existing.zone} with another configuration.`
                  : `Instance ${spec.name} exists and belongs to cluster ${existing.cluster}.`,
              actions: ['Use another instance name, or delete that instance first.'],
              details: { name: spec.name, cluster: existing.cluster, zone: existing.zone },
            });
          }
          if (existing.state === 'created') return { kind: 'existing', file: existing };
          if (isAlive(existing.creator)) {
            throw new HacpError({
              code: ErrorCode.CONFLICT,
              message: `Instance ${spec.name} is being created by another call (pid ${existing.creator.pid}).`,
              actions: ['Wait for it to finish, then look again.'],
              details: { name: spec.name, pid: existing.creator.pid },
              retryable: true,
            });
          }
          // Its creator died half-way: take over, and start again from its files.
          const file: InstanceFile = { ...existing, creator, createdAt: new Date().toISOString() };
          await writeJsonFile(paths.record, file);
          return { kind: 'restart', file };
        }
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
          creator,
          rootExisted: existsSync(paths.root),
          network,
          processes,
        };
        await ensureDir(paths.dir);
        await writeJsonFile(paths.record, file);
        return { kind: 'new', file, madeNetwork: made };
      });
      if (claim.kind === 'existing') return toInstance(claim.file);

      const { file } = claim;
      try {
        if (claim.kind === 'restart') await dismantle(file, true);
        await writeNodeFilesAndStart(file, spec);
        throwIfAborted(options.signal);
        await locked(async () => {
          // Deleted meanwhile by another call: what was started is stopped below.
          const current = await readJsonFile<InstanceFile>(paths.record);
          if (current?.creator.token !== creator.token) {
            throw conflict(
              `Instance ${spec.name} was deleted while it was being created.`,
              { name: spec.name },
              ['Create it again if it is still wanted.'],
            );
          }
          await writeJsonFile(paths.record, { ...file, state: 'created' });
        });
      } catch (error) {
        await dismantle(file, file.rootExisted).catch((cleanupError: unknown) =>
          logger.error('could not clean up a failed create', {
            instance: spec.name,
            error: String(cleanupError),
          }),
        );
        await locked(async () => {
          const current = await readJsonFile<InstanceFile>(paths.record).catch(() => undefined);
          if (current === undefined || current.creator.token === creator.token) {
            await rm(paths.record, { force: true });
            if (claim.kind === 'new' && claim.madeNetwork) await rm(networkPath(spec.name), { force: true });
          }
        });
        throw error;
      }
      logger.info('created instance', { instance: spec.name, zone: spec.zone, ip: file.network.internalIp });
      await refreshEndpointsOf(spec);
      return toInstance({ ...file, state: 'created' });
    },

    async get(ref, options?: ReadOptions) {
      throwIfAborted(options?.signal);
      validateRef(ref);
      const file = await readInstance(ref);
      return file === undefined ? undefined : toInstance(file);
    },

    async list(filter, options?: ReadOptions) {
      throwIfAborted(options?.signal);
      assertClusterName(filter?.cluster);
      const files = (await allInstances()).filter((file) => file.cluster === filter.cluster);
      const listed = await Promise.all(files.map(toInstance));
      // Code-unit order, the same on every machine.
      return listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async delete(ref, options: MutationOptions & { keepDisk?: boolean }) {
      throwIfAborted(options.signal);
      validateRef(ref);
      const file = await readInstance(ref);
      if (file !== undefined) {
        await dismantle(file, true);
        // As on a cloud, an address attached to a deleted instance stays reserved, and is free.
        for (const address of await readAll<AddressFile>(dirs.addresses)) {
          if (address.holder?.kind !== 'instance' || !sameRef(address.holder.instance, ref)) continue;
          await locked(async () => {
            const current = await readJsonFile<AddressFile>(addressPath(address));
            if (current?.holder?.kind === 'instance' && sameRef(current.holder.instance, ref)) {
              const { holder: _holder, ...rest } = current;
              await writeJsonFile(addressPath(address), rest);
            }
          });
          await applyEndpoint(address);
        }
      }
      await locked(async () => {
        const paths = pathsOf(ref.name);
        const current = await readJsonFile<InstanceFile>(paths.record);
        if (current !== undefined && current.zone !== ref.zone) return; // Another zone's instance.
        const network = await readJsonFile<NetworkFile>(networkPath(ref.name));
        if (network !== undefined && network.zone === ref.zone)
          await rm(networkPath(ref.name), { force: true });
        if (options.keepDisk) {
          await rm(paths.record, { force: true });
        } else {
          await rm(paths.dir, { recursive: true, force: true });
        }
      });
      if (file !== undefined) {
        logger.info('deleted instance', {
          instance: ref.name,
          zone: ref.zone,
          keepDisk: options.keepDisk === true,
        });
        await refreshEndpointsOf(ref);
      }
    },

    async stop(ref, options) {
      throwIfAborted(options.signal);
      validateRef(ref);
      const file = await setStopped(ref, true);
      await stopProcesses({
        paths: pathsOf(ref.name),
        processes: file.processes,
        instance: ref.name,
        stopGraceMs,
        logger,
      });
    },

    async start(ref, options) {
      throwIfAborted(options.signal);
      validateRef(ref);
      const file = await setStopped(ref, false);
      try {
        await startProcesses({
          paths: pathsOf(ref.name),
          processes: file.processes,
          instance: ref.name,
          env,
          startCheckMs,
          stopGraceMs,
          logger,
        });
      } catch (error) {
        // It did not start: it is still stopped.
        await setStopped(ref, true).catch(() => undefined);
        throw error;
      }
    },
  };

  async function writeNodeFilesAndStart(file: InstanceFile, spec: InstanceSpec): Promise<void> {
    const paths = pathsOf(file.name);
    await writeNodeFiles(paths.root, spec.nodeConfig);
    await startProcesses({
      paths,
      processes: file.processes,
      instance: file.name,
      env,
      startCheckMs,
      stopGraceMs,
      logger,
    });
  }

  async function setStopped(ref: InstanceRef, stopped: boolean): Promise<InstanceFile> {
    return locked(async () => {
      const current = await readInstance(ref);
      if (current === undefined || current.state !== 'created') {
        throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { name: ref.name, zone: ref.zone });
      }
      const { stopped: _stopped, ...rest } = current;
      const next: InstanceFile = stopped ? { ...rest, stopped: true } : rest;
      await writeJsonFile(pathsOf(ref.name).record, next);
      return next;
    });
  }

  // ---- the endpoint ------------------------------------------------------------------------

  function requireForwarder(): string {
    const script = defaultForwarderScript();
    if (script === undefined) throw forwarderMissing();
    return script;
  }

  /** What the forwarder of an address serves, from its holder; undefined when nothing holds it. */
  async function forwarderConfigOf(
    address: AddressFile,
  ): Promise<Pick<ForwarderConfig, 'listeners' | 'healthCheck'> | undefined> {
    const holder = address.holder;
    if (holder === undefined) return undefined;
    if (holder.kind === 'instance') {
      const file = await readInstance(holder.instance);
      if (file === undefined) return undefined;
      const listeners: ForwarderListener[] = Object.entries(INSTANCE_ENDPOINT_PORTS).map(([name, port]) => ({
        name,
        host: address.ip,
        port,
        backends: [{ key: backendKey(file), host: file.network.internalIp, port }],
      }));
      return { listeners };
    }
    const body = await readJsonFile<LoadBalancerFile>(
      loadBalancerPath({ name: holder.name, region: address.region }),
    );
    if (body === undefined) return undefined;
    const { spec } = body;
    const targets: InstanceFile[] = [];
    for (const target of spec.targets) {
      const file = await readInstance(target);
      if (file !== undefined) targets.push(file);
    }
    const backends = (port: number) =>
      targets.map((file) => ({ key: backendKey(file), host: file.network.internalIp, port }));
    const listeners: ForwarderListener[] = [
      { name: 'api', host: address.ip, port: spec.port, backends: backends(spec.targetPort ?? spec.port) },
    ];
    // 2379 too, so that the endpoint can be exercised with etcdctl alone.
    if (spec.port !== INSTANCE_ENDPOINT_PORTS.etcdClient) {
      listeners.push({
        name: 'etcdClient',
        host: address.ip,
        port: INSTANCE_ENDPOINT_PORTS.etcdClient,
        backends: backends(INSTANCE_ENDPOINT_PORTS.etcdClient),
      });
    }
    const check = spec.healthCheck;
    const healthCheck: ForwarderHealthCheck = {
      protocol: check.protocol,
      port: check.port,
      path: check.path ?? '/',
      intervalMs: probeIntervalMs(spec),
      timeoutMs: Math.min((check.timeoutSeconds ?? 1) * 1000, MAX_PROBE_TIMEOUT_MS),
      healthyThreshold: check.healthyThreshold ?? 1,
      unhealthyThreshold: check.unhealthyThreshold ?? 1,
      targets: targets.map((file) => ({ key: backendKey(file), host: file.network.internalIp })),
    };
    return { listeners, healthCheck };
  }

  function endpointMutex(ref: AddressRef): FileMutex {
    const id = `${ref.region}.${ref.name}`;
    let found = endpointMutexes.get(id);
    if (found === undefined) {
      found = new FileMutex(join(dirs.mutex, `endpoint-${id}.lock`));
      endpointMutexes.set(id, found);
    }
    return found;
  }

  /**
   * Makes the address's forwarder serve what the state says now: started or re-signalled while
   * something holds the address, stopped when nothing does. Calls for one address run one at a time,
   * each reading the state afresh, so the last one wins.
   */
  async function applyEndpoint(ref: AddressRef): Promise<void> {
    const paths = endpointPathsOf(ref);
    await endpointMutex(ref).run(async () => {
      const address = await readJsonFile<AddressFile>(addressPath(ref));
      const config = address === undefined ? undefined : await forwarderConfigOf(address);
      if (config === undefined) {
        await stopForwarder(paths, FORWARDER_STOP_GRACE_MS);
        if (address === undefined) await rm(paths.dir, { recursive: true, force: true });
        return;
      }
      await applyForwarder({ paths, config, script: requireForwarder(), address: ref.name, logger });
    });
  }

  /** Re-applies the endpoints that reach `instance`, whose IP or existence just changed. */
  async function refreshEndpointsOf(instance: InstanceRef): Promise<void> {
    for (const address of await readAll<AddressFile>(dirs.addresses)) {
      const holder = address.holder;
      if (holder?.kind !== 'load-balancer') continue;
      const body = await readJsonFile<LoadBalancerFile>(
        loadBalancerPath({ name: holder.name, region: address.region }),
      ).catch(() => undefined);
      if (!body?.spec.targets.some((target) => sameRef(target, instance))) continue;
      await applyEndpoint(address).catch((error: unknown) =>
        logger.warn('could not refresh an endpoint', { address: address.name, error: String(error) }),
      );
    }
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

  const addresses: ProviderV1['addresses'] = {
    async reserve(ref, options) {
      throwIfAborted(options.signal);
      validateRegional(ref);
      await prepare();
      return locked(async () => {
        const existing = await readJsonFile<AddressFile>(addressPath(ref));
        if (existing !== undefined) return toAddress(existing);
        const file: AddressFile = {
          name: ref.name,
          region: ref.region,
          ip: pickLoopbackIp(await takenIps()),
        };
        await writeJsonFile(addressPath(ref), file);
        logger.info('reserved address', { address: ref.name, ip: file.ip });
        return toAddress(file);
      });
    },

    async get(ref, options) {
      throwIfAborted(options?.signal);
      validateRegional(ref);
      const file = await readJsonFile<AddressFile>(addressPath(ref));
      return file === undefined ? undefined : toAddress(file);
    },

    async release(ref, options) {
      throwIfAborted(options.signal);
      validateRegional(ref);
      const released = await locked(async () => {
        const file = await readJsonFile<AddressFile>(addressPath(ref));
        if (file === undefined) return false;
        if (file.holder !== undefined) {
          throw conflict(
            `Address ${ref.name} is held by ${describeHolder(file.holder)}; nothing was released.`,
            { name: ref.name, holder: file.holder },
            [file.holder.kind === 'instance' ? 'Detach it first.' : 'Delete the load balancer first.'],
          );
        }
        await rm(addressPath(ref), { force: true });
        return true;
      });
      // Also when it was released already: a release that died half-way left its forwarder folder.
      await applyEndpoint(ref);
      if (released) logger.info('released address', { address: ref.name });
    },

    async attach(ref, instance, options) {
      throwIfAborted(options.signal);
      validateRegional(ref);
      validateRef(instance);
      assertInRegion(instance, ref.region, `address ${ref.name}`);
      // Before anything changes: without the forwarder there is no endpoint to serve.
      requireForwarder();
      const { file, changed } = await locked(async () => {
        const current = await requireAddress(ref);
        if (current.holder !== undefined) {
          if (current.holder.kind === 'instance' && sameRef(current.holder.instance, instance)) {
            return { file: current, changed: false };
          }
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
        await applyEndpoint(ref);
      } catch (error) {
        // All or nothing: without a serving endpoint the address is not attached.
        if (changed) {
          await locked(async () => {
            const current = await readJsonFile<AddressFile>(addressPath(ref));
            if (current?.holder?.kind === 'instance' && sameRef(current.holder.instance, instance)) {
              const { holder: _holder, ...rest } = current;
              await writeJsonFile(addressPath(ref), rest);
            }
          });
          await applyEndpoint(ref).catch(() => undefined);
        }
        throw error;
      }
      if (changed)
        logger.info('attached address', { address: ref.name, ip: file.ip, instance: instance.name });
      return toAddress(file);
    },

    async detach(ref, options) {
      throwIfAborted(options.signal);
      validateRegional(ref);
      const file = await locked(async () => {
        const current = await requireAddress(ref);
        // A load balancer keeps its address until it is deleted (a resumed VM-to-load-balancer
        // move repeats its detach after the load balancer took the address over).
        if (current.holder?.kind !== 'instance') return current;
        const { holder: _holder, ...rest } = current;
        await writeJsonFile(addressPath(ref), rest);
        return rest;
      });
      await applyEndpoint(ref);
      return toAddress(file);
    },
  };

  // ---- load balancers ----------------------------------------------------------------------

  function validateSpec(spec: LoadBalancerSpec): void {
    validateRegional(spec);
    assertResourceName('address', spec.address);
    assertPort('port', spec.port);
    if (spec.targetPort !== undefined) assertPort('targetPort', spec.targetPort);
    assertHealthCheck(spec.healthCheck);
    validateTargets(spec.targets, spec.region);
  }

  async function targetsMustExist(targets: readonly InstanceRef[]): Promise<void> {
    for (const target of targets) {
      if ((await readInstance(target)) === undefined) {
        throw notFound(`Target instance ${target.name} in zone ${target.zone}`, { ...target });
      }
    }
  }

  async function toLoadBalancer(spec: LoadBalancerSpec): Promise<LoadBalancer> {
    const address = await readJsonFile<AddressFile>(addressPath({ name: spec.address, region: spec.region }));
    const serving = address?.holder?.kind === 'load-balancer' && address.holder.name === spec.name;
    const health = serving
      ? await forwarderHealth(
          endpointPathsOf({ name: spec.address, region: spec.region }),
          probeIntervalMs(spec),
        )
      : {};
    return {
      ...structuredClone(spec),
      targetHealth: spec.targets.map((target) => ({
        instance: { name: target.name, zone: target.zone },
        healthy: health[backendKey(target)] === true,
      })),
    };
  }

  const loadBalancers: ProviderV1['loadBalancers'] = {
    async ensure(spec, options) {
      throwIfAborted(options.signal);
      validateSpec(spec);
      requireForwarder();
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
      const addressRef = { name: spec.address, region: spec.region };
      const previousAddress = await locked(async () => {
        const current = await requireAddress(addressRef);
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
        await targetsMustExist(stored.targets);
        const existing = await readJsonFile<LoadBalancerFile>(loadBalancerPath(spec));
        let previous: AddressRef | undefined;
        if (existing !== undefined && existing.spec.address !== spec.address) {
          // Moving to another address frees the one it served.
          previous = { name: existing.spec.address, region: spec.region };
          const old = await readJsonFile<AddressFile>(addressPath(previous));
          if (old?.holder?.kind === 'load-balancer' && old.holder.name === spec.name) {
            const { holder: _holder, ...rest } = old;
            await writeJsonFile(addressPath(previous), rest);
          }
        }
        const body: LoadBalancerFile = { spec: stored };
        await writeJsonFile(loadBalancerPath(spec), body);
        const next: AddressFile = { ...current, holder: { kind: 'load-balancer', name: spec.name } };
        await writeJsonFile(addressPath(addressRef), next);
        return previous;
      });
      if (previousAddress !== undefined) await applyEndpoint(previousAddress);
      await applyEndpoint(addressRef);
      logger.info('load balancer ensured', {
        name: spec.name,
        address: spec.address,
        targets: stored.targets.length,
      });
      return toLoadBalancer(stored);
    },

    async get(ref, options) {
      throwIfAborted(options?.signal);
      validateRegional(ref);
      const body = await readJsonFile<LoadBalancerFile>(loadBalancerPath(ref));
      return body === undefined ? undefined : toLoadBalancer(body.spec);
    },

    async setTargets(ref, targets, options) {
      throwIfAborted(options.signal);
      validateRegional(ref);
      validateTargets(targets, ref.region);
      requireForwarder();
      const spec = await locked(async () => {
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
        const file: LoadBalancerFile = { spec: next };
        await writeJsonFile(loadBalancerPath(ref), file);
        return next;
      });
      await applyEndpoint({ name: spec.address, region: spec.region });
      return toLoadBalancer(spec);
    },

    async delete(ref, options) {
      throwIfAborted(options.signal);
      validateRegional(ref);
      const addressRef = await locked(async () => {
        const body = await readJsonFile<LoadBalancerFile>(loadBalancerPath(ref));
        if (body === undefined) return undefined;
        const served = { name: body.spec.address, region: ref.region };
        const current = await readJsonFile<AddressFile>(addressPath(served));
        if (current?.holder?.kind === 'load-balancer' && current.holder.name === ref.name) {
          const { holder: _holder, ...rest } = current;
          await writeJsonFile(addressPath(served), rest);
        }
        await rm(loadBalancerPath(ref), { force: true });
        return served;
      });
      if (addressRef === undefined) return;
      await applyEndpoint(addressRef);
      logger.info('load balancer deleted', { name: ref.name });
    },
  };

  // ---- firewalls ---------------------------------------------------------------------------

  const firewalls: ProviderV1['firewalls'] = {
    // Every replica is on this machine's loopback, which no other host reaches: the rules are
    // recorded (for status, and for a move to a real cloud) and nothing enforces them.
    async ensure(rule, options) {
      throwIfAborted(options.signal);
      assertFirewallRule(rule);
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
      throwIfAborted(options.signal);
      assertResourceName('name', name);
      await locked(() => rm(firewallPath(name), { force: true }));
    },
  };

  return {
    specificationVersion: 'v1',
    name: 'example',
    stateDir,
    zones: {
      async list(options) {
        throwIfAborted(options?.signal);
        return EXAMPLE_ZONES.map((zone) => ({ ...zone }));
      },
    },
    state,
    instances,
    addresses,
    loadBalancers,
    firewalls,

    async reach(instance, port, options) {
      throwIfAborted(options?.signal);
      validateRef(instance);
      assertPort('port', port);
      const file = await readInstance(instance);
      if (file === undefined) {
        throw notFound(`Instance ${instance.name} in zone ${instance.zone}`, { ...instance });
      }
      // Loopback is reachable from here as it is: no tunnel to open or close.
      return { host: file.network.internalIp, port: port + file.network.portOffset, close: async () => {} };
    },

    async close() {
      // Nothing to close: replicas and forwarders are detached and outlive this process on purpose.
    },
  };
}
