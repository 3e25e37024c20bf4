/**
 * What the cluster looks like now, read from the provider and from etcd itself: the view topology
 * plans from, and the status users see. Reads only.
 */
import {
  type Address,
  ErrorCode,
  HacpError,
  type Instance,
  isHacpError,
  type LoadBalancer,
} from '@hacp/core';
import type { EndpointStatus as EtcdEndpointStatus, EtcdMember, MemberHealth } from '@hacp/etcd';
import type { ClusterView, EndpointState, MemberInfo, ReplicaInfo } from '@hacp/topology';
import type { EtcdPort } from './engine/etcd-port.js';
import type { OperationSession } from './engine/session.js';
import type { ClusterRecord } from './record.js';

/** Everything read about a cluster at one moment. */
export interface Observation {
  record: ClusterRecord;
  instances: Instance[];
  members: EtcdMember[];
  health: MemberHealth[];
  statuses: EtcdEndpointStatus[];
  leaderName?: string;
  address?: Address;
  loadBalancer?: LoadBalancer;
  zones: string[];
  /** The cluster region's zones the provider reports down. */
  downZones: string[];
  /** The provider can start a stopped instance (`instances.start`). */
  startable: boolean;
}

/**
 * Reads the cluster through the operation's session: its instances (kept in the session), the
 * address, the load balancer and etcd's member list, health and status (through the session's one
 * connection, left open for the steps). A member list that cannot be read is an error, not an empty
 * cluster, unless `requireReach` is false (`down` deletes what it finds either way).
 */
export async function observe(options: {
  session: OperationSession;
  record: ClusterRecord;
  signal?: AbortSignal;
  requireReach?: boolean;
  /** A member list that cannot be read is an error (default `requireReach`); status shows it empty. */
  requireMembers?: boolean;
}): Promise<Observation> {
  const { session, record, signal } = options;
  const provider = session.provider;
  const requireReach = options.requireReach ?? true;
  const requireMembers = options.requireMembers ?? requireReach;
  const startable = typeof provider.instances.start === 'function';
  const [instances, zones, address, loadBalancer] = await Promise.all([
    session.instances(signal),
    provider.zones.list({ signal }),
    provider.addresses.get({ name: record.addressName, region: record.region }, { signal }),
    provider.loadBalancers.get({ name: record.loadBalancerName, region: record.region }, { signal }),
  ]);
  const etcd = await session.etcd({ ...(signal ? { signal } : {}), requireReach });
  const read = etcd === undefined ? emptyEtcdRead() : await readEtcd(etcd, requireMembers, signal);
  return {
    record,
    instances: [...instances],
    startable,
    ...read,
    ...(address === undefined ? {} : { address }),
    ...(loadBalancer === undefined ? {} : { loadBalancer }),
    zones: zones.filter((zone) => zone.region === record.region).map((zone) => zone.name),
    downZones: zones
      .filter((zone) => zone.region === record.region && zone.status === 'down')
      .map((zone) => zone.name),
  };
}

type EtcdRead = Pick<Observation, 'members' | 'health' | 'statuses' | 'leaderName'>;

const emptyEtcdRead = (): EtcdRead => ({ members: [], health: [], statuses: [] });

async function readEtcd(etcd: EtcdPort, requireMembers: boolean, signal?: AbortSignal): Promise<EtcdRead> {
  let members: EtcdMember[];
  try {
    members = await etcd.members({ signal });
  } catch (error) {
    if (!requireMembers) return emptyEtcdRead();
    throw unreadableEtcd('its member list', error);
  }
  if (members.length === 0) return emptyEtcdRead();
  // Health and status name each member that does not answer; a call that fails as a whole says
  // nothing about the members, and a command that acts on it would take every one for dead.
  const unread =
    <T>(what: string) =>
    (error: unknown): T[] => {
      if (requireMembers) throw unreadableEtcd(what, error);
      return [];
    };
  const [health, statuses] = await Promise.all([
    etcd.health({ signal, timeoutMs: 2000 }).catch(unread<MemberHealth>("its members' health")),
    etcd.status({ signal }).catch(unread<EtcdEndpointStatus>("its members' status")),
  ]);
  const leaderId = statuses.find((status) => status.ok && status.leaderId !== undefined)?.leaderId;
  const leaderName = members.find((member) => member.id === leaderId)?.name || undefined;
  return { members, health, statuses, ...(leaderName === undefined ? {} : { leaderName }) };
}

