import { describe, expect, it } from 'vitest';
import {
  injectedHttpError,
  injectedOperationError,
  invalidFields,
  notFound,
  resourceInUse,
} from './errors.js';

describe('GCE error bodies', () => {
  it('writes notFound and resourceInUseByAnotherResource as GCE does', () => {
    expect(notFound('projects/p/zones/z/instances/x').body()).toEqual({
      error: {
        code: 404,
        message: "The resource 'projects/p/zones/z/instances/x' was not found",
        errors: [
          {
            message: "The resource 'projects/p/zones/z/instances/x' was not found",
            domain: 'global',
            reason: 'notFound',
          },
        ],
      },
    });
    const inUse = resourceInUse(
      'address',
      'projects/p/regions/r/addresses/a',
      'projects/p/regions/r/forwardingRules/f',
    );
    expect(inUse.status).toBe(400);
    expect(inUse.operationError()).toEqual({
      code: 'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE',
      message:
        "The address resource 'projects/p/regions/r/addresses/a' is already being used by 'projects/p/regions/r/forwardingRules/f'",
    });
  });

  it('lists every body problem as its own entry', () => {
    const error = invalidFields([
      { field: 'resource.natIp', message: 'unknown field' },
      { field: 'resource.sizeGb', message: 'expected a string or number' },
    ]);
    expect(error.body().error.errors.map((item) => item.message)).toEqual([
      "Invalid value for field 'resource.natIp': unknown field",
      "Invalid value for field 'resource.sizeGb': expected a string or number",
    ]);
    expect(error.message).toBe("Invalid value for field 'resource.natIp': unknown field");
  });

  it('injects the front end refusals and the quota operation error', () => {
    expect(injectedHttpError({ status: 403, project: 'p' }).body().error.errors[0]).toEqual({
      message: 'Rate Limit Exceeded',
      domain: 'usageLimits',
      reason: 'rateLimitExceeded',
    });
    expect(injectedHttpError({ status: 429, project: 'p' }).body().error).toMatchObject({
      code: 429,
      status: 'RESOURCE_EXHAUSTED',
    });
    expect(injectedHttpError({ status: 503, project: 'p' }).message).toMatch(
      /^Internal error\. Please try again or contact Google Support\. \(Code: '[0-9A-F.]+'\)$/,
    );
    const quota = injectedOperationError({ code: 'QUOTA_EXCEEDED', region: 'europe-west1', project: 'p' });
    expect(quota.status).toBe(403);
    expect(quota.operationError().message).toBe(
      "Quota 'CPUS' exceeded.  Limit: 24.0 in region europe-west1.",
    );
    expect(
      injectedOperationError({ code: 'SOMETHING', region: 'r', project: 'p', httpStatus: 409 }).status,
    ).toBe(409);
  });
});
