/**
 * The one place where what the Compute API throws becomes a HacpError: the GaxiosError of
 * @google-cloud/compute 6.x (REST fallback: a numeric HTTP `code`/`status`, the body in
 * `response.data`, or, for the streamed responses of the REST fallback, as the error's message),
 * the GoogleError of 7.x (a gRPC `code`, `httpStatusCode`, `reason`, `errorInfoMetadata`,
 * `statusDetails`), socket errors, and operations that end with an `error`.
 */
import { ErrorCode, HacpError, isHacpError } from '@hacp/core';

/** What the failed call was doing, for the message and the actions. */
export interface CallContext {
  /** The call's purpose and resource, as in request ids: `insert instance zones/z/instances/n`. */
  call?: string;
  project?: string;
  region?: string;
  zone?: string;
}

/** An operation's `error` as the Compute API returns it. */
export interface OperationErrorBody {
  errors?: readonly { code?: string | null; message?: string | null; location?: string | null }[] | null;
}

/** The parts of a Compute operation that say how it ended. */
export interface FinishedOperation {
  name?: string | null;
  error?: OperationErrorBody | null;
  httpErrorStatusCode?: number | null;
  httpErrorMessage?: string | null;
}

/** The facts the classifier needs, read from either error shape. */
interface Facts {
  http?: number;
  reason?: string;
  socketCode?: string;
  message: string;
}

/** gRPC status codes (google.rpc.Code) and the HTTP status each stands for. */
const GRPC_TO_HTTP: Readonly<Record<number, number>> = {
  1: 499, // CANCELLED
  2: 500, // UNKNOWN
  3: 400, // INVALID_ARGUMENT
  4: 504, // DEADLINE_EXCEEDED
  5: 404, // NOT_FOUND
  6: 409, // ALREADY_EXISTS
  7: 403, // PERMISSION_DENIED
  8: 429, // RESOURCE_EXHAUSTED
  9: 412, // FAILED_PRECONDITION: what GCE's 412 conditionNotMet becomes
  10: 409, // ABORTED: what gax maps HTTP 409 to
  11: 400, // OUT_OF_RANGE
  12: 501, // UNIMPLEMENTED
  13: 500, // INTERNAL
  14: 503, // UNAVAILABLE
  15: 500, // DATA_LOSS
  16: 401, // UNAUTHENTICATED
};

/** Socket-level failures: the API did not answer, so the same call may well succeed. */
const SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** A reason compared without case or separators: `rateLimitExceeded`, `RATE_LIMIT_EXCEEDED`. */
function normalReason(reason: string | undefined): string {
  return (reason ?? '').toLowerCase().replace(/[^a-z]/g, '');
}

const RATE_REASONS = new Set(['ratelimitexceeded', 'userratelimitexceeded', 'ratelimitexceededwithdetails']);
const QUOTA_REASONS = new Set(['quotaexceeded', 'quotaexceededwithdetails']);
const POOL_EXHAUSTED_REASONS = new Set(['zoneresourcepoolexhausted', 'zoneresourcepoolexhaustedwithdetails']);

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

/** A response body: an object already, or JSON text (gaxios leaves streamed bodies as text). */
function parseBody(value: unknown): Record<string, unknown> | undefined {
  if (typeof value === 'string') {
    try {
      return asRecord(JSON.parse(value));
    } catch {
      return undefined;
    }
  }
  return asRecord(value);
}

/** `{ error: { code, message, errors: [{ reason }], details: [{ reason }] } }`, the Compute error body. */
function bodyFacts(body: Record<string, unknown> | undefined): {
  reason?: string;
  message?: string;
  http?: number;
} {
  const error = asRecord(body?.error);
  if (error === undefined) return {};
  const errors = Array.isArray(error.errors) ? error.errors : [];
  const details = Array.isArray(error.details) ? error.details : [];
  const reason =
    (asRecord(errors[0])?.reason as string | undefined) ??
    (details.map((detail) => asRecord(detail)?.reason).find((value) => typeof value === 'string') as
      | string
      | undefined);
  return {
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof error.message === 'string' ? { message: error.message } : {}),
    ...(typeof error.code === 'number' ? { http: error.code } : {}),
  };
}

function isHttpStatus(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value < 600;
}

