/**
 * From a request to a plan: the refusals made before the lock (`precheck`), the plan made from one
 * observation under it (`makePlan`), and what a new operation settles before it writes anything
 * (`newOperation`: `up`'s Kubernetes version, the binaries a new replica needs). Reads only.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { CA_KEYS, type ClusterPki, rotatingCas } from '@hacp/certs';
import { ErrorCode, HacpError, regionOfZone } from '@hacp/core';
import {
  assertReplicaZone,
  type Plan,
  planDown,
  planRemove,
  planRenewCerts,
  planRepair,
  planReplace,
  planReplicate,
  planRotateCa,
  planScale,
  planUp,
} from '@hacp/topology';
import { type ClusterContext, notFound } from './cluster-context.js';
import { type NewOperation, nothingToResume, type OperationRequest } from './engine/runner.js';
import type { OperationSession } from './engine/session.js';
import { assertCanRoll } from './engine/steps/certs.js';
import { chooseKubernetes, type KubernetesChoice, kubernetesPrograms } from './kubernetes/version.js';
import { nameSuffixes } from './naming.js';
import { observe, toClusterView } from './observe.js';
import { type Journal, readJournal, readRecord } from './record.js';
import { planRecovery } from './recovery.js';
import type { PlanRequest } from './types.js';
import { assertZoneUsable } from './zones.js';

/** A plan and the names of what its operation manages. */
interface Planned {
  plan: Plan;
  target: Journal['target'];
}

/** `up`'s plan: refused when the cluster, or a PKI of its name, exists already. */
async function planNewCluster(
  context: ClusterContext,
  request: Extract<PlanRequest, { operation: 'up' }>,
  signal?: AbortSignal,
): Promise<Planned> {
  const { provider, cluster, pkiStore } = context;
  if ((await readRecord(provider.state, cluster, signal)) !== undefined) {
    throw new HacpError({
      code: ErrorCode.ALREADY_EXISTS,
      message: `Cluster ${cluster} exists already.`,
      actions: [
        'Add replicas with `hacp replicate --zone <zone>`.',
        'If its replicas are down or lost, `hacp status` says how to bring it back (`hacp zone restore`, `hacp repair` or `hacp recover`).',
        'Or pick another name with --cluster.',
      ],
      details: { cluster },
    });
  }
  // A fresh up finds no PKI: one there belongs to another cluster of this name (another
  // provider's, or one whose provider state is gone), whose CAs must not be reused or deleted.
  if (await pkiStore.exists()) {
    throw new HacpError({
      code: ErrorCode.ALREADY_EXISTS,
      message: `${pkiStore.dir} holds the PKI of another cluster named ${cluster} (with another provider than ${provider.name}, or one whose provider state is gone); hacp will not reuse its CAs or overwrite them.`,
      actions: [
        'Pick another name with --cluster, or another --state-dir.',
        `If that cluster is gone for good, move ${pkiStore.dir} away first.`,
      ],
      details: { cluster, dir: pkiStore.dir },
    });
  }
  const zones = (await provider.zones.list({ signal })).map((zone) => zone.name);
  const plan = planUp({
    cluster,
    zone: request.zone,
    multizone: request.multizone ?? false,
    quorumReads: request.quorumReads ?? false,
    zones,
  });
  return {
    plan,
    target: {
      region: regionOfZone(request.zone),
      addressName: `${cluster}-master-ip`,
      loadBalancerName: `${cluster}-master`,
    },
  };
}

/**
 * The refusals a request gets before the lock is taken, from what does not change while another
 * hacp works: the cluster exists (or, for `up`, does not), the zone, and for `resume` an
 * operation to resume. The rest comes from the observation made under the lock.
 */
export async function precheck(
  context: ClusterContext,
  request: OperationRequest,
  signal?: AbortSignal,
): Promise<void> {
  const { provider, cluster } = context;
  if (request.operation === 'up') {
    await planNewCluster(context, request, signal);
    await assertZoneUsable(provider, request.zone, signal);
  } else if (request.operation === 'resume') {
    if ((await readJournal(provider.state, cluster, signal)) === undefined) throw nothingToResume(cluster);
  } else if (request.operation !== 'down') {
    const { value: record } = await context.requireRecord(signal);
    if (request.operation === 'replicate' && request.zone !== undefined) {
      const { region, multizone, firstZone } = record;
      assertReplicaZone({ zone: request.zone, region, multizone, firstZone });
      await assertZoneUsable(provider, request.zone, signal);
    }
  }
}

