/**
 * The operations the engine's convergence tests run, each from a cluster of `before` replicas, and
 * how an operator finishes what an interrupted run left.
 */
import { isHacpError } from '@hacp/core';
import type { ControlPlane } from '../types.js';
import type { World } from './world.test-support.js';

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
   * What a world at `before` replicas needs before the operation makes sense (a fault to repair),
   * done after `grow` and after each `undo`.
   */
  prepare?(world: World): Promise<unknown>;
}

const ZONES = ['local-a', 'local-b', 'local-c'];

/** The replica of a zone, by the instances now. */
async function replicaIn(world: World, zone: string): Promise<string> {
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
    name: 'down',
    before: 3,
    after: 0,
    run: (cp, _world, signal) => cp.down({ signal }),
    // Every step of down deletes what it finds: after one step is the start of the next.
    moments: ['step-started'],
    undo: (_cp, world) => grow(world, 3),
  },
];

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
  if (instances.length === scenario.before) await scenario.run(target.controlPlane(), target);
}
