/**
 * The Lease REST semantics of kube-apiserver's generic registry store with the Lease strategy
 * (AllowCreateOnUpdate true, AllowUnconditionalUpdate false, no graceful deletion), over a
 * LeaseStore. Every function here is synchronous: the server runs one to completion per request, so
 * each request is atomic.
 */
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { nowRfc3339 } from './go-time.js';
import {
  canonicalLease,
  type DecodedLease,
  decodeLeaseBody,
  LEASE_API_VERSION,
  type Lease,
  validateLease,
  validateLeaseUpdate,
} from './lease-codec.js';
import { type LeaseStore, RevisionCompactedError } from './lease-store.js';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorSyntaxError,
} from './selectors.js';
import {
  ApiStatusError,
  badRequest,
  conflict,
  deleteSuccess,
  type FieldError,
  invalid,
  invalidLease,
  LEASE_GROUP,
  LEASE_KIND,
  LEASE_RESOURCE,
  leaseAlreadyExists,
  leaseNotFound,
  namespaceNotFound,
  OPTIMISTIC_LOCK_MESSAGE,
  quoted,
  type StatusBody,
  storagePreconditionMessage,
} from './status.js';

/** What a handler answers: a status code and a JSON body, plus any `Warning` headers. */
export interface HandlerResult {
  code: number;
  body: unknown;
  warnings: string[];
}

/** Query parameters, first value of each. */
export type Query = Readonly<Record<string, string>>;

/** `LeaseList` as served. */
export interface LeaseList {
  kind: 'LeaseList';
  apiVersion: typeof LEASE_API_VERSION;
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: Omit<Lease, 'apiVersion' | 'kind'>[];
}

const GENERATE_NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const META_GROUP = 'meta.k8s.io';

type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

function fieldValidationOf(query: Query): FieldValidation {
  const value = query.fieldValidation ?? '';
  if (value === '' || value === 'Warn') return 'Warn';
  if (value === 'Ignore' || value === 'Strict') return value;
  throw badRequest(
    `fieldValidation: Unsupported value: ${quoted(value)}: supported values: "Ignore", "Strict", "Warn"`,
  );
}

function isDryRun(query: Query, fromBody?: readonly string[]): boolean {
  const values = [...(query.dryRun === undefined ? [] : [query.dryRun]), ...(fromBody ?? [])];
  for (const value of values) {
    if (value !== 'All')
      throw badRequest(`dryRun: Unsupported value: ${quoted(value)}: supported values: "All"`);
  }
  return values.length > 0;
}

/** Applies `fieldValidation` to the fields the decoder dropped: Strict refuses, Warn warns. */
function checkUnknownFields(decoded: DecodedLease, mode: FieldValidation, warnings: string[]): void {
  if (decoded.unknownFields.length === 0 || mode === 'Ignore') return;
  const messages = decoded.unknownFields.map((path) => `unknown field ${quoted(path)}`);
  if (mode === 'Strict') throw badRequest(`strict decoding error: ${messages.join(', ')}`);
  warnings.push(...messages);
}

function generateName(prefix: string): string {
  let suffix = '';
  for (let i = 0; i < 5; i += 1) {
    suffix += GENERATE_NAME_ALPHABET[Math.floor(Math.random() * GENERATE_NAME_ALPHABET.length)];
  }
  return `${prefix}${suffix}`;
}

/** Go's `strconv.ParseUint(s, 10, 64)` error text, or the number. */
function parseUint(value: string): number | string {
  if (!/^\d+$/.test(value)) return `strconv.ParseUint: parsing ${quoted(value)}: invalid syntax`;
  const number = Number(value);
  if (!Number.isSafeInteger(number)) return `strconv.ParseUint: parsing ${quoted(value)}: value out of range`;
  return number;
}

function stripTypeMeta(lease: Lease): Omit<Lease, 'apiVersion' | 'kind'> {
  const { apiVersion: _apiVersion, kind: _kind, ...rest } = lease;
  return rest;
}

/** JSON with object keys sorted, as Go encodes maps. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Deep equality of two JSON values, key order aside (for the storage layer's no-op write check). */
function sameJson(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

const CONTINUE_EXPIRED =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

function encodeContinue(relativeKey: string, revision: number): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: revision, start: relativeKey })).toString(
    'base64url',
  );
}

