/**
 * Decoding and validation of `coordination.k8s.io/v1` Lease bodies the way the apiserver does it:
 * Go's case-sensitive JSON decoding into typed structs (type mismatches and bad MicroTimes are 400
 * decode errors, unknown fields are dropped with a warning), then the Lease strategy's validation
 * (422 Invalid with causes).
 */
import { formatGoTime, isGoZeroTime, parseGoTime, RFC3339, RFC3339_MICRO } from './go-time.js';
import {
  dns1123LabelProblems,
  dns1123SubdomainProblems,
  labelValueProblems,
  qualifiedNameProblems,
} from './selectors.js';
import { badRequest, type FieldError, LEASE_GROUP, LEASE_KIND, quoted } from './status.js';

export const LEASE_API_VERSION = `${LEASE_GROUP}/v1`;

/** `metav1.OwnerReference`. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** The ObjectMeta fields a Lease keeps, in Go's field order. */
export interface LeaseMetadata {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

/** `coordination/v1.LeaseSpec`, in Go's field order. MicroTimes are `null` when Go's zero time was sent. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
  strategy?: string;
  preferredHolder?: string;
}

/** A Lease as stored and served. */
export interface Lease {
  apiVersion: typeof LEASE_API_VERSION;
  kind: typeof LEASE_KIND;
  metadata: LeaseMetadata;
  spec: LeaseSpec;
}

type FieldType =
  | { type: 'string' | 'int32' | 'int64' | 'bool' | 'microtime' | 'time' | 'labels' | 'strings' | 'any' }
  | { type: 'struct'; name: string; goType: string; fields: Record<string, FieldType> }
  | { type: 'array'; goType: string; of: FieldType };

const OWNER_REFERENCE: FieldType = {
  type: 'struct',
  name: 'OwnerReference',
  goType: 'v1.OwnerReference',
  fields: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    name: { type: 'string' },
    uid: { type: 'string' },
    controller: { type: 'bool' },
    blockOwnerDeletion: { type: 'bool' },
  },
};

const OBJECT_META: FieldType = {
  type: 'struct',
  name: 'ObjectMeta',
  goType: 'v1.ObjectMeta',
  fields: {
    name: { type: 'string' },
    generateName: { type: 'string' },
    namespace: { type: 'string' },
    selfLink: { type: 'string' },
    uid: { type: 'string' },
    resourceVersion: { type: 'string' },
    generation: { type: 'int64' },
    creationTimestamp: { type: 'time' },
    deletionTimestamp: { type: 'time' },
    deletionGracePeriodSeconds: { type: 'int64' },
    labels: { type: 'labels' },
    annotations: { type: 'labels' },
    ownerReferences: { type: 'array', goType: '[]v1.OwnerReference', of: OWNER_REFERENCE },
    finalizers: { type: 'strings' },
    managedFields: { type: 'any' },
  },
};

const LEASE_SPEC: FieldType = {
  type: 'struct',
  name: 'LeaseSpec',
  goType: 'v1.LeaseSpec',
  fields: {
    holderIdentity: { type: 'string' },
    leaseDurationSeconds: { type: 'int32' },
    acquireTime: { type: 'microtime' },
    renewTime: { type: 'microtime' },
    leaseTransitions: { type: 'int32' },
    strategy: { type: 'string' },
    preferredHolder: { type: 'string' },
  },
};

const LEASE_TYPE: FieldType = {
  type: 'struct',
  name: 'Lease',
  goType: 'v1.Lease',
  fields: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: OBJECT_META,
    spec: LEASE_SPEC,
  },
};

/** A Go JSON decoding failure; the caller wraps its message as the apiserver does. */
class DecodeError extends Error {}

function jsonKind(value: unknown): string {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'bool';
  if (Array.isArray(value)) return 'array';
  return 'object';
}

interface DecodeContext {
  structName: string;
  path: string[];
  unknown: string[];
}

