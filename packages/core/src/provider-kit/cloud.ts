import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { regionOfZone } from '../domain.js';
import { ErrorCode, HacpError } from '../errors.js';
import type { Logger } from '../logger.js';
import type {
  AddressHolder,
  AddressRef,
  FirewallRule,
  InstanceNetwork,
  InstanceRef,
  LoadBalancerSpec,
} from '../provider.js';
import { assertResourceName } from '../provider-input.js';
import { FileMutex } from './file-mutex.js';
import { DIR_MODE, ensureDir, type JsonFiles, jsonFiles } from './json-files.js';
import { type InstancePaths, instancePaths, type StoredProcess } from './process-set.js';
import type { ProcessRecord } from './processes.js';

/** What a process cloud records of an instance: `<records>/instances/<name>.json`. */
export interface InstanceRecord {
  name: string;
  zone: string;
  cluster: string;
  labels: Record<string, string>;
  createdAt: string;
  specDigest: string;
  requestId: string;
  /** `creating` until every process started; a create whose creator died leaves it so. */
  state: 'creating' | 'created';
  /** The call creating it; once this process is gone, a `creating` instance is a failed create. */
  creator: ProcessRecord & { token?: string };
  /** Whether its root (a kept disk) was there before the create, so that a rollback keeps it. */
  rootExisted?: boolean;
  /** Who stopped it: the operator (`instance`) or a zone failure (`zone`). */
  stopped?: 'instance' | 'zone';
  /** Processes stopped on purpose (stopProcesses); its status ignores them until it starts again. */
  stoppedProcesses?: string[];
  network: InstanceNetwork;
  processes: StoredProcess[];
}

/** An instance's network place, allocated before it exists: `<records>/networks/<name>.json`. */
export interface NetworkRecord {
  name: string;
  cluster: string;
  zone: string;
  network: InstanceNetwork;
}

/** A reserved address: `<records>/addresses/<region>.<name>.json`. */
export interface AddressRecord {
  name: string;
  region: string;
  ip: string;
  /** Added to the standard ports where addresses share one IP; absent means 0. */
  portOffset?: number;
  holder?: AddressHolder;
}

/** A load balancer: `<records>/load-balancers/<region>.<name>.json`. */
export interface LoadBalancerRecord {
  spec: LoadBalancerSpec;
}

/** A firewall rule, recorded only: `<records>/firewalls/<name>.json`. */
export interface FirewallRecord {
  rule: FirewallRule;
}

/** Where a process cloud keeps what, under its state folder. */
export interface ProcessCloudPaths {
  /** The mutex file of every read-modify-write. */
  mutex: string;
  /** The StateStore's records and locks. */
  stateRecords: string;
  stateLocks: string;
  /** The folders of the provider's own records. */
  instances: string;
  networks: string;
  addresses: string;
  loadBalancers: string;
  firewalls: string;
  /** One folder per instance: its root, logs and pid files. */
  replicas: string;
  /** One folder per endpoint address: its program's files. */
  endpoints: string;
  /** The mutex files of each endpoint address. */
  endpointMutexes: string;
}

/** What createProcessCloud takes. */
export interface ProcessCloudSettings {
  /** The state folder, absolute. */
  stateDir: string;
  /** Where the records of instances, networks, addresses and the rest go. Default: `stateDir`. */
  recordsDir?: string;
  /** The program writing the state, named when a file was written by a newer format. */
  writer: string;
  logger: Logger;
  /** The provider's zone rule. @throws HacpError ZONE_INVALID */
  assertZone(zone: unknown): void;
  /** The provider's region rule. @throws HacpError INVALID_ARGUMENT */
  assertRegion(region: unknown): void;
}

/**
 * The context every part of a process cloud shares (a provider whose machines are processes on this
 * machine): the state folder's layout, its JSON files, its mutex, the logger, and the provider's
 * zone and region rules. The kit's parts (instances, addresses, load balancers, firewalls, reach)
 * each take it.
 */
export interface ProcessCloud {
  readonly stateDir: string;
  readonly paths: ProcessCloudPaths;
  readonly files: JsonFiles;
  readonly mutex: FileMutex;
  readonly logger: Logger;
  /** Runs a short read-modify-write of records under the state folder's mutex. */
  locked<T>(work: () => Promise<T>): Promise<T>;
  /** Makes the state folder (0700 when new) and the record folders (0700). */
  prepare(): Promise<void>;
  /** @throws HacpError INVALID_ARGUMENT for a bad name; ZONE_INVALID for a zone the provider lacks. */
  assertRef(ref: InstanceRef): void;
  /** @throws HacpError INVALID_ARGUMENT for a bad name or region. */
  assertRegional(ref: { name: string; region: string }): void;
  /** An address serves one region (GCE's rule). @throws HacpError ZONE_NOT_IN_REGION */
  assertInRegion(instance: InstanceRef, region: string, what: string): void;
  instancePaths(name: string): InstancePaths;
  instanceFile(name: string): string;
  networkFile(name: string): string;
  addressFile(ref: AddressRef): string;
  loadBalancerFile(ref: { name: string; region: string }): string;
  endpointDir(ref: AddressRef): string;
  /** The mutex that orders the changes of one endpoint address. */
  endpointMutex(ref: AddressRef): FileMutex;
  /** The instance of that name in that zone, or undefined. */
  readInstance(ref: InstanceRef): Promise<InstanceRecord | undefined>;
}

