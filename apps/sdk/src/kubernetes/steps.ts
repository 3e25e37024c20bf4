/**
 * What the operation steps do for the Kubernetes components of a cluster that runs them: render them
 * into a new replica's NodeConfig, wait until they answer and its add-on manager has applied its
 * add-ons, mark a 1.20–1.25 identity lease with its replica, stop them before a member goes, and
 * delete a removed replica's identity lease and add-on marker.
 */
import { join } from 'node:path';
import { ErrorCode, HacpError, type Instance, isHacpError, waitUntil } from '@hacp/core';
import { parseKubernetesVersion } from '@hacp/kubernetes-release';
import type { KubeConfig } from '@kubernetes/client-node';
import { readAddonFiles } from '../addons.js';
import { announceWait, type StepContext } from '../engine/context.js';
import { deleteIdentityLeases } from '../leases.js';
import type { ClusterRecord } from '../record.js';
import type { ReplicaRenderOptions } from '../render.js';
import type { StepStatus } from '../types.js';
import {
  ADDON_MARKER_NAMESPACE,
  addonMarkerExists,
  addonMarkerName,
  deleteAddonMarker,
} from './addon-marker.js';
import { clusterKubeConfig, replicaKubeConfig, requireEndpointAddress } from './api.js';
import { KUBERNETES_PROCESSES } from './components.js';
import { kubernetesHealth, notReady } from './health.js';
import { identityLeaseNames, labelNewIdentityLease } from './identity.js';
import { kubernetesPrograms } from './version.js';

/** 1.20–1.25 identity leases record no hostname: hacp labels them (see labelNewIdentityLease). */
const labelsIdentityLease = (version: string) => {
  const { minor } = parseKubernetesVersion(version);
  return minor >= 20 && minor <= 25;
};

/** The cluster's Kubernetes API through the endpoint. */
export function clusterApi(context: StepContext, record: ClusterRecord): Promise<KubeConfig> {
  return clusterKubeConfig({
    provider: context.provider,
    record,
    pki: () => context.pkiStore.load(record),
    ...(context.kubeconfigFile === undefined ? {} : { kubeconfigFile: context.kubeconfigFile }),
    signal: context.signal,
  });
}

/** What renderReplica needs for a Kubernetes replica, or undefined for an etcd-only cluster. */
export async function kubernetesRender(
  context: StepContext,
  record: ClusterRecord,
): Promise<ReplicaRenderOptions['kubernetes']> {
  const version = record.kubernetesVersion;
  if (version === undefined) return undefined;
  const [programs, address, addons] = await Promise.all([
    kubernetesPrograms(version, context.kubernetes),
    requireEndpointAddress(context.provider, record, context.signal),
    readAddonFiles(join(context.dataDir, 'addons')),
  ]);
  return { version, programs, endpointAddress: address.ip, healthCheck: record.healthCheck, addons };
}

/**
 * Before a 1.20–1.25 replica starts: which identity leases exist, so that its own can be told apart
 * later. Through the endpoint while other replicas serve it; none exist before the first.
 */
export async function recordIdentityLeasesBefore(
  context: StepContext,
  record: ClusterRecord,
  replica: string,
): Promise<void> {
  if (record.kubernetesVersion === undefined || !labelsIdentityLease(record.kubernetesVersion)) return;
  if (context.journal.identityLeasesBefore?.[replica] !== undefined) return;
  const running = (await context.session.instances(context.signal)).filter(
    (instance) => instance.status === 'running' && instance.name !== replica,
  );
  const before = running.length === 0 ? [] : await identityLeaseNames(await clusterApi(context, record));
  context.journal.identityLeasesBefore = { ...context.journal.identityLeasesBefore, [replica]: before };
  await context.saveJournal();
}

/**
 * After a replica's kube-apiserver was stopped to restart (certs renew): a 1.20–1.25 apiserver takes
 * a new identity lease at every start, so its old one, which nothing renews any more, is deleted
 * now; wait-healthy then labels the new one (the names there were before are recorded first, with
 * recordIdentityLeasesBefore). Other versions keep their lease across a restart.
 */
export async function forgetStoppedIdentityLease(
  context: StepContext,
  record: ClusterRecord,
  replica: { name: string; hostname: string },
): Promise<void> {
  if (record.kubernetesVersion === undefined || !labelsIdentityLease(record.kubernetesVersion)) return;
  const others = (await context.session.instances(context.signal)).filter((i) => i.name !== replica.name);
  await deleteIdentityLeases({ kubeconfig: await clusterApi(context, record), replica, others });
}

/**
 * Waits until the replica's kube-apiserver answers /readyz and its controller-manager and scheduler
 * /healthz; then (1.20–1.25) until its identity lease exists, and labels it with the hostname; then
 * until its add-on manager has applied its add-ons (its marker exists), read through its own apiserver.
 */
