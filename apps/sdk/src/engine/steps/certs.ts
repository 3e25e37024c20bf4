/**
 * The steps of `certs renew`: the leaves reissued in the operator's PKI, then rolled onto one
 * replica at a time: its PKI files and component kubeconfigs rewritten and the processes that read
 * them restarted, once it is out of the load balancer and no longer leads etcd, and only while every
 * other member is healthy.
 */
import { join } from 'node:path';
import {
  CA_KEYS,
  type CaKey,
  type ClusterPki,
  nextCaKey,
  previousCaKey,
  promoteNextCa,
  renewLeaves,
  replicaNodeFiles,
  trustedCaPem,
  withNextCa,
  withoutPreviousCa,
} from '@hacp/certs';
import { ErrorCode, HacpError, type Instance, type NodeFile, type ProviderV1 } from '@hacp/core';
import { canRestartMember, type MemberInfo, type StepAction } from '@hacp/topology';
import { ADMIN_KUBECONFIG, adminKubeconfigFile } from '../../kubernetes/api.js';
import { type PublishedCaKey, republishTrust } from '../../kubernetes/authentication-trust.js';
import { KUBERNETES_PROCESSES } from '../../kubernetes/components.js';
import {
  clusterApi,
  forgetStoppedIdentityLease,
  recordIdentityLeasesBefore,
} from '../../kubernetes/steps.js';
import { type ClusterRecord, readRecord, recordKey } from '../../record.js';
import { REPLICA_PORTS } from '../../render.js';
import { servedByReplica } from '../../served-certs.js';
import type { StepStatus } from '../../types.js';
import {
  announceWait,
  missingInstance,
  requireRecord,
  type StepContext,
  type StepHandler,
} from '../context.js';
import { takeOutOfLoadBalancer } from './endpoint.js';

/** The folder of a replica's PKI files, relative to its root (kubeadm's `pki/`). */
const PKI_FOLDER = 'pki';

const renewPki: StepHandler<'renew-pki'> = async (context) => {
  const record = await requireRecord(context);
  const renewed = await renewLeaves(await context.pkiStore.load(record), { logger: context.logger });
  await context.pkiStore.save(renewed);
  return 'done';
};

/**
 * What `certs renew` needs from the provider to roll certificates onto a running replica: rewrite
 * its files, stop its processes, start them again. Refused, naming what to do instead, without.
 */
export function assertCanRoll(
  provider: ProviderV1,
  replicas: readonly string[],
  command = 'certs renew',
): void {
  const { syncFiles, stopProcesses, start } = provider.instances;
  const missing = [
    ...(syncFiles === undefined ? ['instances.syncFiles'] : []),
    ...(stopProcesses === undefined ? ['instances.stopProcesses'] : []),
    ...(start === undefined ? ['instances.start'] : []),
  ];
  if (missing.length === 0) return;
  throw new HacpError({
    code: ErrorCode.PROVIDER_ERROR,
    message: `Provider ${provider.name} cannot rewrite the certificates of a running replica (it has no ${missing.join(', ')}), so \`${command}\` cannot roll new certificates onto the replicas. Nothing was changed.`,
    actions: [
      `Replace the replicas one at a time instead: each new replica gets fresh certificates from the cluster's CAs (${replicas.map((name) => `\`hacp replace --replica ${name}\``).join(', then ') || '`hacp replace --replica <name>`'}, each after the one before is healthy).`,
    ],
    details: { provider: provider.name, missing },
  });
}

/** Refuses to restart the replica unless every other member is a started, healthy voter. */
async function assertOthersHealthy(context: StepContext, replica: string): Promise<void> {
  const { signal } = context;
  const etcd = await context.session.requireEtcd(signal);
  const [members, health] = await Promise.all([
    etcd.members({ signal }),
    etcd.health({ signal, timeoutMs: 2000 }),
  ]);
  const infos = members.map(
    (member): MemberInfo => ({
      id: member.id,
      name: member.name,
      learner: member.learner,
      started: member.started,
      healthy: health.some((entry) => entry.id === member.id && entry.healthy),
    }),
  );
  const verdict = canRestartMember(infos, replica);
  if (!verdict.ok) throw verdict.error;
}

/** Whether the replica serves its own certificates of the operator's PKI on every TLS port. */
async function servesOperatorCopy(context: StepContext, instance: Instance): Promise<boolean> {
  if (instance.status !== 'running') return false;
  const record = await requireRecord(context);
  const served = await servedByReplica({
    provider: context.provider,
    pki: await context.pkiStore.load(record),
    instance,
    kubernetes: record.kubernetesVersion !== undefined,
    signal: context.signal,
  });
  return served.every((entry) => entry.matches);
}

/**
 * The replica's files that carry certificates, as its NodeConfig renders them from the operator's
 * PKI now: those under `pki/`, and the component kubeconfigs (a cluster that runs Kubernetes).
 */
async function renewedFiles(
  context: StepContext,
  instance: Instance,
): Promise<{ pki: NodeFile[]; others: NodeFile[] }> {
  const record = await requireRecord(context);
  const pki = await context.pkiStore.load(record);
  const apiserverUrl =
    record.kubernetesVersion === undefined
      ? undefined
      : `https://${instance.internalIp}:${REPLICA_PORTS.apiserver + (instance.portOffset ?? 0)}`;
  const files = replicaNodeFiles(pki, instance.name, apiserverUrl === undefined ? {} : { apiserverUrl });
  const inPki = (file: NodeFile) => file.path.startsWith(`${PKI_FOLDER}/`);
  return { pki: files.filter(inPki), others: files.filter((file) => !inPki(file)) };
}

