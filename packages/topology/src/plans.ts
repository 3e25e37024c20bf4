import {
  assertClusterName,
  ErrorCode,
  firstReplicaName,
  HacpError,
  invalidArgument,
  isReplicaName,
  newReplicaName,
  regionOfZone,
} from '@hacp/core';
import { chooseReplicaToRemove } from './choose.js';
import { endpointTeardown, endpointTransition, initialEndpoint } from './endpoint.js';
import { firewallRules } from './firewall.js';
import { assertReplicaZone, zonesInRegion } from './geography.js';
import { placementWarnings, suggestZone } from './placement.js';
import { canAddMember, canRemoveMember, quorumSize } from './quorum.js';
import { quorumLost, quorumLostActions, quorumLostError } from './quorum-lost.js';
import type {
  ClusterView,
  EndpointState,
  EndpointStep,
  MemberInfo,
  Plan,
  PlannedState,
  PlanStep,
  ReplicaInfo,
  StepAction,
  Verdict,
  Warning,
} from './types.js';

/** Options every plan that names new replicas takes. */
export interface NamingOptions {
  /** Three hex digits for a new replica's name; injected so that plans are reproducible. */
  randomHex?: () => string;
}

function fail(verdict: Verdict): void {
  if (!verdict.ok) throw verdict.error;
}

/** Builds steps with ids that are unique within a plan (`kind:subject`, `#2` on a repeat). */
export class StepList {
  readonly steps: PlanStep[] = [];
  readonly #ids = new Set<string>();

