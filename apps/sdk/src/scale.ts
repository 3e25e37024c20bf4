/**
 * `scale`: the cluster from its count to N, one replicate or remove at a time, each a normal
 * operation with its own lock and journal. The next change is chosen from the cluster as it is
 * after the last one (`@hacp/topology`'s nextScaleChange), so a run cut short and run again simply
 * goes on from where the cluster is, after finishing the change left in flight.
 */
import { ErrorCode, HacpError, isHacpError } from '@hacp/core';
import { assertScaleTarget, type ClusterView, nextScaleChange, placementWarnings } from '@hacp/topology';
import type { ClusterContext } from './cluster-context.js';
import type { OperationRequest } from './engine/runner.js';
import { observe, toClusterView } from './observe.js';
import { readJournal } from './record.js';
import type { OperationResult, ScaleOptions, ScaleResult } from './types.js';

/** Runs one operation (the control plane's runner). */
type RunOperation = (request: OperationRequest, signal?: AbortSignal) => Promise<OperationResult>;

/** The operations a scale is made of: one of them in flight is a scale's change cut short. */
const SCALE_CHANGES = new Set(['replicate', 'remove']);

/**
 * Scales the cluster to `options.replicas` (see ControlPlane.scale).
 * @throws HacpError INVALID_ARGUMENT and the zone errors, nothing changed; CONFLICT while another
 *   kind of operation is in flight; each change's own errors.
 */
export async function scaleCluster(
  context: ClusterContext,
  run: RunOperation,
  options: ScaleOptions,
): Promise<ScaleResult> {
  const { signal } = options;
  const target = {
    replicas: options.replicas,
    ...(options.zones === undefined ? {} : { zones: options.zones }),
    ...(options.allowEven === undefined ? {} : { allowEven: options.allowEven }),
    ...(options.force === undefined ? {} : { force: options.force }),
  };
  // Refusals first, before anything is resumed or changed.
  assertScaleTarget(await currentView(context, signal), target);
  const changes: OperationResult[] = [];
  const inFlight = await readJournal(context.provider.state, context.cluster, signal);
  if (inFlight !== undefined && SCALE_CHANGES.has(inFlight.value.operation)) {
    changes.push(
      await run({ operation: 'resume' }, signal).catch((error: unknown) =>
        throwWithScaleAgain(error, target.replicas),
      ),
    );
  }
  let view = await currentView(context, signal);
  const from = view.replicas.length;
  // Each change moves the count by one; more rounds than that means a change did not take.
  for (let round = 0; ; round++) {
    const change = nextScaleChange(view, target);
    if (change === undefined) break;
    if (round > Math.abs(from - target.replicas)) throw notConverging(context.cluster, view, target.replicas);
    const request: OperationRequest =
      change.kind === 'add'
        ? { operation: 'replicate', zone: change.zone }
        : { operation: 'remove', name: change.name, zone: change.zone };
    changes.push(
      await run(request, signal).catch((error: unknown) => throwWithScaleAgain(error, target.replicas)),
    );
    view = await currentView(context, signal);
  }
  return {
    operation: 'scale',
    cluster: context.cluster,
    from,
    to: view.replicas.length,
    changes,
    replicas: view.replicas
      .map((replica) => ({ name: replica.name, zone: replica.zone }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    warnings: placementWarnings(view.replicas),
  };
}

/** The cluster as it is now, through a session of its own. */
async function currentView(context: ClusterContext, signal?: AbortSignal): Promise<ClusterView> {
  const { value: record } = await context.requireRecord(signal);
  const session = context.openSession(record);
  try {
    return toClusterView(await observe({ session, record, ...(signal ? { signal } : {}) }));
  } finally {
    await session.close();
  }
}

/** A change's error, with what continues the whole scale once its cause is fixed. */
function throwWithScaleAgain(error: unknown, replicas: number): never {
  if (!isHacpError(error)) throw error;
  throw new HacpError({
    code: error.code,
    message: error.message,
    actions: [
      ...error.actions,
      `Then run \`hacp scale --replicas ${replicas}\` again: it finishes a change left in flight first, then goes on.`,
    ],
    details: error.details,
    retryable: error.retryable,
    cause: error,
  });
}

function notConverging(cluster: string, view: ClusterView, replicas: number): HacpError {
  return new HacpError({
    code: ErrorCode.CONFLICT,
    message: `Cluster ${cluster} has ${view.replicas.length} replicas after as many changes as scaling to ${replicas} takes: something else changes its replicas meanwhile.`,
    actions: ['Run `hacp status`, then `hacp scale` again.'],
    details: { cluster, replicas: view.replicas.length, target: replicas },
  });
}
