/**
 * What reaches a cluster's Kubernetes side: the admin kubeconfig for its endpoint, its leases, and
 * its add-ons copied to every replica. An etcd-only cluster has none of these (INVALID_ARGUMENT).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { ErrorCode, HacpError, Secret } from '@hacp/core';
import type { Warning } from '@hacp/topology';
import { addAddons, readAddonFiles } from './addons.js';
import { type ClusterContext, requireKubernetes } from './cluster-context.js';
import { addonMarkerFile } from './kubernetes/addon-marker.js';
import { adminKubeconfigFile } from './kubernetes/api.js';
import { inspectLeases } from './leases.js';
import type { AddonsApplyResult, ClusterStatus, KubeconfigResult, SignalOptions } from './types.js';

/** Renders the admin kubeconfig for the endpoint and, given a path, writes it 0600 (folders 0700). */
export async function kubeconfigOf(
  context: ClusterContext,
  path: string | undefined,
  signal?: AbortSignal,
): Promise<KubeconfigResult> {
  const { provider, cluster, pkiStore } = context;
  const { value: record } = await context.requireRecord(signal);
  requireKubernetes(
    record,
    cluster,
    'it has no Kubernetes API to write a kubeconfig for',
    'Create a cluster with Kubernetes: `hacp up --kubernetes-version <version>`.',
  );
  const { server, contents } = await adminKubeconfigFile({
    provider,
    record,
    pki: await pkiStore.load(record),
    ...(path === undefined ? {} : { path }),
    ...(signal === undefined ? {} : { signal }),
  });
  return {
    server,
    context: cluster,
    contents: new Secret(contents),
    ...(path === undefined ? {} : { path: resolve(path) }),
  };
}

/** Writes the admin kubeconfig to `path`. */
export const writeKubeconfig = async (context: ClusterContext, path: string, signal?: AbortSignal) =>
  (await kubeconfigOf(context, path, signal)) as KubeconfigResult & { path: string };

/** The identity and leader leases, through the cluster's own admin credentials or `kubeconfig`. */
export async function clusterLeases(
  context: ClusterContext,
  options: SignalOptions = {},
): Promise<NonNullable<ClusterStatus['leases']>> {
  const { provider, cluster } = context;
  const { value: record } = await context.requireRecord(options.signal);
  if (record.kubernetesVersion === undefined && context.kubeconfigFile === undefined) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `Cluster ${cluster} runs etcd only: it has no Kubernetes API, so no leases.`,
      actions: ['Pass --kubeconfig for the Kubernetes API whose leases you want to read.'],
      details: { field: 'kubeconfig' },
    });
  }
  const instances = await provider.instances.list({ cluster }, { signal: options.signal });
  return inspectLeases({ kubeconfig: await context.clusterApi(record, options.signal), instances });
}

/** Adds manifests to the cluster's add-ons and copies them all to every replica that can take them. */
export async function applyAddons(
  context: ClusterContext,
  files: readonly { name: string; text: string }[],
  signal?: AbortSignal,
): Promise<AddonsApplyResult> {
  const { provider, cluster, addonsDir } = context;
  const { value: record } = await context.requireRecord(signal);
  requireKubernetes(
    record,
    cluster,
    'there is no add-on manager to apply add-ons',
    'Create a cluster with Kubernetes to use add-ons.',
  );
  const added = await addAddons(addonsDir, files);
  const sync = provider.instances.syncFiles;
  if (sync === undefined) {
    const warning: Warning = {
      code: 'UNHEALTHY_REPLICA',
      message: `Provider ${provider.name} cannot update a running replica's files: the add-ons reach the replicas created from now on.`,
    };
    return { files: added, replicas: [], warnings: [warning] };
  }
  const everything = await readAddonFiles(addonsDir);
  const replicas: string[] = [];
  for (const instance of await provider.instances.list({ cluster }, { signal })) {
    await sync.call(
      provider.instances,
      instance,
      // The folder keeps the replica's own marker beside the cluster's add-ons.
      { prefix: 'addons', files: [...everything, addonMarkerFile(instance.name)] },
      { requestId: `addons-${randomBytes(4).toString('hex')}`, ...(signal ? { signal } : {}) },
    );
    replicas.push(instance.name);
  }
  return { files: added, replicas: replicas.sort(), warnings: [] };
}
