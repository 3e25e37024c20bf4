import type {
  InstanceRef,
  Logger,
  MutationOptions,
  NodeFile,
  ProviderBaseSettings,
  ProviderV1,
} from '@hacp/core';
import {
  createProcessProvider,
  findProgram,
  fixedZones,
  type ProcessLoadBalancerApi,
  type ProcessState,
} from '@hacp/core/provider-kit';
import { createLocalContext } from './context.js';
import { haproxyEndpointDriver } from './endpoint.js';
import { createFailedZones, LOCAL_ZONES } from './zones.js';

/** Settings of createLocalProvider. */
export interface LocalProviderSettings extends ProviderBaseSettings {
  /** The state folder. Default `HACP_STATE_DIR`, else `$XDG_STATE_HOME/hacp`, else `~/.local/state/hacp`. */
  stateDir?: string;
  /** The etcd program. Default `etcd` on PATH (Debian package etcd-server). */
  etcdBinary?: string;
  /** The HAProxy program. Default `haproxy` on PATH or in /usr/sbin (Debian package haproxy). */
  haproxyBinary?: string;
  logger?: Logger;
  /**
   * Give each replica and endpoint its own loopback address (127.x.y.z) with the standard ports.
   * Default: on Linux, where all of 127.0.0.0/8 is local. `false`: everything on 127.0.0.1 with a
   * port offset per replica.
   */
  loopbackAliases?: boolean;
  /** How long a started process must stay up to count as started. Default 500 ms. */
  startGraceMs?: number;
  /** How long a stopping process gets before SIGKILL, unless its NodeProcess gives stopGraceSeconds. Default 10 s. */
  stopGraceMs?: number;
  /** Where HACP_STATE_DIR, XDG_STATE_HOME and PATH are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** One process of a replica as `processes()` reports it. */
export type LocalProcessState = ProcessState;

/** The local provider: Provider contract v1 plus what only a local machine can do. */
export interface LocalProvider extends ProviderV1 {
  readonly name: 'local';
  /** The state folder in use. */
  readonly stateDir: string;
  /**
   * Replicas run the Kubernetes programs as processes on this machine: the SDK finds (or downloads)
   * them and renders their absolute paths.
   */
  readonly kubernetes: { programs: 'host' };
  /** The programs found: etcd for the replicas, HAProxy for the endpoint. */
  readonly binaries: { etcd?: string; haproxy?: string };
  /** Whether each replica runs under its own hostname (Linux, root: its own UTS namespace). */
  readonly ownHostnames: boolean;
  /** Whether each replica has its own loopback address (else a port offset on 127.0.0.1). */
  readonly loopbackAliases: boolean;
  instances: ProviderV1['instances'] & {
    stop(ref: InstanceRef, options: MutationOptions): Promise<void>;
    /**
     * Starts every process of the instance that does not run (also those stopProcesses stopped).
     * In every load balancer that targets it, the instance is marked DOWN first, so it gets traffic
     * again only after its health check passes `healthyThreshold` times.
     */
    start(ref: InstanceRef, options: MutationOptions): Promise<void>;
    /**
     * Stops the named processes (in reverse order, each with its stopGraceSeconds) and records them
     * as stopped on purpose: the status stays `running` while the others run. `start`,
     * `restoreZone` start them again. Unknown or stopped names are fine.
     * @throws HacpError NOT_FOUND when the instance does not exist; ABORTED on `signal` (a repeat finishes).
     */
    stopProcesses(ref: InstanceRef, names: readonly string[], options: MutationOptions): Promise<void>;
    /**
     * Makes `<rootDir>/<prefix>/` hold exactly `files`, each written atomically with its mode, in
     * 0700 folders; others there are removed. Works while the instance is stopped.
     * @throws HacpError INVALID_ARGUMENT for a path outside `<prefix>/` (nothing written); NOT_FOUND
     *   when the instance does not exist.
     */
    syncFiles(
      ref: InstanceRef,
      update: { prefix: string; files: readonly NodeFile[] },
      options: MutationOptions,
    ): Promise<void>;
    /**
     * Copies the folder `seed.from` to `<rootDir>/<seed.path>` of an instance not created yet (its
     * disk kept by `delete` with `keepDisk`, or a new one), replacing what is there.
     * @throws HacpError CONFLICT when the instance exists; INVALID_ARGUMENT for a path outside its root.
     */
    seedData(ref: InstanceRef, seed: { path: string; from: string }, options: MutationOptions): Promise<void>;
  };
  /** The load balancers, with `health` (the targets' health from HAProxy's stats socket). */
  loadBalancers: ProcessLoadBalancerApi;
  /**
   * Stops every process of every replica in the zone (as a zone outage would) and refuses new
   * instances there until restoreZone. Replicas stopped on their own stay stopped on restore.
   */
  failZone(zone: string, options?: { signal?: AbortSignal }): Promise<string[]>;
  /** Starts again every replica that failZone stopped, and allows the zone again. */
  restoreZone(zone: string, options?: { signal?: AbortSignal }): Promise<string[]>;
  /** The zones failZone failed and restoreZone has not restored. */
  failedZones(): Promise<string[]>;
  /** The processes of an instance, with pids and logs. @throws HacpError NOT_FOUND */
  processes(ref: InstanceRef): Promise<LocalProcessState[]>;
}

/**
 * Creates the local provider: each replica is a set of detached processes (etcd and the Kubernetes
 * control plane, as the NodeConfig says) on its own loopback address, the endpoint is HAProxy on
 * another, and the state is a 0700 folder. Everything it starts outlives the process that created
 * it, until deleted. It is `@hacp/core/provider-kit`'s process cloud with HAProxy as its endpoint,
 * the local zones, and zone failures.
 *
 * @example
 * const provider = createLocalProvider({ stateDir: '/tmp/hacp-state' });
 * const [zone] = await provider.zones.list();
 *
 * @throws HacpError DEPENDENCY_MISSING when `etcdBinary` or `haproxyBinary` is given and does not
 *   exist or is not executable.
 */
export function createLocalProvider(settings: LocalProviderSettings = {}): LocalProvider {
  const context = createLocalContext(settings);
  const { cloud, binaries, env } = context;
  const zones = createFailedZones(context, () => instances);
  const { groups, instances } = createProcessProvider({
    cloud,
    networks: context.networks,
    endpoint: haproxyEndpointDriver(binaries.haproxy),
    // `etcd` is the etcd binary found; the SDK renders the Kubernetes programs as absolute paths.
    resolveProgram: (command, root) =>
      command === 'etcd' ? binaries.etcd : findProgram(command, { cwd: root, path: env.PATH ?? '' }),
    ...(context.hostnameSupport ? { ownHostnames: context.hostnameSupport } : {}),
    startCheckMs: context.startGraceMs,
    stopGraceMs: context.stopGraceMs,
    assertZoneUp: (zone) => zones.assertUp(zone),
  });

  return {
    specificationVersion: 'v1',
    name: 'local',
    kubernetes: { programs: 'host' },
    stateDir: cloud.stateDir,
    binaries,
    ownHostnames: context.hostnameSupport !== undefined,
    loopbackAliases: context.loopbackAliases,
    zones: {
      // A zone `failZone` failed is `down`: its replicas were stopped by the outage, not by hand.
      async list(options) {
        const [offered, failed] = await Promise.all([fixedZones(LOCAL_ZONES).list(options), zones.list()]);
        return offered.map((zone) =>
          failed.includes(zone.name) ? { ...zone, status: 'down' as const } : zone,
        );
      },
    },
    ...groups,
    failZone: (zone, options) => zones.fail(zone, options),
    restoreZone: (zone, options) => zones.restore(zone, options),
    failedZones: () => zones.list(),
    async processes(ref) {
      cloud.assertRef(ref);
      return instances.processes(ref);
    },
  };
}
