/**
 * The public shapes of the membership client: what it takes, what it returns, and the client itself.
 */
import type { ErrorCode, Logger, Secret } from '@hacp/core';
import type { RestoredMember, RestoreOptions } from './restore.js';
import type { SnapshotResult } from './snapshot.js';

/** The client side of etcd's mutual TLS: hacp's etcd client certificate and the etcd CA. */
export interface EtcdTls {
  /** The etcd CA, to verify members. */
  caPem: string;
  /** The client certificate (signed by the etcd CA, clientAuth). */
  certPem: string;
  keyPem: Secret | string;
  /**
   * The name members' serving certificates are checked against. Default: the endpoint's host, or
   * `localhost` for an IP endpoint (every member certificate hacp issues carries it, and only the
   * cluster's own etcd CA is trusted).
   */
  serverName?: string;
}

/** What `createMembershipClient` takes. */
export interface MembershipClientOptions {
  /** Client URLs of one or more members (`https://host:2379`). More members give more ways in. */
  endpoints: readonly string[];
  tls: EtcdTls;
  logger?: Logger;
  /**
   * How long one call to a member may take before it counts as unanswered (a member that is down,
   * frozen or cut off). Default 5000 ms; `deadlineMs` overrides it for one operation.
   */
  callTimeoutMs?: number;
  /**
   * How to reach a member found in the member list (for health, leader moves and status). Default:
   * its first advertised client URL. Providers whose members advertise addresses this machine cannot
   * reach return a tunnel's URL here, or undefined for "unreachable".
   */
  endpointFor?: (member: EtcdMember) => string | undefined;
}

/** One etcd member as the member list shows it. Ids are decimal strings (uint64). */
export interface EtcdMember {
  id: string;
  /** Empty until the member has started once. */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  learner: boolean;
  /** False for a member added but never started (`unstarted` in etcdctl). */
  started: boolean;
}

/** What one endpoint says about itself. */
export interface EndpointStatus {
  endpoint: string;
  ok: boolean;
  memberId?: string;
  leaderId?: string;
  raftTerm?: string;
  raftIndex?: string;
  appliedIndex?: string;
  dbSizeBytes?: number;
  dbSizeInUseBytes?: number;
  version?: string;
  learner?: boolean;
  /** Active alarms on this member (`NOSPACE`, `CORRUPT`). */
  alarms: string[];
  /** Errors the member reports about itself. */
  errors: string[];
  /** Why the endpoint did not answer. */
  error?: { code: ErrorCode; message: string };
}

/** Whether a member answers a linearizable read (a serializable one for a learner) in time. */
export interface MemberHealth {
  id: string;
  name: string;
  learner: boolean;
  endpoint?: string;
  healthy: boolean;
  tookMs?: number;
  error?: string;
}

/** What the new member's etcd needs to join (`memberFlags` takes both as they are). */
export interface AddedLearner {
  member: EtcdMember;
  /** `--initial-cluster` for the new member: every member, the new one under its name. */
  initialCluster: string;
  state: 'existing';
  /** The endpoint the add went through. */
  through: string;
}

/** One member's hash of its key space (`hashKv`). */
export interface KvHash {
  endpoint: string;
  memberId: string;
  hash: string;
  revision: string;
  compactRevision: string;
}