function typeError(context: DecodeContext, value: unknown, goType: string, literal = false): DecodeError {
  const what = literal && typeof value === 'number' ? `number ${String(value)}` : jsonKind(value);
  if (context.path.length === 0)
    return new DecodeError(`json: cannot unmarshal ${what} into Go value of type ${goType}`);
  return new DecodeError(
    `json: cannot unmarshal ${what} into Go struct field ${context.structName}.${context.path.join('.')} of type ${goType}`,
  );
}

/** Decodes `value` as Go would into `type`; `undefined` means the field stays unset (absent or null). */
function decodeValue(value: unknown, type: FieldType, context: DecodeContext): unknown {
  if (value === null) return undefined;
  switch (type.type) {
    case 'any':
      return value;
    case 'string':
      if (typeof value !== 'string') throw typeError(context, value, 'string');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw typeError(context, value, 'bool');
      return value;
    case 'int32':
    case 'int64': {
      if (typeof value !== 'number') throw typeError(context, value, type.type);
      const limit = type.type === 'int32' ? 2 ** 31 : 2 ** 63;
      if (!Number.isInteger(value) || value < -limit || value >= limit)
        throw typeError(context, value, type.type, true);
      return value;
    }
    case 'microtime':
    case 'time': {
      // MicroTime and Time unmarshal through their own UnmarshalJSON, whose errors Go passes on as they are.
      if (typeof value !== 'string')
        throw new DecodeError(`json: cannot unmarshal ${jsonKind(value)} into Go value of type string`);
      const layout = type.type === 'microtime' ? RFC3339_MICRO : RFC3339;
      const parsed = parseGoTime(value, layout);
      if (typeof parsed === 'string') throw new DecodeError(parsed);
      if (type.type === 'microtime' && isGoZeroTime(parsed)) return null;
      return formatGoTime(parsed, layout);
    }
    case 'labels': {
      if (typeof value !== 'object' || Array.isArray(value))
        throw typeError(context, value, 'map[string]string');
      const out: Record<string, string> = {};
      // Go encodes map keys sorted, so labels and annotations come back in key order.
      const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
        a < b ? -1 : a > b ? 1 : 0,
      );
      for (const [key, entry] of entries) {
        if (entry !== null && typeof entry !== 'string') throw typeError(context, entry, 'string');
        out[key] = entry ?? '';
      }
      return out;
    }
    case 'strings': {
      if (!Array.isArray(value)) throw typeError(context, value, '[]string');
      return value.map((entry) => {
        if (entry !== null && typeof entry !== 'string') throw typeError(context, entry, 'string');
        return entry ?? '';
      });
    }
    case 'array': {
      if (!Array.isArray(value)) throw typeError(context, value, type.goType);
      return value.map((entry, index) => {
        const last = context.path[context.path.length - 1] ?? '';
        const element: DecodeContext = {
          ...context,
          path: [...context.path.slice(0, -1), `${last}[${index}]`],
        };
        return decodeValue(entry, type.of, element) ?? {};
      });
    }
    case 'struct': {
      if (typeof value !== 'object' || Array.isArray(value)) throw typeError(context, value, type.goType);
      const out: Record<string, unknown> = {};
      for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
        const fieldType = type.fields[key];
        if (fieldType === undefined) {
          context.unknown.push([...context.path, key].join('.'));
          continue;
        }
        const inner: DecodeContext = {
          structName: type.name,
          path: [...context.path, key],
          unknown: context.unknown,
        };
        const decoded = decodeValue(entry, fieldType, inner);
        if (decoded !== undefined) out[key] = decoded;
      }
      return out;
    }
  }
}

/** What a body decodes to, before validation. */
export interface DecodedLease {
  lease: Lease;
  /** Paths of fields the Lease type does not have (`spec.foo`), dropped as Go drops them. */
  unknownFields: string[];
}

/** The apiserver's `transformDecodeError` wording for a body that parsed as JSON but not as a Lease. */
function decodeFailure(message: string): Error {
  return badRequest(`Lease in version "v1" cannot be handled as a Lease: ${message}`);
}

