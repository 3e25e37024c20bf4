import { conditionNotMet, fieldTooLarge, invalidField, notFound, requiredField } from './errors.js';
import { compileFilter, FilterSyntaxError } from './filter.js';
import { link, NAME_PATTERN, type ReferenceContext, resourcePath } from './links.js';
import {
  type Json,
  type MetadataJson,
  newFingerprint,
  type ProjectState,
  type ServerContext,
} from './model.js';
import type { OperationRunner } from './operations.js';

/** One call to a method: the project, the path parameters, the query and the parsed body. */
export interface Call {
  readonly server: ServerContext;
  readonly operations: OperationRunner;
  readonly project: ProjectState;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** GCE's metadata limits: 256 KiB per value, 512 KiB in all, keys `[a-zA-Z0-9-_]{1,128}`. */
export const METADATA_VALUE_LIMIT = 256 * 1024;
export const METADATA_TOTAL_LIMIT = 512 * 1024;
const METADATA_KEY = /^[a-zA-Z0-9-_]{1,128}$/;
const LABEL_KEY = /^[a-z][-_a-z0-9]{0,62}$/;
const LABEL_VALUE = /^[-_a-z0-9]{0,63}$/;

/** The body as an object (`{}` for none), for the handlers; the schema check has vetted its fields. */
export function bodyObject(call: Call): Json {
  const body = call.body;
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Json) : {};
}

/** Where the call reads references: its project, and this server's own URL roots besides GCE's. */
export function referenceContext(call: Call): ReferenceContext {
  return { project: call.project.name, ownRoots: call.server.ownRoots };
}

/** A string field of the body, or undefined. */
export function stringField(body: Json, field: string): string | undefined {
  const value = body[field];
  return typeof value === 'string' ? value : undefined;
}

/** The `name` of an inserted resource: required and a RFC 1035 label, with GCE's messages. */
export function assertName(name: unknown, field = 'resource.name'): string {
  if (name === undefined || name === '') throw requiredField(field);
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw invalidField(field, name, "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'");
  }
  return name;
}

/** The zone in the path: 404 (GCE's) for one the server does not offer. */
export function zoneParam(call: Call): string {
  const zone = call.params.zone ?? '';
  if (!call.server.zones.includes(zone)) throw notFound(resourcePath(call.project.name, `zones/${zone}`));
  return zone;
}

/** The region in the path: 404 for one none of the zones is in. */
export function regionParam(call: Call): string {
  const region = call.params.region ?? '';
  if (!call.server.regions.includes(region))
    throw notFound(resourcePath(call.project.name, `regions/${region}`));
  return region;
}

/** A resource that must exist (and not be on its way out): 404 otherwise. */
export function existing(call: Call, path: string): Json {
  const resource = call.project.resources.get(path);
  if (resource === undefined) throw notFound(resourcePath(call.project.name, path));
  return resource;
}

/** Labels as GCE checks them: at most 64, keys and values lowercase with `-` and `_`. */
export function checkedLabels(value: unknown, field = 'resource.labels'): Record<string, string> {
  if (value === undefined) return {};
  const labels = value as Record<string, string>;
  const entries = Object.entries(labels);
  if (entries.length > 64) throw invalidField(field, '', 'Too many labels: at most 64 labels are allowed.');
  for (const [key, label] of entries) {
    if (!LABEL_KEY.test(key)) {
      throw invalidField(
        field,
        '',
        `Label key '${key}' violates format constraints. The key must start with a lowercase character, can only contain lowercase letters, numeric characters, underscores and dashes. The key can be at most 63 characters long. International characters are allowed.`,
      );
    }
    if (typeof label !== 'string' || !LABEL_VALUE.test(label)) {
      throw invalidField(
        field,
        '',
        `Label value '${String(label)}' violates format constraints. The value can only contain lowercase letters, numeric characters, underscores and dashes. The value can be at most 63 characters long. International characters are allowed.`,
      );
    }
  }
  return { ...labels };
}

/**
 * Metadata items as GCE checks them: keys `[a-zA-Z0-9-_]{1,128}` and unique, a value at most 256 KiB,
 * all values together at most 512 KiB (413 with GCE's "is too large" message for either limit).
 */
export function checkedMetadataItems(value: unknown, field: string): { key: string; value: string }[] {
  if (value === undefined) return [];
  const items = value as { key?: string; value?: string }[];
  const seen = new Set<string>();
  let total = 0;
  const result: { key: string; value: string }[] = [];
  items.forEach((item, index) => {
    const key = item.key ?? '';
    if (!METADATA_KEY.test(key)) {
      throw invalidField(`${field}[${index}].key`, key, "Must be a match of regex '[a-zA-Z0-9-_]{1,128}'");
    }
    if (seen.has(key)) {
      throw invalidField(`${field}[${index}].key`, key, 'Duplicate keys are not allowed.');
    }
    seen.add(key);
    const text = item.value ?? '';
    if (text.length > METADATA_VALUE_LIMIT) {
      throw fieldTooLarge(`${field}[${index}].value`, METADATA_VALUE_LIMIT, text.length);
    }
    total += key.length + text.length;
    result.push({ key, value: text });
  });
  if (total > METADATA_TOTAL_LIMIT) throw fieldTooLarge(field, METADATA_TOTAL_LIMIT, total);
  return result;
}