function keepsOldKubeconfigs(context: StepContext, replica: string): void {
  context.emit({
    type: 'warning',
    code: 'CERTIFICATE_NOT_ROLLED',
    message: `Provider ${context.provider.name} cannot write single files of a running replica (no instances.writeFiles): ${replica}'s component kubeconfigs keep their earlier client certificates until it is replaced (\`hacp replace --replica ${replica}\`).`,
  });
}

const rollCerts: StepHandler<'roll-certs'> = async (context, action) => {
  const { provider, signal } = context;
  const ref = { name: action.replica, zone: action.zone };
  const instance = await provider.instances.get(ref, { signal });
  if (instance === undefined) throw missingInstance(action.replica);
  // What a replica trusts does not show in what it serves: a changed trust bundle always restarts.
  if (action.trustChanged !== true && (await servesOperatorCopy(context, instance))) return 'skipped';
  assertCanRoll(provider, [action.replica]);
  await assertOthersHealthy(context, action.replica);

  await takeOutOfLoadBalancer(context, action.replica);
  const etcd = await context.session.requireEtcd(signal);
  const member = (await etcd.members({ signal })).find((m) => m.name === action.replica);
  if (member !== undefined) await etcd.moveLeaderAway(member.id, { signal });

  const mutation = () => ({ requestId: context.requestId(), signal });
  const instances = provider.instances;
  const { pki: pkiFiles, others } = await renewedFiles(context, instance);
  // The component kubeconfigs (their client certificates inside) sit at the root beside the rest.
  if (others.length > 0 && instances.writeFiles !== undefined)
    await instances.writeFiles.call(instances, ref, others, mutation());
  else if (others.length > 0) keepsOldKubeconfigs(context, action.replica);
  await instances.syncFiles?.call(instances, ref, { prefix: PKI_FOLDER, files: pkiFiles }, mutation());
  const record = await requireRecord(context);
  // A 1.20–1.25 apiserver starts with a new identity lease: note the ones there are, to label it.
  await recordIdentityLeasesBefore(context, record, action.replica);
  announceWait(context, `${action.replica}'s processes to restart with the renewed certificates`);
  try {
    // kube-apiserver and the other components before the etcd member they use.
    await instances.stopProcesses?.call(
      instances,
      ref,
      [...[...KUBERNETES_PROCESSES].reverse(), 'etcd'],
      mutation(),
    );
    await forgetStoppedIdentityLease(context, record, {
      name: action.replica,
      hostname: instance.hostname ?? action.replica,
    });
    await instances.start?.call(instances, ref, mutation());
  } finally {
    // Its member went away for a moment: read etcd anew.
    context.session.instancesChanged();
  }
  return 'done';
};

