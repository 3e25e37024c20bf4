/**
 * The cluster's own Kubernetes API, with its admin credentials from the PKI: through the endpoint
 * address (what users reach), or straight to one replica's apiserver through the provider's `reach`
 * (before the address is attached, or to ask that replica alone). The Kubernetes client is loaded
 * only when used: it costs every command about 0.4 s.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type ClusterPki, clientKubeconfig } from '@hacp/certs';
import { type Address, ErrorCode, HacpError, type Instance, type ProviderV1, type Reach } from '@hacp/core';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeconfig } from '../leases.js';
import type { ClusterRecord } from '../record.js';
import { KUBERNETES_PORTS } from './components.js';

const kubernetes = () => import('@kubernetes/client-node');

/** The endpoint's API URL: the address on the apiserver port (plus the address's port offset). */
export function endpointServer(address: Pick<Address, 'ip' | 'portOffset'>): string {
  return `https://${address.ip}:${KUBERNETES_PORTS.apiserver + (address.portOffset ?? 0)}`;
}

/** The admin kubeconfig's file in the cluster's data folder, where `hacp up` writes it. */
export const ADMIN_KUBECONFIG = 'admin.conf';

/**
 * The admin kubeconfig for the cluster's endpoint from `pki` and, given a path, written there 0600
 * (folders 0700): what `hacp up` and `hacp kubeconfig` write, and a cluster CA rotation rewrites.
 */
export async function adminKubeconfigFile(options: {
  provider: ProviderV1;
  record: ClusterRecord;
  pki: ClusterPki;
  path?: string;
  signal?: AbortSignal;
}): Promise<{ server: string; contents: string }> {
  const address = await requireEndpointAddress(options.provider, options.record, options.signal);
  const server = endpointServer(address);
  const contents = clientKubeconfig(options.pki, { server, client: 'admin' });
  if (options.path !== undefined) {
    const target = resolve(options.path);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    // Replaced whole: kubectl reading it while a CA rotation rewrites it never sees half a file.
    const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, contents, { mode: 0o600, flag: 'wx' });
      await chmod(temporary, 0o600);
      await rename(temporary, target);
    } finally {
      await rm(temporary, { force: true });
    }
  }
  return { server, contents };
}

/** The admin KubeConfig for `server`, in memory (the key never touches a file here). */
export async function adminKubeConfig(pki: ClusterPki, server: string): Promise<KubeConfig> {
  const { KubeConfig } = await kubernetes();
  const config = new KubeConfig();
  config.loadFromString(clientKubeconfig(pki, { server, client: 'admin' }));
  return config;
}

/** The admin KubeConfig for one replica's own apiserver; close() ends the provider's tunnel. */
export async function replicaKubeConfig(options: {
  provider: ProviderV1;
  pki: ClusterPki;
  instance: Instance;
  signal?: AbortSignal;
}): Promise<{ kubeconfig: KubeConfig; close(): Promise<void> }> {
  const reach: Reach = await options.provider.reach(
    options.instance,
    KUBERNETES_PORTS.apiserver,
    options.signal ? { signal: options.signal } : {},
  );
  try {
    // The serving certificate names the replica's internal IP and 127.0.0.1 (a tunnel's end).
    const kubeconfig = await adminKubeConfig(options.pki, `https://${reach.host}:${reach.port}`);
    return { kubeconfig, close: () => reach.close() };
  } catch (error) {
    await reach.close().catch(() => undefined);
    throw error;
  }
}

/** The cluster's reserved endpoint address. @throws HacpError STATE_CORRUPT when it is gone. */
export async function requireEndpointAddress(
  provider: ProviderV1,
  record: ClusterRecord,
  signal?: AbortSignal,
): Promise<Address> {
  const address = await provider.addresses.get(
    { name: record.addressName, region: record.region },
    { signal },
  );
  if (address === undefined) {
    throw new HacpError({
      code: ErrorCode.STATE_CORRUPT,
      message: `Cluster ${record.cluster}'s endpoint address ${record.addressName} is not reserved.`,
      actions: ['Run `hacp status`; `hacp down --yes` deletes what is left.'],
      details: { address: record.addressName },
    });
  }
  return address;
}

/** The cluster's Kubernetes API through the endpoint: a given kubeconfig file's, else its own admin's. */
export async function clusterKubeConfig(options: {
  provider: ProviderV1;
  record: ClusterRecord;
  pki: () => Promise<ClusterPki>;
  kubeconfigFile?: string;
  signal?: AbortSignal;
}): Promise<KubeConfig> {
  if (options.kubeconfigFile !== undefined) return loadKubeconfig(options.kubeconfigFile);
  const address = await requireEndpointAddress(options.provider, options.record, options.signal);
  return adminKubeConfig(await options.pki(), endpointServer(address));
}
