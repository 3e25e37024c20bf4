import { ErrorCode, HacpError, isHacpError } from '@hacp/core';
import { gaxios } from 'google-auth-library';
import { describe, expect, it } from 'vitest';
import { computeError, isRefusal, operationError } from './errors.js';

const CONTEXT = {
  call: 'insert instance zones/europe-west1-b/instances/kubernetes-master',
  project: 'hacp-test',
};

function computeBody(status: number, reason: string | undefined, message = `GCE says ${status}`) {
  return {
    error: {
      code: status,
      message,
      errors: reason === undefined ? [] : [{ reason, domain: 'global', message }],
    },
  };
}

/**
 * A GaxiosError as gaxios 7.3 (the one google-auth-library 10.5 and google-gax 5 share) builds it
 * for a JSON response: the AIP-193 facts as its cause, the parsed body in `response.data`.
 */
function gaxiosJsonError(status: number, reason?: string): gaxios.GaxiosError {
  const body = computeBody(status, reason);
  const config = {
    url: new URL('http://127.0.0.1/compute/v1/projects/hacp-test'),
    headers: new Headers(),
    responseType: 'json',
  } as const;
  const response = {
    status,
    statusText: 'Error',
    ok: false,
    data: body,
    headers: new Headers(),
    config,
  } as unknown as gaxios.GaxiosResponse;
  return new gaxios.GaxiosError(body.error.message, config as never, response, {
    message: body.error.message,
    code: status,
  });
}

/**
 * What @google-cloud/compute 6.15's REST fallback throws: it asks gaxios for a stream, so
 * `response.data` is empty and the body text is the message.
 */
function gaxiosStreamError(status: number, reason?: string): gaxios.GaxiosError {
  const text = JSON.stringify(computeBody(status, reason));
  const config = {
    url: new URL('http://127.0.0.1/compute/v1/projects/hacp-test'),
    headers: new Headers(),
    responseType: 'stream',
  } as const;
  const response = {
    status,
    statusText: 'Error',
    ok: false,
    headers: new Headers(),
    config,
  } as unknown as gaxios.GaxiosResponse;
  return new gaxios.GaxiosError(text, config as never, response, { message: text, code: status });
}

/** A socket failure as gaxios wraps it. */
function gaxiosSocketError(code: string): gaxios.GaxiosError {
  const cause = Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });
  const config = { url: new URL('http://127.0.0.1:1/compute/v1'), headers: new Headers() } as const;
  return new gaxios.GaxiosError(cause.message, config as never, undefined, cause);
}

/**
 * google-gax 5.x (7.x of the client) is not a dependency here, so its GoogleError is built with the
 * same fields: a gRPC `code`, `httpStatusCode` where known, and ErrorInfo's `reason`.
 */
class GoogleError extends Error {
  code?: number;
  httpStatusCode?: number;
  reason?: string;
  domain?: string;
  errorInfoMetadata?: Record<string, string>;
  statusDetails?: readonly unknown[];
}

function googleError(fields: Partial<GoogleError> & { message?: string }): GoogleError {
  return Object.assign(new GoogleError(fields.message ?? 'GCE says no'), fields);
}