/** The membership operations, each safe by construction. */
export interface MembershipClient {
  /** The member list, from the first endpoint that answers. */
  members(options?: CallOptions): Promise<EtcdMember[]>;
  /** Status of each configured endpoint (or the given ones); an endpoint that does not answer has `ok: false`. */
  status(options?: CallOptions & { endpoints?: readonly string[] }): Promise<EndpointStatus[]>;
  /** Which members answer a linearizable read within `timeoutMs` (default `deadlineMs`, else 3000). */
  health(options?: CallOptions & { timeoutMs?: number }): Promise<MemberHealth[]>;
  /** Adds a learner through a healthy voter, after checking every voter is healthy and no learner exists. */
  addLearner(
    options: { name: string; peerUrl: string } & CallOptions & { timeoutMs?: number },
  ): Promise<AddedLearner>;
  /** Promotes a learner once it has caught up; evicts it when it never starts or stalls after it did. */
  promoteWhenReady(id: string, options?: PromoteOptions): Promise<EtcdMember>;
  /** Removes a member through another one, after projecting quorum; moves leadership away first. */
  removeMember(id: string, options?: CallOptions & { timeoutMs?: number }): Promise<RemovedMember>;
  /** Moves leadership off member `id`, if it leads, to the most caught-up healthy voter. */
  moveLeaderAway(id: string, options?: CallOptions & { timeoutMs?: number }): Promise<LeaderMove>;
  /** Streams a snapshot from a healthy member to `file` (0600), verified before it is kept. */
  snapshot(file: string, options?: CallOptions & { endpoint?: string }): Promise<SnapshotResult>;
  /** Restores a snapshot into a new data dir for a one-member cluster (disaster recovery). */
  restoreSingleMember(snapshot: string, dataDir: string, options: RestoreOptions): Promise<RestoredMember>;
  /** Points a stopped member at a new peer URL, keeping its id and data (etcd's member migration). */
  migrateMember(
    id: string,
    newPeerUrl: string,
    options?: CallOptions & { timeoutMs?: number },
  ): Promise<MigratedMember>;
  /** The KV hash of every started voter at one revision (the raw Maintenance.HashKV call). */
  hashKv(options?: CallOptions & { revision?: string }): Promise<KvHash[]>;
  /**
   * Closes every connection, also one still being opened to a member that does not answer, and
   * leaves nothing behind that keeps the process running. Calls in flight fail.
   */
  close(): void;
}

/** What every operation takes. */
export interface CallOptions {
  signal?: AbortSignal;
  /**
   * How long each call to a member may take in this operation. Default: the client's
   * `callTimeoutMs`. Waits and retries (`timeoutMs`) are bounded on their own.
   */
  deadlineMs?: number;
}

/** What `promoteWhenReady` takes. */
export interface PromoteOptions extends CallOptions {
  /**
   * Give up (leaving the learner in place) when it is still catching up this long after its first
   * sign of life. Default 120000 ms, kubeadm's EtcdAPICall.
   */
  timeoutMs?: number;
  /**
   * Evict the learner when, after its first sign of life, it has made no progress for this long: its
   * applied index has not moved and the leader is not streaming it a snapshot (read from the leader's
   * /metrics). Default 60000 ms (k3s waits 5 minutes, etcd-manager 1 minute; a learner that makes no
   * progress for a minute is not coming).
   */
  stallAfterMs?: number;
  /**
   * Evict the learner (MEMBER_NOT_STARTED) when its process has not reached the cluster this long
   * after the call began: its machine has to boot and start etcd first (on a cloud: the instance,
   * its disk, the image pulls). Until then the stall bound does not run. A sign of life is its name
   * and client URLs in the member list (etcd 3.4 lists a member that never started without both),
   * an answer from it, or the leader's active connection or snapshot stream to it. Default 600000 ms,
   * Cluster API's node-startup timeout.
   */
  memberStartTimeoutMs?: number;
  /** Delay between promotion attempts. Default 500 ms, kubeadm's. */
  intervalMs?: number;
  /**
   * Also wait, within `timeoutMs`, until the promoted member answers a linearizable read: etcd 3.4
   * counts a member as a voter before it serves clients. Default false (the promotion is the result).
   */
  waitServing?: boolean;
}

/** What `removeMember` did. */
export interface RemovedMember {
  removed: EtcdMember;
  through: string;
  /** Set when the member led and leadership moved first. */
  leaderMove?: LeaderMove;
}

/** Where leadership was before and after `moveLeaderAway`. */
export interface LeaderMove {
  moved: boolean;
  /** The leader before the call. */
  from: string;
  /** The leader after it. */
  to: string;
}

/** The migrated member, and what its etcd needs to start at the new peer URL (`memberFlags`). */
export interface MigratedMember {
  member: EtcdMember;
  initialCluster: string;
  state: 'existing';
  through: string;
}
