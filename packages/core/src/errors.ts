/**
 * The closed map of hacp error codes. A code is stable: tools match on it, never on a message.
 * Add new codes here; never rename or reuse one.
 */
export const ErrorCode = {
  /** An argument is malformed or out of range; `details.field` names it. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The named resource does not exist. */
  NOT_FOUND: 'NOT_FOUND',
  /** A resource with that name exists already and is not the one asked for. */
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  /** A compare-and-swap lost: someone else wrote first. Re-read and retry. */
  CONFLICT: 'CONFLICT',
  /** A zone name is not a valid zone (`<region>-<x>`). */
  ZONE_INVALID: 'ZONE_INVALID',
  /** A zone is outside the cluster's region. */
  ZONE_NOT_IN_REGION: 'ZONE_NOT_IN_REGION',
  /** The cluster was created without multizone and the zone differs from the first replica's. */
  MULTIZONE_REQUIRED: 'MULTIZONE_REQUIRED',
  /** The change would leave fewer healthy etcd voters than the quorum needs. */
  QUORUM_AT_RISK: 'QUORUM_AT_RISK',
  /**
   * etcd has lost its quorum (too few voters answer): no membership change can commit. `hacp recover`
   * gets out, or `hacp zone restore` where the missing voters are in a zone that is only failed.
   */
  QUORUM_LOST: 'QUORUM_LOST',
  /** An etcd learner exists already; etcd allows one at a time. */
  LEARNER_PRESENT: 'LEARNER_PRESENT',
  /** A learner made no progress for too long and was removed. */
  LEARNER_STALLED: 'LEARNER_STALLED',
  /**
   * A new member never started (its process never reached the cluster) within the bound for its
   * machine to boot and start it; it was removed. Its machine's boot log says why.
   */
  MEMBER_NOT_STARTED: 'MEMBER_NOT_STARTED',
  /** No replica has that name (or none is in that zone). */
  REPLICA_NOT_FOUND: 'REPLICA_NOT_FOUND',
  /** Removing the last replica is `down`, not `remove`. */
  LAST_REPLICA: 'LAST_REPLICA',
  /** Another operation holds the cluster lock. */
  LOCKED: 'LOCKED',
  /** A wait ran out of time. */
  TIMEOUT: 'TIMEOUT',
  /** A service did not answer; usually worth retrying. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** The credentials were accepted and lack a permission (HTTP 403); `actions` say what to grant. */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** The credentials were not accepted (HTTP 401): missing, expired or for another cluster. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** A cloud quota (CPUs, addresses, disks) or rate quota would be exceeded; `actions` say which to raise. */
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  /** A cloud provider call failed in a way hacp does not classify further. */
  PROVIDER_ERROR: 'PROVIDER_ERROR',
  /** A program or package hacp needs is not installed. */
  DEPENDENCY_MISSING: 'DEPENDENCY_MISSING',
  /** A download did not match its published checksum; nothing of it was kept. */
  CHECKSUM_MISMATCH: 'CHECKSUM_MISMATCH',
  /** No provider has that name: none built in, registered, contributed by a plugin or installed as a package. */
  PROVIDER_NOT_FOUND: 'PROVIDER_NOT_FOUND',
  /** A provider plugin or package is not a v1 provider: another contract version, or members missing. */
  PROVIDER_INVALID: 'PROVIDER_INVALID',
  /** The caller aborted the operation (signal, Ctrl-C); it can be resumed. */
  ABORTED: 'ABORTED',
  /** Stored state is unreadable or written by a newer hacp; it was left untouched. */
  STATE_CORRUPT: 'STATE_CORRUPT',
  /** A bug in hacp: an invariant did not hold. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes that are worth retrying as they are, unless the thrower says otherwise. */
const RETRYABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.CONFLICT,
  ErrorCode.LOCKED,
  ErrorCode.TIMEOUT,
  ErrorCode.UNAVAILABLE,
]);

