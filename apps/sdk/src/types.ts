/**
 * The public shapes of @hacp/sdk: what `createControlPlane` takes, what its operations return, and
 * the events it emits. Everything here is plain, JSON-serialisable data (the CLI prints it as is).
 */

import type { KeyAlgorithm } from '@hacp/certs';
import type { Logger, ProviderV1, Secret, WarningCode } from '@hacp/core';
import type { KubernetesBinarySource } from '@hacp/kubernetes-release';
import type { CaName, OperationName, Plan, Warning } from '@hacp/topology';
import type { EtcdConnector } from './engine/etcd-port.js';

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
  /**
   * A kubeconfig file for the cluster's Kubernetes API (leases, status). Default: the cluster's own
   * admin credentials from its PKI, through the endpoint.
   */
  kubeconfig?: string;
  /**
   * Where Kubernetes binaries are found and downloaded to, for providers that run them on this
   * machine. Default: `kubernetesBinarySourceFromEnv(process.env)` (HACP_KUBE_BIN_DIR,
   * KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, XDG_CACHE_HOME, HACP_KUBE_RELEASE_URL).
   */
  kubernetesBinaries?: KubernetesBinarySource;
  /**
   * For tests: the script a `host` provider's replicas run with node as their add-on manager, instead
   * of `@hacp/addon-manager`'s (a stand-in that never applies anything, to test the wait for it).
   */
  addonManagerProgram?: string;
  /** Timeouts, in ms, for the long waits. */
  timeouts?: Partial<ControlPlaneTimeouts>;
  /** Who holds the cluster lock, for the lock's record; default `hacp-<pid>@<hostname>`. */
  holder?: string;
  /**
   * How etcd is reached: the membership port the engine uses. Default `@hacp/etcd` through the
   * provider's `reach`; tests pass a fake.
   */
  etcd?: EtcdConnector;
  /**
   * Which of this cluster's backups are kept, applied after each new one (the snapshot before a
   * membership change, `backups.create`, `down`'s last one). A backup is kept when any rule keeps
   * it, and the newest always is. Default `{ keepLast: 10, keepWithin: '7d' }`; `{}` keeps every one.
   * @throws HacpError INVALID_ARGUMENT from `createControlPlane` for a bad value.
   */
  backupRetention?: BackupRetention;
}

/** Retention rules for the backup catalogue (restic's `--keep-last` and `--keep-within`). */
export interface BackupRetention {
  /** Keep the newest N backups (a whole number, at least 1). */
  keepLast?: number;
  /** Keep every backup taken within this duration of now: `90m`, `36h`, `7d`, `2w`, `1d12h`. */
  keepWithin?: string;
}

export interface ControlPlaneTimeouts {
  /** A replica becoming healthy after create (etcd, then its Kubernetes components). Default 180 s. */
  healthy: number;
  /** A learner catching up before promotion, counted from its first sign of life. Default 300 s. */
  promote: number;
  /**
   * A new replica's machine booting and starting its etcd member: from the promotion step's start
   * until the learner's first sign of life (on a cloud: the boot, the disk, the image pulls). A
   * learner still silent then is removed (MEMBER_NOT_STARTED) and the replica rolled back. Default
   * 600 s, as Cluster API's node-startup timeout.
   */
  memberStart: number;
  /** No progress of a learner, once it has started, before it is evicted. Default 60 s. */
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
  /**
   * The Kubernetes version every replica runs, recorded and inherited: exact (`v1.23.16`) or a spec
   * resolved through the release location (`1.23`, `stable-1.23`, `latest-1.32`). Default: the
   * version of the binaries HACP_KUBE_BIN_DIR (or the per-binary variables) name, else `stable-1.32`;
   * when no binaries can be had for the default, the cluster runs etcd only, with a warning.
   */
  kubernetesVersion?: string;
  /** false: an etcd-only cluster (no Kubernetes components). Default true. */
  kubernetes?: boolean;
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
  /**
   * Keep its etcd member and data (etcd's member migration, `hacp replace --keep-data`): the
   * instance is recreated under the same name on its surviving data disk and the member keeps its
   * id, so the leader streams nothing. `true`: migrate, refused (INVALID_ARGUMENT) where the
   * provider does not report the disk intact (`Instance.dataDiskIntact`; the local and GCE providers do), and
   * refused where the others would not keep quorum while its member is down, the endpoint address is
   * attached to it, or it has no voter. `false`: never (a new member, the data streamed to it).
   * Default: migrate a broken replica whose disk the provider reports intact, where that is safe.
   */
  keepData?: boolean;
  /**
   * 0: the old replica goes before the new one comes, even where the cluster could add one first
   * (a rollout's `maxSurge: 0`). Default 1: new before old where the cluster is healthy.
   */
  maxSurge?: 0 | 1;
  signal?: AbortSignal;
}

