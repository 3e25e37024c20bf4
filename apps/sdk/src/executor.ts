/**
 * Runs one plan step against the provider and etcd. Every step reads the real state first and acts
 * only when it differs, so a step interrupted half-way is finished by running it again.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ClusterPki,
  createClusterPki,
  issueReplicaCerts,
  withoutReplica,
  withReplica,
} from '@hacp/certs';
import {
  type AddressRef,
  ErrorCode,
  HacpError,
  type Instance,
  type InstanceNetwork,
  type InstanceRef,
  isHacpError,
  type LoadBalancerSpec,
  type Logger,
  type ProviderV1,
  waitUntil,
} from '@hacp/core';
import type { EtcdMember } from '@hacp/etcd';
import type { EndpointStep, PlanStep, StepAction } from '@hacp/topology';
import {
  deleteReplicaIdentityLeases,
  kubernetesRender,
  recordIdentityLeasesBefore,
  stopKubernetes,
  waitKubernetesReady,
} from './kubernetes/steps.js';
import type { KubernetesContext } from './kubernetes/version.js';
import { type EtcdAccess, openEtcd } from './observe.js';
import type { PkiStore } from './pki-store.js';
import type { ClusterRecord, Journal } from './record.js';
import { etcdPeerUrl, REPLICA_PORTS, renderReplica, replicaHealthCheck } from './render.js';
import type { ControlPlaneEvent, ControlPlaneTimeouts, StepStatus } from './types.js';

/** What a step needs; the journal is the operation's memory across runs. */
export interface StepContext {
  provider: ProviderV1;
  cluster: string;
  pkiStore: PkiStore;
  dataDir: string;
  journal: Journal;
  /** Saves the journal (compare-and-swap) after a change to it. */
  saveJournal(): Promise<void>;
  /** The record, once written (undefined early in `up`). */
  record(): Promise<ClusterRecord | undefined>;
  writeRecord(record: ClusterRecord): Promise<void>;
  deleteRecord(): Promise<void>;
  /** Where Kubernetes binaries come from, for a provider that runs them on this machine. */
  kubernetes: KubernetesContext;
  timeouts: ControlPlaneTimeouts;
  logger: Logger;
  emit(event: ControlPlaneEvent): void;
  signal: AbortSignal;
  /** A kubeconfig file given for the cluster's Kubernetes API, instead of its own admin credentials. */
  kubeconfigFile?: string;
  /** Request ids for this step's mutating calls: `<step request id>-<n>`. */
  requestId(): string;
}

export type { StepStatus };

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Where the cluster's address and load balancer are. */
async function settingsOf(
  context: StepContext,
): Promise<{ region: string; addressName: string; lbName: string }> {
  const target = context.journal.target;
  return { region: target.region, addressName: target.addressName, lbName: target.loadBalancerName };
}

async function addressRef(context: StepContext): Promise<AddressRef> {
  const settings = await settingsOf(context);
  return { name: settings.addressName, region: settings.region };
}

function zoneOf(context: StepContext, replica: string): string {
  const known = context.journal.networks[replica]?.zone;
  if (known !== undefined) return known;
  for (const step of [...context.journal.plan.steps, ...context.journal.plan.onFailure]) {
    const action = step.action;
    if (
      (action.kind === 'create-instance' || action.kind === 'delete-instance') &&
      action.replica === replica
    ) {
      return action.zone;
    }
  }
  throw new HacpError({
    code: ErrorCode.INTERNAL,
    message: `The plan does not say which zone ${replica} is in.`,
    details: { replica },
  });
}

async function networkOf(context: StepContext, replica: string): Promise<InstanceNetwork> {
  const known = context.journal.networks[replica];
  if (known !== undefined) return known;
  const zone = zoneOf(context, replica);
  const network = await context.provider.instances.allocateNetwork(
    { name: replica, zone, cluster: context.cluster },
    { requestId: context.requestId(), signal: context.signal },
  );
  context.journal.networks[replica] = { ...network, zone };
  await context.saveJournal();
  return network;
}

async function requireRecord(context: StepContext): Promise<ClusterRecord> {
  const record = await context.record();
  if (record === undefined) {
    throw new HacpError({
      code: ErrorCode.STATE_CORRUPT,
      message: `Cluster ${context.cluster} has no record.`,
      actions: ['Run `hacp down --yes` to clean up what is left.'],
    });
  }
  return record;
}