  add(action: StepAction, title: string, preconditions: readonly string[] = []): this {
    const subject = subjectOf(action);
    const base = subject === undefined ? stepKind(action) : `${stepKind(action)}:${subject}`;
    let id = base;
    for (let n = 2; this.#ids.has(id); n++) id = `${base}#${n}`;
    this.#ids.add(id);
    this.steps.push({ id, title, action, preconditions });
    return this;
  }

  endpoint(step: EndpointStep): this {
    return this.add({ kind: 'endpoint', step }, endpointTitle(step), endpointPreconditions(step));
  }
}

function stepKind(action: StepAction): string {
  if (action.kind === 'endpoint') return action.step.action;
  // `rotate-etcd-ca`, `rotate-cluster-ca`, `rotate-front-proxy-ca`: which CA shows in the id.
  if (action.kind === 'rotate-ca') return `rotate-${action.ca}-ca`;
  return action.kind;
}

function subjectOf(action: StepAction): string | undefined {
  if (action.kind === 'endpoint') {
    const step = action.step;
    if ('replica' in step) return step.replica;
    if ('from' in step) return step.from;
    return undefined;
  }
  if ('replica' in action) return action.replica;
  if (action.kind === 'validate-zone') return action.zone;
  if (action.kind === 'move-leader') return action.from;
  return undefined;
}

function endpointTitle(step: EndpointStep): string {
  switch (step.action) {
    case 'attach-address':
      return `Attach the endpoint address to ${step.replica}`;
    case 'create-load-balancer':
      return `Create the load balancer with ${step.targets.join(', ')} as its target and a health check`;
    case 'move-address-to-load-balancer':
      return `Move the endpoint address from ${step.from} to the load balancer`;
    case 'add-target':
      return `Add ${step.replica} to the load balancer once it is ready`;
    case 'remove-target':
      return `Take ${step.replica} out of the load balancer and let its connections drain`;
    case 'drop-target':
      return `Take ${step.replica}, whose instance is gone, out of the load balancer`;
    case 'move-address-to-replica':
      return `Move the endpoint address from the load balancer back to ${step.replica}`;
    case 'delete-load-balancer':
      return 'Delete the load balancer';
    case 'release-address':
      return 'Release the endpoint address';
    case 'restore-endpoint':
      return 'Make the endpoint serve again (its holder was found not serving)';
  }
}

function endpointPreconditions(step: EndpointStep): string[] {
  switch (step.action) {
    case 'move-address-to-load-balancer':
      return ['the load balancer exists and its health check passes for the current target'];
    case 'add-target':
      return [`${step.replica} reports ready`];
    case 'move-address-to-replica':
      return [`${step.replica} is the load balancer's only target`];
    case 'delete-load-balancer':
      return ['the load balancer no longer holds the address, or the cluster is being deleted'];
    default:
      return [];
  }
}

export function sortedReplicas(
  replicas: readonly { name: string; zone: string }[],
): PlannedState['replicas'] {
  return [...replicas].map(({ name, zone }) => ({ name, zone })).sort((a, b) => a.name.localeCompare(b.name));
}

export function healthyVoters(members: readonly MemberInfo[]): MemberInfo[] {
  return members
    .filter((member) => !member.learner && member.started && member.healthy)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A healthy voter that can take the change (the plan exists only when there is one): the leader when
 * it is healthy and allowed, else the first by name.
 */
function throughMember(view: ClusterView, options: { exclude?: string } = {}): string | undefined {
  const candidates = healthyVoters(view.members).filter((member) => member.name !== options.exclude);
  const leader = candidates.find((member) => member.name === view.leaderName);
  return (leader ?? candidates[0])?.name;
}

function noHealthyMember(view: ClusterView): HacpError {
  return new HacpError({
    code: ErrorCode.QUORUM_AT_RISK,
    message: `Cluster ${view.cluster} has no healthy etcd voter to act through.`,
    actions: quorumLostActions(view),
    details: { cluster: view.cluster },
  });
}

/** The health hacp acts on: a replica is healthy when it says so and its member (if any) does. */
export function replicaHealth(view: ClusterView): Record<string, boolean> {
  const health: Record<string, boolean> = {};
  for (const replica of view.replicas) {
    const member = view.members.find((m) => m.name === replica.name);
    health[replica.name] = replica.healthy && (member === undefined || (member.started && member.healthy));
  }
  return health;
}

function endpointReplicas(state: EndpointState): readonly string[] {
  return state.mode === 'attached' ? [state.replica] : state.targets;
}

/** Load-balancer targets whose instance is gone (someone deleted it outside hacp). */
export function staleTargets(view: ClusterView): string[] {
  if (view.endpoint.mode !== 'load-balanced') return [];
  return view.endpoint.targets.filter((target) => !view.replicas.some((replica) => replica.name === target));
}

/**
 * Refuses a change of the replica set while the load balancer targets an instance that is gone:
 * every target change would fail on it half-way (the provider cannot target a missing instance).
 */
function assertNoStaleTargets(view: ClusterView): void {
  const stale = staleTargets(view);
  if (stale.length === 0) return;
  throw new HacpError({
    code: ErrorCode.CONFLICT,
    message: `The load balancer still targets ${stale.join(', ')}, whose instance is gone (deleted outside hacp); changing the replicas now would fail half-way.`,
    actions: [
      'Run `hacp repair` first: it takes the target out (and removes the etcd member of that instance).',
    ],
    details: { targets: stale },
    retryable: false,
  });
}

/** The view without these load-balancer targets. */
function withoutTargets(view: ClusterView, names: readonly string[]): ClusterView {
  if (view.endpoint.mode !== 'load-balanced' || names.length === 0) return view;
  return {
    ...view,
    endpoint: { mode: 'load-balanced', targets: view.endpoint.targets.filter((t) => !names.includes(t)) },
  };
}

/** Whether the provider reports the zone down. */
export function zoneDown(view: ClusterView, zone: string): boolean {
  return view.downZones?.includes(zone) ?? false;
}

/**
 * The zones a new replica may go to when none is given: the cluster's allowed zones (its region's
 * with multizone, else the first replica's) that the provider does not report down. Where every
 * allowed zone is down, the allowed ones, so that the refusal names the zone.
 */
export function placementZones(view: ClusterView): string[] {
  const allowed = view.multizone ? zonesInRegion(view.zones, view.region) : [view.firstZone];
  const candidates = allowed.length > 0 ? allowed : [view.firstZone];
  const up = candidates.filter((zone) => !zoneDown(view, zone));
  return up.length > 0 ? up : candidates;
}

/** What `planUp` takes. */
export interface PlanUpOptions {
  cluster: string;
  /** The first replica's zone. */
  zone: string;
  multizone?: boolean;
  quorumReads?: boolean;
  /** The provider's zones; when given, the zone must be one of them. */
  zones?: readonly string[];
}

/**
 * The plan that creates a cluster with one replica: validate the zone, reserve the address, open
 * etcd's ports between replicas only, make the PKI, write the record, create the first replica
 * (etcd `new`), wait until it is healthy, attach the address to it.
 *
 * @example
 * const plan = planUp({ cluster: 'kubernetes', zone: 'europe-west1-b', multizone: true });
 * plan.steps.map((s) => s.id); // ['validate-zone:europe-west1-b', 'reserve-address', ...]
 * @throws HacpError INVALID_ARGUMENT for a bad cluster name; ZONE_INVALID for a malformed zone or
 *   one the provider does not offer.
 */
export function planUp(options: PlanUpOptions): Plan {
  assertClusterName(options.cluster);
  const region = regionOfZone(options.zone);
  if (options.zones !== undefined && !options.zones.includes(options.zone)) {
    throw new HacpError({
      code: ErrorCode.ZONE_INVALID,
      message: `The provider has no zone ${options.zone}; it offers ${options.zones.join(', ') || 'none'}.`,
      actions: [`Pick one of: ${options.zones.join(', ')}.`],
      details: { zone: options.zone, zones: [...options.zones] },
    });
  }
  const multizone = options.multizone ?? false;
  const first = firstReplicaName(options.cluster);
  const endpoint = initialEndpoint(first);
  const list = new StepList()
    .add({ kind: 'validate-zone', zone: options.zone }, `Check zone ${options.zone} (region ${region})`)
    .add({ kind: 'reserve-address' }, `Reserve the endpoint address in ${region}`)
    .add(
      { kind: 'ensure-firewall', rules: firewallRules(options.cluster) },
      "Allow etcd's ports between replicas only, and the API ports from anywhere",
    )
    .add({ kind: 'create-pki' }, 'Create the cluster PKI')
    .add(
      { kind: 'write-record', multizone, quorumReads: options.quorumReads ?? false, firstZone: options.zone },
      'Write the cluster record',
    )
    .add({ kind: 'issue-certs', replica: first }, `Issue the certificates of ${first}`)
    .add(
      { kind: 'create-instance', replica: first, zone: options.zone, etcdState: 'new' },
      `Create ${first} in ${options.zone}; its etcd starts a new cluster`,
    )
    .add({ kind: 'wait-healthy', replica: first }, `Wait until ${first} is healthy`);
  for (const step of endpoint.steps) list.endpoint(step);
  return {
    operation: 'up',
    cluster: options.cluster,
    steps: list.steps,
    onFailure: [],
    warnings: [],
    expected: { replicas: [{ name: first, zone: options.zone }], endpoint: endpoint.next },
  };
}

/** What `planReplicate` takes. */
export interface PlanReplicateOptions extends NamingOptions {
  /** The new replica's zone; default the allowed zone with the fewest replicas. */
  zone?: string;
  /** The new replica's name; default a fresh `<cluster>-master-<3 hex>`. */
  name?: string;
}

/**
 * The plan that adds one replica, in DESIGN.md's safe order: preflight (every member started and
 * healthy, no learner), the zone rules, a snapshot, the replica's certificates, its member added as
 * a learner (a healthy voter takes it), the instance (etcd `existing`), promotion once caught up;
 * going 1→2 the load balancer is built with the first replica and the address moved to it; the new
 * replica becomes a target once ready. `onFailure` removes the learner and deletes the instance.
 *
 * @throws HacpError LEARNER_PRESENT, QUORUM_AT_RISK (preflight); ZONE_INVALID, ZONE_NOT_IN_REGION,
 *   MULTIZONE_REQUIRED (zone); INVALID_ARGUMENT or ALREADY_EXISTS for a bad or taken name; CONFLICT
 *   while the load balancer targets an instance that is gone (`hacp repair` first).
 */
export function planReplicate(view: ClusterView, options: PlanReplicateOptions = {}): Plan {
  if (view.replicas.length > 0 && quorumLost(view)) throw quorumLostError(view, 'add a replica');
  fail(canAddMember(view.members));
  assertNoStaleTargets(view);
  const zone = options.zone ?? suggestZone(view.replicas, placementZones(view));
  assertReplicaZone({ zone, region: view.region, multizone: view.multizone, firstZone: view.firstZone });
  if (zoneDown(view, zone)) {
    throw new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `Zone ${zone} is down (the provider says so): a replica cannot be created there now.`,
      actions: [
        'Pick another zone with --zone.',
        `Or wait until ${zone} is back up, then run the command again.`,
      ],
      details: { zone },
      retryable: true,
    });
  }
  const existing = view.replicas.map((replica) => replica.name);
  const name =
    options.name ?? newReplicaName({ cluster: view.cluster, existing, randomHex: options.randomHex });
  if (!isReplicaName(view.cluster, name)) {
    throw invalidArgument({
      field: 'name',
      value: name,
      message: `"${name}" is not a replica name of cluster ${view.cluster}: use ${view.cluster}-master-<3 hex digits>.`,
    });
  }
  if (existing.includes(name) || view.members.some((member) => member.name === name)) {
    throw new HacpError({
      code: ErrorCode.ALREADY_EXISTS,
      message: `Replica ${name} exists already.`,
      actions: ['Leave the name out to get a fresh one.'],
      details: { name },
    });
  }
  const through = throughMember(view);
  if (through === undefined) throw noHealthyMember(view);
  const transition = endpointTransition(view.endpoint, { kind: 'add-replica', replica: name });

