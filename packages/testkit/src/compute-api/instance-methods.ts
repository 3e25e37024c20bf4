import { diskJson, diskSize, diskTypeLink, imageLink } from './disk-methods.js';
import {
  alreadyExists,
  ComputeApiError,
  invalidField,
  requiredField,
  resourceInUse,
  resourceNotReady,
} from './errors.js';
import { lastSegment, link, resolveReference, resourcePath } from './links.js';
import type { MethodDefinition } from './methods.js';
import {
  gceTimestamp,
  type Json,
  newFingerprint,
  newNumericId,
  type ProjectState,
  regionOf,
} from './model.js';
import {
  type AccessConfigJson,
  allocateIp,
  checkRequestedIp,
  claimAddress,
  firstUserPath,
  interfacesOf,
  type NetworkInterfaceJson,
  networkLink,
  releaseIp,
  subnetworkLink,
} from './network.js';
import type { Mutation } from './operations.js';
import {
  acceptFingerprint,
  assertName,
  bodyObject,
  type Call,
  checkedLabels,
  checkedMetadataItems,
  existing,
  LABEL_FINGERPRINT_MESSAGE,
  listResponse,
  METADATA_FINGERPRINT_MESSAGE,
  metadataJson,
  referenceContext,
  stringField,
  zoneParam,
} from './rules.js';
import type { VmSpec } from './vm-runtime.js';

/** An attached disk as stored on an instance. */
interface AttachedDiskJson {
  kind: 'compute#attachedDisk';
  type: 'PERSISTENT';
  mode: string;
  source: string;
  deviceName: string;
  index: number;
  boot: boolean;
  autoDelete: boolean;
  interface: string;
  diskSizeGb: string;
}

const disksOf = (instance: Json) => (instance.disks as AttachedDiskJson[] | undefined) ?? [];

/** An instance's metadata items as a plain map (what the VM runtime gets). */
function metadataMap(instance: Json): Record<string, string> {
  const items = (
    (instance.metadata as { items?: { key: string; value: string }[] } | undefined)?.items ?? []
  ).map((item) => [item.key, item.value] as const);
  return Object.fromEntries(items);
}

/** What the VM runtime boots for an instance. */
function vmSpecOf(instance: Json, zone: string): VmSpec {
  return {
    name: String(instance.name),
    zone,
    id: String(instance.id),
    networkIP: interfacesOf(instance)[0]?.networkIP ?? '',
    metadata: metadataMap(instance),
    disks: disksOf(instance).map((disk) => ({
      name: lastSegment(disk.source),
      deviceName: disk.deviceName,
      boot: disk.boot,
    })),
  };
}

/** Runs a VM runtime action, recording (not throwing) its failure: a real VM's guest failing is no API error. */
async function runtimeAction(
  call: Call,
  instance: string,
  action: string,
  run: () => Promise<void>,
): Promise<void> {
  try {
    await run();
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    call.server.runtimeErrors.push({ instance, action, error: text });
    call.server.logger.error('compute api vm runtime failed', { instance, action, error: text });
  }
}

/** The instance in the path, which must exist and have no delete in flight. */
function instanceTarget(call: Call): { zone: string; path: string; instance: Json } {
  const zone = zoneParam(call);
  const path = `zones/${zone}/instances/${call.params.instance}`;
  const instance = existing(call, path);
  if (call.project.pendingDeletes.has(path)) throw resourceNotReady(resourcePath(call.project.name, path));
  return { zone, path, instance };
}

/** The network interface a query's `networkInterface` names. */
function interfaceNamed(instance: Json, name: string | undefined): NetworkInterfaceJson {
  if (name === undefined || name === '') throw requiredField('networkInterface');
  const nic = interfacesOf(instance).find((candidate) => candidate.name === name);
  if (nic === undefined) throw invalidField('networkInterface', name, 'The network interface was not found.');
  return nic;
}

