/**
 * The Provider contract, version 1. Any cloud implements it (the local provider, GCE, plugins) and
 * proves it with @hacp/provider-conformance. The SDK composes it; it never sees a cloud's API.
 *
 * Rules for every method:
 * - Errors are HacpErrors with stable codes (NOT_FOUND, ALREADY_EXISTS, CONFLICT, LOCKED,
 *   UNAVAILABLE, PROVIDER_ERROR, ...), `retryable` set where a retry may help.
 * - Every mutating call takes a `requestId` (kept in the SDK's journal, so a resumed operation
 *   reuses it) and is idempotent by name: repeating a call that succeeded succeeds again and
 *   changes nothing.
 * - Every call takes an optional AbortSignal; an aborted call throws ABORTED and leaves the
 *   resource as its doc says a failure does.
 */
import type { Logger } from './logger.js';
import type { NodeConfig, NodeFile } from './node-config.js';

/** Options of every mutating call. */
export interface MutationOptions {
  /** Idempotency token: the same id for the same intended change, also across processes. */
  requestId: string;
  signal?: AbortSignal;
}

/** Options of every reading call. */
export interface ReadOptions {
  signal?: AbortSignal;
}

/** A zone a provider offers, with its region (GCE's rule: the zone minus its last `-x`). */
export interface ZoneInfo {
  name: string;
  region: string;
  /**
   * `down` when the provider knows the zone is out (GCE's zone status `DOWN`; the local provider's
   * `hacp zone fail`): its stopped instances were stopped by the outage, and nothing should be
   * started or created there until it is `up` again. Absent: up, or unknown.
   */
  status?: 'up' | 'down';
}

/** A stored record with its version, for compare-and-swap. */
export interface StateRecord<T = unknown> {
  key: string;
  /** Increases by one on every successful put. */
  version: number;
  value: T;
}

/** A held lock. Hold it for the whole operation; renew it before it expires. */
export interface StateLock {
  name: string;
  holder: string;
  expiresAt: Date;
  /** Extends the lock by its ttl. @throws HacpError LOCKED when it was lost (expired and taken). */
  renew(): Promise<void>;
  /** Releases it; releasing a lock already released or lost is fine. */
  release(): Promise<void>;
}

/**
 * Where hacp keeps a cluster's record and journal (kube-up kept it in instance metadata). Values
 * are JSON. A record that cannot be read, or was written by a newer format, is STATE_CORRUPT, never
 * silently reset.
 */
export interface StateStore {
  /** The record, or undefined when there is none. */
  get<T = unknown>(key: string, options?: ReadOptions): Promise<StateRecord<T> | undefined>;
  /**
   * Writes `value` if the stored version is `expectedVersion` (`0` means "must not exist yet").
   * @returns the new record, with version `expectedVersion + 1`.
   * @throws HacpError CONFLICT when the stored version differs; nothing is written.
   */
  put<T = unknown>(
    key: string,
    value: T,
    options: MutationOptions & { expectedVersion: number },
  ): Promise<StateRecord<T>>;
  /**
   * Deletes the record if its version is `expectedVersion`; deleting a missing record is fine.
   * @throws HacpError CONFLICT when the stored version differs; nothing is deleted.
   */
  delete(key: string, options: MutationOptions & { expectedVersion: number }): Promise<void>;
  /** Keys that start with `prefix`, sorted. */
  list(prefix: string, options?: ReadOptions): Promise<string[]>;
  /**
   * Takes the named lock for `ttlMs`. A lock whose holder let it expire may be taken.
   * A holder may not take its own live lock a second time: hold the StateLock and renew it.
   * @throws HacpError LOCKED with `details: { lock, holder, expiresAt }`; nothing changes.
   */
  lock(name: string, options: { holder: string; ttlMs: number; signal?: AbortSignal }): Promise<StateLock>;
}

/** Where an instance lives. */
export interface InstanceRef {
  name: string;
  zone: string;
}