  const list = new StepList()
    .add(
      {
        kind: 'preflight',
        checks: ['every etcd member started and healthy', 'no learner', 'no operation in flight'],
        change: 'add',
        replica: name,
      },
      'Check that the cluster can take a new member',
    )
    .add({ kind: 'validate-zone', zone }, `Check zone ${zone}`)
    .add({ kind: 'snapshot' }, 'Take an etcd snapshot')
    .add({ kind: 'issue-certs', replica: name }, `Issue the certificates of ${name}`)
    .add({ kind: 'add-learner', replica: name }, `Add ${name} to etcd as a learner`, [
      'no learner exists',
      'every voter is healthy',
    ])
    .add(
      { kind: 'create-instance', replica: name, zone, etcdState: 'existing' },
      `Create ${name} in ${zone}; its etcd joins the existing cluster`,
    )
    .add({ kind: 'promote-learner', replica: name }, `Promote ${name} to a voter once it has caught up`, [
      `${name} has started and caught up with the leader`,
    ])
    .add({ kind: 'wait-healthy', replica: name }, `Wait until ${name} is healthy`);
  for (const step of transition.steps) list.endpoint(step);

  const rollback = new StepList()
    .add({ kind: 'remove-member', replica: name }, `Remove ${name}'s member if it was added`)
    .add(
      { kind: 'delete-instance', replica: name, zone, keepDisk: false },
      `Delete ${name} if it was created`,
    );
  const after = [...view.replicas, { name, zone, createdAt: '', healthy: true }];
  return {
    operation: 'replicate',
    cluster: view.cluster,
    steps: list.steps,
    onFailure: rollback.steps,
    warnings: placementWarnings(after),
    expected: { replicas: sortedReplicas(after), endpoint: transition.next },
  };
}

/** What `planRemove` takes (kube-down's KUBE_GCE_ZONE and KUBE_REPLICA_NAME). */
export interface PlanRemoveOptions {
  zone?: string;
  name?: string;
}

interface RemovalParts {
  victim: ReplicaInfo;
  early: PlanStep[];
  late: PlanStep[];
  remaining: ReplicaInfo[];
  endpoint: EndpointState;
  warnings: Warning[];
}

function removalParts(view: ClusterView, victim: ReplicaInfo, list: StepList): RemovalParts {
  const member = view.members.find((m) => m.name === victim.name);
  if (member !== undefined) fail(canRemoveMember(view.members, member.id));
  const through = throughMember(view, { exclude: victim.name });
  if (through === undefined) throw noHealthyMember(view);

  list
    .add(
      {
        kind: 'preflight',
        checks: ['the remaining healthy voters keep quorum', 'no operation in flight'],
        change: 'remove',
        replica: victim.name,
      },
      `Check that removing ${victim.name} keeps quorum`,
    )
    .add({ kind: 'snapshot' }, 'Take an etcd snapshot');
  if (member !== undefined && !member.learner && view.leaderName === victim.name) {
    const successor = healthyVoters(view.members)
      .filter((m) => m.name !== victim.name)
      .map((m) => view.replicas.find((r) => r.name === m.name))
      .filter((r): r is ReplicaInfo => r !== undefined)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.name.localeCompare(b.name))[0];
    const to = successor?.name ?? through;
    list.add(
      { kind: 'move-leader', from: victim.name, to },
      `Move etcd leadership from ${victim.name} to ${to}`,
    );
  }
  const known = endpointReplicas(view.endpoint).includes(victim.name);
  let endpoint = view.endpoint;
  let lateEndpoint: EndpointStep[] = [];
  if (known) {
    const transition = endpointTransition(view.endpoint, { kind: 'remove-replica', replica: victim.name });
    const [first, ...rest] = transition.steps;
    if (first !== undefined) list.endpoint(first);
    lateEndpoint = rest;
    endpoint = transition.next;
  }
  if (view.kubernetes === true) {
    list.add(
      { kind: 'stop-kubernetes', replica: victim.name },
      `Stop ${victim.name}'s Kubernetes components gracefully; its etcd member keeps running`,
      known ? [`${victim.name} gets no traffic from the endpoint`] : [],
    );
  }
  if (member !== undefined) {
    list.add(
      { kind: 'remove-member', replica: victim.name, memberId: member.id },
      `Remove ${victim.name}'s etcd member`,
      ['another voter is healthy', `${victim.name} does not lead etcd`],
    );
  }
  list
    .add(
      { kind: 'delete-instance', replica: victim.name, zone: victim.zone, keepDisk: false },
      `Delete ${victim.name} and its disk`,
    )
    .add(
      { kind: 'delete-identity-lease', replica: victim.name },
      `Delete ${victim.name}'s identity lease and add-on marker`,
    );
  const beforeLate = list.steps.length;
  for (const step of lateEndpoint) list.endpoint(step);
  const remaining = view.replicas.filter((replica) => replica.name !== victim.name);
  return {
    victim,
    early: list.steps.slice(0, beforeLate),
    late: list.steps.slice(beforeLate),
    remaining,
    endpoint,
    warnings: placementWarnings(remaining),
  };
}

