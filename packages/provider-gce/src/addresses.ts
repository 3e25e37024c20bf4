/**
 * The endpoint: a regional static EXTERNAL address (the SDK names it `<cluster>-master-ip`, as
 * kube-up did). Attached to a replica, it is the NAT IP of the replica's access config
 * `external-nat`; held by the load balancer, it is its forwarding rule's IP. Who holds it is read
 * from the address's `users`, never kept elsewhere.
 */

import type { protos } from '@google-cloud/compute';
import {
  type Address,
  type AddressHolder,
  type AddressRef,
  assertRegionName,
  assertResourceName,
  ErrorCode,
  HacpError,
  type InstanceRef,
  type MutationOptions,
  type ProviderV1,
  regionOfZone,
  throwIfAborted,
} from '@hacp/core';
import { NO_GAX_RETRY } from './compute.js';
import type { GceContext } from './context.js';
import { assertInstanceRef, type GceInstances } from './instances.js';
import { ACCESS_CONFIG_NAME, parseResourceUrl } from './names.js';

type GceAddress = protos.google.cloud.compute.v1.IAddress;
type GceInstance = protos.google.cloud.compute.v1.IInstance;

/** Who holds an address, from its `users`: an instance, a forwarding rule, or something else. */
export function holderOf(address: GceAddress): AddressHolder | { kind: 'other'; url: string } | undefined {
  const user = address.users?.[0];
  if (user === undefined || user === null) return undefined;
  const parsed = parseResourceUrl(user);
  if (parsed.kind === 'instance')
    return { kind: 'instance', instance: { name: parsed.name, zone: parsed.zone } };
  if (parsed.kind === 'forwarding-rule') return { kind: 'load-balancer', name: parsed.name };
  return { kind: 'other', url: user };
}

function describeHolder(holder: NonNullable<ReturnType<typeof holderOf>>): string {
  if (holder.kind === 'instance') return `instance ${holder.instance.name} in ${holder.instance.zone}`;
  if (holder.kind === 'load-balancer') return `load balancer ${holder.name}`;
  return holder.url;
}

/** The address part of the GCE provider, plus what the load balancers need from it. */
export interface GceAddresses {
  api: ProviderV1['addresses'];
  read(ref: AddressRef, signal?: AbortSignal): Promise<GceAddress | undefined>;
  /** Reads it or throws NOT_FOUND. */
  require(ref: AddressRef, signal?: AbortSignal): Promise<GceAddress>;
  toAddress(address: GceAddress, region: string): Address;
  /** Gives an instance that has no access config an ephemeral one (repairs an interrupted detach). */
  ensureExternalAccess(ref: InstanceRef, options: MutationOptions): Promise<void>;
}

function assertAddressRef(ref: AddressRef): void {
  assertResourceName('name', ref?.name);
  assertRegionName(ref.region);
}

/**
 * The addresses of the GCE provider.
 *
 * @example
 * const addresses = createGceAddresses(context, instances);
 * await addresses.api.attach({ name: 'kubernetes-master-ip', region }, replica, { requestId });
 */
