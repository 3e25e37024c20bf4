import { ErrorCode, HacpError, isHacpError } from '@hacp/core';
import {
  ClientClosedError,
  castGrpcError,
  EtcdPermissionDeniedError,
  GRPCAbortedError,
  GRPCAlreadyExistsError,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCInvalidArgumentError,
  GRPCNotFoundError,
  GRPCResourceExhastedError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
} from 'etcd3';

/**
 * Why etcd refused, for the failures hacp acts on. etcd returns most membership refusals with the
 * same gRPC status (FailedPrecondition or Unavailable), so its message is the only thing that tells
 * them apart; it is read here, once, and nowhere else.
 */
export const EtcdReason = {
  /** A learner exists already; etcd 3.4 allows one. */
  TOO_MANY_LEARNERS: 'too-many-learners',
  /** The learner has not caught up with the leader yet (below 90% of its log); retry. */
  LEARNER_NOT_IN_SYNC: 'learner-not-in-sync',
  /** Promote was asked for a member that is a voter already. */
  MEMBER_NOT_LEARNER: 'member-not-learner',
  /** Strict reconfiguration check: a voter has not been connected for 5 s, or the change would lose quorum. */
  UNHEALTHY_CLUSTER: 'unhealthy-cluster',
  /** The call needs the leader and went to a follower, or there is no leader right now. */
  NOT_LEADER: 'not-leader',
  MEMBER_NOT_FOUND: 'member-not-found',
  PEER_URL_EXISTS: 'peer-url-exists',
  /** Learners serve neither linearizable reads nor most RPCs. */
  LEARNER_RPC: 'learner-rpc',
  /** The backend is over its quota; the cluster is read-only until space is freed. */
  NO_SPACE: 'no-space',
  /** etcd did not finish the request in time (slow disk, lost quorum). */
  REQUEST_TIMED_OUT: 'request-timed-out',
  /** No connection: the endpoint is down, or TLS failed (wrong CA, no client certificate). */
  CONNECTION: 'connection',
  DEADLINE: 'deadline',
  OTHER: 'other',
} as const;

export type EtcdReason = (typeof EtcdReason)[keyof typeof EtcdReason];

/** Where the failing call went, for the message. */
export interface EtcdCallContext {
  /** What hacp was doing, as a verb phrase: "add a learner", "list members". */
  operation: string;
  endpoint?: string;
  memberId?: string;
}

interface Rule {
  /** etcd's own message text (server/etcdserver/errors.go and api/v3rpc/rpctypes). Longest first. */
  text: string;
  reason: EtcdReason;
  code: ErrorCode;
  retryable: boolean;
  explain: string;
  actions: readonly string[];
}