function assertNotLast(view: ClusterView, victim: ReplicaInfo): void {
  if (view.replicas.length <= 1) {
    throw new HacpError({
      code: ErrorCode.LAST_REPLICA,
      message: `${victim.name} is the last replica of cluster ${view.cluster}; removing it would delete the cluster.`,
      actions: ['Run `hacp down` to delete the cluster.', 'Run `hacp replicate` first to keep it.'],
      details: { replica: victim.name },
    });
  }
}

/**
 * The plan that removes one replica: the named one, else in that zone the unhealthy, then a
 * non-leader, then the newest. It refuses the last replica (that is `down`) and any removal that
 * would lose quorum; moves etcd leadership away first when the replica leads; takes it out of the
 * load balancer; removes its member (a remaining healthy voter commits it); deletes the instance, its disk and
 * its identity lease; going 2→1 gives the address back to the last replica and deletes the load
 * balancer. Ending at two replicas is allowed and warned about.
 *
 * @throws HacpError REPLICA_NOT_FOUND, LAST_REPLICA, QUORUM_AT_RISK; CONFLICT while the load
 *   balancer targets an instance that is gone (`hacp repair` first).
 */
export function planRemove(view: ClusterView, options: PlanRemoveOptions = {}): Plan {
  assertNoStaleTargets(view);
  const victim = chooseReplicaToRemove({
    replicas: view.replicas,
    zone: options.zone,
    name: options.name,
    leaderName: view.leaderName,
    health: replicaHealth(view),
  });
  assertNotLast(view, victim);
  const list = new StepList();
  const parts = removalParts(view, victim, list);
  return {
    operation: 'remove',
    cluster: view.cluster,
    steps: list.steps,
    onFailure: [],
    warnings: parts.warnings,
    expected: { replicas: sortedReplicas(parts.remaining), endpoint: parts.endpoint },
  };
}

/** The view after a removal, as the replicate half of a replace sees it. */
function viewAfterRemoval(view: ClusterView, parts: RemovalParts): ClusterView {
  const leaderName = view.leaderName === parts.victim.name ? undefined : view.leaderName;
  return {
    ...view,
    replicas: parts.remaining,
    members: view.members.filter((member) => member.name !== parts.victim.name),
    endpoint: parts.endpoint,
    ...(leaderName === undefined ? {} : { leaderName }),
  };
}

/** What `planReplace` takes. */
export interface PlanReplaceOptions extends NamingOptions {
  /** The broken replica. */
  name: string;
  /**
   * Keep its etcd member and data (etcd's member migration; `hacp replace --keep-data`): `true`
   * migrates the member onto a new instance of the same name on its surviving disk, refused where
   * the view does not report that disk intact; `false` never migrates (a new member, the data
   * streamed to it). Absent: migrate where the replica's disk is reported intact, its member is a
   * voter, the replica cannot be replaced by surge (its member is down) and migrating is safe;
   * otherwise as `false`.
   */
  keepData?: boolean;
  /**
   * @deprecated Use `keepData: true`. The caller vouches that the disk survived, whatever the view
   * reports; migrates as `keepData: true` does.
   */
  dataDiskIntact?: boolean;
  /** The new replica's name (without migration); default a fresh one. */
  newName?: string;
  /**
   * `false`: the old replica goes before the new one comes, even when surge is possible (a rollout's
   * `maxSurge: 0`, at three replicas or more). Default: surge where it is possible.
   */
  surge?: boolean;
}

/**
 * The plan that replaces a replica in its zone. While every member is a healthy voter and the
 * count allows one more, the new replica comes first and the old one stays until the new one is a
 * voter (Cluster API's scale-up before scale-down): the cluster never runs on fewer voters than it
 * had, and a failure in the add half is rolled back with the old replica untouched. Otherwise (the
 * replica is broken, or seven already) it removes the old one first (even when its instance is
 * unreachable), then adds one in the same zone. Where the replica's data disk survived (`keepData`,
 * or on its own where the view reports the disk intact and the replica is broken), the member is
 * migrated instead: the instance is recreated under the same name on the surviving disk and the
 * member keeps its id and data (etcd's member migration), so nothing is streamed.
 *
 * A replica whose instance is gone (deleted outside hacp) while its member is still listed, or the
 * load balancer still targets it, is replaced too: its target is dropped and its member removed
 * (through a remaining member, while quorum allows), then a new replica is added in its zone (the
 * zone the load balancer named it in; else the allowed zone with the fewest replicas).
 *
 * @throws HacpError REPLICA_NOT_FOUND, LAST_REPLICA (a single replica cannot be replaced without
 *   downtime: restore it instead), QUORUM_AT_RISK, LEARNER_PRESENT; CONFLICT while the load balancer
 *   targets another instance that is gone (`hacp repair` first). With `keepData: true`:
 *   INVALID_ARGUMENT when the disk is not reported intact, REPLICA_NOT_FOUND without a voter,
 *   CONFLICT when the endpoint address is attached to it, QUORUM_AT_RISK when the others would not
 *   keep quorum while its member is down.
 */
