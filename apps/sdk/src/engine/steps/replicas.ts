/**
 * The steps that make and unmake a replica: its certificates, its instance (rendered from the
 * cluster's record), the wait until it serves, its Kubernetes components stopped before its member
 * goes, and its identity lease and add-on marker deleted after.
 */
import { issueReplicaCerts, withoutReplica, withReplica } from '@hacp/certs';
import { ErrorCode, HacpError, type Instance, isHacpError } from '@hacp/core';
import type { StepAction } from '@hacp/topology';
import {
  deleteReplicaKubernetesObjects,
  kubernetesRender,
  recordIdentityLeasesBefore,
  stopKubernetes,
  waitKubernetesReady,
} from '../../kubernetes/steps.js';
import { etcdPeerUrl, renderReplica } from '../../render.js';
import {
  announceWait,
  missingInstance,
  networkOf,
  ownsReplica,
  requireRecord,
  type StepContext,
  type StepHandler,
  zoneOf,
} from '../context.js';
import { waitBootDone, watchingBoot } from './boot.js';
import { targetHealth, waitTargetHealthy } from './endpoint.js';
import { renewStartedLearner, waitMemberHealthy } from './members.js';

const issueCerts: StepHandler<'issue-certs'> = async (context, action) => {
  const record = await requireRecord(context);
  const pki = await context.pkiStore.load(record);
  const network = await networkOf(context, action.replica);
  const current = pki.replicas[action.replica]?.identity;
  if (current?.internalIp === network.internalIp && current.hostname === network.hostname) return 'skipped';
  const certs = await issueReplicaCerts(pki, {
    replicaName: action.replica,
    hostname: network.hostname,
    internalIp: network.internalIp,
  });
  await context.pkiStore.save(withReplica(pki, certs));
  return 'done';
};

/**
 * The members a joining replica's etcd starts with: etcd's list, with this replica's own name. A
 * migrated member (listed under its name, at its old address until `migrate-member`) is listed at
 * its new peer URL, which its flags advertise; etcd reads the list only when its data dir is empty.
 */
async function initialClusterOf(
  context: StepContext,
  replica: string,
  peerUrl: string,
): Promise<{ name: string; peerUrl: string }[]> {
  const etcd = await context.session.requireEtcd(context.signal);
  const members = await etcd.members({ signal: context.signal });
  const initial = members.map((member) => {
    const own = member.peerUrls.includes(peerUrl) || member.name === replica;
    return { name: own ? replica : member.name, peerUrl: own ? peerUrl : (member.peerUrls[0] as string) };
  });
  if (!initial.some((entry) => entry.name === replica)) {
    throw new HacpError({
      code: ErrorCode.CONFLICT,
      message: `${replica} has no etcd member to join as; its learner is gone.`,
      actions: ['Run the operation again from the start after `hacp repair`.'],
      details: { replica },
    });
  }
  return initial;
}

const createInstance: StepHandler<'create-instance'> = async (context, action) => {
  const ref = { name: action.replica, zone: action.zone };
  // Read afresh: a run that was killed while creating may have left it half-made (`terminated`).
  const existing = await context.provider.instances.get(ref, { signal: context.signal });
  if (existing !== undefined && existing.status !== 'terminated') {
    await servesAlone(context, action);
    return 'skipped';
  }
  const record = await requireRecord(context);
  const pki = await context.pkiStore.load(record);
  const network = await networkOf(context, action.replica);
  const peerUrl = etcdPeerUrl(network);
  if (existing !== undefined && action.etcdState === 'existing')
    await renewStartedLearner(context, action.replica, peerUrl);
  // A joiner lists the members it joins; the first member, and one starting on its own data in
  // `recover`, only itself (etcd ignores the list once its data dir holds a cluster).
  const initialCluster =
    action.etcdState === 'existing'
      ? await initialClusterOf(context, action.replica, peerUrl)
      : [{ name: action.replica, peerUrl }];
  const kubernetes = await kubernetesRender(context, record);
  if (kubernetes !== undefined) await recordIdentityLeasesBefore(context, record, action.replica);
  const nodeConfig = renderReplica({
    pki,
    replica: action.replica,
    network,
    etcdToken: record.etcdToken,
    etcdState: action.etcdState,
    initialCluster,
    ...(kubernetes === undefined ? {} : { kubernetes }),
  });
  announceWait(context, `${action.replica} to start`);
  try {
    await context.provider.instances.create(
      {
        name: action.replica,
        zone: action.zone,
        cluster: context.cluster,
        nodeConfig,
        labels: { 'hacp-cluster': context.cluster },
        ...(startsOnItsDisk(context, action) ? { dataDiskHandedOver: true } : {}),
      },
      { requestId: context.requestId(), signal: context.signal },
    );
  } finally {
    context.session.instancesChanged();
  }
  await servesAlone(context, action);
  return 'done';
};