/** `storage.DecodeContinue`: the start key (relative to the list prefix) and revision (-1: latest). */
function decodeContinue(token: string): { start: string; revision: number } {
  const fail = (reason: string) => badRequest(`invalid continue token: continue key is not valid: ${reason}`);
  if (!/^[A-Za-z0-9_-]*$/.test(token)) throw fail('illegal base64 data');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch (error) {
    throw fail((error as Error).message);
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (record.v !== 'meta.k8s.io/v1') {
    throw fail(`server does not recognize this encoded version ${quoted(String(record.v ?? ''))}`);
  }
  const revision = typeof record.rv === 'number' ? record.rv : 0;
  if (revision === 0) throw fail('incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  const start = typeof record.start === 'string' ? record.start : '';
  if (start === '') throw fail('encoded start key empty (version meta.k8s.io/v1)');
  // Go's path.Clean check: a token may not climb out of the listed prefix.
  const key = start.startsWith('/') ? start : `/${start}`;
  const cleaned = posix.normalize(key).replace(/(.)\/$/, '$1');
  if (cleaned !== key) throw fail(start);
  return { start: key.slice(1), revision };
}

/** The apiserver's 504 for a resourceVersion newer than the store has. */
function tooLargeResourceVersion(asked: number, current: number): ApiStatusError {
  return new ApiStatusError(
    504,
    'Timeout',
    `Timeout: Too large resource version: ${asked}, current: ${current}`,
    {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
      retryAfterSeconds: 1,
    },
  );
}

/** Validated DeleteOptions from the body and the query. */
interface DeleteOptions {
  preconditions: { uid?: string; resourceVersion?: string };
  dryRun: boolean;
}

function parseDeleteOptions(text: string, query: Query): DeleteOptions {
  let body: Record<string, unknown> = {};
  if (text.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw badRequest(
        `the object provided is unrecognized (must be of type DeleteOptions): couldn't get version/kind; json parse error: ${(error as Error).message}`,
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw badRequest('the object provided is unrecognized (must be of type DeleteOptions)');
    }
    body = parsed as Record<string, unknown>;
  }
  const typeError = (field: string, goType: string, value: unknown) =>
    badRequest(
      `json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value === 'boolean' ? 'bool' : typeof value} into Go struct field DeleteOptions.${field} of type ${goType}`,
    );
  if (body.kind !== undefined && body.kind !== 'DeleteOptions') {
    throw badRequest(`${String(body.kind)} in version "v1" cannot be handled as a DeleteOptions`);
  }
  const preconditionsIn = body.preconditions ?? null;
  const preconditions: DeleteOptions['preconditions'] = {};
  if (preconditionsIn !== null) {
    if (typeof preconditionsIn !== 'object' || Array.isArray(preconditionsIn)) {
      throw typeError('preconditions', 'v1.Preconditions', preconditionsIn);
    }
    for (const key of ['uid', 'resourceVersion'] as const) {
      const value = (preconditionsIn as Record<string, unknown>)[key] ?? null;
      if (value === null) continue;
      if (typeof value !== 'string') throw typeError(`preconditions.${key}`, 'string', value);
      preconditions[key] = value;
    }
  }
  const errors: FieldError[] = [];
  const propagation = body.propagationPolicy ?? query.propagationPolicy ?? null;
  if (propagation !== null) {
    if (typeof propagation !== 'string')
      throw typeError('propagationPolicy', 'v1.DeletionPropagation', propagation);
    if (!['Orphan', 'Background', 'Foreground'].includes(propagation)) {
      errors.push({
        type: 'FieldValueNotSupported',
        field: 'propagationPolicy',
        value: quoted(propagation),
        detail: 'supported values: "Foreground", "Background", "Orphan", "nil"',
      });
    }
  }
  const orphan = body.orphanDependents ?? query.orphanDependents ?? null;
  if (orphan !== null && propagation !== null) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'propagationPolicy',
      value: quoted(String(propagation)),
      detail: 'orphanDependents and deletionPropagation cannot be both set',
    });
  }
  const grace = body.gracePeriodSeconds ?? null;
  if (grace !== null && (typeof grace !== 'number' || !Number.isInteger(grace))) {
    throw typeError('gracePeriodSeconds', 'int64', grace);
  }
  if (query.gracePeriodSeconds !== undefined && !/^-?\d+$/.test(query.gracePeriodSeconds)) {
    throw badRequest(`strconv.ParseInt: parsing ${quoted(query.gracePeriodSeconds)}: invalid syntax`);
  }
  const dryRunIn = body.dryRun ?? null;
  if (dryRunIn !== null && (!Array.isArray(dryRunIn) || dryRunIn.some((v) => typeof v !== 'string'))) {
    throw typeError('dryRun', '[]string', dryRunIn);
  }
  if (errors.length > 0) throw invalid({ group: META_GROUP, kind: 'DeleteOptions' }, '', errors);
  return { preconditions, dryRun: isDryRun(query, (dryRunIn as string[] | null) ?? undefined) };
}