export function planReplace(view: ClusterView, options: PlanReplaceOptions): Plan {
  if (view.replicas.length > 0 && quorumLost(view)) throw quorumLostError(view, `replace ${options.name}`);
  if (isVanished(view, options.name)) return planVanishedReplace(view, options);
  assertNoStaleTargets(view);
  const victim = chooseReplicaToRemove({
    replicas: view.replicas,
    name: options.name,
    leaderName: view.leaderName,
  });
  assertNotLast(view, victim);
  if (options.dataDiskIntact === true)
    return planMigration(view, { ...victim, dataDiskIntact: true }, 'asked');
  if (options.keepData === true) return planMigration(view, victim, 'asked');
  const surge =
    options.surge !== false && view.replicas.length < MAX_REPLICAS && canAddMember(view.members).ok;
  // A healthy replica is replaced by surge, which never takes a voter down; a broken one whose disk
  // survived keeps its member rather than having the data streamed to a new one.
  if (options.keepData === undefined && !surge && canMigrate(view, victim).ok) {
    return planMigration(view, victim, 'disk-intact');
  }
  if (surge) return planSurge(view, victim, options);

  const list = new StepList();
  const parts = removalParts(view, victim, list);
  const after = viewAfterRemoval(view, parts);
  return removeThenAdd(view, list, after, victim.zone, options);
}

/** A replace's plan: the removal steps in `list`, then a replica added in `zone` to the view after them. */
function removeThenAdd(
  view: ClusterView,
  list: StepList,
  after: ClusterView,
  zone: string,
  options: PlanReplaceOptions,
): Plan {
  const add = planReplicate(after, { zone, name: options.newName, randomHex: options.randomHex });
  for (const step of add.steps) list.add(step.action, step.title, step.preconditions);
  return {
    operation: 'replace',
    cluster: view.cluster,
    steps: list.steps,
    onFailure: add.onFailure,
    warnings: add.warnings,
    expected: add.expected,
  };
}

/** A name that has an etcd member or a load-balancer target but no instance any more. */
function isVanished(view: ClusterView, name: string): boolean {
  if (view.replicas.some((replica) => replica.name === name)) return false;
  return view.members.some((member) => member.name === name) || staleTargets(view).includes(name);
}

/**
 * The steps that take away what is left of a replica whose instance is gone: its target (nothing to
 * drain) and its member, removed through a remaining healthy voter while quorum allows.
 * @throws HacpError QUORUM_AT_RISK when its member cannot go safely now.
 */
function vanishedParts(view: ClusterView, name: string, list: StepList): ClusterView {
  const member = view.members.find((m) => m.name === name);
  if (member !== undefined) {
    fail(canRemoveMember(view.members, member.id));
    if (throughMember(view, { exclude: name }) === undefined) throw noHealthyMember(view);
  }
  // The target first: dropping a target whose instance is gone is safe whatever etcd says.
  if (staleTargets(view).includes(name)) list.endpoint({ action: 'drop-target', replica: name });
  if (member !== undefined) {
    list
      .add(
        {
          kind: 'preflight',
          checks: ['the remaining healthy voters keep quorum', 'no operation in flight'],
          change: 'remove',
          replica: name,
        },
        `Check that removing ${name}'s member keeps quorum`,
      )
      .add({ kind: 'snapshot' }, 'Take an etcd snapshot')
      .add(
        { kind: 'remove-member', replica: name, memberId: member.id },
        `Remove ${name}'s etcd member, whose instance is gone`,
        ['another voter is healthy'],
      );
    deleteWhatIsLeft(view, name, list);
  }
  if (view.kubernetes === true) {
    list.add(
      { kind: 'delete-identity-lease', replica: name },
      `Delete ${name}'s identity lease and add-on marker`,
    );
  }
  const leaderName = view.leaderName === name ? undefined : view.leaderName;
  const { leaderName: _leader, ...rest } = withoutTargets(view, [name]);
  return {
    ...rest,
    members: view.members.filter((m) => m.name !== name),
    ...(leaderName === undefined ? {} : { leaderName }),
  };
}

/**
 * Once the member of a replica whose instance is gone went: what its instance left (the data disk
 * and network place a delete outside hacp keeps), where the load balancer named its zone.
 */
function deleteWhatIsLeft(view: ClusterView, name: string, list: StepList): void {
  const zone = view.targetZones?.[name];
  if (zone === undefined) return;
  list.add(
    { kind: 'delete-instance', replica: name, zone, keepDisk: false },
    `Delete what is left of ${name}'s instance (its data disk and network place)`,
  );
}

/** Replace a replica whose instance is gone: what is left of it goes, then a new one in its zone. */
function planVanishedReplace(view: ClusterView, options: PlanReplaceOptions): Plan {
  const list = new StepList();
  const after = vanishedParts(view, options.name, list);
  const zone = view.targetZones?.[options.name] ?? suggestZone(after.replicas, placementZones(view));
  return removeThenAdd(view, list, after, zone, options);
}

/** The most replicas a cluster has: etcd's recommended largest cluster. */
const MAX_REPLICAS = 7;

/** Replace by surge: add the new replica in the victim's zone, then remove the victim. */
function planSurge(view: ClusterView, victim: ReplicaInfo, options: PlanReplaceOptions): Plan {
  const add = planReplicate(view, { zone: victim.zone, name: options.newName, randomHex: options.randomHex });
  const added = add.expected.replicas.find((replica) => !view.replicas.some((r) => r.name === replica.name));
  const name = added?.name ?? '';
  const after: ClusterView = {
    ...view,
    replicas: [...view.replicas, { name, zone: victim.zone, createdAt: '', healthy: true }],
    members: [...view.members, { id: '', name, learner: false, started: true, healthy: true }],
    endpoint: add.expected.endpoint ?? view.endpoint,
  };
  const list = new StepList();
  for (const step of add.steps) list.add(step.action, step.title, step.preconditions);
  const parts = removalParts(after, victim, list);
  return {
    operation: 'replace',
    cluster: view.cluster,
    steps: list.steps,
    onFailure: add.onFailure,
    warnings: parts.warnings,
    expected: { replicas: sortedReplicas(parts.remaining), endpoint: parts.endpoint },
  };
}

