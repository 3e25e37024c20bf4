import { cp, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { assertClusterName } from '../domain.js';
import { ErrorCode, HacpError, invalidArgument } from '../errors.js';
import { assertNodeConfig, type NodeFile } from '../node-config.js';
import type { InstanceApi, InstanceRef, MutationOptions } from '../provider.js';
import { throwIfAborted } from '../provider-input.js';
import { type InstanceRecord, notFound, type ProcessCloud } from './cloud.js';
import { createInstance } from './instance-create.js';
import {
  createInstanceRuntime,
  type InstanceRuntime,
  type ProcessInstancesSettings,
} from './instance-runtime.js';
import { assertFileUpdate, syncFolder, writeChangedFiles } from './node-files.js';
import { type ProcessState, processStates } from './process-set.js';

export { type ProcessInstancesSettings, statusOf } from './instance-runtime.js';

/**
 * Every member of the instance contract, the optional ones included, but `bootProgress`: an
 * instance here runs its NodeConfig's processes and nothing besides, so they alone say it started.
 */
export type ProcessInstanceApi = Required<Omit<InstanceApi, 'bootProgress'>>;

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

async function deleteInstance(
  runtime: InstanceRuntime,
  ref: InstanceRef,
  options: MutationOptions & { keepDisk?: boolean },
): Promise<void> {
  const { cloud, settings } = runtime;
  throwIfAborted(options.signal);
  cloud.assertRef(ref);
  const keepDisk = options.keepDisk === true;
  const record = await runtime.read(ref);
  if (record !== undefined) {
    await settings.endpoints.instanceDeleting(ref);
    await runtime.dismantle(record, keepDisk);
  }
  await cloud.locked(async () => {
    const current = await cloud.files.read<InstanceRecord>(cloud.instanceFile(ref.name));
    if (current !== undefined && current.zone !== ref.zone) return; // Another zone's instance.
    await rm(cloud.instanceFile(ref.name), { force: true });
    if (keepDisk) return;
    // Also when it was never created: a rolled-back add must not keep its place. A disk and place
    // kept by an earlier delete go with a delete that does not keep them.
    await settings.networks.free(ref);
    await rm(cloud.instancePaths(ref.name).dir, { recursive: true, force: true });
  });
  if (record !== undefined) {
    cloud.logger.info('deleted instance', { instance: ref.name, zone: ref.zone, keepDisk });
    await settings.endpoints.instanceChanged(ref);
  }
}

async function stopInstance(
  runtime: InstanceRuntime,
  ref: InstanceRef,
  by: 'instance' | 'zone',
): Promise<void> {
  const record = await runtime.cloud.locked(async () => {
    const current = await runtime.require(ref);
    // An operator's stop wins over a zone failure: restoring the zone must not start it again.
    const next: InstanceRecord = { ...current, stopped: current.stopped === 'instance' ? 'instance' : by };
    await runtime.write(next);
    return next;
  });
  await runtime.stopProcesses(record);
}

async function startInstance(runtime: InstanceRuntime, ref: InstanceRef): Promise<void> {
  const { cloud } = runtime;
  const current = await runtime.require(ref);
  // One being created has nothing to start yet.
  if (current.state !== 'created') throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { ...ref });
  const states = await processStates(cloud.files, cloud.instancePaths(ref.name), current.processes);
  if (states.some((state) => !state.running)) await runtime.settings.endpoints.instanceStarting(ref);
  const { previous, record } = await cloud.locked(async () => {
    const latest = await runtime.require(ref);
    const { stopped: _stopped, stoppedProcesses: _stoppedProcesses, ...started } = latest;
    await runtime.write(started);
    return { previous: latest, record: started as InstanceRecord };
  });
  try {
    await runtime.startProcesses(record);
  } catch (error) {
    // It did not start: it is stopped as it was.
    const stopped = previous.stopped ? { stopped: previous.stopped } : {};
    await cloud.locked(() => runtime.write({ ...record, ...stopped })).catch(() => undefined);
    throw error;
  }
}

async function stopSomeProcesses(
  runtime: InstanceRuntime,
  ref: InstanceRef,
  names: readonly string[],
  options: MutationOptions,
): Promise<void> {
  runtime.cloud.assertRef(ref);
  if (!Array.isArray(names) || names.some((name) => typeof name !== 'string')) {
    throw invalidArgument({ field: 'names', message: 'names must be a list of process names.' });
  }
  throwIfAborted(options.signal);
  const record = await runtime.cloud.locked(async () => {
    const current = await runtime.require(ref);
    const named = current.processes.map((process) => process.name).filter((name) => names.includes(name));
    const stoppedProcesses = [...new Set([...(current.stoppedProcesses ?? []), ...named])];
    if (stoppedProcesses.length === (current.stoppedProcesses ?? []).length) return current;
    // Recorded before any stops, so that status never reads an intended stop as a failure.
    const next: InstanceRecord = { ...current, stoppedProcesses };
    await runtime.write(next);
    return next;
  });
  const named = record.processes.filter((process) => names.includes(process.name));
  await runtime.stopProcesses({ name: record.name, processes: named }, options.signal);
}

