/**
 * The operations the engine's convergence tests run, each from a cluster of `before` replicas, and
 * how an operator finishes what an interrupted run left.
 */

import type { Instance } from '@hacp/core';
import { isHacpError } from '@hacp/core';
import type { MemoryProvider } from '@hacp/provider-conformance';
import type { ControlPlane } from '../types.js';
import type { createWorld, World } from './world.test-support.js';

export interface Scenario {
  name: string;
  /** Replicas before the operation. */
  before: number;
  /** Replicas after it. */
  after: number;
  run(controlPlane: ControlPlane, world: World, signal?: AbortSignal): Promise<unknown>;
  /**
   * Where runs are interrupted: at a step's start (it runs with the signal aborted, so its first
   * provider or etcd call fails) and after its end. Default both.
   */
  moments?: readonly ('step-started' | 'step-done')[];
  /** Takes a converged world back to `before` replicas, for the next case. */
  undo(controlPlane: ControlPlane, world: World): Promise<unknown>;
  /**
   * What an operator runs after a rolled-back run, as its error's actions say (default `run` again):
   * a replace that removed the old replica first undoes only its add.
   */
  rerun?(controlPlane: ControlPlane, world: World): Promise<unknown>;
  /** The instances there are when it runs, where `prepare` changes their number (default `before`). */
  instancesBefore?: number;
  /**
   * The number of steps the operation runs, checked exactly, for one with fewer than four (a repair
   * of one fault); others are checked to have more than three.
   */
  steps?: number;
  /**
   * What a world at `before` replicas needs before the operation makes sense (a fault to repair),
   * done after `grow` and after each `undo`.
   */
  prepare?(world: World): Promise<unknown>;
  /** How its world is made (default: the memory provider as it is). */
  world?: Parameters<typeof createWorld>[0];
}

/** The memory provider reporting every instance's data disk intact, as the local and GCE providers do. */
export function withIntactDisks(memory: MemoryProvider): MemoryProvider {
  const intact = (instance: Instance): Instance => ({ ...instance, dataDiskIntact: true });
  const instances = memory.instances;
  return {
    ...memory,
    instances: {
      ...instances,
      get: async (ref, options) => {
        const found = await instances.get(ref, options);
        return found === undefined ? undefined : intact(found);
      },
      list: async (filter, options) => (await instances.list(filter, options)).map(intact),
    },
  } as MemoryProvider;
}

const ZONES = ['local-a', 'local-b', 'local-c'];

/** The replica of a zone, by the instances now. */
export async function replicaIn(world: World, zone: string): Promise<string> {
  const instances = await world.provider.instances.list({ cluster: 'kubernetes' });
  const found = instances.find((instance) => instance.zone === zone);
  if (found === undefined) throw new Error(`no replica in ${zone}`);
  return found.name;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'up',
    before: 0,
    after: 1,
    run: (cp, _world, signal) =>
      cp.up({ zone: 'local-a', multizone: true, kubernetes: false, ...(signal ? { signal } : {}) }),
    undo: (cp) => cp.down(),
  },
  {
    name: 'replicate 1→2',
    before: 1,
    after: 2,
    run: (cp, _world, signal) => cp.replicate({ zone: 'local-b', signal }),
    undo: (cp) => cp.remove({ zone: 'local-b' }),
  },
  {
    name: 'replicate 2→3',
    before: 2,
    after: 3,
    run: (cp, _world, signal) => cp.replicate({ zone: 'local-c', signal }),
    undo: (cp) => cp.remove({ zone: 'local-c' }),
  },
  {
    name: 'remove 3→2',
    before: 3,
    after: 2,
    run: (cp, _world, signal) => cp.remove({ zone: 'local-c', signal }),
    undo: (cp) => cp.replicate({ zone: 'local-c' }),
  },
  {
    name: 'remove 2→1',
    before: 2,
    after: 1,
    run: (cp, _world, signal) => cp.remove({ zone: 'local-b', signal }),
    undo: (cp) => cp.replicate({ zone: 'local-b' }),
  },
  {
    name: 'replace at 3',
    before: 3,
    after: 3,
    run: async (cp, world, signal) => cp.replace({ name: await replicaIn(world, 'local-a'), signal }),
    undo: async () => undefined,
  },
  {
    // A replica whose etcd member lost its data (its disk was wiped): repair replaces it.
    name: 'repair at 3',
    before: 3,
    after: 3,
    run: (cp, _world, signal) => cp.repair({ signal }),
    undo: async () => undefined,
    prepare: (world) => wipeReplicaIn(world, 'local-c'),
  },
  {
    // Drift: an instance stopped outside hacp. Repair starts it again, keeping its disk and member.
    name: 'repair a stopped replica at 3',
    before: 3,
    after: 3,
    steps: 2,
    run: (cp, _world, signal) => cp.repair({ signal }),
    undo: async () => undefined,
    prepare: async (world) => stopReplicaIn(world, 'local-c'),
  },
  {
    // Drift: a healthy replica taken out of the load balancer outside hacp. Repair adds it back.
    name: 'repair a missing target at 3',
    before: 3,
    after: 3,
    steps: 1,
    run: (cp, _world, signal) => cp.repair({ signal }),
    undo: async () => undefined,
    prepare: async (world) => untargetReplicaIn(world, 'local-c'),
  },
  {
    // Drift: the load balancer lost its address (GCE: its forwarding rule deleted). Repair retakes it.
    name: 'repair a detached load balancer at 3',
    before: 3,
    after: 3,
    steps: 1,
    run: (cp, _world, signal) => cp.repair({ signal }),
    undo: async () => undefined,
    prepare: (world) =>
      world.provider.loadBalancers.releaseAddress(LOAD_BALANCER, { requestId: 'drift-release' }),
  },
  {
    // Drift: an instance deleted outside hacp, its member and target left. Repair removes both.
    name: 'repair a vanished replica at 3',
    before: 3,
    instancesBefore: 2,
    after: 2,
    steps: 4,
    run: (cp, _world, signal) => cp.repair({ signal }),
    undo: (cp) => cp.replicate({ zone: 'local-c' }),
    prepare: (world) => vanishReplicaIn(world, 'local-c'),
  },
  {
    // The same, replaced: what is left of it goes, and a new replica comes in its zone.
    name: 'replace a vanished replica at 3',
    before: 3,
    instancesBefore: 2,
    after: 3,
    run: (cp, _world, signal) => cp.replace({ name: vanished, signal }),
    // As the rolled-back error says: replace again while its member is there, else replicate.
    rerun: async (cp, world) =>
      (await world.etcd.snapshotMembers()).some((member) => member.name === vanished)
        ? cp.replace({ name: vanished })
        : cp.replicate({ zone: 'local-c' }),
    undo: async () => undefined,
    prepare: (world) => vanishReplicaIn(world, 'local-c'),
  },
  {
    // Quorum lost: two replicas stopped with their disks wiped. Recover makes the survivor a
    // one-member cluster and brings the other two back; re-running finishes what a kill left.
    name: 'recover at 3',
    before: 3,
    after: 3,
    run: (cp, _world, signal) => cp.recover({ ...(signal ? { signal } : {}) }),
    undo: async () => undefined,
    prepare: async (world) => {
      for (const zone of ['local-b', 'local-c']) {
        await stopReplicaIn(world, zone);
        await wipeReplicaIn(world, zone);
      }
    },
  },
  {
    // A replica stopped with its disk, migrated (its member kept) rather than replaced by a new one.
    name: 'replace --keep-data at 3',
    before: 3,
    after: 3,
    world: { wrap: withIntactDisks },
    run: async (cp, world, signal) =>
      cp.replace({ name: await replicaIn(world, 'local-b'), keepData: true, signal }),
    undo: async () => undefined,
    prepare: (world) => stopReplicaIn(world, 'local-b'),
  },
  {
    name: 'down',
    before: 3,
    after: 0,
    run: (cp, _world, signal) => cp.down({ signal }),
    // Every step of down deletes what it finds: after one step is the start of the next.
    moments: ['step-started'],
    undo: (_cp, world) => grow(world, 3),
  },
];