/** Whether the replica's member can be migrated now (member migration's safety rules). */
function canMigrate(view: ClusterView, victim: ReplicaInfo): Verdict {
  const refused = (error: HacpError): Verdict => ({ ok: false, error });
  const withoutMigration =
    'Replace it with --no-keep-data: a new member in its zone, the data streamed to it.';
  if (victim.dataDiskIntact !== true) {
    return refused(
      new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `The provider does not report ${victim.name}'s data disk as intact and kept for a new instance of that name, so its etcd member cannot be migrated (--keep-data).`,
        actions: [withoutMigration],
        details: { field: 'keep-data', replica: victim.name },
      }),
    );
  }
  const member = view.members.find((m) => m.name === victim.name);
  if (member === undefined || member.learner) {
    return refused(
      new HacpError({
        code: ErrorCode.REPLICA_NOT_FOUND,
        message: `${victim.name} has no etcd voter to migrate.`,
        actions: [withoutMigration],
        details: { replica: victim.name },
      }),
    );
  }
  // Its instance goes and comes back: the endpoint must not be on it (an interrupted 1→2 leaves the
  // address attached to the first replica while a second one exists).
  if (view.endpoint.mode === 'attached' && view.endpoint.replica === victim.name) {
    return refused(
      new HacpError({
        code: ErrorCode.CONFLICT,
        message: `The endpoint address is attached to ${victim.name}: migrating it would take the endpoint away while its instance is recreated.`,
        actions: [
          'Finish the interrupted operation first (`hacp resume`), so that a load balancer holds the address.',
        ],
        details: { replica: victim.name },
      }),
    );
  }
  // While the member moves it is down: the others must hold a quorum without it.
  const others = healthyVoters(view.members).filter((m) => m.name !== victim.name).length;
  const voters = view.members.filter((m) => !m.learner).length;
  if (others < quorumSize(voters)) {
    return refused(
      new HacpError({
        code: ErrorCode.QUORUM_AT_RISK,
        message: `Migrating ${victim.name} takes its member down for a while, leaving ${others} healthy voter(s) of ${voters}; etcd needs ${quorumSize(voters)}.`,
        actions: ['Repair the other replicas first.'],
        details: { replica: victim.name, healthy: others, voters },
      }),
    );
  }
  if (throughMember(view, { exclude: victim.name }) === undefined) return refused(noHealthyMember(view));
  return { ok: true };
}

/**
 * Member migration: the instance is deleted keeping its disk and made again under the same name on
 * it, its certificates follow its new network place, and its member's peer URL is updated where it
 * changed (`member update`), so the member keeps its id and data and the leader streams nothing.
 */
function planMigration(view: ClusterView, victim: ReplicaInfo, why: 'asked' | 'disk-intact'): Plan {
  fail(canMigrate(view, victim));
  const through = throughMember(view, { exclude: victim.name }) as string;
  const reason =
    why === 'asked'
      ? 'as asked (--keep-data)'
      : 'its data disk survived, as the provider reports (--no-keep-data streams the data to a new member instead)';
  const list = new StepList()
    .add(
      { kind: 'preflight', checks: ['the other healthy voters keep quorum', 'no operation in flight'] },
      `Check that ${victim.name}'s etcd member can be migrated, keeping its id and data: ${reason}`,
    )
    .add({ kind: 'snapshot' }, 'Take an etcd snapshot');
  if (view.leaderName === victim.name) {
    list.add({ kind: 'move-leader', from: victim.name, to: through }, `Move etcd leadership to ${through}`);
  }
  const lb = view.endpoint.mode === 'load-balanced' && view.endpoint.targets.includes(victim.name);
  if (lb) list.endpoint({ action: 'remove-target', replica: victim.name, drain: true });
  list
    .add(
      { kind: 'delete-instance', replica: victim.name, zone: victim.zone, keepDisk: true },
      `Delete ${victim.name}'s instance, keeping its etcd disk`,
    )
    .add(
      { kind: 'issue-certs', replica: victim.name },
      `Issue ${victim.name}'s certificates for its network place`,
    )
    // etcd's order: the member is stopped, `member update` points it at its new peer URL, then it starts there.
    .add(
      { kind: 'migrate-member', replica: victim.name },
      `Point ${victim.name}'s stopped member at its new peer URL, keeping its id`,
    )
    .add(
      { kind: 'create-instance', replica: victim.name, zone: victim.zone, etcdState: 'existing' },
      `Recreate ${victim.name} in ${victim.zone} on its surviving disk, its member starting on its data`,
    )
    .add({ kind: 'wait-healthy', replica: victim.name }, `Wait until ${victim.name} is healthy`);
  if (lb) list.endpoint({ action: 'add-target', replica: victim.name, whenReady: true });
  return {
    operation: 'replace',
    cluster: view.cluster,
    steps: list.steps,
    onFailure: [],
    warnings: placementWarnings(view.replicas),
    expected: { replicas: sortedReplicas(view.replicas), endpoint: view.endpoint },
  };
}

/**
 * The plan that repairs what it finds, one fix at a time, each the least change that fixes it and
 * only while quorum allows:
 * - a load-balancer target whose instance is gone is taken out (nothing to drain);
 * - an endpoint whose holder does not serve (a dead HAProxy; a load balancer whose GCE forwarding
 *   rule is gone) serves again where it is;
 * - an instance stopped by hand, or whose processes died, is started again with its disk, keeping
 *   its member: the least change, tried before any replacement;
 * - nothing in a zone the provider reports down is deleted, replaced or started: its replicas come
 *   back with the zone (one ZONE_DOWN warning per zone, naming `hacp zone restore <zone>`); nor is
 *   a replica whose instance the provider cannot see (`unreachable`) deleted;
 * - a stuck learner is removed; a member without a replica (its instance gone) is removed; a
 *   replica without a member is deleted; an unhealthy replica is replaced in its zone;
 * - a healthy replica missing from the load balancer's targets is added back.
 * One etcd snapshot is taken before the first member it removes.
 * Fixes that would not be safe are left out with a warning; running repair again after the next
 * recovery continues.
 */