describe('computeError', () => {
  const cases: [string, number, string | undefined, ErrorCode, boolean][] = [
    ['404', 404, 'notFound', ErrorCode.NOT_FOUND, false],
    ['409 alreadyExists', 409, 'alreadyExists', ErrorCode.ALREADY_EXISTS, false],
    ['412 conditionNotMet', 412, 'conditionNotMet', ErrorCode.CONFLICT, true],
    ['429', 429, 'rateLimitExceeded', ErrorCode.UNAVAILABLE, true],
    ['403 rateLimitExceeded', 403, 'rateLimitExceeded', ErrorCode.UNAVAILABLE, true],
    ['403 userRateLimitExceeded', 403, 'userRateLimitExceeded', ErrorCode.UNAVAILABLE, true],
    ['403 quotaExceeded', 403, 'quotaExceeded', ErrorCode.QUOTA_EXCEEDED, false],
    ['403 forbidden', 403, 'forbidden', ErrorCode.PERMISSION_DENIED, false],
    ['401', 401, 'authError', ErrorCode.UNAUTHENTICATED, false],
    ['500', 500, 'backendError', ErrorCode.UNAVAILABLE, true],
    ['503', 503, undefined, ErrorCode.UNAVAILABLE, true],
    ['400 invalid', 400, 'invalid', ErrorCode.INVALID_ARGUMENT, false],
    ['400 resourceInUseByAnotherResource', 400, 'resourceInUseByAnotherResource', ErrorCode.CONFLICT, false],
  ];

  describe.each([
    ['GaxiosError with a JSON body (6.x, gaxios directly)', gaxiosJsonError],
    ['GaxiosError with the body as message (6.15 REST fallback)', gaxiosStreamError],
  ])('%s', (_shape, make) => {
    it.each(cases)('maps %s', (_name, status, reason, code, retryable) => {
      const error = computeError(make(status, reason), CONTEXT);
      expect(error.code).toBe(code);
      expect(error.retryable).toBe(retryable);
      expect(error.details).toMatchObject({ call: CONTEXT.call, httpStatus: status });
    });

    it("keeps GCE's own message, not the body's JSON", () => {
      const error = computeError(make(400, 'invalid'), CONTEXT);
      expect(error.message).toContain('GCE says 400');
      expect(error.message).not.toContain('{"error"');
    });
  });

  it.each([
    ['NOT_FOUND (5)', { code: 5 }, ErrorCode.NOT_FOUND],
    ['ALREADY_EXISTS (6)', { code: 6 }, ErrorCode.ALREADY_EXISTS],
    ['ABORTED for HTTP 409 (10)', { code: 10, httpStatusCode: 409 }, ErrorCode.ALREADY_EXISTS],
    ['FAILED_PRECONDITION for HTTP 412 (9)', { code: 9, httpStatusCode: 412 }, ErrorCode.CONFLICT],
    ['RESOURCE_EXHAUSTED (8)', { code: 8 }, ErrorCode.UNAVAILABLE],
    [
      'PERMISSION_DENIED with reason RATE_LIMIT_EXCEEDED',
      { code: 7, reason: 'RATE_LIMIT_EXCEEDED' },
      ErrorCode.UNAVAILABLE,
    ],
    [
      'PERMISSION_DENIED with reason QUOTA_EXCEEDED',
      { code: 7, httpStatusCode: 403, reason: 'QUOTA_EXCEEDED' },
      ErrorCode.QUOTA_EXCEEDED,
    ],
    [
      'PERMISSION_DENIED with an ErrorInfo in statusDetails',
      { code: 7, statusDetails: [{ reason: 'quotaExceeded', domain: 'compute.googleapis.com' }] },
      ErrorCode.QUOTA_EXCEEDED,
    ],
    ['PERMISSION_DENIED (7)', { code: 7, errorInfoMetadata: {} }, ErrorCode.PERMISSION_DENIED],
    ['UNAUTHENTICATED (16)', { code: 16 }, ErrorCode.UNAUTHENTICATED],
    ['UNAVAILABLE (14)', { code: 14 }, ErrorCode.UNAVAILABLE],
    ['INVALID_ARGUMENT (3)', { code: 3, httpStatusCode: 400 }, ErrorCode.INVALID_ARGUMENT],
  ] as const)('maps a GoogleError (7.x) %s', (_name, fields, code) => {
    expect(computeError(googleError(fields), CONTEXT).code).toBe(code);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED'])('maps a socket failure (%s) to a retryable UNAVAILABLE', (code) => {
    const error = computeError(gaxiosSocketError(code), CONTEXT);
    expect(error.code).toBe(ErrorCode.UNAVAILABLE);
    expect(error.retryable).toBe(true);
    expect(error.details).toMatchObject({ socketCode: code });
  });

  it('says what to do next for quota, permission and authentication errors', () => {
    const quota = computeError(gaxiosStreamError(403, 'quotaExceeded'), {
      ...CONTEXT,
      zone: 'europe-west1-b',
    });
    expect(quota.actions.join(' ')).toContain(
      'gcloud compute regions describe europe-west1 --project hacp-test',
    );
    expect(computeError(gaxiosStreamError(403, 'forbidden'), CONTEXT).actions.join(' ')).toContain(
      'roles/compute.admin',
    );
    expect(computeError(gaxiosStreamError(401, undefined), CONTEXT).actions).toContain(
      'gcloud auth application-default login',
    );
  });

  it('passes a HacpError through unchanged and maps anything else to PROVIDER_ERROR', () => {
    const original = new HacpError({ code: ErrorCode.LOCKED, message: 'held' });
    expect(computeError(original)).toBe(original);
    const other = computeError(new TypeError('boom'), CONTEXT);
    expect(other.code).toBe(ErrorCode.PROVIDER_ERROR);
    expect(other.cause).toBeInstanceOf(TypeError);
  });
});

