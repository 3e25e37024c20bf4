/**
 * A cluster's world for the engine's unit tests: the memory provider, a fake etcd over it, a data
 * folder, and control planes made over them as separate runs of hacp would be. `converged` checks
 * what every finished operation must leave.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HacpError, ProviderV1 } from '@hacp/core';
import { createMemoryProvider, type MemoryProvider } from '@hacp/provider-conformance';
import { createControlPlane } from '../control-plane.js';
import { journalKey } from '../record.js';
import type { ControlPlane, ControlPlaneEvent, ControlPlaneSettings } from '../types.js';
import { FakeEtcd } from './fake-etcd.test-support.js';

export const CLUSTER = 'kubernetes';

/** Waits short enough for a unit test, long enough for two busy cores. */
export const UNIT_TIMEOUTS = {
  healthy: 5_000,
  promote: 2_000,
  memberStart: 2_000,
  learnerStall: 1_000,
  target: 5_000,
  drain: 0,
};

/** A provider that counts its calls by `<api>.<method>`. */
export function countingProvider(provider: MemoryProvider): {
  provider: MemoryProvider;
  calls: Map<string, number>;
} {
  const calls = new Map<string, number>();
  const wrap = <T extends object>(api: T, name: string): T =>
    new Proxy(api, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const label = `${name}.${String(key)}`;
          calls.set(label, (calls.get(label) ?? 0) + 1);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const counted = {
    ...provider,
    state: wrap(provider.state, 'state'),
    zones: wrap(provider.zones, 'zones'),
    instances: wrap(provider.instances, 'instances'),
    addresses: wrap(provider.addresses, 'addresses'),
    loadBalancers: wrap(provider.loadBalancers, 'loadBalancers'),
    firewalls: wrap(provider.firewalls, 'firewalls'),
  } as MemoryProvider;
  return { provider: counted, calls };
}

/**
 * The memory provider, with the fake etcd told what a real etcd learns when an instance starts:
 * one whose etcd runs with --force-new-cluster makes a cluster of its own (`recover`).
 */
function withEtcdStarts(memory: MemoryProvider, etcd: FakeEtcd): MemoryProvider {
  const instances: MemoryProvider['instances'] = {
    ...memory.instances,
    async create(spec, options) {
      const created = await memory.instances.create(spec, options);
      const args = spec.nodeConfig.processes.find((process) => process.name === 'etcd')?.args ?? [];
      if (args.includes('--force-new-cluster=true')) etcd.forceNewCluster(spec.name);
      return created;
    },
  };
  return Object.assign(Object.create(Object.getPrototypeOf(memory)), memory, { instances });
}

export interface World {
  provider: MemoryProvider;
  /** With `count`: hacp's provider calls by `<api>.<method>` (the fake etcd's own reads left out). */
  calls: Map<string, number>;
  etcd: FakeEtcd;
  dataDir: string;
  events: ControlPlaneEvent[];
  /** A control plane as one run of hacp makes it. */
  controlPlane(settings?: Partial<ControlPlaneSettings>): ControlPlane;
  dispose(): Promise<void>;
}

export async function createWorld(
  options: { count?: boolean; wrap?: (provider: MemoryProvider) => MemoryProvider } = {},
): Promise<World> {
  const root = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'hacp-engine-'));
  const memory = createMemoryProvider({ name: 'memory' });
  const etcd = new FakeEtcd(memory, CLUSTER);
  const wrapped = options.wrap?.(withEtcdStarts(memory, etcd)) ?? withEtcdStarts(memory, etcd);
  const { provider, calls } = options.count
    ? countingProvider(wrapped)
    : { provider: wrapped, calls: new Map() };
  const events: ControlPlaneEvent[] = [];
  const dataDir = join(root, 'clusters', CLUSTER);
  const made: ControlPlane[] = [];
  return {
    provider,
    calls,
    etcd,
    dataDir,
    events,
    controlPlane(settings = {}) {
      const controlPlane = createControlPlane({
        provider: provider as ProviderV1,
        dataDir,
        etcd: etcd.connector,
        timeouts: UNIT_TIMEOUTS,
        onEvent: (event) => events.push(event),
        ...settings,
      });
      made.push(controlPlane);
      return controlPlane;
    },
    async dispose() {
      await Promise.all(made.map((controlPlane) => controlPlane.close()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** What a finished operation leaves: the differences from it, empty when it holds. */
export async function convergenceProblems(world: World, replicas: number): Promise<string[]> {
  const { provider, etcd } = world;
  const problems: string[] = [];
  const journal = await provider.state.get(journalKey(CLUSTER));
  if (journal !== undefined) problems.push('an operation is still in flight');
  const instances = await provider.instances.list({ cluster: CLUSTER });
  const running = instances
    .filter((instance) => instance.status === 'running')
    .map((i) => i.name)
    .sort();
  if (instances.length !== replicas || running.length !== replicas)
    problems.push(`${running.length} running of ${instances.length} instances, expected ${replicas}`);
  const members = await etcd.snapshotMembers();
  const memberNames = members.map((member) => member.name).sort();
  if (JSON.stringify(memberNames) !== JSON.stringify(running))
    problems.push(`members ${memberNames.join(',')} are not the replicas ${running.join(',')}`);
  if (members.some((member) => member.learner || !member.started))
    problems.push('a learner or unstarted member');
  const down = await etcd.downMembers();
  if (down.length > 0) problems.push(`members ${down.join(',')} do not run`);
  const address = await provider.addresses.get({ name: `${CLUSTER}-master-ip`, region: 'local' });
  const lb = await provider.loadBalancers.get({ name: `${CLUSTER}-master`, region: 'local' });
  if (replicas === 0) {
    if (address !== undefined) problems.push('the address is still reserved');
    if (lb !== undefined) problems.push('a load balancer is left');
    if ((await provider.state.get(`hacp/clusters/${CLUSTER}/record`)) !== undefined)
      problems.push('the record is left');
  } else if (replicas === 1) {
    if (address?.holder?.kind !== 'instance' || address.holder.instance.name !== running[0])
      problems.push(`the address is not attached to ${running[0]}`);
    if (lb !== undefined) problems.push('a load balancer is left');
  } else {
    if (address?.holder?.kind !== 'load-balancer') problems.push('no load balancer holds the address');
    const targets = (lb?.targets ?? []).map((target) => target.name).sort();
    if (JSON.stringify(targets) !== JSON.stringify(running))
      problems.push(`targets ${targets.join(',')} are not the replicas ${running.join(',')}`);
  }
  if (etcd.openPorts !== 0) problems.push(`${etcd.openPorts} etcd connection(s) left open`);
  return problems;
}

/** The error an operation fails with; fails the test when it succeeds. */
export const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected the operation to fail');
    },
    (error: unknown) => error as HacpError,
  );

/** What the provider and etcd hold, to compare before and after a refusal. */
export async function providerState(target: World) {
  const instances = await target.provider.instances.list({ cluster: CLUSTER });
  const lb = await target.provider.loadBalancers.get({ name: `${CLUSTER}-master`, region: 'local' });
  return {
    instances: instances.map((instance) => `${instance.name}:${instance.zone}:${instance.status}`).sort(),
    members: (await target.etcd.snapshotMembers()).map((member) => `${member.name}:${member.learner}`).sort(),
    targets: (lb?.targets ?? []).map((target) => target.name).sort(),
    address: await target.provider.addresses.get({ name: `${CLUSTER}-master-ip`, region: 'local' }),
    journal: await target.provider.state.get(journalKey(CLUSTER)),
  };
}
