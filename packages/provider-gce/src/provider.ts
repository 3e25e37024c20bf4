import {
  assertPort,
  ErrorCode,
  HacpError,
  invalidArgument,
  type LoadBalancerApi,
  type Logger,
  type MutationOptions,
  type ProviderBaseSettings,
  type ProviderV1,
  resolveLogger,
  throwIfAborted,
} from '@hacp/core';
import { type AuthClient, GoogleAuth, PassThroughClient } from 'google-auth-library';
import { createGceAddresses } from './addresses.js';
import { type ComputeClientOptions, createComputeSession, type RetrySettings } from './compute.js';
import { createZoneCatalog, type GceContext, type ReachMode, type ResolvedGceSettings } from './context.js';
import { createGceFirewalls } from './firewalls.js';
import { assertInstanceRef, createGceInstances, type GceInstanceApi } from './instances.js';
import { createGceLeftovers } from './leftovers.js';
import { createGceLoadBalancers } from './load-balancers.js';
import { createTunnels, findGcloud, type Tunnels } from './reach.js';
import {
  assertImageHasContainerRuntime,
  assertRegistryMirrors,
  assertReplicaImages,
  DEFAULT_REGISTRY_MIRRORS,
  normalizeKubernetesVersion,
  type RegistryMirrors,
  type ReplicaImages,
} from './startup/index.js';
import { createMetadataStateStore } from './state-store.js';

/** The Kubernetes version replicas run when the settings name none. */
export const DEFAULT_KUBERNETES_VERSION = '1.31.4';

/** Settings of createGceProvider. */
export interface GceProviderSettings extends ProviderBaseSettings {
  /** The project id, as `gcloud projects list` shows it. */
  project: string;
  /** Only zones of this region are offered; a zone elsewhere is ZONE_NOT_IN_REGION. Default: any. */
  region?: string;
  /** The VPC network. Default `default`. */
  network?: string;
  /** The subnetwork of each region. Default: the network's name (auto-mode networks). */
  subnetwork?: string;
  /**
   * The credentials: a google-auth-library AuthClient (or GoogleAuth). Default: Application
   * Default Credentials (`new GoogleAuth({ scopes: cloud-platform })`); against a plain-http
   * endpoint, none (a PassThroughClient), so that credentials never travel unencrypted.
   */
  authClient?: AuthClient | GoogleAuth;
  /** Spread into every Compute client: `apiEndpoint`, `port`, `protocol`, `fallback`, ... */
  clientOptions?: ComputeClientOptions;
  /**
   * Another Compute API endpoint as a URL, such as `http://127.0.0.1:8089` (the testkit's Compute
   * API server): sets `apiEndpoint`, `port` and `protocol` of the clients; `clientOptions` win.
   */
  apiEndpoint?: string;
  logger?: Logger;
  /** Default `e2-standard-2` (kube-up's master size for up to 10 nodes). */
  machineType?: string;
  /** The data disk's type. Default `pd-ssd` (kube-up's MASTER_DISK_TYPE). */
  diskType?: string;
  /** The data disk's size. Default 20 (kube-up's MASTER_DISK_SIZE). */
  diskSizeGb?: number;
  /**
   * The boot image. Default `projects/cos-cloud/global/images/family/cos-stable` (kube-up's). It
   * must have containerd: Container-Optimized OS or a GKE Ubuntu image (`ubuntu-os-gke-cloud`);
   * Debian, CentOS, Rocky, RHEL, SUSE, Windows and plain Ubuntu images are refused.
   */
  image?: string;
  /**
   * The Kubernetes version of a replica whose NodeConfig names none (an etcd-only one still needs a
   * kubelet). `NodeConfig.kubernetesVersion`, the cluster's recorded one, wins. Default 1.31.4.
   */
  kubernetesVersion?: string;
  /**
   * Other images for the replicas' programs (a mirror, or a registry with CI builds): etcd,
   * kubeApiserver, kubeControllerManager, kubeScheduler, addonManager, health. Default: the
   * official ones (`registry.k8s.io/<program>:<version's tag>`, README).
   */
  images?: ReplicaImages;
  /**
   * containerd's registry mirrors on every replica: registry host → mirrors (URLs or host names,
   * tried in order before the registry), written as `/etc/containerd/certs.d/<registry>/hosts.toml`
   * (containerd's mirror model, as kube-up and kops write it). Default kube-up's,
   * `{ 'docker.io': ['https://mirror.gcr.io'] }`; `{}` for none.
   */
  registryMirrors?: Record<string, readonly string[]>;
  /** How hacp reaches replicas: `iap` (default), `ssh` (through IAP) or `direct` (hacp runs in the VPC). */
  reach?: ReachMode;
  /** The gcloud program for `iap` and `ssh`. Default: `gcloud` on PATH. */
  gcloud?: string;
  /** Retries of retryable API failures. Default `{ attempts: 5, baseDelayMs: 500 }`. */
  retry?: Partial<RetrySettings>;
  /**
   * How long a read of an instance (by `instances.list` or `get`) answers the provider's own
   * look-ups of the same instance (its internal IP for `reach`, a load balancer's targets), unless
   * this provider changed the instance since: right after the SDK lists a cluster, reaching its
   * replicas reads nothing again. The contract's `get` and `list` always ask the API. Default 2000;
   * 0 reads every time.
   */
  reuseReadsForMs?: number;
}

