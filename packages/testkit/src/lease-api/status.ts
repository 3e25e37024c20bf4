/**
 * `metav1.Status` bodies as the kube-apiserver writes them (k8s.io/apimachinery/pkg/api/errors), and
 * the error the lease server's handlers throw to answer with one.
 */

/** The group, resource and kind of the one resource this server serves. */
export const LEASE_GROUP = 'coordination.k8s.io';
export const LEASE_RESOURCE = 'leases';
export const LEASE_KIND = 'Lease';
/** `leases.coordination.k8s.io`, the qualified resource the apiserver names in its messages. */
export const LEASE_QUALIFIED = `${LEASE_RESOURCE}.${LEASE_GROUP}`;

/** One `details.causes` entry of a Status. */
export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

/** `metav1.StatusDetails`. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** `metav1.Status`, field order as Go encodes it. */
export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: { continue?: string };
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

/** A refusal: the handler throws it, the server writes `status` with its `code`. */
export class ApiStatusError extends Error {
  readonly status: StatusBody;
  readonly code: number;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.status = failure(code, reason, message, details);
  }
}

function failure(code: number, reason: string, message: string, details?: StatusDetails): StatusBody {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message };
  // StatusReasonUnknown is the empty string, which Go omits.
  if (reason !== '') body.reason = reason;
  if (details !== undefined) body.details = details;
  body.code = code;
  return body;
}

const leaseDetails = (name: string): StatusDetails => ({ name, group: LEASE_GROUP, kind: LEASE_RESOURCE });

/** `errors.NewNotFound(leases, name)`. */
export function leaseNotFound(name: string): ApiStatusError {
  return new ApiStatusError(404, 'NotFound', `${LEASE_QUALIFIED} "${name}" not found`, leaseDetails(name));
}

/** `errors.NewNotFound(namespaces, name)`, from the NamespaceLifecycle admission plugin. */
export function namespaceNotFound(namespace: string): ApiStatusError {
  return new ApiStatusError(404, 'NotFound', `namespaces "${namespace}" not found`, {
    name: namespace,
    kind: 'namespaces',
  });
}

/** `errors.NewAlreadyExists(leases, name)`. */
export function leaseAlreadyExists(name: string): ApiStatusError {
  return new ApiStatusError(
    409,
    'AlreadyExists',
    `${LEASE_QUALIFIED} "${name}" already exists`,
    leaseDetails(name),
  );
}

/** The registry store's `OptimisticLockErrorMsg`. */
export const OPTIMISTIC_LOCK_MESSAGE =
  'the object has been modified; please apply your changes to the latest version and try again';

/**
 * `errors.NewConflict(resource, name, err)`. `resource` is `leases.coordination.k8s.io` from the
 * storage layer, but `Lease.coordination.k8s.io` from `rest.BeforeDelete`, which builds its
 * GroupResource from the kind.
 */
export function conflict(
  name: string,
  reason: string,
  resource: { group: string; resource: string } = { group: LEASE_GROUP, resource: LEASE_RESOURCE },
): ApiStatusError {
  return new ApiStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${resource.resource}.${resource.group} "${name}": ${reason}`,
    { name, group: resource.group, kind: resource.resource },
  );
}

/** The storage layer's failed-precondition error as the Conflict message quotes it. */
export function storagePreconditionMessage(namespace: string, name: string, detail: string): string {
  return `StorageError: invalid object, Code: 4, Key: /registry/leases/${namespace}/${name}, ResourceVersion: 0, AdditionalErrorMsg: ${detail}`;
}

/** One field error (`field.Error`) of an Invalid status. */
export interface FieldError {
  type:
    | 'FieldValueInvalid'
    | 'FieldValueRequired'
    | 'FieldValueForbidden'
    | 'FieldValueNotSupported'
    | 'FieldValueTooLong';
  field: string;
  /** The Go `%v`-style rendering of the bad value, already quoted for strings; omitted by Required and Forbidden. */
  value?: string;
  detail: string;
}

/** `field.Error.ErrorBody()`: what follows `<field>: ` in a message. */
function fieldErrorBody(error: FieldError): string {
  switch (error.type) {
    case 'FieldValueRequired':
      return error.detail === '' ? 'Required value' : `Required value: ${error.detail}`;
    case 'FieldValueForbidden':
      return error.detail === '' ? 'Forbidden' : `Forbidden: ${error.detail}`;
    case 'FieldValueTooLong':
      return `Too long: ${error.detail}`;
    case 'FieldValueNotSupported':
      return `Unsupported value: ${error.value ?? ''}: ${error.detail}`;
    default:
      return `Invalid value: ${error.value ?? ''}: ${error.detail}`;
  }
}

/** A Go `%q`-ish rendering of a string value, as field errors print strings. */
export function quoted(value: string): string {
  return JSON.stringify(value);
}

/**
 * `errors.NewInvalid(kind, name, errs)`: 422 with one cause per field error, and the message
 * `<Kind>.<group> "<name>" is invalid: <err>` (several errors in brackets, comma-separated).
 */
export function invalid(
  kind: { group: string; kind: string },
  name: string,
  errors: readonly FieldError[],
): ApiStatusError {
  const rendered = errors.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const summary = rendered.length === 1 ? (rendered[0] ?? '') : `[${rendered.join(', ')}]`;
  const qualified = kind.group === '' ? kind.kind : `${kind.kind}.${kind.group}`;
  return new ApiStatusError(422, 'Invalid', `${qualified} "${name}" is invalid: ${summary}`, {
    name,
    group: kind.group,
    kind: kind.kind,
    causes: errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
  });
}

/** An Invalid for the Lease kind (what `strategy.Validate` failures produce). */
export function invalidLease(name: string, errors: readonly FieldError[]): ApiStatusError {
  return invalid({ group: LEASE_GROUP, kind: LEASE_KIND }, name, errors);
}

/** `errors.NewBadRequest(message)`: 400 with no details. */
export function badRequest(message: string): ApiStatusError {
  return new ApiStatusError(400, 'BadRequest', message);
}

/** `errors.NewInternalError(err)`. */
export function internalError(message: string): ApiStatusError {
  return new ApiStatusError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ message }],
  });
}

/** The Status `{status: 'Success'}` a delete answers with when the store does not return the object. */
export function deleteSuccess(name: string, uid: string): StatusBody {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name, group: LEASE_GROUP, kind: LEASE_RESOURCE, uid },
  };
}
