import { rm } from 'node:fs/promises';
import { invalidArgument } from '../errors.js';
import type {
  AddressRef,
  InstanceRef,
  LoadBalancer,
  LoadBalancerApi,
  LoadBalancerSpec,
  TargetHealth,
} from '../provider.js';
import { assertHealthCheck, assertPort, assertResourceName, throwIfAborted } from '../provider-input.js';
import { describeHolder, requireAddress, writeFreeAddress } from './addresses.js';
import {
  type AddressRecord,
  conflict,
  type LoadBalancerRecord,
  notFound,
  type ProcessCloud,
} from './cloud.js';
import type { EndpointRunner } from './endpoints.js';

type LoadBalancerRef = { name: string; region: string };

/** The load balancer contract with the optional `health` a process cloud has. */
export type ProcessLoadBalancerApi = LoadBalancerApi & Required<Pick<LoadBalancerApi, 'health'>>;

/** What the load balancers of a process cloud work with. */
interface Parts {
  cloud: ProcessCloud;
  runner: EndpointRunner;
}

const addressOf = (spec: LoadBalancerSpec): AddressRef => ({ name: spec.address, region: spec.region });
const readRecord = (cloud: ProcessCloud, ref: LoadBalancerRef) =>
  cloud.files.read<LoadBalancerRecord>(cloud.loadBalancerFile(ref));
const readAddress = (cloud: ProcessCloud, spec: LoadBalancerSpec) =>
  cloud.files.read<AddressRecord>(cloud.addressFile(addressOf(spec)));
const holds = (address: AddressRecord | undefined, ref: LoadBalancerRef) =>
  address?.holder?.kind === 'load-balancer' && address.holder.name === ref.name;

/** The spec as it is stored: only the contract's fields, targets as plain refs. */
function normalized(spec: LoadBalancerSpec): LoadBalancerSpec {
  return {
    name: spec.name,
    region: spec.region,
    address: spec.address,
    port: spec.port,
    ...(spec.targetPort === undefined ? {} : { targetPort: spec.targetPort }),
    healthCheck: { ...spec.healthCheck },
    targets: spec.targets.map((target) => ({ name: target.name, zone: target.zone })),
  };
}

function assertTargets(cloud: ProcessCloud, targets: readonly InstanceRef[], region: string): void {
  if (!Array.isArray(targets)) {
    throw invalidArgument({ field: 'targets', message: 'targets must be a list of instances.' });
  }
  const seen = new Set<string>();
  for (const target of targets) {
    cloud.assertRef(target);
    if (seen.has(target.name)) {
      throw invalidArgument({
        field: 'targets',
        value: target.name,
        message: `Target ${target.name} appears twice.`,
      });
    }
    seen.add(target.name);
    cloud.assertInRegion(target, region, 'the load balancer');
  }
}

function assertSpec(cloud: ProcessCloud, spec: LoadBalancerSpec): void {
  cloud.assertRegional(spec);
  assertResourceName('address', spec.address);
  assertPort('port', spec.port);
  if (spec.targetPort !== undefined) assertPort('targetPort', spec.targetPort);
  assertHealthCheck(spec.healthCheck);
  assertTargets(cloud, spec.targets, spec.region);
}

function missing(ref: LoadBalancerRef) {
  return notFound(`Load balancer ${ref.name} in region ${ref.region}`, { ...ref }, [
    'Create it with ensure first.',
  ]);
}

async function targetsMustExist(cloud: ProcessCloud, targets: readonly InstanceRef[]): Promise<void> {
  for (const target of targets) {
    if ((await cloud.readInstance(target)) === undefined) {
      throw notFound(`Target instance ${target.name} in zone ${target.zone}`, { ...target });
    }
  }
}

async function healthOf(
  { cloud, runner }: Parts,
  spec: LoadBalancerSpec,
  address: AddressRecord | undefined,
): Promise<TargetHealth[]> {
  const health = holds(address, spec)
    ? await runner.driver.health(cloud.endpointDir(addressOf(spec)))
    : new Map();
  return spec.targets.map((target) => ({
    instance: { name: target.name, zone: target.zone },
    healthy: health.get(target.name) === true,
  }));
}

async function toLoadBalancer(parts: Parts, spec: LoadBalancerSpec): Promise<LoadBalancer> {
  const { cloud, runner } = parts;
  const address = await readAddress(cloud, spec);
  const serving =
    address !== undefined &&
    holds(address, spec) &&
    (await runner.serving(addressOf(spec), await runner.planOf(address, spec)));
  return { ...structuredClone(spec), targetHealth: await healthOf(parts, spec, address), serving };
}

/** Under the mutex: the address `spec` may take over, or CONFLICT / NOT_FOUND; nothing changes. */
async function claimable(cloud: ProcessCloud, spec: LoadBalancerSpec): Promise<AddressRecord> {
  const address = await requireAddress(cloud, addressOf(spec));
  const holder = address.holder;
  if (holder !== undefined && !(holder.kind === 'load-balancer' && holder.name === spec.name)) {
    throw conflict(
      `Address ${spec.address} is held by ${describeHolder(holder)}; the load balancer was not changed.`,
      { address: spec.address, holder },
      [
        holder.kind === 'instance'
          ? 'Detach the address from the instance first.'
          : 'Delete that load balancer first.',
      ],
    );
  }
  const existing = await readRecord(cloud, spec);
  if (existing !== undefined && existing.spec.address !== spec.address) {
    throw conflict(
      `Load balancer ${spec.name} serves address ${existing.spec.address}, not ${spec.address}.`,
      { name: spec.name, address: existing.spec.address },
      ['Delete it first to move it to another address.'],
    );
  }
  await targetsMustExist(cloud, spec.targets);
  return address;
}