/** The GCE provider: Provider contract v1, with the optional members it has. */
export interface GceProvider extends ProviderV1 {
  readonly name: 'gce';
  /** Replicas run the Kubernetes programs from images of `NodeConfig.kubernetesVersion`, as static pods. */
  readonly kubernetes: { readonly programs: 'images' };
  /** The settings in use, with their defaults (no credentials). */
  readonly settings: Readonly<ResolvedGceSettings>;
  readonly instances: GceInstanceApi;
  readonly loadBalancers: Required<LoadBalancerApi>;
  /**
   * Deletes what is left of a cluster: instances, data disks and addresses with its label, and the
   * forwarding rule, target pool, health check, firewall rules and addresses named as kube-up
   * names the cluster's (`<cluster>-master...`, matched whole). Returns them as `<kind>/<name>`.
   */
  deleteLeftovers(cluster: { cluster: string; region: string }, options: MutationOptions): Promise<string[]>;
  close(): Promise<void>;
}

const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const REACH_MODES: readonly ReachMode[] = ['iap', 'ssh', 'direct'];
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

function endpointOptions(apiEndpoint: string | undefined): ComputeClientOptions {
  if (apiEndpoint === undefined) return {};
  let url: URL;
  try {
    url = new URL(apiEndpoint);
  } catch {
    throw invalidArgument({
      field: 'apiEndpoint',
      value: apiEndpoint,
      message: `apiEndpoint "${apiEndpoint}" is not a URL such as http://127.0.0.1:8089.`,
    });
  }
  const protocol = url.protocol.replace(/:$/, '');
  if (protocol !== 'http' && protocol !== 'https') {
    throw invalidArgument({
      field: 'apiEndpoint',
      value: apiEndpoint,
      message: 'apiEndpoint must be an http or https URL.',
    });
  }
  return {
    apiEndpoint: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? (protocol === 'http' ? 80 : 443) : Number(url.port),
    protocol,
  };
}

function resolveSettings(settings: GceProviderSettings): ResolvedGceSettings {
  if (typeof settings?.project !== 'string' || !PROJECT_ID.test(settings.project)) {
    throw invalidArgument({
      field: 'project',
      value: String(settings?.project),
      message: `"${String(settings?.project)}" is not a GCE project id: 6-30 lowercase letters, digits and dashes, starting with a letter.`,
      actions: ['Pass the project id (not its name or number), as `gcloud projects list` shows it.'],
    });
  }
  const reach = settings.reach ?? 'iap';
  if (!REACH_MODES.includes(reach)) {
    throw invalidArgument({
      field: 'reach',
      value: String(reach),
      message: 'reach must be iap, ssh or direct.',
    });
  }
  const diskSizeGb = settings.diskSizeGb ?? 20;
  if (!Number.isInteger(diskSizeGb) || diskSizeGb < 10 || diskSizeGb > 65_536) {
    throw invalidArgument({
      field: 'diskSizeGb',
      value: diskSizeGb,
      message: 'diskSizeGb must be a whole number from 10 to 65536.',
    });
  }
  const attempts = settings.retry?.attempts ?? 5;
  const baseDelayMs = settings.retry?.baseDelayMs ?? 500;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw invalidArgument({
      field: 'retry.attempts',
      value: attempts,
      message: 'retry.attempts must be a whole number from 1.',
    });
  }
  if (!(baseDelayMs > 0)) {
    throw invalidArgument({
      field: 'retry.baseDelayMs',
      value: baseDelayMs,
      message: 'retry.baseDelayMs must be more than 0.',
    });
  }
  const reuseReadsForMs = settings.reuseReadsForMs ?? 2000;
  if (!Number.isInteger(reuseReadsForMs) || reuseReadsForMs < 0) {
    throw invalidArgument({
      field: 'reuseReadsForMs',
      value: reuseReadsForMs,
      message: 'reuseReadsForMs must be a whole number of milliseconds from 0.',
    });
  }
  const network = settings.network ?? 'default';
  assertReplicaImages(settings.images ?? {});
  const image = settings.image ?? 'projects/cos-cloud/global/images/family/cos-stable';
  assertImageHasContainerRuntime(image);
  const registryMirrors: RegistryMirrors = assertRegistryMirrors(
    settings.registryMirrors ?? DEFAULT_REGISTRY_MIRRORS,
  );
  return {
    project: settings.project,
    ...(settings.region === undefined ? {} : { region: settings.region }),
    network,
    subnetwork: settings.subnetwork ?? network,
    machineType: settings.machineType ?? 'e2-standard-2',
    diskType: settings.diskType ?? 'pd-ssd',
    diskSizeGb,
    image,
    kubernetesVersion: normalizeKubernetesVersion(settings.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION),
    images: { ...settings.images },
    registryMirrors,
    reach,
    ...(settings.gcloud === undefined ? {} : { gcloud: settings.gcloud }),
    retry: { attempts, baseDelayMs },
    reuseReadsForMs,
  };
}