/** The plan for a request, from what the cluster looks like now (through the session). */
export async function makePlan(
  context: ClusterContext,
  request: PlanRequest,
  session: OperationSession,
  signal?: AbortSignal,
): Promise<Planned> {
  const { provider, cluster } = context;
  if (request.operation === 'up') return planNewCluster(context, request, signal);
  const stored = await readRecord(provider.state, cluster, signal);
  if (stored === undefined) {
    if (request.operation === 'down') return downWithoutRecord(context, signal);
    throw notFound(cluster, provider.name);
  }
  const record = stored.value;
  const target = {
    region: record.region,
    addressName: record.addressName,
    loadBalancerName: record.loadBalancerName,
  };
  // `down` deletes whatever it finds, so it does not need etcd to answer.
  const observation = await observe({
    session,
    record,
    ...(signal ? { signal } : {}),
    requireReach: request.operation !== 'down',
    // A lost quorum is what `recover` is for: members that do not answer are its input, not an error.
    ...(request.operation === 'recover' ? { requireMembers: false } : {}),
  });
  const view = toClusterView(observation);
  const randomHex = nameSuffixes(record, view);
  switch (request.operation) {
    case 'replicate':
      return { plan: planReplicate(view, { zone: request.zone, name: request.name, randomHex }), target };
    case 'remove':
      return { plan: planRemove(view, { zone: request.zone, name: request.name }), target };
    case 'replace':
      return {
        plan: planReplace(view, {
          name: request.name,
          randomHex,
          ...(request.keepData === undefined ? {} : { keepData: request.keepData }),
          ...(request.maxSurge === 0 ? { surge: false } : {}),
        }),
        target,
      };
    case 'repair':
      return { plan: planRepair(view, { randomHex }), target };
    case 'scale': {
      // Only planned: `scale` runs each change as its own replicate or remove (scale.ts).
      const { operation: _operation, ...options } = request;
      return { plan: planScale(view, { ...options, randomHex }), target };
    }
    case 'down':
      return { plan: planDown(view), target };
    case 'recover': {
      const plan = await planRecovery({
        catalogue: context,
        observation,
        view,
        request,
        naming: { randomHex },
      });
      return { plan, target };
    }
    case 'renew-certs':
    case 'rotate-ca': {
      if (request.operation === 'rotate-ca')
        assertNoOtherRotation(await context.pkiStore.load(record), request.ca, cluster);
      const plan =
        request.operation === 'rotate-ca' ? planRotateCa(view, { ca: request.ca }) : planRenewCerts(view);
      assertCanRoll(
        provider,
        plan.expected.replicas.map((replica) => replica.name),
        request.operation === 'rotate-ca' ? 'certs rotate-ca' : 'certs renew',
      );
      return { plan, target };
    }
  }
}

/**
 * Refuses to start rotating one CA while another's rotation is mid-way (its next or previous CA still
 * in the PKI): finish that one first. The same CA's continues (each phase skips what is done).
 */
function assertNoOtherRotation(pki: ClusterPki, ca: string, cluster: string): void {
  const rotating = rotatingCas(pki);
  const others = (Object.keys(CA_KEYS) as (keyof typeof CA_KEYS)[]).filter(
    (name) => name !== ca && rotating.includes(CA_KEYS[name]),
  );
  if (others.length === 0) return;
  throw new HacpError({
    code: ErrorCode.CONFLICT,
    message: `Cluster ${cluster}'s ${others.join(' and ')} CA rotation is not finished: its replicas still trust two ${others[0]} CAs. One CA is rotated at a time. Nothing was changed.`,
    actions: [
      `Finish it first: \`hacp resume\`, or \`hacp certs rotate-ca --ca ${others[0]}\` again (it continues where it stopped); then rotate the ${ca} CA.`,
    ],
    details: { cluster, rotating: others },
  });
}

/** `down` after an `up` that stopped before writing its record: delete what it made. */
async function downWithoutRecord(context: ClusterContext, signal?: AbortSignal): Promise<Planned> {
  const { provider, cluster } = context;
  const journal = await readJournal(provider.state, cluster, signal);
  if (journal === undefined) throw notFound(cluster, provider.name);
  const instances = await provider.instances.list({ cluster }, { signal });
  const replicas = instances.map((instance) => ({
    name: instance.name,
    zone: instance.zone,
    createdAt: instance.createdAt.toISOString(),
    healthy: false,
  }));
  const plan = planDown({
    cluster,
    region: journal.value.target.region,
    firstZone: replicas[0]?.zone ?? `${journal.value.target.region}-a`,
    multizone: false,
    replicas,
    members: [],
    endpoint: { mode: 'attached', replica: replicas[0]?.name ?? `${cluster}-master` },
    zones: [],
  });
  return { plan, target: journal.value.target };
}

/**
 * What must hold before an operation writes anything: `up` picks its Kubernetes (and fetches the
 * binaries); an operation that creates a replica of a Kubernetes cluster needs its binaries here.
 */
async function prepare(
  context: ClusterContext,
  request: PlanRequest,
  signal?: AbortSignal,
): Promise<KubernetesChoice | undefined> {
  if (request.operation === 'up') return chooseKubernetes(request, context.kubernetesContext(signal));
  if (['down', 'remove', 'renew-certs', 'rotate-ca'].includes(request.operation)) return undefined;
  const version = (await readRecord(context.provider.state, context.cluster, signal))?.value
    .kubernetesVersion;
  if (version !== undefined) await kubernetesPrograms(version, context.kubernetesContext(signal));
  return undefined;
}

/** A new operation's plan, made under the lock from one observation, and what `up` settled. */
export async function newOperation(
  context: ClusterContext,
  request: PlanRequest,
  session: OperationSession,
  signal: AbortSignal,
): Promise<NewOperation> {
  const made = await makePlan(context, request, session, signal);
  const kubernetes = await prepare(context, request, signal);
  const warning = kubernetes?.warning;
  if (warning) context.emit({ type: 'warning', ...warning });
  return {
    plan: warning ? { ...made.plan, warnings: [...made.plan.warnings, warning] } : made.plan,
    target: made.target,
    ...(made.plan.operation === 'up'
      ? {
          settings: {
            uid: randomUUID(),
            etcdToken: `hacp-${context.cluster}-${randomBytes(6).toString('hex')}`,
            createdAt: new Date().toISOString(),
            ...(kubernetes?.version === undefined ? {} : { kubernetesVersion: kubernetes.version }),
          },
        }
      : {}),
  };
}