/** What to create: one replica's machine and what runs on it. */
export interface InstanceSpec extends InstanceRef {
  cluster: string;
  /** The files and processes the replica needs, rendered by the SDK. */
  nodeConfig: NodeConfig;
  /** Free-form labels; providers add `hacp-cluster=<cluster>`. */
  labels?: Readonly<Record<string, string>>;
  /** Provider-specific size hints (GCE machine type, disk size); ignored where meaningless. */
  machineType?: string;
  diskSizeGb?: number;
  /**
   * The data disk a `delete` with `keepDisk` left for this name is handed to this instance on
   * purpose, data included (etcd's member migration: the replica's member starts again on its own
   * data). Absent: a disk another instance left holds no data of this replica's, and a provider
   * that tells instances apart on a disk (GCE's startup script) moves what it holds aside.
   */
  dataDiskHandedOver?: boolean;
}

export type InstanceStatus = 'provisioning' | 'running' | 'stopped' | 'terminated' | 'unknown';

/**
 * A replica's place on the network, known before its instance exists, so that the SDK can render
 * its certificates (internal IP, hostname) and its flags (ports) first.
 */
export interface InstanceNetwork {
  /** The address other replicas and the load balancer reach it on. */
  internalIp: string;
  /** The hostname it runs under; its certificates name it. */
  hostname: string;
  /**
   * Added to every standard port (2379, 2380, 6443, ...) where replicas share one address (the
   * local provider without loopback aliases); 0 where each replica has its own address.
   */
  portOffset: number;
  /**
   * The absolute folder on the instance that a NodeConfig's relative paths are relative to (the
   * local provider's replica folder, the data disk `/mnt/disks/master-pd` on GCE), for flags that need absolute
   * paths, such as etcd's `--data-dir`.
   */
  rootDir: string;
  /**
   * The address the replica's API server listens on, where that is more than `internalIp`:
   * `0.0.0.0` on a VM that also receives packets for the load balancer's address (GCE delivers a
   * forwarding rule's address to the target VM itself). Absent: `internalIp`.
   */
  listenAddress?: string;
}

/** An instance as the provider sees it now. */
export interface Instance extends InstanceRef {
  cluster: string;
  status: InstanceStatus;
  /** The address other replicas reach it on (etcd peer traffic, load-balancer targets). */
  internalIp: string;
  /** As in its InstanceNetwork; absent means the hostname is the instance name. */
  hostname?: string;
  /** As in its InstanceNetwork; absent means 0. */
  portOffset?: number;
  /** An address outside the network, when it has one (ephemeral unless the endpoint is attached). */
  externalIp?: string;
  labels: Readonly<Record<string, string>>;
  createdAt: Date;
  /**
   * Optional. `true` when the provider knows that the instance's data disk (its `rootDir`, where the
   * etcd data lives) exists and is handed over: `delete` with `keepDisk` keeps it and the next
   * `create` of the same name starts on it (the local provider keeps the replica's folder, GCE its
   * `-pd` disk). Then the
   * SDK can migrate the replica's etcd member (`hacp replace --keep-data`): it keeps its id and data,
   * and nothing is streamed. Absent or `false`: unknown, or not handed over; the SDK never migrates.
   */
  dataDiskIntact?: boolean;
}

