/**
 * The endpoint: a regional static EXTERNAL address (the SDK names it `<cluster>-master-ip`, as
 * kube-up did). Attached to a replica, it is the NAT IP of the replica's access config
 * `external-nat`; held by the load balancer, it is its forwarding rule's IP. Who holds it is read
 * from the address's `users`, never kept elsewhere.
 *
 * A move of the address is GCE's shortest sequence: a detach only deletes the access config (the
 * load balancer's `ensure` gives its targets an ephemeral one back once it holds the address), and
 * an attach to an instance the load balancer's `releaseAddress` left without an access config adds
 * the static one at once, GCE refusing it (nothing changed) when the address or the instance is not
 * as expected, and then the careful way reads both first.
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
import { isRefusal } from './errors.js';
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
  /**
   * Gives an instance that has no access config an ephemeral one: a target of the load balancer
   * after the detach that freed the address for it. `known` is the instance as the caller just read it.
   */
  ensureExternalAccess(ref: InstanceRef, options: MutationOptions, known?: GceInstance): Promise<void>;
  /**
   * Deletes every access config of the instance, so that `attach` can give it a static address at
   * once (GCE allows one per interface): the load balancer's `releaseAddress` calls it for its last
   * target before it lets the address go.
   */
  dropExternalAccess(ref: InstanceRef, options: MutationOptions): Promise<void>;
  /** Remembers the IP of an address (a reserved address keeps its IP for its life). */
  rememberIp(ref: AddressRef, ip: string): void;
}

function assertAddressRef(ref: AddressRef): void {
  assertResourceName('name', ref?.name);
  assertRegionName(ref.region);
}