const RULES: readonly Rule[] = [
  {
    text: 'can only promote a learner member which is in sync with leader',
    reason: EtcdReason.LEARNER_NOT_IN_SYNC,
    code: ErrorCode.CONFLICT,
    retryable: true,
    explain: 'the learner has not caught up with the leader yet',
    actions: ['Wait for the learner to catch up; promoteWhenReady retries this every 500 ms.'],
  },
  {
    text: 'can only promote a learner member',
    reason: EtcdReason.MEMBER_NOT_LEARNER,
    code: ErrorCode.CONFLICT,
    retryable: false,
    explain: 'the member is a voter already',
    actions: ['Nothing to do: the member was promoted before.'],
  },
  {
    text: 'too many learner members in cluster',
    reason: EtcdReason.TOO_MANY_LEARNERS,
    code: ErrorCode.LEARNER_PRESENT,
    retryable: false,
    explain: 'a learner exists already and etcd allows one at a time',
    actions: ['Promote or remove the existing learner first (`hacp repair` removes a stuck one).'],
  },
  {
    text: 'unhealthy cluster',
    reason: EtcdReason.UNHEALTHY_CLUSTER,
    code: ErrorCode.UNAVAILABLE,
    retryable: true,
    explain:
      'etcd refused the change: a voting member has not been connected for the last 5 seconds, or the change would leave fewer started voters than the quorum',
    actions: [
      'Wait a few seconds after a member starts, and check every voter is healthy with `hacp status`.',
    ],
  },
  {
    text: 'rpc not supported for learner',
    reason: EtcdReason.LEARNER_RPC,
    code: ErrorCode.UNAVAILABLE,
    retryable: false,
    explain: 'the endpoint is a learner, which does not serve this call',
    actions: ['Send the call to a voting member.'],
  },
  {
    text: 'not leader',
    reason: EtcdReason.NOT_LEADER,
    code: ErrorCode.UNAVAILABLE,
    retryable: true,
    explain: 'the call went to a member that does not lead',
    actions: ['Retry: hacp finds the leader again.'],
  },
  {
    text: 'no leader',
    reason: EtcdReason.NOT_LEADER,
    code: ErrorCode.UNAVAILABLE,
    retryable: true,
    explain: 'the cluster has no leader right now (an election is running, or quorum is lost)',
    actions: ['Retry in a few seconds; if it persists, check that a majority of members runs.'],
  },
  {
    text: 'leader changed',
    reason: EtcdReason.NOT_LEADER,
    code: ErrorCode.UNAVAILABLE,
    retryable: true,
    explain: 'leadership changed while the call ran',
    actions: ['Retry.'],
  },
  {
    text: 'member not found',
    reason: EtcdReason.MEMBER_NOT_FOUND,
    code: ErrorCode.NOT_FOUND,
    retryable: false,
    explain: 'no member has that id',
    actions: ['List the members (`hacp status`) and use an id from there.'],
  },
  {
    // What the gRPC API says for membership's "peerURL exists".
    text: 'Peer URLs already exists',
    reason: EtcdReason.PEER_URL_EXISTS,
    code: ErrorCode.ALREADY_EXISTS,
    retryable: false,
    explain: 'a member with that peer URL exists already',
    actions: ['Use another peer URL, or remove the member that has it.'],
  },
  {
    text: 'peerURL exists',
    reason: EtcdReason.PEER_URL_EXISTS,
    code: ErrorCode.ALREADY_EXISTS,
    retryable: false,
    explain: 'a member with that peer URL exists already',
    actions: ['Use another peer URL, or remove the member that has it.'],
  },
  {
    text: 'database space exceeded',
    reason: EtcdReason.NO_SPACE,
    code: ErrorCode.UNAVAILABLE,
    retryable: false,
    explain: 'the database is over its quota (NOSPACE alarm) and the cluster accepts no writes',
    actions: ['Compact and defragment etcd, then disarm the alarm (`etcdctl alarm disarm`).'],
  },
  {
    text: 'request timed out',
    reason: EtcdReason.REQUEST_TIMED_OUT,
    code: ErrorCode.TIMEOUT,
    retryable: true,
    explain: 'etcd did not commit the request in time',
    actions: ['Check that a majority of members runs and their disks are not overloaded, then retry.'],
  },
  {
    text: 'too many requests',
    reason: EtcdReason.REQUEST_TIMED_OUT,
    code: ErrorCode.UNAVAILABLE,
    retryable: true,
    explain: 'etcd is overloaded',
    actions: ['Retry in a moment.'],
  },
];

/** etcd3 turns gRPC status codes into these classes; they are what is left once etcd's text says nothing. */
const BY_CLASS: readonly [
  new (...args: never[]) => Error,
  { code: ErrorCode; reason: EtcdReason; retryable: boolean },
][] = [
  [GRPCUnavailableError, { code: ErrorCode.UNAVAILABLE, reason: EtcdReason.CONNECTION, retryable: true }],
  [GRPCDeadlineExceededError, { code: ErrorCode.TIMEOUT, reason: EtcdReason.DEADLINE, retryable: true }],
  [GRPCCancelledError, { code: ErrorCode.ABORTED, reason: EtcdReason.OTHER, retryable: false }],
  [
    GRPCInvalidArgumentError,
    { code: ErrorCode.INVALID_ARGUMENT, reason: EtcdReason.OTHER, retryable: false },
  ],
  [GRPCNotFoundError, { code: ErrorCode.NOT_FOUND, reason: EtcdReason.OTHER, retryable: false }],
  [GRPCAlreadyExistsError, { code: ErrorCode.ALREADY_EXISTS, reason: EtcdReason.OTHER, retryable: false }],
  [GRPCResourceExhastedError, { code: ErrorCode.UNAVAILABLE, reason: EtcdReason.OTHER, retryable: true }],
  [GRPCAbortedError, { code: ErrorCode.CONFLICT, reason: EtcdReason.OTHER, retryable: true }],
  [
    EtcdPermissionDeniedError,
    { code: ErrorCode.PERMISSION_DENIED, reason: EtcdReason.OTHER, retryable: false },
  ],
  [GRPCUnauthenticatedError, { code: ErrorCode.UNAUTHENTICATED, reason: EtcdReason.OTHER, retryable: false }],
];

