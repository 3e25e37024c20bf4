/**
 * `hacp scale --replicas N`: the changes that take a cluster from its count to N, one replica at a
 * time, each a normal replicate or remove. Cluster API's KubeadmControlPlane places a new machine in
 * the failure domain with the fewest (`NextFailureDomainForScaleUp`) and takes one away from the
 * domain with the most; hacp does the same over the zones that are up.
 */
import { ErrorCode, firstReplicaName, HacpError, invalidArgument } from '@hacp/core';
import { chooseReplicaToRemove } from './choose.js';
import { assertReplicaZone } from './geography.js';
import { placementWarnings, suggestZone } from './placement.js';
import {
  type NamingOptions,
  placementZones,
  planRemove,
  planReplicate,
  replicaHealth,
  zoneDown,
} from './plans.js';
import type { ClusterView, MemberInfo, Plan, PlanStep, ReplicaInfo } from './types.js';

/** etcd's recommended largest cluster; more needs `force`. */
export const MAX_SCALE_REPLICAS = 7;

/** What `hacp scale` takes. */
export interface ScaleOptions {
  /** The replica count to reach. */
  replicas: number;
  /** The zones new replicas may go to (all allowed zones when absent); replicas outside them go first. */
  zones?: readonly string[];
  /** Allow an even count (it tolerates no more failures than one fewer). */
  allowEven?: boolean;
  /** Allow more than {@link MAX_SCALE_REPLICAS}. */
  force?: boolean;
}

/** One change on the way: a replica added in a zone, or a named replica removed. */
export type ScaleChange = { kind: 'add'; zone: string } | { kind: 'remove'; name: string; zone: string };

/**
 * Refuses a target count that is not a whole number from 1, an even count without `allowEven`, more
 * than seven without `force`, and zones the cluster may not use. Nothing is read or changed.
 *
 * @throws HacpError INVALID_ARGUMENT (`details.field`: `replicas` or `zones`) with the reason;
 *   ZONE_INVALID (malformed, or one the provider does not offer), ZONE_NOT_IN_REGION,
 *   MULTIZONE_REQUIRED for a zone of `zones`.
 */
export function assertScaleTarget(view: ClusterView, options: ScaleOptions): void {
  const { replicas } = options;
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw invalidArgument({
      field: 'replicas',
      value: String(replicas),
      message: `--replicas must be a whole number from 1; ${replicas} is not. Going to 0 is \`hacp down\`.`,
      actions: ['Pass --replicas 1, 3, 5 or 7.'],
    });
  }
  if (replicas > MAX_SCALE_REPLICAS && options.force !== true) {
    throw invalidArgument({
      field: 'replicas',
      value: String(replicas),
      message: `${replicas} replicas is more than ${MAX_SCALE_REPLICAS}, etcd's recommended largest cluster: every write waits for a majority of ${Math.floor(replicas / 2) + 1}, and it tolerates little more.`,
      actions: [`Pass --replicas ${MAX_SCALE_REPLICAS} or fewer, or --force to have ${replicas} anyway.`],
    });
  }
  if (replicas % 2 === 0 && options.allowEven !== true) {
    const reason =
      replicas === 2
        ? 'two replicas are less available than one: both are needed for quorum'
        : `${replicas} replicas tolerate no more failures than ${replicas - 1} (${replicas / 2 - 1}), and every write waits for one more`;
    throw invalidArgument({
      field: 'replicas',
      value: String(replicas),
      message: `${replicas} is an even count: ${reason}.`,
      actions: [
        `Pass --replicas ${replicas - 1} or ${replicas + 1}, or --allow-even to have ${replicas} anyway.`,
      ],
    });
  }
  if (options.zones !== undefined) {
    if (options.zones.length === 0) {
      throw invalidArgument({
        field: 'zones',
        message: '--zones names no zone.',
        actions: ['Pass --zones a,b,c, or leave it out for every allowed zone.'],
      });
    }
    for (const zone of options.zones) {
      assertReplicaZone({ zone, region: view.region, multizone: view.multizone, firstZone: view.firstZone });
      if (view.zones.length > 0 && !view.zones.includes(zone)) {
        throw new HacpError({
          code: ErrorCode.ZONE_INVALID,
          message: `The provider has no zone ${zone}; it offers ${view.zones.join(', ')}.`,
          actions: [`Pick zones among: ${view.zones.join(', ')}.`],
          details: { zone, zones: [...view.zones] },
        });
      }
    }
  }
}

/**
 * The next change towards `options.replicas`, from the cluster as it is now; undefined when it has
 * that many. An addition goes to the zone with the fewest replicas among the zones (of `zones`, else
 * the allowed ones) that are up; a removal comes from the zone with the most, replicas outside
 * `zones` first, never the first replica nor the one holding the address (so "back to 1 keeps the
 * first"); within the zone, the unhealthy first, then not the etcd leader, then the newest.
 *
 * @example
 * nextScaleChange(view, { replicas: 3 }) // { kind: 'add', zone: 'europe-west1-c' }
 * @throws HacpError as {@link assertScaleTarget}.
 */
