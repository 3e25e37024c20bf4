/**
 * What every step handler is given, and the small reads they share. Every handler reads the real
 * state first and acts only when it differs, so a step interrupted half-way is finished by running
 * it again.
 */
import {
  type AddressRef,
  ErrorCode,
  HacpError,
  type Instance,
  type InstanceNetwork,
  type InstanceRef,
  type Logger,
  type ProviderV1,
} from '@hacp/core';
import type { EtcdMember } from '@hacp/etcd';
import type { PlanStep, StepAction, StepKind } from '@hacp/topology';
import type { RetentionRules } from '../backup-retention.js';
import type { KubernetesContext } from '../kubernetes/version.js';
import type { PkiStore } from '../pki-store.js';
import type { ClusterRecord, Journal } from '../record.js';
import type { Backup, ControlPlaneEvent, ControlPlaneTimeouts, StepStatus } from '../types.js';
import type { OperationSession } from './session.js';

/** What a step needs; the journal is the operation's memory across runs. */
export interface StepContext {
  session: OperationSession;
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
  /** The retention in force, applied after each new backup. */
  backupRetention: RetentionRules;
  /** A snapshot step took (or found) its backup: the operation's result names it. */
  backupTaken(backup: Backup): void;
  logger: Logger;
  emit(event: ControlPlaneEvent): void;
  signal: AbortSignal;
  /** A kubeconfig file given for the cluster's Kubernetes API, instead of its own admin credentials. */
  kubeconfigFile?: string;
  /** Request ids for this step's mutating calls: `<step request id>-<n>`. */
  requestId(): string;
}

/** Runs one kind of step. */
export type StepHandler<K extends StepKind = StepKind> = (
  context: StepContext,
  action: Extract<StepAction, { kind: K }>,
  step: PlanStep,
) => Promise<StepStatus>;

/** One handler per step kind. */
export type StepHandlers = { [K in StepKind]: StepHandler<K> };

export const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** The cluster's address: known before its record exists (early in `up`). */
export function addressRef(context: StepContext): AddressRef {
  return { name: context.journal.target.addressName, region: context.journal.target.region };
}

/** The cluster's load balancer. */
export function loadBalancerRef(context: StepContext): { name: string; region: string } {
  return { name: context.journal.target.loadBalancerName, region: context.journal.target.region };
}

/** The zone of a replica this operation creates or deletes, from its network or its plan. */
export function zoneOf(context: StepContext, replica: string): string {
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

/** Whether this operation's plan creates the replica (so it may allocate its network). */
export function ownsReplica(context: StepContext, replica: string): boolean {
  return [...context.journal.plan.steps, ...context.journal.plan.onFailure].some(
    (step) => step.action.kind === 'create-instance' && step.action.replica === replica,
  );
}

/**
 * The network of a replica this operation creates, kept in the journal from the next commit point
 * on. Allocation is idempotent by name, so a run cut short before then is given the same again.
 */
export async function networkOf(context: StepContext, replica: string): Promise<InstanceNetwork> {
  const known = context.journal.networks[replica];
  if (known !== undefined) return known;
  const zone = zoneOf(context, replica);
  const network = await context.provider.instances.allocateNetwork(
    { name: replica, zone, cluster: context.cluster },
    { requestId: context.requestId(), signal: context.signal },
  );
  context.journal.networks[replica] = { ...network, zone };
  return network;
}

export async function requireRecord(context: StepContext): Promise<ClusterRecord> {
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

/** The replica's instance as the session last listed it. */
export async function findInstance(context: StepContext, replica: string): Promise<Instance | undefined> {
  const instances = await context.session.instances(context.signal);
  return instances.find((instance) => instance.name === replica);
}

export function missingInstance(replica: string): HacpError {
  return new HacpError({
    code: ErrorCode.REPLICA_NOT_FOUND,
    message: `Replica ${replica} has no instance.`,
    actions: ['Run `hacp repair`.'],
    details: { replica },
  });
}

/** The instance ref of a replica that exists, for load-balancer targets and the address. */
export async function instanceRef(context: StepContext, replica: string): Promise<InstanceRef> {
  const instance = await findInstance(context, replica);
  if (instance === undefined) throw missingInstance(replica);
  return { name: instance.name, zone: instance.zone };
}

/** The replica's member: by id, by name, or by the peer URL its network gives it. */
export function findMember(
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

/** Says what the operation waits for, as an event. */
export function announceWait(context: StepContext, message: string): void {
  context.emit({ type: 'waiting', operationId: context.journal.id, message });
}