async function runningInstances(context: StepContext): Promise<Instance[]> {
  const all = await context.provider.instances.list({ cluster: context.cluster }, { signal: context.signal });
  return all.filter((instance) => instance.status === 'running');
}

async function withEtcd<T>(
  context: StepContext,
  work: (etcd: EtcdAccess, pki: ClusterPki) => Promise<T>,
): Promise<T> {
  const record = await requireRecord(context);
  const pki = await context.pkiStore.load(record);
  const etcd = await openEtcd({
    provider: context.provider,
    pki,
    instances: await runningInstances(context),
    logger: context.logger,
    signal: context.signal,
  });
  if (etcd === undefined) {
    throw new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `No replica of cluster ${context.cluster} is running, so etcd cannot be reached.`,
      actions: ['Check the replicas with `hacp status`; start or restore them, then run `hacp resume`.'],
      retryable: true,
    });
  }
  try {
    return await work(etcd, pki);
  } finally {
    await etcd.close();
  }
}

function findMember(
  members: readonly EtcdMember[],
  replica: string,
  peerUrl?: string,
  id?: string,
): EtcdMember | undefined {
  return members.find(
    (member) =>
      (id !== undefined && member.id === id) ||
      member.name === replica ||
      (peerUrl !== undefined && member.peerUrls.includes(peerUrl)),
  );
}

function missingInstance(replica: string): HacpError {
  return new HacpError({
    code: ErrorCode.REPLICA_NOT_FOUND,
    message: `Replica ${replica} has no instance.`,
    actions: ['Run `hacp repair`.'],
    details: { replica },
  });
}

/** The instance ref of a replica that exists, for load-balancer targets. */
async function instanceRef(context: StepContext, replica: string): Promise<InstanceRef> {
  const instances = await context.provider.instances.list(
    { cluster: context.cluster },
    { signal: context.signal },
  );
  const instance = instances.find((i) => i.name === replica);
  if (instance === undefined) throw missingInstance(replica);
  return { name: instance.name, zone: instance.zone };
}

/** Waits until the replica's etcd member answers a linearizable read. */
async function waitMemberHealthy(context: StepContext, replica: string): Promise<void> {
  await waitUntil({
    description: `${replica} to be healthy`,
    timeoutMs: context.timeouts.healthy,
    signal: context.signal,
    minDelayMs: 200,
    maxDelayMs: 2000,
    retryOn: () => true,
    check: async () => {
      const healthy = await withEtcd(context, async (etcd) => {
        const members = await etcd.client.members({ signal: context.signal });
        const member = members.find((m) => m.name === replica);
        if (member === undefined) return false;
        const health = await etcd.client.health({ signal: context.signal, timeoutMs: 2000 });
        return health.some((entry) => entry.id === member.id && entry.healthy);
      });
      return healthy ? { done: true, value: true } : { done: false, reason: `${replica} is not healthy yet` };
    },
  });
}

/** Waits until the load balancer reports the replica healthy (its health check passes). */
async function waitTargetHealthy(context: StepContext, replica: string): Promise<void> {
  const settings = await settingsOf(context);
  context.emit({
    type: 'waiting',
    operationId: context.journal.id,
    message: `the load balancer's health check to pass for ${replica}`,
  });
  await waitUntil({
    description: `the load balancer's health check to pass for ${replica}`,
    timeoutMs: context.timeouts.target,
    signal: context.signal,
    minDelayMs: 200,
    maxDelayMs: 1000,
    check: async () => {
      const lb = await context.provider.loadBalancers.get(
        { name: settings.lbName, region: settings.region },
        { signal: context.signal },
      );
      const healthy = lb?.targetHealth.some((entry) => entry.instance.name === replica && entry.healthy);
      return healthy ? { done: true, value: true } : { done: false };
    },
  });
}

/** The load balancer the endpoint moves to: the API port, the record's health check, these targets. */
async function loadBalancerSpec(
  context: StepContext,
  targetNames: readonly string[],
): Promise<LoadBalancerSpec> {
  const record = await requireRecord(context);
  const settings = await settingsOf(context);
  return {
    name: settings.lbName,
    region: settings.region,
    address: settings.addressName,
    port: REPLICA_PORTS.apiserver,
    healthCheck: record.healthCheck,
    targets: await Promise.all(targetNames.map((name) => instanceRef(context, name))),
  };
}