/** The bytes of a body, summarised as the apiserver does in "unrecognized" errors. */
function summarise(text: string): string {
  if (text.length === 0) return '<empty>';
  return text.length > 30 ? `${text.slice(0, 30)} ...` : text;
}

/**
 * Parses a request body as a Lease.
 *
 * @throws ApiStatusError 400 BadRequest for malformed JSON, a foreign kind or version, a value of the
 *   wrong JSON type, or a time Go cannot parse (MicroTime needs exactly six fractional digits).
 */
export function decodeLeaseBody(text: string): DecodedLease {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const detail = text.trim() === '' ? 'unexpected end of JSON input' : (error as Error).message;
    throw badRequest(
      `the object provided is unrecognized (must be of type Lease): couldn't get version/kind; json parse error: ${detail} (${summarise(text)})`,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw badRequest(
      `the object provided is unrecognized (must be of type Lease): couldn't get version/kind; json parse error: json: cannot unmarshal ${raw === null ? 'null' : jsonKind(raw)} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" } (${summarise(text)})`,
    );
  }
  const top = raw as Record<string, unknown>;
  const apiVersion = typeof top.apiVersion === 'string' ? top.apiVersion : '';
  const kind = typeof top.kind === 'string' ? top.kind : '';
  if (apiVersion !== '' && apiVersion !== LEASE_API_VERSION) {
    throw badRequest(
      `the API version in the data (${apiVersion}) does not match the expected API version (${LEASE_API_VERSION})`,
    );
  }
  if (kind !== '' && kind !== LEASE_KIND) {
    throw badRequest(
      `${kind} in version "v1" cannot be handled as a Lease: no kind "${kind}" is registered for version "${LEASE_API_VERSION}" in scheme "pkg/api/legacyscheme/scheme.go:30"`,
    );
  }
  const context: DecodeContext = { structName: 'Lease', path: [], unknown: [] };
  let decoded: Record<string, unknown>;
  try {
    decoded = decodeValue(raw, LEASE_TYPE, context) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof DecodeError) throw decodeFailure(error.message);
    throw error;
  }
  return { lease: normaliseLease(decoded), unknownFields: context.unknown };
}

/** Builds a Lease from decoded fields, keeping only what the Go types keep, in their order. */
function normaliseLease(decoded: Record<string, unknown>): Lease {
  const metadataIn = (decoded.metadata ?? {}) as Record<string, unknown>;
  const specIn = (decoded.spec ?? {}) as Record<string, unknown>;
  const metadata: LeaseMetadata = {};
  const metaOrder = [
    'name',
    'generateName',
    'namespace',
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
    'labels',
    'annotations',
    'ownerReferences',
    'finalizers',
  ] as const;
  for (const key of metaOrder) {
    const value = metadataIn[key];
    // Go's omitempty drops empty strings, zero numbers and empty maps and slices from ObjectMeta,
    // but keeps a pointer to zero (deletionGracePeriodSeconds: 0).
    if (value === undefined || value === '') continue;
    if (value === 0 && key !== 'deletionGracePeriodSeconds') continue;
    if (Array.isArray(value) && value.length === 0) continue;
    if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.keys(value).length === 0
    ) {
      continue;
    }
    (metadata as Record<string, unknown>)[key] = value;
  }
  if (metadata.ownerReferences !== undefined) {
    metadata.ownerReferences = metadata.ownerReferences.map((reference) => {
      const r = reference as Partial<OwnerReference>;
      const out: OwnerReference = {
        apiVersion: r.apiVersion ?? '',
        kind: r.kind ?? '',
        name: r.name ?? '',
        uid: r.uid ?? '',
      };
      if (r.controller !== undefined) out.controller = r.controller;
      if (r.blockOwnerDeletion !== undefined) out.blockOwnerDeletion = r.blockOwnerDeletion;
      return out;
    });
  }
  const spec: LeaseSpec = {};
  const specOrder = [
    'holderIdentity',
    'leaseDurationSeconds',
    'acquireTime',
    'renewTime',
    'leaseTransitions',
    'strategy',
    'preferredHolder',
  ] as const;
  // LeaseSpec's fields are pointers: a sent "" or 0 is kept, only absent and null are dropped.
  for (const key of specOrder) {
    if (Object.hasOwn(specIn, key)) (spec as Record<string, unknown>)[key] = specIn[key];
  }
  return { apiVersion: LEASE_API_VERSION, kind: LEASE_KIND, metadata, spec };
}

