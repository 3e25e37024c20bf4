/**
 * The identity lease GC, as kube-apiserver's (apiserverleasegc/gc_controller.go, kube-up-behaviour.md
 * §7) but over both label generations: list, and for each lease that looks expired re-read it and
 * delete it only if the fresh read is still expired, with that read's resourceVersion as the delete's
 * precondition. A renewal that lands at any point before the delete takes effect keeps the lease.
 */
import { ErrorCode, HacpError, isHacpError, type Logger, resolveLogger } from '@hacp/core';
import type { V1Lease } from '@kubernetes/client-node';
import type { LeaseVerb } from './api-errors.js';
import { type Clock, type ClockTimer, parseMicroTime, systemClock, withTimeout } from './clock.js';
import { type LeaseClient, type LeaseStore, leaseStoreFor } from './lease-store.js';
import { hasIdentityLabel, IDENTITY_LABEL_SELECTORS, IDENTITY_NAMESPACE } from './names.js';
import { assertNamespace, positiveMs } from './validate.js';

/** What {@link createIdentityGc} takes. */
export interface IdentityGcOptions {
  client: LeaseClient;
  /** Time between passes; the first comes one interval after creation. Default 3600000, the apiserver's. */
  intervalMs?: number;
  /** Default `kube-system`. */
  namespace?: string;
  logger?: Logger;
}

/** What one pass did. Names are sorted. */
export interface IdentityGcResult {
  /** Identity leases listed (both label generations). */
  listed: number;
  /** Expired on the fresh read too, and deleted. */
  deleted: string[];
  /**
   * Expired when listed, then changed before it could be deleted: kept. The re-read was fresh or had
   * lost its identity label, or the delete's resourceVersion precondition failed (409).
   */
  renewed: string[];
  /** Expired when listed and gone before the delete (another GC got there first). */
  alreadyGone: string[];
}

/** A running GC. */
export interface IdentityGc {
  /**
   * One pass now. Passes never overlap: a call during a pass runs after it.
   *
   * @throws HacpError PERMISSION_DENIED, UNAUTHENTICATED or UNAVAILABLE from the API server.
   *   NotFound and Conflict are outcomes (`alreadyGone`, `renewed`), not errors.
   */
  collect(): Promise<IdentityGcResult>;
  /** Stops the periodic passes, aborts one in progress (it rejects with ABORTED), and leaves no timers. */
  stop(): Promise<void>;
}

/** The longest one GC request may take before the pass fails as UNAVAILABLE. */
const REQUEST_TIMEOUT_MS = 30_000;

/** The verbs the GC needs, for the RBAC suggestion in a 403. */
export const GC_VERBS: readonly LeaseVerb[] = Object.freeze(['list', 'get', 'delete']);

/** Everything the GC runs on; the store and clock are injectable for tests. */
export interface GcSettings {
  store: LeaseStore;
  clock: Clock;
  namespace: string;
  intervalMs: number;
  logger: Logger;
}

/**
 * Expired as the apiserver's GC decides it: no renewTime, no leaseDurationSeconds, or renewTime +
 * leaseDurationSeconds before `nowMs` (wall clock: durations here are an hour, skew is noise).
 */
export function isLeaseExpired(lease: V1Lease, nowMs: number): boolean {
  const renewedAt = parseMicroTime(lease.spec?.renewTime);
  const seconds = lease.spec?.leaseDurationSeconds;
  if (renewedAt === undefined || seconds === undefined || seconds === null) return true;
  return renewedAt + seconds * 1000 < nowMs;
}

/**
 * Starts the identity lease GC: a pass every `intervalMs` (unref'd timer) and `collect()` for one now.
 * It lists leases labelled `apiserver.kubernetes.io/identity=kube-apiserver` (1.27+) or
 * `k8s.io/component=kube-apiserver` (1.20–1.26); it never touches a lease without either label.
 *
 * @example
 * const gc = createIdentityGc({ client: kubeConfig, intervalMs: 60 * 60 * 1000 });
 * const { deleted, renewed } = await gc.collect();
 * await gc.stop();
 * @throws HacpError INVALID_ARGUMENT for a bad client, interval or namespace (nothing is sent).
 */
