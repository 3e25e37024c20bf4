import type { ProviderV1, ZoneInfo } from '../provider.js';
import { throwIfAborted } from '../provider-input.js';
import { createProcessAddresses } from './addresses.js';
import type { ProcessCloud } from './cloud.js';
import { createEndpointHooks, createEndpointRunner, type EndpointDriver } from './endpoints.js';
import { createRecordedFirewalls } from './firewalls.js';
import {
  createProcessInstances,
  type ProcessInstanceApi,
  type ProcessInstances,
  type ProcessInstancesSettings,
} from './instances.js';
import { createProcessLeftovers } from './leftovers.js';
import { createProcessLoadBalancers, type ProcessLoadBalancerApi } from './load-balancers.js';
import type { NetworkAllocations } from './networks.js';
import { readFilesUnder } from './node-files.js';
import { createLoopbackReach } from './reach.js';
import { createFileStateStore } from './state-store.js';

/** What createProcessProvider takes: the cloud, its network places, its endpoint program, its instances' rules. */
export interface ProcessProviderSettings extends Omit<ProcessInstancesSettings, 'networks' | 'endpoints'> {
  cloud: ProcessCloud;
  networks: NetworkAllocations;
  /** The program that serves the endpoint addresses. */
  endpoint: EndpointDriver;
}

/** The contract's groups of a process cloud, ready to spread into a provider. */
export interface ProcessProviderGroups {
  state: ProviderV1['state'];
  instances: ProcessInstanceApi;
  addresses: ProviderV1['addresses'];
  loadBalancers: ProcessLoadBalancerApi;
  firewalls: ProviderV1['firewalls'];
  reach: ProviderV1['reach'];
  /** What is left of a cluster: its instances, network places, firewall rules and replica folders. */
  deleteLeftovers: NonNullable<ProviderV1['deleteLeftovers']>;
}

/**
 * Every group of the contract for a process cloud (state, instances, addresses, load balancers,
 * firewalls, reach), wired together: the instances tell the endpoints when they change. A provider
 * adds its name and zones, and spreads `groups`; `instances` is for what it does beyond the
 * contract (zone failures).
 *
 * @example
 * const { groups } = createProcessProvider({ cloud, networks, endpoint, resolveProgram, startCheckMs: 500, stopGraceMs: 10_000 });
 * const provider = { specificationVersion: 'v1', name: 'mine', zones: fixedZones(ZONES), ...groups };
 */
export function createProcessProvider(settings: ProcessProviderSettings): {
  groups: ProcessProviderGroups;
  instances: ProcessInstances;
} {
  const { cloud, networks, endpoint, ...rules } = settings;
  const runner = createEndpointRunner(cloud, endpoint);
  const instances = createProcessInstances(cloud, {
    ...rules,
    networks,
    endpoints: createEndpointHooks(cloud, runner),
  });
  const firewalls = createRecordedFirewalls(cloud);
  return {
    instances,
    groups: {
      state: createFileStateStore({
        recordsDir: cloud.paths.stateRecords,
        locksDir: cloud.paths.stateLocks,
        mutex: cloud.mutex,
        files: cloud.files,
        logger: cloud.logger,
      }),
      instances: instances.api,
      addresses: createProcessAddresses(cloud, { runner, networks }),
      loadBalancers: createProcessLoadBalancers(cloud, { runner }),
      firewalls,
      reach: createLoopbackReach(cloud),
      deleteLeftovers: createProcessLeftovers(cloud, { instances: instances.api, firewalls }),
    },
  };
}

/** `zones` of a provider whose zones are a fixed list. */
export function fixedZones(zones: readonly ZoneInfo[]): ProviderV1['zones'] {
  return {
    async list(options) {
      throwIfAborted(options?.signal);
      return zones.map((zone) => ({ ...zone }));
    },
  };
}

/**
 * What a process cloud can do, as `@hacp/provider-conformance` takes it (`capabilities`): stop and
 * start, a create whose process fails rolls back, stopProcesses, and syncFiles with its files read
 * from the instance root.
 */
export const PROCESS_CLOUD_CAPABILITIES = Object.freeze({
  stopStart: true,
  deleteLeftovers: true,
  failedStartRollsBack: true,
  stopProcesses: true,
  syncFiles: true,
  readFiles: ({ rootDir, prefix }: { rootDir: string; prefix: string }) => readFilesUnder(rootDir, prefix),
});
