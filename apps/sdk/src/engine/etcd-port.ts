/**
 * The etcd membership port: what the engine asks of etcd, behind an interface, so that every step
 * can run against a fake in milliseconds (Cluster API's WorkloadCluster). `reachEtcd` is the real
 * one: `@hacp/etcd` over the provider's `reach` to each running replica.
 */
import { type ClusterPki, trustedCaPem } from '@hacp/certs';
import {
  ErrorCode,
  HacpError,
  type Instance,
  isHacpError,
  type Logger,
  type ProviderV1,
  type Reach,
} from '@hacp/core';
import { createMembershipClient, type MembershipClient } from '@hacp/etcd';
import { REPLICA_PORTS } from '../render.js';

/** The membership calls the engine makes. Each is safe by construction (see `@hacp/etcd`). */
export type EtcdMembership = Pick<
  MembershipClient,
  | 'members'
  | 'status'
  | 'health'
  | 'addLearner'
  | 'promoteWhenReady'
  | 'removeMember'
  | 'moveLeaderAway'
  | 'migrateMember'
>;

/** An open connection to a cluster's etcd, through some of its replicas. */
export interface EtcdPort extends EtcdMembership {
  /**
   * Streams a snapshot to `file` from a healthy voter, or from the named replica's member (which
   * need not have a quorum behind it: `recover` keeps the survivor's data first).
   */
  snapshot(
    file: string,
    options?: Parameters<MembershipClient['snapshot']>[1] & { replica?: string },
  ): ReturnType<MembershipClient['snapshot']>;
  /** The replicas this connection reaches. */
  readonly reached: readonly string[];
  /** Closes every connection and tunnel; leaves no handle open. */
  close(): Promise<void>;
}

/** What opening a connection needs. */
export interface EtcdConnectOptions {
  provider: ProviderV1;
  pki: ClusterPki;
  /** The cluster's instances; the running ones are reached. */
  instances: readonly Instance[];
  logger?: Logger;
  signal?: AbortSignal;
  /**
   * When no running replica can be reached at all (a tunnel that cannot start, credentials
   * missing), throw the provider's error, which says what to fix, rather than report every replica
   * as without a member. Default true; `down` passes false: it deletes what it finds either way.
   */
  requireReach?: boolean;
}

/**
 * Opens a connection to a cluster's etcd, or gives undefined when no replica runs. `createControlPlane`
 * takes one as `settings.etcd`; the default is `reachEtcd`.
 */
export type EtcdConnector = (options: EtcdConnectOptions) => Promise<EtcdPort | undefined>;

/** How long one call to a member may take before it counts as unanswered. */
const CALL_TIMEOUT_MS = 5000;

/** The real connector: `@hacp/etcd` through the provider's `reach` to each running replica. */
export const reachEtcd: EtcdConnector = async (options) => {
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
  const closeReaches = async () => {
    await Promise.all(reaches.map((reach) => reach.close().catch(() => undefined)));
  };
  if (urls.size === 0) {
    await closeReaches();
    if (reachError !== undefined && options.requireReach !== false && !isHacpError(reachError, 'NOT_FOUND')) {
      throw unreachable(reachError);
    }
    return undefined;
  }
  const client = createMembershipClient({
    endpoints: [...urls.values()],
    tls: {
      // Both etcd CAs during a rotation: the replicas serve certificates of either.
      caPem: trustedCaPem(options.pki, 'etcdCa'),
      certPem: options.pki.etcdClient.certPem,
      keyPem: options.pki.etcdClient.keyPem,
    },
    logger: options.logger,
    callTimeoutMs: CALL_TIMEOUT_MS,
    endpointFor: (member) => urls.get(member.name),
  });
  return {
    reached: [...urls.keys()],
    members: (o) => client.members(o),
    status: (o) => client.status(o),
    health: (o) => client.health(o),
    addLearner: (o) => client.addLearner(o),
    promoteWhenReady: (id, o) => client.promoteWhenReady(id, o),
    removeMember: (id, o) => client.removeMember(id, o),
    moveLeaderAway: (id, o) => client.moveLeaderAway(id, o),
    migrateMember: (id, url, o) => client.migrateMember(id, url, o),
    snapshot: (file, o = {}) => {
      const { replica, ...rest } = o;
      const endpoint = replica === undefined ? undefined : urls.get(replica);
      if (replica !== undefined && endpoint === undefined) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `${replica}'s etcd member cannot be reached for a snapshot.`,
          actions: [`Check ${replica} with \`hacp status\`.`],
          details: { replica },
        });
      }
      return client.snapshot(file, endpoint === undefined ? rest : { ...rest, endpoint });
    },
    close: async () => {
      client.close();
      await closeReaches();
    },
  };
};

/** No replica's etcd could be reached: the provider's reason, code and actions, said as such. */
export function unreachable(error: unknown): HacpError {
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
