import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressRef, HealthCheck, InstanceRef, LoadBalancerSpec } from '../provider.js';
import {
  type AddressRecord,
  type InstanceRecord,
  type LoadBalancerRecord,
  type ProcessCloud,
  sameInstance,
} from './cloud.js';
import { STANDARD_PORTS } from './loopback.js';

/** One target of a listener: an instance's address and port. */
export interface EndpointServer {
  /** The instance's name, unique within its listener. */
  name: string;
  zone: string;
  host: string;
  port: number;
  /** Where the health check goes (a load balancer's); absent where servers are not checked. */
  checkPort?: number;
}

/** A TCP port of the endpoint address, passed through to its servers. */
export interface EndpointListener {
  /** `apiserver` (the API's port) or `etcd` (2379). */
  name: string;
  bindHost: string;
  bindPort: number;
  /** May be empty: connections are then refused or closed at once. */
  servers: readonly EndpointServer[];
}

/**
 * What an endpoint serves. Without `healthCheck`, the address belongs to one instance and its one
 * server per listener is not checked; with it, a load balancer's targets get connections only
 * while their check passes.
 */
export interface EndpointPlan {
  listeners: readonly EndpointListener[];
  healthCheck?: HealthCheck;
}

/**
 * The program that serves an endpoint address (the local provider's HAProxy, the example plugin's
 * forwarder), one per address, each in a folder of its own. The kit decides what it serves and
 * when; the driver only runs it.
 */
export interface EndpointDriver {
  /** @throws HacpError DEPENDENCY_MISSING when its program is missing, before anything changes. */
  assertAvailable(): void;
  /** Makes the endpoint in `dir` serve `plan`, starting it or reloading the running one; resolves once it does. */
  apply(options: { dir: string; plan: EndpointPlan; signal?: AbortSignal }): Promise<void>;
  /** Stops the endpoint in `dir` by pid and removes its files there; fine when none runs. */
  stop(dir: string): Promise<void>;
  /** Whether the endpoint's process in `dir` runs (the pid and start time it was recorded with). */
  running(dir: string): Promise<boolean>;
  /** Each checked server's health by its name, as the running endpoint sees it; empty when none runs. */
  health(dir: string): Promise<ReadonlyMap<string, boolean>>;
  /**
   * Optional: takes `server` out until its check passes again, for a target whose processes are
   * about to start again faster than the checks would notice. Returns where it did.
   */
  markDown?(dir: string, server: string): Promise<string[]>;
}

/** The digest of a plan: equal plans, equal digests. */
export function planDigest(plan: EndpointPlan): string {
  return createHash('sha256').update(JSON.stringify(plan)).digest('hex');
}

const shifted = (port: number, offset: number | undefined) => port + (offset ?? 0);

function serverOf(record: InstanceRecord, port: number, checkPort?: number): EndpointServer {
  const { internalIp, portOffset } = record.network;
  return {
    name: record.name,
    zone: record.zone,
    host: internalIp,
    port: shifted(port, portOffset),
    ...(checkPort === undefined ? {} : { checkPort: shifted(checkPort, portOffset) }),
  };
}

/** What `address` serves while `holder` instance holds it: 6443 and 2379 of that instance. */
function instancePlan(address: AddressRecord, holder: InstanceRecord): EndpointPlan {
  return {
    listeners: [
      { name: 'apiserver', port: STANDARD_PORTS.apiserver },
      { name: 'etcd', port: STANDARD_PORTS.etcdClient },
    ].map(({ name, port }) => ({
      name,
      bindHost: address.ip,
      bindPort: shifted(port, address.portOffset),
      servers: [serverOf(holder, port)],
    })),
  };
}