/** What `rollout restart` and `upgrade` take. */
export interface RolloutOptions {
  /**
   * 1 (default): each replica's replacement comes before it goes (Cluster API's default). 0: each
   * goes first, then its replacement comes; only with three replicas or more.
   */
  maxSurge?: 0 | 1;
  signal?: AbortSignal;
}

/** What `rollout restart` and `upgrade` did: each replica replaced once, in order. */
export interface RolloutResult {
  operation: 'rollout-restart' | 'upgrade';
  cluster: string;
  /** The version every replica runs now; absent for an etcd-only cluster. */
  kubernetesVersion?: string;
  /** Each replica replaced: its name, its replacement's, and their zone. */
  replaced: { old: string; new: string; zone: string }[];
}

export interface SignalOptions {
  signal?: AbortSignal;
}

/** `scale`'s options (`hacp scale --replicas N [--zones a,b,c] [--allow-even] [--force]`). */
export interface ScaleOptions {
  /** The replica count to reach: 1, 3, 5 or 7 (an even count needs `allowEven`, more than 7 `force`). */
  replicas: number;
  /** The zones new replicas may go to (default: every allowed zone); replicas outside them are removed first. */
  zones?: readonly string[];
  /** Allow an even count, which tolerates no more failures than one fewer. */
  allowEven?: boolean;
  /** Allow more than 7 replicas. */
  force?: boolean;
  signal?: AbortSignal;
}

/** What `scale` returns: the changes it ran, each a replicate or remove, and where it ended. */
export interface ScaleResult {
  operation: 'scale';
  cluster: string;
  /** The replica count before (after finishing an interrupted change), and the one reached. */
  from: number;
  to: number;
  /**
   * Each replicate or remove it ran, in order; the first is `resumed` when a scale cut short left
   * one in flight and this run finished it.
   */
  changes: OperationResult[];
  /** The replicas now, by name. */
  replicas: { name: string; zone: string }[];
  /** The warnings of the replica set it ended with (placement, unhealthy replicas). */
  warnings: Warning[];
}

/** One step as an operation ran it. */
export interface StepOutcome {
  id: string;
  title: string;
  /**
   * `done`: it acted; `skipped`: the real state already matched (already in place, or already
   * gone); `not-applicable`: there was nothing for it to act on (no Kubernetes API in an etcd-only
   * cluster, a provider without the capability, a cluster being deleted).
   */
  status: StepStatus;
}

export type StepStatus = 'done' | 'skipped' | 'not-applicable';

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
  /** The Kubernetes version the replicas run; absent for an etcd-only cluster. */
  kubernetesVersion?: string;
  /** The admin kubeconfig `up` wrote (0600), for `kubectl --kubeconfig <it>`. */
  kubeconfig?: string;
  /**
   * The etcd backup this operation took before it changed the membership (`down`: its last one,
   * which `down` keeps); absent when it took none.
   */
  backup?: BackupRef;
}

/** Where a backup is. */
export interface BackupRef {
  id: string;
  /** The snapshot file (`<dataDir>/backups/<id>.db`), with its sidecar `<id>.json` beside it. */
  path: string;
}

/**
 * One etcd backup of the catalogue: a snapshot file and what its JSON sidecar says of it. Files
 * written before hacp kept sidecars have only `id`, `path`, `cluster`, `createdAt` (the file's
 * time) and `sizeBytes`, and `identity: 'unknown'`.
 */