/**
 * The Lease resource over a LeaseStore: create, get, list, update (PUT), patch, delete and
 * deletecollection, with the apiserver's answers.
 */
export class LeaseHandlers {
  constructor(
    readonly store: LeaseStore,
    private readonly clock: () => number = Date.now,
  ) {}

  get(namespace: string, name: string): HandlerResult {
    const lease = this.store.get(namespace, name);
    if (lease === undefined) throw leaseNotFound(name);
    return { code: 200, body: lease, warnings: [] };
  }

  list(namespace: string | undefined, query: Query): HandlerResult {
    let labels: ReturnType<typeof parseLabelSelector>;
    let fields: ReturnType<typeof parseFieldSelector>;
    try {
      labels = parseLabelSelector(query.labelSelector ?? '');
      fields = parseFieldSelector(query.fieldSelector ?? '');
    } catch (error) {
      if (error instanceof SelectorSyntaxError) throw badRequest(error.message);
      throw error;
    }
    let limit = 0;
    if (query.limit !== undefined && query.limit !== '') {
      if (!/^-?\d+$/.test(query.limit))
        throw badRequest(`strconv.ParseInt: parsing ${quoted(query.limit)}: invalid syntax`);
      limit = Math.max(0, Number(query.limit));
    }
    const resourceVersion = query.resourceVersion ?? '';
    const match = query.resourceVersionMatch ?? '';
    const continueToken = query.continue ?? '';
    const optionErrors: FieldError[] = [];
    if (match !== '') {
      if (resourceVersion === '') {
        optionErrors.push({
          type: 'FieldValueForbidden',
          field: 'resourceVersionMatch',
          detail: 'resourceVersionMatch is forbidden unless resourceVersion is provided',
        });
      }
      if (continueToken !== '') {
        optionErrors.push({
          type: 'FieldValueForbidden',
          field: 'resourceVersionMatch',
          detail: 'resourceVersionMatch is forbidden when continue is provided',
        });
      }
      if (match !== 'Exact' && match !== 'NotOlderThan') {
        optionErrors.push({
          type: 'FieldValueNotSupported',
          field: 'resourceVersionMatch',
          value: quoted(match),
          detail: 'supported values: "Exact", "NotOlderThan", ""',
        });
      }
      if (match === 'Exact' && resourceVersion === '0') {
        optionErrors.push({
          type: 'FieldValueForbidden',
          field: 'resourceVersionMatch',
          detail: 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        });
      }
    }
    if (optionErrors.length > 0) throw invalid({ group: META_GROUP, kind: 'ListOptions' }, '', optionErrors);

    const current = this.store.revision;
    let revision = current;
    let startKey: string | undefined;
    const prefix = namespace === undefined ? '' : `${namespace}/`;
    if (continueToken !== '') {
      if (resourceVersion !== '' && resourceVersion !== '0') {
        throw badRequest('specifying resource version is not allowed when using continue');
      }
      const decoded = decodeContinue(continueToken);
      startKey = prefix + decoded.start;
      if (decoded.revision > 0) revision = decoded.revision;
    } else if (resourceVersion !== '' && resourceVersion !== '0') {
      const asked = parseUint(resourceVersion);
      if (typeof asked === 'string')
        throw badRequest(`resourceVersion: Invalid value: ${quoted(resourceVersion)}: ${asked}`);
      if (asked > current) throw tooLargeResourceVersion(asked, current);
      if (match === 'Exact') revision = asked;
    }

    let entries: { key: string; lease: Lease }[];
    try {
      entries = this.store.list({ namespace, revision, startKey });
    } catch (error) {
      if (!(error instanceof RevisionCompactedError)) throw error;
      if (continueToken === '') {
        throw new ApiStatusError(410, 'Expired', 'The resourceVersion for the provided list is too old.');
      }
      const expired = new ApiStatusError(410, 'Expired', CONTINUE_EXPIRED);
      // The apiserver hands back a token that continues from the same key at the newest revision.
      expired.status.metadata.continue = encodeContinue((startKey ?? '').slice(prefix.length), -1);
      throw expired;
    }
    const selected = entries.filter(
      ({ lease }) =>
        matchesLabels(labels, lease.metadata.labels ?? {}) &&
        matchesFields(fields, {
          'metadata.name': lease.metadata.name ?? '',
          'metadata.namespace': lease.metadata.namespace ?? '',
        }),
    );
    const metadata: LeaseList['metadata'] = { resourceVersion: String(revision) };
    let page = selected;
    if (limit > 0 && selected.length > limit) {
      page = selected.slice(0, limit);
      const last = page[page.length - 1];
      metadata.continue = encodeContinue(`${(last?.key ?? '').slice(prefix.length)}\u0000`, revision);
      // Like etcd3's store, the remaining count is only known when nothing is filtered out.
      if (labels.length === 0 && fields.length === 0) metadata.remainingItemCount = selected.length - limit;
    }
    const list: LeaseList = {
      kind: 'LeaseList',
      apiVersion: LEASE_API_VERSION,
      metadata,
      items: page.map(({ lease }) => stripTypeMeta(lease)),
    };
    return { code: 200, body: list, warnings: [] };
  }

