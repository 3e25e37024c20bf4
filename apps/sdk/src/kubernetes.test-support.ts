/**
 * Test support for the suites that run the real Kubernetes binaries: a local world whose control
 * plane runs them, the Kubernetes API through the endpoint, a continuous /readyz probe, and a
 * Node plus Deployments to show that the controllers and the scheduler work.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { KubernetesBinarySource } from '@hacp/kubernetes-release';
import { createLocalProvider, type LocalProvider } from '@hacp/provider-local';
import { testKubernetesBinaries } from '@hacp/testkit';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createControlPlane } from './control-plane.js';
import type { ControlPlane, ControlPlaneEvent } from './types.js';

/** The binaries of a version for the SDK (their folder as HACP_KUBE_BIN_DIR), or why they cannot be had. */
export async function kubernetesTestSource(
  spec: string,
): Promise<{ version: string; source: KubernetesBinarySource; skip?: undefined } | { skip: string }> {
  const found = await testKubernetesBinaries(spec);
  if (found.skip !== undefined) return { skip: found.skip };
  return {
    version: found.binaries.version,
    source: {
      binDir: dirname(found.binaries.paths['kube-apiserver']),
      // Versions resolve through the test location (never the official one); binaries come from binDir.
      cacheDir: join(tmpdir(), 'hacp-sdk-test-cache-unused'),
      releaseUrl: process.env.HACP_KUBE_RELEASE_URL as string,
    },
  };
}

export interface TimedEvent {
  at: number;
  event: ControlPlaneEvent;
}

export interface KubernetesWorld {
  stateDir: string;
  dataDir: string;
  provider: LocalProvider;
  controlPlane: ControlPlane;
  events: TimedEvent[];
  cleanup(): Promise<void>;
}

/**
 * A local provider and a control plane that runs `source`'s Kubernetes, in a fresh state folder;
 * `addonManagerProgram` and `healthyMs` go to createControlPlane.
 */
export async function kubernetesWorld(
  source: KubernetesBinarySource,
  options: { cluster?: string; addonManagerProgram?: string; healthyMs?: number } = {},
): Promise<KubernetesWorld> {
  const cluster = options.cluster ?? 'kubernetes';
  const stateDir = await mkdtemp(join(process.env.HACP_LOCAL_TEST_ROOT ?? tmpdir(), 'hacp-k8s-'));
  const provider = createLocalProvider({ stateDir });
  const dataDir = join(stateDir, 'clusters', cluster);
  const events: TimedEvent[] = [];
  const controlPlane = createControlPlane({
    provider,
    dataDir,
    cluster,
    kubernetesBinaries: source,
    onEvent: (event) => events.push({ at: Date.now(), event }),
    timeouts: { drain: 1000, ...(options.healthyMs === undefined ? {} : { healthy: options.healthyMs }) },
    ...(options.addonManagerProgram === undefined
      ? {}
      : { addonManagerProgram: options.addonManagerProgram }),
  });
  return {
    stateDir,
    dataDir,
    provider,
    controlPlane,
    events,
    cleanup: async () => {
      for (const zone of await provider.failedZones().catch(() => [])) {
        await provider.restoreZone(zone).catch(() => undefined);
      }
      await controlPlane.down().catch(() => undefined);
      await controlPlane.close();
      for (const instance of await provider.instances.list({ cluster }).catch(() => [])) {
        await provider.instances
          .delete(instance, { requestId: `cleanup-${instance.name}` })
          .catch(() => undefined);
      }
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** The Kubernetes API of a kubeconfig file (the admin one `up` writes, through the endpoint). */
export function kubeApi(kubeconfigPath: string) {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    coordination: config.makeApiClient(CoordinationV1Api),
  };
}

/** GET `path` on the kubeconfig's server with its credentials: the status code and body. */
export async function getRaw(config: KubeConfig, path: string): Promise<{ status: number; body: string }> {
  const server = config.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('the kubeconfig names no server');
  const options: Record<string, unknown> = {};
  await config.applyToHTTPSOptions(options);
  const url = new URL(path, server);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...options,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: 'GET',
        timeout: 2000,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out after 2 s')));
    req.on('error', reject);
    req.end();
  });
}

/** `kubectl get --raw /readyz`: the body, or the error's message. */
export async function readyz(config: KubeConfig): Promise<string> {
  try {
    const { status, body } = await getRaw(config, '/readyz');
    return status === 200 ? body : `HTTP ${status}: ${body.slice(0, 200)}`;
  } catch (error) {
    return (error as Error).message;
  }
}

export interface ProbeFailure {
  at: number;
  message: string;
}

/**
 * A /readyz probe through the endpoint every 100 ms, until stopped; with a function, the KubeConfig
 * is had anew for each request (a kubeconfig file that hacp rewrites meanwhile).
 */
export function startReadyzProbe(config: KubeConfig | (() => Promise<KubeConfig>)): {
  stop(): Promise<{ startedAt: number; requests: number; failures: ProbeFailure[] }>;
} {
  const startedAt = Date.now();
  let running = true;
  let requests = 0;
  const failures: ProbeFailure[] = [];
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const answer = await (typeof config === 'function' ? config() : Promise.resolve(config)).then(
        readyz,
        (error: Error) => `no KubeConfig: ${error.message}`,
      );
      requests += 1;
      if (answer !== 'ok') failures.push({ at: started, message: answer });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { startedAt, requests, failures };
    },
  };
}

/** The windows in which an address-move step ran (from the control plane's events). */
export function addressMoveWindows(
  events: readonly TimedEvent[],
): { step: string; from: number; to: number }[] {
  const windows: { step: string; from: number; to: number }[] = [];
  for (const started of events) {
    const event = started.event;
    if (event.type !== 'step-started' || !event.step.startsWith('move-address-')) continue;
    const done = events.find(
      (entry) =>
        entry.at >= started.at && entry.event.type === 'step-done' && entry.event.step === event.step,
    );
    windows.push({ step: event.step, from: started.at, to: done?.at ?? Number.POSITIVE_INFINITY });
  }
  return windows;
}

/** A Node as a kubelet would register it, Ready, with room for pods (no kubelet runs here). */
export async function createReadyNode(core: CoreV1Api, name: string): Promise<void> {
  const now = new Date();
  await core.createNode({
    body: {
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'hacp test node',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
        capacity: { cpu: '8', memory: '16Gi', pods: '110' },
        allocatable: { cpu: '8', memory: '16Gi', pods: '110' },
      },
    },
  });
}

/** A Deployment of `replicas` pause pods. */
export async function createDeployment(apps: AppsV1Api, name: string, replicas: number): Promise<void> {
  await apps.createNamespacedDeployment({
    namespace: 'default',
    body: {
      metadata: { name },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.9' }] },
        },
      },
    },
  });
}

/** The Deployment's pods, with whether each was scheduled. */
export async function podsOf(core: CoreV1Api, name: string): Promise<{ name: string; node?: string }[]> {
  const list = await core.listNamespacedPod({ namespace: 'default', labelSelector: `app=${name}` });
  return list.items.map((pod) => ({
    name: pod.metadata?.name ?? '',
    ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
  }));
}
