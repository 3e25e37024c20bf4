/**
 * One pass of the add-on manager over a set of objects, with kube-addons.sh's semantics: EnsureExists
 * objects are created when missing and otherwise left alone; Reconcile objects are applied
 * (server-side apply, forced, so edits made by others are reverted) and the Reconcile objects this
 * manager applied that are no longer wanted are pruned.
 */
import { ErrorCode, HacpError } from '@hacp/core';
import { type KubeConfig, type KubernetesObject, PatchStrategy } from '@kubernetes/client-node';
import { ADDON_MODE_LABEL, type AddonObject, addonModeOf, addonObjectName } from './manifests.js';
import { type AddonObjectApi, createObjectApi, failureMessage, httpStatusOf } from './object-api.js';

/** The field manager of every server-side apply, so managed fields show who keeps them. */
export const ADDON_FIELD_MANAGER = 'hacp-addon-manager';

/**
 * The mark this manager puts on what it applies in Reconcile mode. Pruning deletes only objects
 * that carry it, so an object someone else labelled Reconcile is never deleted by this manager.
 */
export const ADDON_MANAGED_ANNOTATION = 'addonmanager.hacp.io/managed';

/** Where objects no longer in the folder are looked for: kube-addons.sh's default prune allowlist. */
export const DEFAULT_PRUNE_KINDS: readonly AddonKind[] = [
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Endpoints' },
  { apiVersion: 'v1', kind: 'Namespace' },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
  { apiVersion: 'v1', kind: 'PersistentVolume' },
  { apiVersion: 'v1', kind: 'Pod' },
  { apiVersion: 'v1', kind: 'ReplicationController' },
  { apiVersion: 'v1', kind: 'Secret' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'batch/v1', kind: 'Job' },
  { apiVersion: 'batch/v1', kind: 'CronJob' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'apps/v1', kind: 'ReplicaSet' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' },
];

/**
 * What one pass did, each object named `<kind>/<namespace>/<name>` (or `<kind>/<name>` when
 * cluster-scoped).
 */
export interface ReconcileResult {
  /** Reconcile objects that existed and were changed back to the folder's version. */
  applied: string[];
  /** Objects that did not exist and were created (either mode). */
  created: string[];
  /** Objects already as wanted: Reconcile ones the apply did not change, EnsureExists ones that exist. */
  unchanged: string[];
  /** Reconcile objects this manager had applied that the folder no longer holds, deleted. */
  pruned: string[];
  /** Objects without a mode label (or with an unknown mode), left alone. */
  ignored: string[];
  /** Objects (or prune listings, named `<kind> (prune)`) that failed, with the API server's reason. */
  failed: { object: string; message: string }[];
}

function group(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? '' : apiVersion.slice(0, slash);
}

/** Namespaces first, then CRDs, then everything else in folder order: what the rest may live in or be. */
function applyRank(object: { apiVersion: string; kind: string }): number {
  if (object.kind === 'Namespace' && group(object.apiVersion) === '') return 0;
  if (object.kind === 'CustomResourceDefinition' && group(object.apiVersion) === 'apiextensions.k8s.io')
    return 1;
  return 2;
}

function liveKey(apiVersion: string, kind: string, namespace: string | undefined, name: string): string {
  return `${group(apiVersion)}|${kind}|${namespace ?? ''}|${name}`;
}

/**
 * Keys of everything the folder holds, under both placements it may have: in its namespace (or
 * `default`) if its kind is namespaced, with no namespace if not. Either way it is kept, without
 * depending on discovery having answered for its kind in this pass.
 */
function keepKeys(objects: readonly AddonObject[]): Set<string> {
  const keys = new Set<string>();
  for (const { apiVersion, kind, metadata } of objects) {
    keys.add(liveKey(apiVersion, kind, metadata.namespace ?? 'default', metadata.name));
    keys.add(liveKey(apiVersion, kind, undefined, metadata.name));
  }
  return keys;
}

function abortedError(signal: AbortSignal, result: ReconcileResult): HacpError {
  const done = result.applied.length + result.created.length + result.unchanged.length + result.pruned.length;
  return new HacpError({
    code: ErrorCode.ABORTED,
    message: `The add-on pass was stopped after ${done} object(s); the next pass picks up where it left off.`,
    cause: signal.reason,
  });
}

/**
 * A copy of `object` placed where the API server will keep it: a namespaced object without a
 * namespace in `default`, a cluster-scoped object without one. The caller's object is not changed
 * (client-node fills in a missing namespace on the object it is given).
 */
function placed(object: AddonObject, namespaced: boolean): AddonObject {
  const { namespace, ...metadata } = object.metadata;
  return {
    ...object,
    metadata: namespaced ? { ...metadata, namespace: namespace ?? 'default' } : metadata,
  } as AddonObject;
}

function marked(object: AddonObject): AddonObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: { ...object.metadata.annotations, [ADDON_MANAGED_ANNOTATION]: 'true' },
    },
  };
}

