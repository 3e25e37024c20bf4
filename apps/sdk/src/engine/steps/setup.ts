/**
 * The steps that make and unmake what a cluster shares: the zone check, the address, the firewall,
 * the PKI, the record, and the preflight check that runs again on every run.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createClusterPki } from '@hacp/certs';
import { ErrorCode, HacpError } from '@hacp/core';
import type { EtcdMember } from '@hacp/etcd';
import { canAddMember, canRemoveMember, firewallRules, type MemberInfo } from '@hacp/topology';
import { etcdPeerUrl, replicaHealthCheck } from '../../render.js';
import { assertZoneUsable } from '../../zones.js';
import { addressRef, findMember, networkOf, type StepContext, type StepHandler } from '../context.js';

const validateZone: StepHandler<'validate-zone'> = async (context, action) => {
  await assertZoneUsable(context.provider, action.zone, context.signal);
  return 'done';
};

const reserveAddress: StepHandler<'reserve-address'> = async (context) => {
  const ref = addressRef(context);
  if ((await context.provider.addresses.get(ref, { signal: context.signal })) !== undefined) return 'skipped';
  await context.provider.addresses.reserve(ref, { requestId: context.requestId(), signal: context.signal });
  return 'done';
};

/** The rules the plan names; an older journal's step names none: the cluster's rules. */
const ensureFirewall: StepHandler<'ensure-firewall'> = async (context, action) => {
  for (const rule of action.rules ?? firewallRules(context.cluster)) {
    await context.provider.firewalls.ensure(rule, { requestId: context.requestId(), signal: context.signal });
  }
  return 'done';
};

const createPki: StepHandler<'create-pki'> = async (context) => {
  if (await context.pkiStore.exists()) return 'skipped';
  const address = await context.provider.addresses.get(addressRef(context), { signal: context.signal });
  if (address === undefined)
    throw new HacpError({ code: ErrorCode.STATE_CORRUPT, message: 'The endpoint address is not reserved.' });
  const request = context.journal.request;
  const pki = await createClusterPki({
    clusterName: context.cluster,
    endpointAddress: address.ip,
    ...(request.operation === 'up' && request.keyAlgorithm !== undefined
      ? { keyAlgorithm: request.keyAlgorithm }
      : {}),
    logger: context.logger,
  });
  await context.pkiStore.save(pki);
  return 'done';
};

const writeRecord: StepHandler<'write-record'> = async (context, action) => {
  if ((await context.record()) !== undefined) return 'skipped';
  const { journal, cluster } = context;
  const pki = await context.pkiStore.load();
  const kubernetesVersion = journal.settings?.kubernetesVersion;
  await context.writeRecord({
    formatVersion: 1,
    cluster,
    provider: context.provider.name,
    region: journal.target.region,
    firstZone: action.firstZone,
    multizone: action.multizone,
    quorumReads: action.quorumReads,
    uid: journal.settings?.uid ?? randomUUID(),
    etcdToken: journal.settings?.etcdToken ?? `hacp-${cluster}-${randomBytes(4).toString('hex')}`,
    addressName: journal.target.addressName,
    loadBalancerName: journal.target.loadBalancerName,
    firewallNames: firewallRules(cluster).map((rule) => rule.name),
    healthCheck: replicaHealthCheck(kubernetesVersion !== undefined),
    kubeApiserver: kubernetesVersion !== undefined,
    ...(kubernetesVersion === undefined ? {} : { kubernetesVersion }),
    caCertificates: {
      ca: pki.ca.certPem,
      etcdCa: pki.etcdCa.certPem,
      frontProxyCa: pki.frontProxyCa.certPem,
    },
    createdAt: journal.settings?.createdAt ?? new Date().toISOString(),
  });
  return 'done';
};

/**
 * etcd's members as topology's rules see them (started, learner, healthy), the replica's own member
 * named as such (an unstarted learner has no name yet: its peer URL tells).
 */
