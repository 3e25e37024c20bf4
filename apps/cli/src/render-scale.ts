/** The text output of `hacp scale`, as a pure function. What `--json` prints is the SDK's result itself. */
import type { OperationResult, ScaleResult } from '@hacp/sdk';
import { columns, plural } from './render.js';

/** One change as a line: `replicate op-… (resumed): 14 steps`. */
function changeLine(change: OperationResult): string {
  const resumed = change.resumed ? ', resumed' : '';
  return `  ${change.operation} ${change.operationId}${resumed}: ${plural(change.steps.length, 'step')}`;
}

/**
 * What `hacp scale` did: the count it went from and reached, each replicate or remove it ran, and
 * the replicas now.
 *
 * @example renderScaleResult(result).split('\n')[0] // 'scale finished on cluster kubernetes: 1 → 3 replicas, 2 changes'
 */
export function renderScaleResult(result: ScaleResult): string {
  const lines = [
    `scale finished on cluster ${result.cluster}: ${result.from} → ${result.to} replicas, ${plural(result.changes.length, 'change')}`,
  ];
  for (const change of result.changes) lines.push(changeLine(change));
  lines.push(`Replicas (${result.replicas.length}):`);
  for (const line of columns(result.replicas.map((replica) => [replica.name, replica.zone])))
    lines.push(`  ${line}`);
  return `${lines.join('\n')}\n`;
}