/** Reads both shapes the client throws into the same facts. */
function factsOf(error: unknown): Facts {
  const record = asRecord(error) ?? {};
  const message = typeof record.message === 'string' ? record.message : String(error);
  const cause = asRecord(record.cause);
  const socketCode = [record.code, record.errno, cause?.code, asRecord(record.error)?.code].find(
    (code): code is string => typeof code === 'string' && SOCKET_CODES.has(code),
  );
  const response = asRecord(record.response);
  // GaxiosError (6.x): the HTTP status in `code`/`status`, the body in response.data or, for the
  // REST fallback's streamed responses, as the whole message.
  const fromData = bodyFacts(parseBody(response?.data));
  const fromMessage = fromData.reason === undefined ? bodyFacts(parseBody(message)) : {};
  const body = { ...fromMessage, ...fromData };
  // GoogleError (7.x): `httpStatusCode`, else the gRPC `code`; ErrorInfo's `reason`.
  const isGoogleError =
    'httpStatusCode' in record ||
    'statusDetails' in record ||
    'errorInfoMetadata' in record ||
    'reason' in record ||
    record.name === 'GoogleError' ||
    record.constructor?.name === 'GoogleError';
  let http: number | undefined;
  if (isHttpStatus(record.httpStatusCode)) http = record.httpStatusCode;
  else if (!isGoogleError && isHttpStatus(record.status)) http = record.status;
  else if (!isGoogleError && isHttpStatus(record.code)) http = record.code;
  else if (isHttpStatus(response?.status)) http = response.status as number;
  else if (isGoogleError && typeof record.code === 'number') http = GRPC_TO_HTTP[record.code];
  else if (body.http !== undefined) http = body.http;
  const statusDetails = Array.isArray(record.statusDetails) ? record.statusDetails : [];
  const detailReason = statusDetails
    .map((detail) => asRecord(detail)?.reason)
    .find((value): value is string => typeof value === 'string');
  const reason =
    (typeof record.reason === 'string' ? record.reason : undefined) ?? detailReason ?? body.reason;
  return {
    message: body.message ?? message,
    ...(http === undefined ? {} : { http }),
    ...(reason === undefined ? {} : { reason }),
    ...(socketCode === undefined ? {} : { socketCode }),
  };
}

function where(context: CallContext): string {
  return context.call === undefined ? 'The Compute API call' : `Compute API call "${context.call}"`;
}

function details(context: CallContext, facts: Partial<Facts>): Record<string, unknown> {
  return {
    ...(context.call === undefined ? {} : { call: context.call }),
    ...(context.project === undefined ? {} : { project: context.project }),
    ...(context.zone === undefined ? {} : { zone: context.zone }),
    ...(facts.http === undefined ? {} : { httpStatus: facts.http }),
    ...(facts.reason === undefined ? {} : { reason: facts.reason }),
  };
}

/** The HacpError for the facts of one failure, whatever shape they came in. */
function classify(facts: Facts, context: CallContext, cause: unknown): HacpError {
  const reason = normalReason(facts.reason);
  const base = { details: details(context, facts), cause };
  const what = where(context);
  const gceSays = facts.message;
  const region = context.region ?? (context.zone ? context.zone.replace(/-[^-]+$/, '') : '<region>');
  const projectFlag = context.project === undefined ? '' : ` --project ${context.project}`;

  if (POOL_EXHAUSTED_REASONS.has(reason)) {
    return new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `${what} failed: the zone has no capacity for this machine now (${gceSays}).`,
      actions: ['Try another zone of the region, or try again later.', 'Or pick another machine type.'],
      retryable: true,
      ...base,
    });
  }
  if (QUOTA_REASONS.has(reason)) {
    return new HacpError({
      code: ErrorCode.QUOTA_EXCEEDED,
      message: `${what} would exceed a quota: ${gceSays}`,
      actions: [
        'Raise the quota named in the message (IAM & Admin > Quotas), or free some of it.',
        `See usage and limits: gcloud compute regions describe ${region}${projectFlag}`,
      ],
      retryable: false,
      ...base,
    });
  }
  if (facts.http === 429 || (facts.http === 403 && RATE_REASONS.has(reason)) || RATE_REASONS.has(reason)) {
    return new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `${what} was rate-limited: ${gceSays}`,
      actions: ['Wait a little and run the command again.'],
      retryable: true,
      ...base,
    });
  }
  if (facts.socketCode !== undefined && facts.http === undefined) {
    return new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `${what} did not get an answer (${facts.socketCode}).`,
      actions: ['Check the network connection to the Compute API, then run the command again.'],
      retryable: true,
      ...base,
      details: { ...base.details, socketCode: facts.socketCode },
    });
  }
  switch (facts.http) {
    case 404:
      return new HacpError({
        code: ErrorCode.NOT_FOUND,
        message: `${what} found nothing: ${gceSays}`,
        ...base,
      });
    case 409:
      return new HacpError({
        code: ErrorCode.ALREADY_EXISTS,
        message: `${what} failed: ${gceSays}`,
        actions: ['Use another name, or delete the existing resource first.'],
        ...base,
      });
    case 412:
      return new HacpError({
        code: ErrorCode.CONFLICT,
        message: `${what} lost a race: ${gceSays}`,
        actions: ['Read it again and retry.'],
        ...base,
      });
    case 401:
      return new HacpError({
        code: ErrorCode.UNAUTHENTICATED,
        message: `${what} was refused: the credentials are missing or expired (${gceSays}).`,
        actions: ['gcloud auth application-default login'],
        retryable: false,
        ...base,
      });
    case 403:
      return new HacpError({
        code: ErrorCode.PERMISSION_DENIED,
        message: `${what} was refused: ${gceSays}`,
        actions: [
          `Grant the caller roles/compute.admin on the project${context.project ? ` ${context.project}` : ''} (or a role with this permission).`,
          'Check that the Compute Engine API is enabled on the project.',
        ],
        retryable: false,
        ...base,
      });
    case 400:
      if (reason === 'resourceinusebyanotherresource') {
        return new HacpError({
          code: ErrorCode.CONFLICT,
          message: `${what} failed: the resource is in use (${gceSays}).`,
          actions: ['Free it from what uses it first.'],
          retryable: false,
          ...base,
        });
      }
      return new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `${what} was rejected: ${gceSays}`,
        ...base,
        details: { field: context.call ?? 'request', ...base.details },
      });
    default:
      break;
  }
  if (facts.http !== undefined && facts.http >= 500) {
    return new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `${what} failed on the server (HTTP ${facts.http}): ${gceSays}`,
      actions: ['Run the command again; the Compute API had a temporary problem.'],
      retryable: true,
      ...base,
    });
  }
  return new HacpError({
    code: ErrorCode.PROVIDER_ERROR,
    message: `${what} failed: ${gceSays}`,
    retryable: false,
    ...base,
  });
}

