import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { assertClusterName } from '../domain.js';
import { ErrorCode, HacpError, invalidArgument } from '../errors.js';
import { assertNodeConfig, type NodeProcess } from '../node-config.js';
import type {
  Instance,
  InstanceApi,
  InstanceRef,
  InstanceSpec,
  InstanceStatus,
  MutationOptions,
} from '../provider.js';
import { throwIfAborted } from '../provider-input.js';
import { conflict, type InstanceRecord, notFound, type ProcessCloud } from './cloud.js';
import type { EndpointHooks } from './endpoints.js';
import type { NetworkAllocations } from './networks.js';
import { assertFileUpdate, nodeConfigDigest, syncFolder, writeNodeFiles } from './node-files.js';
import {
  type ProcessState,
  processStates,
  type StoredProcess,
  startProcessSet,
  stopProcessSet,
} from './process-set.js';
import { dependencyMissing, isAlive, selfRecord } from './processes.js';

/** Every member of the instance contract, the optional ones included. */
export type ProcessInstanceApi = Required<InstanceApi>;

/** What createProcessInstances takes besides the cloud. */
export interface ProcessInstancesSettings {
  networks: NetworkAllocations;
  endpoints: EndpointHooks;
  /**
   * The absolute program a NodeProcess command names, or undefined when there is none. A command
   * with a slash that is not absolute is relative to the instance root and is resolved again at
   * each start, once the NodeConfig's files are there.
   */
  resolveProgram(command: string, root: string): string | undefined;
  /** The environment processes start with (their own `env` on top). Default: this process's. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Runs each instance under its own hostname (see ownHostnameSupport). */
  ownHostnames?: { unshare: string };
  /** How long a started process must stay up to count as started. */
  startCheckMs: number;
  /** SIGTERM to SIGKILL, for processes without their own stopGraceSeconds. */
  stopGraceMs: number;
  /** Refuses a create or start in `zone` (a failed zone). @throws HacpError */
  assertZoneUp?(zone: string): Promise<void>;
}

/** A process cloud's instances: the contract's API and what zone failures need. */
export interface ProcessInstances {
  readonly api: ProcessInstanceApi;
  /** Stops every process of the instance; `by` says who, and an operator's stop wins over a zone's. */
  stopInstance(ref: InstanceRef, by: 'instance' | 'zone'): Promise<void>;
  /** Starts every process of the instance that does not run, those stopped on purpose too. */
  startInstance(ref: InstanceRef): Promise<void>;
  /** Every instance record, in name order. */
  records(): Promise<InstanceRecord[]>;
  /** The instance's processes now. @throws HacpError NOT_FOUND */
  processes(ref: InstanceRef): Promise<ProcessState[]>;
}

type Claim =
  | { kind: 'existing'; record: InstanceRecord }
  | { kind: 'new'; record: InstanceRecord; madeNetwork: boolean; previous?: InstanceRecord };

/** What an instance's record says its status is, given which of its processes run. */
export function statusOf(record: InstanceRecord, states: readonly ProcessState[]): InstanceStatus {
  // A create whose creator died runs nothing it can vouch for: a failed create, to be made again.
  if (record.state === 'creating') return isAlive(record.creator) ? 'provisioning' : 'terminated';
  if (record.stopped !== undefined) return 'stopped';
  // A process stopped on purpose (stopProcesses) is not a failure: the machine still runs.
  const expected = states.filter((state) => !record.stoppedProcesses?.includes(state.name));
  return expected.every((state) => state.running) ? 'running' : 'terminated';
}

/**
 * The instances of a process cloud: each one a set of detached processes in a folder of its own,
 * with its own network place, recorded with its state. A create is all or nothing; one whose
 * creator died half-way (a SIGKILLed CLI) is `terminated`, and the next create of it stops by pid
 * what that creator started and makes it afresh.
 */