function where(context: EtcdCallContext): string {
  return context.endpoint === undefined ? '' : ` (through ${context.endpoint})`;
}

/**
 * Maps any failure of an etcd call to a HacpError, once, at the boundary: etcd3's gRPC error
 * classes by status, and etcd's own refusals ("too many learner members", "can only promote a
 * learner member which is in sync with leader", "unhealthy cluster", "not leader", "member not
 * found", "peerURL exists", ...) by their text. `details.reason` is an {@link EtcdReason};
 * `retryable` says whether the same call may succeed later. HacpErrors pass through unchanged.
 *
 * @example
 * try {
 *   await etcd.cluster.memberPromote({ ID: id });
 * } catch (error) {
 *   const mapped = toHacpError(error, { operation: 'promote the learner', memberId: id });
 *   if (mapped.details.reason === EtcdReason.LEARNER_NOT_IN_SYNC) { ... }
 * }
 */
export function toHacpError(thrown: unknown, context: EtcdCallContext): HacpError<EtcdErrorDetails> {
  let error = thrown;
  if (isHacpError(error)) return error as HacpError<EtcdErrorDetails>;
  // Streams hand out grpc-js's raw errors (a status code, no etcd3 class); give them the class.
  if (
    error instanceof Error &&
    error.constructor === Error &&
    typeof (error as { code?: unknown }).code === 'number'
  ) {
    error = castGrpcError(error);
  }
  const raw = error instanceof Error ? error.message : String(error);
  const base: EtcdErrorDetails = {
    reason: EtcdReason.OTHER,
    operation: context.operation,
    ...(context.endpoint === undefined ? {} : { endpoint: context.endpoint }),
    ...(context.memberId === undefined ? {} : { memberId: context.memberId }),
    etcdMessage: raw,
  };
  const rule = RULES.find((candidate) => raw.includes(candidate.text));
  if (rule !== undefined) {
    return new HacpError({
      code: rule.code,
      message: `Could not ${context.operation}${where(context)}: ${rule.explain} (etcd: ${rule.text}).`,
      actions: rule.actions,
      retryable: rule.retryable,
      details: { ...base, reason: rule.reason },
      cause: error,
    });
  }
  const byClass = BY_CLASS.find(([ctor]) => error instanceof ctor)?.[1];
  if (byClass !== undefined) {
    const connection = byClass.reason === EtcdReason.CONNECTION || byClass.reason === EtcdReason.DEADLINE;
    return new HacpError({
      code: byClass.code,
      message: connection
        ? `Could not ${context.operation}${where(context)}: etcd did not answer (${raw.split('\n')[0]}).`
        : `Could not ${context.operation}${where(context)}: ${raw}.`,
      actions: connection
        ? [
            'Check that the etcd endpoints are right and the members run.',
            "Check the client certificate and CA: a certificate from another CA, or none, is refused by etcd's client-cert-auth.",
          ]
        : ['Check the request and the cluster with `hacp status`.'],
      retryable: byClass.retryable,
      details: { ...base, reason: byClass.reason },
      cause: error,
    });
  }
  if (error instanceof ClientClosedError) {
    return new HacpError({
      code: ErrorCode.ABORTED,
      message: `Could not ${context.operation}: the etcd client was closed.`,
      retryable: false,
      details: base,
      cause: error,
    });
  }
  return new HacpError({
    code: ErrorCode.INTERNAL,
    message: `Could not ${context.operation}${where(context)}: unexpected etcd failure: ${raw}`,
    actions: ['Report this with the message above.'],
    retryable: false,
    details: base,
    cause: error,
  });
}

/** What `toHacpError` puts in `details`. */
export type EtcdErrorDetails = {
  reason: EtcdReason;
  operation: string;
  endpoint?: string;
  memberId?: string;
  etcdMessage: string;
} & Record<string, unknown>;

/** The reason behind a mapped etcd error, or undefined for other errors. */
export function etcdReasonOf(error: unknown): EtcdReason | undefined {
  if (!isHacpError(error)) return undefined;
  const reason = (error.details as { reason?: unknown }).reason;
  return typeof reason === 'string' && (Object.values(EtcdReason) as string[]).includes(reason)
    ? (reason as EtcdReason)
    : undefined;
}