/**
 * Creates the GCE provider: replicas as VMs with kube-up's names (`<cluster>-master[-xyz]`, a data
 * disk `<vm>-pd` kept across replacements), the endpoint as a regional static address that moves
 * to a health-checked target pool and back, firewall rules by network tag, the state in project
 * metadata. Every mutating call carries a GCE request id derived from the contract's, and waits
 * for its operation. No API call is made until a method is called.
 *
 * @example
 * const provider = createGceProvider({ project: 'my-project', region: 'europe-west1', reach: 'iap' });
 * const zones = await provider.zones.list();
 * await provider.close();
 *
 * @throws HacpError INVALID_ARGUMENT for a malformed project id, reach, disk size, retry, endpoint,
 *   Kubernetes version, image or read reuse, a registry mirror that is not a URL or host name, and
 *   a boot image without a container runtime (Debian, ...); nothing is made.
 */
export function createGceProvider(settings: GceProviderSettings): GceProvider {
  const resolved = resolveSettings(settings);
  const logger = resolveLogger(settings.logger);
  const clientOptions: ComputeClientOptions = {
    ...endpointOptions(settings.apiEndpoint),
    ...settings.clientOptions,
  };
  if (resolved.region !== undefined && !/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(resolved.region)) {
    throw invalidArgument({
      field: 'region',
      value: resolved.region,
      message: `"${resolved.region}" is not a region name such as europe-west1.`,
    });
  }
  // Credentials never go over plain http: a plain-http endpoint is a local test server.
  const plainHttp = String(clientOptions.protocol ?? 'https').replace(/:$/, '') === 'http';
  const authClient =
    settings.authClient ??
    (plainHttp ? new PassThroughClient() : new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] }));
  const session = createComputeSession({
    project: resolved.project,
    clientOptions,
    authClient,
    retry: resolved.retry,
    logger,
  });
  const context: GceContext = {
    session,
    settings: resolved,
    logger,
    zones: createZoneCatalog({ session, region: resolved.region }),
    networkUrl: `projects/${resolved.project}/global/networks/${resolved.network}`,
    subnetworkUrl: (region) =>
      `projects/${resolved.project}/regions/${region}/subnetworks/${resolved.subnetwork}`,
    mutation: (call, scope, options) => ({
      call,
      scope,
      requestId: options.requestId,
      signal: options.signal,
      ...('zone' in scope ? { zone: scope.zone } : {}),
      ...('region' in scope ? { region: scope.region } : {}),
    }),
  };
  const instances = createGceInstances(context);
  const addresses = createGceAddresses(context, instances);
  const firewalls = createGceFirewalls(context);
  const loadBalancers = createGceLoadBalancers(context, { instances, addresses, firewalls });
  const deleteLeftovers = createGceLeftovers(context, {
    instances,
    firewalls,
    deleteLoadBalancer: (ref, options) => loadBalancers.delete(ref, options),
  });
  let tunnels: Tunnels | undefined;

  return {
    specificationVersion: 'v1',
    name: 'gce',
    kubernetes: Object.freeze({ programs: 'images' as const }),
    settings: Object.freeze({
      ...resolved,
      images: { ...resolved.images },
      registryMirrors: { ...resolved.registryMirrors },
      retry: { ...resolved.retry },
    }),
    zones: {
      async list(options) {
        throwIfAborted(options?.signal);
        return context.zones.list(options?.signal);
      },
    },
    state: createMetadataStateStore({ session, logger }),
    instances: instances.api,
    addresses: addresses.api,
    loadBalancers,
    firewalls: firewalls.api,
    deleteLeftovers,

    async reach(ref, port, options) {
      assertInstanceRef(ref);
      assertPort('port', port);
      throwIfAborted(options?.signal);
      if (resolved.reach !== 'direct') {
        // The tunnel's prerequisites before any API call: without gcloud, nothing else matters.
        findGcloud(resolved.gcloud);
        tunnels ??= createTunnels({
          mode: resolved.reach,
          project: resolved.project,
          gcloud: resolved.gcloud,
          logger,
        });
      }
      // Only the internal IP is needed, which an instance keeps for its life: a read made a moment
      // ago (the SDK lists the cluster, then reaches each replica) answers.
      const instance = await instances.look(ref, options?.signal);
      if (instance === undefined) {
        throw new HacpError({
          code: ErrorCode.NOT_FOUND,
          message: `There is no instance ${ref.name} in ${ref.zone}.`,
          details: { name: ref.name, zone: ref.zone },
        });
      }
      const internalIp = instance.networkInterfaces?.[0]?.networkIP ?? '';
      if (resolved.reach === 'direct' || tunnels === undefined) {
        return { host: internalIp, port, close: async () => undefined };
      }
      return tunnels.open({ name: ref.name, zone: ref.zone, internalIp }, port, options?.signal);
    },

    async close() {
      await tunnels?.closeAll();
      await session.close();
    },
  };
}