export interface Backup extends BackupRef {
  /**
   * `current`: taken from the cluster that has this name now; `earlier`: from an earlier cluster of
   * this name (with no cluster now, every backup with a sidecar); `unknown`: no sidecar says.
   */
  identity: 'current' | 'earlier' | 'unknown';
  cluster: string;
  /** The cluster's identity (its record's `uid`; for a cluster made before uids, its etcd token). */
  clusterUid?: string;
  /** etcd's cluster ID (decimal), from the member's response header. */
  etcdClusterId?: string;
  /** The member it came from: its id (decimal, as etcd3 gives it) and name. */
  memberId?: string;
  memberName?: string;
  /** The etcd revision the member held when the snapshot began. */
  revision?: string;
  /** When it was taken (ISO 8601). */
  createdAt: string;
  sizeBytes: number;
  /** sha256 of the whole file, as taken. */
  sha256?: string;
  /** What took it: an operation's name (`replicate`, `repair`, `down`, ...) or `backup create`. */
  operation?: string;
  /** The journal id of that operation. */
  operationId?: string;
  /** The plan step that took it. */
  step?: string;
  /**
   * Whether it verifies now: its sha256 trailer and bbolt header, as `etcdctl snapshot status`
   * checks them, and the sha256 its sidecar recorded. Absent when not asked for.
   */
  verified?: boolean;
  /** Why it does not verify. */
  problem?: string;
}

/** `backups.list()`'s result. */
export interface BackupListResult {
  cluster: string;
  /** The identity of the cluster of this name now; absent when there is none (after `down`). */
  clusterUid?: string;
  /** The folder of the catalogue. */
  directory: string;
  /** Newest first. */
  backups: Backup[];
  /** How many backups of earlier clusters or of unknown identity were left out (`all` shows them). */
  hidden: number;
}

/** `backups.create()`'s result. */
export interface BackupCreateResult {
  backup: Backup;
  /** The older backups of this cluster that the retention in force deleted after it. */
  pruned: Backup[];
}

/** `backups.prune()`'s result. */
export interface BackupPruneResult {
  /** True: nothing was deleted, `deleted` is what would go. */
  dryRun: boolean;
  /** The rules applied. */
  retention: BackupRetention;
  /** This cluster's backups that stay, newest first. */
  kept: Backup[];
  /** This cluster's backups deleted (or, with `dryRun`, that would be), newest first. */
  deleted: Backup[];
}

/** A replica as `status` reports it. */
export interface ReplicaStatus {
  name: string;
  zone: string;
  internalIp: string;
  /**
   * `running` and its etcd member healthy: `healthy`; running but not: `unhealthy`; stopped in a zone
   * the provider reports down: `zone-down` (the outage stopped it); else the instance's status
   * (`stopped`: stopped by hand, which `repair` starts again).
   */
  state: 'healthy' | 'unhealthy' | 'provisioning' | 'stopped' | 'zone-down' | 'terminated' | 'unknown';
  /** Its Kubernetes components, asked directly (absent for an etcd-only cluster or a replica not running). */
  kubernetes?: KubernetesComponentsStatus;
}

/** `ok`: answered 200; `failing`: answered otherwise; `unreachable`: no answer. */
export type ComponentHealth = 'ok' | 'failing' | 'unreachable';