export function createProcessInstances(
  cloud: ProcessCloud,
  settings: ProcessInstancesSettings,
): ProcessInstances {
  const { networks, endpoints, stopGraceMs } = settings;
  const env = settings.env ?? process.env;
  const read = (ref: InstanceRef) => cloud.readInstance(ref);
  const write = (record: InstanceRecord) => cloud.files.write(cloud.instanceFile(record.name), record);

  async function require(ref: InstanceRef): Promise<InstanceRecord> {
    const record = await read(ref);
    if (record === undefined)
      throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { name: ref.name, zone: ref.zone });
    return record;
  }

  async function toInstance(record: InstanceRecord): Promise<Instance> {
    const states = await processStates(cloud.files, cloud.instancePaths(record.name), record.processes);
    return {
      name: record.name,
      zone: record.zone,
      cluster: record.cluster,
      status: statusOf(record, states),
      internalIp: record.network.internalIp,
      hostname: record.network.hostname,
      portOffset: record.network.portOffset,
      labels: { ...record.labels },
      createdAt: new Date(record.createdAt),
    };
  }

  function programOf(command: string, root: string, what: string): string {
    const program = settings.resolveProgram(command, root);
    if (program === undefined) throw dependencyMissing(command, { what });
    return program;
  }

  /** The stored form of a process: its program resolved now, unless it is in the root. */
  function storedProcess(process: NodeProcess, spec: InstanceSpec): StoredProcess {
    const inRoot = !isAbsolute(process.command) && process.command.includes('/');
    const root = cloud.instancePaths(spec.name).root;
    return {
      name: process.name,
      command: inRoot
        ? process.command
        : programOf(process.command, root, `process ${process.name} of instance ${spec.name}`),
      args: [...process.args],
      ...(process.env ? { env: { ...process.env } } : {}),
      ...(process.stopGraceSeconds === undefined ? {} : { stopGraceSeconds: process.stopGraceSeconds }),
    };
  }

  async function startProcesses(record: InstanceRecord, processes = record.processes): Promise<void> {
    const paths = cloud.instancePaths(record.name);
    await startProcessSet({
      files: cloud.files,
      paths,
      processes,
      instance: record.name,
      resolveProgram: (command) => programOf(command, paths.root, `instance ${record.name}`),
      env,
      ...(settings.ownHostnames
        ? { hostname: { name: record.network.hostname, unshare: settings.ownHostnames.unshare } }
        : {}),
      startCheckMs: settings.startCheckMs,
      stopGraceMs,
      logger: cloud.logger,
    });
  }

  async function stopProcesses(
    record: Pick<InstanceRecord, 'name' | 'processes'>,
    signal?: AbortSignal,
  ): Promise<void> {
    await stopProcessSet({
      files: cloud.files,
      paths: cloud.instancePaths(record.name),
      processes: record.processes,
      instance: record.name,
      stopGraceMs,
      logger: cloud.logger,
      ...(signal ? { signal } : {}),
    });
  }

  /** Stops what an instance runs and removes its folder: all but its root (its disk) when `keepRoot`. */
  async function dismantle(record: InstanceRecord, keepRoot: boolean): Promise<void> {
    await stopProcesses(record);
    const paths = cloud.instancePaths(record.name);
    if (!keepRoot) {
      await rm(paths.dir, { recursive: true, force: true });
      return;
    }
    for (const path of [paths.run, paths.logs]) await rm(path, { recursive: true, force: true });
  }

  /** Under the mutex: the record `spec` will be made under, or the instance that exists. */
  async function claim(
    spec: InstanceSpec,
    fresh: Omit<InstanceRecord, 'network' | 'rootExisted'>,
  ): Promise<Claim> {
    const existing = await cloud.files.read<InstanceRecord>(cloud.instanceFile(spec.name));
    if (existing !== undefined) {
      const sameOwner = existing.cluster === spec.cluster && existing.zone === spec.zone;
      if (sameOwner && existing.state === 'creating' && !isAlive(existing.creator)) {
        // Its creator died half-way: take it over, and make it afresh from its network place.
        const record: InstanceRecord = {
          ...fresh,
          network: existing.network,
          rootExisted: existing.rootExisted === true,
        };
        await write(record);
        return { kind: 'new', record, madeNetwork: false, previous: existing };
      }
      const same =
        sameOwner && (existing.specDigest === fresh.specDigest || existing.requestId === fresh.requestId);
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
      if (existing.state === 'created') return { kind: 'existing', record: existing };
      throw new HacpError({
        code: ErrorCode.CONFLICT,
        message: `Instance ${spec.name} is being created by another call (pid ${existing.creator.pid}).`,
        actions: ['Wait for it to finish, then look again.'],
        details: { name: spec.name, pid: existing.creator.pid },
        retryable: true,
      });
    }
    await settings.assertZoneUp?.(spec.zone);
    const { network, made } = await networks.allocate(spec);
    const record: InstanceRecord = {
      ...fresh,
      network,
      rootExisted: existsSync(cloud.instancePaths(spec.name).root),
    };
    await write(record);
    return { kind: 'new', record, madeNetwork: made };
  }

  /** Makes a claimed instance: files, then processes, then the record says `created`. */
  async function build(
    claimed: Extract<Claim, { kind: 'new' }>,
    spec: InstanceSpec,
    signal?: AbortSignal,
  ): Promise<InstanceRecord> {
    const { record, previous } = claimed;
    if (previous !== undefined) {
      // What the dead creator started is stopped by its pid files; its half-written disk goes too.
      await dismantle(previous, previous.rootExisted === true);
    }
    await writeNodeFiles(cloud.instancePaths(spec.name).root, spec.nodeConfig);
    await startProcesses(record);
    throwIfAborted(signal);
    const created: InstanceRecord = { ...record, state: 'created' };
    await cloud.locked(async () => {
      const current = await cloud.files.read<InstanceRecord>(cloud.instanceFile(spec.name));
      if (current?.creator.token !== record.creator.token) {
        throw conflict(`Instance ${spec.name} was deleted while it was being created.`, { name: spec.name }, [
          'Create it again if it is still wanted.',
        ]);
      }
      await write(created);
    });
    return created;
  }

  async function rollBack(claimed: Extract<Claim, { kind: 'new' }>, spec: InstanceSpec): Promise<void> {
    const { record } = claimed;
    await dismantle(record, record.rootExisted === true).catch((error: unknown) =>
      cloud.logger.error('could not clean up a failed create', { instance: spec.name, error: String(error) }),
    );
    await cloud.locked(async () => {
      const current = await cloud.files
        .read<InstanceRecord>(cloud.instanceFile(spec.name))
        .catch(() => undefined);
      if (current !== undefined && current.creator.token !== record.creator.token) return;
      await rm(cloud.instanceFile(spec.name), { force: true });
      if (claimed.madeNetwork) await networks.free(spec);
    });
  }

  async function create(spec: InstanceSpec, options: MutationOptions): Promise<Instance> {
    throwIfAborted(options.signal);
    cloud.assertRef(spec);
    assertClusterName(spec.cluster);
    assertNodeConfig(spec.nodeConfig);
    const processes = spec.nodeConfig.processes.map((process) => storedProcess(process, spec));
    await cloud.prepare();
    const labels = { ...spec.labels, 'hacp-cluster': spec.cluster };
    const fresh: Omit<InstanceRecord, 'network' | 'rootExisted'> = {
      name: spec.name,
      zone: spec.zone,
      cluster: spec.cluster,
      labels,
      createdAt: new Date().toISOString(),
      specDigest: nodeConfigDigest(spec.nodeConfig, {
        cluster: spec.cluster,
        zone: spec.zone,
        labels,
        processes,
      }),
      requestId: options.requestId,
      state: 'creating',
      creator: { ...selfRecord(), token: randomBytes(8).toString('hex') },
      processes,
    };
    const claimed = await cloud.locked(() => claim(spec, fresh));
    if (claimed.kind === 'existing') return toInstance(claimed.record);
    let created: InstanceRecord;
    try {
      created = await build(claimed, spec, options.signal);
    } catch (error) {
      await rollBack(claimed, spec);
      throw error;
    }
    cloud.logger.info('created instance', {
      instance: spec.name,
      zone: spec.zone,
      ip: created.network.internalIp,
    });
    await endpoints.instanceChanged(spec);
    return toInstance(created);
  }

  async function remove(ref: InstanceRef, options: MutationOptions & { keepDisk?: boolean }): Promise<void> {
    throwIfAborted(options.signal);
    cloud.assertRef(ref);
    const record = await read(ref);
    if (record !== undefined) {
      await endpoints.instanceDeleting(ref);
      await dismantle(record, options.keepDisk === true);
    }
    await cloud.locked(async () => {
      const current = await cloud.files.read<InstanceRecord>(cloud.instanceFile(ref.name));
      if (current !== undefined && current.zone !== ref.zone) return; // Another zone's instance.
      await rm(cloud.instanceFile(ref.name), { force: true });
      // Also when it was never created: a rolled-back add must not keep its place.
      await networks.free(ref);
      // A disk kept by an earlier delete goes with a delete that does not keep it.
      if (options.keepDisk !== true)
        await rm(cloud.instancePaths(ref.name).dir, { recursive: true, force: true });
    });
    if (record !== undefined) {
      cloud.logger.info('deleted instance', {
        instance: ref.name,
        zone: ref.zone,
        keepDisk: options.keepDisk === true,
      });
      await endpoints.instanceChanged(ref);
    }
  }

  async function stopInstance(ref: InstanceRef, by: 'instance' | 'zone'): Promise<void> {
    const record = await cloud.locked(async () => {
      const current = await require(ref);
      // An operator's stop wins over a zone failure: restoring the zone must not start it again.
      const next: InstanceRecord = { ...current, stopped: current.stopped === 'instance' ? 'instance' : by };
      await write(next);
      return next;
    });
    await stopProcesses(record);
  }

  async function startInstance(ref: InstanceRef): Promise<void> {
    const current = await require(ref);
    if (current.state !== 'created')
      throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { name: ref.name, zone: ref.zone });
    const states = await processStates(cloud.files, cloud.instancePaths(ref.name), current.processes);
    if (states.some((state) => !state.running)) await endpoints.instanceStarting(ref);
    const { previous, record } = await cloud.locked(async () => {
      const latest = await require(ref);
      const { stopped: _stopped, stoppedProcesses: _stoppedProcesses, ...started } = latest;
      await write(started);
      return { previous: latest, record: started as InstanceRecord };
    });
    try {
      await startProcesses(record);
    } catch (error) {
      // It did not start: it is stopped as it was.
      await cloud
        .locked(() => write({ ...record, ...(previous.stopped ? { stopped: previous.stopped } : {}) }))
        .catch(() => undefined);
      throw error;
    }
  }

  const api: ProcessInstanceApi = {
    async allocateNetwork(ref, options) {
      throwIfAborted(options?.signal);
      cloud.assertRef(ref);
      assertClusterName(ref.cluster);
      await cloud.prepare();
      return structuredClone((await cloud.locked(() => networks.allocate(ref))).network);
    },
    create,
    async get(ref, options) {
      throwIfAborted(options?.signal);
      cloud.assertRef(ref);
      const record = await read(ref);
      return record === undefined ? undefined : toInstance(record);
    },
    async list(filter, options) {
      throwIfAborted(options?.signal);
      assertClusterName(filter?.cluster);
      const records = (await cloud.files.readFolder<InstanceRecord>(cloud.paths.instances)).filter(
        (record) => record.cluster === filter.cluster,
      );
      const listed = await Promise.all(records.map(toInstance));
      // Code-unit order, the same on every machine.
      return listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    delete: remove,
    async stop(ref, options) {
      throwIfAborted(options.signal);
      cloud.assertRef(ref);
      await stopInstance(ref, 'instance');
    },
    async start(ref, options) {
      throwIfAborted(options.signal);
      cloud.assertRef(ref);
      await settings.assertZoneUp?.(ref.zone);
      await startInstance(ref);
    },
    async stopProcesses(ref, names, options) {
      cloud.assertRef(ref);
      if (!Array.isArray(names) || names.some((name) => typeof name !== 'string')) {
        throw invalidArgument({ field: 'names', message: 'names must be a list of process names.' });
      }
      throwIfAborted(options.signal);
      const record = await cloud.locked(async () => {
        const current = await require(ref);
        const named = current.processes.map((process) => process.name).filter((name) => names.includes(name));
        const stoppedProcesses = [...new Set([...(current.stoppedProcesses ?? []), ...named])];
        if (stoppedProcesses.length === (current.stoppedProcesses ?? []).length) return current;
        // Recorded before any stops, so that status never reads an intended stop as a failure.
        const next: InstanceRecord = { ...current, stoppedProcesses };
        await write(next);
        return next;
      });
      const named = record.processes.filter((process) => names.includes(process.name));
      await stopProcesses({ name: record.name, processes: named }, options.signal);
    },
    async syncFiles(ref, update, options) {
      cloud.assertRef(ref);
      assertFileUpdate(update);
      throwIfAborted(options.signal);
      const record = await require(ref);
      // Outside the mutex, which guards short record updates only; the SDK's cluster lock orders
      // the calls for one instance.
      const { written, removed } = await syncFolder(cloud.instancePaths(record.name).root, update);
      if (written.length + removed.length > 0) {
        cloud.logger.info('synced instance files', {
          instance: ref.name,
          prefix: update.prefix,
          written: written.length,
          removed: removed.length,
        });
      }
    },
  };

  return {
    api,
    stopInstance,
    startInstance,
    records: () => cloud.files.readFolder<InstanceRecord>(cloud.paths.instances),
    async processes(ref) {
      const record = await require(ref);
      return processStates(cloud.files, cloud.instancePaths(record.name), record.processes);
    },
  };
}