  create(namespace: string, text: string, query: Query): HandlerResult {
    const warnings: string[] = [];
    const mode = fieldValidationOf(query);
    const dryRun = isDryRun(query);
    const decoded = decodeLeaseBody(text);
    checkUnknownFields(decoded, mode, warnings);
    const lease = decoded.lease;
    this.#ensureNamespace(lease, namespace);
    if (!this.store.hasNamespace(namespace)) throw namespaceNotFound(namespace);
    this.#fillSystemFields(lease);
    const errors = validateLease(lease);
    if (errors.length > 0) throw invalidLease(lease.metadata.name ?? '', errors);
    if (lease.metadata.resourceVersion !== undefined) {
      throw new ApiStatusError(500, '', 'resourceVersion should not be set on objects to be created');
    }
    const name = lease.metadata.name ?? '';
    if (this.store.get(namespace, name) !== undefined) throw leaseAlreadyExists(name);
    const stored = dryRun ? lease : this.store.put(lease);
    return { code: 201, body: stored, warnings };
  }

  update(namespace: string, name: string, text: string, query: Query): HandlerResult {
    const warnings: string[] = [];
    const mode = fieldValidationOf(query);
    const dryRun = isDryRun(query);
    const decoded = decodeLeaseBody(text);
    checkUnknownFields(decoded, mode, warnings);
    return this.#replace(namespace, name, decoded.lease, { dryRun, warnings, allowCreate: true });
  }