async function loadBalancerOf(context: StepContext) {
  const settings = await settingsOf(context);
  const ref = { name: settings.lbName, region: settings.region };
  return { ref, lb: await context.provider.loadBalancers.get(ref, { signal: context.signal }) };
}

async function runEndpointStep(context: StepContext, step: EndpointStep): Promise<StepStatus> {
  const { provider, signal } = context;
  const address = await addressRef(context);
  switch (step.action) {
    case 'attach-address': {
      const current = await provider.addresses.get(address, { signal });
      if (current?.holder?.kind === 'instance' && current.holder.instance.name === step.replica)
        return 'skipped';
      await provider.addresses.attach(address, await instanceRef(context, step.replica), {
        requestId: context.requestId(),
        signal,
      });
      return 'done';
    }
    case 'create-load-balancer': {
      // The contract's load balancer is created on the address (ensure takes it over), so this step
      // checks what the move needs: every first target is healthy before its address moves. A
      // provider that can build the parts that need no address (GCE: health check, target pool)
      // builds them now, so that the move's gap is only detach and take-over.
      for (const target of step.targets) await waitMemberHealthy(context, target);
      if (provider.loadBalancers.prepare !== undefined) {
        await provider.loadBalancers.prepare(await loadBalancerSpec(context, step.targets), {
          requestId: context.requestId(),
          signal,
        });
      }
      return 'done';
    }
    case 'move-address-to-load-balancer': {
      const { lb } = await loadBalancerOf(context);
      const current = await provider.addresses.get(address, { signal });
      if (lb !== undefined && current?.holder?.kind === 'load-balancer') {
        await waitTargetHealthy(context, step.from);
        return 'skipped';
      }
      const createStep = context.journal.plan.steps.find(
        (s) => s.action.kind === 'endpoint' && s.action.step.action === 'create-load-balancer',
      );
      const targetNames =
        createStep?.action.kind === 'endpoint' && createStep.action.step.action === 'create-load-balancer'
          ? createStep.action.step.targets
          : [step.from];
      const spec = await loadBalancerSpec(context, targetNames);
      // The shortest gap: detach and take over back to back, then wait for the health check.
      await provider.addresses.detach(address, { requestId: context.requestId(), signal });
      await provider.loadBalancers.ensure(spec, { requestId: context.requestId(), signal });
      await waitTargetHealthy(context, step.from);
      return 'done';
    }
    case 'add-target': {
      await waitMemberHealthy(context, step.replica);
      const { ref, lb } = await loadBalancerOf(context);
      if (lb === undefined) throw missingLoadBalancer(context);
      if (!lb.targets.some((target) => target.name === step.replica)) {
        const target = await instanceRef(context, step.replica);
        await provider.loadBalancers.setTargets(ref, [...lb.targets, target], {
          requestId: context.requestId(),
          signal,
        });
        await waitTargetHealthy(context, step.replica);
        return 'done';
      }
      await waitTargetHealthy(context, step.replica);
      return 'skipped';
    }
    case 'remove-target': {
      const { ref, lb } = await loadBalancerOf(context);
      if (lb === undefined || !lb.targets.some((target) => target.name === step.replica)) return 'skipped';
      await provider.loadBalancers.setTargets(
        ref,
        lb.targets.filter((target) => target.name !== step.replica),
        { requestId: context.requestId(), signal },
      );
      context.emit({
        type: 'waiting',
        operationId: context.journal.id,
        message: `connections to ${step.replica} to drain`,
      });
      await sleep(context.timeouts.drain, signal);
      return 'done';
    }
    case 'move-address-to-replica': {
      const current = await provider.addresses.get(address, { signal });
      if (current?.holder?.kind === 'instance' && current.holder.instance.name === step.replica)
        return 'skipped';
      const { ref } = await loadBalancerOf(context);
      // The load balancer lets go of the address, and the replica takes it straight after. Where the
      // provider can free the address alone (GCE: the forwarding rule), the rest of the load
      // balancer goes in the next step, after the replica holds the address.
      if (provider.loadBalancers.releaseAddress !== undefined) {
        await provider.loadBalancers.releaseAddress(ref, { requestId: context.requestId(), signal });
      } else {
        await provider.loadBalancers.delete(ref, { requestId: context.requestId(), signal });
      }
      await provider.addresses.attach(address, await instanceRef(context, step.replica), {
        requestId: context.requestId(),
        signal,
      });
      return 'done';
    }
    case 'delete-load-balancer': {
      const { ref, lb } = await loadBalancerOf(context);
      if (lb === undefined) return 'skipped';
      await provider.loadBalancers.delete(ref, { requestId: context.requestId(), signal });
      return 'done';
    }
    case 'release-address': {
      const current = await provider.addresses.get(address, { signal });
      if (current === undefined) return 'skipped';
      if (current.holder?.kind === 'instance') {
        await provider.addresses.detach(address, { requestId: context.requestId(), signal });
      }
      await provider.addresses.release(address, { requestId: context.requestId(), signal });
      return 'done';
    }
  }
}

