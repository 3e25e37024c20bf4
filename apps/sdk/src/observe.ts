/**
 * What the cluster looks like now, read from the provider and from etcd itself: the view topology
 * plans from, and the status users see. Reads only.
 */
import type { ClusterPki } from '@hacp/certs';
import {
  type Address,
  ErrorCode,
  HacpError,
  type Instance,
  isHacpError,
  isReplicaName,
  type LoadBalancer,
  type Logger,
  type ProviderV1,
  type Reach,
} from '@hacp/core';
import {
  createMembershipClient,
  type EndpointStatus as EtcdEndpointStatus,
  type EtcdMember,
  type MemberHealth,
  type MembershipClient,
} from '@hacp/etcd';
import type { ClusterView, EndpointState, MemberInfo, ReplicaInfo } from '@hacp/topology';
import type { ClusterRecord } from './record.js';
import { REPLICA_PORTS } from './render.js';

/** An etcd client that reaches every running replica through the provider's `reach`. */
export interface EtcdAccess {
  client: MembershipClient;
  /** The URL hacp uses to reach each replica's client port, by replica name. */
  urls: Map<string, string>;
  close(): Promise<void>;
}

export async function openEtcd(options: {
  provider: ProviderV1;
  pki: ClusterPki;
  instances: readonly Instance[];
  logger?: Logger;
  signal?: AbortSignal;
  /**
   * When no running replica can be reached at all (a tunnel that cannot start, credentials
   * missing), throw the provider's error, which says what to fix, rather than report every replica
   * as without a member. Default true; `down` passes false: it deletes what it finds either way.
   */
  requireReach?: boolean;
}): Promise<EtcdAccess | undefined> {
  const reaches: Reach[] = [];
  const urls = new Map<string, string>();
  let reachError: unknown;
  for (const instance of options.instances) {
    if (instance.status !== 'running') continue;
    try {
      const reach = await options.provider.reach(instance, REPLICA_PORTS.etcdClient, {
        signal: options.signal,
      });
      reaches.push(reach);
      urls.set(instance.name, `https://${reach.host}:${reach.port}`);
    } catch (error) {
      reachError ??= error;
      options.logger?.warn('cannot reach replica', { replica: instance.name, error: String(error) });
    }
  }
  const close = async () => {
    await Promise.all(reaches.map((reach) => reach.close().catch(() => undefined)));
  };
  if (urls.size === 0) {
    await close();
    if (reachError !== undefined && options.requireReach !== false && !isHacpError(reachError, 'NOT_FOUND')) {
      throw unreachable(reachError);
    }
    return undefined;
  }
  const client = createMembershipClient({
    endpoints: [...urls.values()],
    tls: {
      caPem: options.pki.etcdCa.certPem,
      certPem: options.pki.etcdClient.certPem,
      keyPem: options.pki.etcdClient.keyPem,
    },
    logger: options.logger,
    callTimeoutMs: 5000,
    endpointFor: (member) => urls.get(member.name),
  });
  return {
    client,
    urls,
    close: async () => {
      client.close();
      await close();
    },
  };
}

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
}

/** No replica's etcd could be reached: the provider's reason, code and actions, said as such. */
function unreachable(error: unknown): HacpError {
  const cause = isHacpError(error) ? error : undefined;
  return new HacpError({
    code: cause?.code ?? ErrorCode.UNAVAILABLE,
    message: `hacp cannot reach etcd on any replica, so it cannot tell their state: ${
      error instanceof Error ? error.message : String(error)
    }`,
    actions: cause?.actions.length ? cause.actions : ['Check that this machine can reach the replicas.'],
    details: cause?.details ?? {},
    retryable: cause?.retryable ?? true,
    cause: error,
  });
}

export async function observe(options: {
  provider: ProviderV1;
  record: ClusterRecord;
  pki: ClusterPki | undefined;
  logger?: Logger;
  signal?: AbortSignal;
  /** See openEtcd. */
  requireReach?: boolean;
}): Promise<Observation> {
  const { provider, record, signal } = options;
  const [all, zones, address, loadBalancer] = await Promise.all([
    provider.instances.list({ cluster: record.cluster }, { signal }),
    provider.zones.list({ signal }),
    provider.addresses.get({ name: record.addressName, region: record.region }, { signal }),
    provider.loadBalancers.get({ name: record.loadBalancerName, region: record.region }, { signal }),
  ]);
  const instances = all
    .filter((instance) => isReplicaName(record.cluster, instance.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  let members: EtcdMember[] = [];
  let health: MemberHealth[] = [];
  let statuses: EtcdEndpointStatus[] = [];
  let leaderName: string | undefined;
  const etcd =
    options.pki === undefined
      ? undefined
      : await openEtcd({
          provider,
          pki: options.pki,
          instances,
          logger: options.logger,
          signal,
          requireReach: options.requireReach ?? true,
        });
  if (etcd !== undefined) {
    try {
      members = await etcd.client.members({ signal }).catch(() => []);
      if (members.length > 0) {
        [health, statuses] = await Promise.all([
          etcd.client.health({ signal, timeoutMs: 2000 }).catch(() => []),
          etcd.client.status({ signal }).catch(() => []),
        ]);
        const leaderId = statuses.find((status) => status.ok && status.leaderId !== undefined)?.leaderId;
        leaderName = members.find((member) => member.id === leaderId)?.name || undefined;
      }
    } finally {
      await etcd.close();
    }
  }
  return {
    record,
    instances,
    members,
    health,
    statuses,
    ...(leaderName === undefined ? {} : { leaderName }),
    ...(address === undefined ? {} : { address }),
    ...(loadBalancer === undefined ? {} : { loadBalancer }),
    zones: zones.filter((zone) => zone.region === record.region).map((zone) => zone.name),
  };
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

export function toClusterView(observation: Observation): ClusterView {
  const { record } = observation;
  const members: MemberInfo[] = observation.members.map((member) => ({
    id: member.id,
    name: member.name,
    learner: member.learner,
    started: member.started,
    healthy: memberHealthy(observation, member),
  }));
  const replicas: ReplicaInfo[] = observation.instances.map((instance) => {
    const member = observation.members.find((m) => m.name === instance.name);
    return {
      name: instance.name,
      zone: instance.zone,
      createdAt: instance.createdAt.toISOString(),
      healthy: instance.status === 'running' && (member === undefined || memberHealthy(observation, member)),
    };
  });
  return {
    cluster: record.cluster,
    region: record.region,
    firstZone: record.firstZone,
    multizone: record.multizone,
    replicas,
    members,
    ...(observation.leaderName === undefined ? {} : { leaderName: observation.leaderName }),
    endpoint: endpointState(observation),
    zones: observation.zones,
    kubernetes: record.kubernetesVersion !== undefined,
  };
}