/** What `address` serves for load balancer `spec`: its port to the targets' targetPort, and 2379. */
function loadBalancerPlan(
  address: AddressRecord,
  spec: LoadBalancerSpec,
  targets: InstanceRecord[],
): EndpointPlan {
  const checkPort = spec.healthCheck.port;
  const listeners: EndpointListener[] = [
    {
      name: 'apiserver',
      bindHost: address.ip,
      bindPort: shifted(spec.port, address.portOffset),
      servers: targets.map((target) => serverOf(target, spec.targetPort ?? spec.port, checkPort)),
    },
  ];
  // 2379 too, so that the endpoint can be exercised with etcdctl alone.
  if (spec.port !== STANDARD_PORTS.etcdClient) {
    listeners.push({
      name: 'etcd',
      bindHost: address.ip,
      bindPort: shifted(STANDARD_PORTS.etcdClient, address.portOffset),
      servers: targets.map((target) => serverOf(target, STANDARD_PORTS.etcdClient, checkPort)),
    });
  }
  return { listeners, healthCheck: { ...spec.healthCheck } };
}

/**
 * Runs the endpoints of a process cloud through its driver, and knows what each one serves: after
 * an apply succeeded, the digest of its plan is recorded beside it (`serving.json`), and removed
 * before the next apply starts, so that an apply cut short never counts as served.
 */
export interface EndpointRunner {
  readonly driver: EndpointDriver;
  /**
   * What `address` serves from its records: its holder instance's ports, or its load balancer's
   * targets (`spec` overrides the recorded one); undefined when nothing holds it (or its holder is gone).
   */
  planOf(address: AddressRecord, spec?: LoadBalancerSpec): Promise<EndpointPlan | undefined>;
  /** Makes the endpoint serve `plan`, unless it runs and serves it already. */
  apply(ref: AddressRef, plan: EndpointPlan, signal?: AbortSignal): Promise<void>;
  /** Stops the endpoint and forgets what it served. */
  stop(ref: AddressRef): Promise<void>;
  /** Whether the endpoint's process runs. */
  running(ref: AddressRef): Promise<boolean>;
  /** Whether it runs and serves `plan` (an apply of exactly that plan succeeded last). */
  serving(ref: AddressRef, plan: EndpointPlan | undefined): Promise<boolean>;
  /** Runs `work` as the only change of that address's endpoint, across processes. */
  exclusive<T>(ref: AddressRef, work: () => Promise<T>): Promise<T>;
}

/** The endpoint runner of `cloud` over `driver`. */
export function createEndpointRunner(cloud: ProcessCloud, driver: EndpointDriver): EndpointRunner {
  const servingFile = (ref: AddressRef) => join(cloud.endpointDir(ref), 'serving.json');

  async function recordedDigest(ref: AddressRef): Promise<string | undefined> {
    const body = await cloud.files.read<{ digest?: string }>(servingFile(ref)).catch(() => undefined);
    return body?.digest;
  }

  const runner: EndpointRunner = {
    driver,
    async planOf(address, spec) {
      const holder = address.holder;
      if (holder === undefined) return undefined;
      if (holder.kind === 'instance') {
        const record = await cloud.readInstance(holder.instance);
        return record === undefined ? undefined : instancePlan(address, record);
      }
      const served =
        spec ??
        (
          await cloud.files.read<LoadBalancerRecord>(
            cloud.loadBalancerFile({ name: holder.name, region: address.region }),
          )
        )?.spec;
      if (served === undefined) return undefined;
      const targets: InstanceRecord[] = [];
      for (const target of served.targets) {
        const record = await cloud.readInstance(target);
        if (record !== undefined) targets.push(record);
      }
      return loadBalancerPlan(address, served, targets);
    },
    async apply(ref, plan, signal) {
      const dir = cloud.endpointDir(ref);
      const digest = planDigest(plan);
      if ((await driver.running(dir)) && (await recordedDigest(ref)) === digest) return;
      await rm(servingFile(ref), { force: true });
      await driver.apply({ dir, plan, ...(signal ? { signal } : {}) });
      await cloud.files.write(servingFile(ref), { digest });
    },
    async stop(ref) {
      await driver.stop(cloud.endpointDir(ref));
      await rm(servingFile(ref), { force: true });
    },
    running: (ref) => driver.running(cloud.endpointDir(ref)),
    async serving(ref, plan) {
      if (plan === undefined || !(await driver.running(cloud.endpointDir(ref)))) return false;
      return (await recordedDigest(ref)) === planDigest(plan);
    },
    exclusive: (ref, work) => cloud.endpointMutex(ref).run(work),
  };
  return runner;
}