/** kube-apiserver's `/readyz`, kube-controller-manager's and kube-scheduler's `/healthz`. */
export interface KubernetesComponentsStatus {
  apiserver: ComponentHealth;
  controllerManager: ComponentHealth;
  scheduler: ComponentHealth;
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

/**
 * `status()`'s result (the issue's shape). The endpoint is `detached` while an operation moves the
 * address (`operation` is set), or when something outside hacp took it away (the `ENDPOINT_DETACHED`
 * warning says so).
 */
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
  /** The Kubernetes version and which replica leads each singleton; absent for an etcd-only cluster. */
  kubernetes?: {
    version: string;
    /** The replica holding the kube-controller-manager lease, when it is held and known. */
    controllerManagerLeader?: string;
    /** The replica holding the kube-scheduler lease. */
    schedulerLeader?: string;
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
  /** The replica whose hostname holds it (while the lease is current). */
  replica?: string;
}

/** The admin kubeconfig, as `kubeconfig()` renders (and writes) it. */
export interface KubeconfigResult {
  /** The endpoint's API URL. */
  server: string;
  context: string;
  /** The kubeconfig; it holds the admin key, so it prints and serialises as `[redacted]`. */
  contents: Secret;
  /** Where it was written (0600), when asked to write it. */
  path?: string;
}

/** One add-on manifest file of the cluster. */
export interface AddonFile {
  file: string;
  objects: { kind: string; name: string; namespace?: string; mode: 'Reconcile' | 'EnsureExists' }[];
}

/** What `addons.apply` did. */
export interface AddonsApplyResult {
  /** The files added or replaced in the cluster's add-on folder. */
  files: AddonFile[];
  /** The running replicas whose folders were brought up to date; their managers apply it on their own. */
  replicas: string[];
  warnings: Warning[];
}

/** One certificate, as `certs.check` reports it. */
export interface CertificateStatus {
  name: string;
  commonName: string;
  isCa: boolean;
  notAfter: string;
  daysLeft: number;
  status: 'ok' | 'expiring' | 'expired' | 'not-yet-valid';
  /** The serial number, upper-case hex (as `openssl x509 -serial` prints it). */
  serial: string;
}

/** A replica's TLS port: etcd's client and peer ports, kube-apiserver's. */
export type ServedPort = 'etcd-client' | 'etcd-peer' | 'apiserver';

/** What a replica serves on one TLS port, read over TLS, beside the operator's copy. */
export interface ServedCertificate {
  replica: string;
  zone: string;
  port: ServedPort;
  /** The operator's certificate it should serve there: `<replica>/etcd-server`, `/etcd-peer`, `/apiserver`. */
  certificate: string;
  /** What it serves: the serial (upper-case hex) and end; absent when it could not be read. */
  serial?: string;
  notAfter?: string;
  /** The serial of the operator's copy; absent when the PKI has no certificates for the replica. */
  operatorSerial?: string;
  /** It serves the operator's copy. */
  matches: boolean;
  /** Why it could not be read (a stopped replica, a port that does not answer TLS). */
  error?: string;
}

/** `certs renew`'s result: the operation that rolled the renewed leaves onto every replica. */
export interface RenewResult extends OperationResult {
  /** The leaf certificates reissued, by name (as `certs check` names them). */
  renewed: string[];
}

/** `certs rotate-ca`'s result: the operation that replaced the CA on every replica, and the new CA. */
export interface RotateCaResult extends OperationResult {
  /** The CA replaced. */
  ca: CaName;
  /** The CA that signs now, as `certs check` reports it (`etcd-ca`, `ca`, `front-proxy-ca`). */
  newCa: { commonName: string; serial: string; notAfter: string };
  /** The leaf certificates reissued from the new CA, by name (as `certs check` names them). */
  reissued: string[];
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
      status: StepStatus;
    }
  | { type: 'waiting'; operationId?: string; step?: string; message: string }
  | { type: 'download'; file: string; url: string; receivedBytes: number; totalBytes?: number }
  | { type: 'warning'; code: WarningCode; message: string }
  | { type: 'rollback-started'; operationId: string; reason: string }
  | { type: 'operation-done'; operation: OperationName; operationId: string }
  | WatchEvent;

/**
 * What `watch` did or why it did not: `started`/`stopped`; an action it takes (`resume` of an
 * interrupted repair, replace or certificate renewal; `repair`, `replace`, `backup`, `renew-certs`) and how it ended (`done`, `refused` with the error's code); `waiting`
 * with the reason's code (`ZONE_DOWN`, `RETRIES_EXHAUSTED`, ...), said once until it ends; `failed`
 * when the cluster could not be looked at.
 */
export interface WatchEvent {
  type: 'watch';
  /** ISO 8601. */
  time: string;
  action:
    | 'started'
    | 'stopped'
    | 'resume'
    | 'repair'
    | 'replace'
    | 'backup'
    | 'renew-certs'
    | 'done'
    | 'refused'
    | 'waiting'
    | 'failed';
  code?: string;
  replica?: string;
  message: string;
}

/** What `watch` takes. */
export interface WatchOptions {
  /** Ends the watch (it resolves once the action under way has stopped). */
  signal: AbortSignal;
  /** How often it looks; default 30 s. */
  intervalMs?: number;
  /** Its limits; each defaults as `hacp watch` does (see DEFAULT_WATCH_LIMITS). */
  limits?: Partial<import('./watch-policy.js').WatchLimits>;
}

/** The options of `hacp plan <operation>`: the operation's own options, without a signal. */
/** What `recover` takes. */
export interface RecoverOptions {
  /** Restore this backup (its id in `hacp backup list`) rather than recover from a surviving member. */
  backup?: string;
  signal?: AbortSignal;
}

export type PlanRequest =
  | ({ operation: 'up' } & Omit<UpOptions, 'signal'>)
  | ({ operation: 'replicate' } & Omit<ReplicateOptions, 'signal'>)
  | ({ operation: 'remove' } & Omit<RemoveOptions, 'signal'>)
  | ({ operation: 'replace' } & Omit<ReplaceOptions, 'signal'>)
  | { operation: 'repair' }
  | { operation: 'down' }
  | ({ operation: 'recover' } & Omit<RecoverOptions, 'signal'>)
  | { operation: 'renew-certs' }
  | { operation: 'rotate-ca'; ca: string }
  | ({ operation: 'scale' } & Omit<ScaleOptions, 'signal'>);

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
  /**
   * Takes the cluster from its replica count to `replicas`, one change at a time, each a normal
   * journaled replicate or remove: a new replica goes to the zone with the fewest replicas among
   * those that are up (of `zones`, when given), a removal comes from the zone with the most, never
   * the first replica (back to 1 keeps it). Run again after an interruption, it first finishes the
   * replicate or remove left in flight, then goes on: it converges.
   *
   * @example
   * await cp.scale({ replicas: 3 }); // from 1: one replica per zone
   * @throws HacpError INVALID_ARGUMENT, nothing changed, for an even count without `allowEven`,
   *   more than 7 without `force`, or a count below 1; the zone errors for a bad `zones`; CONFLICT
   *   while another kind of operation is in flight; each change's own errors.
   */
  scale(options: ScaleOptions): Promise<ScaleResult>;
  /**
   * Brings back a cluster that lost etcd quorum (or every replica): the surviving member with the
   * most data becomes a one-member cluster (etcd's force-new-cluster), or, when none survives, the
   * newest backup that verifies is restored (or the one named in `backup`); the other replicas are
   * deleted with their data and come back one at a time in their zones as learners. The plan's
   * RECOVERY_LOSES_DATA warning says what is lost: show `plan({ operation: 'recover' })` first.
   * @throws HacpError CONFLICT when the cluster has quorum (without `backup`) or a replica's zone is
   *   down (`zone restore` first); NOT_FOUND without any source or for an unknown backup.
   */
  recover(options?: RecoverOptions): Promise<OperationResult>;
  /**
   * Replaces every replica once, one at a time (followers first, the etcd leader last), each by a
   * normal replace: to pick up a changed setting, or new machines. Run again after an interruption,
   * it finishes the replace that was cut short, then the rest.
   * @throws HacpError QUORUM_AT_RISK, nothing changed, while a replica or member is unhealthy;
   *   INVALID_ARGUMENT for `maxSurge: 0` below three replicas; CONFLICT while an upgrade is under way.
   */
  rollout(options?: RolloutOptions): Promise<RolloutResult>;
  /**
   * `rollout` onto another Kubernetes version: the record names the new version, so each
   * replacement runs it. The version skew policy is checked before anything changes: at most one
   * minor up, never a minor down.
   * @throws HacpError INVALID_ARGUMENT (field `kubernetesVersion`) for a skew the policy does not
   *   allow or an etcd-only cluster; NOT_FOUND/UNAVAILABLE when the version's binaries cannot be had;
   *   as `rollout` otherwise.
   */
  upgrade(options: RolloutOptions & { kubernetesVersion: string }): Promise<RolloutResult>;
  /**
   * Watches the cluster until `signal` aborts: every interval it looks, and within limits it acts
   * (starts a stopped replica; replaces one unhealthy for longer than `unhealthyAfterMs`, at most
   * `maxRetries` times per place, never twice within `retryPeriodMs`, never with one replica, never
   * while an operation is in flight or a zone looks failed; takes backups; renews certificates),
   * each action a normal operation under the cluster lock. Every action and every refusal is a
   * `watch` event.
   */
  watch(options: WatchOptions): Promise<void>;
  /** Deletes the cluster: replicas, load balancer, address, firewall rules, record, PKI. */
  down(options?: SignalOptions): Promise<OperationResult>;
  /** Continues the interrupted operation. @throws HacpError NOT_FOUND when none is in flight. */
  resume(options?: SignalOptions): Promise<OperationResult>;
  /** What the cluster looks like now. */
  status(options?: SignalOptions): Promise<ClusterStatus>;
  /**
   * The plan an operation would run now, without running it: the interrupted operation's own plan
   * when the request would continue it (the same operation and options).
   */
  plan(request: PlanRequest): Promise<Plan>;
  certs: {
    /** Every certificate's expiry. */
    check(options?: { warnWithinDays?: number; now?: Date }): Promise<CertificateStatus[]>;
    /**
     * What each replica serves on its etcd client and peer ports and kube-apiserver's, read over
     * TLS, beside the operator's copy.
     */
    served(options?: SignalOptions): Promise<ServedCertificate[]>;
    /**
     * Reissues every leaf from the same CAs and rolls them onto the replicas one at a time (new
     * files, then a restart, each replica out of the load balancer and healthy again before the
     * next): a journaled operation, resumable like the others.
     * @throws HacpError QUORUM_AT_RISK, nothing changed, while a replica or member is unhealthy;
     *   PROVIDER_ERROR where the provider cannot rewrite a running replica's files (GCE: replace
     *   each replica instead).
     */
    renew(options?: SignalOptions): Promise<RenewResult>;
    /**
     * Replaces a CA in the safe order, each phase rolled onto the replicas one at a time as `renew`
     * rolls: a new CA trusted beside the old, every leaf it signs reissued from the new one, the old
     * one dropped (a client certificate it signed is then refused). Only the etcd CA (`ca: 'etcd'`)
     * yet. Journaled and resumable like the others.
     *
     * @example
     * const result = await cp.certs.rotateCa({ ca: 'etcd' });
     * console.log(result.newCa.serial);
     * @throws HacpError INVALID_ARGUMENT for a CA other than `etcd`; QUORUM_AT_RISK, nothing
     *   changed, while a replica or member is unhealthy; PROVIDER_ERROR, nothing changed, on a
     *   provider that cannot rewrite a running replica's files (GCE).
     */
    rotateCa(options: { ca: string; signal?: AbortSignal }): Promise<RotateCaResult>;
  };
  /**
   * Apiserver identity leases and leader leases, through the cluster's own admin credentials (or the
   * `kubeconfig` setting). @throws HacpError INVALID_ARGUMENT for an etcd-only cluster without `kubeconfig`.
   */
  leases(options?: SignalOptions): Promise<NonNullable<ClusterStatus['leases']>>;
  /**
   * The admin kubeconfig for the endpoint; written (0600, folders 0700) to `path` when given.
   * @throws HacpError NOT_FOUND for a missing cluster; INVALID_ARGUMENT for an etcd-only one.
   */
  kubeconfig(options?: { path?: string; signal?: AbortSignal }): Promise<KubeconfigResult>;
  /** The cluster's add-ons: a folder of manifests every replica's add-on manager keeps applied. */
  addons: {
    list(options?: SignalOptions): Promise<AddonFile[]>;
    /**
     * Adds (or replaces, by file name) manifests, checked first: every object needs the
     * `addonmanager.kubernetes.io/mode` label (`Reconcile` or `EnsureExists`).
     * @throws HacpError INVALID_ARGUMENT for a bad manifest (nothing is written).
     */
    apply(options: {
      files: readonly { name: string; text: string }[];
      signal?: AbortSignal;
    }): Promise<AddonsApplyResult>;
  };
  /**
   * The cluster's etcd backups: a catalogue of snapshot files with JSON sidecars in
   * `<dataDir>/backups`, tied to the cluster's identity, so that two clusters of the same name one
   * after the other never mix.
   */
  backups: {
    /**
     * Takes a snapshot now through a healthy member, under the cluster lock (briefly: a snapshot
     * never races an operation), then applies the retention in force.
     * @throws HacpError NOT_FOUND for a missing cluster; LOCKED while another hacp holds the lock;
     *   UNAVAILABLE when no healthy member answers.
     */
    create(options?: SignalOptions): Promise<BackupCreateResult>;
    /**
     * This cluster's backups, newest first, each verified unless `verify: false`; `all` adds those
     * of earlier clusters of this name and of unknown identity. With no cluster of this name, every
     * backup left is listed.
     */
    list(options?: { all?: boolean; verify?: boolean; signal?: AbortSignal }): Promise<BackupListResult>;
    /**
     * Applies retention rules to this cluster's backups now (the retention in force when none is
     * given); earlier clusters' backups and those of unknown identity are never touched.
     * @throws HacpError INVALID_ARGUMENT for a bad rule (nothing is deleted); NOT_FOUND for a missing cluster.
     */
    prune(options?: BackupRetention & { dryRun?: boolean; signal?: AbortSignal }): Promise<BackupPruneResult>;
  };
  /** Closes the etcd clients it opened. */
  close(): Promise<void>;
}