/**
 * A replica forced to be a cluster of its own is deleted again by the next step: it must serve as
 * one first (also when a run cut short during this wait finds the instance made).
 */
async function servesAlone(
  context: StepContext,
  action: Extract<StepAction, { kind: 'create-instance' }>,
): Promise<void> {
  if (action.etcdState === 'force-new-cluster') await waitMemberHealthy(context, action.replica);
}

/**
 * Waits until the replica serves: its etcd member, its Kubernetes components, then what its
 * provider sees of its boot (GCE: its health endpoint answers), all the while watching that boot,
 * so that one that failed ends the wait at once with the provider's error.
 */
const waitHealthy: StepHandler<'wait-healthy'> = async (context, action) => {
  const { replica } = action;
  await watchingBoot(context, replica, async (watched) => {
    announceWait(watched, `${replica} to be healthy`);
    await waitMemberHealthy(watched, replica);
    const record = await requireRecord(watched);
    if (record.kubernetesVersion !== undefined) {
      announceWait(watched, `${replica}'s kube-apiserver, controller-manager and scheduler to be ready`);
      const instance = await runningInstance(watched, replica);
      await waitKubernetesReady(watched, record, instance);
    }
    await waitBootDone(watched, replica);
  });
  await waitListedTargetHealthy(context, replica);
  return 'done';
};

/**
 * A replica the load balancer already lists (one repair started again) serves again only once the
 * load balancer's check passes for it: its health checker's interval and thresholds, after the member.
 */
async function waitListedTargetHealthy(context: StepContext, replica: string): Promise<void> {
  const health = await targetHealth(context).catch((error: unknown) => {
    if (isHacpError(error, ErrorCode.NOT_FOUND)) return undefined;
    throw error;
  });
  if (health?.some((entry) => entry.instance.name === replica)) await waitTargetHealthy(context, replica);
}

/** The replica's instance, listed again when the session's list does not show it running yet. */
async function runningInstance(context: StepContext, replica: string): Promise<Instance> {
  const find = async () => (await context.session.instances(context.signal)).find((i) => i.name === replica);
  let instance = await find();
  if (instance?.status !== 'running') {
    context.session.instancesChanged();
    instance = await find();
  }
  if (instance === undefined) throw missingInstance(replica);
  return instance;
}

/**
 * Starts an instance stopped outside hacp again, with its disk: its etcd member comes back with its
 * data and id. Refused in a zone the provider reports down (it comes back with the zone).
 */
const startInstance: StepHandler<'start-instance'> = async (context, action) => {
  const { provider, signal } = context;
  const ref = { name: action.replica, zone: action.zone };
  const instance = await provider.instances.get(ref, { signal });
  if (instance === undefined) throw missingInstance(action.replica);
  if (instance.status === 'running') return 'skipped';
  const start = provider.instances.start;
  if (start === undefined) {
    throw new HacpError({
      code: ErrorCode.PROVIDER_ERROR,
      message: `Provider ${provider.name} cannot start a stopped instance, so ${action.replica} cannot be started.`,
      actions: [
        `Start it with the cloud's own tools, or replace it: \`hacp replace --replica ${action.replica}\`.`,
      ],
      details: { replica: action.replica },
    });
  }
  const zone = (await provider.zones.list({ signal })).find((z) => z.name === action.zone);
  if (zone?.status === 'down') {
    throw new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `Zone ${action.zone} is down, so ${action.replica} is not started: it comes back with the zone.`,
      actions: [`Wait until ${action.zone} is up again, then run \`hacp resume\`.`],
      details: { replica: action.replica, zone: action.zone },
      retryable: true,
    });
  }
  announceWait(context, `${action.replica} to start`);
  try {
    await start.call(provider.instances, ref, { requestId: context.requestId(), signal });
  } finally {
    context.session.instancesChanged();
  }
  return 'done';
};