export interface InstanceApi {
  /**
   * Chooses (or reserves, on a cloud) the network place of the instance `ref` will name, before it
   * is created. Idempotent by name: asking again returns the same. `create` uses it, and `delete`
   * frees it, also when the instance was never created. When it throws, nothing was allocated.
   * @throws HacpError ALREADY_EXISTS when that name is allocated to another cluster or zone.
   * @throws HacpError ZONE_INVALID for a zone the provider does not offer.
   */
  allocateNetwork(ref: InstanceRef & { cluster: string }, options: MutationOptions): Promise<InstanceNetwork>;
  /**
   * Creates the instance and starts its processes. Transactional: when it throws, the instance
   * does not exist (anything half-made was deleted). Creating one that exists with the same spec
   * returns it.
   * @throws HacpError ALREADY_EXISTS when an instance of that name exists with another cluster.
   * @throws HacpError ZONE_INVALID for a zone the provider does not offer.
   */
  create(spec: InstanceSpec, options: MutationOptions): Promise<Instance>;
  /** The instance, or undefined when it does not exist. */
  get(ref: InstanceRef, options?: ReadOptions): Promise<Instance | undefined>;
  /** Every instance labelled with the cluster, in every zone, sorted by name. */
  list(filter: { cluster: string }, options?: ReadOptions): Promise<Instance[]>;
  /**
   * Stops the processes and deletes the instance and its data disk. Deleting a missing instance is
   * fine. With `keepDisk`, the data disk stays, and so does the network place where the provider
   * allocates one (`allocateNetwork`), so that a create of the same name starts on both: the same
   * data, address and certificates (member migration, `recover`); a later delete without it frees
   * them. When it throws, the instance is assumed to still exist.
   */
  delete(ref: InstanceRef, options: MutationOptions & { keepDisk?: boolean }): Promise<void>;
  /**
   * Optional. Stops the instance, keeping it, its data disk and its network place (GCE's
   * `instances.stop`; the local provider stops its processes). Afterwards `get` says `stopped`.
   * Stopping a stopped instance is fine. When it throws, the instance may be stopped or not.
   * @throws HacpError NOT_FOUND when the instance does not exist.
   */
  stop?(ref: InstanceRef, options: MutationOptions): Promise<void>;
  /**
   * Optional. Starts a stopped instance again with its data disk, so that its etcd member comes
   * back with its data and identity (GCE's `instances.start`; the local provider starts every
   * process that does not run, those `stopProcesses` stopped too). Resolves once the provider
   * reports it `running`. Starting a running instance is fine and changes nothing. `repair` uses
   * it for an instance stopped by hand, the least change that brings the replica back; without it
   * such a replica is replaced. When it throws, the instance is as it was or running.
   * @throws HacpError NOT_FOUND when the instance does not exist; UNAVAILABLE (retryable) when its
   *   zone cannot start it now.
   */
  start?(ref: InstanceRef, options: MutationOptions): Promise<void>;
  /**
   * Optional. Stops the named processes of an instance gracefully (SIGTERM, then SIGKILL after the
   * process's `stopGraceSeconds`), keeping the instance and its other processes running: `remove`
   * stops a replica's kube-apiserver before its etcd member goes, so that nothing waits on a
   * removed member. Names the instance does not run, or processes already stopped, are fine.
   * Resolves once they have exited. @throws HacpError NOT_FOUND when the instance does not exist.
   */
  stopProcesses?(ref: InstanceRef, names: readonly string[], options: MutationOptions): Promise<void>;
  /**
   * Optional. Makes the files of a running instance under the folder `prefix` (relative to its
   * root, as NodeFile paths are) exactly `files`: writes new and changed ones with their modes,
   * removes the others there. Every path must start with `<prefix>/`. Used for add-on manifests,
   * which the replica's add-on manager re-reads on its own. Without it, an instance gets its files
   * only when created. @throws HacpError NOT_FOUND when the instance does not exist.
   */
  syncFiles?(
    ref: InstanceRef,
    update: { prefix: string; files: readonly NodeFile[] },
    options: MutationOptions,
  ): Promise<void>;
  /**
   * Optional. Before the instance `ref` names is created: puts a folder prepared on this machine
   * (`seed.from`) at `seed.path` (relative to the instance's root, as NodeFile paths are) on the data
   * disk that instance will be created with, replacing whatever is there. `recover` restores an etcd
   * backup with it. Without it, a backup cannot be restored onto a replica of this provider
   * (recovery from a surviving member still works). When it throws, nothing at `seed.path` is usable.
   * @throws HacpError CONFLICT when the instance exists; INVALID_ARGUMENT for a path outside its root.
   */
  seedData?(ref: InstanceRef, seed: { path: string; from: string }, options: MutationOptions): Promise<void>;
  /**
   * Optional. Writes these files of a running instance (paths relative to its root, as NodeFile
   * paths are), each replaced atomically with its mode where it differs, and leaves every other file
   * as it is: for files a process reads when it starts that sit beside others (the component
   * kubeconfigs at the root), which take effect when it restarts. `certs renew` uses it for those
   * kubeconfigs. Without it, such files change only when the instance is created.
   * @throws HacpError NOT_FOUND when the instance does not exist; INVALID_ARGUMENT for a file that
   *   is not a valid NodeConfig file (nothing is written then).
   */
  writeFiles?(ref: InstanceRef, files: readonly NodeFile[], options: MutationOptions): Promise<void>;
  /**
   * Optional. How the instance's latest boot goes, as far as the provider itself must see it before
   * the replica counts as started, beyond the NodeConfig's processes (whose health the SDK checks
   * itself): GCE reads its startup script's lines on the serial console, which end once the replica's
   * health endpoint answers. `wait-healthy` waits until nothing is pending, and the waits for a new
   * member to start ask it too, so a boot that failed ends the operation at once rather than at the
   * member-start bound. Without it, the processes alone say the replica started.
   * @throws HacpError UNAVAILABLE, not retryable, when the boot failed: the message quotes the
   *   boot's own error, the actions say where to read its log; NOT_FOUND when the instance does not
   *   exist. A retryable error is a read that may go better.
   */
  bootProgress?(ref: InstanceRef, options?: ReadOptions): Promise<BootProgress>;
}