  /** PATCH: the patch applied to the stored object, then the same path as an update. */
  patch(namespace: string, name: string, text: string, contentType: string, query: Query): HandlerResult {
    const warnings: string[] = [];
    const mode = fieldValidationOf(query);
    const dryRun = isDryRun(query);
    const existing = this.store.get(namespace, name);
    if (existing === undefined) throw leaseNotFound(name);
    let patch: unknown;
    try {
      patch = JSON.parse(text);
    } catch (error) {
      throw badRequest(`error decoding patch: ${(error as Error).message}`);
    }
    let patched: unknown;
    if (contentType === 'application/json-patch+json') {
      patched = applyJsonPatch(existing, patch);
    } else {
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
        throw badRequest(
          'error decoding patch: json: cannot unmarshal into Go value of type map[string]interface {}',
        );
      }
      patched =
        contentType === 'application/strategic-merge-patch+json'
          ? strategicMerge(existing, patch as Record<string, unknown>)
          : mergePatch(existing, patch);
    }
    const decoded = decodeLeaseBody(JSON.stringify(patched));
    checkUnknownFields(decoded, mode, warnings);
    return this.#replace(namespace, name, decoded.lease, { dryRun, warnings, allowCreate: false });
  }

  delete(namespace: string, name: string, text: string, query: Query): HandlerResult {
    const options = parseDeleteOptions(text, query);
    const existing = this.store.get(namespace, name);
    if (existing === undefined) throw leaseNotFound(name);
    const uid = existing.metadata.uid ?? '';
    const resourceVersion = existing.metadata.resourceVersion ?? '';
    // rest.BeforeDelete checks preconditions first and names the kind, not the resource.
    const kindResource = { group: LEASE_GROUP, resource: LEASE_KIND };
    if (options.preconditions.uid !== undefined && options.preconditions.uid !== uid) {
      throw conflict(
        name,
        `the UID in the precondition (${options.preconditions.uid}) does not match the UID in record (${uid}). The object might have been deleted and then recreated`,
        kindResource,
      );
    }
    if (
      options.preconditions.resourceVersion !== undefined &&
      options.preconditions.resourceVersion !== resourceVersion
    ) {
      throw conflict(
        name,
        `the ResourceVersion in the precondition (${options.preconditions.resourceVersion}) does not match the ResourceVersion in record (${resourceVersion}). The object might have been modified`,
        kindResource,
      );
    }
    return { code: 200, body: this.#deleteOne(existing, options.dryRun), warnings: [] };
  }

  deleteCollection(namespace: string, text: string, query: Query): HandlerResult {
    const options = parseDeleteOptions(text, query);
    const listed = this.list(namespace, query).body as LeaseList;
    for (const item of listed.items) {
      const current = this.store.get(namespace, item.metadata.name ?? '');
      if (current !== undefined) this.#deleteOne(current, options.dryRun);
    }
    return { code: 200, body: listed, warnings: [] };
  }

  /** Deletes now, or marks for deletion when finalizers hold the lease (answering the object then). */
  #deleteOne(existing: Lease, dryRun: boolean): StatusBody | Lease {
    const namespace = existing.metadata.namespace ?? '';
    const name = existing.metadata.name ?? '';
    if ((existing.metadata.finalizers ?? []).length > 0) {
      const marked = structuredClone(existing);
      marked.metadata.deletionTimestamp ??= nowRfc3339(this.clock());
      marked.metadata.deletionGracePeriodSeconds = 0;
      const next = canonicalLease(marked);
      if (dryRun || this.#sameExceptVersion(next, existing)) return existing;
      return this.store.put(next);
    }
    if (!dryRun) this.store.delete(namespace, name);
    return deleteSuccess(name, existing.metadata.uid ?? '');
  }

  #sameExceptVersion(a: Lease, b: Lease): boolean {
    const strip = (lease: Lease) => ({
      ...lease,
      metadata: { ...lease.metadata, resourceVersion: undefined },
    });
    return sameJson(strip(a), strip(b));
  }

  #ensureNamespace(lease: Lease, namespace: string): void {
    const own = lease.metadata.namespace;
    if (own !== undefined && own !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    lease.metadata.namespace = namespace;
  }

  /** `rest.FillObjectMetaSystemFields` and name generation, as a create does. */
  #fillSystemFields(lease: Lease): void {
    const meta = lease.metadata;
    meta.uid = randomUUID();
    meta.creationTimestamp = nowRfc3339(this.clock());
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if ((meta.name ?? '') === '' && (meta.generateName ?? '') !== '') {
      let name = generateName(meta.generateName ?? '');
      while (this.store.get(meta.namespace ?? '', name) !== undefined)
        name = generateName(meta.generateName ?? '');
      meta.name = name;
    }
    Object.assign(lease, canonicalLease(lease));
  }

  /** The registry store's Update: UID precondition, create-on-update, resourceVersion check, validation, no-op skip. */
  #replace(
    namespace: string,
    name: string,
    lease: Lease,
    options: { dryRun: boolean; warnings: string[]; allowCreate: boolean },
  ): HandlerResult {
    const bodyName = lease.metadata.name ?? '';
    if (bodyName !== name) {
      throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    }
    this.#ensureNamespace(lease, namespace);
    const existing = this.store.get(namespace, name);
    const bodyUid = lease.metadata.uid;
    // A uid in the body is a storage precondition, checked before anything else (also against nothing).
    if (bodyUid !== undefined && bodyUid !== (existing?.metadata.uid ?? '')) {
      throw conflict(
        name,
        storagePreconditionMessage(
          namespace,
          name,
          `Precondition failed: UID in precondition: ${bodyUid}, UID in object meta: ${existing?.metadata.uid ?? ''}`,
        ),
      );
    }
    if (existing === undefined) {
      if (!options.allowCreate) throw leaseNotFound(name);
      if (!this.store.hasNamespace(namespace)) throw namespaceNotFound(namespace);
      this.#fillSystemFields(lease);
      // The storage layer clears a sent resourceVersion on this path instead of refusing it.
      delete lease.metadata.resourceVersion;
      const errors = validateLease(lease);
      if (errors.length > 0) throw invalidLease(name, errors);
      const stored = options.dryRun ? lease : this.store.put(lease);
      return { code: 201, body: stored, warnings: options.warnings };
    }
    const sent = lease.metadata.resourceVersion ?? '';
    if (sent === '') {
      throw invalid({ group: LEASE_GROUP, kind: LEASE_RESOURCE }, name, [
        {
          type: 'FieldValueInvalid',
          field: 'metadata.resourceVersion',
          value: '0x0',
          detail: 'must be specified for an update',
        },
      ]);
    }
    const sentNumber = parseUint(sent);
    if (typeof sentNumber === 'string') throw new ApiStatusError(500, '', sentNumber);
    if (sent !== existing.metadata.resourceVersion) throw conflict(name, OPTIMISTIC_LOCK_MESSAGE);

    // rest.BeforeUpdate: system fields come from the stored object.
    const meta = lease.metadata;
    const old = existing.metadata;
    meta.uid ??= old.uid;
    if (old.creationTimestamp !== undefined) meta.creationTimestamp = old.creationTimestamp;
    if (old.generation === undefined) delete meta.generation;
    else meta.generation = old.generation;
    // An update can never remove or change a deletion timestamp, nor remove the grace period.
    if (old.deletionTimestamp !== undefined) meta.deletionTimestamp = old.deletionTimestamp;
    if (old.deletionGracePeriodSeconds !== undefined && meta.deletionGracePeriodSeconds === undefined) {
      meta.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds;
    }
    const next = canonicalLease(lease);
    const errors = validateLeaseUpdate(next, existing);
    if (errors.length > 0) throw invalidLease(name, errors);
    // An update that empties the finalizers of a lease marked for deletion deletes it.
    if (next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0) {
      if (!options.dryRun) this.store.delete(namespace, name);
      return { code: 200, body: next, warnings: options.warnings };
    }
    // etcd3's GuaranteedUpdate skips the write when the bytes would not change: no new resourceVersion.
    if (options.dryRun || this.#sameExceptVersion(next, existing)) {
      return { code: 200, body: options.dryRun ? { ...next } : existing, warnings: options.warnings };
    }
    return { code: 200, body: this.store.put(next), warnings: options.warnings };
  }
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return structuredClone(patch);
  const base: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? structuredClone(target as Record<string, unknown>)
      : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value);
  }
  return base;
}

