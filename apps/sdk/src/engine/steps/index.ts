/** Every step kind's handler, in one record: a new kind does not compile until it has one. */
import type { PlanStep, StepKind } from '@hacp/topology';
import type { StepStatus } from '../../types.js';
import type { StepContext, StepHandler, StepHandlers } from '../context.js';
import { certHandlers } from './certs.js';
import { endpoint } from './endpoint.js';
import { memberHandlers } from './members.js';
import { recoverHandlers } from './recover.js';
import { replicaHandlers } from './replicas.js';
import { setupHandlers } from './setup.js';

export const STEP_HANDLERS: StepHandlers = {
  ...setupHandlers,
  ...memberHandlers,
  ...replicaHandlers,
  ...recoverHandlers,
  ...certHandlers,
  endpoint,
};

/**
 * Steps that only check or wait: they change nothing, so the journal is not written after them, and
 * a resumed run checks again.
 */
export const CHECK_STEPS: ReadonlySet<StepKind> = new Set<StepKind>([
  'validate-zone',
  'preflight',
  'wait-healthy',
]);

/**
 * Steps that change only the operator's own files (the PKI, a snapshot) and find their work done
 * when run again: no commit point either, so a cloud whose state store costs a write each (GCE)
 * pays only for changes to the cluster.
 */
export const LOCAL_STEPS: ReadonlySet<StepKind> = new Set<StepKind>([
  'create-pki',
  'issue-certs',
  'snapshot',
]);

/** Whether the journal is written after the step: it changed something in the cluster. */
export function commitsAfter(kind: StepKind): boolean {
  return !CHECK_STEPS.has(kind) && !LOCAL_STEPS.has(kind);
}

/** Runs one step with its kind's handler. */
export function runStep(context: StepContext, step: PlanStep): Promise<StepStatus> {
  const handler = STEP_HANDLERS[step.action.kind] as StepHandler;
  return handler(context, step.action, step);
}