/** Bad input: the user can fix the command. */
const BAD_INPUT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.NOT_FOUND,
  ErrorCode.ALREADY_EXISTS,
  ErrorCode.ZONE_INVALID,
  ErrorCode.ZONE_NOT_IN_REGION,
  ErrorCode.MULTIZONE_REQUIRED,
  ErrorCode.REPLICA_NOT_FOUND,
  ErrorCode.PROVIDER_NOT_FOUND,
]);

/** Refused by a safety rule: the request was understood, and doing it would be unsafe now. */
const REFUSED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.QUORUM_AT_RISK,
  ErrorCode.QUORUM_LOST,
  ErrorCode.LEARNER_PRESENT,
  ErrorCode.LAST_REPLICA,
  ErrorCode.LOCKED,
]);

/** The CLI's exit codes (DESIGN.md "CLI"). */
export const ExitCode = {
  DONE: 0,
  FAILED: 1,
  BAD_INPUT: 2,
  REFUSED: 3,
  INTERRUPTED: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The exit code the CLI uses for an error code: 2 bad input, 3 refused by a safety rule,
 * 4 interrupted (resumable), 1 otherwise.
 */
export function exitCodeFor(code: ErrorCode): ExitCode {
  if (BAD_INPUT.has(code)) return ExitCode.BAD_INPUT;
  if (REFUSED.has(code)) return ExitCode.REFUSED;
  if (code === ErrorCode.ABORTED) return ExitCode.INTERRUPTED;
  return ExitCode.FAILED;
}

/** What an error carries besides its message. */
export interface HacpErrorOptions<D extends Record<string, unknown> = Record<string, unknown>> {
  code: ErrorCode;
  /** One or two plain sentences: what went wrong, with the names and values involved. */
  message: string;
  /** What the user can do next, each a short imperative sentence or a command. */
  actions?: readonly string[];
  /** Structured facts for tools (`field`, `zone`, `replica`, ...). Never secrets. */
  details?: D;
  /** Whether the same call may succeed if retried as is. Defaults by code. */
  retryable?: boolean;
  cause?: unknown;
}

const MARKER = Symbol.for('hacp.error');

/**
 * The one error class of hacp. Its `code` is stable; its `message` is for people.
 *
 * @example
 * throw new HacpError({
 *   code: 'ZONE_NOT_IN_REGION',
 *   message: 'Zone us-east1-b is not in the cluster region europe-west1.',
 *   actions: ['Pick a zone in europe-west1, such as europe-west1-c.'],
 *   details: { zone: 'us-east1-b', region: 'europe-west1' },
 * });
 */
export class HacpError<D extends Record<string, unknown> = Record<string, unknown>> extends Error {
  readonly [MARKER] = true;
  override readonly name = 'HacpError';
  readonly code: ErrorCode;
  readonly actions: readonly string[];
  readonly details: D;
  readonly retryable: boolean;

  constructor(options: HacpErrorOptions<D>) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.actions = Object.freeze([...(options.actions ?? [])]);
    this.details = (options.details ?? {}) as D;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(options.code);
  }

  /** The CLI exit code for this error. */
  get exitCode(): ExitCode {
    return exitCodeFor(this.code);
  }

  /** The shape the CLI's `--json` envelope carries: no stack, no cause, no secrets. */
  toJSON(): { code: ErrorCode; message: string; actions: readonly string[]; details: D; retryable: boolean } {
    return {
      code: this.code,
      message: this.message,
      actions: this.actions,
      details: this.details,
      retryable: this.retryable,
    };
  }
}

/**
 * True for any HacpError, also one thrown by another copy of this package (a `Symbol.for` marker,
 * not `instanceof`). Pass a code to test for that code too.
 */
export function isHacpError(error: unknown, code?: ErrorCode): error is HacpError {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (error as HacpError).code === code;
}

/** Shorthand for INVALID_ARGUMENT naming the field. */
export function invalidArgument(options: {
  field: string;
  message: string;
  actions?: readonly string[];
  value?: string | number | boolean;
}): HacpError<{ field: string; value?: string | number | boolean }> {
  return new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: options.message,
    actions: options.actions,
    details:
      options.value === undefined ? { field: options.field } : { field: options.field, value: options.value },
  });
}
