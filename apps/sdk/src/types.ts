/**
 * The public shapes of @hacp/sdk: what `createControlPlane` takes, what its operations return, and
 * the events it emits. Everything here is plain, JSON-serialisable data (the CLI prints it as is).
 */

import type { KeyAlgorithm } from '@hacp/certs';
import type { Logger, ProviderV1 } from '@hacp/core';
import type { OperationName, Plan, Warning } from '@hacp/topology';

export type { OperationName, Plan, Warning };

/** What `createControlPlane` takes. */
export interface ControlPlaneSettings {
  provider: ProviderV1;
  /** The cluster's name; kube-up's default. */
  cluster?: string;
  /**
   * A folder on the operator's machine for what must not live in the provider's state store: the
   * cluster PKI (CA keys) and the etcd snapshots taken before each membership change. Made 0700.
   */
  dataDir: string;
  logger?: Logger;
  /** Progress, as typed events; nothing is printed. */
  onEvent?: (event: ControlPlaneEvent) => void;
  /** A kubeconfig file for the cluster's Kubernetes API (leases); without it lease steps are skipped. */
  kubeconfig?: string;
  /**
   * Run kube-apiserver on each replica. Default: when the provider reports a kube-apiserver binary
   * (`provider.binaries.kubeApiserver`, the local provider), else not.
   */
  kubeApiserver?: boolean;
  /** Timeouts, in ms, for the long waits. */
  timeouts?: Partial<ControlPlaneTimeouts>;
  /** Who holds the cluster lock, for the lock's record; default `hacp-<pid>@<hostname>`. */
  holder?: string;
}

export interface ControlPlaneTimeouts {
  /** A replica becoming healthy after create. Default 120 s. */
  healthy: number;
  /** A learner catching up before promotion. Default 300 s. */
  promote: number;
  /** No progress of a learner before it is evicted. Default 60 s. */
  learnerStall: number;
  /** A load-balancer target passing its health check. Default 120 s. */
  target: number;
  /** Connections draining from a removed target. Default 2 s. */
  drain: number;
}

/** `up`'s options: kube-up's KUBE_GCE_ZONE, MULTIZONE and ENABLE_ETCD_QUORUM_READ(S). */
export interface UpOptions {
  zone: string;
  multizone?: boolean;
  quorumReads?: boolean;
  keyAlgorithm?: KeyAlgorithm;
  signal?: AbortSignal;
}

/** `replicate`'s options: KUBE_GCE_ZONE (default: the allowed zone with the fewest replicas). */
export interface ReplicateOptions {
  zone?: string;
  /** The new replica's name; default a fresh `<cluster>-master-<3 hex>`. */
  name?: string;
  signal?: AbortSignal;
}

/** `remove`'s options: KUBE_GCE_ZONE and KUBE_REPLICA_NAME. */
export interface RemoveOptions {
  zone?: string;
  name?: string;
  signal?: AbortSignal;
}

export interface ReplaceOptions {
  /** The broken replica. */
  name: string;
  signal?: AbortSignal;
}

export interface SignalOptions {
  signal?: AbortSignal;
}

/** One step as an operation ran it. */
export interface StepOutcome {
  id: string;
  title: string;
  /** `done`: it acted; `skipped`: the real state already matched (a resumed step). */
  status: 'done' | 'skipped';
}

/** What every mutating operation returns. */
export interface OperationResult {
  operation: OperationName;
  /** The journal's id of this operation (kept across resumes). */
  operationId: string;
  cluster: string;
  /** Whether this run continued an operation an earlier run had begun. */
  resumed: boolean;
  steps: StepOutcome[];
  warnings: Warning[];
  /** The replicas after the operation, by name. */
  replicas: { name: string; zone: string }[];
}

/** A replica as `status` reports it. */
export interface ReplicaStatus {
  name: string;
  zone: string;
  internalIp: string;
  /** `running` and its etcd member healthy: `healthy`; running but not: `unhealthy`; else the instance's status. */
  state: 'healthy' | 'unhealthy' | 'provisioning' | 'stopped' | 'terminated' | 'unknown';
}

export interface MemberStatus {
  id: string;
  name: string;
  learner: boolean;
  healthy: boolean;
  leader: boolean;
  raftIndex?: number;
  dbSize?: number;
}

export interface EndpointStatus {
  address: string;
  mode: 'attached' | 'load-balanced' | 'detached';
  attachedTo?: string;
  targets: { replica: string; healthy: boolean }[];
}