/** The record names the CA that signs now (the last phase of a rotation). */
async function recordCa(context: StepContext, key: CaKey, certPem: string): Promise<void> {
  const { provider, cluster, signal } = context;
  const current = await readRecord(provider.state, cluster, signal);
  if (current === undefined) throw missingRecord(cluster);
  if (current.value.caCertificates[key] === certPem) return;
  const value = { ...current.value, caCertificates: { ...current.value.caCertificates, [key]: certPem } };
  await provider.state.put(recordKey(cluster), value, {
    expectedVersion: current.version,
    requestId: context.requestId(),
    signal,
  });
  context.session.setRecord(value);
}

function missingRecord(cluster: string): HacpError {
  return new HacpError({
    code: ErrorCode.STATE_CORRUPT,
    message: `Cluster ${cluster} lost its record during a CA rotation.`,
    actions: ['Restore the record from a backup of the state store, then run `hacp resume`.'],
    details: { cluster },
  });
}

/** The PKI after one phase of rotating the CA `key`, or undefined when it is past that phase already. */
async function afterPhase(
  context: StepContext,
  pki: ClusterPki,
  key: CaKey,
  phase: Exclude<Extract<StepAction, { kind: 'rotate-ca' }>['phase'], 'republish'>,
): Promise<ClusterPki | undefined> {
  const options = { logger: context.logger };
  const previous = pki[previousCaKey(key)] !== undefined;
  if (phase === 'trust-new')
    return pki[nextCaKey(key)] !== undefined || previous
      ? undefined
      : withNextCa(pki, { ...options, ca: key });
  if (phase === 'issue-from-new') return previous ? undefined : promoteNextCa(pki, { ...options, ca: key });
  // The record first: a PKI without the previous CA no longer matches a record that names it.
  await recordCa(context, key, pki[key].certPem);
  return previous ? withoutPreviousCa(pki, key) : undefined;
}

/** Where the apiservers publish each CA they trust for clients; the etcd CA is not published. */
const PUBLISHED: Partial<Record<CaKey, PublishedCaKey>> = {
  ca: 'client-ca-file',
  frontProxyCa: 'requestheader-client-ca-file',
};

/** The last step of a cluster or front-proxy CA rotation: the old CA no longer published. */
async function republish(context: StepContext, record: ClusterRecord, key: CaKey): Promise<StepStatus> {
  const published = PUBLISHED[key];
  // An etcd-only cluster has no apiserver to publish anything.
  if (published === undefined || record.kubernetesVersion === undefined) return 'not-applicable';
  announceWait(context, 'the apiservers to publish the new CA alone');
  const changed = await republishTrust({
    kubeconfig: await clusterApi(context, record),
    key: published,
    trusted: trustedCaPem(await context.pkiStore.load(record), key),
    timeoutMs: context.timeouts.healthy,
    signal: context.signal,
  });
  return changed ? 'done' : 'skipped';
}

/**
 * One phase of a CA rotation in the operator's PKI; each finds its work done when run again (a PKI
 * already past the phase). What reads the PKI outside the replicas follows at once: hacp's own etcd
 * connection (etcd CA) and the operator's admin kubeconfig (cluster CA), so both keep working
 * against replicas rolled and not yet rolled.
 */
const rotateCa: StepHandler<'rotate-ca'> = async (context, action) => {
  const record = await requireRecord(context);
  const key = CA_KEYS[action.ca];
  if (action.phase === 'republish') return republish(context, record, key);
  const pki = await context.pkiStore.load(record);
  const changed = await afterPhase(context, pki, key, action.phase);
  if (changed !== undefined) await context.pkiStore.save(changed);
  // Also when skipped: a run cut short between the PKI and the kubeconfig rewrites it now.
  if (key === 'ca' && record.kubernetesVersion !== undefined) {
    await adminKubeconfigFile({
      provider: context.provider,
      record,
      pki: changed ?? pki,
      path: join(context.dataDir, ADMIN_KUBECONFIG),
      signal: context.signal,
    });
  }
  if (key === 'etcdCa') context.session.instancesChanged();
  return changed === undefined ? 'skipped' : 'done';
};

export const certHandlers = {
  'renew-pki': renewPki,
  'roll-certs': rollCerts,
  'rotate-ca': rotateCa,
};