/** What instances tell the endpoints, so that an address follows the instances it reaches. */
export interface EndpointHooks {
  /** `ref` is about to be deleted: an address it holds stops serving and is free again (still reserved). */
  instanceDeleting(ref: InstanceRef): Promise<void>;
  /** `ref` was created or deleted: endpoints that reach it serve what the records now say. */
  instanceChanged(ref: InstanceRef): Promise<void>;
  /** `ref`'s processes are about to start again: load balancers take it out until its check passes. */
  instanceStarting(ref: InstanceRef): Promise<void>;
}

/** The endpoint hooks of `cloud`: what its instances call on the endpoints `runner` runs. */
export function createEndpointHooks(cloud: ProcessCloud, runner: EndpointRunner): EndpointHooks {
  const addresses = () => cloud.files.readFolder<AddressRecord>(cloud.paths.addresses);

  async function targetedBy(address: AddressRecord, ref: InstanceRef): Promise<boolean> {
    if (address.holder?.kind !== 'load-balancer') return false;
    const record = await cloud.files
      .read<LoadBalancerRecord>(cloud.loadBalancerFile({ name: address.holder.name, region: address.region }))
      .catch(() => undefined);
    return record?.spec.targets.some((target) => sameInstance(target, ref)) === true;
  }

  const heldBy = (address: AddressRecord, ref: InstanceRef) =>
    address.holder?.kind === 'instance' && sameInstance(address.holder.instance, ref);

  return {
    async instanceDeleting(ref) {
      for (const address of await addresses()) {
        if (!heldBy(address, ref)) continue;
        // As on a cloud deleting a VM that held a static address: it stays reserved, unattached.
        await runner.exclusive(address, async () => {
          await runner.stop(address);
          await cloud.locked(async () => {
            const current = await cloud.files.read<AddressRecord>(cloud.addressFile(address));
            if (current !== undefined && heldBy(current, ref)) {
              const { holder: _holder, ...rest } = current;
              await cloud.files.write(cloud.addressFile(address), rest);
            }
          });
        });
      }
    },
    async instanceChanged(ref) {
      for (const address of await addresses()) {
        if (!heldBy(address, ref) && !(await targetedBy(address, ref))) continue;
        await runner
          .exclusive(address, async () => {
            const current = await cloud.files.read<AddressRecord>(cloud.addressFile(address));
            const plan = current === undefined ? undefined : await runner.planOf(current);
            // A dead endpoint stays dead here: status reports it, and ensure or attach start it.
            if (plan !== undefined && (await runner.running(address))) await runner.apply(address, plan);
          })
          .catch((error: unknown) =>
            cloud.logger.warn('could not bring an endpoint up to date', {
              address: address.name,
              error: String(error),
            }),
          );
      }
    },
    async instanceStarting(ref) {
      const { driver } = runner;
      if (driver.markDown === undefined) return;
      for (const address of await addresses()) {
        if (!(await targetedBy(address, ref))) continue;
        const listeners = await driver.markDown(cloud.endpointDir(address), ref.name);
        if (listeners.length > 0) {
          cloud.logger.info('target marked down until its health check passes', {
            instance: ref.name,
            loadBalancer: address.holder?.kind === 'load-balancer' ? address.holder.name : undefined,
            listeners,
          });
        }
      }
    },
  };
}
