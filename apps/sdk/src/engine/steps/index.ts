/** Every step kind's handler, in one record: a new kind does not compile until it has one. */
import type { PlanStep, StepKind } from '@hacp/topology';
import type { StepStatus } from '../../types.js';
import type { StepContext, StepHandler, StepHandlers } from '../context.js';
import { endpoint } from './endpoint.js';
import { memberHandlers } from './members.js';
import { replicaHandlers } from './replicas.js';
import { setupHandlers } from './setup.js';

export const STEP_HANDLERS: StepHandlers = {
  ...setupHandlers,
  ...memberHandlers,
  ...replicaHandlers,
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

/** Runs one step with its kind's handler. */
export function runStep(context: StepContext, step: PlanStep): Promise<StepStatus> {
  const handler = STEP_HANDLERS[step.action.kind] as StepHandler;
  return handler(context, step.action, step);
}
