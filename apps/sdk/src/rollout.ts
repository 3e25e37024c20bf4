/**
 * `rollout restart` and `upgrade`: every replica replaced once, one at a time, each by a normal
 * journaled replace (new before old, or old before new with `maxSurge: 0` at three replicas or
 * more). What is left to do is kept in the state store beside the journal, so that the same command
 * run again after a kill finishes the interrupted replace and then the rest.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, HacpError } from '@hacp/core';
import { resolveKubernetesVersion } from '@hacp/kubernetes-release';
import { type ClusterView, type MaxSurge, rolloutOrder } from '@hacp/topology';
import type { ClusterContext } from './cluster-context.js';
import type { OperationRequest } from './engine/runner.js';
import { assertUpgradeSkew } from './kubernetes/skew.js';
import { chooseKubernetes } from './kubernetes/version.js';
import { observe, toClusterView } from './observe.js';
import { type ClusterRecord, clusterIdentity, readJournal, recordKey } from './record.js';
import type { OperationResult, RolloutResult } from './types.js';

/** What a rollout was asked, and what is left of it. */
interface RolloutState {
  formatVersion: 1;
  kind: RolloutRequest['kind'];
  /** The cluster it belongs to: a marker an earlier cluster of the name left is not followed. */
  clusterIdentity: string;
  /** The version the new replicas run; absent for an etcd-only cluster. */
  kubernetesVersion?: string;
  maxSurge: MaxSurge;
  startedAt: string;
  /** The replicas still to replace, in order. */
  pending: string[];
  replaced: RolloutResult['replaced'];
  /** The only replica's turn under way: its replacement's name, made before it is added. */
  surge?: { old: string; name: string; zone: string };
}

/** The rollout as stored, with the version its next write must expect. */
interface Stored {
  value: RolloutState;
  version: number;
}

const rolloutKey = (cluster: string) => `hacp/clusters/${cluster}/rollout`;

export interface RolloutRequest {
  kind: 'restart' | 'upgrade';
  /** `upgrade`: the version (or spec, such as `1.32`) to go to. */
  kubernetesVersion?: string;
  maxSurge?: number;
  signal?: AbortSignal;
}

type Run = (request: OperationRequest, signal?: AbortSignal) => Promise<OperationResult>;

/**
 * Runs a rollout, or continues the one under way when the request matches it.
 * @throws HacpError as `rolloutOrder` and `assertUpgradeSkew` refuse, before anything changes;
 *   CONFLICT while another rollout is under way; a replace's error otherwise (the same command run
 *   again continues).
 */
export async function runRollout(
  context: ClusterContext,
  run: Run,
  request: RolloutRequest,
): Promise<RolloutResult> {
  const { signal } = request;
  let stored = await startOrContinue(context, request);
  const { provider, cluster } = context;
  // What a kill cut short (the rollout's replace, or the replicate and remove of a last replica's
  // turn) is finished first; the loop below then finds that replica done, or half done.
  const journal = await readJournal(provider.state, cluster, signal);
  if (journal !== undefined && ['replace', 'replicate', 'remove'].includes(journal.value.operation)) {
    const old = (journal.value.request as { name?: string }).name ?? '';
    const before = (await observeView(context, signal)).replicas;
    const result = await run({ operation: 'resume' }, signal);
    // Someone else's replace is finished too, but only the rollout's own is noted.
    if (journal.value.operation === 'replace' && stored.value.pending.includes(old))
      stored = await noted(context, stored, old, before, result);
  }
  for (const name of stored.value.pending) {
    const before = (await observeView(context, signal)).replicas;
    const surge = stored.value.surge;
    if (!before.some((replica) => replica.name === name)) {
      // Gone: replaced by a run a kill cut short after its remove, or removed by someone else.
      const replaced =
        surge?.old === name
          ? [...stored.value.replaced, { old: name, new: surge.name, zone: surge.zone }]
          : stored.value.replaced;
      stored = await save(context, stored, {
        pending: stored.value.pending.filter((p) => p !== name),
        replaced,
        surge: undefined,
      });
      continue;
    }
    if (before.length === 1 || surge?.old === name) {
      stored = await replaceLast(context, run, stored, before, name, signal);
      continue;
    }
    const replace: OperationRequest = {
      operation: 'replace',
      name,
      keepData: false,
      ...(stored.value.maxSurge === 0 ? { maxSurge: 0 } : {}),
    };
    stored = await noted(context, stored, name, before, await run(replace, signal));
  }
  await provider.state.delete(rolloutKey(cluster), {
    expectedVersion: stored.version,
    requestId: `rollout-${stored.value.startedAt}-done`,
    ...(signal ? { signal } : {}),
  });
  const { kind, kubernetesVersion, replaced } = stored.value;
  return {
    operation: kind === 'restart' ? 'rollout-restart' : 'upgrade',
    cluster,
    ...(kubernetesVersion === undefined ? {} : { kubernetesVersion }),
    replaced,
  };
}

