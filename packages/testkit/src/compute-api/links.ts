/**
 * Resource URLs as GCE writes them (`selfLink`, `zone`, `targetLink`, `users`) and the forms it accepts
 * where a body refers to another resource: a full URL (either API host), `projects/p/...`, a path
 * relative to the project (`zones/z/disks/d`), or, where the scope is implied, a bare name.
 */

/** The URL prefix GCE puts in every link it returns. */
export const API_ROOT = 'https://www.googleapis.com/compute/v1';

const ACCEPTED_ROOTS = [
  'https://www.googleapis.com/compute/v1/',
  'https://compute.googleapis.com/compute/v1/',
  'http://www.googleapis.com/compute/v1/',
];

/** A resource name as GCE requires it (RFC 1035 label, 1-63 characters). */
export const NAME_PATTERN = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/** `https://www.googleapis.com/compute/v1/projects/<project>/<path>` */
export function link(project: string, path: string): string {
  return `${API_ROOT}/projects/${project}${path === '' ? '' : `/${path}`}`;
}

/** `projects/<project>/<path>`, the form GCE quotes in its error messages. */
export function resourcePath(project: string, path: string): string {
  return `projects/${project}${path === '' ? '' : `/${path}`}`;
}

/** A reference resolved to its project and its path inside the project (`zones/z/instances/n`). */
export interface ResolvedReference {
  project: string;
  path: string;
}

/**
 * Where a reference is read: the calling project (for paths relative to it) and the roots this server
 * answers at (`http://127.0.0.1:<port>/compute/v1/`), which it accepts as GCE accepts its own hosts'
 * URLs: gcloud, pointed at the server, builds every reference from its endpoint.
 */
export interface ReferenceContext {
  project: string;
  ownRoots?: readonly string[];
}

/**
 * Resolves a reference written in any of the accepted forms. `implied` is the collection a bare name
 * belongs to (`regions/r/addresses`); without it a bare name does not resolve. Undefined when the text is
 * no reference at all.
 */
export function resolveReference(
  text: string,
  context: ReferenceContext,
  implied?: string,
): ResolvedReference | undefined {
  const currentProject = context.project;
  let rest = text.trim();
  const root = [...ACCEPTED_ROOTS, ...(context.ownRoots ?? [])].find((prefix) => rest.startsWith(prefix));
  if (root !== undefined) rest = rest.slice(root.length);
  if (rest.startsWith('projects/')) {
    const parts = rest.split('/');
    const project = parts[1] ?? '';
    if (project === '') return undefined;
    return { project, path: parts.slice(2).join('/') };
  }
  if (root !== undefined) return undefined;
  if (/^(zones|regions|global)\//.test(rest)) return { project: currentProject, path: rest };
  if (implied !== undefined && NAME_PATTERN.test(rest)) {
    return { project: currentProject, path: `${implied}/${rest}` };
  }
  return undefined;
}

/** The parts of a path like `zones/z/instances/n`: scope kind, scope name, collection, name. */
export interface PathParts {
  scope: 'zones' | 'regions' | 'global';
  scopeName: string | undefined;
  collection: string;
  name: string;
}

/** Splits `zones/z/<collection>/<name>`, `regions/r/<collection>/<name>` or `global/<collection>/<name>`. */
export function splitPath(path: string): PathParts | undefined {
  const parts = path.split('/');
  if (parts[0] === 'global' && parts.length === 3) {
    return { scope: 'global', scopeName: undefined, collection: parts[1] ?? '', name: parts[2] ?? '' };
  }
  if ((parts[0] === 'zones' || parts[0] === 'regions') && parts.length === 4) {
    return { scope: parts[0], scopeName: parts[1], collection: parts[2] ?? '', name: parts[3] ?? '' };
  }
  return undefined;
}

/** The last segment of a URL or path. */
export function lastSegment(url: string): string {
  const parts = url.split('/');
  return parts[parts.length - 1] ?? '';
}