/**
 * Strategic merge patch for a Lease: a merge patch, except that ObjectMeta's `finalizers` merge as a
 * set and `ownerReferences` merge by `uid` (their patch strategies in the Go types).
 */
function strategicMerge(existing: Lease, patch: Record<string, unknown>): unknown {
  const metaPatch = patch.metadata;
  if (typeof metaPatch !== 'object' || metaPatch === null || Array.isArray(metaPatch))
    return mergePatch(existing, patch);
  const { finalizers, ownerReferences, ...restMeta } = metaPatch as Record<string, unknown>;
  const merged = mergePatch(existing, { ...patch, metadata: restMeta }) as Lease;
  if (Array.isArray(finalizers)) {
    const set = new Set([
      ...(existing.metadata.finalizers ?? []),
      ...finalizers.filter((f): f is string => typeof f === 'string'),
    ]);
    merged.metadata.finalizers = [...set];
  } else if (finalizers === null) {
    delete merged.metadata.finalizers;
  }
  if (Array.isArray(ownerReferences)) {
    const byUid = new Map((existing.metadata.ownerReferences ?? []).map((r) => [r.uid, r as unknown]));
    for (const reference of ownerReferences) {
      const uid = (reference as { uid?: unknown }).uid;
      if (typeof uid === 'string') byUid.set(uid, mergePatch(byUid.get(uid), reference));
    }
    merged.metadata.ownerReferences = [...byUid.values()] as Lease['metadata']['ownerReferences'];
  } else if (ownerReferences === null) {
    delete merged.metadata.ownerReferences;
  }
  return merged;
}