/** Re-orders a Lease's fields into Go's order (after a merge patch, say). */
export function canonicalLease(lease: Lease): Lease {
  return normaliseLease(lease as unknown as Record<string, unknown>);
}

const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);
const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

/**
 * `validation.ValidateLease` followed by the generic ObjectMeta validation: what a create (or a
 * create through PUT) checks. An empty list means valid.
 */
export function validateLease(lease: Lease): FieldError[] {
  const errors: FieldError[] = [];
  const meta = lease.metadata;
  if ((meta.name ?? '') === '') {
    if ((meta.generateName ?? '') === '') {
      errors.push({
        type: 'FieldValueRequired',
        field: 'metadata.name',
        detail: 'name or generateName is required',
      });
    }
  } else {
    for (const problem of dns1123SubdomainProblems(meta.name ?? '')) {
      errors.push({
        type: 'FieldValueInvalid',
        field: 'metadata.name',
        value: quoted(meta.name ?? ''),
        detail: problem,
      });
    }
  }
  if ((meta.generateName ?? '') !== '' && (meta.name ?? '') === '') {
    // generateName is checked as a prefix: the trailing '-' a generator appends to is fine.
    const prefix = (meta.generateName ?? '').replace(/-$/, '');
    for (const problem of prefix === '' ? [] : dns1123SubdomainProblems(prefix)) {
      errors.push({
        type: 'FieldValueInvalid',
        field: 'metadata.generateName',
        value: quoted(meta.generateName ?? ''),
        detail: problem,
      });
    }
  }
  for (const problem of dns1123LabelProblems(meta.namespace ?? '')) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'metadata.namespace',
      value: quoted(meta.namespace ?? ''),
      detail: problem,
    });
  }
  errors.push(...validateMetaCommon(meta));
  errors.push(...validateLeaseSpec(lease.spec));
  return errors;
}

function validateMetaCommon(meta: LeaseMetadata): FieldError[] {
  const errors: FieldError[] = [];
  if ((meta.generation ?? 0) < 0) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'metadata.generation',
      value: String(meta.generation),
      detail: 'must be greater than or equal to 0',
    });
  }
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    for (const problem of qualifiedNameProblems(key)) {
      errors.push({
        type: 'FieldValueInvalid',
        field: 'metadata.labels',
        value: quoted(key),
        detail: problem,
      });
    }
    for (const problem of labelValueProblems(value)) {
      errors.push({
        type: 'FieldValueInvalid',
        field: 'metadata.labels',
        value: quoted(value),
        detail: problem,
      });
    }
  }
  let annotationBytes = 0;
  for (const [key, value] of Object.entries(meta.annotations ?? {})) {
    for (const problem of qualifiedNameProblems(key.toLowerCase())) {
      errors.push({
        type: 'FieldValueInvalid',
        field: 'metadata.annotations',
        value: quoted(key),
        detail: problem,
      });
    }
    annotationBytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (annotationBytes > TOTAL_ANNOTATION_SIZE_LIMIT) {
    errors.push({
      type: 'FieldValueTooLong',
      field: 'metadata.annotations',
      detail: `may not be more than ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes`,
    });
  }
  (meta.ownerReferences ?? []).forEach((reference, index) => {
    const path = `metadata.ownerReferences[${index}]`;
    for (const key of ['apiVersion', 'kind', 'name', 'uid'] as const) {
      if (reference[key] === '') {
        errors.push({
          type: 'FieldValueInvalid',
          field: `${path}.${key}`,
          value: quoted(''),
          detail: `${key} must not be empty`,
        });
      }
    }
  });
  if ((meta.ownerReferences ?? []).filter((r) => r.controller === true).length > 1) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'metadata.ownerReferences',
      value: '[]',
      detail: 'Only one reference can have Controller set to true',
    });
  }
  (meta.finalizers ?? []).forEach((finalizer, index) => {
    const field = `metadata.finalizers[${index}]`;
    const problems = qualifiedNameProblems(finalizer);
    for (const problem of problems)
      errors.push({ type: 'FieldValueInvalid', field, value: quoted(finalizer), detail: problem });
    if (problems.length === 0 && !finalizer.includes('/') && !STANDARD_FINALIZERS.has(finalizer)) {
      errors.push({
        type: 'FieldValueInvalid',
        field,
        value: quoted(finalizer),
        detail: 'name is neither a standard finalizer name nor is it fully qualified',
      });
    }
  });
  return errors;
}

