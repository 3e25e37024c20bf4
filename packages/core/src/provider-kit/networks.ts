import { rm } from 'node:fs/promises';
import { ErrorCode, HacpError } from '../errors.js';
import type { InstanceNetwork, InstanceRef } from '../provider.js';
import type { AddressRecord, NetworkRecord, ProcessCloud } from './cloud.js';
import { type LoopbackRange, pickLoopbackIp, pickPortOffset } from './loopback.js';

/** The addresses and port offsets a state folder has given out. */
export interface TakenAddresses {
  ips: ReadonlySet<string>;
  portOffsets: ReadonlySet<number>;
}

/** Where a process cloud's addresses come from. */
export interface AddressPool {
  /** A free place for an instance or an endpoint. @throws Error when none is left */
  pick(taken: TakenAddresses): { ip: string; portOffset: number };
}

/**
 * Each instance and endpoint on its own loopback address in `range`, with the standard ports
 * (Linux, where all of 127.0.0.0/8 is local).
 */
export function loopbackAddressPool(range: LoopbackRange): AddressPool {
  return { pick: (taken) => ({ ip: pickLoopbackIp(taken.ips, range), portOffset: 0 }) };
}

/** Everything on 127.0.0.1, each instance and endpoint with its own port offset (20000, 20010, ...). */
export function sharedLoopbackAddressPool(): AddressPool {
  return { pick: (taken) => ({ ip: '127.0.0.1', portOffset: pickPortOffset(taken.portOffsets) }) };
}

/**
 * The network places of a process cloud's instances, by name: allocated before the instance
 * exists, kept while it does, freed by its delete (also when it was never created). Every call must
 * run under `cloud.locked`.
 */
export interface NetworkAllocations {
  /**
   * The place allocated to `ref.name`, made now unless it exists; `made` says which.
   * @throws HacpError ALREADY_EXISTS when the name is allocated to another cluster or zone.
   */
  allocate(ref: InstanceRef & { cluster: string }): Promise<{ network: InstanceNetwork; made: boolean }>;
  /** Frees the place of `ref.name` when it is allocated in `ref.zone`. */
  free(ref: InstanceRef): Promise<void>;
  /** A free place for an endpoint address. */
  pickAddress(): Promise<{ ip: string; portOffset: number }>;
}

/**
 * The network allocations of `cloud`: places come from `pool`, away from every instance's and
 * address's of the state folder; `hostnameOf` names the host an instance runs as.
 */
export function createNetworkAllocations(
  cloud: ProcessCloud,
  options: { pool: AddressPool; hostnameOf(ref: InstanceRef): string },
): NetworkAllocations {
  async function taken(): Promise<TakenAddresses> {
    const networks = await cloud.files.readFolder<NetworkRecord>(cloud.paths.networks);
    const addresses = await cloud.files.readFolder<AddressRecord>(cloud.paths.addresses);
    return {
      ips: new Set([
        ...networks.map((record) => record.network.internalIp),
        ...addresses.map((record) => record.ip),
      ]),
      portOffsets: new Set([
        ...networks.map((record) => record.network.portOffset),
        ...addresses.map((record) => record.portOffset ?? 0),
      ]),
    };
  }

  return {
    async allocate(ref) {
      const existing = await cloud.files.read<NetworkRecord>(cloud.networkFile(ref.name));
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
      const { ip, portOffset } = options.pool.pick(await taken());
      const network: InstanceNetwork = {
        internalIp: ip,
        hostname: options.hostnameOf(ref),
        portOffset,
        rootDir: cloud.instancePaths(ref.name).root,
      };
      const record: NetworkRecord = { name: ref.name, cluster: ref.cluster, zone: ref.zone, network };
      await cloud.files.write(cloud.networkFile(ref.name), record);
      return { network, made: true };
    },
    async free(ref) {
      const existing = await cloud.files.read<NetworkRecord>(cloud.networkFile(ref.name));
      if (existing?.zone === ref.zone) await rm(cloud.networkFile(ref.name), { force: true });
    },
    async pickAddress() {
      return options.pool.pick(await taken());
    },
  };
}