/** A new access config (`natIP` filled in at commit unless the instance is stopped). */
function accessConfigJson(body: Json): AccessConfigJson {
  return {
    kind: 'compute#accessConfig',
    type: stringField(body, 'type') ?? 'ONE_TO_ONE_NAT',
    name: stringField(body, 'name') ?? 'External NAT',
    networkTier: stringField(body, 'networkTier') ?? 'PREMIUM',
  };
}

/** Checks a requested NAT IP: a reserved EXTERNAL address of the region that nothing uses. */
function checkNatIp(call: Call, region: string, ip: string | undefined, field: string): Json | undefined {
  if (ip === undefined || ip === '') return undefined;
  return checkRequestedIp({
    server: call.server,
    project: call.project,
    region,
    ip,
    kind: 'EXTERNAL',
    field,
    allowUnreserved: false,
  });
}

interface DiskPlan {
  attached: AttachedDiskJson;
  /** The disk to create (from initializeParams), or undefined for an existing one. */
  create?: Json;
  path: string;
}

function planDisks(call: Call, zone: string, name: string, body: Json, instanceLink: string): DiskPlan[] {
  const { project } = call;
  const disks = (body.disks as Json[] | undefined) ?? [];
  if (disks.filter((disk) => disk.boot === true).length !== 1) {
    throw invalidField('resource.disks', '', 'Exactly one boot disk must be specified.');
  }
  const seen = new Set<string>();
  return disks.map((disk, index) => {
    const field = `resource.disks[${index}]`;
    const boot = disk.boot === true;
    const mode = stringField(disk, 'mode') ?? 'READ_WRITE';
    const deviceName = stringField(disk, 'deviceName') ?? `persistent-disk-${index}`;
    const autoDelete = disk.autoDelete === true;
    const source = stringField(disk, 'source');
    const params = disk.initializeParams as Json | undefined;
    let path: string;
    let create: Json | undefined;
    let sizeGb: string;
    if (source !== undefined && source !== '') {
      const resolved = resolveReference(source, referenceContext(call), `zones/${zone}/disks`);
      const parts = resolved?.path.split('/') ?? [];
      if (
        resolved === undefined ||
        resolved.project !== project.name ||
        parts[2] !== 'disks' ||
        parts.length !== 4
      ) {
        throw invalidField(`${field}.source`, source, 'The referenced disk resource cannot be found.');
      }
      const disk = project.resources.get(resolved.path);
      if (disk === undefined) {
        throw invalidField(`${field}.source`, source, 'The referenced disk resource cannot be found.');
      }
      if (parts[1] !== zone) {
        throw invalidField(
          `${field}.source`,
          source,
          `Disk must be in zone '${zone}' to be attached to this instance.`,
        );
      }
      const user = firstUserPath(disk);
      if (user !== undefined && mode === 'READ_WRITE') {
        throw resourceInUse('disk', resourcePath(project.name, resolved.path), user);
      }
      path = resolved.path;
      sizeGb = String(disk.sizeGb);
    } else if (params !== undefined) {
      const diskName = stringField(params, 'diskName') ?? (boot ? name : `${name}-${index}`);
      assertName(diskName, `${field}.initializeParams.diskName`);
      path = `zones/${zone}/disks/${diskName}`;
      if (project.resources.has(path) || project.pendingInserts.has(path)) {
        throw alreadyExists(resourcePath(project.name, path));
      }
      sizeGb = diskSize(params.diskSizeGb);
      create = diskJson({
        project: project.name,
        zone,
        name: diskName,
        id: newNumericId(),
        sizeGb,
        type: diskTypeLink(referenceContext(call), zone, stringField(params, 'diskType')),
        sourceImage: imageLink(referenceContext(call), stringField(params, 'sourceImage')),
        labels: checkedLabels(params.labels, `${field}.initializeParams.labels`),
        users: [instanceLink],
      });
    } else {
      throw invalidField(field, '', 'One of source or initializeParams must be specified.');
    }
    if (seen.has(path)) throw invalidField(field, '', 'The same disk cannot be attached twice.');
    seen.add(path);
    return {
      path,
      create,
      attached: {
        kind: 'compute#attachedDisk',
        type: 'PERSISTENT',
        mode,
        source: link(project.name, path),
        deviceName,
        index,
        boot,
        autoDelete,
        interface: stringField(disk, 'interface') ?? 'SCSI',
        diskSizeGb: sizeGb,
      },
    };
  });
}