/**
 * The turn of a cluster's only replica, which `replace` refuses (it would take the cluster down):
 * a new replica in its zone by `replicate` (1→2, the address moves to a load balancer), then the old
 * one removed (2→1, the address moves to the new one). The new name is kept first, so that a run a
 * kill cut short knows which replica is the rollout's.
 */
async function replaceLast(
  context: ClusterContext,
  run: Run,
  stored: Stored,
  before: ClusterView['replicas'],
  old: string,
  signal?: AbortSignal,
): Promise<Stored> {
  let current = stored;
  const zone = before.find((replica) => replica.name === old)?.zone ?? '';
  if (current.value.surge?.old !== old) {
    const name = `${context.cluster}-master-${randomBytes(2).toString('hex').slice(0, 3)}`;
    current = await save(context, current, { surge: { old, name, zone } });
  }
  const added = current.value.surge?.name as string;
  if (!before.some((replica) => replica.name === added))
    await run({ operation: 'replicate', zone, name: added }, signal);
  await run({ operation: 'remove', name: old }, signal);
  return save(context, current, {
    pending: current.value.pending.filter((name) => name !== old),
    replaced: [...current.value.replaced, { old, new: added, zone }],
    surge: undefined,
  });
}

/** Notes a finished replace of `old`: its successor, and that it is no longer pending. */
function noted(
  context: ClusterContext,
  stored: Stored,
  old: string,
  before: ClusterView['replicas'],
  result: OperationResult,
): Promise<Stored> {
  const zone = before.find((replica) => replica.name === old)?.zone ?? '';
  const added = result.replicas.find((replica) => !before.some((b) => b.name === replica.name));
  return save(context, stored, {
    pending: stored.value.pending.filter((name) => name !== old),
    replaced: [...stored.value.replaced, { old, new: added?.name ?? old, zone: added?.zone ?? zone }],
  });
}

async function save(context: ClusterContext, stored: Stored, change: Partial<RolloutState>): Promise<Stored> {
  const value = { ...stored.value, ...change };
  if (value.surge === undefined) delete value.surge;
  const { version } = await context.provider.state.put(rolloutKey(context.cluster), value, {
    expectedVersion: stored.version,
    requestId: `rollout-${value.startedAt}-${value.pending.length}-${value.replaced.length}`,
  });
  return { value, version };
}

async function observeView(context: ClusterContext, signal?: AbortSignal): Promise<ClusterView> {
  const record = (await context.requireRecord(signal)).value;
  const session = context.openSession(record);
  try {
    return toClusterView(await observe({ session, record, ...(signal ? { signal } : {}) }));
  } finally {
    await session.close();
  }
}

/**
 * The rollout under way that the request continues, or a new one, checked before anything changes;
 * either way the record names the version the new replicas run.
 */