async function ensure(
  parts: Parts,
  spec: LoadBalancerSpec,
  signal: AbortSignal | undefined,
): Promise<LoadBalancer> {
  const { cloud, runner } = parts;
  throwIfAborted(signal);
  assertSpec(cloud, spec);
  runner.driver.assertAvailable();
  await cloud.prepare();
  const stored = normalized(spec);
  await runner.exclusive(addressOf(stored), async () => {
    const address = await cloud.locked(() => claimable(cloud, stored));
    const next: AddressRecord = { ...address, holder: { kind: 'load-balancer', name: stored.name } };
    const plan = await runner.planOf(next, stored);
    if (plan !== undefined) await runner.apply(addressOf(stored), plan, signal);
    await cloud.locked(async () => {
      await cloud.files.write(cloud.loadBalancerFile(stored), { spec: stored });
      await cloud.files.write(cloud.addressFile(addressOf(stored)), next);
    });
  });
  cloud.logger.info('load balancer ensured', {
    name: stored.name,
    address: stored.address,
    targets: stored.targets.length,
  });
  return toLoadBalancer(parts, stored);
}

async function setTargets(
  parts: Parts,
  ref: LoadBalancerRef,
  targets: readonly InstanceRef[],
  signal: AbortSignal | undefined,
): Promise<LoadBalancer> {
  const { cloud, runner } = parts;
  throwIfAborted(signal);
  cloud.assertRegional(ref);
  assertTargets(cloud, targets, ref.region);
  runner.driver.assertAvailable();
  const found = await readRecord(cloud, ref);
  if (found === undefined) throw missing(ref);
  const spec = normalized({ ...found.spec, targets });
  await runner.exclusive(addressOf(spec), async () => {
    const address = await cloud.locked(async () => {
      if ((await readRecord(cloud, ref)) === undefined) throw missing(ref);
      await targetsMustExist(cloud, spec.targets);
      return readAddress(cloud, spec);
    });
    // A load balancer whose address a cut-short ensure did not take yet serves nothing to change.
    const plan =
      address !== undefined && holds(address, spec) ? await runner.planOf(address, spec) : undefined;
    if (plan !== undefined) await runner.apply(addressOf(spec), plan, signal);
    await cloud.locked(() => cloud.files.write(cloud.loadBalancerFile(ref), { spec }));
  });
  return toLoadBalancer(parts, spec);
}

async function remove(
  { cloud, runner }: Parts,
  ref: LoadBalancerRef,
  signal: AbortSignal | undefined,
): Promise<void> {
  throwIfAborted(signal);
  cloud.assertRegional(ref);
  const found = await readRecord(cloud, ref);
  if (found === undefined) return;
  const addressRef = addressOf(found.spec);
  await runner.exclusive(addressRef, async () => {
    // Stopped first: a delete cut short leaves records that say `serving: false`, and is repeated.
    if (holds(await readAddress(cloud, found.spec), ref)) await runner.stop(addressRef);
    await cloud.locked(async () => {
      const current = await readAddress(cloud, found.spec);
      if (current !== undefined && holds(current, ref)) await writeFreeAddress(cloud, current);
      await rm(cloud.loadBalancerFile(ref), { force: true });
    });
  });
  cloud.logger.info('load balancer deleted', { name: ref.name });
}

/**
 * The load balancers of a process cloud: a load balancer takes its address over, and the address's
 * endpoint sends each port to the targets its health check finds healthy. The endpoint is applied
 * first and the records written after, so that a call cut short leaves the records saying less
 * than what runs, never more; `get` says `serving: false` when the endpoint does not run or serves
 * another plan than the records, and `ensure` or `setTargets` with the recorded spec applies it
 * again. `health` reads only the targets' health.
 */
export function createProcessLoadBalancers(
  cloud: ProcessCloud,
  options: { runner: EndpointRunner },
): ProcessLoadBalancerApi {
  const parts: Parts = { cloud, runner: options.runner };
  return {
    ensure: (spec, mutation) => ensure(parts, spec, mutation.signal),
    async get(ref, read) {
      throwIfAborted(read?.signal);
      cloud.assertRegional(ref);
      const record = await readRecord(cloud, ref);
      return record === undefined ? undefined : toLoadBalancer(parts, record.spec);
    },
    setTargets: (ref, targets, mutation) => setTargets(parts, ref, targets, mutation.signal),
    delete: (ref, mutation) => remove(parts, ref, mutation.signal),
    async health(ref, read) {
      throwIfAborted(read?.signal);
      cloud.assertRegional(ref);
      const record = await readRecord(cloud, ref);
      if (record === undefined) return undefined;
      return healthOf(parts, record.spec, await readAddress(cloud, record.spec));
    },
  };
}
