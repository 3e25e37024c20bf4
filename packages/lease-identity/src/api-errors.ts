/**
 * The one place where errors from @kubernetes/client-node become HacpErrors. Decisions are made on the
 * HTTP status, the call being made and error codes, never on message text; the API server's own
 * message is carried along for people to read.
 */
import {
  ErrorCode,
  HacpError,
  isHacpError,
  type KubernetesApiStatus,
  kubernetesApiAnswerOf,
} from '@hacp/core';

/** A lease API verb, as RBAC names it. */
export type LeaseVerb = 'get' | 'list' | 'create' | 'update' | 'delete';

/** The call that failed: enough to say what was refused and what to grant. */
export interface LeaseCall {
  verb: LeaseVerb;
  namespace: string;
  /** The lease, for calls on one lease. */
  name?: string;
  /** What the caller is doing, for messages: "leader election", "the identity heartbeat". */
  purpose: string;
  /** Every verb the caller needs, for the RBAC suggestion. */
  verbs: readonly LeaseVerb[];
}

type ApiStatus = KubernetesApiStatus;

const RESOURCE = 'leases.coordination.k8s.io';
// TLS failures are configuration errors: retrying them as they are cannot succeed.
const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function target(call: LeaseCall): string {
  return call.name === undefined
    ? `${RESOURCE} in namespace ${call.namespace}`
    : `${RESOURCE} "${call.name}" in namespace ${call.namespace}`;
}

function said(status: ApiStatus): string {
  return status.message ? ` The API server said: ${status.message}` : '';
}

function details(call: LeaseCall, httpStatus: number, status: ApiStatus): Record<string, unknown> {
  return {
    status: httpStatus,
    verb: call.verb,
    resource: RESOURCE,
    namespace: call.namespace,
    ...(call.name === undefined ? {} : { name: call.name }),
    ...(status.reason ? { reason: status.reason } : {}),
    ...(status.message ? { serverMessage: status.message } : {}),
  };
}

/** The refusal for a 403: which permission is missing, and the RBAC that grants what the caller needs. */
function permissionDenied(call: LeaseCall, status: ApiStatus, cause: unknown): HacpError {
  const verbs = [...new Set([call.verb, ...call.verbs])].join(',');
  return new HacpError({
    code: ErrorCode.PERMISSION_DENIED,
    message: `The Kubernetes API refused to ${call.verb} ${target(call)} (403 Forbidden): the credentials in use lack the "${call.verb}" permission on ${RESOURCE} there, which ${call.purpose} needs.${said(status)}`,
    actions: [
      `Grant it with a Role: kubectl create role hacp-leases --namespace ${call.namespace} --verb=${verbs} --resource=${RESOURCE}`,
      `and bind it: kubectl create rolebinding hacp-leases --namespace ${call.namespace} --role=hacp-leases --user=<user> (or --serviceaccount=<namespace>:<name>)`,
      `Check with: kubectl auth can-i ${call.verb} ${RESOURCE} --namespace ${call.namespace}`,
    ],
    details: details(call, 403, status),
    retryable: false,
    cause,
  });
}

/**
 * Maps anything a CoordinationV1Api call threw to a HacpError: 404 NOT_FOUND (on a create: the
 * namespace is missing), 409 CONFLICT (on a create: ALREADY_EXISTS), 403 PERMISSION_DENIED, 401
 * UNAUTHENTICATED, 400/422 INVALID_ARGUMENT, 429/5xx and network failures UNAVAILABLE (retryable),
 * TLS trust failures UNAVAILABLE (not retryable). A HacpError passes through unchanged.
 */
export function leaseApiError(error: unknown, call: LeaseCall): HacpError {
  if (isHacpError(error)) return error;
  const answer = kubernetesApiAnswerOf(error);
  if (answer !== undefined) return fromStatus(answer.httpStatus, answer.status, call, error);
  return fromTransport(error, call);
}