export async function waitKubernetesReady(context: StepContext, record: ClusterRecord, instance: Instance) {
  const version = record.kubernetesVersion;
  if (version === undefined) return;
  const pki = await context.pkiStore.load(record);
  await waitUntil({
    description: `${instance.name}'s Kubernetes components to be ready`,
    timeoutMs: context.timeouts.healthy,
    signal: context.signal,
    minDelayMs: 500,
    maxDelayMs: 2000,
    check: async () => {
      const health = await kubernetesHealth({
        provider: context.provider,
        instance,
        caPem: pki.ca.certPem,
        signal: context.signal,
      });
      const pending = notReady(health);
      return pending.length === 0 ? { done: true, value: true } : { done: false, reason: pending.join(', ') };
    },
  });
  const api = await replicaKubeConfig({ provider: context.provider, pki, instance, signal: context.signal });
  try {
    if (labelsIdentityLease(version)) await labelIdentityLease(context, api.kubeconfig, instance);
    await waitAddonsApplied(context, api.kubeconfig, instance.name);
  } finally {
    await api.close().catch(() => undefined);
  }
}

async function labelIdentityLease(
  context: StepContext,
  kubeconfig: KubeConfig,
  instance: Instance,
): Promise<void> {
  const before = context.journal.identityLeasesBefore?.[instance.name];
  if (before === undefined) {
    context.logger.warn('no record of the identity leases before this replica started; not labelling', {
      replica: instance.name,
    });
    return;
  }
  await waitUntil({
    description: `${instance.name}'s apiserver identity lease`,
    timeoutMs: context.timeouts.healthy,
    signal: context.signal,
    minDelayMs: 500,
    maxDelayMs: 2000,
    retryOn: (error) => !(error instanceof HacpError && error.code === ErrorCode.CONFLICT),
    check: async () => {
      const name = await labelNewIdentityLease({
        kubeconfig,
        hostname: instance.hostname ?? instance.name,
        before,
      });
      return name === undefined
        ? { done: false, reason: 'no new identity lease yet' }
        : { done: true, value: name };
    },
  });
}

/**
 * Waits until the replica's add-on manager has created its marker ConfigMap: neither add-on manager
 * has a health port, and one that cannot start (a bad path, an image that cannot be pulled) would
 * otherwise go unnoticed.
 *
 * @throws HacpError TIMEOUT naming kube-addon-manager and where to look.
 */
async function waitAddonsApplied(
  context: StepContext,
  kubeconfig: KubeConfig,
  replica: string,
): Promise<void> {
  const marker = `${ADDON_MARKER_NAMESPACE}/${addonMarkerName(replica)}`;
  const missing = `its ConfigMap ${marker} does not exist`;
  const reason = `kube-addon-manager has not applied its add-ons: ${missing}`;
  announceWait(context, `${replica}'s kube-addon-manager to apply its add-ons (its ConfigMap ${marker})`);
  try {
    await waitUntil({
      description: `${replica}'s kube-addon-manager to apply its add-ons`,
      timeoutMs: context.timeouts.healthy,
      signal: context.signal,
      minDelayMs: 500,
      maxDelayMs: 2000,
      check: async () =>
        (await addonMarkerExists(kubeconfig, replica))
          ? { done: true, value: true }
          : { done: false, reason },
    });
  } catch (error) {
    if (!isHacpError(error, ErrorCode.TIMEOUT)) throw error;
    // A last check that could not read the ConfigMap says so.
    const last = error.details.lastReason;
    const failure = typeof last === 'string' && last !== reason ? ` (last check: ${last})` : '';
    throw new HacpError({
      code: ErrorCode.TIMEOUT,
      message: `kube-addon-manager on ${replica} has not applied its add-ons within ${context.timeouts.healthy / 1000} s: ${missing}${failure}.`,
      actions: [
        `Read kube-addon-manager's log on ${replica} for why it did not start or cannot apply (the local provider keeps it at replicas/${replica}/logs/kube-addon-manager.log in its state folder; on GCE it is the kube-addon-manager pod's log).`,
        `Run \`hacp status\` to see ${replica}'s other components and the operation waiting to be resumed.`,
      ],
      details: { replica, configMap: marker, timeoutMs: context.timeouts.healthy },
      retryable: false,
      cause: error,
    });
  }
}

/** Stops the replica's Kubernetes components, keeping its etcd member; where the provider can. */
export async function stopKubernetes(
  context: StepContext,
  replica: { name: string; zone: string },
): Promise<StepStatus> {
  const stop = context.provider.instances.stopProcesses;
  if (stop === undefined) return 'not-applicable';
  const instance = await context.provider.instances.get(replica, { signal: context.signal });
  if (instance === undefined) return 'skipped';
  await stop.call(context.provider.instances, replica, [...KUBERNETES_PROCESSES].reverse(), {
    requestId: context.requestId(),
    signal: context.signal,
  });
  return 'done';
}

/** Deletes the identity leases of a removed replica, and its add-on manager's marker. */
export async function deleteReplicaKubernetesObjects(
  context: StepContext,
  record: ClusterRecord | undefined,
  replica: { name: string; hostname: string },
): Promise<StepStatus> {
  // An etcd-only cluster has no Kubernetes API; a cluster being deleted takes its leases with it.
  if (record?.kubernetesVersion === undefined && context.kubeconfigFile === undefined)
    return 'not-applicable';
  if (context.journal.operation === 'down' || record === undefined) return 'not-applicable';
  const others = await context.session.instances(context.signal);
  const kubeconfig = await clusterApi(context, record);
  const deleted = await deleteIdentityLeases({ kubeconfig, replica, others });
  // Only replicas that run Kubernetes have an add-on manager (a `kubeconfig` setting may name another API).
  const marker =
    record.kubernetesVersion !== undefined && (await deleteAddonMarker(kubeconfig, replica.name));
  return deleted.length > 0 || marker ? 'done' : 'skipped';
}
