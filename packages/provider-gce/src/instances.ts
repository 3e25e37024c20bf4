/**
 * Replicas as GCE instances, with kube-up's resources: a reserved internal address
 * `<name>-internal` (known before the instance, for the certificates), a data disk `<name>-pd`
 * kept when the instance goes (`autoDelete: false`), the tag `<cluster>-master`, the startup
 * script and files in instance metadata (./startup), and kube-up's service account scopes.
 */
import { randomUUID } from 'node:crypto';
import type { protos } from '@google-cloud/compute';
import {
  assertClusterName,
  assertNodeConfig,
  assertResourceName,
  assertZone,
  ErrorCode,
  HacpError,
  type Instance,
  type InstanceApi,
  type InstanceNetwork,
  type InstanceRef,
  type InstanceSpec,
  isHacpError,
  type MutationOptions,
  regionOfZone,
  throwIfAborted,
} from '@hacp/core';
import { NO_GAX_RETRY, PAGED_NO_GAX_RETRY } from './compute.js';
import type { GceContext } from './context.js';
import {
  ACCESS_CONFIG_NAME,
  assertDerivedNamesFit,
  CLUSTER_LABEL,
  derivedName,
  instanceLabels,
  instanceStatus,
  lastSegment,
  MASTER_SCOPES,
  masterTag,
} from './names.js';
import {
  DATA_DISK_DEVICE_NAME,
  lastBootOutcome,
  REPLICA_ROOT_DIR,
  renderReplicaMetadata,
} from './startup/index.js';

type GceInstance = protos.google.cloud.compute.v1.IInstance;
type GceAddress = protos.google.cloud.compute.v1.IAddress;
type GceDisk = protos.google.cloud.compute.v1.IDisk;

/** Where a replica's kube-apiserver listens: every address (InstanceNetwork.listenAddress). */
const API_LISTEN_ADDRESS = '0.0.0.0';

/** kube-up's `MASTER_ROOT_DISK_SIZE` for up to 500 nodes. */
const BOOT_DISK_SIZE_GB = 20;

/** The suffixes of the names made from an instance's name. */
const INSTANCE_SUFFIXES = ['-internal', '-pd'] as const;

/** What the description of a reserved internal address says about its owner. */
interface AllocationOwner {
  'hacp-cluster': string;
  zone: string;
}

function ownerOf(address: GceAddress): AllocationOwner | undefined {
  try {
    const parsed = JSON.parse(address.description ?? '') as Partial<AllocationOwner>;
    if (typeof parsed['hacp-cluster'] === 'string' && typeof parsed.zone === 'string') {
      return { 'hacp-cluster': parsed['hacp-cluster'], zone: parsed.zone };
    }
  } catch {
    // Not one of ours: described by someone else, or not at all.
  }
  return undefined;
}

function alreadyExists(message: string, details: Record<string, unknown>): HacpError {
  return new HacpError({
    code: ErrorCode.ALREADY_EXISTS,
    message,
    actions: ['Use another replica name, or delete what holds this one first.'],
    details,
  });
}

/**
 * The contract's instance methods the GCE provider has: all but `stopProcesses`, `syncFiles` and `writeFiles`,
 * since a replica's processes and files change only when its VM boots from its metadata.
 */
export type GceInstanceApi = Required<
  Omit<InstanceApi, 'stopProcesses' | 'syncFiles' | 'writeFiles' | 'seedData'>
>;

/** The instance part of the GCE provider, plus what the other parts need from it. */
export interface GceInstances {
  api: GceInstanceApi;
  /** The GCE instance as the API has it now, or undefined. */
  read(ref: InstanceRef, signal?: AbortSignal): Promise<GceInstance | undefined>;
  /**
   * The instance as a read made within `reuseReadsForMs` saw it (a list or get of this provider),
   * else as `read` returns it. For what an instance keeps for its life (its internal IP, labels,
   * that it exists); never for what the caller is about to change.
   */
  look(ref: InstanceRef, signal?: AbortSignal): Promise<GceInstance | undefined>;
  /** Drops what `look` keeps of the instance: this provider is changing it. */
  forget(ref: InstanceRef): void;
  /** `projects/<p>/zones/<z>/instances/<n>` */
  url(ref: InstanceRef): string;
  /** The contract's view of a GCE instance. */
  toInstance(instance: GceInstance, zone: string): Instance;
}

