/**
 * An executable model of a cluster (replicas, etcd members, leader, endpoint) that plan steps are
 * applied to, so tests can check that plans keep their promises and never break a safety rule. It
 * mirrors what the SDK's executor does with real resources; it is not exported from the package.
 */
import { ErrorCode, HacpError, regionOfZone } from '@hacp/core';
import {
  applyEndpointStep,
  checkEndpointInvariant,
  type EndpointModel,
  endpointModelState,
  withoutReplica as endpointWithoutReplica,
  withReplica as endpointWithReplica,
  newEndpointModel,
} from './endpoint.js';
import { quorumSize } from './quorum.js';
import type { ClusterView, MemberInfo, PlannedState, PlanStep, StepAction } from './types.js';

export interface ModelReplica {
  name: string;
  zone: string;
  createdAt: string;
  /** Its instance exists. */
  vm: boolean;
  /** Its processes run (false after a failure until it recovers). */
  up: boolean;
}

export interface ModelMember {
  id: string;
  name: string;
  learner: boolean;
  started: boolean;
}

export interface ClusterModel {
  cluster: string;
  zones: readonly string[];
  region: string | undefined;
  firstZone: string | undefined;
  multizone: boolean;
  exists: boolean;
  replicas: readonly ModelReplica[];
  members: readonly ModelMember[];
  leader: string | undefined;
  endpoint: EndpointModel;
  snapshots: number;
  clock: number;
  nextMemberId: number;
  /** The replica a backup was restored for, until its instance starts on it. */
  seeded?: string;
}

export function newClusterModel(options: { cluster: string; zones: readonly string[] }): ClusterModel {
  return {
    cluster: options.cluster,
    zones: options.zones,
    region: undefined,
    firstZone: undefined,
    multizone: false,
    exists: false,
    replicas: [],
    members: [],
    leader: undefined,
    endpoint: newEndpointModel(),
    snapshots: 0,
    clock: 0,
    nextMemberId: 1,
  };
}

function violation(message: string): HacpError {
  return new HacpError({ code: ErrorCode.INTERNAL, message: `model: ${message}` });
}

/** Whether the member of that name is healthy: started, its instance exists and runs. */
export function memberHealthy(model: ClusterModel, member: ModelMember): boolean {
  const replica = model.replicas.find((r) => r.name === member.name);
  return member.started && replica?.vm === true && replica.up;
}

function voters(model: ClusterModel): ModelMember[] {
  return model.members.filter((m) => !m.learner);
}

/** Healthy voters and the quorum they need. */
export function quorumState(model: ClusterModel): { voters: number; healthy: number; hasQuorum: boolean } {
  const all = voters(model);
  const healthy = all.filter((m) => memberHealthy(model, m)).length;
  return { voters: all.length, healthy, hasQuorum: all.length > 0 && healthy >= quorumSize(all.length) };
}

/** etcd elects a healthy voter when the healthy voters hold a quorum; otherwise there is no leader. */
function reelect(model: ClusterModel): ClusterModel {
  const current = model.members.find((m) => m.name === model.leader && !m.learner);
  if (current !== undefined && memberHealthy(model, current) && quorumState(model).hasQuorum) return model;
  if (!quorumState(model).hasQuorum) return { ...model, leader: undefined };
  const next = voters(model)
    .filter((m) => memberHealthy(model, m))
    .sort((a, b) => a.name.localeCompare(b.name))[0];
  return { ...model, leader: next?.name };
}

function healthyVoter(model: ClusterModel, name: string): boolean {
  const member = model.members.find((m) => m.name === name);
  return member !== undefined && !member.learner && memberHealthy(model, member);
}

/** Whether a healthy voter other than `except` is there to take an etcd change. */
function someHealthyVoter(model: ClusterModel, except?: string): boolean {
  return model.members.some((m) => m.name !== except && healthyVoter(model, m.name));
}

