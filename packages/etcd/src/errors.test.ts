import { ErrorCode, HacpError } from '@hacp/core';
import {
  ClientClosedError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCFailedPreconditionError,
  GRPCInvalidArgumentError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
  GRPCUnknownError,
} from 'etcd3';
import { describe, expect, it } from 'vitest';
import { EtcdReason, etcdReasonOf, toHacpError } from './errors.js';

const context = { operation: 'change membership', endpoint: 'https://127.0.0.1:2379' };

describe('toHacpError', () => {
  it.each([
    [
      new GRPCFailedPreconditionError('etcdserver: too many learner members in cluster'),
      ErrorCode.LEARNER_PRESENT,
      EtcdReason.TOO_MANY_LEARNERS,
      false,
    ],
    [
      new GRPCFailedPreconditionError(
        'etcdserver: can only promote a learner member which is in sync with leader',
      ),
      ErrorCode.CONFLICT,
      EtcdReason.LEARNER_NOT_IN_SYNC,
      true,
    ],
    [
      new GRPCFailedPreconditionError('etcdserver: can only promote a learner member'),
      ErrorCode.CONFLICT,
      EtcdReason.MEMBER_NOT_LEARNER,
      false,
    ],
    [
      new GRPCUnavailableError('etcdserver: unhealthy cluster'),
      ErrorCode.UNAVAILABLE,
      EtcdReason.UNHEALTHY_CLUSTER,
      true,
    ],
    [
      new GRPCFailedPreconditionError('etcdserver: not leader'),
      ErrorCode.UNAVAILABLE,
      EtcdReason.NOT_LEADER,
      true,
    ],
    [new GRPCUnavailableError('etcdserver: no leader'), ErrorCode.UNAVAILABLE, EtcdReason.NOT_LEADER, true],
    [
      new GRPCUnavailableError('etcdserver: leader changed'),
      ErrorCode.UNAVAILABLE,
      EtcdReason.NOT_LEADER,
      true,
    ],
    [
      new GRPCUnknownError('etcdserver: member not found'),
      ErrorCode.NOT_FOUND,
      EtcdReason.MEMBER_NOT_FOUND,
      false,
    ],
    [
      new GRPCFailedPreconditionError('etcdserver: Peer URLs already exists'),
      ErrorCode.ALREADY_EXISTS,
      EtcdReason.PEER_URL_EXISTS,
      false,
    ],
    [
      new GRPCFailedPreconditionError('etcdserver: peerURL exists'),
      ErrorCode.ALREADY_EXISTS,
      EtcdReason.PEER_URL_EXISTS,
      false,
    ],
    [
      new GRPCFailedPreconditionError('etcdserver: rpc not supported for learner'),
      ErrorCode.UNAVAILABLE,
      EtcdReason.LEARNER_RPC,
      false,
    ],
    [
      new GRPCUnknownError('etcdserver: mvcc: database space exceeded'),
      ErrorCode.UNAVAILABLE,
      EtcdReason.NO_SPACE,
      false,
    ],
    [
      new GRPCUnavailableError('etcdserver: request timed out'),
      ErrorCode.TIMEOUT,
      EtcdReason.REQUEST_TIMED_OUT,
      true,
    ],
    [
      new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED'),
      ErrorCode.UNAVAILABLE,
      EtcdReason.CONNECTION,
      true,
    ],
    [
      new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'),
      ErrorCode.TIMEOUT,
      EtcdReason.DEADLINE,
      true,
    ],
    [
      new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: bad'),
      ErrorCode.INVALID_ARGUMENT,
      EtcdReason.OTHER,
      false,
    ],
  ])('maps %s', (error, code, reason, retryable) => {
    const mapped = toHacpError(error, context);
    expect(mapped.code).toBe(code);
    expect(mapped.retryable).toBe(retryable);
    expect(etcdReasonOf(mapped)).toBe(reason);
    expect(mapped.details).toMatchObject({ operation: 'change membership', endpoint: context.endpoint });
    expect(mapped.cause).toBe(error);
    expect(mapped.message).toContain('Could not change membership');
    expect(mapped.actions.length).toBeGreaterThan(0);
  });

  it('classifies the raw grpc-js errors streams hand out by their status code', () => {
    const raw = Object.assign(new Error('14 UNAVAILABLE: Connection dropped'), { code: 14 });
    const mapped = toHacpError(raw, context);
    expect(mapped.code).toBe(ErrorCode.UNAVAILABLE);
    expect(mapped.details.reason).toBe(EtcdReason.CONNECTION);
  });

  it('maps etcd auth refusals to PERMISSION_DENIED and UNAUTHENTICATED', () => {
    expect(toHacpError(new EtcdPermissionDeniedError('etcdserver: permission denied'), context).code).toBe(
      ErrorCode.PERMISSION_DENIED,
    );
    expect(toHacpError(new GRPCUnauthenticatedError('16 UNAUTHENTICATED: no token'), context).code).toBe(
      ErrorCode.UNAUTHENTICATED,
    );
  });

  it('passes HacpErrors through and marks a closed client as ABORTED', () => {
    const own = new HacpError({ code: ErrorCode.QUORUM_AT_RISK, message: 'no' });
    expect(toHacpError(own, context)).toBe(own);
    expect(toHacpError(new ClientClosedError('Maintenance'), context).code).toBe(ErrorCode.ABORTED);
  });

  it('reports anything else as INTERNAL with the original message', () => {
    const mapped = toHacpError(new TypeError('boom'), context);
    expect(mapped.code).toBe(ErrorCode.INTERNAL);
    expect(mapped.message).toContain('boom');
    expect(etcdReasonOf(new Error('plain'))).toBeUndefined();
  });
});
