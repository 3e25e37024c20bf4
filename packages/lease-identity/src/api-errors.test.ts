import { HacpError } from '@hacp/core';
import { ApiException, FetchError } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { type LeaseCall, leaseApiError } from './api-errors.js';
import { microTime, parseMicroTime } from './clock.js';

const call = (verb: LeaseCall['verb'], name?: string): LeaseCall => ({
  verb,
  namespace: 'kube-system',
  ...(name === undefined ? {} : { name }),
  purpose: 'leader election',
  verbs: ['get', 'create', 'update'],
});

/** An ApiException as client-node 1.4 throws it: the status code, and the body as a JSON string. */
function apiException(code: number, status: Record<string, unknown> = {}): ApiException<string> {
  return new ApiException(
    code,
    'Unknown API Status Code!',
    JSON.stringify({ kind: 'Status', code, ...status }),
    {},
  );
}

describe('leaseApiError', () => {
  it('maps 404 on a read to NOT_FOUND naming the lease, and on a create to a missing namespace', () => {
    const read = leaseApiError(apiException(404, { reason: 'NotFound' }), call('get', 'kcm'));
    expect(read.code).toBe('NOT_FOUND');
    expect(read.message).toContain('"kcm" in namespace kube-system');
    const create = leaseApiError(apiException(404, { reason: 'NotFound' }), {
      ...call('create', 'kcm'),
      namespace: 'nope',
    });
    expect(create.code).toBe('NOT_FOUND');
    expect(create.message).toMatch(/^Namespace nope does not exist/);
    expect(create.details.kind).toBe('namespaces');
  });

  it('maps 409 to CONFLICT (retryable), or ALREADY_EXISTS on a create', () => {
    const update = leaseApiError(apiException(409, { reason: 'Conflict' }), call('update', 'kcm'));
    expect(update.code).toBe('CONFLICT');
    expect(update.retryable).toBe(true);
    expect(leaseApiError(apiException(409, { reason: 'AlreadyExists' }), call('create', 'kcm')).code).toBe(
      'ALREADY_EXISTS',
    );
  });

  it('maps 403 to PERMISSION_DENIED saying which permission is missing and what to grant', () => {
    const error = leaseApiError(
      apiException(403, {
        reason: 'Forbidden',
        message:
          'leases.coordination.k8s.io "kcm" is forbidden: User "bob" cannot update resource "leases" in API group "coordination.k8s.io" in the namespace "kube-system"',
      }),
      call('update', 'kcm'),
    );
    expect(error.code).toBe('PERMISSION_DENIED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('lack the "update" permission on leases.coordination.k8s.io');
    expect(error.message).toContain('User "bob" cannot update');
    expect(error.actions[0]).toBe(
      'Grant it with a Role: kubectl create role hacp-leases --namespace kube-system --verb=update,get,create --resource=leases.coordination.k8s.io',
    );
    expect(error.details).toMatchObject({
      status: 403,
      verb: 'update',
      namespace: 'kube-system',
      name: 'kcm',
    });
  });

  it('maps 401 to UNAUTHENTICATED, 400 and 422 to INVALID_ARGUMENT', () => {
    expect(leaseApiError(apiException(401), call('get', 'kcm')).code).toBe('UNAUTHENTICATED');
    for (const status of [400, 422]) {
      const error = leaseApiError(
        apiException(status, { message: 'spec.renewTime: invalid' }),
        call('update', 'x'),
      );
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain('spec.renewTime: invalid');
    }
  });

  it.each([429, 500, 503, 504])('maps %i to UNAVAILABLE, retryable', (status) => {
    const error = leaseApiError(apiException(status), call('get', 'kcm'));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.retryable).toBe(true);
  });

  it('reads the status from the body whether it is a string or an object', () => {
    const error = leaseApiError(
      new ApiException(403, 'x', { reason: 'Forbidden', message: 'nope' }, {}),
      call('get'),
    );
    expect(error.details.serverMessage).toBe('nope');
    expect(leaseApiError(new ApiException(403, 'x', 'not json', {}), call('get')).code).toBe(
      'PERMISSION_DENIED',
    );
  });

  it('maps network failures to UNAVAILABLE, retryable, and TLS trust failures to UNAVAILABLE, not retryable', () => {
    const refused = leaseApiError(
      new FetchError('request failed, reason: connect ECONNREFUSED', 'system', {
        code: 'ECONNREFUSED',
      } as never),
      call('get', 'kcm'),
    );
    expect(refused.code).toBe('UNAVAILABLE');
    expect(refused.retryable).toBe(true);
    expect(refused.details.errorCode).toBe('ECONNREFUSED');
    const untrusted = leaseApiError(
      new FetchError('self-signed', 'system', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' } as never),
      call('get', 'kcm'),
    );
    expect(untrusted.code).toBe('UNAVAILABLE');
    expect(untrusted.retryable).toBe(false);
    expect(untrusted.actions[0]).toContain('certificate-authority');
  });

  it('passes a HacpError through and calls a TypeError a bug', () => {
    const original = new HacpError({ code: 'ABORTED', message: 'stopped' });
    expect(leaseApiError(original, call('get'))).toBe(original);
    expect(leaseApiError(new TypeError('x is undefined'), call('get')).code).toBe('INTERNAL');
  });
});

describe('MicroTime', () => {
  it('is written with six fractional digits and read back from the string the API returns', () => {
    const ms = Date.UTC(2026, 10, 23, 19, 4, 28, 205);
    expect(JSON.stringify({ renewTime: microTime(ms) })).toBe('{"renewTime":"2026-11-23T19:04:28.205000Z"}');
    expect(parseMicroTime('2026-11-23T19:04:28.205123Z')).toBe(ms);
    expect(parseMicroTime(microTime(ms))).toBe(ms);
    expect(parseMicroTime(undefined)).toBeUndefined();
    expect(parseMicroTime('yesterday')).toBeUndefined();
  });
});
