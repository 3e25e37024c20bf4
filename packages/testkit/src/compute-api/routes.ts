import { addressMethods } from './address-methods.js';
import { aggregatedListMethods } from './aggregated-lists.js';
import { diskMethods } from './disk-methods.js';
import { firewallMethods } from './firewall-methods.js';
import { instanceMethods } from './instance-methods.js';
import { loadBalancerMethods } from './load-balancer-methods.js';
import type { MethodDefinition } from './methods.js';
import { operationMethods } from './operation-methods.js';
import { projectMethods } from './project-methods.js';

/** Every method the double serves. */
export const COMPUTE_METHODS: readonly MethodDefinition[] = [
  ...projectMethods,
  ...operationMethods,
  ...instanceMethods,
  ...diskMethods,
  ...addressMethods,
  ...loadBalancerMethods,
  ...firewallMethods,
  ...aggregatedListMethods,
];

/** The path prefix of the API: `/compute/v1/projects/{project}`. */
export const API_PREFIX = '/compute/v1/projects/';

interface CompiledRoute {
  definition: MethodDefinition;
  segments: string[];
}

const compiled: CompiledRoute[] = COMPUTE_METHODS.map((definition) => ({
  definition,
  segments: definition.pattern === '' ? [] : definition.pattern.slice(1).split('/'),
}));

/** A request matched to its method: the project and the path parameters. */
export interface RouteMatch {
  definition: MethodDefinition;
  project: string;
  params: Record<string, string>;
}

/**
 * The method a request maps to, undefined when none does (GCE answers 404). Literal segments win over
 * parameters, so `.../operations/{operation}/wait` and `.../instances/{instance}/stop` resolve exactly.
 */
export function matchRoute(httpMethod: string, path: string): RouteMatch | undefined {
  if (!path.startsWith(API_PREFIX)) return undefined;
  let parts: string[];
  try {
    parts = path
      .slice(API_PREFIX.length)
      .split('/')
      .map((part) => decodeURIComponent(part));
  } catch {
    return undefined;
  }
  const [project, ...rest] = parts;
  if (project === undefined || project === '') return undefined;
  let best: { route: CompiledRoute; params: Record<string, string>; literals: number } | undefined;
  for (const route of compiled) {
    if (route.definition.httpMethod !== httpMethod || route.segments.length !== rest.length) continue;
    const params: Record<string, string> = {};
    let literals = 0;
    const ok = route.segments.every((segment, index) => {
      const actual = rest[index] ?? '';
      if (segment.startsWith('{')) {
        params[segment.slice(1, -1)] = actual;
        return actual !== '';
      }
      literals += 1;
      return segment === actual;
    });
    if (ok && (best === undefined || literals > best.literals)) best = { route, params, literals };
  }
  return best === undefined ? undefined : { definition: best.route.definition, project, params: best.params };
}