/** What an instance's boot still has to do (InstanceApi.bootProgress). */
export interface BootProgress {
  /**
   * What the provider still waits for, each a phrase that completes "waiting for": `its health
   * endpoint (:8081/healthz) to answer`. Empty once the boot is done.
   */
  pending: string[];
}

/** Who holds the endpoint address now. */
export type AddressHolder =
  | { kind: 'instance'; instance: InstanceRef }
  | { kind: 'load-balancer'; name: string };

/** The cluster's reserved endpoint address. */
export interface Address {
  name: string;
  region: string;
  ip: string;
  /** Added to the standard ports where the address is shared (see InstanceNetwork); absent means 0. */
  portOffset?: number;
  /** Undefined while reserved and unattached. */
  holder?: AddressHolder;
  /**
   * False when the provider knows that nothing answers on the address although it is held (the
   * local provider: its HAProxy is not running). Absent when the provider cannot tell.
   */
  serving?: boolean;
}

export interface AddressRef {
  name: string;
  region: string;
}

export interface AddressApi {
  /**
   * Reserves a static address; reserving one that exists returns it. When it throws, nothing was
   * reserved.
   */
  reserve(ref: AddressRef, options: MutationOptions): Promise<Address>;
  /** The address, or undefined. */
  get(ref: AddressRef, options?: ReadOptions): Promise<Address | undefined>;
  /**
   * Releases the address. Only `down` calls it. Releasing a missing address is fine.
   * @throws HacpError CONFLICT while something holds it; nothing changes.
   */
  release(ref: AddressRef, options: MutationOptions): Promise<void>;
  /**
   * Attaches the address to an instance. Attaching it where it already is is fine.
   * @throws HacpError CONFLICT when another instance or a load balancer holds it; nothing changes.
   */
  attach(ref: AddressRef, instance: InstanceRef, options: MutationOptions): Promise<Address>;
  /**
   * Detaches it from whatever instance holds it; detaching a free address is fine. While a load
   * balancer holds it, nothing changes (delete the load balancer to free it), so that a resumed
   * VM-to-load-balancer move can repeat its detach.
   */
  detach(ref: AddressRef, options: MutationOptions): Promise<Address>;
}

/** How a load balancer decides a target is ready. */
export interface HealthCheck {
  protocol: 'http' | 'https' | 'tcp';
  port: number;
  /** For http(s): the path answering 200 when the replica is ready. */
  path?: string;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  healthyThreshold?: number;
  unhealthyThreshold?: number;
}

export interface LoadBalancerSpec {
  name: string;
  region: string;
  /** The reserved address (by name) the load balancer serves on; it takes it over. */
  address: string;
  /** The port clients connect to (the API's, 443 or 6443). */
  port: number;
  /** The target port on each instance; defaults to `port`. */
  targetPort?: number;
  healthCheck: HealthCheck;
  targets: readonly InstanceRef[];
}

export interface LoadBalancer extends LoadBalancerSpec {
  /** Health of each target as the provider sees it now. */
  targetHealth: readonly TargetHealth[];
  /**
   * False when the provider knows that the load balancer does not serve its address (the local
   * provider: its HAProxy is not running, or runs another configuration than this record; GCE: its
   * forwarding rule is gone, so it no longer holds the address). Absent when the provider cannot
   * tell. `ensure` with the same spec makes it serve again.
   */
  serving?: boolean;
}

