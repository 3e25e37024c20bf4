/**
 * The Compute Engine API's error bodies, as GCE writes them: `{ error: { code, message, errors: [{ message,
 * domain, reason }] } }` for a refused request, and `error.errors[].code` plus `httpErrorStatusCode` /
 * `httpErrorMessage` on an operation that failed. Messages are GCE's own wording wherever a real sample
 * was found (see the README's list); the server's handlers throw `ComputeApiError` and never build bodies.
 */

/** One entry of `error.errors` in a refused request's body. */
export interface ComputeErrorItem {
  message: string;
  domain: string;
  reason: string;
  location?: string;
  locationType?: string;
}

/** The JSON body GCE answers a refused request with. */
export interface ComputeErrorBody {
  error: {
    code: number;
    message: string;
    errors: ComputeErrorItem[];
    status?: string;
  };
}

/** What an operation that failed for this error carries in `error.errors[]`. */
export interface OperationErrorEntry {
  code: string;
  message: string;
  errorDetails?: unknown[];
}

/** The reason phrase GCE puts in an operation's `httpErrorMessage`. */
const HTTP_ERROR_MESSAGES: Readonly<Record<number, string>> = {
  400: 'BAD REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT FOUND',
  409: 'CONFLICT',
  412: 'PRECONDITION FAILED',
  413: 'REQUEST ENTITY TOO LARGE',
  429: 'TOO MANY REQUESTS',
  500: 'INTERNAL SERVER ERROR',
  503: 'SERVICE UNAVAILABLE',
};

/** `httpErrorMessage` for a status. */
export function httpErrorMessage(status: number): string {
  return HTTP_ERROR_MESSAGES[status] ?? 'BAD REQUEST';
}

/**
 * A refusal: thrown by a handler, written as GCE's error body with `status`; when it happens while an
 * operation runs, it becomes the operation's `error` (with `operationCode`).
 */
export class ComputeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly items: readonly ComputeErrorItem[];
  /** The `error.errors[].code` of an operation that fails for this error (e.g. RESOURCE_NOT_FOUND). */
  readonly operationCode: string;
  /** `error.status` (a google.rpc code name), which only the front end's own refusals carry. */
  readonly rpcStatus: string | undefined;
  readonly errorDetails: readonly unknown[] | undefined;

  constructor(options: {
    status: number;
    message: string;
    reason: string;
    operationCode: string;
    domain?: string;
    items?: ComputeErrorItem[];
    rpcStatus?: string;
    errorDetails?: unknown[];
  }) {
    super(options.message);
    this.name = 'ComputeApiError';
    this.status = options.status;
    this.reason = options.reason;
    this.operationCode = options.operationCode;
    this.rpcStatus = options.rpcStatus;
    this.errorDetails = options.errorDetails;
    this.items = options.items ?? [
      { message: options.message, domain: options.domain ?? 'global', reason: options.reason },
    ];
  }

  /** The response body. */
  body(): ComputeErrorBody {
    return {
      error: {
        code: this.status,
        message: this.message,
        errors: this.items.map((item) => ({ ...item })),
        ...(this.rpcStatus === undefined ? {} : { status: this.rpcStatus }),
      },
    };
  }

  /** The entry of an operation's `error.errors` when an operation fails for this. */
  operationError(): OperationErrorEntry {
    return {
      code: this.operationCode,
      message: this.message,
      ...(this.errorDetails === undefined ? {} : { errorDetails: [...this.errorDetails] }),
    };
  }
}

/** `The resource 'projects/p/zones/z/instances/x' was not found` (404 notFound). */
export function notFound(resourcePath: string): ComputeApiError {
  return new ComputeApiError({
    status: 404,
    message: `The resource '${resourcePath}' was not found`,
    reason: 'notFound',
    operationCode: 'RESOURCE_NOT_FOUND',
  });
}

/** `The resource '...' already exists` (409 alreadyExists). */
export function alreadyExists(resourcePath: string): ComputeApiError {
  return new ComputeApiError({
    status: 409,
    message: `The resource '${resourcePath}' already exists`,
    reason: 'alreadyExists',
    operationCode: 'RESOURCE_ALREADY_EXISTS',
  });
}

/** `Invalid value for field 'resource.x': 'v'. <why>` (400 invalid). */
export function invalidField(field: string, value: unknown, why: string): ComputeApiError {
  const shown = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
  return new ComputeApiError({
    status: 400,
    message: `Invalid value for field '${field}': '${shown}'. ${why}`,
    reason: 'invalid',
    operationCode: 'INVALID_FIELD_VALUE',
  });
}