interface InterfacePlan {
  nic: NetworkInterfaceJson;
  /** A reserved INTERNAL address to claim for `networkIP`. */
  internal?: Json;
  /** Whether `networkIP` is to be allocated at commit. */
  allocateInternal: boolean;
  /** The reserved EXTERNAL address to claim for the access config's natIP, if given. */
  external?: Json;
}

function planInterfaces(call: Call, zone: string, body: Json): InterfacePlan[] {
  const region = regionOf(zone);
  const nics = (body.networkInterfaces as Json[] | undefined) ?? [];
  if (nics.length === 0) {
    throw invalidField('resource.networkInterfaces', '', 'At least one network interface must be specified.');
  }
  return nics.map((given, index) => {
    const field = `resource.networkInterfaces[${index}]`;
    const configs = (given.accessConfigs as Json[] | undefined) ?? [];
    if (configs.length > 1) {
      throw invalidField(`${field}.accessConfigs`, '', 'At most one access config currently supported.');
    }
    const requestedIp = stringField(given, 'networkIP');
    const internal =
      requestedIp === undefined || requestedIp === ''
        ? undefined
        : checkRequestedIp({
            server: call.server,
            project: call.project,
            region,
            ip: requestedIp,
            kind: 'INTERNAL',
            field: `${field}.networkIP`,
            allowUnreserved: true,
          });
    const config = configs[0];
    const external =
      config === undefined
        ? undefined
        : checkNatIp(call, region, stringField(config, 'natIP'), `${field}.accessConfigs[0].natIP`);
    const nic: NetworkInterfaceJson = {
      kind: 'compute#networkInterface',
      name: `nic${index}`,
      network: networkLink(referenceContext(call), stringField(given, 'network'), `${field}.network`),
      subnetwork: subnetworkLink(
        referenceContext(call),
        region,
        stringField(given, 'subnetwork'),
        `${field}.subnetwork`,
      ),
      networkIP: requestedIp ?? '',
      fingerprint: newFingerprint(),
      stackType: 'IPV4_ONLY',
      ...(config === undefined
        ? {}
        : {
            accessConfigs: [
              {
                ...accessConfigJson(config),
                ...(stringField(config, 'natIP') ? { natIP: stringField(config, 'natIP') } : {}),
              },
            ],
          }),
    };
    return { nic, internal, external, allocateInternal: requestedIp === undefined || requestedIp === '' };
  });
}

function machineTypeLink(call: Call, zone: string, given: string | undefined): string {
  if (given === undefined || given === '') throw requiredField('resource.machineType');
  const resolved = resolveReference(given, referenceContext(call), `zones/${zone}/machineTypes`);
  const parts = resolved?.path.split('/') ?? [];
  if (resolved === undefined || parts[0] !== 'zones' || parts[2] !== 'machineTypes' || parts.length !== 4) {
    throw invalidField('resource.machineType', given, 'Invalid machine type.');
  }
  if (parts[1] !== zone) {
    throw invalidField('resource.machineType', given, `Machine type must be in zone '${zone}'.`);
  }
  return link(resolved.project, resolved.path);
}

