/**
 * The health of a replica's Kubernetes components, asked of each directly through the provider's
 * `reach`: kube-apiserver's `/readyz` (its serving certificate checked against the cluster CA),
 * kube-controller-manager's and kube-scheduler's `/healthz` (self-signed serving certificates).
 */
import { request } from 'node:https';
import type { Instance, ProviderV1 } from '@hacp/core';
import type { ComponentHealth, KubernetesComponentsStatus as KubernetesHealth } from '../types.js';
import { KUBERNETES_PORTS } from './components.js';

const PROBE_TIMEOUT_MS = 3000;

/** One GET over https; its status code, or undefined when nothing answered in time. */
export function httpsStatus(options: {
  host: string;
  port: number;
  path: string;
  /** Verify the server against this CA (names are not checked: the host may be a tunnel's). */
  caPem?: string;
  signal?: AbortSignal;
}): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: options.host,
        port: options.port,
        path: options.path,
        method: 'GET',
        timeout: PROBE_TIMEOUT_MS,
        ...(options.caPem === undefined
          ? { rejectUnauthorized: false }
          : { ca: options.caPem, checkServerIdentity: () => undefined }),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (response) => {
        response.resume();
        resolve(response.statusCode);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

async function probe(
  provider: ProviderV1,
  instance: Instance,
  port: number,
  path: string,
  caPem: string | undefined,
  signal?: AbortSignal,
): Promise<ComponentHealth> {
  let reach: Awaited<ReturnType<ProviderV1['reach']>>;
  try {
    reach = await provider.reach(instance, port, signal ? { signal } : {});
  } catch {
    return 'unreachable';
  }
  try {
    const status = await httpsStatus({
      host: reach.host,
      port: reach.port,
      path,
      ...(caPem === undefined ? {} : { caPem }),
      ...(signal ? { signal } : {}),
    });
    if (status === undefined) return 'unreachable';
    return status === 200 ? 'ok' : 'failing';
  } finally {
    await reach.close().catch(() => undefined);
  }
}

/** Asks the replica's three components, at once. */
export async function kubernetesHealth(options: {
  provider: ProviderV1;
  instance: Instance;
  caPem: string;
  signal?: AbortSignal;
}): Promise<KubernetesHealth> {
  const { provider, instance, caPem, signal } = options;
  const [apiserver, controllerManager, scheduler] = await Promise.all([
    probe(provider, instance, KUBERNETES_PORTS.apiserver, '/readyz', caPem, signal),
    probe(provider, instance, KUBERNETES_PORTS.controllerManager, '/healthz', undefined, signal),
    probe(provider, instance, KUBERNETES_PORTS.scheduler, '/healthz', undefined, signal),
  ]);
  return { apiserver, controllerManager, scheduler };
}

/** What is not yet ok, for a wait's progress message; empty when all are. */
export function notReady(health: KubernetesHealth): string[] {
  const names: Record<keyof KubernetesHealth, string> = {
    apiserver: 'kube-apiserver /readyz',
    controllerManager: 'kube-controller-manager /healthz',
    scheduler: 'kube-scheduler /healthz',
  };
  return (Object.keys(names) as (keyof KubernetesHealth)[])
    .filter((key) => health[key] !== 'ok')
    .map((key) => `${names[key]} ${health[key]}`);
}