/** `Required field 'resource.name' not specified` (400 required). */
export function requiredField(field: string): ComputeApiError {
  return new ComputeApiError({
    status: 400,
    message: `Required field '${field}' not specified`,
    reason: 'required',
    operationCode: 'REQUIRED_FIELD_NOT_SPECIFIED',
  });
}

/** Several body problems at once (each its own `errors[]` entry), as GCE lists them. */
export function invalidFields(problems: readonly { field: string; message: string }[]): ComputeApiError {
  const items = problems.map((problem) => ({
    message: `Invalid value for field '${problem.field}': ${problem.message}`,
    domain: 'global',
    reason: 'invalid',
  }));
  return new ComputeApiError({
    status: 400,
    message: items[0]?.message ?? 'Invalid value',
    reason: 'invalid',
    operationCode: 'INVALID_FIELD_VALUE',
    items,
  });
}

/**
 * `The disk resource 'projects/p/zones/z/disks/d' is already being used by 'projects/p/zones/z/instances/i'`
 * (400 resourceInUseByAnotherResource). `kind` is GCE's snake_case resource type.
 */
export function resourceInUse(kind: string, resourcePath: string, userPath: string): ComputeApiError {
  return new ComputeApiError({
    status: 400,
    message: `The ${kind} resource '${resourcePath}' is already being used by '${userPath}'`,
    reason: 'resourceInUseByAnotherResource',
    operationCode: 'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE',
  });
}

/** `The resource '...' is not ready` (400 resourceNotReady): another operation on it is still running. */
export function resourceNotReady(resourcePath: string): ComputeApiError {
  return new ComputeApiError({
    status: 400,
    message: `The resource '${resourcePath}' is not ready`,
    reason: 'resourceNotReady',
    operationCode: 'RESOURCE_NOT_READY',
  });
}

/** 412 conditionNotMet, e.g. `Supplied fingerprint does not match current metadata fingerprint.` */
export function conditionNotMet(message: string): ComputeApiError {
  return new ComputeApiError({
    status: 412,
    message,
    reason: 'conditionNotMet',
    operationCode: 'CONDITION_NOT_MET',
  });
}

/** 400 badRequest with a free message. */
export function badRequest(message: string): ComputeApiError {
  return new ComputeApiError({ status: 400, message, reason: 'badRequest', operationCode: 'BAD_REQUEST' });
}

/** A JSON body that does not parse (400 parseError, as the front end answers). */
export function parseError(detail: string): ComputeApiError {
  return new ComputeApiError({
    status: 400,
    message: `Invalid JSON payload received. ${detail}`,
    reason: 'parseError',
    operationCode: 'INVALID_FIELD_VALUE',
    rpcStatus: 'INVALID_ARGUMENT',
  });
}

/** `Value for field '...' is too large: maximum size N character(s); actual size M.` (413). */
export function fieldTooLarge(field: string, maximum: number, actual: number): ComputeApiError {
  return new ComputeApiError({
    status: 413,
    message: `Value for field '${field}' is too large: maximum size ${maximum} character(s); actual size ${actual}.`,
    reason: 'fieldSizeTooLarge',
    operationCode: 'FIELD_SIZE_TOO_LARGE',
  });
}

/** The 404 of a path the API does not serve. */
export function unknownPath(path: string): ComputeApiError {
  return new ComputeApiError({
    status: 404,
    message: `The requested URL ${path} was not found on this server.`,
    reason: 'notFound',
    operationCode: 'RESOURCE_NOT_FOUND',
  });
}

/** A fake project number, stable per project id, for the front end's quota messages. */
function projectNumber(project: string): string {
  let hash = 7n;
  for (const char of project) hash = (hash * 131n + BigInt(char.charCodeAt(0))) % 900_000_000_000n;
  return String(100_000_000_000n + hash);
}

/**
 * The refusal an injected `{ kind: 'http', status, reason? }` fault answers with, each as GCE (or its
 * front end) writes it: 429 and 403 rate limits, 403 quota and permission refusals, 401, 500/503 backend errors.
 */