describe('operationError', () => {
  it('is undefined for an operation that succeeded', () => {
    expect(operationError({ name: 'operation-1', error: null })).toBeUndefined();
    expect(operationError({ name: 'operation-1', error: { errors: [] } })).toBeUndefined();
  });

  it.each([
    ['QUOTA_EXCEEDED', 403, ErrorCode.QUOTA_EXCEEDED, false],
    ['RESOURCE_ALREADY_EXISTS', 409, ErrorCode.ALREADY_EXISTS, false],
    ['RESOURCE_NOT_FOUND', 404, ErrorCode.NOT_FOUND, false],
    ['ZONE_RESOURCE_POOL_EXHAUSTED', 503, ErrorCode.UNAVAILABLE, true],
    ['CONDITION_NOT_MET', 412, ErrorCode.CONFLICT, true],
    ['RESOURCE_IN_USE_BY_ANOTHER_RESOURCE', 400, ErrorCode.CONFLICT, false],
    ['SOMETHING_NEW', 500, ErrorCode.UNAVAILABLE, true],
    ['SOMETHING_NEW_AND_FORBIDDEN', 403, ErrorCode.PERMISSION_DENIED, false],
  ] as const)('maps %s', (code, http, expected, retryable) => {
    const error = operationError(
      {
        name: 'operation-7',
        httpErrorStatusCode: http,
        error: { errors: [{ code, message: `GCE: ${code}` }] },
      },
      CONTEXT,
    );
    expect(isHacpError(error, expected)).toBe(true);
    expect(error?.retryable).toBe(retryable);
    expect(error?.message).toContain(`GCE: ${code}`);
    expect(error?.details).toMatchObject({ operation: 'operation-7', operationErrors: [code] });
  });

  it('says to try another zone when the zone has no capacity', () => {
    const error = operationError({ error: { errors: [{ code: 'ZONE_RESOURCE_POOL_EXHAUSTED' }] } }, CONTEXT);
    expect(error?.actions.join(' ')).toContain('another zone');
  });
});

describe('isRefusal', () => {
  it('is true for what GCE answered with a no (the request changed nothing), false for failures that say nothing', () => {
    const refused = [
      operationError({ error: { errors: [{ code: 'INVALID_FIELD_VALUE', message: 'IP in use' }] } }, CONTEXT),
      operationError({ error: { errors: [{ code: 'RESOURCE_NOT_FOUND' }] } }, CONTEXT),
      operationError({ error: { errors: [{ code: 'RESOURCE_ALREADY_EXISTS' }] } }, CONTEXT),
      operationError({ error: { errors: [{ code: 'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE' }] } }, CONTEXT),
      operationError(
        { error: { errors: [{ code: 'INVALID_USAGE', message: 'one access config' }] } },
        CONTEXT,
      ),
    ];
    expect(refused.map((error) => isRefusal(error))).toEqual([true, true, true, true, true]);
    const failed = [
      computeError(gaxiosJsonError(503), CONTEXT),
      computeError(gaxiosJsonError(403, 'forbidden'), CONTEXT),
      operationError({ error: { errors: [{ code: 'QUOTA_EXCEEDED' }] } }, CONTEXT),
      new HacpError({ code: ErrorCode.ABORTED, message: 'stopped' }),
      new Error('not a HacpError'),
    ];
    expect(failed.map((error) => isRefusal(error))).toEqual([false, false, false, false, false]);
  });
});