function notFoundInstance(ref: InstanceRef): HacpError {
  return new HacpError({
    code: ErrorCode.NOT_FOUND,
    message: `There is no instance ${ref.name} in ${ref.zone}.`,
    details: { name: ref.name, zone: ref.zone },
  });
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
  /** The IPs of addresses this provider read, by `region/name`. */
  const ips = new Map<string, string>();
  /** Instances this provider left without an access config for a static address, by `zone/name`. */
  const bare = new Set<string>();
  const addressKey = (ref: AddressRef) => `${ref.region}/${ref.name}`;
  const instanceKey = (ref: InstanceRef) => `${ref.zone}/${ref.name}`;

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
    const address = found?.[0];
    if (address?.address) ips.set(addressKey(ref), address.address);
    else ips.delete(addressKey(ref));
    return address;
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

  /** A change of the instance's access configs: what this provider knew of them no longer holds. */
  function changingAccess(ref: InstanceRef): void {
    instances.forget(ref);
    bare.delete(instanceKey(ref));
  }

  /**
   * Deletes the instance's access configs. The interface's fingerprint changes with every access
   * config change, so it goes into the call (and the GCE request id): a resumed call from the same
   * state is the same request, de-duplicated; one after a change is a new one.
   */
  async function deleteAccessConfigs(
    ref: InstanceRef,
    instance: GceInstance,
    purpose: string,
    options: MutationOptions,
  ): Promise<void> {
    const nic = instance.networkInterfaces?.[0];
    const why = `${purpose} from nic fingerprint ${nic?.fingerprint ?? '-'}`;
    for (const config of nic?.accessConfigs ?? []) {
      const name = config.name ?? ACCESS_CONFIG_NAME;
      changingAccess(ref);
      await session.mutateIfFound(
        context.mutation(
          `deleteAccessConfig ${instances.url(ref)} ${name} ${why}`,
          { zone: ref.zone },
          options,
        ),
        (requestId) =>
          session.clients().instances.deleteAccessConfig(
            {
              project,
              zone: ref.zone,
              instance: ref.name,
              networkInterface: nic?.name ?? 'nic0',
              accessConfig: name,
              requestId,
            },
            NO_GAX_RETRY,
          ),
      );
    }
  }

  /** Adds the access config `external-nat` with `natIP` (an ephemeral IP without). */
  async function addAccessConfig(
    ref: InstanceRef,
    nicName: string,
    natIP: string | undefined,
    call: string,
    options: MutationOptions,
  ): Promise<void> {
    changingAccess(ref);
    await session.mutate(
      context.mutation(`addAccessConfig ${instances.url(ref)} ${call}`, { zone: ref.zone }, options),
      (requestId) =>
        session.clients().instances.addAccessConfig(
          {
            project,
            zone: ref.zone,
            instance: ref.name,
            networkInterface: nicName,
            requestId,
            accessConfigResource: {
              name: ACCESS_CONFIG_NAME,
              type: 'ONE_TO_ONE_NAT',
              networkTier: 'PREMIUM',
              ...(natIP === undefined ? {} : { natIP }),
            },
          },
          NO_GAX_RETRY,
        ),
    );
  }

  /** Replaces the instance's access configs by one `external-nat` with the static `natIP`. */
  async function attachTo(
    ref: InstanceRef,
    instance: GceInstance,
    natIP: string,
    options: MutationOptions,
  ): Promise<void> {
    const nic = instance.networkInterfaces?.[0];
    const why = `to attach ${natIP} from nic fingerprint ${nic?.fingerprint ?? '-'}`;
    await deleteAccessConfigs(ref, instance, `to attach ${natIP}`, options);
    try {
      await addAccessConfig(ref, nic?.name ?? 'nic0', natIP, why, options);
    } catch (error) {
      // The replica keeps a way out (egress, image pulls) when the static IP could not be set.
      await addAccessConfig(ref, nic?.name ?? 'nic0', undefined, `restore after failing ${why}`, {
        requestId: options.requestId,
      }).catch((restoreError: unknown) =>
        logger.error('could not restore an ephemeral access config', {
          instance: ref.name,
          error: String(restoreError),
        }),
      );
      throw error;
    }
  }

  /**
   * The attach right after `releaseAddress` left the instance bare: one addAccessConfig with the IP
   * this provider knows. True when it took; false when GCE refused it (nothing changed).
   */
  async function attachAtOnce(ref: AddressRef, target: InstanceRef, options: MutationOptions) {
    const ip = ips.get(addressKey(ref));
    if (ip === undefined || !bare.has(instanceKey(target))) return false;
    try {
      await addAccessConfig(target, 'nic0', ip, `${ip} right after the load balancer released it`, options);
      return true;
    } catch (error) {
      if (!isRefusal(error)) throw error;
      logger.debug('attaching at once was refused; reading the address and the instance first', {
        address: ref.name,
        instance: target.name,
        error: String(error),
      });
      return false;
    }
  }

  /**
   * Deletes hacp's access config `external-nat` of `nic0` without reading the instance first. True
   * when it went; false when GCE refused it (named otherwise, or none: nothing changed).
   */
  async function deleteNatAtOnce(ref: InstanceRef, purpose: string, options: MutationOptions) {
    changingAccess(ref);
    try {
      await session.mutate(
        context.mutation(
          `deleteAccessConfig ${instances.url(ref)} ${ACCESS_CONFIG_NAME} ${purpose}`,
          { zone: ref.zone },
          options,
        ),
        (requestId) =>
          session.clients().instances.deleteAccessConfig(
            {
              project,
              zone: ref.zone,
              instance: ref.name,
              networkInterface: 'nic0',
              accessConfig: ACCESS_CONFIG_NAME,
              requestId,
            },
            NO_GAX_RETRY,
          ),
      );
      return true;
    } catch (error) {
      if (!isRefusal(error)) throw error;
      return false;
    }
  }

  async function ensureExternalAccess(
    ref: InstanceRef,
    options: MutationOptions,
    known?: GceInstance,
  ): Promise<void> {
    // One this provider left without an access config gets its ephemeral one at once.
    if (known === undefined && bare.has(instanceKey(ref))) {
      const added = await addAccessConfig(ref, 'nic0', undefined, 'ephemeral after a detach', options).then(
        () => true,
        (error: unknown) => {
          if (!isRefusal(error)) throw error;
          return false;
        },
      );
      if (added) return;
    }
    const instance = known ?? (await instances.read(ref, options.signal));
    const nic = instance?.networkInterfaces?.[0];
    if (instance === undefined || nic === undefined || (nic.accessConfigs ?? []).length > 0) return;
    await addAccessConfig(
      ref,
      nic.name ?? 'nic0',
      undefined,
      `ephemeral from nic fingerprint ${nic.fingerprint ?? '-'}`,
      options,
    );
    logger.info('gave an instance an ephemeral external address', { instance: ref.name });
  }

  async function dropExternalAccess(ref: InstanceRef, options: MutationOptions): Promise<void> {
    if (!(await deleteNatAtOnce(ref, 'to make room for a static address', options))) {
      const instance = await instances.read(ref, options.signal);
      if (instance === undefined) return;
      await deleteAccessConfigs(ref, instance, 'to make room for a static address', options);
    }
    bare.add(instanceKey(ref));
  }

  /** The address's holder is not `target`, or is nothing: CONFLICT when something else holds it. */
  function assertAttachable(ref: AddressRef, address: GceAddress, target: InstanceRef): 'there' | 'free' {
    const holder = holderOf(address);
    if (holder === undefined) return 'free';
    if (
      holder.kind === 'instance' &&
      holder.instance.name === target.name &&
      holder.instance.zone === target.zone
    ) {
      return 'there';
    }
    throw new HacpError({
      code: ErrorCode.CONFLICT,
      message: `Address ${ref.name} is held by ${describeHolder(holder)}; it was not moved.`,
      actions: [
        holder.kind === 'load-balancer' ? 'Delete the load balancer first.' : 'Detach it from there first.',
      ],
      details: { name: ref.name, region: ref.region, holder },
      retryable: false,
    });
  }

  const attached = (ref: AddressRef, ip: string, target: InstanceRef): Address => ({
    name: ref.name,
    region: ref.region,
    ip,
    holder: { kind: 'instance', instance: { name: target.name, zone: target.zone } },
  });

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
      ips.delete(addressKey(ref));
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
      if (regionOfZone(target.zone) === ref.region && (await attachAtOnce(ref, target, options))) {
        logger.info('attached address', { address: ref.name, instance: target.name });
        return attached(ref, ips.get(addressKey(ref)) ?? '', target);
      }
      const [address, instance] = await Promise.all([
        require(ref, options.signal),
        instances.read(target, options.signal),
      ]);
      if (regionOfZone(target.zone) !== ref.region) {
        throw new HacpError({
          code: ErrorCode.ZONE_NOT_IN_REGION,
          message: `Instance ${target.name} is in zone ${target.zone}, outside region ${ref.region} of address ${ref.name}.`,
          actions: [`Use an instance in a zone of ${ref.region}.`],
          details: { instance: target.name, zone: target.zone, region: ref.region },
        });
      }
      if (assertAttachable(ref, address, target) === 'there') return toAddress(address, ref.region);
      if (instance === undefined) throw notFoundInstance(target);
      const ip = address.address ?? '';
      throwIfAborted(options.signal);
      await attachTo(target, instance, ip, options);
      logger.info('attached address', { address: ref.name, ip, instance: target.name });
      return attached(ref, ip, target);
    },

    async detach(ref, options) {
      assertAddressRef(ref);
      throwIfAborted(options.signal);
      const address = await require(ref, options.signal);
      const holder = holderOf(address);
      // A load balancer's address is not an instance's to detach: leave it, so that a resumed
      // VM-to-load-balancer move can repeat its detach.
      if (holder?.kind !== 'instance') return toAddress(address, ref.region);
      const ip = address.address ?? '';
      // The access config is hacp's `external-nat` on `nic0`: deleted at once. An instance whose
      // config is named otherwise has it refused (nothing changed), and is read first.
      const { instance: owner } = holder;
      let detached = await deleteNatAtOnce(owner, `to detach ${ip}`, options);
      if (!detached) {
        const instance = await instances.read(owner, options.signal);
        const nic = instance?.networkInterfaces?.[0];
        const holding = (nic?.accessConfigs ?? []).filter((config) => config.natIP === ip);
        if (instance !== undefined && nic !== undefined && holding.length > 0) {
          await deleteAccessConfigs(
            owner,
            { ...instance, networkInterfaces: [{ ...nic, accessConfigs: holding }] },
            `to detach ${ip}`,
            options,
          );
          detached = true;
        }
      }
      // Without an access config now: the load balancer's ensure gives it an ephemeral one at once.
      if (detached) bare.add(instanceKey(owner));
      logger.info('detached address', { address: ref.name, instance: owner.name });
      return { name: ref.name, region: ref.region, ip };
    },
  };

  return {
    api,
    read,
    require,
    toAddress,
    ensureExternalAccess,
    dropExternalAccess,
    rememberIp: (ref, ip) => {
      if (ip !== '') ips.set(addressKey(ref), ip);
    },
  };
}