export function nextScaleChange(view: ClusterView, options: ScaleOptions): ScaleChange | undefined {
  assertScaleTarget(view, options);
  const count = view.replicas.length;
  if (count === options.replicas) return undefined;
  if (count < options.replicas) return { kind: 'add', zone: zoneForAddition(view, options.zones) };
  const victim = replicaForRemoval(view, options.zones);
  return { kind: 'remove', name: victim.name, zone: victim.zone };
}

function zoneForAddition(view: ClusterView, zones: readonly string[] | undefined): string {
  if (zones === undefined) return suggestZone(view.replicas, placementZones(view));
  const wanted = [...new Set(zones)];
  const up = wanted.filter((zone) => !zoneDown(view, zone));
  // Every wanted zone down: the first, so that replicate's refusal names it.
  return suggestZone(view.replicas, up.length > 0 ? up : wanted);
}

function replicaForRemoval(view: ClusterView, zones: readonly string[] | undefined): ReplicaInfo {
  const kept = new Set([firstReplicaName(view.cluster)]);
  if (view.endpoint.mode === 'attached') kept.add(view.endpoint.replica);
  const candidates = view.replicas.filter((replica) => !kept.has(replica.name));
  if (candidates.length === 0) {
    throw new HacpError({
      code: ErrorCode.LAST_REPLICA,
      message: `Cluster ${view.cluster} has only ${view.replicas.map((r) => r.name).join(', ')}, which scale keeps.`,
      actions: ['`hacp down` deletes the cluster.'],
      details: { replicas: view.replicas.map((r) => r.name) },
    });
  }
  const outside = zones === undefined ? [] : candidates.filter((replica) => !zones.includes(replica.zone));
  const pool = outside.length > 0 ? outside : candidates;
  const counts = new Map<string, number>();
  for (const replica of view.replicas) counts.set(replica.zone, (counts.get(replica.zone) ?? 0) + 1);
  // The zone with the most replicas; ties go to the later zone, as additions go to the earlier.
  const zone = [...new Set(pool.map((replica) => replica.zone))].sort(
    (a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0) || (a < b ? 1 : a > b ? -1 : 0),
  )[0]!;
  return chooseReplicaToRemove({
    replicas: pool.filter((replica) => replica.zone === zone),
    leaderName: view.leaderName,
    health: replicaHealth(view),
  });
}

/**
 * Every change from the cluster as it is now to `options.replicas`, each planned on the cluster as
 * the one before leaves it, as `hacp plan scale` prints them: the steps of each replicate or remove
 * in order. Each runs as its own operation; the plan is what they would do if run now.
 *
 * @throws HacpError as {@link assertScaleTarget}, and as the first replicate or remove would.
 */
export function planScale(view: ClusterView, options: ScaleOptions & NamingOptions): Plan {
  assertScaleTarget(view, options);
  const steps: PlanStep[] = [];
  let current = view;
  for (let change = nextScaleChange(current, options); change !== undefined; ) {
    const plan =
      change.kind === 'add'
        ? planReplicate(current, { zone: change.zone, randomHex: options.randomHex })
        : planRemove(current, { name: change.name });
    steps.push(...plan.steps);
    current = viewAfter(current, plan);
    change = nextScaleChange(current, options);
  }
  return {
    operation: 'scale',
    cluster: view.cluster,
    steps,
    onFailure: [],
    // The warnings of the replica set it ends with (two replicas on the way to three is no concern).
    warnings: placementWarnings(current.replicas),
    expected: {
      replicas: [...current.replicas]
        .map((replica) => ({ name: replica.name, zone: replica.zone }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      endpoint: current.endpoint,
    },
  };
}

/** The view a replicate or remove leaves: its expected replicas, new ones healthy voters. */
function viewAfter(view: ClusterView, plan: Plan): ClusterView {
  const names = new Set(plan.expected.replicas.map((replica) => replica.name));
  const replicas: ReplicaInfo[] = plan.expected.replicas.map(
    (replica) =>
      view.replicas.find((r) => r.name === replica.name) ?? {
        name: replica.name,
        zone: replica.zone,
        createdAt: '',
        healthy: true,
      },
  );
  const members: MemberInfo[] = [
    ...view.members.filter((member) => names.has(member.name)),
    ...replicas
      .filter((replica) => !view.members.some((member) => member.name === replica.name))
      .map((replica) => ({
        id: `new-${replica.name}`,
        name: replica.name,
        learner: false,
        started: true,
        healthy: true,
      })),
  ];
  const leaderName =
    view.leaderName !== undefined && names.has(view.leaderName) ? view.leaderName : undefined;
  const { leaderName: _leader, ...rest } = view;
  return {
    ...rest,
    replicas,
    members,
    endpoint: plan.expected.endpoint ?? view.endpoint,
    ...(leaderName === undefined ? {} : { leaderName }),
  };
}
