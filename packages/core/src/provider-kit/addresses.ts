import { rm } from 'node:fs/promises';
import type { Address, AddressApi, AddressHolder, AddressRef, InstanceRef } from '../provider.js';
import { throwIfAborted } from '../provider-input.js';
import { type AddressRecord, conflict, notFound, type ProcessCloud, sameInstance } from './cloud.js';
import type { EndpointRunner } from './endpoints.js';
import type { NetworkAllocations } from './networks.js';

/** How an address's holder reads in a message. */
export function describeHolder(holder: AddressHolder): string {
  return holder.kind === 'instance' ? `instance ${holder.instance.name}` : `load balancer ${holder.name}`;
}

/** The address as the contract returns it. */
function toAddress(record: AddressRecord, serving?: boolean): Address {
  return {
    name: record.name,
    region: record.region,
    ip: record.ip,
    ...(record.portOffset ? { portOffset: record.portOffset } : {}),
    ...(record.holder ? { holder: structuredClone(record.holder) } : {}),
    ...(serving === undefined ? {} : { serving }),
  };
}

/** The address, or NOT_FOUND. */
export async function requireAddress(cloud: ProcessCloud, ref: AddressRef): Promise<AddressRecord> {
  const record = await cloud.files.read<AddressRecord>(cloud.addressFile(ref));
  if (record === undefined) {
    throw notFound(`Address ${ref.name} in region ${ref.region}`, { name: ref.name, region: ref.region }, [
      'Reserve it first.',
    ]);
  }
  return record;
}

/** Writes `record` without a holder (under `cloud.locked`). */
export async function writeFreeAddress(cloud: ProcessCloud, record: AddressRecord): Promise<AddressRecord> {
  const { holder: _holder, ...free } = record;
  await cloud.files.write(cloud.addressFile(record), free);
  return free;
}

/** The address record as it is now, its holder checked to be `instance` or none. */
async function attachable(
  cloud: ProcessCloud,
  ref: AddressRef,
  instance: InstanceRef,
): Promise<AddressRecord> {
  const current = await requireAddress(cloud, ref);
  const holder = current.holder;
  if (holder !== undefined && !(holder.kind === 'instance' && sameInstance(holder.instance, instance))) {
    throw conflict(
      `Address ${ref.name} is held by ${describeHolder(holder)}; it was not moved.`,
      { name: ref.name, holder },
      [
        holder.kind === 'instance'
          ? 'Detach it from that instance first.'
          : 'Delete the load balancer first.',
      ],
    );
  }
  if ((await cloud.readInstance(instance)) === undefined) {
    throw notFound(`Instance ${instance.name} in zone ${instance.zone}`, { ...instance });
  }
  return current;
}

/**
 * The addresses of a process cloud: each one a loopback address of its own (or a port offset on a
 * shared one), served by the endpoint `runner` runs while an instance or a load balancer holds it.
 * The endpoint changes first and the record follows, so that a record never says more than what
 * runs; `get` says `serving: false` when the endpoint of a held address does not run, and attaching
 * again starts it.
 */
export function createProcessAddresses(
  cloud: ProcessCloud,
  options: { runner: EndpointRunner; networks: NetworkAllocations },
): AddressApi {
  const { runner, networks } = options;

  return {
    async reserve(ref, mutation) {
      throwIfAborted(mutation.signal);
      cloud.assertRegional(ref);
      await cloud.prepare();
      return cloud.locked(async () => {
        const existing = await cloud.files.read<AddressRecord>(cloud.addressFile(ref));
        if (existing !== undefined) return toAddress(existing);
        const { ip, portOffset } = await networks.pickAddress();
        const record: AddressRecord = { name: ref.name, region: ref.region, ip, portOffset };
        await cloud.files.write(cloud.addressFile(ref), record);
        cloud.logger.info('reserved address', { address: ref.name, ip });
        return toAddress(record);
      });
    },

    async get(ref, read) {
      throwIfAborted(read?.signal);
      cloud.assertRegional(ref);
      const record = await cloud.files.read<AddressRecord>(cloud.addressFile(ref));
      if (record === undefined) return undefined;
      return toAddress(record, record.holder === undefined ? undefined : await runner.running(ref));
    },

    async release(ref, mutation) {
      throwIfAborted(mutation.signal);
      cloud.assertRegional(ref);
      await runner.exclusive(ref, async () => {
        const record = await cloud.files.read<AddressRecord>(cloud.addressFile(ref));
        if (record?.holder !== undefined) {
          throw conflict(
            `Address ${ref.name} is held by ${describeHolder(record.holder)}; nothing was released.`,
            { name: ref.name, holder: record.holder },
            [record.holder.kind === 'instance' ? 'Detach it first.' : 'Delete the load balancer first.'],
          );
        }
        // Stopped first: a release cut short leaves the record, never an endpoint nobody knows.
        await runner.stop(ref);
        if (record !== undefined) {
          await cloud.locked(() => rm(cloud.addressFile(ref), { force: true }));
          cloud.logger.info('released address', { address: ref.name });
        }
        await rm(cloud.endpointDir(ref), { recursive: true, force: true });
      });
    },

    async attach(ref, instance, mutation) {
      throwIfAborted(mutation.signal);
      cloud.assertRegional(ref);
      cloud.assertRef(instance);
      cloud.assertInRegion(instance, ref.region, `address ${ref.name}`);
      // Before anything changes: without its program there is no endpoint to serve.
      runner.driver.assertAvailable();
      return runner.exclusive(ref, async () => {
        const current = await cloud.locked(() => attachable(cloud, ref, instance));
        const held = current.holder !== undefined;
        const next: AddressRecord = {
          ...current,
          holder: { kind: 'instance', instance: { name: instance.name, zone: instance.zone } },
        };
        const plan = await runner.planOf(next);
        if (plan === undefined)
          throw notFound(`Instance ${instance.name} in zone ${instance.zone}`, { ...instance });
        try {
          await runner.apply(ref, plan, mutation.signal);
        } catch (error) {
          // All or nothing: an address that was free stays free, with nothing serving it.
          if (!held) await runner.stop(ref).catch(() => undefined);
          throw error;
        }
        if (!held) {
          await cloud.locked(() => cloud.files.write(cloud.addressFile(ref), next));
          cloud.logger.info('attached address', { address: ref.name, ip: next.ip, instance: instance.name });
        }
        return toAddress(next, true);
      });
    },

    async detach(ref, mutation) {
      throwIfAborted(mutation.signal);
      cloud.assertRegional(ref);
      return runner.exclusive(ref, async () => {
        const current = await requireAddress(cloud, ref);
        // A load balancer keeps its address until it is deleted (a resumed VM-to-load-balancer move
        // repeats its detach after the load balancer took the address over).
        if (current.holder?.kind === 'load-balancer') return toAddress(current, await runner.running(ref));
        await runner.stop(ref);
        if (current.holder === undefined) return toAddress(current);
        return toAddress(await cloud.locked(() => writeFreeAddress(cloud, current)));
      });
    },
  };
}
