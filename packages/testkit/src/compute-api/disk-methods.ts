import { alreadyExists, resourceInUse, resourceNotReady } from './errors.js';
import { link, type ReferenceContext, resolveReference, resourcePath } from './links.js';
import type { MethodDefinition } from './methods.js';
import { gceTimestamp, type Json, newFingerprint, newNumericId } from './model.js';
import { firstUserPath } from './network.js';
import {
  assertName,
  bodyObject,
  type Call,
  checkedLabels,
  existing,
  listResponse,
  referenceContext,
  stringField,
  zoneParam,
} from './rules.js';

/** A disk type reference (`pd-ssd`, `zones/z/diskTypes/pd-ssd`, a URL) as a link; pd-standard by default. */
export function diskTypeLink(context: ReferenceContext, zone: string, given: string | undefined): string {
  if (given === undefined || given === '')
    return link(context.project, `zones/${zone}/diskTypes/pd-standard`);
  const resolved = resolveReference(given, context, `zones/${zone}/diskTypes`);
  return resolved === undefined ? given : link(resolved.project, resolved.path);
}

/** An image reference as GCE stores it: `projects/...` or a path made into a URL, anything else as given. */
export function imageLink(context: ReferenceContext, given: string | undefined): string | undefined {
  if (given === undefined || given === '') return undefined;
  const resolved = resolveReference(given, context);
  return resolved === undefined ? given : link(resolved.project, resolved.path);
}

/** A Disk resource as GCE returns it. */
export function diskJson(options: {
  project: string;
  zone: string;
  name: string;
  id: string;
  sizeGb: string;
  type: string;
  sourceImage?: string;
  labels: Record<string, string>;
  description?: string;
  users?: string[];
}): Json {
  const now = gceTimestamp(new Date());
  return {
    kind: 'compute#disk',
    id: options.id,
    creationTimestamp: now,
    name: options.name,
    ...(options.description === undefined ? {} : { description: options.description }),
    sizeGb: options.sizeGb,
    zone: link(options.project, `zones/${options.zone}`),
    status: 'READY',
    selfLink: link(options.project, `zones/${options.zone}/disks/${options.name}`),
    ...(options.sourceImage === undefined ? {} : { sourceImage: options.sourceImage }),
    type: options.type,
    ...(Object.keys(options.labels).length === 0 ? {} : { labels: options.labels }),
    labelFingerprint: newFingerprint(),
    ...(options.users === undefined || options.users.length === 0
      ? {}
      : { users: options.users, lastAttachTimestamp: now }),
    physicalBlockSizeBytes: '4096',
  };
}

/** The size of a new disk: the given `sizeGb` (int64: string or number), else 10 GB. */
export function diskSize(given: unknown): string {
  return given === undefined || given === '' ? '10' : String(given);
}

/** disks: insert, get, list, delete. */
export const diskMethods: MethodDefinition[] = [
  {
    kind: 'mutate',
    id: 'compute.disks.insert',
    httpMethod: 'POST',
    pattern: '/zones/{zone}/disks',
    bodyType: 'Disk',
    accept(call: Call) {
      const zone = zoneParam(call);
      const body = bodyObject(call);
      const name = assertName(body.name);
      const path = `zones/${zone}/disks/${name}`;
      const { project } = call;
      if (project.resources.has(path) || project.pendingInserts.has(path)) {
        throw alreadyExists(resourcePath(project.name, path));
      }
      const labels = checkedLabels(body.labels);
      const id = newNumericId();
      return {
        operationType: 'insert',
        scope: { kind: 'zone', zone },
        targetPath: path,
        targetId: id,
        effect: 'insert',
        prepare() {
          if (project.resources.has(path)) throw alreadyExists(resourcePath(project.name, path));
          return () => {
            project.resources.set(
              path,
              diskJson({
                project: project.name,
                zone,
                name,
                id,
                sizeGb: diskSize(body.sizeGb),
                type: diskTypeLink(referenceContext(call), zone, stringField(body, 'type')),
                sourceImage: imageLink(referenceContext(call), stringField(body, 'sourceImage')),
                labels,
                description: stringField(body, 'description'),
              }),
            );
          };
        },
      };
    },
  },
  {
    kind: 'read',
    id: 'compute.disks.get',
    httpMethod: 'GET',
    pattern: '/zones/{zone}/disks/{disk}',
    run: (call) => structuredClone(existing(call, `zones/${zoneParam(call)}/disks/${call.params.disk}`)),
  },
  {
    kind: 'read',
    id: 'compute.disks.list',
    httpMethod: 'GET',
    pattern: '/zones/{zone}/disks',
    run(call) {
      const collection = `zones/${zoneParam(call)}/disks`;
      return listResponse(call, {
        kind: 'compute#diskList',
        collection,
        items: structuredClone(call.project.list(collection)),
      });
    },
  },
  {
    kind: 'mutate',
    id: 'compute.disks.delete',
    httpMethod: 'DELETE',
    pattern: '/zones/{zone}/disks/{disk}',
    accept(call: Call) {
      const zone = zoneParam(call);
      const path = `zones/${zone}/disks/${call.params.disk}`;
      const { project } = call;
      const disk = existing(call, path);
      if (project.pendingDeletes.has(path)) throw resourceNotReady(resourcePath(project.name, path));
      return {
        operationType: 'delete',
        scope: { kind: 'zone', zone },
        targetPath: path,
        targetId: String(disk.id),
        effect: 'delete',
        prepare() {
          const current = existing(call, path);
          const user = firstUserPath(current);
          if (user !== undefined) throw resourceInUse('disk', resourcePath(project.name, path), user);
          return async () => {
            project.resources.delete(path);
            await call.server.runtime?.deleteDisk(String(current.name), zone);
          };
        },
      };
    },
  },
];
