import { alreadyExists, invalidField, resourceInUse, resourceNotReady } from './errors.js';
import { link, resourcePath } from './links.js';
import type { MethodDefinition } from './methods.js';
import { gceTimestamp, type Json, newNumericId, type ProjectState } from './model.js';
import { assertName, bodyObject, type Call, existing, listResponse } from './rules.js';

/** How one global collection (firewalls, health checks) builds and guards its resources. */
export interface GlobalCollection {
  /** The collection name in paths and method ids: `firewalls`, `httpHealthChecks`, `healthChecks`. */
  collection: string;
  /** `compute#firewall`, ... */
  kind: string;
  /** GCE's snake_case type name in "already being used by" messages. */
  usageName: string;
  /** The message type of bodies (`validateBody`, or the server's own check of HttpHealthCheck). */
  bodyType: string;
  /**
   * The resource's fields from a (schema-checked) body, defaults filled in; throws GCE's 400s. The server
   * adds kind, id, creationTimestamp, name and selfLink.
   */
  build(call: Call, body: Json): Json;
  /** Who uses the resource (a `projects/...` path), which makes a delete 400; undefined when no one. */
  usedBy?(project: ProjectState, resourceLink: string): string | undefined;
}

/** The resource JSON in GCE's field order: kind, id, creationTimestamp, name, the rest, selfLink. */
function assemble(
  kind: string,
  id: string,
  created: string,
  name: string,
  fields: Json,
  selfLink: string,
): Json {
  return { kind, id, creationTimestamp: created, name, ...fields, selfLink };
}

/** A body without the fields the server owns (a PUT often sends back what a GET returned). */
function inputFields(body: Json): Json {
  const { kind: _k, id: _i, creationTimestamp: _c, name: _n, selfLink: _s, ...rest } = body;
  return rest;
}

/** insert, get, list, delete, patch (merge) and update (replace) of a global collection. */
export function globalCollectionMethods(spec: GlobalCollection): MethodDefinition[] {
  const base = `/global/${spec.collection}`;
  const pathOf = (call: Call) => `global/${spec.collection}/${call.params.resource}`;
  const change = (
    call: Call,
    operationType: 'patch' | 'update',
  ): ReturnType<Extract<MethodDefinition, { kind: 'mutate' }>['accept']> => {
    const { project } = call;
    const path = pathOf(call);
    const current = existing(call, path);
    if (project.pendingDeletes.has(path)) throw resourceNotReady(resourcePath(project.name, path));
    const body = bodyObject(call);
    if (body.name !== undefined && body.name !== current.name) {
      throw invalidField('resource.name', body.name, 'The name of a resource cannot be changed.');
    }
    return {
      operationType,
      scope: { kind: 'global' },
      targetPath: path,
      targetId: String(current.id),
      prepare() {
        const now = existing(call, path);
        const { kind: _k, id: _i, creationTimestamp: _c, name: _n, selfLink: _s, ...fields } = now;
        const merged = operationType === 'patch' ? { ...fields, ...inputFields(body) } : inputFields(body);
        const built = spec.build(call, merged);
        return () => {
          project.resources.set(
            path,
            assemble(
              spec.kind,
              String(now.id),
              String(now.creationTimestamp),
              String(now.name),
              built,
              String(now.selfLink),
            ),
          );
        };
      },
    };
  };
  return [
    {
      kind: 'mutate',
      id: `compute.${spec.collection}.insert`,
      httpMethod: 'POST',
      pattern: base,
      bodyType: spec.bodyType,
      accept(call) {
        const { project } = call;
        const body = bodyObject(call);
        const name = assertName(body.name);
        const path = `global/${spec.collection}/${name}`;
        if (project.resources.has(path) || project.pendingInserts.has(path)) {
          throw alreadyExists(resourcePath(project.name, path));
        }
        const id = newNumericId();
        return {
          operationType: 'insert',
          scope: { kind: 'global' },
          targetPath: path,
          targetId: id,
          effect: 'insert',
          prepare() {
            if (project.resources.has(path)) throw alreadyExists(resourcePath(project.name, path));
            const built = spec.build(call, inputFields(body));
            return () => {
              project.resources.set(
                path,
                assemble(spec.kind, id, gceTimestamp(new Date()), name, built, link(project.name, path)),
              );
            };
          },
        };
      },
    },
    {
      kind: 'read',
      id: `compute.${spec.collection}.get`,
      httpMethod: 'GET',
      pattern: `${base}/{resource}`,
      run: (call) => structuredClone(existing(call, pathOf(call))),
    },
    {
      kind: 'read',
      id: `compute.${spec.collection}.list`,
      httpMethod: 'GET',
      pattern: base,
      run: (call) =>
        listResponse(call, {
          kind: `${spec.kind}List`,
          collection: `global/${spec.collection}`,
          items: structuredClone(call.project.list(`global/${spec.collection}`)),
        }),
    },
    {
      kind: 'mutate',
      id: `compute.${spec.collection}.delete`,
      httpMethod: 'DELETE',
      pattern: `${base}/{resource}`,
      accept(call) {
        const { project } = call;
        const path = pathOf(call);
        const current = existing(call, path);
        if (project.pendingDeletes.has(path)) throw resourceNotReady(resourcePath(project.name, path));
        return {
          operationType: 'delete',
          scope: { kind: 'global' },
          targetPath: path,
          targetId: String(current.id),
          effect: 'delete',
          prepare() {
            existing(call, path);
            const user = spec.usedBy?.(project, link(project.name, path));
            if (user !== undefined)
              throw resourceInUse(spec.usageName, resourcePath(project.name, path), user);
            return () => {
              project.resources.delete(path);
            };
          },
        };
      },
    },
    {
      kind: 'mutate',
      id: `compute.${spec.collection}.patch`,
      httpMethod: 'PATCH',
      pattern: `${base}/{resource}`,
      bodyType: spec.bodyType,
      accept: (call) => change(call, 'patch'),
    },
    {
      kind: 'mutate',
      id: `compute.${spec.collection}.update`,
      httpMethod: 'PUT',
      pattern: `${base}/{resource}`,
      bodyType: spec.bodyType,
      accept: (call) => change(call, 'update'),
    },
  ];
}