/** `status()`'s result (the issue's shape; `detached` only while an operation is moving the address). */
export interface ClusterStatus {
  cluster: string;
  provider: string;
  region: string;
  multizone: boolean;
  quorumReads: boolean;
  replicas: ReplicaStatus[];
  etcd: { members: MemberStatus[] };
  endpoint: EndpointStatus;
  /**
   * `tolerates`: failures the voter count survives when all are healthy; `canStillLose`: how many more
   * it survives now, with `healthy` voters; `zoneLoss`: the verdict on losing any one zone, now.
   */
  faultTolerance: {
    voters: number;
    quorum: number;
    tolerates: number;
    healthy: number;
    canStillLose: number;
    zoneLoss: string;
  };
  leases?: { identities: LeaseIdentityStatus[]; leaders: LeaseLeaderStatus[] };
  /** An operation in flight (interrupted), with what `hacp resume` would continue. */
  operation?: { id: string; operation: OperationName; stepsDone: number; steps: number; next?: string };
  warnings: Warning[];
}

export interface LeaseIdentityStatus {
  name: string;
  replica?: string;
  stale: boolean;
  renewTime?: string;
}

export interface LeaseLeaderStatus {
  lease: string;
  holder?: string;
}

/** One certificate, as `certs.check` reports it. */
export interface CertificateStatus {
  name: string;
  commonName: string;
  isCa: boolean;
  notAfter: string;
  daysLeft: number;
  status: 'ok' | 'expiring' | 'expired' | 'not-yet-valid';
}

/** Progress, as `onEvent` receives it. */
export type ControlPlaneEvent =
  | {
      type: 'operation-started';
      operation: OperationName;
      operationId: string;
      resumed: boolean;
      steps: number;
    }
  | { type: 'step-started'; operationId: string; step: string; title: string; index: number; steps: number }
  | {
      type: 'step-done';
      operationId: string;
      step: string;
      title: string;
      index: number;
      steps: number;
      status: 'done' | 'skipped';
    }
  | { type: 'waiting'; operationId?: string; step?: string; message: string }
  | { type: 'warning'; code: string; message: string }
  | { type: 'rollback-started'; operationId: string; reason: string }
  | { type: 'operation-done'; operation: OperationName; operationId: string };

/** The options of `hacp plan <operation>`: the operation's own options, without a signal. */
export type PlanRequest =
  | ({ operation: 'up' } & Omit<UpOptions, 'signal'>)
  | ({ operation: 'replicate' } & Omit<ReplicateOptions, 'signal'>)
  | ({ operation: 'remove' } & Omit<RemoveOptions, 'signal'>)
  | ({ operation: 'replace' } & Omit<ReplaceOptions, 'signal'>)
  | { operation: 'repair' }
  | { operation: 'down' };

/**
 * One cluster's control plane. Every mutating operation is a plan from @hacp/topology run step by
 * step under the provider's cluster lock, journaled in the provider's state store; re-running the
 * same operation, or `resume`, continues an interrupted one.
 */
export interface ControlPlane {
  readonly cluster: string;
  readonly provider: ProviderV1;
  /** Creates the cluster with one replica in `zone` (kube-up). */
  up(options: UpOptions): Promise<OperationResult>;
  /** Adds one replica (KUBE_REPLICATE_EXISTING_MASTER=true kube-up). */
  replicate(options?: ReplicateOptions): Promise<OperationResult>;
  /** Removes one replica (KUBE_DELETE_NODES=false kube-down). */
  remove(options?: RemoveOptions): Promise<OperationResult>;
  /** Removes a broken replica and adds one in its zone. */
  replace(options: ReplaceOptions): Promise<OperationResult>;
  /** Fixes stuck learners, orphan members or instances and unhealthy replicas, while quorum allows. */
  repair(options?: SignalOptions): Promise<OperationResult>;
  /** Deletes the cluster: replicas, load balancer, address, firewall rules, record, PKI. */
  down(options?: SignalOptions): Promise<OperationResult>;
  /** Continues the interrupted operation. @throws HacpError NOT_FOUND when none is in flight. */
  resume(options?: SignalOptions): Promise<OperationResult>;
  /** What the cluster looks like now. */
  status(options?: SignalOptions): Promise<ClusterStatus>;
  /** The plan an operation would run now, without running it. */
  plan(request: PlanRequest): Promise<Plan>;
  certs: {
    /** Every certificate's expiry. */
    check(options?: { warnWithinDays?: number; now?: Date }): Promise<CertificateStatus[]>;
    /** Reissues every leaf from the same CAs and writes them to the PKI folder. */
    renew(options?: SignalOptions): Promise<{ renewed: string[] }>;
  };
  /** Apiserver identity leases and leader leases. @throws HacpError INVALID_ARGUMENT without `kubeconfig`. */
  leases(options?: SignalOptions): Promise<NonNullable<ClusterStatus['leases']>>;
  /** Closes the etcd clients it opened. */
  close(): Promise<void>;
}