/** Checks an instance ref: a resource name whose derived names fit, and a well-formed zone. */
export function assertInstanceRef(ref: InstanceRef): void {
  assertResourceName('name', ref?.name);
  assertZone(ref.zone);
}

/**
 * The instances of the GCE provider.
 *
 * @example
 * const instances = createGceInstances(context);
 * const network = await instances.api.allocateNetwork({ name, zone, cluster }, { requestId });
 */
export function createGceInstances(context: GceContext): GceInstances {
  const { session, settings, logger, zones } = context;
  const project = settings.project;

  const url = (ref: InstanceRef) => `projects/${project}/zones/${ref.zone}/instances/${ref.name}`;
  const hostnameOf = (ref: InstanceRef) => `${ref.name}.${ref.zone}.c.${project}.internal`;

  function toInstance(instance: GceInstance, zone: string): Instance {
    const name = instance.name ?? '';
    const nic = instance.networkInterfaces?.[0];
    const externalIp = nic?.accessConfigs?.find((config) => config.natIP)?.natIP ?? undefined;
    const labels = { ...(instance.labels ?? {}) } as Record<string, string>;
    // Its PD is kept when the instance goes (`autoDelete: false`) and the next create of the name attaches it.
    const dataDisk = instance.disks?.find(
      (disk) => disk.boot !== true && lastSegment(disk.source) === derivedName.disk(name),
    );
    return {
      name,
      zone: lastSegment(instance.zone) || zone,
      cluster: labels[CLUSTER_LABEL] ?? '',
      status: instanceStatus(instance.status),
      internalIp: nic?.networkIP ?? '',
      hostname: hostnameOf({ name, zone: lastSegment(instance.zone) || zone }),
      portOffset: 0,
      ...(externalIp ? { externalIp } : {}),
      labels,
      createdAt: new Date(instance.creationTimestamp ?? 0),
      ...(dataDisk !== undefined && dataDisk.autoDelete !== true ? { dataDiskIntact: true } : {}),
    };
  }

  /** Reads by `zone/name`, with when they were answered, for `look`. */
  const recent = new Map<string, { instance: GceInstance; at: number }>();
  const keyOf = (ref: InstanceRef) => `${ref.zone}/${ref.name}`;

  function remember(instance: GceInstance, zone: string): void {
    if (settings.reuseReadsForMs > 0 && instance.name) {
      recent.set(keyOf({ name: instance.name, zone }), { instance, at: Date.now() });
    }
  }

  function forget(ref: InstanceRef): void {
    recent.delete(keyOf(ref));
  }

  async function read(ref: InstanceRef, signal?: AbortSignal): Promise<GceInstance | undefined> {
    const found = await session.find({ call: `get instance ${url(ref)}`, signal, zone: ref.zone }, () =>
      session.clients().instances.get({ project, zone: ref.zone, instance: ref.name }, NO_GAX_RETRY),
    );
    const instance = found?.[0];
    if (instance === undefined) forget(ref);
    else remember(instance, ref.zone);
    return instance;
  }

  async function look(ref: InstanceRef, signal?: AbortSignal): Promise<GceInstance | undefined> {
    const kept = recent.get(keyOf(ref));
    if (kept !== undefined && Date.now() - kept.at <= settings.reuseReadsForMs) return kept.instance;
    return read(ref, signal);
  }

  async function readInternalAddress(
    ref: InstanceRef,
    signal?: AbortSignal,
  ): Promise<GceAddress | undefined> {
    const region = regionOfZone(ref.zone);
    const name = derivedName.internalAddress(ref.name);
    const found = await session.find(
      { call: `get address regions/${region}/addresses/${name}`, signal, region },
      () => session.clients().addresses.get({ project, region, address: name }, NO_GAX_RETRY),
    );
    return found?.[0];
  }

  async function readDisk(ref: InstanceRef, signal?: AbortSignal): Promise<GceDisk | undefined> {
    const name = derivedName.disk(ref.name);
    const found = await session.find(
      { call: `get disk zones/${ref.zone}/disks/${name}`, signal, zone: ref.zone },
      () => session.clients().disks.get({ project, zone: ref.zone, disk: name }, NO_GAX_RETRY),
    );
    return found?.[0];
  }

  function networkOf(ref: InstanceRef, address: GceAddress): InstanceNetwork {
    return {
      internalIp: address.address ?? '',
      hostname: hostnameOf(ref),
      portOffset: 0,
      rootDir: REPLICA_ROOT_DIR,
      // A target pool delivers packets for the forwarding rule's address to the VM itself, with that
      // address as destination: kube-apiserver must listen on every address to answer them.
      listenAddress: API_LISTEN_ADDRESS,
    };
  }

  /**
   * Inserts a resource. A request id GCE saw within the hour returns the old operation, so after a
   * rollback deleted what it made, the same id creates nothing: when the operation was DONE at once
   * (as a replayed one is; a new one is still running), the resource is read, and when it is not
   * there the insert is sent once more under a new id. Returns the resource when it read it.
   */
  async function insertChecked<T>(request: {
    call: string;
    scope: { zone: string } | { region: string };
    options: MutationOptions;
    send: (gceRequestId: string) => Promise<unknown>;
    read: () => Promise<T | undefined>;
  }): Promise<T | undefined> {
    const { call, scope, options, send } = request;
    const { doneOnArrival } = await session.mutate(context.mutation(call, scope, options), send);
    if (!doneOnArrival) return undefined;
    const made = await request.read();
    if (made !== undefined) return made;
    logger.warn('an insert replayed an earlier request; sending it again', { call });
    await session.mutate(
      context.mutation(call, scope, { ...options, requestId: `${options.requestId} again ${randomUUID()}` }),
      send,
    );
    return undefined;
  }

  /** An internal address that exists: this allocation's, or ALREADY_EXISTS. */
  function adopt(ref: InstanceRef & { cluster: string }, existing: GceAddress): InstanceNetwork {
    const owner = ownerOf(existing);
    if (owner === undefined || owner['hacp-cluster'] !== ref.cluster || owner.zone !== ref.zone) {
      const name = derivedName.internalAddress(ref.name);
      throw alreadyExists(
        owner === undefined
          ? `Address ${name} in ${regionOfZone(ref.zone)} exists and is not hacp's, so ${ref.name} cannot be allocated.`
          : `The name ${ref.name} is allocated to cluster ${owner['hacp-cluster']} in zone ${owner.zone}.`,
        { name: ref.name, ...(owner ?? {}) },
      );
    }
    return networkOf(ref, existing);
  }

  /**
   * Reserves (or finds) the internal address; `made` says whether this call reserved it. `known`
   * is the address as the caller just read it. Without it the address is inserted at once, a new
   * name being the common case: GCE refuses a name that exists (409), which is then read.
   */
  async function allocate(
    ref: InstanceRef & { cluster: string },
    options: MutationOptions,
    known?: { address: GceAddress | undefined },
  ): Promise<{ network: InstanceNetwork; made: boolean }> {
    if (known?.address !== undefined) return { network: adopt(ref, known.address), made: false };
    throwIfAborted(options.signal);
    try {
      return { network: await reserveInternalAddress(ref, options), made: true };
    } catch (error) {
      if (known !== undefined || !isHacpError(error, ErrorCode.ALREADY_EXISTS)) throw error;
      const existing = await readInternalAddress(ref, options.signal);
      if (existing === undefined) throw error;
      return { network: adopt(ref, existing), made: false };
    }
  }

  async function reserveInternalAddress(
    ref: InstanceRef & { cluster: string },
    options: MutationOptions,
  ): Promise<InstanceNetwork> {
    const region = regionOfZone(ref.zone);
    const name = derivedName.internalAddress(ref.name);
    const description: AllocationOwner = { 'hacp-cluster': ref.cluster, zone: ref.zone };
    const checked = await insertChecked({
      call: `insert address regions/${region}/addresses/${name}`,
      scope: { region },
      options,
      read: () => readInternalAddress(ref, options.signal),
      send: (requestId) =>
        session.clients().addresses.insert(
          {
            project,
            region,
            requestId,
            addressResource: {
              name,
              addressType: 'INTERNAL',
              purpose: 'GCE_ENDPOINT',
              subnetwork: context.subnetworkUrl(region),
              description: JSON.stringify(description),
              labels: { [CLUSTER_LABEL]: ref.cluster },
            },
          },
          NO_GAX_RETRY,
        ),
    });
    // The IP is GCE's choice: read it (the check above may have already).
    const reserved = checked ?? (await readInternalAddress(ref, options.signal));
    if (reserved?.address == null) {
      throw new HacpError({
        code: ErrorCode.PROVIDER_ERROR,
        message: `Address ${name} in ${region} was reserved but has no IP.`,
        details: { name, region },
      });
    }
    logger.info('reserved internal address', { name, ip: reserved.address, zone: ref.zone });
    return networkOf(ref, reserved);
  }

  /** Deletes the instance's internal address, read here unless the caller has just read it (`known`). */
  async function freeInternalAddress(
    ref: InstanceRef,
    options: MutationOptions,
    purpose = 'delete',
    known?: { address: GceAddress | undefined },
  ): Promise<void> {
    const address = known === undefined ? await readInternalAddress(ref, options.signal) : known.address;
    // Only this zone's allocation: the same name in another zone of the region is not this one's.
    if (address === undefined || ownerOf(address)?.zone !== ref.zone) return;
    const region = regionOfZone(ref.zone);
    const name = derivedName.internalAddress(ref.name);
    await session.mutateIfFound(
      context.mutation(`${purpose} address regions/${region}/addresses/${name}`, { region }, options),
      (requestId) =>
        session.clients().addresses.delete({ project, region, address: name, requestId }, NO_GAX_RETRY),
    );
  }

  async function deleteDisk(ref: InstanceRef, options: MutationOptions, purpose = 'delete'): Promise<void> {
    const name = derivedName.disk(ref.name);
    await session.mutateIfFound(
      context.mutation(`${purpose} disk zones/${ref.zone}/disks/${name}`, { zone: ref.zone }, options),
      (requestId) =>
        session.clients().disks.delete({ project, zone: ref.zone, disk: name, requestId }, NO_GAX_RETRY),
    );
  }

  async function deleteInstance(
    ref: InstanceRef,
    options: MutationOptions,
    purpose = 'delete',
  ): Promise<boolean> {
    forget(ref);
    return session.mutateIfFound(
      context.mutation(`${purpose} instance ${url(ref)}`, { zone: ref.zone }, options),
      (requestId) =>
        session
          .clients()
          .instances.delete({ project, zone: ref.zone, instance: ref.name, requestId }, NO_GAX_RETRY),
    );
  }

  /** The instance resource kube-up's `create-master-instance-internal` would make. */
  function instanceResource(
    spec: InstanceSpec,
    network: InstanceNetwork,
    metadataItems: readonly { key: string; value: string }[],
  ): GceInstance {
    const region = regionOfZone(spec.zone);
    return {
      name: spec.name,
      description: `hacp control-plane replica of cluster ${spec.cluster}`,
      machineType: `zones/${spec.zone}/machineTypes/${spec.machineType ?? settings.machineType}`,
      disks: [
        {
          boot: true,
          autoDelete: true,
          type: 'PERSISTENT',
          mode: 'READ_WRITE',
          initializeParams: { sourceImage: settings.image, diskSizeGb: String(BOOT_DISK_SIZE_GB) },
        },
        {
          boot: false,
          // Kept when the instance goes, so that a replacement can take the member's data over.
          autoDelete: false,
          type: 'PERSISTENT',
          mode: 'READ_WRITE',
          deviceName: DATA_DISK_DEVICE_NAME,
          source: `projects/${project}/zones/${spec.zone}/disks/${derivedName.disk(spec.name)}`,
        },
      ],
      networkInterfaces: [
        {
          network: context.networkUrl,
          subnetwork: context.subnetworkUrl(region),
          networkIP: network.internalIp,
          accessConfigs: [{ name: ACCESS_CONFIG_NAME, type: 'ONE_TO_ONE_NAT', networkTier: 'PREMIUM' }],
        },
      ],
      tags: { items: [masterTag(spec.cluster)] },
      labels: instanceLabels(spec.cluster, spec.labels),
      metadata: { items: metadataItems.map((item) => ({ key: item.key, value: item.value })) },
      serviceAccounts: [{ email: 'default', scopes: [...MASTER_SCOPES] }],
    };
  }

  function validateSpec(spec: InstanceSpec): void {
    assertInstanceRef(spec);
    assertDerivedNamesFit('name', spec.name, INSTANCE_SUFFIXES);
    assertClusterName(spec.cluster);
  }

  function readSerialOutput(ref: InstanceRef, signal: AbortSignal | undefined) {
    return session.find({ call: `getSerialPortOutput instance ${url(ref)}`, signal, zone: ref.zone }, () =>
      session
        .clients()
        .instances.getSerialPortOutput(
          { project, zone: ref.zone, instance: ref.name, port: 1 },
          NO_GAX_RETRY,
        ),
    );
  }

  const api: GceInstances['api'] = {
    async allocateNetwork(ref, options) {
      assertInstanceRef(ref);
      assertDerivedNamesFit('name', ref.name, INSTANCE_SUFFIXES);
      assertClusterName(ref.cluster);
      throwIfAborted(options.signal);
      await zones.assertOffered(ref.zone, options.signal);
      return (await allocate(ref, options)).network;
    },

    async create(spec, options) {
      validateSpec(spec);
      assertNodeConfig(spec.nodeConfig);
      throwIfAborted(options.signal);
      await zones.assertOffered(spec.zone, options.signal);
      // What a create may find already there, read side by side: the instance, its internal address
      // and its data disk (reads of what does not exist are wasted only when the instance does).
      const [existing, internalAddress, foundDisk] = await Promise.all([
        read(spec, options.signal),
        readInternalAddress(spec, options.signal),
        readDisk(spec, options.signal),
      ]);
      if (existing !== undefined) {
        const cluster = existing.labels?.[CLUSTER_LABEL];
        if (cluster !== spec.cluster) {
          throw alreadyExists(
            cluster === undefined
              ? `Instance ${spec.name} exists in ${spec.zone} and is not hacp's.`
              : `Instance ${spec.name} exists in ${spec.zone} and belongs to cluster ${cluster}.`,
            { name: spec.name, zone: spec.zone, ...(cluster === undefined ? {} : { cluster }) },
          );
        }
        return toInstance(existing, spec.zone);
      }
      // Rendered before anything is made: a NodeConfig the startup script cannot carry fails here.
      const metadataItems = renderReplicaMetadata({
        cluster: spec.cluster,
        replica: spec.name,
        nodeConfig: spec.nodeConfig,
        kubernetesVersion: settings.kubernetesVersion,
        images: settings.images,
        registryMirrors: settings.registryMirrors,
        ...(spec.dataDiskHandedOver === true ? { dataDiskHandedOver: true } : {}),
      });

      const { network, made: madeAddress } = await allocate(spec, options, { address: internalAddress });
      let madeDisk = false;
      let sentInstance = false;
      try {
        const disk = foundDisk;
        if (disk !== undefined) {
          const diskCluster = disk.labels?.[CLUSTER_LABEL];
          const users = (disk.users ?? []).filter((user) => lastSegment(user) !== spec.name);
          if ((diskCluster !== undefined && diskCluster !== spec.cluster) || users.length > 0) {
            throw alreadyExists(
              `Disk ${derivedName.disk(spec.name)} in ${spec.zone} belongs to ${users.length > 0 ? `instance ${lastSegment(users[0])}` : `cluster ${diskCluster}`}.`,
              { disk: derivedName.disk(spec.name), zone: spec.zone },
            );
          }
          logger.info('reusing data disk', { disk: disk.name, zone: spec.zone });
        } else {
          throwIfAborted(options.signal);
          const name = derivedName.disk(spec.name);
          await insertChecked({
            call: `insert disk zones/${spec.zone}/disks/${name}`,
            scope: { zone: spec.zone },
            options,
            read: () => readDisk(spec, options.signal),
            send: (requestId) =>
              session.clients().disks.insert(
                {
                  project,
                  zone: spec.zone,
                  requestId,
                  diskResource: {
                    name,
                    sizeGb: String(spec.diskSizeGb ?? settings.diskSizeGb),
                    type: `zones/${spec.zone}/diskTypes/${settings.diskType}`,
                    labels: { [CLUSTER_LABEL]: spec.cluster },
                    description: `hacp data disk of ${spec.name}`,
                  },
                },
                NO_GAX_RETRY,
              ),
          });
          madeDisk = true;
        }
        throwIfAborted(options.signal);
        sentInstance = true;
        forget(spec);
        const checked = await insertChecked({
          call: `insert instance ${url(spec)}`,
          scope: { zone: spec.zone },
          options,
          read: () => read(spec, options.signal),
          send: (requestId) =>
            session.clients().instances.insert(
              {
                project,
                zone: spec.zone,
                requestId,
                instanceResource: instanceResource(spec, network, metadataItems),
              },
              NO_GAX_RETRY,
            ),
        });
        throwIfAborted(options.signal);
        const created = checked ?? (await read(spec, options.signal));
        if (created === undefined) {
          throw new HacpError({
            code: ErrorCode.PROVIDER_ERROR,
            message: `Instance ${spec.name} was inserted in ${spec.zone} but cannot be read back.`,
            details: { name: spec.name, zone: spec.zone },
          });
        }
        logger.info('created instance', { replica: spec.name, zone: spec.zone, ip: network.internalIp });
        return toInstance(created, spec.zone);
      } catch (error) {
        // Transactional: what this call made goes, then the error is thrown. The clean-up ignores
        // the caller's signal, so an aborted create still leaves nothing behind, and has ids of its
        // own: a retried create that fails again must not get the first clean-up's replayed answer.
        const cleanup: MutationOptions = { requestId: `${options.requestId} rollback ${randomUUID()}` };
        const problems: string[] = [];
        if (sentInstance) {
          await deleteInstance(spec, cleanup, 'rollback delete').catch((failed: unknown) =>
            problems.push(`instance: ${String(failed)}`),
          );
        }
        if (madeDisk) {
          await deleteDisk(spec, cleanup, 'rollback delete').catch((failed: unknown) =>
            problems.push(`disk: ${String(failed)}`),
          );
        }
        if (madeAddress) {
          await freeInternalAddress(spec, cleanup, 'rollback delete').catch((failed: unknown) =>
            problems.push(`address: ${String(failed)}`),
          );
        }
        if (problems.length > 0) {
          logger.error('could not clean up a failed create', { replica: spec.name, problems });
        }
        if (isHacpError(error)) {
          throw new HacpError({
            code: error.code,
            message: error.message,
            actions: [
              ...error.actions,
              ...(problems.length > 0 ? [`Delete what is left of ${spec.name}: hacp repair.`] : []),
            ],
            details: { ...error.details, replica: spec.name, cleanedUp: problems.length === 0 },
            retryable: error.retryable,
            cause: error.cause ?? error,
          });
        }
        throw error;
      }
    },

    async get(ref, options) {
      assertInstanceRef(ref);
      throwIfAborted(options?.signal);
      const found = await read(ref, options?.signal);
      return found === undefined ? undefined : toInstance(found, ref.zone);
    },

    async list(filter, options) {
      assertClusterName(filter?.cluster);
      throwIfAborted(options?.signal);
      const found = await session.read(
        {
          call: `aggregatedList instances projects/${project} cluster ${filter.cluster}`,
          signal: options?.signal,
        },
        async () => {
          const instances: Instance[] = [];
          const pages = session
            .clients()
            .instances.aggregatedListAsync(
              { project, filter: `labels.${CLUSTER_LABEL} = "${filter.cluster}"` },
              PAGED_NO_GAX_RETRY,
            );
          for await (const [scope, list] of pages) {
            for (const instance of list.instances ?? []) {
              // The filter is the server's; the check is ours, so another cluster never slips in.
              if (instance.labels?.[CLUSTER_LABEL] !== filter.cluster) continue;
              remember(instance, lastSegment(scope));
              instances.push(toInstance(instance, lastSegment(scope)));
            }
          }
          return instances;
        },
      );
      return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async delete(ref, options) {
      assertInstanceRef(ref);
      throwIfAborted(options.signal);
      // The internal address is read while the instance goes (whose it is does not change); the disk
      // and the address are freed side by side once the instance no longer uses them.
      const [deleted, address] = await Promise.all([
        deleteInstance(ref, options),
        readInternalAddress(ref, options.signal),
      ]);
      await Promise.all([
        options.keepDisk === true ? undefined : deleteDisk(ref, options),
        freeInternalAddress(ref, options, 'delete', { address }),
      ]);
      if (deleted) logger.info('deleted instance', { replica: ref.name, zone: ref.zone });
    },

    async stop(ref, options) {
      assertInstanceRef(ref);
      throwIfAborted(options.signal);
      forget(ref);
      await session.mutate(
        context.mutation(`stop instance ${url(ref)}`, { zone: ref.zone }, options),
        (requestId) =>
          session
            .clients()
            .instances.stop({ project, zone: ref.zone, instance: ref.name, requestId }, NO_GAX_RETRY),
      );
    },

    async bootProgress(ref, options) {
      assertInstanceRef(ref);
      throwIfAborted(options?.signal);
      let found: Awaited<ReturnType<typeof readSerialOutput>>;
      try {
        found = await readSerialOutput(ref, options?.signal);
      } catch (error) {
        // Without the right to read the console nothing tells how the boot goes: the replica's own
        // processes are what the SDK waits for then.
        if (isHacpError(error, ErrorCode.PERMISSION_DENIED)) {
          logger.warn('cannot read the serial console to follow the boot; not waiting for it', {
            replica: ref.name,
            zone: ref.zone,
          });
          return { pending: [] };
        }
        // A console GCE will not hand out now (an instance stopping or not yet running answers so)
        // says nothing of how the boot went: the boot is still to be seen, not failed.
        if (!isHacpError(error) || error.retryable || isHacpError(error, ErrorCode.NOT_FOUND)) throw error;
        return { pending: ['its serial console to be readable'] };
      }
      if (found === undefined) {
        throw new HacpError({
          code: ErrorCode.NOT_FOUND,
          message: `Instance ${ref.name} does not exist in ${ref.zone}.`,
          actions: ['Run `hacp status` to see the replicas.'],
          details: { replica: ref.name, zone: ref.zone },
        });
      }
      const outcome = lastBootOutcome(found[0]?.contents ?? '');
      if (outcome.state === 'done') return { pending: [] };
      if (outcome.state === 'pending') return { pending: [outcome.waitingFor] };
      throw new HacpError({
        code: ErrorCode.UNAVAILABLE,
        message: `${ref.name}'s startup script failed: ${outcome.line}`,
        actions: [
          `Read its serial console: \`gcloud compute instances get-serial-port-output ${ref.name} --zone ${ref.zone}\`; fix what its error line names, then run the operation again.`,
        ],
        details: { replica: ref.name, zone: ref.zone, reason: outcome.reason },
        retryable: false,
      });
    },

    async start(ref, options) {
      assertInstanceRef(ref);
      throwIfAborted(options.signal);
      forget(ref);
      await session.mutate(
        context.mutation(`start instance ${url(ref)}`, { zone: ref.zone }, options),
        (requestId) =>
          session
            .clients()
            .instances.start({ project, zone: ref.zone, instance: ref.name, requestId }, NO_GAX_RETRY),
      );
    },
  };

  return { api, read, look, forget, url, toInstance };
}