/** `validation.ValidateLeaseSpec`. */
function validateLeaseSpec(spec: LeaseSpec): FieldError[] {
  const errors: FieldError[] = [];
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds <= 0) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.leaseDurationSeconds',
      value: String(spec.leaseDurationSeconds),
      detail: 'must be greater than 0',
    });
  }
  if (spec.leaseTransitions !== undefined && spec.leaseTransitions < 0) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.leaseTransitions',
      value: String(spec.leaseTransitions),
      detail: 'must be greater than or equal to 0',
    });
  }
  if (spec.strategy !== undefined) {
    const parts = spec.strategy.split('/');
    if (parts.length === 1) {
      if (spec.strategy !== 'OldestEmulationVersion') {
        errors.push({
          type: 'FieldValueNotSupported',
          field: 'spec.strategy.strategy',
          value: quoted(spec.strategy),
          detail: 'supported values: "OldestEmulationVersion"',
        });
      }
    } else {
      for (const problem of qualifiedNameProblems(spec.strategy)) {
        errors.push({
          type: 'FieldValueInvalid',
          field: 'spec.strategy.strategy',
          value: quoted(spec.strategy),
          detail: problem,
        });
      }
    }
  }
  if ((spec.preferredHolder ?? '') !== '' && (spec.strategy ?? '') === '') {
    errors.push({
      type: 'FieldValueForbidden',
      field: 'spec.preferredHolder',
      detail: 'may only be specified if `strategy` is defined',
    });
  }
  return errors;
}

/**
 * `validation.ValidateLeaseUpdate`: ObjectMeta update rules (name, namespace, uid immutable) and the
 * spec rules. `lease` already carries the system fields copied from `old`.
 */
export function validateLeaseUpdate(lease: Lease, old: Lease): FieldError[] {
  const errors: FieldError[] = [];
  const immutable = (
    field: 'name' | 'namespace' | 'uid' | 'deletionTimestamp' | 'deletionGracePeriodSeconds',
  ) => {
    const now = lease.metadata[field];
    if (now !== old.metadata[field]) {
      errors.push({
        type: 'FieldValueInvalid',
        field: `metadata.${field}`,
        value: typeof now === 'number' ? String(now) : now === undefined ? 'null' : quoted(now),
        detail: 'field is immutable',
      });
    }
  };
  immutable('name');
  immutable('namespace');
  immutable('uid');
  immutable('deletionTimestamp');
  immutable('deletionGracePeriodSeconds');
  if (old.metadata.deletionTimestamp !== undefined) {
    const before = new Set(old.metadata.finalizers ?? []);
    const added = (lease.metadata.finalizers ?? []).filter((f) => !before.has(f));
    if (added.length > 0) {
      errors.push({
        type: 'FieldValueForbidden',
        field: 'metadata.finalizers',
        detail: `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map(quoted).join(', ')}}`,
      });
    }
  }
  errors.push(...validateMetaCommon(lease.metadata));
  errors.push(...validateLeaseSpec(lease.spec));
  return errors;
}