/**
 * The HacpError for anything a Compute API call threw. A HacpError passes through unchanged.
 *
 * @example
 * try { await instances.get(request); } catch (error) { throw computeError(error, { call: 'get instance ...' }); }
 */
export function computeError(error: unknown, context: CallContext = {}): HacpError {
  if (isHacpError(error)) return error;
  return classify(factsOf(error), context, error);
}

/** Operation error codes, as `error.errors[].code` names them, and the HTTP status each means. */
const OPERATION_CODES: Readonly<Record<string, { http?: number; reason?: string }>> = {
  RESOURCE_ALREADY_EXISTS: { http: 409 },
  ALREADY_EXISTS: { http: 409 },
  RESOURCE_NOT_FOUND: { http: 404 },
  NOT_FOUND: { http: 404 },
  CONDITION_NOT_MET: { http: 412 },
  QUOTA_EXCEEDED: { reason: 'QUOTA_EXCEEDED' },
  ZONE_RESOURCE_POOL_EXHAUSTED: { reason: 'ZONE_RESOURCE_POOL_EXHAUSTED' },
  ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: { reason: 'ZONE_RESOURCE_POOL_EXHAUSTED' },
  RATE_LIMIT_EXCEEDED: { reason: 'RATE_LIMIT_EXCEEDED' },
  RESOURCE_IN_USE_BY_ANOTHER_RESOURCE: { http: 400, reason: 'resourceInUseByAnotherResource' },
  PERMISSION_DENIED: { http: 403 },
  FORBIDDEN: { http: 403 },
  UNAUTHENTICATED: { http: 401 },
  INVALID_ARGUMENT: { http: 400 },
  INVALID_FIELD_VALUE: { http: 400 },
  BAD_REQUEST: { http: 400 },
  INTERNAL_ERROR: { http: 500 },
  SERVICE_UNAVAILABLE: { http: 503 },
};

/**
 * The HacpError for an operation that finished with an `error`, or undefined when it succeeded.
 * The first error's code decides; `httpErrorStatusCode` stands in for codes not known here.
 */
export function operationError(
  operation: FinishedOperation,
  context: CallContext = {},
): HacpError | undefined {
  const errors = operation.error?.errors ?? [];
  if (errors.length === 0) return undefined;
  const first = errors[0] ?? {};
  const known = OPERATION_CODES[String(first.code ?? '')];
  const httpStatus = isHttpStatus(operation.httpErrorStatusCode) ? operation.httpErrorStatusCode : undefined;
  const http = known?.http ?? httpStatus;
  const reason = known?.reason ?? (known === undefined ? (first.code ?? undefined) : undefined);
  const message = errors
    .map((entry) => entry.message ?? entry.code)
    .filter(Boolean)
    .join('; ');
  const facts: Facts = {
    message: message || operation.httpErrorMessage || 'the operation failed',
    ...(http === undefined ? {} : { http }),
    ...(reason === undefined ? {} : { reason }),
  };
  const error = classify(facts, context, operation);
  return new HacpError({
    code: error.code,
    message: error.message,
    actions: error.actions,
    retryable: error.retryable,
    details: {
      ...error.details,
      operation: operation.name ?? undefined,
      operationErrors: errors.map((entry) => String(entry.code ?? '')),
    },
    cause: operation,
  });
}

/** Codes of a call that GCE answered with a no: the request itself changed nothing. */
const REFUSALS: ReadonlySet<string> = new Set([
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.NOT_FOUND,
  ErrorCode.CONFLICT,
  ErrorCode.ALREADY_EXISTS,
  ErrorCode.PROVIDER_ERROR,
]);

/**
 * Whether a mutation that was tried at once, without reading first, was refused for what a read
 * would have shown (an access config, an address in use, a missing pool, a rule that exists), so
 * that the careful way (read, then change) may follow. Failures that say nothing about the
 * resources (unavailable after the retries, aborted, denied, over quota) are not refusals.
 */
export function isRefusal(error: unknown): boolean {
  return isHacpError(error) && REFUSALS.has(error.code);
}
