import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ErrorCode, HacpError } from '@hacp/core';

/** One thing wrong with a request body, named by its path the way GCE's errors name it. */
export interface BodyProblem {
  /** `resource.networkInterfaces[0].accessConfigs[0].natIP` */
  field: string;
  message: string;
}

/** A field as protobufjs's JSON descriptor writes it. */
interface FieldDescriptor {
  type: string;
  rule?: 'repeated';
  /** Set on map<> fields. */
  keyType?: string;
}

interface EnumDescriptor {
  values: Record<string, number>;
}

interface MessageDescriptor {
  fields: Record<string, FieldDescriptor>;
  nested?: Record<string, EnumDescriptor | object>;
}

type Namespace = Record<string, object>;

const PACKAGE = 'google.cloud.compute.v1';

/**
 * The legacy `httpHealthChecks` resource, which target pools require. @google-cloud/compute 6.x
 * no longer ships it (no `HttpHealthCheck` message, no `HttpHealthChecksClient`), though the REST
 * API still serves it; its fields come from the Compute v1 REST reference.
 */
const LEGACY_MESSAGES: Readonly<Record<string, MessageDescriptor>> = {
  HttpHealthCheck: {
    fields: {
      checkIntervalSec: { type: 'int32' },
      creationTimestamp: { type: 'string' },
      description: { type: 'string' },
      healthyThreshold: { type: 'int32' },
      host: { type: 'string' },
      id: { type: 'uint64' },
      kind: { type: 'string' },
      name: { type: 'string' },
      port: { type: 'int32' },
      requestPath: { type: 'string' },
      selfLink: { type: 'string' },
      timeoutSec: { type: 'int32' },
      unhealthyThreshold: { type: 'int32' },
    },
  },
};

let namespace: Namespace | undefined;

/**
 * The `google.cloud.compute.v1` namespace of the client's protos.json, read on first use. Only that
 * namespace is kept: the rest of the 11 MB descriptor becomes garbage once this returns.
 */
function computeNamespace(): Namespace {
  if (namespace !== undefined) return namespace;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@google-cloud/compute/build/protos/protos.json');
  let node: { nested?: Namespace } = JSON.parse(readFileSync(file, 'utf8'));
  for (const part of PACKAGE.split('.')) {
    const next = node.nested?.[part] as { nested?: Namespace } | undefined;
    if (next === undefined) {
      throw new HacpError({
        code: ErrorCode.INTERNAL,
        message: `${file} has no package ${PACKAGE}.`,
        details: { file },
      });
    }
    node = next;
  }
  namespace = { ...LEGACY_MESSAGES, ...node.nested };
  return namespace;
}

function isMessage(value: object | undefined): value is MessageDescriptor {
  return value !== undefined && 'fields' in value;
}

function messageNamed(name: string): MessageDescriptor | undefined {
  const short = name.startsWith(`${PACKAGE}.`) ? name.slice(PACKAGE.length + 1) : name;
  const found = computeNamespace()[short];
  return isMessage(found) ? found : undefined;
}

/**
 * The enum a string field takes its values from. The Compute protos declare enum-valued fields as
 * `string` ("Check the NetworkTier enum for the list of possible values") with the enum nested in
 * the same message and named after the field; one enum clashes with a field name and carries an
 * `Enum` suffix (`ForwardingRule.IPProtocolEnum`).
 */
function enumOf(message: MessageDescriptor, fieldName: string): ReadonlySet<string> | undefined {
  const pascal = fieldName.charAt(0).toUpperCase() + fieldName.slice(1);
  for (const name of [pascal, `${pascal}Enum`]) {
    const nested = message.nested?.[name];
    if (nested !== undefined && 'values' in nested) {
      // UNDEFINED_* is the proto3 zero value the generator adds; the API itself has no such value.
      return new Set(
        Object.keys((nested as EnumDescriptor).values).filter((v) => !v.startsWith('UNDEFINED_')),
      );
    }
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const INT_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
};
const SIGNED_64 = new Set(['int64', 'sint64', 'sfixed64']);
const UNSIGNED_64 = new Set(['uint64', 'fixed64']);

/** The problem with `value` as a scalar of proto type `type`, or undefined when it fits. */
function scalarProblem(type: string, value: unknown): string | undefined {
  const range = INT_RANGES[type];
  if (range !== undefined) {
    if (typeof value !== 'number' || !Number.isInteger(value))
      return `expected an integer, got ${describe(value)}`;
    if (value < range[0] || value > range[1]) return `${value} is out of range for ${type}`;
    return undefined;
  }
  if (SIGNED_64.has(type) || UNSIGNED_64.has(type)) {
    // Proto3 JSON writes 64-bit integers as decimal strings (the client does); numbers are accepted too.
    const pattern = UNSIGNED_64.has(type) ? /^\d+$/ : /^-?\d+$/;
    const ok =
      (typeof value === 'string' && pattern.test(value)) ||
      (typeof value === 'number' && Number.isSafeInteger(value) && (SIGNED_64.has(type) || value >= 0));
    return ok ? undefined : `expected a ${type} as a decimal string or integer, got ${describe(value)}`;
  }
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : `expected a string, got ${describe(value)}`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `expected a boolean, got ${describe(value)}`;
    case 'float':
    case 'double':
      return typeof value === 'number' && Number.isFinite(value)
        ? undefined
        : `expected a number, got ${describe(value)}`;
    case 'bytes':
      return typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)
        ? undefined
        : `expected base64 bytes, got ${describe(value)}`;
    default:
      return undefined;
  }
}