function setReplica(model: ClusterModel, name: string, change: Partial<ModelReplica>): ClusterModel {
  return { ...model, replicas: model.replicas.map((r) => (r.name === name ? { ...r, ...change } : r)) };
}

function setMember(model: ClusterModel, name: string, change: Partial<ModelMember>): ClusterModel {
  return { ...model, members: model.members.map((m) => (m.name === name ? { ...m, ...change } : m)) };
}

/** A replica stops answering (its zone failed, its process died). */
export function failReplica(model: ClusterModel, name: string): ClusterModel {
  return reelect(setReplica(model, name, { up: false }));
}

/** A failed replica comes back. */
export function recoverReplica(model: ClusterModel, name: string): ClusterModel {
  return reelect(setReplica(model, name, { up: true }));
}

/**
 * A replica that starts on the data its disk holds (`recover`): with force-new-cluster, or on a
 * restored backup, it is the only member; otherwise it is the member it was.
 */
function startOnOwnData(
  next: ClusterModel,
  model: ClusterModel,
  replica: string,
  state: 'force-new-cluster' | 'own-data',
): ClusterModel {
  const member = model.members.find((m) => m.name === replica);
  const { seeded: _seeded, ...rest } = next;
  if (state === 'own-data' && model.seeded !== replica) {
    if (member === undefined || member.learner) throw violation(`${replica} starts on data it does not have`);
    return setMember(rest, replica, { started: true });
  }
  if (state === 'force-new-cluster' && (member === undefined || member.learner))
    throw violation(`${replica} forces a new cluster without being a voter`);
  const id = member?.id ?? String(model.nextMemberId);
  return {
    ...rest,
    members: [{ id, name: replica, learner: false, started: true }],
    nextMemberId: model.nextMemberId + 1,
    leader: replica,
  };
}