/** NOT_FOUND for a resource, with what to do next. */
export function notFound(what: string, details: Record<string, unknown>, actions: string[] = []): HacpError {
  return new HacpError({ code: ErrorCode.NOT_FOUND, message: `${what} does not exist.`, actions, details });
}

/** CONFLICT for a resource held or made otherwise; nothing changed. */
export function conflict(message: string, details: Record<string, unknown>, actions: string[]): HacpError {
  return new HacpError({ code: ErrorCode.CONFLICT, message, actions, details, retryable: false });
}

/** Whether two refs name the same instance. */
export const sameInstance = (a: InstanceRef, b: InstanceRef): boolean =>
  a.name === b.name && a.zone === b.zone;

/**
 * The context of a process cloud over `stateDir`.
 *
 * @example
 * const cloud = createProcessCloud({
 *   stateDir: '/tmp/example-cloud', writer: 'hacp-provider-example', logger: noopLogger,
 *   assertZone: (zone) => assertZone(zone as string), assertRegion: assertRegionName,
 * });
 */
export function createProcessCloud(settings: ProcessCloudSettings): ProcessCloud {
  const { stateDir, logger } = settings;
  const records = settings.recordsDir ?? stateDir;
  const paths: ProcessCloudPaths = {
    mutex: join(stateDir, '.mutex'),
    stateRecords: join(stateDir, 'state', 'records'),
    stateLocks: join(stateDir, 'state', 'locks'),
    instances: join(records, 'instances'),
    networks: join(records, 'networks'),
    addresses: join(records, 'addresses'),
    loadBalancers: join(records, 'load-balancers'),
    firewalls: join(records, 'firewalls'),
    replicas: join(stateDir, 'replicas'),
    endpoints: join(stateDir, 'endpoints'),
    endpointMutexes: join(stateDir, '.endpoint-mutexes'),
  };
  const files = jsonFiles({ writer: settings.writer });
  const mutex = new FileMutex(paths.mutex);
  const endpointMutexes = new Map<string, FileMutex>();
  const regional = (dir: string, ref: { name: string; region: string }) =>
    join(dir, `${ref.region}.${ref.name}.json`);

  const cloud: ProcessCloud = {
    stateDir,
    paths,
    files,
    mutex,
    logger,
    locked: (work) => mutex.run(work),
    async prepare() {
      // An existing state folder keeps its mode (it may be a shared one); what is made inside is 0700.
      await mkdir(stateDir, { recursive: true, mode: DIR_MODE });
      for (const dir of [
        paths.instances,
        paths.networks,
        paths.addresses,
        paths.loadBalancers,
        paths.firewalls,
      ]) {
        await ensureDir(dir);
      }
    },
    assertRef(ref) {
      assertResourceName('name', ref?.name);
      settings.assertZone(ref.zone);
    },
    assertRegional(ref) {
      assertResourceName('name', ref?.name);
      settings.assertRegion(ref.region);
    },
    assertInRegion(instance, region, what) {
      if (regionOfZone(instance.zone) !== region) {
        throw new HacpError({
          code: ErrorCode.ZONE_NOT_IN_REGION,
          message: `Instance ${instance.name} is in zone ${instance.zone}, outside region ${region} of ${what}.`,
          actions: [`Use an instance in a zone of ${region}.`],
          details: { instance: instance.name, zone: instance.zone, region },
        });
      }
    },
    instancePaths: (name) => instancePaths(paths.replicas, name),
    instanceFile: (name) => join(paths.instances, `${name}.json`),
    networkFile: (name) => join(paths.networks, `${name}.json`),
    addressFile: (ref) => regional(paths.addresses, ref),
    loadBalancerFile: (ref) => regional(paths.loadBalancers, ref),
    endpointDir: (ref) => join(paths.endpoints, `${ref.region}.${ref.name}`),
    endpointMutex(ref) {
      const id = `${ref.region}.${ref.name}`;
      let found = endpointMutexes.get(id);
      if (found === undefined) {
        // Long enough for a slow endpoint start (HAProxy validates, starts and is waited for).
        found = new FileMutex(join(paths.endpointMutexes, id), { timeoutMs: 120_000 });
        endpointMutexes.set(id, found);
      }
      return found;
    },
    async readInstance(ref) {
      const record = await files.read<InstanceRecord>(cloud.instanceFile(ref.name));
      return record !== undefined && record.zone === ref.zone ? record : undefined;
    },
  };
  return cloud;
}