/** One target's health as the load balancer's health check sees it. */
export interface TargetHealth {
  instance: InstanceRef;
  healthy: boolean;
}

export interface LoadBalancerApi {
  /**
   * Creates or updates the load balancer so it matches the spec, including taking over the address.
   * Each part is idempotent, so a call that failed half-way is completed by calling it again.
   * @throws HacpError CONFLICT when an instance still holds the address; detach it first.
   */
  ensure(spec: LoadBalancerSpec, options: MutationOptions): Promise<LoadBalancer>;
  /** The load balancer, or undefined. */
  get(ref: { name: string; region: string }, options?: ReadOptions): Promise<LoadBalancer | undefined>;
  /** Replaces the target set. @throws HacpError NOT_FOUND when there is no such load balancer. */
  setTargets(
    ref: { name: string; region: string },
    targets: readonly InstanceRef[],
    options: MutationOptions,
  ): Promise<LoadBalancer>;
  /** Deletes it and frees its address (still reserved). Deleting a missing one is fine. */
  delete(ref: { name: string; region: string }, options: MutationOptions): Promise<void>;
  /**
   * Optional. Builds everything `ensure` builds except what takes the address over (on GCE: the
   * health check and the target pool with the spec's targets, not the forwarding rule), while an
   * instance may still hold the address. The SDK calls it before it detaches the address from the
   * last VM, so that the gap of a VM-to-load-balancer move is only the detach and the take-over
   * (`ensure` with the same spec). Idempotent by name; a call that failed half-way is completed by
   * calling it, or `ensure`, again. Refusals change nothing.
   * @throws HacpError NOT_FOUND when the address or a target does not exist.
   * @throws HacpError CONFLICT when another load balancer holds the address.
   */
  prepare?(spec: LoadBalancerSpec, options: MutationOptions): Promise<void>;
  /**
   * Optional. Frees the address (on GCE: deletes only the forwarding rule) and keeps the rest of
   * the load balancer, so that a load-balancer-to-VM move can attach the address to the last VM
   * right away and delete the load balancer afterwards. Releasing an address the load balancer
   * does not hold, or of a missing load balancer, is fine. When it throws, the load balancer is
   * assumed to still hold the address.
   */
  releaseAddress?(ref: { name: string; region: string }, options: MutationOptions): Promise<void>;
  /**
   * Optional. Only the targets' health, read with the fewest calls the provider has (on GCE one
   * `targetPools.getHealth`), for a wait that polls it; undefined when there is no such load
   * balancer. Without it the SDK polls `get`.
   */
  health?(
    ref: { name: string; region: string },
    options?: ReadOptions,
  ): Promise<readonly TargetHealth[] | undefined>;
}

/** Traffic allowed between a cluster's replicas only (etcd peer and client ports). */
export interface FirewallRule {
  name: string;
  cluster: string;
  protocol: 'tcp' | 'udp';
  /** Single ports or ranges: `2379-2381`, `6443`. */
  ports: readonly string[];
  /** `replicas`: only from the cluster's replicas; `any`: from anywhere (the API port). */
  from: 'replicas' | 'any';
}

export interface FirewallApi {
  /** Creates or updates the rule to match. Idempotent. */
  ensure(rule: FirewallRule, options: MutationOptions): Promise<void>;
  /** Deletes the rule; deleting a missing rule is fine. */
  delete(name: string, options: MutationOptions): Promise<void>;
}

/** A local endpoint that reaches a replica's port: direct locally, a tunnel on a cloud. */
export interface Reach {
  host: string;
  port: number;
  /** Closes any tunnel; harmless when there is none. */
  close(): Promise<void>;
}

/**
 * How a provider runs a replica's Kubernetes programs (kube-apiserver, kube-controller-manager,
 * kube-scheduler, the add-on manager).
 * - `host`: as processes on this machine. The SDK finds (or downloads) the binaries of the
 *   cluster's version here and renders their absolute paths as NodeProcess commands.
 * - `images`: from the provider's own images of `NodeConfig.kubernetesVersion` (GCE's static pods).
 *   The SDK renders plain program names (`kube-apiserver`, `kube-addon-manager`).
 */