export function planRepair(view: ClusterView, options: NamingOptions = {}): Plan {
  const list = new StepList();
  const warnings: Warning[] = [];
  let current: ClusterView = view;
  const note = (message: string) => warnings.push({ code: 'REPAIR_DEFERRED', message });
  // A zone that is down is never touched: its replicas are reported once per zone, and left as they are.
  const leftInDownZones = new Map<string, string[]>();
  const leaveInDownZone = (replica: ReplicaInfo) => {
    const names = leftInDownZones.get(replica.zone) ?? [];
    if (!names.includes(replica.name)) leftInDownZones.set(replica.zone, [...names, replica.name]);
  };
  // One snapshot per repair, before the first member it removes (a stuck learner, an orphan, or
  // the member of a replica it replaces), as before every other membership change.
  const snapshotted = () => list.steps.some((step) => step.action.kind === 'snapshot');
  const snapshotOnce = () => {
    if (!snapshotted()) list.add({ kind: 'snapshot' }, 'Take an etcd snapshot');
  };

  // Targets whose instance is gone first: every later target change would fail on them.
  const stale = staleTargets(current);
  const kept = endpointReplicas(current.endpoint).filter((target) => !stale.includes(target));
  if (stale.length > 0 && kept.length === 0) {
    note(
      `Every load-balancer target (${stale.join(', ')}) has lost its instance: run \`hacp recover\` to bring the cluster back from a backup.`,
    );
  } else {
    for (const target of stale) list.endpoint({ action: 'drop-target', replica: target });
    current = withoutTargets(current, stale);
  }
  // The endpoint next: nothing reaches the cluster while its holder does not serve.
  if (view.endpointServing === false) list.endpoint({ action: 'restore-endpoint' });

  // Instances stopped by hand come back with their disk and member: the least change.
  const started = new Set<string>();
  for (const replica of current.replicas.filter((r) => r.stopped === true)) {
    if (zoneDown(current, replica.zone)) {
      leaveInDownZone(replica);
      continue;
    }
    // A voter's instance only: a learner's goes with its learner, one without a member is deleted.
    if (!current.members.some((m) => m.name === replica.name && !m.learner)) continue;
    list
      .add(
        { kind: 'start-instance', replica: replica.name, zone: replica.zone },
        `Start ${replica.name} again, with its disk and etcd member`,
      )
      .add({ kind: 'wait-healthy', replica: replica.name }, `Wait until ${replica.name} is healthy`);
    started.add(replica.name);
  }
  if (started.size > 0) {
    current = {
      ...current,
      replicas: current.replicas.map((r) =>
        started.has(r.name) ? { ...r, stopped: false, healthy: true } : r,
      ),
      members: current.members.map((m) => (started.has(m.name) ? { ...m, started: true, healthy: true } : m)),
    };
  }

  for (const learner of current.members.filter((m) => m.learner)) {
    const through = throughMember(current);
    if (through === undefined) {
      note(`Learner ${learner.name || learner.id} is stuck, and no healthy voter can remove it.`);
      continue;
    }
    const replica = learner.name || `member-${learner.id}`;
    snapshotOnce();
    list.add({ kind: 'remove-member', replica, memberId: learner.id }, `Remove the stuck learner ${replica}`);
    const instance = current.replicas.find((r) => r.name === learner.name);
    // Its instance in a zone that is down stays until the zone is back (then it has no member).
    if (instance !== undefined && (zoneDown(current, instance.zone) || instance.unreachable === true)) {
      if (zoneDown(current, instance.zone)) leaveInDownZone(instance);
      current = { ...current, members: current.members.filter((m) => m.id !== learner.id) };
      continue;
    }
    if (instance !== undefined) {
      list.add(
        { kind: 'delete-instance', replica: instance.name, zone: instance.zone, keepDisk: false },
        `Delete ${instance.name}, whose member never joined`,
      );
    }
    current = {
      ...current,
      members: current.members.filter((m) => m.id !== learner.id),
      replicas: current.replicas.filter((r) => r.name !== learner.name),
    };
  }

  for (const orphan of current.members.filter((m) => !current.replicas.some((r) => r.name === m.name))) {
    const verdict = canRemoveMember(current.members, orphan.id);
    const through = throughMember(current, { exclude: orphan.name });
    if (!verdict.ok || through === undefined || current.leaderName === orphan.name) {
      note(`Member ${orphan.name || orphan.id} has no replica, and removing it now would not be safe.`);
      continue;
    }
    snapshotOnce();
    list.add(
      { kind: 'remove-member', replica: orphan.name || `member-${orphan.id}`, memberId: orphan.id },
      `Remove member ${orphan.name || orphan.id}, which has no replica`,
    );
    if (orphan.name !== '') deleteWhatIsLeft(view, orphan.name, list);
    current = { ...current, members: current.members.filter((m) => m.id !== orphan.id) };
  }

  for (const replica of current.replicas.filter((r) => !current.members.some((m) => m.name === r.name))) {
    if (current.replicas.length <= 1) break;
    if (zoneDown(current, replica.zone)) {
      leaveInDownZone(replica);
      continue;
    }
    if (replica.unreachable === true) {
      note(
        `${replica.name} has no etcd member, but the provider cannot tell its instance's state: it is left.`,
      );
      continue;
    }
    if (endpointReplicas(current.endpoint).includes(replica.name)) {
      note(
        `Replica ${replica.name} has no etcd member but the endpoint uses it; replace it with \`hacp replace\`.`,
      );
      continue;
    }
    list.add(
      { kind: 'delete-instance', replica: replica.name, zone: replica.zone, keepDisk: false },
      `Delete ${replica.name}, which has no etcd member`,
    );
    current = { ...current, replicas: current.replicas.filter((r) => r.name !== replica.name) };
  }

  const health = replicaHealth(current);
  for (const replica of current.replicas.filter((r) => !health[r.name])) {
    if (zoneDown(current, replica.zone)) {
      leaveInDownZone(replica);
      continue;
    }
    if (replica.unreachable === true) {
      note(
        `The provider cannot tell the state of ${replica.name}'s instance in zone ${replica.zone} (the zone may be unreachable): repair does not delete it, since it may hold a voter's data. Run \`hacp status\` once the provider answers, then \`hacp repair\` again; \`hacp replace --replica ${replica.name}\` if it is gone for good.`,
      );
      continue;
    }
    if (current.replicas.length <= 1) {
      note(`${replica.name} is the only replica and unhealthy. ${quorumLostActions(current).join(' ')}`);
      break;
    }
    try {
      const sub = new StepList();
      const parts = removalParts(current, replica, sub);
      const after = viewAfterRemoval(current, parts);
      const add = planReplicate(after, { zone: replica.zone, randomHex: options.randomHex });
      for (const step of [...sub.steps, ...add.steps]) {
        if (step.action.kind === 'snapshot' && snapshotted()) continue;
        list.add(step.action, step.title, step.preconditions);
      }
      const added = add.expected.replicas.find((r) => !after.replicas.some((a) => a.name === r.name));
      const newReplica: ReplicaInfo = {
        name: added?.name ?? replica.name,
        zone: replica.zone,
        createdAt: replica.createdAt,
        healthy: true,
      };
      const newMember: MemberInfo = {
        id: `new-${newReplica.name}`,
        name: newReplica.name,
        learner: false,
        started: true,
        healthy: true,
      };
      current = {
        ...after,
        replicas: [...after.replicas, newReplica],
        members: [...after.members, newMember],
        endpoint: add.expected.endpoint ?? after.endpoint,
      };
    } catch (error) {
      if (!(error instanceof HacpError)) throw error;
      note(`${replica.name} is unhealthy, and replacing it now would not be safe: ${error.message}`);
    }
  }

  // Healthy voters the load balancer does not target get no traffic: add them back.
  if (current.endpoint.mode === 'load-balanced') {
    const targets = current.endpoint.targets;
    const healthNow = replicaHealth(current);
    const missing = current.replicas.filter(
      (r) =>
        !targets.includes(r.name) &&
        healthNow[r.name] === true &&
        current.members.some((m) => m.name === r.name && !m.learner),
    );
    for (const replica of missing)
      list.endpoint({ action: 'add-target', replica: replica.name, whenReady: true });
    if (missing.length > 0) {
      current = {
        ...current,
        endpoint: {
          mode: 'load-balanced',
          targets: [...targets, ...missing.map((r) => r.name)].sort((a, b) => a.localeCompare(b)),
        },
      };
    }
  }

  const zoneWarnings: Warning[] = [...leftInDownZones.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([zone, names]) => ({ code: 'ZONE_DOWN', message: downZoneMessage(zone, names) }));
  return {
    operation: 'repair',
    cluster: view.cluster,
    steps: list.steps,
    onFailure: [],
    warnings: [
      ...zoneWarnings,
      ...warnings,
      ...placementWarnings(current.replicas).filter((w) => w.code !== 'UNHEALTHY_REPLICA'),
    ],
    expected: { replicas: sortedReplicas(current.replicas), endpoint: current.endpoint },
  };
}