function fromStatus(httpStatus: number, status: ApiStatus, call: LeaseCall, cause: unknown): HacpError {
  const base = { details: details(call, httpStatus, status), cause };
  if (httpStatus === 404) {
    if (call.verb === 'create' || call.verb === 'list') {
      return new HacpError({
        ...base,
        code: ErrorCode.NOT_FOUND,
        message: `Namespace ${call.namespace} does not exist, so ${call.purpose} cannot ${call.verb} ${RESOURCE} in it.${said(status)}`,
        actions: [`Create it (kubectl create namespace ${call.namespace}) or pass a namespace that exists.`],
        details: { ...base.details, kind: 'namespaces' },
      });
    }
    return new HacpError({
      ...base,
      code: ErrorCode.NOT_FOUND,
      message: `There is no ${target(call)}.${said(status)}`,
    });
  }
  if (httpStatus === 409) {
    return call.verb === 'create'
      ? new HacpError({
          ...base,
          code: ErrorCode.ALREADY_EXISTS,
          message: `${target(call)} exists already: another writer created it first.`,
          retryable: true,
        })
      : new HacpError({
          ...base,
          code: ErrorCode.CONFLICT,
          message: `${target(call)} changed since it was read (resourceVersion conflict): another writer got there first.`,
        });
  }
  if (httpStatus === 403) return permissionDenied(call, status, cause);
  if (httpStatus === 401) {
    return new HacpError({
      ...base,
      code: ErrorCode.UNAUTHENTICATED,
      message: `The Kubernetes API did not accept the credentials (401 Unauthorized) when ${call.purpose} tried to ${call.verb} ${target(call)}.${said(status)}`,
      actions: [
        'Check the user of the kubeconfig in use: its token or client certificate may have expired, or belong to another cluster.',
        'Try it with: kubectl auth whoami',
      ],
      retryable: false,
    });
  }
  if (httpStatus === 400 || httpStatus === 422) {
    return new HacpError({
      ...base,
      code: ErrorCode.INVALID_ARGUMENT,
      message: `The Kubernetes API rejected the ${call.verb} of ${target(call)} as invalid (${httpStatus}).${said(status)}`,
      details: { ...base.details, field: 'lease' },
      retryable: false,
    });
  }
  if (httpStatus === 429 || httpStatus >= 500) {
    return new HacpError({
      ...base,
      code: ErrorCode.UNAVAILABLE,
      message: `The Kubernetes API could not ${call.verb} ${target(call)} now (${httpStatus}${status.reason ? ` ${status.reason}` : ''}).${said(status)}`,
      actions: ['Retry later; check the API server and etcd if it persists.'],
      retryable: true,
    });
  }
  return new HacpError({
    ...base,
    code: ErrorCode.PROVIDER_ERROR,
    message: `The Kubernetes API answered ${httpStatus} to the ${call.verb} of ${target(call)}.${said(status)}`,
    retryable: false,
  });
}

function fromTransport(error: unknown, call: LeaseCall): HacpError {
  const name = error instanceof Error ? error.name : undefined;
  const code =
    typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
      ? (error as { code: string }).code
      : undefined;
  if (error instanceof TypeError || name === 'RequiredError') {
    return new HacpError({
      code: ErrorCode.INTERNAL,
      message: `Calling the Kubernetes API to ${call.verb} ${target(call)} failed before any request was sent: ${(error as Error).message}`,
      details: { verb: call.verb, namespace: call.namespace },
      cause: error,
    });
  }
  if (code !== undefined && TLS_ERROR_CODES.has(code)) {
    return new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `The Kubernetes API's TLS certificate was not trusted (${code}) when ${call.purpose} tried to ${call.verb} ${target(call)}.`,
      actions: ['Check certificate-authority-data (or the CA file) of the cluster in the kubeconfig.'],
      details: { verb: call.verb, namespace: call.namespace, errorCode: code },
      retryable: false,
      cause: error,
    });
  }
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `The Kubernetes API could not be reached to ${call.verb} ${target(call)}${code ? ` (${code})` : ''}.`,
    actions: ['Check that the API server address in the kubeconfig is reachable from here.'],
    details: { verb: call.verb, namespace: call.namespace, ...(code ? { errorCode: code } : {}) },
    retryable: true,
    cause: error,
  });
}
