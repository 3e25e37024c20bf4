import { access, rm } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { NodeProcess } from '../node-config.js';
import type { Instance, InstanceRef, InstanceSpec, InstanceStatus } from '../provider.js';
import { type InstanceRecord, notFound, type ProcessCloud } from './cloud.js';
import type { EndpointHooks } from './endpoints.js';
import type { NetworkAllocations } from './networks.js';
import {
  type ProcessState,
  processStates,
  type StoredProcess,
  startProcessSet,
  stopProcessSet,
} from './process-set.js';
import { dependencyMissing, isAlive } from './processes.js';

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

/** What an instance's record says its status is, given which of its processes run. */
export function statusOf(record: InstanceRecord, states: readonly ProcessState[]): InstanceStatus {
  // A create whose creator died runs nothing it can vouch for: a failed create, to be made again.
  if (record.state === 'creating') return isAlive(record.creator) ? 'provisioning' : 'terminated';
  if (record.stopped !== undefined) return 'stopped';
  // A process stopped on purpose (stopProcesses) is not a failure: the machine still runs.
  const expected = states.filter((state) => !record.stoppedProcesses?.includes(state.name));
  return expected.every((state) => state.running) ? 'running' : 'terminated';
}

/** What every operation on a process cloud's instances works with: records, processes, folders. */
export interface InstanceRuntime {
  readonly cloud: ProcessCloud;
  readonly settings: ProcessInstancesSettings;
  /** The instance of that name in that zone, or undefined. */
  read(ref: InstanceRef): Promise<InstanceRecord | undefined>;
  /** @throws HacpError NOT_FOUND */
  require(ref: InstanceRef): Promise<InstanceRecord>;
  write(record: InstanceRecord): Promise<void>;
  toInstance(record: InstanceRecord): Promise<Instance>;
  /** The stored form of a process: its program resolved now, unless it is in the root. @throws HacpError DEPENDENCY_MISSING */
  storedProcess(process: NodeProcess, spec: InstanceSpec): StoredProcess;
  startProcesses(record: InstanceRecord): Promise<void>;
  stopProcesses(record: Pick<InstanceRecord, 'name' | 'processes'>, signal?: AbortSignal): Promise<void>;
  /** Stops what an instance runs and removes its folder: all but its root (its disk) when `keepRoot`. */
  dismantle(record: InstanceRecord, keepRoot: boolean): Promise<void>;
}

/** The instance runtime of `cloud`. */
export function createInstanceRuntime(
  cloud: ProcessCloud,
  settings: ProcessInstancesSettings,
): InstanceRuntime {
  const env = settings.env ?? process.env;

  function programOf(command: string, root: string, what: string): string {
    const program = settings.resolveProgram(command, root);
    if (program === undefined) throw dependencyMissing(command, { what });
    return program;
  }

  const runtime: InstanceRuntime = {
    cloud,
    settings,
    read: (ref) => cloud.readInstance(ref),
    async require(ref) {
      const record = await cloud.readInstance(ref);
      if (record === undefined) {
        throw notFound(`Instance ${ref.name} in zone ${ref.zone}`, { name: ref.name, zone: ref.zone });
      }
      return record;
    },
    write: (record) => cloud.files.write(cloud.instanceFile(record.name), record),
    async toInstance(record) {
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
        // `delete` with keepDisk keeps the root, and the next create of this name writes into it.
        dataDiskIntact: await access(cloud.instancePaths(record.name).root).then(
          () => true,
          () => false,
        ),
      };
    },
    storedProcess(process, spec) {
      const inRoot = !isAbsolute(process.command) && process.command.includes('/');
      const root = cloud.instancePaths(spec.name).root;
      const what = `process ${process.name} of instance ${spec.name}`;
      return {
        name: process.name,
        command: inRoot ? process.command : programOf(process.command, root, what),
        args: [...process.args],
        ...(process.env ? { env: { ...process.env } } : {}),
        ...(process.stopGraceSeconds === undefined ? {} : { stopGraceSeconds: process.stopGraceSeconds }),
      };
    },
    async startProcesses(record) {
      const paths = cloud.instancePaths(record.name);
      const { ownHostnames } = settings;
      await startProcessSet({
        files: cloud.files,
        paths,
        processes: record.processes,
        instance: record.name,
        resolveProgram: (command) => programOf(command, paths.root, `instance ${record.name}`),
        env,
        ...(ownHostnames
          ? { hostname: { name: record.network.hostname, unshare: ownHostnames.unshare } }
          : {}),
        startCheckMs: settings.startCheckMs,
        stopGraceMs: settings.stopGraceMs,
        logger: cloud.logger,
      });
    },
    async stopProcesses(record, signal) {
      await stopProcessSet({
        files: cloud.files,
        paths: cloud.instancePaths(record.name),
        processes: record.processes,
        instance: record.name,
        stopGraceMs: settings.stopGraceMs,
        logger: cloud.logger,
        ...(signal ? { signal } : {}),
      });
    },
    async dismantle(record, keepRoot) {
      await runtime.stopProcesses(record);
      const paths = cloud.instancePaths(record.name);
      if (!keepRoot) {
        await rm(paths.dir, { recursive: true, force: true });
        return;
      }
      for (const path of [paths.run, paths.logs]) await rm(path, { recursive: true, force: true });
    },
  };
  return runtime;
}