export function createGceAddresses(context: GceContext, instances: GceInstances): GceAddresses {
  const { session, settings, logger } = context;
  const project = settings.project;

  function toAddress(address: GceAddress, region: string): Address {
    const holder = holderOf(address);
    return {
      name: address.name ?? '',
      region,
      ip: address.address ?? '',
      ...(holder === undefined || holder.kind === 'other' ? {} : { holder }),
    };
  }

  async function read(ref: AddressRef, signal?: AbortSignal): Promise<GceAddress | undefined> {
    const found = await session.find(
      { call: `get address regions/${ref.region}/addresses/${ref.name}`, signal, region: ref.region },
      () => session.clients().addresses.get({ project, region: ref.region, address: ref.name }, NO_GAX_RETRY),
    );
    return found?.[0];
  }

  async function require(ref: AddressRef, signal?: AbortSignal): Promise<GceAddress> {
    const address = await read(ref, signal);
    if (address === undefined) {
      throw new HacpError({
        code: ErrorCode.NOT_FOUND,
        message: `Address ${ref.name} is not reserved in ${ref.region}.`,
        actions: ['Reserve it first.'],
        details: { name: ref.name, region: ref.region },
      });
    }
    return address;
  }

  async function requireInstance(ref: InstanceRef, signal?: AbortSignal): Promise<GceInstance> {
    const instance = await instances.read(ref, signal);
    if (instance === undefined) {
      throw new HacpError({
        code: ErrorCode.NOT_FOUND,
        message: `There is no instance ${ref.name} in ${ref.zone}.`,
        details: { name: ref.name, zone: ref.zone },
      });
    }
    return instance;
  }

  /** Replaces the instance's access configs by one `external-nat` with `natIP` (ephemeral without). */
  async function replaceAccessConfig(
    ref: InstanceRef,
    instance: GceInstance,
    natIP: string | undefined,
    options: MutationOptions,
  ): Promise<void> {
    const nic = instance.networkInterfaces?.[0];
    const networkInterface = nic?.name ?? 'nic0';
    const configs = nic?.accessConfigs ?? [];
    const scope = { zone: ref.zone };
    // The interface's fingerprint changes with every access config change, so it tells a resumed
    // call from the same state (same GCE request id, de-duplicated) from one after a change.
    const why = `${natIP === undefined ? 'to detach' : `to attach ${natIP}`} from nic fingerprint ${nic?.fingerprint ?? '-'}`;
    for (const config of configs) {
      const name = config.name ?? ACCESS_CONFIG_NAME;
      await session.mutateIfFound(
        context.mutation(`deleteAccessConfig ${instances.url(ref)} ${name} ${why}`, scope, options),
        (requestId) =>
          session.clients().instances.deleteAccessConfig(
            {
              project,
              zone: ref.zone,
              instance: ref.name,
              networkInterface,
              accessConfig: name,
              requestId,
            },
            NO_GAX_RETRY,
          ),
      );
    }
    const add = (ip: string | undefined, purpose: string, addOptions: MutationOptions) =>
      session.mutate(
        context.mutation(`addAccessConfig ${instances.url(ref)} ${purpose}`, scope, addOptions),
        (requestId) =>
          session.clients().instances.addAccessConfig(
            {
              project,
              zone: ref.zone,
              instance: ref.name,
              networkInterface,
              requestId,
              accessConfigResource: {
                name: ACCESS_CONFIG_NAME,
                type: 'ONE_TO_ONE_NAT',
                networkTier: 'PREMIUM',
                ...(ip === undefined ? {} : { natIP: ip }),
              },
            },
            NO_GAX_RETRY,
          ),
      );
    try {
      await add(natIP, why, options);
    } catch (error) {
      if (natIP !== undefined) {
        // The replica keeps a way out (egress, image pulls) when the static IP could not be set.
        await add(undefined, `restore after failing ${why}`, { requestId: options.requestId }).catch(
          (restoreError: unknown) =>
            logger.error('could not restore an ephemeral access config', {
              instance: ref.name,
              error: String(restoreError),
            }),
        );
      }
      throw error;
    }
  }

  async function ensureExternalAccess(ref: InstanceRef, options: MutationOptions): Promise<void> {
    const instance = await instances.read(ref, options.signal);
    const nic = instance?.networkInterfaces?.[0];
    if (instance === undefined || nic === undefined || (nic.accessConfigs ?? []).length > 0) return;
    logger.warn('instance had no access config (an interrupted detach?); adding an ephemeral one', {
      instance: ref.name,
    });
    await replaceAccessConfig(ref, instance, undefined, options);
  }

  const api: ProviderV1['addresses'] = {
    async reserve(ref, options) {
      assertAddressRef(ref);
      throwIfAborted(options.signal);
      const existing = await read(ref, options.signal);
      if (existing !== undefined) return toAddress(existing, ref.region);
      await session.mutate(
        context.mutation(
          `insert address regions/${ref.region}/addresses/${ref.name}`,
          { region: ref.region },
          options,
        ),
        (requestId) =>
          session.clients().addresses.insert(
            {
              project,
              region: ref.region,
              requestId,
              addressResource: {
                name: ref.name,
                addressType: 'EXTERNAL',
                networkTier: 'PREMIUM',
                description: 'hacp endpoint: the control plane address',
              },
            },
            NO_GAX_RETRY,
          ),
      );
      const reserved = await require(ref, options.signal);
      logger.info('reserved address', { address: ref.name, ip: reserved.address });
      return toAddress(reserved, ref.region);
    },

    async get(ref, options) {
      assertAddressRef(ref);
      throwIfAborted(options?.signal);
      const address = await read(ref, options?.signal);
      return address === undefined ? undefined : toAddress(address, ref.region);
    },

    async release(ref, options) {
      assertAddressRef(ref);
      throwIfAborted(options.signal);
      const address = await read(ref, options.signal);
      if (address === undefined) return;
      const holder = holderOf(address);
      if (holder !== undefined) {
        throw new HacpError({
          code: ErrorCode.CONFLICT,
          message: `Address ${ref.name} is held by ${describeHolder(holder)}; nothing was released.`,
          actions: ['Detach it, or delete the load balancer, first.'],
          details: { name: ref.name, region: ref.region, holder },
          retryable: false,
        });
      }
      await session.mutateIfFound(
        context.mutation(
          `delete address regions/${ref.region}/addresses/${ref.name}`,
          { region: ref.region },
          options,
        ),
        (requestId) =>
          session
            .clients()
            .addresses.delete({ project, region: ref.region, address: ref.name, requestId }, NO_GAX_RETRY),
      );
      logger.info('released address', { address: ref.name });
    },

    async attach(ref, target, options) {
      assertAddressRef(ref);
      assertInstanceRef(target);
      throwIfAborted(options.signal);
      const address = await require(ref, options.signal);
      if (regionOfZone(target.zone) !== ref.region) {
        throw new HacpError({
          code: ErrorCode.ZONE_NOT_IN_REGION,
          message: `Instance ${target.name} is in zone ${target.zone}, outside region ${ref.region} of address ${ref.name}.`,
          actions: [`Use an instance in a zone of ${ref.region}.`],
          details: { instance: target.name, zone: target.zone, region: ref.region },
        });
      }
      const holder = holderOf(address);
      if (
        holder?.kind === 'instance' &&
        holder.instance.name === target.name &&
        holder.instance.zone === target.zone
      ) {
        return toAddress(address, ref.region);
      }
      if (holder !== undefined) {
        throw new HacpError({
          code: ErrorCode.CONFLICT,
          message: `Address ${ref.name} is held by ${describeHolder(holder)}; it was not moved.`,
          actions: [
            holder.kind === 'load-balancer'
              ? 'Delete the load balancer first.'
              : 'Detach it from there first.',
          ],
          details: { name: ref.name, region: ref.region, holder },
          retryable: false,
        });
      }
      const instance = await requireInstance(target, options.signal);
      const ip = address.address ?? '';
      const configs = instance.networkInterfaces?.[0]?.accessConfigs ?? [];
      if (!configs.some((config) => config.natIP === ip)) {
        throwIfAborted(options.signal);
        await replaceAccessConfig(target, instance, ip, options);
        logger.info('attached address', { address: ref.name, ip, instance: target.name });
      }
      return toAddress(await require(ref, options.signal), ref.region);
    },

    async detach(ref, options) {
      assertAddressRef(ref);
      throwIfAborted(options.signal);
      const address = await require(ref, options.signal);
      const holder = holderOf(address);
      // A load balancer's address is not an instance's to detach: leave it, so that a resumed
      // VM-to-load-balancer move can repeat its detach.
      if (holder?.kind !== 'instance') return toAddress(address, ref.region);
      const instance = await instances.read(holder.instance, options.signal);
      if (instance !== undefined) {
        await replaceAccessConfig(holder.instance, instance, undefined, options);
        logger.info('detached address', { address: ref.name, instance: holder.instance.name });
      }
      return toAddress(await require(ref, options.signal), ref.region);
    },
  };

  return { api, read, require, toAddress, ensureExternalAccess };
}