async function readIfExists(api: AddonObjectApi, object: AddonObject): Promise<KubernetesObject | undefined> {
  try {
    return await api.read(object);
  } catch (error) {
    if (httpStatusOf(error) === 404) return undefined;
    throw error;
  }
}

type Outcome = 'applied' | 'created' | 'unchanged';

/** Server-side apply, forced: the folder's fields win over anyone else's edits. */
async function reconcileObject(api: AddonObjectApi, object: AddonObject): Promise<Outcome> {
  const before = await readIfExists(api, object);
  const after = await api.patch<KubernetesObject>(
    marked(object),
    undefined,
    undefined,
    ADDON_FIELD_MANAGER,
    true,
    PatchStrategy.ServerSideApply,
  );
  // Deleted between the read and the apply (by hand, while passes run back to back): the apply
  // made it again, under a new uid.
  if (before === undefined || after.metadata?.uid !== before.metadata?.uid) return 'created';
  return after.metadata?.resourceVersion === before.metadata?.resourceVersion ? 'unchanged' : 'applied';
}

/** Create, and an object that exists already is left exactly as it is (kubectl create's AlreadyExists). */
async function ensureObject(api: AddonObjectApi, object: AddonObject): Promise<Outcome> {
  try {
    await api.create(object, undefined, undefined, ADDON_FIELD_MANAGER);
    return 'created';
  } catch (error) {
    if (httpStatusOf(error) === 409) return 'unchanged';
    throw error;
  }
}

/** Applies or ensures one object; a refusal of it goes to `result.failed`, named where it was placed. */
async function keepObject(options: {
  api: AddonObjectApi;
  object: AddonObject;
  result: ReconcileResult;
  signal: AbortSignal | undefined;
}): Promise<void> {
  const { api, object, result, signal } = options;
  const served = await api.served(object.apiVersion, object.kind);
  if (served === undefined) {
    result.failed.push({
      object: addonObjectName(object),
      message: `the API server does not serve ${object.kind} in ${object.apiVersion} (yet: a CRD may still be on its way).`,
    });
    return;
  }
  const target = placed(object, served.namespaced);
  try {
    const outcome =
      addonModeOf(object) === 'EnsureExists'
        ? await ensureObject(api, target)
        : await reconcileObject(api, target);
    result[outcome].push(addonObjectName(target));
  } catch (error) {
    if (signal?.aborted) throw error;
    result.failed.push({ object: addonObjectName(target), message: failureMessage(error) });
  }
}

/** A kind of object, as manifests name it. */
export interface AddonKind {
  apiVersion: string;
  kind: string;
}

/** The kinds to look for objects to prune in: the default allowlist, `extra`, and every kind in the folder. */
function pruneKinds(objects: readonly AddonObject[], extra: readonly AddonKind[]): AddonKind[] {
  const kinds = new Map<string, AddonKind>();
  // Later entries win for a kind: the folder's version is the one its objects were applied with.
  for (const { apiVersion, kind } of [...DEFAULT_PRUNE_KINDS, ...extra, ...objects]) {
    kinds.set(`${group(apiVersion)}|${kind}`, { apiVersion, kind });
  }
  // Contents before what holds them: a CRD after its resources, a Namespace last.
  return [...kinds.values()].sort((a, b) => applyRank(b) - applyRank(a));
}