export interface ProviderKubernetesSupport {
  programs: 'host' | 'images';
}

/** The contract every provider implements. */
export interface ProviderV1 {
  readonly specificationVersion: 'v1';
  /** The provider's name as `--provider` takes it: `local`, `gce`, a plugin's name. */
  readonly name: string;
  /**
   * Optional. How it runs Kubernetes programs; a provider without it runs etcd only, and the SDK
   * makes etcd-only clusters on it (with a warning).
   */
  readonly kubernetes?: ProviderKubernetesSupport;
  zones: {
    /** The zones this provider can place replicas in. */
    list(options?: ReadOptions): Promise<ZoneInfo[]>;
  };
  state: StateStore;
  instances: InstanceApi;
  addresses: AddressApi;
  loadBalancers: LoadBalancerApi;
  firewalls: FirewallApi;
  /**
   * A host and port on this machine that reaches `port` on the instance.
   * @throws HacpError NOT_FOUND when the instance does not exist; UNAVAILABLE when it cannot be reached.
   */
  reach(instance: InstanceRef, port: number, options?: ReadOptions): Promise<Reach>;
  /**
   * Optional. Deletes what is left of a cluster once `down` has deleted what its record names (the
   * replicas it lists, the load balancer, the address, the firewall rules): every resource that
   * carries the cluster's label (`hacp-cluster=<cluster>`), and every resource named as the
   * provider names the cluster's own (kube-up's `<cluster>-master...` names on GCE), such as the
   * data disk and internal address of an instance someone deleted by hand. Never anything of
   * another cluster: names are matched exactly. Deleting nothing is fine. When it throws, what it
   * had not deleted yet is still there, and calling it again continues.
   * @returns what it deleted, each as `<kind>/<name>` (`disks/kubernetes-master-a1f-pd`), sorted.
   */
  deleteLeftovers?(cluster: { cluster: string; region: string }, options: MutationOptions): Promise<string[]>;
  /** Closes clients and tunnels. The provider is unusable afterwards. */
  close?(): Promise<void>;
}

/** What every provider factory receives besides its own settings. */
export interface ProviderBaseSettings {
  logger?: Logger;
}

/** A provider factory: `createLocalProvider(settings)`, `createGceProvider(settings)`. */
export type ProviderFactory<S extends ProviderBaseSettings = ProviderBaseSettings> = (
  settings: S,
) => ProviderV1 | Promise<ProviderV1>;

/** The methods a v1 provider must have, by group, for shape checks at plugin load. */
export const PROVIDER_V1_METHODS = {
  zones: ['list'],
  state: ['get', 'put', 'delete', 'list', 'lock'],
  instances: ['allocateNetwork', 'create', 'get', 'list', 'delete'],
  addresses: ['reserve', 'get', 'release', 'attach', 'detach'],
  loadBalancers: ['ensure', 'get', 'setTargets', 'delete'],
  firewalls: ['ensure', 'delete'],
} as const satisfies Record<string, readonly string[]>;

/**
 * What a value lacks to be a v1 provider: an empty list means it is one. Used to shape-check a
 * plugin at load and by the conformance kit.
 */
export function missingProviderV1Members(candidate: unknown): string[] {
  if (typeof candidate !== 'object' || candidate === null) return ['(not an object)'];
  const provider = candidate as Record<string, unknown>;
  const missing: string[] = [];
  if (provider.specificationVersion !== 'v1') missing.push("specificationVersion: 'v1'");
  if (typeof provider.name !== 'string' || provider.name.length === 0) missing.push('name');
  if (typeof provider.reach !== 'function') missing.push('reach');
  for (const [group, methods] of Object.entries(PROVIDER_V1_METHODS)) {
    const part = provider[group] as Record<string, unknown> | undefined;
    for (const method of methods) {
      if (typeof part?.[method] !== 'function') missing.push(`${group}.${method}`);
    }
  }
  return missing;
}