function insertMutation(call: Call): Mutation {
  const zone = zoneParam(call);
  const body = bodyObject(call);
  const name = assertName(body.name);
  const path = `zones/${zone}/instances/${name}`;
  const { project, server } = call;
  if (project.resources.has(path) || project.pendingInserts.has(path)) {
    throw alreadyExists(resourcePath(project.name, path));
  }
  const id = newNumericId();
  const instanceLink = link(project.name, path);
  return {
    operationType: 'insert',
    scope: { kind: 'zone', zone },
    targetPath: path,
    targetId: id,
    effect: 'insert',
    prepare() {
      if (project.resources.has(path)) throw alreadyExists(resourcePath(project.name, path));
      const machineType = machineTypeLink(call, zone, stringField(body, 'machineType'));
      const labels = checkedLabels(body.labels);
      const metadata = (body.metadata as Json | undefined) ?? {};
      const items = checkedMetadataItems(metadata.items, 'resource.metadata.items');
      const disks = planDisks(call, zone, name, body, instanceLink);
      const nics = planInterfaces(call, zone, body);
      const tags = (body.tags as { items?: string[] } | undefined)?.items;
      return async () => {
        const now = gceTimestamp(new Date());
        for (const disk of disks) {
          if (disk.create !== undefined) {
            project.resources.set(disk.path, disk.create);
          } else {
            const existingDisk = project.resources.get(disk.path);
            if (existingDisk !== undefined) {
              existingDisk.users = [...((existingDisk.users as string[] | undefined) ?? []), instanceLink];
              existingDisk.lastAttachTimestamp = now;
            }
          }
        }
        for (const plan of nics) {
          if (plan.allocateInternal) plan.nic.networkIP = allocateIp(server, 'INTERNAL');
          else server.ips.claim(plan.nic.networkIP);
          if (plan.internal !== undefined) claimAddress(plan.internal, instanceLink);
          for (const config of plan.nic.accessConfigs ?? []) {
            config.natIP ??= allocateIp(server, 'EXTERNAL');
          }
          if (plan.external !== undefined) claimAddress(plan.external, instanceLink);
        }
        const instance: Json = {
          kind: 'compute#instance',
          id,
          creationTimestamp: now,
          name,
          ...(stringField(body, 'description') === undefined ? {} : { description: body.description }),
          tags: {
            ...(tags === undefined || tags.length === 0 ? {} : { items: [...tags] }),
            fingerprint: newFingerprint(),
          },
          machineType,
          status: 'PROVISIONING',
          zone: link(project.name, `zones/${zone}`),
          canIpForward: body.canIpForward === true,
          networkInterfaces: nics.map((plan) => plan.nic),
          disks: disks.map((disk) => disk.attached),
          metadata: metadataJson(items, newFingerprint()),
          ...(body.serviceAccounts === undefined
            ? {}
            : { serviceAccounts: structuredClone(body.serviceAccounts) }),
          selfLink: instanceLink,
          scheduling: {
            onHostMaintenance: 'MIGRATE',
            automaticRestart: true,
            preemptible: false,
            provisioningModel: 'STANDARD',
            ...((body.scheduling as Json | undefined) ?? {}),
          },
          cpuPlatform: 'Intel Broadwell',
          ...(Object.keys(labels).length === 0 ? {} : { labels }),
          labelFingerprint: newFingerprint(),
          startRestricted: false,
          deletionProtection: body.deletionProtection === true,
          fingerprint: newFingerprint(),
        };
        project.resources.set(path, instance);
        const runtime = server.runtime;
        if (runtime !== undefined) {
          await runtimeAction(call, path, 'boot', () => runtime.boot(vmSpecOf(instance, zone)));
        }
        instance.status = 'RUNNING';
        instance.lastStartTimestamp = gceTimestamp(new Date());
      };
    },
  };
}

/** Releases everything an instance holds: its disks (autoDelete ones deleted), its IPs. */
function releaseInstance(project: ProjectState, zone: string, instance: Json): void {
  const instanceLink = String(instance.selfLink);
  const region = regionOf(zone);
  const now = gceTimestamp(new Date());
  for (const attached of disksOf(instance)) {
    const resolved = resolveReference(attached.source, { project: project.name });
    if (resolved === undefined) continue;
    const disk = project.resources.get(resolved.path);
    if (disk === undefined) continue;
    const users = ((disk.users as string[] | undefined) ?? []).filter((user) => user !== instanceLink);
    if (attached.autoDelete) {
      project.resources.delete(resolved.path);
      continue;
    }
    if (users.length === 0) delete disk.users;
    else disk.users = users;
    disk.lastDetachTimestamp = now;
  }
  for (const nic of interfacesOf(instance)) {
    releaseIp(project, region, nic.networkIP, instanceLink);
    for (const config of nic.accessConfigs ?? []) releaseIp(project, region, config.natIP, instanceLink);
  }
}