async function pruneKind(options: {
  api: AddonObjectApi;
  apiVersion: string;
  kind: string;
  keep: ReadonlySet<string>;
  result: ReconcileResult;
}): Promise<void> {
  const { api, apiVersion, kind, keep, result } = options;
  if ((await api.served(apiVersion, kind)) === undefined) return;
  const list = await api.list(
    apiVersion,
    kind,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    `${ADDON_MODE_LABEL}=Reconcile`,
  );
  for (const item of list.items) {
    const metadata = item.metadata ?? {};
    const name = metadata.name ?? '';
    if (metadata.annotations?.[ADDON_MANAGED_ANNOTATION] !== 'true') continue;
    if (metadata.deletionTimestamp !== undefined) continue;
    if (keep.has(liveKey(apiVersion, kind, metadata.namespace, name))) continue;
    const target = { apiVersion, kind, metadata: { name, namespace: metadata.namespace } };
    try {
      await api.delete(target, undefined, undefined, undefined, undefined, 'Background');
    } catch (error) {
      // Another replica's manager pruned it first.
      if (httpStatusOf(error) === 404) continue;
      throw error;
    }
    result.pruned.push(addonObjectName(target));
  }
}

/**
 * One pass of the add-on manager over `objects`: EnsureExists objects are created when missing;
 * Reconcile objects are server-side applied (field manager `hacp-addon-manager`, forced) with the
 * annotation `addonmanager.hacp.io/managed: "true"`; objects without a mode are ignored. Namespaces
 * go first, then CRDs. Then, unless `prune` is false, objects labelled Reconcile and carrying the
 * annotation, of the kinds in {@link DEFAULT_PRUNE_KINDS}, `pruneKinds` or `objects`, that `objects` no longer
 * holds (any mode) are deleted, in the background as kubectl does. A namespaced object without a
 * namespace goes to `default`. A failure of one object is reported in `failed` and the pass goes on.
 *
 * @param options.prune false to apply without deleting anything (the folder could not be fully read).
 * @param options.pruneKinds more kinds to prune in: those of objects the folder held earlier, so
 *   that removing the last manifest of a kind outside the allowlist (a custom resource, a CRD)
 *   prunes it too.
 * @throws HacpError ABORTED when `signal` aborts; what was done by then stays done.
 * @throws HacpError INVALID_ARGUMENT when the kubeconfig has no current cluster.
 * @example
 * const kubeconfig = new KubeConfig();
 * kubeconfig.loadFromFile('/etc/kubernetes/addon-manager.conf');
 * const { files } = await readAddonFolder('/etc/kubernetes/addons');
 * const result = await reconcileAddons({ kubeconfig, objects: files.flatMap((f) => f.objects) });
 */
export async function reconcileAddons(options: {
  kubeconfig: KubeConfig;
  objects: readonly AddonObject[];
  signal?: AbortSignal;
  prune?: boolean;
  pruneKinds?: readonly AddonKind[];
}): Promise<ReconcileResult> {
  const { signal } = options;
  const api = createObjectApi(options.kubeconfig, signal);
  const result: ReconcileResult = {
    applied: [],
    created: [],
    unchanged: [],
    pruned: [],
    ignored: [],
    failed: [],
  };
  const wanted: AddonObject[] = [];
  for (const object of options.objects) {
    if (addonModeOf(object) === undefined) result.ignored.push(addonObjectName(object));
    else wanted.push(object);
  }
  const ordered = wanted
    .map((object, index) => ({ object, index }))
    .sort((a, b) => applyRank(a.object) - applyRank(b.object) || a.index - b.index)
    .map((entry) => entry.object);
  const check = () => {
    if (signal?.aborted) throw abortedError(signal, result);
  };
  for (const object of ordered) {
    check();
    try {
      await keepObject({ api, object, result, signal });
    } catch (error) {
      check();
      result.failed.push({ object: addonObjectName(object), message: failureMessage(error) });
    }
  }
  if (options.prune === false) return result;
  const keep = keepKeys(wanted);
  for (const { apiVersion, kind } of pruneKinds(wanted, options.pruneKinds ?? [])) {
    check();
    try {
      await pruneKind({ api, apiVersion, kind, keep, result });
    } catch (error) {
      check();
      result.failed.push({ object: `${kind} (prune)`, message: failureMessage(error) });
    }
  }
  return result;
}