/** Why repair leaves the replicas of a zone that is down as they are, and what brings them back. */
function downZoneMessage(zone: string, names: readonly string[]): string {
  const which = [...names].sort((a, b) => a.localeCompare(b)).join(', ');
  return `Zone ${zone} is down: repair leaves ${which} as ${names.length === 1 ? 'it is' : 'they are'} (nothing there is deleted, replaced or started), and ${names.length === 1 ? 'it comes' : 'they come'} back with the zone, data and etcd member kept. Run \`hacp zone restore ${zone}\` if the zone was failed on purpose, or wait until it is up again; then \`hacp status\`.`;
}

/**
 * The plan that deletes the cluster: a last snapshot when a healthy member can take one, the load
 * balancer, the address (released only here), every replica with its disk, the firewall rules, what
 * is left with the cluster's label or names (the disk of an instance deleted by hand), and the record.
 */
export function planDown(view: ClusterView): Plan {
  const list = new StepList();
  const through = throughMember(view);
  if (through !== undefined) list.add({ kind: 'snapshot' }, 'Take a last etcd snapshot');
  for (const step of endpointTeardown(view.endpoint)) list.endpoint(step);
  for (const replica of [...view.replicas].sort((a, b) => a.name.localeCompare(b.name))) {
    list.add(
      { kind: 'delete-instance', replica: replica.name, zone: replica.zone, keepDisk: false },
      `Delete ${replica.name} and its disk`,
    );
    list.add(
      { kind: 'delete-identity-lease', replica: replica.name },
      `Delete ${replica.name}'s identity lease`,
    );
  }
  list
    .add(
      { kind: 'delete-firewall', names: firewallRules(view.cluster).map((rule) => rule.name) },
      'Delete the firewall rules',
    )
    .add(
      { kind: 'delete-leftovers' },
      'Delete what is left of the cluster: resources with its label or its names that the record does not list',
    )
    .add({ kind: 'delete-record' }, 'Delete the cluster record');
  return {
    operation: 'down',
    cluster: view.cluster,
    steps: list.steps,
    onFailure: [],
    warnings: [],
    expected: { replicas: [], endpoint: undefined },
  };
}

/** A plan as stable JSON for `hacp plan`: keys in a fixed order, two-space indent, newline at the end. */
export function planToJson(plan: Plan): string {
  const sortKeys = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (typeof value !== 'object' || value === null) return value;
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  };
  return `${JSON.stringify(sortKeys(plan), null, 2)}\n`;
}