const SCALARS = new Set([
  'string',
  'bool',
  'float',
  'double',
  'bytes',
  ...Object.keys(INT_RANGES),
  ...SIGNED_64,
  ...UNSIGNED_64,
]);

/** Checks one value (not a list, not a map) of a field's type, appending to `problems`. */
function checkValue(options: {
  type: string;
  value: unknown;
  path: string;
  allowed: ReadonlySet<string> | undefined;
  problems: BodyProblem[];
}): void {
  const { type, value, path, allowed, problems } = options;
  if (SCALARS.has(type)) {
    const problem = scalarProblem(type, value);
    if (problem !== undefined) problems.push({ field: path, message: problem });
    else if (allowed !== undefined && !allowed.has(value as string)) {
      problems.push({
        field: path,
        message: `invalid value ${JSON.stringify(value)}; expected one of ${[...allowed].join(', ')}`,
      });
    }
    return;
  }
  if (type === 'google.protobuf.Any') {
    if (!isPlainObject(value) || typeof value['@type'] !== 'string') {
      problems.push({ field: path, message: `expected an object with "@type", got ${describe(value)}` });
    }
    return;
  }
  const message = messageNamed(type);
  if (message === undefined) {
    throw new HacpError({
      code: ErrorCode.INTERNAL,
      message: `Field ${path} has type ${type}, which is not a message of ${PACKAGE}.`,
      details: { field: path, type },
    });
  }
  checkMessage(message, value, path, problems);
}

function checkMessage(
  message: MessageDescriptor,
  body: unknown,
  path: string,
  problems: BodyProblem[],
): void {
  if (!isPlainObject(body)) {
    problems.push({ field: path, message: `expected an object, got ${describe(body)}` });
    return;
  }
  for (const [name, value] of Object.entries(body)) {
    const field = Object.hasOwn(message.fields, name) ? message.fields[name] : undefined;
    const fieldPath = `${path}.${name}`;
    if (field === undefined) {
      problems.push({ field: fieldPath, message: 'unknown field' });
      continue;
    }
    // Proto3 JSON reads null as "not set".
    if (value === null) continue;
    const allowed = field.type === 'string' ? enumOf(message, name) : undefined;
    if (field.keyType !== undefined) {
      if (!isPlainObject(value)) {
        problems.push({ field: fieldPath, message: `expected an object (a map), got ${describe(value)}` });
        continue;
      }
      for (const [key, entry] of Object.entries(value)) {
        checkValue({ type: field.type, value: entry, path: `${fieldPath}.${key}`, allowed, problems });
      }
    } else if (field.rule === 'repeated') {
      if (!Array.isArray(value)) {
        problems.push({ field: fieldPath, message: `expected an array, got ${describe(value)}` });
        continue;
      }
      value.forEach((item, index) => {
        checkValue({ type: field.type, value: item, path: `${fieldPath}[${index}]`, allowed, problems });
      });
    } else {
      checkValue({ type: field.type, value, path: fieldPath, allowed, problems });
    }
  }
}

/**
 * Problems with `body` as a `typeName`, a message of package google.cloud.compute.v1 as the
 * client library's protos.json describes it (plus the legacy `HttpHealthCheck`, which the client no
 * longer ships). Checks field names (their JSON names: `natIP`, `IPAddress`), JSON types, enum
 * values and nested messages; not required-ness. Paths start with `resource.`, as GCE's errors do.
 * The first call reads the descriptor (75-90 ms on a 2-core machine); later calls take microseconds.
 *
 * @returns the problems; empty when the body is valid.
 * @throws HacpError INTERNAL when `typeName` is not a message of the package (a bug in the caller).
 * @example
 * validateBody('AccessConfig', { name: 'External NAT', natIp: '34.1.2.3' });
 * // [{ field: 'resource.natIp', message: 'unknown field' }]
 */
export function validateBody(typeName: string, body: unknown): BodyProblem[] {
  const message = messageNamed(typeName);
  if (message === undefined) {
    throw new HacpError({
      code: ErrorCode.INTERNAL,
      message: `${typeName} is not a message of ${PACKAGE}.`,
      details: { typeName },
    });
  }
  const problems: BodyProblem[] = [];
  checkMessage(message, body, 'resource', problems);
  return problems;
}
