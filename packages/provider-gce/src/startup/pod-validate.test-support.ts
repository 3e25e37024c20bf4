/**
 * Checks a manifest against the Pod API types of @kubernetes/client-node: every field must exist in
 * its model class (`getAttributeTypeMap()`), with the JSON type the model says, recursively; the
 * fields the generated TypeScript declares non-optional (the OpenAPI `required` list) must be there,
 * and so must each container's `image`, which the API leaves optional for templates but a kubelet
 * cannot run without.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';

interface AttributeType {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

interface ModelClass {
  getAttributeTypeMap(): AttributeType[];
}

const ARRAY = /^Array<(.+)>$/;
const MAP = /^\{ \[key: string\]: (.+); \}$/;
/** Required by the kubelet for a static pod, optional in the API types. */
const ALSO_REQUIRED: Record<string, readonly string[]> = { V1Container: ['image'] };

const modelsDir = join(
  dirname(createRequire(import.meta.url).resolve('@kubernetes/client-node')),
  'gen',
  'models',
);
const requiredCache = new Map<string, string[]>();

function modelClass(type: string): ModelClass | undefined {
  const candidate = (k8s as unknown as Record<string, Partial<ModelClass> | undefined>)[type];
  return typeof candidate?.getAttributeTypeMap === 'function' ? (candidate as ModelClass) : undefined;
}

/** The properties the generated declaration of `type` has without `?`. */
function requiredFields(type: string): string[] {
  let required = requiredCache.get(type);
  if (required === undefined) {
    const declaration = readFileSync(join(modelsDir, `${type}.d.ts`), 'utf8');
    required = [...declaration.matchAll(/^\s+'([A-Za-z0-9_$]+)': /gm)].map((match) => match[1] as string);
    required.push(...(ALSO_REQUIRED[type] ?? []));
    requiredCache.set(type, required);
  }
  return required;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function check(value: unknown, type: string, format: string, path: string, problems: string[]): void {
  const array = ARRAY.exec(type);
  const map = MAP.exec(type);
  if (array?.[1] !== undefined) {
    if (!Array.isArray(value)) problems.push(`${path}: expected an array (${type})`);
    else {
      for (const [i, item] of value.entries()) check(item, array[1], format, `${path}[${i}]`, problems);
    }
    return;
  }
  if (map?.[1] !== undefined) {
    if (!isPlainObject(value)) problems.push(`${path}: expected an object (${type})`);
    else
      for (const [key, item] of Object.entries(value))
        check(item, map[1], format, `${path}.${key}`, problems);
    return;
  }
  switch (type) {
    case 'string':
      if (typeof value !== 'string') problems.push(`${path}: expected a string`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${path}: expected a boolean`);
      return;
    case 'number': {
      const integer = format === 'int32' || format === 'int64';
      if (typeof value !== 'number' || (integer && !Number.isInteger(value)))
        problems.push(`${path}: expected ${integer ? 'an integer' : 'a number'}`);
      return;
    }
    case 'Date':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
        problems.push(`${path}: expected a date`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && !Number.isInteger(value))
        problems.push(`${path}: expected an int or string`);
      return;
    case 'any':
    case 'object':
      return;
  }
  const model = modelClass(type);
  if (model === undefined) {
    problems.push(`${path}: the type ${type} is unknown to @kubernetes/client-node`);
    return;
  }
  if (!isPlainObject(value)) {
    problems.push(`${path}: expected an object (${type})`);
    return;
  }
  const attributes = new Map(model.getAttributeTypeMap().map((attribute) => [attribute.baseName, attribute]));
  for (const [key, item] of Object.entries(value)) {
    const attribute = attributes.get(key);
    if (attribute === undefined) problems.push(`${path}.${key}: no such field in ${type}`);
    else check(item, attribute.type, attribute.format, `${path}.${key}`, problems);
  }
  for (const field of requiredFields(type)) {
    const baseName =
      model.getAttributeTypeMap().find((attribute) => attribute.name === field)?.baseName ?? field;
    if (value[baseName] === undefined) problems.push(`${path}.${baseName}: required in ${type}`);
  }
}

/**
 * Everything wrong with `manifest` as a Pod, one line each; [] when it is a valid Pod. The manifest
 * goes through JSON first, as it does on its way to the kubelet.
 */
export function podProblems(manifest: unknown): string[] {
  const problems: string[] = [];
  const json: unknown = JSON.parse(JSON.stringify(manifest));
  check(json, 'V1Pod', '', 'pod', problems);
  if (isPlainObject(json)) {
    if (json.apiVersion !== 'v1') problems.push('pod.apiVersion: expected v1');
    if (json.kind !== 'Pod') problems.push('pod.kind: expected Pod');
    const spec = json.spec;
    if (!isPlainObject(spec) || !Array.isArray(spec.containers) || spec.containers.length === 0)
      problems.push('pod.spec.containers: at least one container is required');
    const metadata = json.metadata;
    if (!isPlainObject(metadata) || typeof metadata.name !== 'string' || metadata.name === '')
      problems.push('pod.metadata.name: required');
  }
  return problems;
}