/** The cluster's load balancer in the memory provider. */
export const LOAD_BALANCER = { name: 'kubernetes-master', region: 'local' };

/** The replica whose instance `vanishReplicaIn` deleted last. */
let vanished = '';

/** Stops the replica's instance as an operator would, outside hacp. */
export async function stopReplicaIn(world: World, zone: string): Promise<string> {
  const name = await replicaIn(world, zone);
  await world.provider.instances.stop({ name, zone }, { requestId: `drift-stop-${name}` });
  return name;
}

/** Takes the replica out of the load balancer's targets, outside hacp. */
export async function untargetReplicaIn(world: World, zone: string): Promise<string> {
  const name = await replicaIn(world, zone);
  const lb = await world.provider.loadBalancers.get(LOAD_BALANCER);
  const targets = (lb?.targets ?? []).filter((target) => target.name !== name);
  await world.provider.loadBalancers.setTargets(LOAD_BALANCER, targets, {
    requestId: `drift-untarget-${name}`,
  });
  return name;
}

/** Deletes the replica's instance outside hacp: its etcd member and its target stay. */
export async function vanishReplicaIn(world: World, zone: string): Promise<string> {
  const name = await replicaIn(world, zone);
  await world.provider.instances.delete({ name, zone }, { requestId: `drift-delete-${name}` });
  vanished = name;
  return name;
}

async function wipeReplicaIn(world: World, zone: string): Promise<void> {
  world.etcd.diskWiped(await replicaIn(world, zone));
}

/** Grows a fresh world to `replicas` replicas, and forgets the events it took. */
export async function grow(target: World, replicas: number): Promise<void> {
  const controlPlane = target.controlPlane();
  if (replicas === 0) return;
  await controlPlane.up({ zone: 'local-a', multizone: true, kubernetes: false });
  for (const zone of ZONES.slice(1, replicas)) await controlPlane.replicate({ zone });
  target.events.length = 0;
}

/**
 * Finishes what an interrupted run left, as an operator would: `resume`; when there is nothing to
 * resume (the run was refused or rolled back), the same command again.
 */
export async function finish(target: World, scenario: Scenario, rolledBack: boolean): Promise<void> {
  try {
    await target.controlPlane().resume();
    if (!rolledBack) return;
  } catch (error) {
    if (!isHacpError(error, 'NOT_FOUND')) throw error;
  }
  const instances = await target.provider.instances.list({ cluster: 'kubernetes' });
  if (instances.length === (scenario.instancesBefore ?? scenario.before))
    await ((rolledBack ? scenario.rerun : undefined) ?? scenario.run)(target.controlPlane(), target);
}