async function syncFiles(
  runtime: InstanceRuntime,
  ref: InstanceRef,
  update: { prefix: string; files: readonly NodeFile[] },
  options: MutationOptions,
): Promise<void> {
  runtime.cloud.assertRef(ref);
  assertFileUpdate(update);
  throwIfAborted(options.signal);
  const record = await runtime.require(ref);
  // Outside the mutex, which guards short record updates only; the SDK's cluster lock orders the
  // calls for one instance.
  const { written, removed } = await syncFolder(runtime.cloud.instancePaths(record.name).root, update);
  if (written.length + removed.length > 0) {
    runtime.cloud.logger.info('synced instance files', {
      instance: ref.name,
      prefix: update.prefix,
      written: written.length,
      removed: removed.length,
    });
  }
}

async function writeFiles(
  runtime: InstanceRuntime,
  ref: InstanceRef,
  files: readonly NodeFile[],
  options: MutationOptions,
): Promise<void> {
  runtime.cloud.assertRef(ref);
  if (!Array.isArray(files))
    throw invalidArgument({ field: 'files', message: 'files must be a list of files.' });
  assertNodeConfig({ files, processes: [] });
  throwIfAborted(options.signal);
  const record = await runtime.require(ref);
  // Outside the mutex, as syncFiles: the SDK's cluster lock orders the calls for one instance.
  const written = await writeChangedFiles(runtime.cloud.instancePaths(record.name).root, files);
  if (written.length > 0)
    runtime.cloud.logger.info('wrote instance files', { instance: ref.name, written: written.length });
}

/**
 * Copies a prepared folder into the disk folder of an instance not created yet: to a temporary
 * sibling first, then renamed into place, so that a seed cut short leaves nothing half-copied there.
 */
async function seedData(
  runtime: InstanceRuntime,
  ref: InstanceRef,
  seed: { path: string; from: string },
  options: MutationOptions,
): Promise<void> {
  const { cloud } = runtime;
  cloud.assertRef(ref);
  throwIfAborted(options.signal);
  const path = typeof seed?.path === 'string' ? normalize(seed.path) : '';
  if (path === '' || path.startsWith('..') || path.startsWith('/') || path === '.') {
    throw invalidArgument({
      field: 'path',
      value: String(seed?.path),
      message: 'The seed path must be a folder inside the instance root, such as etcd-data.',
    });
  }
  const current = await runtime.read(ref);
  if (current !== undefined && current.state === 'created') {
    throw new HacpError({
      code: ErrorCode.CONFLICT,
      message: `Instance ${ref.name} exists: its disk can be seeded only before it is created.`,
      actions: [`Delete ${ref.name} first.`],
      details: { instance: ref.name },
    });
  }
  const target = join(cloud.instancePaths(ref.name).root, path);
  const temporary = `${target}.seed-${process.pid}`;
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  await rm(temporary, { recursive: true, force: true });
  await cp(seed.from, temporary, { recursive: true });
  await rm(target, { recursive: true, force: true });
  await rename(temporary, target);
  cloud.logger.info('seeded instance disk', { instance: ref.name, path });
}

/**
 * The instances of a process cloud: each one a set of detached processes in a folder of its own,
 * with its own network place, recorded with its state. A create is all or nothing; one whose
 * creator died half-way (a SIGKILLed CLI) is `terminated`, and the next create of it stops by pid
 * what that creator started and makes it afresh. `delete` frees the network place also when the
 * instance was never created.
 */
export function createProcessInstances(
  cloud: ProcessCloud,
  settings: ProcessInstancesSettings,
): ProcessInstances {
  const runtime = createInstanceRuntime(cloud, settings);
  const api: ProcessInstanceApi = {
    async allocateNetwork(ref, options) {
      throwIfAborted(options?.signal);
      cloud.assertRef(ref);
      assertClusterName(ref.cluster);
      await cloud.prepare();
      return structuredClone((await cloud.locked(() => settings.networks.allocate(ref))).network);
    },
    create: (spec, options) => createInstance(runtime, spec, options),
    async get(ref, options) {
      throwIfAborted(options?.signal);
      cloud.assertRef(ref);
      const record = await runtime.read(ref);
      return record === undefined ? undefined : runtime.toInstance(record);
    },
    async list(filter, options) {
      throwIfAborted(options?.signal);
      assertClusterName(filter?.cluster);
      const records = await cloud.files.readFolder<InstanceRecord>(cloud.paths.instances);
      const listed = await Promise.all(
        records.filter((record) => record.cluster === filter.cluster).map(runtime.toInstance),
      );
      // Code-unit order, the same on every machine.
      return listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    delete: (ref, options) => deleteInstance(runtime, ref, options),
    async stop(ref, options) {
      throwIfAborted(options.signal);
      cloud.assertRef(ref);
      await stopInstance(runtime, ref, 'instance');
    },
    async start(ref, options) {
      throwIfAborted(options.signal);
      cloud.assertRef(ref);
      await settings.assertZoneUp?.(ref.zone);
      await startInstance(runtime, ref);
    },
    stopProcesses: (ref, names, options) => stopSomeProcesses(runtime, ref, names, options),
    syncFiles: (ref, update, options) => syncFiles(runtime, ref, update, options),
    seedData: (ref, seed, options) => seedData(runtime, ref, seed, options),
    writeFiles: (ref, files, options) => writeFiles(runtime, ref, files, options),
  };
  return {
    api,
    stopInstance: (ref, by) => stopInstance(runtime, ref, by),
    startInstance: (ref) => startInstance(runtime, ref),
    records: () => cloud.files.readFolder<InstanceRecord>(cloud.paths.instances),
    async processes(ref) {
      const record = await runtime.require(ref);
      return processStates(cloud.files, cloud.instancePaths(record.name), record.processes);
    },
  };
}