const stopKubernetesStep: StepHandler<'stop-kubernetes'> = (context, action) =>
  stopKubernetes(context, { name: action.replica, zone: zoneOf(context, action.replica) });

/** Deletes the instance (or frees the network of one never created), and its certificates. */
const deleteInstance: StepHandler<'delete-instance'> = async (context, action) => {
  const { provider, journal, signal } = context;
  const ref = { name: action.replica, zone: action.zone };
  const existing = await provider.instances.get(ref, { signal });
  const allocated = journal.networks[action.replica] !== undefined;
  // A replica this operation allocated a network for (kept in the journal or not: a run cut short)
  // whose instance was never made: `delete` frees the allocation. A replica whose instance was
  // deleted outside hacp (its member removed by this repair or replace): `delete` frees what the
  // instance left, its data disk and network place.
  if (
    existing !== undefined ||
    allocated ||
    (journal.operation !== 'down' && ownsReplica(context, action.replica)) ||
    (journal.operation !== 'down' && removesMemberOf(context, action.replica))
  ) {
    try {
      await provider.instances.delete(ref, {
        requestId: context.requestId(),
        signal,
        keepDisk: action.keepDisk,
      });
    } finally {
      context.session.instancesChanged();
    }
  }
  await forgetReplicaCerts(context, action);
  if (journal.operation !== 'down' && allocated) {
    delete journal.networks[action.replica];
    await context.saveJournal();
  }
  return existing === undefined ? 'skipped' : 'done';
};

/** Whether this operation's plan migrates the replica's member onto its kept data disk (replace --keep-data). */
/**
 * Whether the instance starts on the data its kept disk holds: a migrated member, or `recover`'s
 * replica that serves first (its survivor's data, or a restored backup).
 */
function startsOnItsDisk(
  context: StepContext,
  action: Extract<StepAction, { kind: 'create-instance' }>,
): boolean {
  if (action.etcdState === 'force-new-cluster' || action.etcdState === 'own-data') return true;
  return migratesMemberOf(context, action.replica);
}

function migratesMemberOf(context: StepContext, replica: string): boolean {
  return context.journal.plan.steps.some(
    (step) => step.action.kind === 'migrate-member' && step.action.replica === replica,
  );
}

/** Whether this operation's plan removes the replica's member (a repair or replace of a vanished one). */
function removesMemberOf(context: StepContext, replica: string): boolean {
  return context.journal.plan.steps.some(
    (step) => step.action.kind === 'remove-member' && step.action.replica === replica,
  );
}

async function forgetReplicaCerts(
  context: StepContext,
  action: Extract<StepAction, { kind: 'delete-instance' }>,
): Promise<void> {
  if (action.keepDisk || !(await context.pkiStore.exists())) return;
  const pki = await context.pkiStore.load();
  if (pki.replicas[action.replica] !== undefined)
    await context.pkiStore.save(withoutReplica(pki, action.replica));
}

/** Deletes the gone replica's identity lease and its add-on manager's marker (the step's kind predates it). */
const deleteIdentityLease: StepHandler<'delete-identity-lease'> = async (context, action) =>
  // The replica is gone by now: its hostname is the one its network was given, else its name.
  deleteReplicaKubernetesObjects(context, await context.record(), {
    name: action.replica,
    hostname: context.journal.networks[action.replica]?.hostname ?? action.replica,
  });

export const replicaHandlers = {
  'issue-certs': issueCerts,
  'create-instance': createInstance,
  'start-instance': startInstance,
  'wait-healthy': waitHealthy,
  'stop-kubernetes': stopKubernetesStep,
  'delete-instance': deleteInstance,
  'delete-identity-lease': deleteIdentityLease,
};