function applyAction(model: ClusterModel, action: StepAction): ClusterModel {
  switch (action.kind) {
    case 'validate-zone':
    case 'preflight':
    case 'issue-certs':
    case 'create-pki':
    case 'ensure-firewall':
    case 'delete-identity-lease':
    case 'stop-kubernetes':
      return model;
    case 'reserve-address':
      return model;
    case 'write-record':
      return {
        ...model,
        exists: true,
        multizone: action.multizone,
        firstZone: action.firstZone,
        region: regionOfZone(action.firstZone),
      };
    case 'snapshot':
      if (action.from !== undefined) {
        // One member's own data: it need not have a quorum behind it, only run.
        if (!model.replicas.some((r) => r.name === action.from && r.vm && r.up))
          throw violation(`a snapshot of ${action.from}, which does not run`);
      } else if (!someHealthyVoter(model)) throw violation('a snapshot without a healthy voter');
      return { ...model, snapshots: model.snapshots + 1 };
    case 'restore-backup':
      if (model.replicas.some((r) => r.name === action.replica && r.vm))
        throw violation(`a backup restored under the running ${action.replica}`);
      return { ...model, seeded: action.replica };
    case 'add-learner': {
      if (model.members.some((m) => m.learner)) throw violation(`a second learner (${action.replica})`);
      if (!someHealthyVoter(model)) throw violation(`adding ${action.replica} without a healthy voter`);
      if (model.members.some((m) => m.name === action.replica))
        throw violation(`member ${action.replica} exists`);
      const member: ModelMember = {
        id: String(model.nextMemberId),
        name: action.replica,
        learner: true,
        started: false,
      };
      return { ...model, members: [...model.members, member], nextMemberId: model.nextMemberId + 1 };
    }
    case 'create-instance': {
      if (model.replicas.some((r) => r.name === action.replica && r.vm)) return model; // idempotent
      if (!model.multizone && model.firstZone !== undefined && action.zone !== model.firstZone) {
        throw violation(
          `${action.replica} in ${action.zone} without multizone (first zone ${model.firstZone})`,
        );
      }
      if (model.region !== undefined && regionOfZone(action.zone) !== model.region) {
        throw violation(`${action.replica} in ${action.zone}, outside region ${model.region}`);
      }
      const clock = model.clock + 1;
      const replica: ModelReplica = {
        name: action.replica,
        zone: action.zone,
        createdAt: new Date(Date.UTC(2026, 0, 1) + clock * 1000).toISOString(),
        vm: true,
        up: true,
      };
      let next: ClusterModel = {
        ...model,
        clock,
        replicas: [...model.replicas.filter((r) => r.name !== action.replica), replica],
        endpoint: endpointWithReplica(model.endpoint, action.replica),
      };
      const member = model.members.find((m) => m.name === action.replica);
      if (action.etcdState === 'force-new-cluster' || action.etcdState === 'own-data') {
        return reelect(startOnOwnData(next, model, action.replica, action.etcdState));
      }
      if (action.etcdState === 'new') {
        if (model.members.length > 0) throw violation(`a second etcd cluster started by ${action.replica}`);
        next = {
          ...next,
          members: [{ id: String(model.nextMemberId), name: action.replica, learner: false, started: true }],
          nextMemberId: model.nextMemberId + 1,
          leader: action.replica,
        };
      } else if (member === undefined) {
        throw violation(`${action.replica} joins an existing cluster without a member`);
      } else if (member.learner || !member.started) {
        // A learner starts; a migrated member starts again on its kept data.
        next = setMember(next, action.replica, { started: true });
      }
      return reelect(next);
    }
    case 'promote-learner': {
      const member = model.members.find((m) => m.name === action.replica);
      if (!member?.learner || !memberHealthy(model, member))
        throw violation(`promoting ${action.replica}, not a started learner`);
      return reelect(setMember(model, action.replica, { learner: false }));
    }
    case 'wait-healthy': {
      const member = model.members.find((m) => m.name === action.replica);
      if (member === undefined || !memberHealthy(model, member))
        throw violation(`${action.replica} never becomes healthy`);
      return model;
    }
    case 'move-leader':
      if (model.leader !== action.from)
        throw violation(`move-leader from ${action.from}, which does not lead`);
      if (!healthyVoter(model, action.to))
        throw violation(`move-leader to ${action.to}, not a healthy voter`);
      return { ...model, leader: action.to };
    case 'remove-member': {
      const member = model.members.find((m) =>
        action.memberId ? m.id === action.memberId : m.name === action.replica,
      );
      if (member === undefined) return model; // idempotent: already gone (or never added)
      if (!someHealthyVoter(model, member.name))
        throw violation(`removing ${member.name} without another healthy voter`);
      if (!member.learner && model.leader === member.name)
        throw violation(`removing the leader ${member.name} without moving leadership`);
      return reelect({ ...model, members: model.members.filter((m) => m !== member) });
    }
    case 'migrate-member': {
      if (!someHealthyVoter(model, action.replica))
        throw violation(`migrating ${action.replica} without another healthy voter`);
      const member = model.members.find((m) => m.name === action.replica);
      if (member === undefined) throw violation(`migrating ${action.replica}, which has no member`);
      if (model.replicas.some((r) => r.name === action.replica && r.vm))
        throw violation(`migrating ${action.replica} while its instance still runs its member`);
      return model;
    }
    case 'delete-instance': {
      const holder = model.endpoint.holder;
      const dead = model.replicas.some((r) => r.name === action.replica && !r.up);
      if (holder?.kind === 'replica' && holder.replica === action.replica && model.exists && !dead) {
        // Only `down` may delete the address holder (releasing the address first), and `recover` one
        // that is dead (its address is attached to the replica that serves again).
        throw violation(`deleting ${action.replica} while it holds the endpoint address`);
      }
      if (model.endpoint.loadBalancer?.targets.includes(action.replica)) {
        throw violation(`deleting ${action.replica} while it is a load-balancer target`);
      }
      let next: ClusterModel = {
        ...model,
        replicas: action.keepDisk
          ? model.replicas.map((r) => (r.name === action.replica ? { ...r, vm: false } : r))
          : model.replicas.filter((r) => r.name !== action.replica),
        endpoint: endpointWithoutReplica(model.endpoint, action.replica, { detach: dead }),
      };
      if (action.keepDisk) next = setMember(next, action.replica, { started: false });
      return reelect(next);
    }
    case 'endpoint':
      return { ...model, endpoint: applyEndpointStep(model.endpoint, action.step) };
    case 'start-instance': {
      const replica = model.replicas.find((r) => r.name === action.replica && r.vm);
      if (replica === undefined) throw violation(`starting ${action.replica}, which has no VM`);
      return reelect(setReplica(model, action.replica, { up: true }));
    }
    case 'delete-firewall':
    case 'delete-leftovers':
    case 'renew-pki':
    case 'rotate-ca':
      return model;
    case 'roll-certs': {
      const others = model.members.filter((m) => m.name !== action.replica);
      if (others.some((m) => !healthyVoter(model, m.name)))
        throw violation(`restarting ${action.replica} while another member is not a healthy voter`);
      // Out of the load balancer and no longer leading while it restarts; it comes back up.
      const out =
        model.endpoint.loadBalancer === undefined
          ? model.endpoint
          : applyEndpointStep(model.endpoint, {
              action: 'remove-target',
              replica: action.replica,
              drain: true,
            });
      const down = reelect({ ...setReplica(model, action.replica, { up: false }), endpoint: out });
      if (down.leader === action.replica) throw violation(`restarting the leader ${action.replica}`);
      return reelect(setReplica(down, action.replica, { up: true }));
    }
    case 'delete-record':
      return { ...model, exists: false };
  }
}