function missingLoadBalancer(context: StepContext): HacpError {
  return new HacpError({
    code: ErrorCode.STATE_CORRUPT,
    message: `Cluster ${context.cluster} has no load balancer, but the plan needs one.`,
    actions: ['Run `hacp status`, then `hacp repair`.'],
  });
}

async function createInstance(
  context: StepContext,
  action: Extract<StepAction, { kind: 'create-instance' }>,
): Promise<StepStatus> {
  const ref = { name: action.replica, zone: action.zone };
  const existing = await context.provider.instances.get(ref, { signal: context.signal });
  if (existing !== undefined && existing.status !== 'terminated') return 'skipped';
  const record = await requireRecord(context);
  const pki = await context.pkiStore.load(record);
  const network = await networkOf(context, action.replica);
  const peerUrl = etcdPeerUrl(network);
  let initialCluster = [{ name: action.replica, peerUrl }];
  if (action.etcdState === 'existing') {
    initialCluster = await withEtcd(context, async (etcd) => {
      const members = await etcd.client.members({ signal: context.signal });
      return members.map((member) => ({
        name: member.peerUrls.includes(peerUrl) ? action.replica : member.name,
        peerUrl: member.peerUrls[0] as string,
      }));
    });
    if (!initialCluster.some((entry) => entry.name === action.replica)) {
      throw new HacpError({
        code: ErrorCode.CONFLICT,
        message: `${action.replica} has no etcd member to join as; its learner is gone.`,
        actions: ['Run the operation again from the start after `hacp repair`.'],
        details: { replica: action.replica },
      });
    }
  }
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
  context.emit({ type: 'waiting', operationId: context.journal.id, message: `${action.replica} to start` });
  await context.provider.instances.create(
    {
      name: action.replica,
      zone: action.zone,
      cluster: context.cluster,
      nodeConfig,
      labels: { 'hacp-cluster': context.cluster },
    },
    { requestId: context.requestId(), signal: context.signal },
  );
  return 'done';
}

