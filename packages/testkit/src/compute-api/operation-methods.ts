import { notFound } from './errors.js';
import { resourcePath } from './links.js';
import type { MethodDefinition } from './methods.js';
import type { Json, OperationRecord } from './model.js';
import { type Call, listResponse, regionParam, zoneParam } from './rules.js';

type ScopeKind = 'zone' | 'region' | 'global';

const SERVICES: Record<ScopeKind, { service: string; prefix: string }> = {
  zone: { service: 'zoneOperations', prefix: '/zones/{zone}/operations' },
  region: { service: 'regionOperations', prefix: '/regions/{region}/operations' },
  global: { service: 'globalOperations', prefix: '/global/operations' },
};

function scopeOf(call: Call, kind: ScopeKind): string {
  if (kind === 'zone') return `zones/${zoneParam(call)}`;
  if (kind === 'region') return `regions/${regionParam(call)}`;
  return 'global';
}

function operationOf(call: Call, kind: ScopeKind): { scope: string; record: OperationRecord } {
  const scope = scopeOf(call, kind);
  const name = call.params.operation ?? '';
  const record = call.project.operations.get(scope)?.get(name);
  if (record === undefined) throw notFound(resourcePath(call.project.name, `${scope}/operations/${name}`));
  return { scope, record };
}

const snapshot = (record: OperationRecord): Json => structuredClone(record.json);

function methodsFor(kind: ScopeKind): MethodDefinition[] {
  const { service, prefix } = SERVICES[kind];
  return [
    {
      kind: 'read',
      id: `compute.${service}.get`,
      httpMethod: 'GET',
      pattern: `${prefix}/{operation}`,
      run: (call) => snapshot(operationOf(call, kind).record),
    },
    {
      kind: 'read',
      id: `compute.${service}.wait`,
      httpMethod: 'POST',
      pattern: `${prefix}/{operation}/wait`,
      async run(call) {
        const { record } = operationOf(call, kind);
        await call.operations.wait(record);
        return snapshot(record);
      },
    },
    {
      kind: 'read',
      id: `compute.${service}.delete`,
      httpMethod: 'DELETE',
      pattern: `${prefix}/{operation}`,
      run(call) {
        const { scope, record } = operationOf(call, kind);
        call.project.operations.get(scope)?.delete(String(record.json.name));
        return {};
      },
    },
    {
      kind: 'read',
      id: `compute.${service}.list`,
      httpMethod: 'GET',
      pattern: prefix,
      run(call) {
        const scope = scopeOf(call, kind);
        const records = [...(call.project.operations.get(scope)?.values() ?? [])];
        return listResponse(call, {
          kind: 'compute#operationList',
          collection: `${scope}/operations`,
          // Oldest first, as GCE lists them; `name` sorts the same (it starts with the insert time).
          items: records.map(snapshot),
        });
      },
    },
  ];
}

/** zoneOperations, regionOperations and globalOperations: get, wait, delete, list. */
export const operationMethods: MethodDefinition[] = [
  ...methodsFor('zone'),
  ...methodsFor('region'),
  ...methodsFor('global'),
];