/** Applies one step; throws HacpError INTERNAL ("model: ...") when the step breaks a rule. */
export function applyPlanStep(model: ClusterModel, step: PlanStep): ClusterModel {
  return applyAction(model, step.action);
}

/** The safety rules that must hold between any two steps of a plan other than `down`. */
export function invariantViolations(
  model: ClusterModel,
  options: { hadQuorum: boolean; hadReplicas: boolean },
): string[] {
  const problems: string[] = [];
  const learners = model.members.filter((m) => m.learner);
  if (learners.length > 1) problems.push(`${learners.length} learners`);
  if (options.hadQuorum && !quorumState(model).hasQuorum) {
    const q = quorumState(model);
    problems.push(`quorum lost: ${q.healthy} healthy voters of ${q.voters}`);
  }
  const endpoint = checkEndpointInvariant(model.endpoint);
  if (endpoint !== undefined) problems.push(`endpoint: ${endpoint}`);
  if (options.hadReplicas && model.replicas.filter((r) => r.vm).length === 0)
    problems.push('no replica left');
  return problems;
}

/** The state a plan's `expected` describes, read off the model. */
export function plannedStateOf(model: ClusterModel): PlannedState {
  return {
    replicas: model.replicas
      .map(({ name, zone }) => ({ name, zone }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    endpoint: model.exists ? endpointModelState(model.endpoint) : undefined,
  };
}

/** What the SDK would see: the view plans are made from. */
export function viewOf(model: ClusterModel): ClusterView {
  if (model.region === undefined || model.firstZone === undefined) throw violation('no cluster yet');
  const endpoint = endpointModelState(model.endpoint);
  if (endpoint === undefined) throw violation('the endpoint has no holder');
  const members: MemberInfo[] = model.members.map((m) => ({
    id: m.id,
    name: m.started || !m.learner ? m.name : '',
    learner: m.learner,
    started: m.started,
    healthy: memberHealthy(model, m),
  }));
  return {
    cluster: model.cluster,
    region: model.region,
    firstZone: model.firstZone,
    multizone: model.multizone,
    replicas: model.replicas
      .filter((r) => r.vm)
      .map((r) => ({ name: r.name, zone: r.zone, createdAt: r.createdAt, healthy: r.up })),
    members,
    ...(model.leader === undefined ? {} : { leaderName: model.leader }),
    endpoint,
    zones: model.zones,
  };
}