/** Runs one step. */
export async function runStep(context: StepContext, step: PlanStep): Promise<StepStatus> {
  const { provider, signal, journal } = context;
  const action = step.action;
  switch (action.kind) {
    case 'validate-zone': {
      const zones = await provider.zones.list({ signal });
      if (!zones.some((zone) => zone.name === action.zone)) {
        throw new HacpError({
          code: ErrorCode.ZONE_INVALID,
          message: `Provider ${provider.name} has no zone ${action.zone}; it offers ${zones.map((z) => z.name).join(', ')}.`,
          actions: [`Pick one of: ${zones.map((z) => z.name).join(', ')}.`],
          details: { zone: action.zone },
        });
      }
      return 'done';
    }
    case 'reserve-address': {
      const ref = await addressRef(context);
      if ((await provider.addresses.get(ref, { signal })) !== undefined) return 'skipped';
      await provider.addresses.reserve(ref, { requestId: context.requestId(), signal });
      return 'done';
    }
    case 'ensure-firewall': {
      const names = [`${context.cluster}-master-etcd`, `${context.cluster}-master-https`];
      await provider.firewalls.ensure(
        {
          name: names[0] as string,
          cluster: context.cluster,
          protocol: 'tcp',
          ports: ['2379-2381'],
          from: 'replicas',
        },
        { requestId: context.requestId(), signal },
      );
      await provider.firewalls.ensure(
        {
          name: names[1] as string,
          cluster: context.cluster,
          protocol: 'tcp',
          ports: ['443', '6443'],
          from: 'any',
        },
        { requestId: context.requestId(), signal },
      );
      return 'done';
    }
    case 'create-pki': {
      if (await context.pkiStore.exists()) return 'skipped';
      const address = await provider.addresses.get(await addressRef(context), { signal });
      if (address === undefined)
        throw new HacpError({
          code: ErrorCode.STATE_CORRUPT,
          message: 'The endpoint address is not reserved.',
        });
      const request = journal.request;
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
    }
    case 'write-record': {
      if ((await context.record()) !== undefined) return 'skipped';
      const pki = await context.pkiStore.load();
      const settings = await settingsOf(context);
      const kubernetesVersion = journal.settings?.kubernetesVersion;
      await context.writeRecord({
        formatVersion: 1,
        cluster: context.cluster,
        provider: provider.name,
        region: settings.region,
        firstZone: action.firstZone,
        multizone: action.multizone,
        quorumReads: action.quorumReads,
        etcdToken: journal.settings?.etcdToken ?? `hacp-${context.cluster}-${randomBytes(4).toString('hex')}`,
        addressName: settings.addressName,
        loadBalancerName: settings.lbName,
        firewallNames: [`${context.cluster}-master-etcd`, `${context.cluster}-master-https`],
        healthCheck: replicaHealthCheck(kubernetesVersion !== undefined),
        kubeApiserver: kubernetesVersion !== undefined,
        ...(kubernetesVersion === undefined ? {} : { kubernetesVersion }),
        caCertificates: { ca: pki.ca.certPem, etcdCa: pki.etcdCa.certPem },
        createdAt: journal.settings?.createdAt ?? new Date().toISOString(),
      });
      return 'done';
    }
    case 'preflight':
      // Checked when the plan was made, under the lock; a resumed run re-plans nothing.
      return 'done';
    case 'snapshot': {
      const dir = join(context.dataDir, 'backups');
      const file = join(dir, `${journal.id}-${step.id.replace(/[^a-z0-9-]/gi, '_')}.db`);
      if (existsSync(file)) return 'skipped';
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await withEtcd(context, (etcd) => etcd.client.snapshot(file, { signal }));
      return 'done';
    }
    case 'issue-certs': {
      const record = await requireRecord(context);
      const pki = await context.pkiStore.load(record);
      const network = await networkOf(context, action.replica);
      const current = pki.replicas[action.replica]?.identity;
      if (current?.internalIp === network.internalIp && current.hostname === network.hostname)
        return 'skipped';
      const certs = await issueReplicaCerts(pki, {
        replicaName: action.replica,
        hostname: network.hostname,
        internalIp: network.internalIp,
      });
      await context.pkiStore.save(withReplica(pki, certs));
      return 'done';
    }
    case 'add-learner': {
      const network = await networkOf(context, action.replica);
      const peerUrl = etcdPeerUrl(network);
      return withEtcd(context, async (etcd) => {
        const members = await etcd.client.members({ signal });
        if (findMember(members, action.replica, peerUrl) !== undefined) return 'skipped';
        context.emit({
          type: 'waiting',
          operationId: journal.id,
          message: `etcd to accept ${action.replica} as a learner`,
        });
        const add = () =>
          etcd.client.addLearner({
            name: action.replica,
            peerUrl,
            signal,
            timeoutMs: context.timeouts.healthy,
          });
        try {
          await add();
        } catch (error) {
          // etcd 3.4 derives a member id from the peer URL and the time in whole seconds: adding the
          // peer URL of a member removed within the same second (a rolled-back replicate run again at
          // once) collides with the removed id and etcd answers "member not found". The next second
          // gives a new id.
          if (!isHacpError(error, ErrorCode.NOT_FOUND)) throw error;
          await sleep(1100, signal);
          await add();
        }
        return 'done';
      });
    }
    case 'create-instance':
      return createInstance(context, action);
    case 'wait-healthy': {
      context.emit({ type: 'waiting', operationId: journal.id, message: `${action.replica} to be healthy` });
      await waitMemberHealthy(context, action.replica);
      const record = await requireRecord(context);
      if (record.kubernetesVersion !== undefined) {
        context.emit({
          type: 'waiting',
          operationId: journal.id,
          message: `${action.replica}'s kube-apiserver, controller-manager and scheduler to be ready`,
        });
        const instance = await context.provider.instances.get(
          { name: action.replica, zone: zoneOf(context, action.replica) },
          { signal },
        );
        if (instance === undefined) throw missingInstance(action.replica);
        await waitKubernetesReady(context, record, instance);
      }
      return 'done';
    }
    case 'stop-kubernetes':
      return stopKubernetes(context, { name: action.replica, zone: zoneOf(context, action.replica) });
    case 'promote-learner': {
      const network = await networkOf(context, action.replica);
      return withEtcd(context, async (etcd) => {
        const members = await etcd.client.members({ signal });
        const member = findMember(members, action.replica, etcdPeerUrl(network));
        if (member === undefined) {
          throw new HacpError({
            code: ErrorCode.LEARNER_STALLED,
            message: `${action.replica}'s learner is gone from etcd; it was evicted or removed.`,
            actions: ['The replica is rolled back; run the operation again.'],
            details: { replica: action.replica },
          });
        }
        if (!member.learner) return 'skipped';
        context.emit({
          type: 'waiting',
          operationId: journal.id,
          message: `${action.replica} to catch up with the leader`,
        });
        await etcd.client.promoteWhenReady(member.id, {
          signal,
          timeoutMs: context.timeouts.promote,
          stallAfterMs: context.timeouts.learnerStall,
          waitServing: true,
        });
        return 'done';
      });
    }
    case 'move-leader':
      return withEtcd(context, async (etcd) => {
        const members = await etcd.client.members({ signal });
        const member = findMember(members, action.from);
        if (member === undefined) return 'skipped';
        const moved = await etcd.client.moveLeaderAway(member.id, { signal });
        return moved.moved ? 'done' : 'skipped';
      });
    case 'remove-member': {
      const network = journal.networks[action.replica];
      return withEtcd(context, async (etcd) => {
        const members = await etcd.client.members({ signal });
        const member = findMember(
          members,
          action.replica,
          network === undefined ? undefined : etcdPeerUrl(network),
          action.memberId,
        );
        if (member === undefined) return 'skipped';
        await etcd.client.removeMember(member.id, { signal });
        return 'done';
      });
    }
    case 'migrate-member': {
      const network = await networkOf(context, action.replica);
      const peerUrl = etcdPeerUrl(network);
      return withEtcd(context, async (etcd) => {
        const members = await etcd.client.members({ signal });
        const member = findMember(members, action.replica);
        if (member === undefined || member.peerUrls.includes(peerUrl)) return 'skipped';
        await etcd.client.migrateMember(member.id, peerUrl, { signal });
        return 'done';
      });
    }
    case 'delete-instance': {
      const ref = { name: action.replica, zone: action.zone };
      const { ref: lbRef, lb } = await loadBalancerOf(context).catch(() => ({
        ref: undefined,
        lb: undefined,
      }));
      if (lbRef !== undefined && lb?.targets.some((target) => target.name === action.replica)) {
        await provider.loadBalancers.setTargets(
          lbRef,
          lb.targets.filter((target) => target.name !== action.replica),
          { requestId: context.requestId(), signal },
        );
      }
      const existing = await provider.instances.get(ref, { signal });
      if (existing !== undefined) {
        await provider.instances.delete(ref, {
          requestId: context.requestId(),
          signal,
          keepDisk: action.keepDisk,
        });
      }
      if (!action.keepDisk && (await context.pkiStore.exists())) {
        const pki = await context.pkiStore.load();
        if (pki.replicas[action.replica] !== undefined)
          await context.pkiStore.save(withoutReplica(pki, action.replica));
      }
      if (journal.operation !== 'down' && journal.networks[action.replica] !== undefined) {
        delete journal.networks[action.replica];
        await context.saveJournal();
      }
      return existing === undefined ? 'skipped' : 'done';
    }
    case 'delete-identity-lease':
      // The replica is gone by now: its hostname is the one its network was given, else its name.
      return deleteReplicaIdentityLeases(context, await context.record(), {
        name: action.replica,
        hostname: journal.networks[action.replica]?.hostname ?? action.replica,
      });
    case 'endpoint':
      return runEndpointStep(context, action.step);
    case 'delete-firewall': {
      const record = await context.record();
      const names = record?.firewallNames ?? [
        `${context.cluster}-master-etcd`,
        `${context.cluster}-master-https`,
      ];
      for (const name of names)
        await provider.firewalls.delete(name, { requestId: context.requestId(), signal });
      return 'done';
    }
    case 'delete-record': {
      await context.deleteRecord();
      await context.pkiStore.remove();
      return 'done';
    }
  }
}