/** `{ kind, fingerprint, items? }` with `items` left out when empty, as GCE returns metadata. */
export function metadataJson(items: { key: string; value: string }[], fingerprint: string): MetadataJson {
  return items.length === 0
    ? { kind: 'compute#metadata', fingerprint }
    : { kind: 'compute#metadata', fingerprint, items: items.map((item) => ({ ...item })) };
}

/** The fingerprint check of every set-with-fingerprint call: missing or stale is 412 conditionNotMet. */
export function assertFingerprint(supplied: unknown, current: string, message: string): void {
  if (typeof supplied !== 'string' || supplied === '' || supplied !== current) throw conditionNotMet(message);
}

/** The message of a stale metadata fingerprint (project and instance). */
export const METADATA_FINGERPRINT_MESSAGE =
  'Supplied fingerprint does not match current metadata fingerprint.';
/** The message of a stale label fingerprint. */
export const LABEL_FINGERPRINT_MESSAGE = 'Labels fingerprint either invalid or resource labels have changed';

/**
 * A list response: `filter` applied, sorted by name, paged by `maxResults` (default and maximum 500)
 * and `pageToken`; `{ kind, id, items?, nextPageToken?, selfLink }`.
 */
export function listResponse(call: Call, options: { kind: string; collection: string; items: Json[] }): Json {
  const page = pageOf(call, options.items);
  return {
    kind: options.kind,
    id: resourcePath(call.project.name, options.collection),
    ...(page.items.length === 0 ? {} : { items: page.items }),
    ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }),
    selfLink: link(call.project.name, options.collection),
  };
}

/** Filters and pages `items` by the call's `filter`, `maxResults` and `pageToken`. */
export function pageOf(call: Call, items: Json[]): { items: Json[]; nextPageToken: string | undefined } {
  const filtered = items.filter(filterOf(call));
  const maxText = call.query.maxResults;
  const max = maxText === undefined ? 500 : Number(maxText);
  if (!Number.isInteger(max) || max < 0 || max > 500) {
    throw invalidField('maxResults', maxText, 'Must be an integer between 0 and 500.');
  }
  const limit = max === 0 ? 500 : max;
  let offset = 0;
  const token = call.query.pageToken;
  if (token !== undefined && token !== '') {
    const parsed = Number(
      Buffer.from(token, 'base64url')
        .toString('utf8')
        .replace(/^offset:/, ''),
    );
    if (!Number.isInteger(parsed) || parsed < 0)
      throw invalidField('pageToken', token, 'Invalid page token.');
    offset = parsed;
  }
  const pageItems = filtered.slice(offset, offset + limit);
  const next = offset + limit;
  return {
    items: pageItems,
    nextPageToken:
      next < filtered.length ? Buffer.from(`offset:${next}`, 'utf8').toString('base64url') : undefined,
  };
}

/** The predicate of the call's `filter` (400 `Invalid list filter expression.` when it does not parse). */
export function filterOf(call: Call): (resource: unknown) => boolean {
  const filter = call.query.filter ?? '';
  try {
    return compileFilter(filter);
  } catch (error) {
    if (error instanceof FilterSyntaxError) {
      throw invalidField('filter', filter, 'Invalid list filter expression.');
    }
    throw error;
  }
}

/**
 * A compare-and-swap on a resource's fingerprint (`key` names resource and kind, e.g.
 * `zones/z/instances/n#metadata`): the supplied fingerprint must equal the newest accepted one (the
 * current one when nothing is in flight). Returns the new fingerprint and `settle`, for the mutation.
 */
export function acceptFingerprint(
  project: ProjectState,
  options: { key: string; current: string; supplied: unknown; message: string },
): { fingerprint: string; settle(applied: boolean): void } {
  const accepted = project.acceptedFingerprints.get(options.key) ?? options.current;
  assertFingerprint(options.supplied, accepted, options.message);
  const fingerprint = newFingerprint();
  project.acceptedFingerprints.set(options.key, fingerprint);
  return {
    fingerprint,
    settle() {
      // Applied: the resource now carries it; not applied: the current one stands again. Either way the
      // in-flight entry is done, unless a later write was accepted on top of this one.
      if (project.acceptedFingerprints.get(options.key) === fingerprint)
        project.acceptedFingerprints.delete(options.key);
    },
  };
}
