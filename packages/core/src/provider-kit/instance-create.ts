import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { assertClusterName } from '../domain.js';
import { ErrorCode, HacpError } from '../errors.js';
import { assertNodeConfig } from '../node-config.js';
import type { Instance, InstanceSpec, MutationOptions } from '../provider.js';
import { throwIfAborted } from '../provider-input.js';
import { conflict, type InstanceRecord } from './cloud.js';
import type { InstanceRuntime } from './instance-runtime.js';
import { nodeConfigDigest, writeNodeFiles } from './node-files.js';
import { isAlive, selfRecord } from './processes.js';

/** What `create` claimed under the mutex: the instance that exists, or the record to make it under. */
type Claim =
  | { kind: 'existing'; record: InstanceRecord }
  | { kind: 'new'; record: InstanceRecord; madeNetwork: boolean; previous?: InstanceRecord };

type Fresh = Omit<InstanceRecord, 'network' | 'rootExisted'>;

function alreadyExists(spec: InstanceSpec, existing: InstanceRecord): HacpError {
  return new HacpError({
    code: ErrorCode.ALREADY_EXISTS,
    message:
      existing.cluster === spec.cluster
        ? `Instance ${spec.name} exists in zone ${existing.zone} with another configuration.`
        : `Instance ${spec.name} exists and belongs to cluster ${existing.cluster}.`,
    actions: ['Use another instance name, or delete that instance first.'],
    details: { name: spec.name, cluster: existing.cluster, zone: existing.zone },
  });
}

/** Under the mutex: the record `spec` will be made under, or the instance that exists. */
async function claim(runtime: InstanceRuntime, spec: InstanceSpec, fresh: Fresh): Promise<Claim> {
  const { cloud, settings } = runtime;
  const existing = await cloud.files.read<InstanceRecord>(cloud.instanceFile(spec.name));
  if (existing !== undefined) {
    const sameOwner = existing.cluster === spec.cluster && existing.zone === spec.zone;
    if (sameOwner && existing.state === 'creating' && !isAlive(existing.creator)) {
      // Its creator died half-way: take it over, and make it afresh in its network place.
      const record: InstanceRecord = {
        ...fresh,
        network: existing.network,
        rootExisted: existing.rootExisted === true,
      };
      await runtime.write(record);
      return { kind: 'new', record, madeNetwork: false, previous: existing };
    }
    const same =
      sameOwner && (existing.specDigest === fresh.specDigest || existing.requestId === fresh.requestId);
    if (!same) throw alreadyExists(spec, existing);
    if (existing.state === 'created') return { kind: 'existing', record: existing };
    throw new HacpError({
      code: ErrorCode.CONFLICT,
      message: `Instance ${spec.name} is being created by another call (pid ${existing.creator.pid}).`,
      actions: ['Wait for it to finish, then look again.'],
      details: { name: spec.name, pid: existing.creator.pid },
      retryable: true,
    });
  }
  await settings.assertZoneUp?.(spec.zone);
  const { network, made } = await settings.networks.allocate(spec);
  const rootExisted = existsSync(cloud.instancePaths(spec.name).root);
  const record: InstanceRecord = { ...fresh, network, rootExisted };
  await runtime.write(record);
  return { kind: 'new', record, madeNetwork: made };
}

/** Makes a claimed instance: files, then processes, then its record says `created`. */
async function build(
  runtime: InstanceRuntime,
  claimed: Extract<Claim, { kind: 'new' }>,
  spec: InstanceSpec,
  signal?: AbortSignal,
): Promise<InstanceRecord> {
  const { cloud } = runtime;
  const { record, previous } = claimed;
  // What a dead creator started is stopped by its pid files, and its half-written disk goes too.
  if (previous !== undefined) await runtime.dismantle(previous, previous.rootExisted === true);
  await writeNodeFiles(cloud.instancePaths(spec.name).root, spec.nodeConfig);
  await runtime.startProcesses(record);
  throwIfAborted(signal);
  const created: InstanceRecord = { ...record, state: 'created' };
  await cloud.locked(async () => {
    const current = await cloud.files.read<InstanceRecord>(cloud.instanceFile(spec.name));
    if (current?.creator.token !== record.creator.token) {
      throw conflict(`Instance ${spec.name} was deleted while it was being created.`, { name: spec.name }, [
        'Create it again if it is still wanted.',
      ]);
    }
    await runtime.write(created);
  });
  return created;
}

/** Undoes a failed create: what it started, its folder (not a kept disk), its record, a place it allocated. */
async function rollBack(
  runtime: InstanceRuntime,
  claimed: Extract<Claim, { kind: 'new' }>,
  spec: InstanceSpec,
): Promise<void> {
  const { cloud } = runtime;
  const { record } = claimed;
  await runtime
    .dismantle(record, record.rootExisted === true)
    .catch((error: unknown) =>
      cloud.logger.error('could not clean up a failed create', { instance: spec.name, error: String(error) }),
    );
  await cloud.locked(async () => {
    const current = await cloud.files
      .read<InstanceRecord>(cloud.instanceFile(spec.name))
      .catch(() => undefined);
    if (current !== undefined && current.creator.token !== record.creator.token) return;
    await rm(cloud.instanceFile(spec.name), { force: true });
    if (claimed.madeNetwork) await runtime.settings.networks.free(spec);
  });
}

/**
 * `instances.create` of a process cloud: all or nothing. An instance whose creator died half-way
 * (its record still `creating`) is taken over: what that creator started is stopped by pid, and
 * the instance is made afresh.
 */
export async function createInstance(
  runtime: InstanceRuntime,
  spec: InstanceSpec,
  options: MutationOptions,
): Promise<Instance> {
  const { cloud } = runtime;
  throwIfAborted(options.signal);
  cloud.assertRef(spec);
  assertClusterName(spec.cluster);
  assertNodeConfig(spec.nodeConfig);
  const processes = spec.nodeConfig.processes.map((process) => runtime.storedProcess(process, spec));
  await cloud.prepare();
  const labels = { ...spec.labels, 'hacp-cluster': spec.cluster };
  const fresh: Fresh = {
    name: spec.name,
    zone: spec.zone,
    cluster: spec.cluster,
    labels,
    createdAt: new Date().toISOString(),
    specDigest: nodeConfigDigest(spec.nodeConfig, {
      cluster: spec.cluster,
      zone: spec.zone,
      labels,
      processes,
    }),
    requestId: options.requestId,
    state: 'creating',
    creator: { ...selfRecord(), token: randomBytes(8).toString('hex') },
    processes,
  };
  const claimed = await cloud.locked(() => claim(runtime, spec, fresh));
  if (claimed.kind === 'existing') return runtime.toInstance(claimed.record);
  let created: InstanceRecord;
  try {
    created = await build(runtime, claimed, spec, options.signal);
  } catch (error) {
    await rollBack(runtime, claimed, spec);
    throw error;
  }
  cloud.logger.info('created instance', {
    instance: spec.name,
    zone: spec.zone,
    ip: created.network.internalIp,
  });
  await runtime.settings.endpoints.instanceChanged(spec);
  return runtime.toInstance(created);
}
