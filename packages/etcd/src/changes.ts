/**
 * How a membership change is sent: through healthy voters, retried while etcd says "not now" (its
 * 5-second gate after a start, an election), each attempt with its own deadline.
 */
import { ErrorCode, HacpError, waitUntil } from '@hacp/core';
import type { Etcd3 } from 'etcd3';
import type { EtcdConnection, GrpcCallOptions } from './connection.js';
import { EtcdReason, etcdReasonOf, toHacpError } from './errors.js';

/** One change and where it may go. */
export interface ChangeRequest<T> {
  description: string;
  /** Endpoints of healthy voters; the next one is tried when one does not answer. */
  through: readonly string[];
  /** The whole budget, retries included. */
  timeoutMs: number;
  /** The deadline of each attempt. Default: the connection's. */
  deadlineMs?: number;
  signal?: AbortSignal;
  run: (client: Etcd3, within: () => GrpcCallOptions) => Promise<T>;
  memberId?: string;
  /** Turns a failure into a result (idempotent retries: "already done"). */
  settle?: (error: HacpError, attempt: number) => Promise<{ value: T } | undefined>;
}

/**
 * Sends `request.run` through `request.through` until it succeeds, is settled, fails for good, or
 * the budget runs out.
 *
 * @throws HacpError QUORUM_AT_RISK when there is no voter to send it through; the last mapped etcd
 *   error when it fails for good; TIMEOUT (from `waitUntil`) when the budget runs out.
 */
export async function sendChange<T>(
  connection: EtcdConnection,
  request: ChangeRequest<T>,
): Promise<{ value: T; endpoint: string }> {
  if (request.through.length === 0) {
    throw new HacpError({
      code: ErrorCode.QUORUM_AT_RISK,
      message: `Could not ${request.description}: no healthy voting member to send it through.`,
      actions: ['Check the cluster with `hacp status`; bring members back before changing membership.'],
    });
  }
  let index = 0;
  return waitUntil({
    description: `etcd to ${request.description}`,
    timeoutMs: request.timeoutMs,
    signal: request.signal,
    minDelayMs: 200,
    maxDelayMs: 1000,
    check: async (attempt) => {
      const url = request.through[index % request.through.length] as string;
      try {
        const value = await connection.call(url, request.description, request.run, {
          memberId: request.memberId,
          deadlineMs: request.deadlineMs,
        });
        return { done: true, value: { value, endpoint: url } };
      } catch (error) {
        const mapped = toHacpError(error, { operation: request.description, endpoint: url });
        const settled = request.settle ? await request.settle(mapped, attempt) : undefined;
        if (settled !== undefined) return { done: true, value: { value: settled.value, endpoint: url } };
        // A member that does not answer: try the next one.
        if (etcdReasonOf(mapped) === EtcdReason.CONNECTION || etcdReasonOf(mapped) === EtcdReason.DEADLINE) {
          index++;
        }
        throw mapped;
      }
    },
  });
}