/** An instance action with no body (stop, start): operation on the instance, `commit` at completion. */
function lifecycleMutation(
  call: Call,
  operationType: string,
  commit: (instance: Json, zone: string) => Promise<void>,
): Mutation {
  const { zone, path, instance } = instanceTarget(call);
  return {
    operationType,
    scope: { kind: 'zone', zone },
    targetPath: path,
    targetId: String(instance.id),
    prepare() {
      const current = existing(call, path);
      return () => commit(current, zone);
    },
  };
}

/** GCE keeps the last 1 MB of each serial port's output. */
const SERIAL_BUFFER_BYTES = 1024 * 1024;

/** An integer query parameter within bounds (GCE's 400 `invalid` otherwise), or its default. */
function integerParam(
  call: Call,
  name: string,
  fallback: number,
  bounds: { min: number; max: number },
): number {
  const text = call.query[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    const range =
      bounds.max === Number.MAX_SAFE_INTEGER ? `an integer` : `between ${bounds.min} and ${bounds.max}`;
    throw invalidField(name, text, `Must be ${range}.`);
  }
  return value;
}

/**
 * `getSerialPortOutput` as GCE answers it: the port's output from byte `start` (a negative `start` counts
 * back from the end), of the last 1 MB only (an older `start` moves up to the oldest byte kept, and the
 * answer's `start` says so), `next` the byte after it. Port 1 is the VM runtime's console; ports 2-4 and
 * instances the server does not boot have written nothing.
 */
function serialPortOutput(call: Call): Json {
  const zone = zoneParam(call);
  const path = `zones/${zone}/instances/${call.params.instance}`;
  const instance = existing(call, path);
  const port = integerParam(call, 'port', 1, { min: 1, max: 4 });
  const start = integerParam(call, 'start', 0, {
    min: -Number.MAX_SAFE_INTEGER,
    max: Number.MAX_SAFE_INTEGER,
  });
  const text = port === 1 ? (call.server.runtime?.serialOutput(String(instance.name), zone) ?? '') : '';
  const bytes = Buffer.from(text, 'utf8');
  const oldest = Math.max(0, bytes.length - SERIAL_BUFFER_BYTES);
  const from = Math.max(start < 0 ? bytes.length + start : start, oldest);
  const contents = bytes.subarray(Math.min(from, bytes.length));
  return {
    kind: 'compute#serialPortOutput',
    contents: contents.toString('utf8'),
    start: String(from),
    next: String(Math.max(from, bytes.length)),
    selfLink: link(call.project.name, `${path}/serialPort`),
  };
}