export function injectedHttpError(options: {
  status: number;
  reason?: string;
  project: string;
  method?: string;
  resourcePath?: string;
}): ComputeApiError {
  const { status, project } = options;
  const consumer = `project_number:${projectNumber(project)}`;
  const queries = `Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com' for consumer '${consumer}'.`;
  switch (status) {
    case 401:
      return new ComputeApiError({
        status,
        message:
          'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
        reason: options.reason ?? 'authError',
        operationCode: 'UNAUTHENTICATED',
        rpcStatus: 'UNAUTHENTICATED',
        items: [
          {
            message: 'Invalid Credentials',
            domain: 'global',
            reason: options.reason ?? 'authError',
            location: 'Authorization',
            locationType: 'header',
          },
        ],
      });
    case 429:
      return new ComputeApiError({
        status,
        message: queries,
        reason: options.reason ?? 'rateLimitExceeded',
        operationCode: 'RATE_LIMIT_EXCEEDED',
        rpcStatus: 'RESOURCE_EXHAUSTED',
      });
    case 403: {
      const reason = options.reason ?? 'rateLimitExceeded';
      if (reason === 'rateLimitExceeded' || reason === 'userRateLimitExceeded') {
        const message = reason === 'rateLimitExceeded' ? 'Rate Limit Exceeded' : 'User Rate Limit Exceeded';
        return new ComputeApiError({
          status,
          message,
          reason,
          domain: 'usageLimits',
          operationCode: 'RATE_LIMIT_EXCEEDED',
        });
      }
      if (reason === 'quotaExceeded') {
        return new ComputeApiError({
          status,
          message: queries,
          reason,
          domain: 'usageLimits',
          operationCode: 'QUOTA_EXCEEDED',
        });
      }
      const permission = options.method ?? 'compute.projects.get';
      const on = options.resourcePath ?? `projects/${project}`;
      return new ComputeApiError({
        status,
        message: `Required '${permission.replace(/\.insert$/, '.create')}' permission for '${on}'`,
        reason,
        operationCode: 'PERMISSION_DENIED',
      });
    }
    case 500:
    case 503: {
      const code = Array.from({ length: 3 }, () =>
        Math.floor(Math.random() * 0xffffffff)
          .toString(16)
          .toUpperCase(),
      ).join('.');
      return new ComputeApiError({
        status,
        message: `Internal error. Please try again or contact Google Support. (Code: '${code}')`,
        reason: options.reason ?? 'backendError',
        operationCode: 'INTERNAL_ERROR',
      });
    }
    default:
      return new ComputeApiError({
        status,
        message: options.reason ?? httpErrorMessage(status),
        reason: options.reason ?? 'badRequest',
        operationCode: 'BAD_REQUEST',
      });
  }
}

/**
 * The operation error an injected `{ kind: 'operation-error', code }` fault fails an operation with: GCE's
 * message and HTTP status for the codes it knows (QUOTA_EXCEEDED: 403 with quotaInfo details,
 * ZONE_RESOURCE_POOL_EXHAUSTED: 503, ...), else 400 and a generic message.
 */
export function injectedOperationError(options: {
  code: string;
  message?: string;
  httpStatus?: number;
  region: string;
  zone?: string;
  project: string;
}): ComputeApiError {
  const { code, region, project } = options;
  const zone = options.zone ?? `${region}-b`;
  const known: Record<string, { status: number; message: string; errorDetails?: unknown[] }> = {
    QUOTA_EXCEEDED: {
      status: 403,
      message: `Quota 'CPUS' exceeded.  Limit: 24.0 in region ${region}.`,
      errorDetails: [
        {
          quotaInfo: {
            metricName: 'compute.googleapis.com/cpus',
            limitName: 'CPUS-per-project-region',
            dimensions: { region },
            limit: 24,
          },
        },
      ],
    },
    ZONE_RESOURCE_POOL_EXHAUSTED: {
      status: 503,
      message: `The zone 'projects/${project}/zones/${zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.`,
    },
    RESOURCE_NOT_FOUND: { status: 404, message: `The resource 'projects/${project}' was not found` },
    RESOURCE_IN_USE_BY_ANOTHER_RESOURCE: {
      status: 400,
      message: `The resource 'projects/${project}' is already being used by another resource`,
    },
    INTERNAL_ERROR: {
      status: 500,
      message: 'Internal error. Please try again or contact Google Support.',
    },
  };
  const preset = known[code];
  const status = options.httpStatus ?? preset?.status ?? 400;
  return new ComputeApiError({
    status,
    message: options.message ?? preset?.message ?? `Operation failed: ${code}.`,
    reason: code,
    operationCode: code,
    ...(options.message === undefined && preset?.errorDetails !== undefined
      ? { errorDetails: preset.errorDetails }
      : {}),
  });
}
