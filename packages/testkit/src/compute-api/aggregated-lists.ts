import { invalidField } from './errors.js';
import { link, resourcePath } from './links.js';
import type { MethodDefinition } from './methods.js';
import type { Json } from './model.js';
import { type Call, pageOf } from './rules.js';

type ScopeKind = 'global' | 'regions' | 'zones';

/** One collection's `aggregatedList`: where its resources live and how GCE names the list. */
interface AggregatedCollection {
  /** Discovery id: `compute.instances.aggregatedList`, `compute.globalOperations.aggregatedList`. */
  id: string;
  /** The path segment after `aggregated/` and the key of each scope's items: `instances`, `operations`. */
  collection: string;
  kind: string;
  /** The scope kinds the resource type is found in, listed without `includeAllScopes`. */
  scopes: readonly ScopeKind[];
  /** The items of one scope (`zones/z`, `regions/r`, `global`), copies, in GCE's order. */
  itemsIn(call: Call, scope: string): Json[];
}

/** A `true`/`false` query parameter; gcloud writes Python's `True`, which GCE takes too. */
function booleanParam(call: Call, name: string): boolean {
  const value = call.query[name];
  if (value === undefined || value === '') return false;
  const lowered = value.toLowerCase();
  if (lowered !== 'true' && lowered !== 'false') {
    throw invalidField(name, value, 'Must be true or false.');
  }
  return lowered === 'true';
}

/** Every scope an aggregated list shows, sorted as GCE sorts its `items` keys. */
function scopesOf(call: Call, kinds: readonly ScopeKind[]): string[] {
  const wanted = booleanParam(call, 'includeAllScopes') ? ['global', 'regions', 'zones'] : kinds;
  return [
    ...(wanted.includes('global') ? ['global'] : []),
    ...(wanted.includes('regions') ? call.server.regions.map((region) => `regions/${region}`) : []),
    ...(wanted.includes('zones') ? call.server.zones.map((zone) => `zones/${zone}`) : []),
  ].sort();
}

/**
 * An aggregated list as GCE writes it: `items` keyed by scope (`zones/z`, `regions/r`, `global`), each
 * `{ <collection>: [...] }` or, when the page has none of its resources, a `NO_RESULTS_ON_PAGE`
 * warning; `filter`, `maxResults` and `pageToken` across all scopes; `returnPartialSuccess` accepted
 * (every scope is always reachable here, so there are no `unreachables`).
 */
function aggregatedList(spec: AggregatedCollection): MethodDefinition {
  const path = `aggregated/${spec.collection}`;
  return {
    kind: 'read',
    id: spec.id,
    httpMethod: 'GET',
    pattern: `/${path}`,
    run(call) {
      booleanParam(call, 'returnPartialSuccess');
      const scopes = scopesOf(call, spec.scopes);
      const all = scopes.flatMap((scope) => spec.itemsIn(call, scope).map((item) => ({ scope, item })));
      const page = pageOf(
        call,
        all.map((entry) => entry.item),
      );
      const shown = new Set(page.items);
      const items: Record<string, Json> = {};
      for (const scope of scopes) {
        const onPage = all.filter((entry) => entry.scope === scope && shown.has(entry.item));
        items[scope] =
          onPage.length > 0
            ? { [spec.collection]: onPage.map((entry) => entry.item) }
            : {
                warning: {
                  code: 'NO_RESULTS_ON_PAGE',
                  message: `There are no results for scope '${scope}' on this page.`,
                  data: [{ key: 'scope', value: scope }],
                },
              };
      }
      return {
        kind: spec.kind,
        id: resourcePath(call.project.name, path),
        items,
        ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }),
        selfLink: link(call.project.name, path),
      };
    },
  };
}

/** The resources of a collection in one scope, by name. */
const resourcesIn =
  (collection: string) =>
  (call: Call, scope: string): Json[] =>
    structuredClone(call.project.list(`${scope}/${collection}`));

/**
 * `aggregatedList` of every collection the server keeps that GCE aggregates, which is what gcloud's
 * `list` commands call without a scope: instances, disks, addresses, targetPools, forwardingRules,
 * healthChecks and operations (`globalOperations.aggregatedList`, every scope's operations).
 */
export const aggregatedListMethods: MethodDefinition[] = [
  aggregatedList({
    id: 'compute.instances.aggregatedList',
    collection: 'instances',
    kind: 'compute#instanceAggregatedList',
    scopes: ['zones'],
    itemsIn: resourcesIn('instances'),
  }),
  aggregatedList({
    id: 'compute.disks.aggregatedList',
    collection: 'disks',
    kind: 'compute#diskAggregatedList',
    scopes: ['zones'],
    itemsIn: resourcesIn('disks'),
  }),
  aggregatedList({
    id: 'compute.addresses.aggregatedList',
    collection: 'addresses',
    kind: 'compute#addressAggregatedList',
    scopes: ['global', 'regions'],
    itemsIn: resourcesIn('addresses'),
  }),
  aggregatedList({
    id: 'compute.targetPools.aggregatedList',
    collection: 'targetPools',
    kind: 'compute#targetPoolAggregatedList',
    scopes: ['regions'],
    itemsIn: resourcesIn('targetPools'),
  }),
  aggregatedList({
    id: 'compute.forwardingRules.aggregatedList',
    collection: 'forwardingRules',
    kind: 'compute#forwardingRuleAggregatedList',
    scopes: ['global', 'regions'],
    itemsIn: resourcesIn('forwardingRules'),
  }),
  aggregatedList({
    id: 'compute.healthChecks.aggregatedList',
    collection: 'healthChecks',
    kind: 'compute#healthChecksAggregatedList',
    scopes: ['global', 'regions'],
    itemsIn: resourcesIn('healthChecks'),
  }),
  aggregatedList({
    id: 'compute.globalOperations.aggregatedList',
    collection: 'operations',
    kind: 'compute#operationAggregatedList',
    scopes: ['global', 'regions', 'zones'],
    // Oldest first, as the scoped lists give them.
    itemsIn: (call, scope) =>
      [...(call.project.operations.get(scope)?.values() ?? [])].map((record) => structuredClone(record.json)),
  }),
];