export function createIdentityGc(options: IdentityGcOptions): IdentityGc {
  const namespace = options.namespace ?? IDENTITY_NAMESPACE;
  assertNamespace(namespace);
  return startGc({
    store: leaseStoreFor(options.client, { purpose: 'the identity lease GC', verbs: GC_VERBS }),
    clock: systemClock,
    namespace,
    intervalMs: positiveMs('intervalMs', options.intervalMs ?? 3_600_000),
    logger: resolveLogger(options.logger),
  });
}

/** The GC on any store and clock; {@link createIdentityGc} without validation. */
export function startGc(settings: GcSettings): IdentityGc {
  const { store, clock, namespace, logger } = settings;
  const lifetime = new AbortController();
  const bounded = <T>(what: string, call: (signal: AbortSignal) => Promise<T>) =>
    withTimeout({ clock, timeoutMs: REQUEST_TIMEOUT_MS, parent: lifetime.signal, what, call });
  let queue: Promise<unknown> = Promise.resolve();
  let timer: ClockTimer | undefined;
  let stopped = false;

  async function pass(): Promise<IdentityGcResult> {
    const listed = new Map<string, V1Lease>();
    for (const labelSelector of IDENTITY_LABEL_SELECTORS) {
      const leases = await bounded('listing identity leases', (signal) =>
        store.list({ namespace, labelSelector, signal }),
      );
      for (const lease of leases) {
        const name = lease.metadata?.name;
        if (name) listed.set(name, lease);
      }
    }
    const result: IdentityGcResult = { listed: listed.size, deleted: [], renewed: [], alreadyGone: [] };
    for (const [name, lease] of [...listed].sort(([a], [b]) => a.localeCompare(b))) {
      if (!isLeaseExpired(lease, clock.wallNow())) continue;
      let fresh: V1Lease;
      try {
        fresh = await bounded('reading the lease', (signal) => store.read({ namespace, name, signal }));
      } catch (error) {
        if (!isHacpError(error, ErrorCode.NOT_FOUND)) throw error;
        result.alreadyGone.push(name);
        continue;
      }
      // Relabelled since the list: no longer an identity lease, so not ours to collect.
      if (!hasIdentityLabel(fresh.metadata?.labels) || !isLeaseExpired(fresh, clock.wallNow())) {
        result.renewed.push(name);
        continue;
      }
      try {
        const resourceVersion = fresh.metadata?.resourceVersion;
        await bounded('deleting the lease', (signal) =>
          store.remove({ namespace, name, resourceVersion, signal }),
        );
        result.deleted.push(name);
        logger.info('deleted expired apiserver identity lease', {
          lease: `${namespace}/${name}`,
          holder: fresh.spec?.holderIdentity,
        });
      } catch (error) {
        if (isHacpError(error, ErrorCode.NOT_FOUND)) result.alreadyGone.push(name);
        else if (isHacpError(error, ErrorCode.CONFLICT)) result.renewed.push(name);
        else throw error;
      }
    }
    return result;
  }

  function collect(): Promise<IdentityGcResult> {
    const run = queue.then(pass, pass);
    queue = run.catch(() => undefined);
    return run;
  }

  function schedule(): void {
    if (stopped) return;
    timer = clock.setTimer(() => {
      timer = undefined;
      collect()
        .then((result) => logger.debug('identity lease GC pass', { namespace, ...result }))
        .catch((error: unknown) =>
          logger.warn('identity lease GC pass failed', { namespace, error: String(error) }),
        )
        .finally(schedule);
    }, settings.intervalMs);
  }
  schedule();

  return {
    collect,
    async stop() {
      stopped = true;
      timer?.cancel();
      timer = undefined;
      lifetime.abort(
        new HacpError({ code: ErrorCode.ABORTED, message: 'The identity lease GC was stopped.' }),
      );
      await queue;
    },
  };
}