/** instances: insert, get, list, delete, start, stop, addAccessConfig, deleteAccessConfig, setLabels, setMetadata, getSerialPortOutput. */
export const instanceMethods: MethodDefinition[] = [
  {
    kind: 'mutate',
    id: 'compute.instances.insert',
    httpMethod: 'POST',
    pattern: '/zones/{zone}/instances',
    bodyType: 'Instance',
    accept: insertMutation,
  },
  {
    kind: 'read',
    id: 'compute.instances.get',
    httpMethod: 'GET',
    pattern: '/zones/{zone}/instances/{instance}',
    run: (call) =>
      structuredClone(existing(call, `zones/${zoneParam(call)}/instances/${call.params.instance}`)),
  },
  {
    kind: 'read',
    id: 'compute.instances.getSerialPortOutput',
    httpMethod: 'GET',
    pattern: '/zones/{zone}/instances/{instance}/serialPort',
    run: serialPortOutput,
  },
  {
    kind: 'read',
    id: 'compute.instances.list',
    httpMethod: 'GET',
    pattern: '/zones/{zone}/instances',
    run(call) {
      const collection = `zones/${zoneParam(call)}/instances`;
      return listResponse(call, {
        kind: 'compute#instanceList',
        collection,
        items: structuredClone(call.project.list(collection)),
      });
    },
  },
  {
    kind: 'mutate',
    id: 'compute.instances.delete',
    httpMethod: 'DELETE',
    pattern: '/zones/{zone}/instances/{instance}',
    accept(call) {
      const { zone, path, instance } = instanceTarget(call);
      const { project, server } = call;
      return {
        operationType: 'delete',
        scope: { kind: 'zone', zone },
        targetPath: path,
        targetId: String(instance.id),
        effect: 'delete',
        prepare() {
          const current = existing(call, path);
          return async () => {
            current.status = 'STOPPING';
            const runtime = server.runtime;
            if (runtime !== undefined) {
              await runtimeAction(call, path, 'remove', () => runtime.remove(String(current.name), zone));
            }
            const deleted = disksOf(current).filter((disk) => disk.autoDelete);
            releaseInstance(project, zone, current);
            project.resources.delete(path);
            // Auto-deleted disks take their data with them.
            for (const disk of deleted) await runtime?.deleteDisk(lastSegment(disk.source), zone);
          };
        },
      };
    },
  },
  {
    kind: 'mutate',
    id: 'compute.instances.stop',
    httpMethod: 'POST',
    pattern: '/zones/{zone}/instances/{instance}/stop',
    accept: (call) =>
      lifecycleMutation(call, 'stop', async (instance, zone) => {
        if (instance.status === 'TERMINATED') return;
        instance.status = 'STOPPING';
        const runtime = call.server.runtime;
        if (runtime !== undefined) {
          await runtimeAction(call, String(instance.selfLink), 'stop', () =>
            runtime.stop(String(instance.name), zone),
          );
        }
        // A stopped instance gives its ephemeral external IPs back (a reserved one stays its).
        const region = regionOf(zone);
        for (const nic of interfacesOf(instance)) {
          for (const config of nic.accessConfigs ?? []) {
            const ip = config.natIP;
            if (
              ip !== undefined &&
              call.project.list(`regions/${region}/addresses`).every((a) => a.address !== ip)
            ) {
              delete config.natIP;
            }
          }
        }
        instance.status = 'TERMINATED';
        instance.lastStopTimestamp = gceTimestamp(new Date());
      }),
  },
  {
    kind: 'mutate',
    id: 'compute.instances.start',
    httpMethod: 'POST',
    pattern: '/zones/{zone}/instances/{instance}/start',
    accept: (call) =>
      lifecycleMutation(call, 'start', async (instance, zone) => {
        if (instance.status === 'RUNNING') return;
        instance.status = 'STAGING';
        for (const nic of interfacesOf(instance)) {
          for (const config of nic.accessConfigs ?? []) config.natIP ??= allocateIp(call.server, 'EXTERNAL');
        }
        const runtime = call.server.runtime;
        if (runtime !== undefined) {
          await runtimeAction(call, String(instance.selfLink), 'start', () =>
            runtime.start(String(instance.name), zone),
          );
        }
        instance.status = 'RUNNING';
        instance.lastStartTimestamp = gceTimestamp(new Date());
      }),
  },
  {
    kind: 'mutate',
    id: 'compute.instances.addAccessConfig',
    httpMethod: 'POST',
    pattern: '/zones/{zone}/instances/{instance}/addAccessConfig',
    bodyType: 'AccessConfig',
    accept(call) {
      const { zone, path, instance } = instanceTarget(call);
      const body = bodyObject(call);
      const nicName = call.query.networkInterface;
      interfaceNamed(instance, nicName);
      const region = regionOf(zone);
      return {
        operationType: 'addAccessConfig',
        scope: { kind: 'zone', zone },
        targetPath: path,
        targetId: String(instance.id),
        prepare() {
          const current = existing(call, path);
          const nic = interfaceNamed(current, nicName);
          if ((nic.accessConfigs ?? []).length > 0) {
            throw new ComputeApiError({
              status: 400,
              message: 'At most one access config currently supported.',
              reason: 'invalid',
              operationCode: 'INVALID_USAGE',
            });
          }
          const requested = stringField(body, 'natIP');
          const reserved = checkNatIp(call, region, requested, 'resource.natIP');
          return () => {
            const config = accessConfigJson(body);
            if (requested !== undefined && requested !== '') config.natIP = requested;
            else if (current.status !== 'TERMINATED') config.natIP = allocateIp(call.server, 'EXTERNAL');
            if (reserved !== undefined) claimAddress(reserved, String(current.selfLink));
            nic.accessConfigs = [config];
            nic.fingerprint = newFingerprint();
          };
        },
      };
    },
  },
  {
    kind: 'mutate',
    id: 'compute.instances.deleteAccessConfig',
    httpMethod: 'POST',
    pattern: '/zones/{zone}/instances/{instance}/deleteAccessConfig',
    accept(call) {
      const { zone, path, instance } = instanceTarget(call);
      const nicName = call.query.networkInterface;
      const configName = call.query.accessConfig;
      if (configName === undefined || configName === '') throw requiredField('accessConfig');
      interfaceNamed(instance, nicName);
      return {
        operationType: 'deleteAccessConfig',
        scope: { kind: 'zone', zone },
        targetPath: path,
        targetId: String(instance.id),
        prepare() {
          const current = existing(call, path);
          const nic = interfaceNamed(current, nicName);
          const config = (nic.accessConfigs ?? []).find((candidate) => candidate.name === configName);
          if (config === undefined) {
            throw invalidField(
              'accessConfig',
              configName,
              'The access config was not found on the network interface.',
            );
          }
          return () => {
            releaseIp(call.project, regionOf(zone), config.natIP, String(current.selfLink));
            const rest = (nic.accessConfigs ?? []).filter((candidate) => candidate !== config);
            if (rest.length === 0) delete nic.accessConfigs;
            else nic.accessConfigs = rest;
            nic.fingerprint = newFingerprint();
          };
        },
      };
    },
  },
  {
    kind: 'mutate',
    id: 'compute.instances.setLabels',
    httpMethod: 'POST',
    pattern: '/zones/{zone}/instances/{instance}/setLabels',
    bodyType: 'InstancesSetLabelsRequest',
    accept(call) {
      const { zone, path, instance } = instanceTarget(call);
      const body = bodyObject(call);
      const labels = checkedLabels(body.labels);
      const cas = acceptFingerprint(call.project, {
        key: `${path}#labels`,
        current: String(instance.labelFingerprint),
        supplied: body.labelFingerprint,
        message: LABEL_FINGERPRINT_MESSAGE,
      });
      return {
        operationType: 'setLabels',
        scope: { kind: 'zone', zone },
        targetPath: path,
        targetId: String(instance.id),
        prepare() {
          const current = existing(call, path);
          return () => {
            if (Object.keys(labels).length === 0) delete current.labels;
            else current.labels = labels;
            current.labelFingerprint = cas.fingerprint;
          };
        },
        settle: cas.settle,
      };
    },
  },
  {
    kind: 'mutate',
    id: 'compute.instances.setMetadata',
    httpMethod: 'POST',
    pattern: '/zones/{zone}/instances/{instance}/setMetadata',
    bodyType: 'Metadata',
    accept(call) {
      const { zone, path, instance } = instanceTarget(call);
      const body = bodyObject(call);
      const items = checkedMetadataItems(body.items, 'resource.items');
      const cas = acceptFingerprint(call.project, {
        key: `${path}#metadata`,
        current: String((instance.metadata as Json).fingerprint),
        supplied: body.fingerprint,
        message: METADATA_FINGERPRINT_MESSAGE,
      });
      return {
        operationType: 'setMetadata',
        scope: { kind: 'zone', zone },
        targetPath: path,
        targetId: String(instance.id),
        prepare() {
          const current = existing(call, path);
          return () => {
            current.metadata = metadataJson(items, cas.fingerprint);
          };
        },
        settle: cas.settle,
      };
    },
  },
];