async function memberInfos(context: StepContext, action: { change: 'add' | 'remove'; replica: string }) {
  const etcd = await context.session.requireEtcd(context.signal);
  const members = await etcd.members({ signal: context.signal });
  const health = await etcd.health({ signal: context.signal, timeoutMs: 2000 });
  const own = await ownMember(context, members, action);
  return members.map(
    (member): MemberInfo => ({
      id: member.id,
      name: member === own ? action.replica : member.name,
      learner: member.learner,
      started: member.started,
      healthy: health.some((entry) => entry.id === member.id && entry.healthy),
    }),
  );
}

/** The replica's own member: by name, or (a learner this add made, not started yet) by its peer URL. */
async function ownMember(
  context: StepContext,
  members: readonly EtcdMember[],
  action: { change: 'add' | 'remove'; replica: string },
): Promise<EtcdMember | undefined> {
  const named = findMember(members, action.replica);
  if (named !== undefined || action.change !== 'add') return named;
  if (!members.some((member) => member.learner && member.name === '')) return undefined;
  // Allocation is idempotent by name: the network a run cut short allocated comes back the same.
  return findMember(members, action.replica, etcdPeerUrl(await networkOf(context, action.replica)));
}

/**
 * Checks, on every run (a resume included), that the cluster can still take the change, leaving
 * out the replica the operation itself adds or removes (Cluster API's preflight).
 */
const preflight: StepHandler<'preflight'> = async (context, action) => {
  if (action.change === undefined || action.replica === undefined) return 'done';
  const replica = action.replica;
  const members = await memberInfos(context, { change: action.change, replica });
  if (action.change === 'add') {
    // Its member is a voter already: the add this check guards is done (a resumed run of a plan
    // that adds several replicas, one learner at a time, checks again while the next one joins).
    if (members.some((member) => member.name === replica && !member.learner && member.started))
      return 'skipped';
    const verdict = canAddMember(members.filter((member) => member.name !== replica));
    if (!verdict.ok) throw verdict.error;
    return 'done';
  }
  if (!members.some((member) => member.name === replica)) return 'done';
  const verdict = canRemoveMember(members, replica);
  if (!verdict.ok) throw verdict.error;
  return 'done';
};

/** The rules the plan names and those the record says were made (the cluster's own when neither). */
const deleteFirewall: StepHandler<'delete-firewall'> = async (context, action) => {
  const recorded = (await context.record())?.firewallNames ?? [];
  const named = [...(action.names ?? []), ...recorded];
  const names = named.length > 0 ? named : firewallRules(context.cluster).map((rule) => rule.name);
  for (const name of new Set(names))
    await context.provider.firewalls.delete(name, { requestId: context.requestId(), signal: context.signal });
  return 'done';
};

/** What is left of the cluster beyond what the record named, where the provider can find it. */
const deleteLeftovers: StepHandler<'delete-leftovers'> = async (context) => {
  const { provider } = context;
  if (provider.deleteLeftovers === undefined) return 'not-applicable';
  const deleted = await provider.deleteLeftovers(
    { cluster: context.cluster, region: context.journal.target.region },
    { requestId: context.requestId(), signal: context.signal },
  );
  if (deleted.length > 0) context.logger.info('deleted what was left of the cluster', { deleted });
  return deleted.length > 0 ? 'done' : 'skipped';
};

const deleteRecord: StepHandler<'delete-record'> = async (context) => {
  await context.deleteRecord();
  await context.pkiStore.remove();
  return 'done';
};

export const setupHandlers = {
  'validate-zone': validateZone,
  'reserve-address': reserveAddress,
  'ensure-firewall': ensureFirewall,
  'create-pki': createPki,
  'write-record': writeRecord,
  preflight,
  'delete-firewall': deleteFirewall,
  'delete-leftovers': deleteLeftovers,
  'delete-record': deleteRecord,
};