/** RFC 6902 JSON patch (add, remove, replace, move, copy, test). */
function applyJsonPatch(target: Lease, patch: unknown): unknown {
  if (!Array.isArray(patch))
    throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let document: unknown = structuredClone(target);
  const parsePointer = (pointer: unknown): string[] => {
    if (typeof pointer !== 'string' || (pointer !== '' && !pointer.startsWith('/'))) {
      throw unprocessable(`JSON Pointer ${quoted(String(pointer))} is invalid`);
    }
    return pointer === ''
      ? []
      : pointer
          .slice(1)
          .split('/')
          .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
  };
  const parentOf = (path: string[]): { container: unknown; key: string } => {
    let node: unknown = document;
    for (const token of path.slice(0, -1)) {
      node = Array.isArray(node)
        ? node[Number(token)]
        : (node as Record<string, unknown> | undefined)?.[token];
      if (typeof node !== 'object' || node === null)
        throw unprocessable(`doc is missing path: ${quoted(`/${path.join('/')}`)}`);
    }
    return { container: node, key: path[path.length - 1] ?? '' };
  };
  const read = (path: string[]): unknown => {
    if (path.length === 0) return document;
    const { container, key } = parentOf(path);
    const value = Array.isArray(container)
      ? container[Number(key)]
      : (container as Record<string, unknown>)[key];
    if (value === undefined) throw unprocessable(`doc is missing path: ${quoted(`/${path.join('/')}`)}`);
    return value;
  };
  const remove = (path: string[]): unknown => {
    const value = read(path);
    const { container, key } = parentOf(path);
    if (Array.isArray(container)) container.splice(Number(key), 1);
    else delete (container as Record<string, unknown>)[key];
    return value;
  };
  const add = (path: string[], value: unknown): void => {
    if (path.length === 0) {
      document = value;
      return;
    }
    const { container, key } = parentOf(path);
    if (Array.isArray(container)) {
      const index = key === '-' ? container.length : Number(key);
      if (!Number.isInteger(index) || index < 0 || index > container.length) {
        throw unprocessable(
          `add operation does not apply: doc is missing path: ${quoted(`/${path.join('/')}`)}`,
        );
      }
      container.splice(index, 0, value);
    } else {
      (container as Record<string, unknown>)[key] = value;
    }
  };
  for (const operation of patch) {
    const op = (operation ?? {}) as Record<string, unknown>;
    const path = parsePointer(op.path);
    switch (op.op) {
      case 'add':
        add(path, structuredClone(op.value));
        break;
      case 'remove':
        remove(path);
        break;
      case 'replace':
        remove(path);
        add(path, structuredClone(op.value));
        break;
      case 'move':
        add(path, remove(parsePointer(op.from)));
        break;
      case 'copy':
        add(path, structuredClone(read(parsePointer(op.from))));
        break;
      case 'test':
        if (!sameJson(read(path), op.value))
          throw unprocessable(`testing value ${quoted(`/${path.join('/')}`)} failed: test failed`);
        break;
      default:
        throw badRequest(`Unexpected kind: ${String(op.op)}`);
    }
  }
  return document;
}

function unprocessable(message: string): ApiStatusError {
  return new ApiStatusError(
    422,
    'Invalid',
    `the server rejected our request due to an error in our request`,
    {
      causes: [{ reason: 'FieldValueInvalid', message }],
    },
  );
}