/** etcd answered the connection but not `what` (no quorum, a member busy): retryable. */
function unreadableEtcd(what: string, error: unknown): HacpError {
  const cause = isHacpError(error) ? error : undefined;
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `hacp cannot read ${what} from etcd, so it cannot tell the cluster's state: ${
      error instanceof Error ? error.message : String(error)
    }`,
    actions: [
      'Run the command again in a moment.',
      'If it persists, run `hacp status` to see which replicas answer.',
    ],
    details: cause?.details ?? {},
    retryable: true,
    cause: error,
  });
}

export function memberHealthy(observation: Observation, member: EtcdMember): boolean {
  return observation.health.some((entry) => entry.id === member.id && entry.healthy);
}

/** Where the address is now, as topology models it. */
export function endpointState(observation: Observation): EndpointState {
  const holder = observation.address?.holder;
  if (holder?.kind === 'instance') return { mode: 'attached', replica: holder.instance.name };
  if (observation.loadBalancer !== undefined) {
    return { mode: 'load-balanced', targets: observation.loadBalancer.targets.map((target) => target.name) };
  }
  // Nothing holds it (an interrupted move): the first replica is where `up` puts it.
  const first = observation.instances[0]?.name ?? `${observation.record.cluster}-master`;
  return { mode: 'attached', replica: first };
}

/** False when the provider says the endpoint's holder (the address's replica, or the load balancer) does not serve. */
export function endpointServing(observation: Observation): boolean | undefined {
  const holder = observation.address?.holder;
  if (holder?.kind === 'instance') return observation.address?.serving;
  return observation.loadBalancer?.serving;
}

/**
 * Whether nothing holds the address although something should: the load balancer exists but does
 * not hold it (on GCE, someone deleted its forwarding rule), or there is no load balancer and the
 * replica it belongs to does not hold it (on GCE, someone deleted the VM's access config). Outside an
 * operation's move, the endpoint is down.
 */
export function addressDetached(observation: Observation): boolean {
  if (observation.address === undefined || observation.address.holder !== undefined) return false;
  return observation.loadBalancer !== undefined || observation.instances.length > 0;
}

/** Load-balancer targets whose instance is gone. */
export function targetsWithoutInstance(observation: Observation): string[] {
  const names = new Set(observation.instances.map((instance) => instance.name));
  return (observation.loadBalancer?.targets ?? [])
    .map((target) => target.name)
    .filter((name) => !names.has(name));
}

export function toClusterView(observation: Observation): ClusterView {
  const { record } = observation;
  const members: MemberInfo[] = observation.members.map((member) => ({
    id: member.id,
    name: member.name,
    learner: member.learner,
    started: member.started,
    healthy: memberHealthy(observation, member),
  }));
  // An instance that does not run (stopped, or its processes died) is started again where the
  // provider can start one; else it is replaced.
  const canStart = observation.startable;
  const startable = (status: Instance['status']) => status === 'stopped' || status === 'terminated';
  const replicas: ReplicaInfo[] = observation.instances.map((instance) => {
    const member = observation.members.find((m) => m.name === instance.name);
    return {
      name: instance.name,
      zone: instance.zone,
      createdAt: instance.createdAt.toISOString(),
      // A replica is healthy when its instance runs and its member answers; one without a member is not.
      healthy: instance.status === 'running' && member !== undefined && memberHealthy(observation, member),
      ...(canStart && startable(instance.status) ? { stopped: true } : {}),
      ...(instance.status === 'unknown' ? { unreachable: true } : {}),
      ...(instance.dataDiskIntact === true ? { dataDiskIntact: true } : {}),
    };
  });
  const targetZones = Object.fromEntries(
    (observation.loadBalancer?.targets ?? []).map((target) => [target.name, target.zone]),
  );
  return {
    cluster: record.cluster,
    region: record.region,
    firstZone: record.firstZone,
    multizone: record.multizone,
    replicas,
    members,
    ...(observation.leaderName === undefined ? {} : { leaderName: observation.leaderName }),
    endpoint: endpointState(observation),
    ...(endpointServing(observation) === false || addressDetached(observation)
      ? { endpointServing: false }
      : {}),
    zones: observation.zones,
    ...(observation.downZones.length > 0 ? { downZones: observation.downZones } : {}),
    ...(Object.keys(targetZones).length > 0 ? { targetZones } : {}),
    kubernetes: record.kubernetesVersion !== undefined,
  };
}