async function startOrContinue(context: ClusterContext, request: RolloutRequest): Promise<Stored> {
  const { provider, cluster } = context;
  const { signal } = request;
  const record = await context.requireRecord(signal);
  const identity = clusterIdentity(record.value);
  const found = await provider.state.get<RolloutState>(rolloutKey(cluster), signal ? { signal } : {});
  let stored: Stored;
  if (found !== undefined && found.value.clusterIdentity === identity) {
    if (!(await continues(context, found.value, request))) throw otherRollout(cluster, found.value);
    stored = found;
  } else {
    const maxSurge = request.maxSurge ?? 1;
    const command = request.kind === 'restart' ? '`hacp rollout restart`' : '`hacp upgrade`';
    const pending = rolloutOrder(await observeView(context, signal), { maxSurge, command });
    const kubernetesVersion = await targetVersion(context, record.value, request);
    const value: RolloutState = {
      formatVersion: 1,
      kind: request.kind,
      clusterIdentity: identity,
      ...(kubernetesVersion === undefined ? {} : { kubernetesVersion }),
      maxSurge: maxSurge as MaxSurge,
      startedAt: new Date().toISOString(),
      pending,
      replaced: [],
    };
    const { version } = await provider.state.put(rolloutKey(cluster), value, {
      expectedVersion: found?.version ?? 0,
      requestId: `rollout-${value.startedAt}`,
      ...(signal ? { signal } : {}),
    });
    stored = { value, version };
  }
  const wanted = stored.value.kubernetesVersion;
  if (wanted !== undefined && wanted !== record.value.kubernetesVersion)
    await recordVersion(context, wanted, signal);
  return stored;
}

/** Whether the request asks for the rollout under way: the same kind, surge and (resolved) version. */
async function continues(
  context: ClusterContext,
  state: RolloutState,
  request: RolloutRequest,
): Promise<boolean> {
  if (state.kind !== request.kind) return false;
  if (request.maxSurge !== undefined && request.maxSurge !== state.maxSurge) return false;
  if (request.kind === 'restart' || request.kubernetesVersion === undefined) return true;
  const { version } = await resolveKubernetesVersion(request.kubernetesVersion, {
    releaseUrl: context.kubernetesContext(request.signal).source.releaseUrl,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  return version === state.kubernetesVersion;
}

function otherRollout(cluster: string, state: RolloutState): HacpError {
  const what =
    state.kind === 'restart'
      ? '`hacp rollout restart`'
      : `\`hacp upgrade --kubernetes-version ${state.kubernetesVersion}\``;
  const count = `${state.pending.length} replica${state.pending.length === 1 ? '' : 's'}`;
  return new HacpError({
    code: ErrorCode.CONFLICT,
    message: `Cluster ${cluster} is in the middle of ${what} (started ${state.startedAt}, ${count} still to replace). Nothing was changed.`,
    actions: [`Run ${what} again to finish it first.`],
    details: { cluster, rollout: state.kind, pending: state.pending },
  });
}

/**
 * The version the new replicas run: a restart keeps the recorded one; an upgrade resolves the
 * requested one, checks the skew policy and has its binaries ready before anything changes.
 */
async function targetVersion(
  context: ClusterContext,
  record: ClusterRecord,
  request: RolloutRequest,
): Promise<string | undefined> {
  if (request.kind === 'restart') return record.kubernetesVersion;
  if (record.kubernetesVersion === undefined) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `Cluster ${context.cluster} runs etcd only: there is no Kubernetes to upgrade. Nothing was changed.`,
      actions: ['Use `hacp rollout restart` to replace every replica, or create a cluster with Kubernetes.'],
      details: { field: 'kubernetesVersion' },
    });
  }
  if (request.kubernetesVersion === undefined) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: 'An upgrade needs the version to go to. Nothing was changed.',
      actions: ['Pass --kubernetes-version, such as 1.32 or v1.32.0.'],
      details: { field: 'kubernetesVersion' },
    });
  }
  const kubernetes = context.kubernetesContext(request.signal);
  const { version } = await resolveKubernetesVersion(request.kubernetesVersion, {
    releaseUrl: kubernetes.source.releaseUrl,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  // The policy first: a refused version is not fetched.
  assertUpgradeSkew(record.kubernetesVersion, version);
  await chooseKubernetes({ kubernetesVersion: version }, kubernetes);
  return version;
}

/** The record names the version new replicas run. */
async function recordVersion(
  context: ClusterContext,
  kubernetesVersion: string,
  signal?: AbortSignal,
): Promise<void> {
  const lock = await context.takeLock(signal);
  try {
    const current = await context.requireRecord(signal);
    const value: ClusterRecord = { ...current.value, kubernetesVersion };
    await context.provider.state.put(recordKey(context.cluster), value, {
      expectedVersion: current.version,
      requestId: `upgrade-record-${kubernetesVersion}`,
      ...(signal ? { signal } : {}),
    });
  } finally {
    await lock.release();
  }
}
