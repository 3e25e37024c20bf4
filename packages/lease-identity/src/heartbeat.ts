/**
 * The apiserver identity heartbeat, as kube-apiserver's lease controller runs it
 * (component-helpers/apimachinery/lease/controller.go, kube-up-behaviour.md §7): ensure the lease,
 * renew it every renewInterval with 4% jitter, optimistically on the last version written, and on a
 * conflict re-read with backoff from 100 ms capped at 7 s, up to 5 tries a round.
 */

import { randomUUID } from 'node:crypto';
import {
  backoffDelay,
  ErrorCode,
  HacpError,
  invalidArgument,
  isHacpError,
  type Logger,
  resolveLogger,
} from '@hacp/core';
import type { V1Lease } from '@kubernetes/client-node';
import type { LeaseVerb } from './api-errors.js';
import { type Clock, microTime, parseMicroTime, sleep, systemClock, withTimeout } from './clock.js';
import { type LeaseClient, type LeaseStore, leaseStoreFor } from './lease-store.js';
import {
  type ApiServerIdentityGeneration,
  apiServerIdentityLabels,
  apiServerIdentityName,
  IDENTITY_NAMESPACE,
} from './names.js';
import { assertNamespace, positiveMs } from './validate.js';

/** What {@link createIdentityHeartbeat} takes. */
export interface IdentityHeartbeatOptions {
  client: LeaseClient;
  /** The apiserver's hostname: it names the lease (1.26+) and its `kubernetes.io/hostname` label. */
  hostname: string;
  generation: ApiServerIdentityGeneration;
  /** Time between renewals, plus up to 4% jitter. Default 10000, as the apiserver. */
  renewIntervalMs?: number;
  /** Written as the lease's leaseDurationSeconds. Default 3600, as the apiserver. */
  leaseDurationSeconds?: number;
  /** Default `kube-system`, where apiservers keep them. */
  namespace?: string;
  /** This process's UUID, in the holder identity `<lease name>_<uuid>` (and the 1.20 name). Default: a new one. */
  uuid?: string;
  logger?: Logger;
}

/** A running heartbeat. */
export interface IdentityHeartbeat {
  readonly leaseName: string;
  readonly namespace: string;
  /** `<lease name>_<uuid>`, as the apiserver writes it. */
  readonly holderIdentity: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The renewTime of the last renewal that succeeded (epoch ms). */
  lastRenewedAt(): number | undefined;
  /**
   * Stops renewing and leaves no timers. The lease stays, as an apiserver's does when it stops (the
   * GC removes it once expired); `deleteLease: true` deletes it, unless another holder took it over.
   *
   * @throws HacpError from the delete, only with `deleteLease`; NOT_FOUND is not an error.
   */
  stop(options?: { deleteLease?: boolean }): Promise<void>;
}

/** Everything the heartbeat runs on; the store, clock and randomness are injectable for tests. */
export interface HeartbeatSettings {
  store: LeaseStore;
  clock: Clock;
  random: () => number;
  leaseName: string;
  namespace: string;
  holderIdentity: string;
  labels: Record<string, string>;
  renewIntervalMs: number;
  leaseDurationSeconds: number;
  logger: Logger;
}

/** The verbs a heartbeat needs, for the RBAC suggestion in a 403. */
export const HEARTBEAT_VERBS: readonly LeaseVerb[] = Object.freeze(['get', 'create', 'update', 'delete']);

/** The lease controller's `maxUpdateRetries`. */
export const MAX_UPDATE_RETRIES = 5;
/** The lease controller's conflict backoff: from 100 ms, doubling, capped at `maxBackoff` 7 s. */
export const CONFLICT_BACKOFF = Object.freeze({ minDelayMs: 100, maxDelayMs: 7_000 });
/** The longest a heartbeat request may take (or the renew interval, if longer). */
const REQUEST_TIMEOUT_MS = 10_000;
/** `wait.JitterUntil(sync, renewInterval, 0.04, sliding)`. */
const RENEW_JITTER = 0.04;

/**
 * Starts an apiserver identity heartbeat: ensures the lease (creating it with the generation's name,
 * labels and holder identity), then renews it every `renewIntervalMs` until `stop()`. Resolves once
 * the lease exists and carries this process's renewal.
 *
 * @example
 * const heartbeat = await createIdentityHeartbeat({ client: kubeConfig, hostname: 'master-1', generation: '1.27' });
 * heartbeat.leaseName; // 'apiserver-wj467rbl25eeviqacfhvg2yvnm'
 * await heartbeat.stop(); // the lease stays until the GC collects it
 * @throws HacpError INVALID_ARGUMENT for an empty hostname, an unknown generation or bad timings
 *   (nothing is sent); NOT_FOUND when the namespace does not exist; PERMISSION_DENIED (with the Role
 *   to grant) or UNAUTHENTICATED; UNAVAILABLE when the API server did not answer after retries.
 */
export async function createIdentityHeartbeat(options: IdentityHeartbeatOptions): Promise<IdentityHeartbeat> {
  const uuid = options.uuid ?? randomUUID();
  const leaseName = apiServerIdentityName({
    hostname: options.hostname,
    generation: options.generation,
    uuid,
  });
  const labels = apiServerIdentityLabels({ hostname: options.hostname, generation: options.generation });
  const namespace = options.namespace ?? IDENTITY_NAMESPACE;
  assertNamespace(namespace);
  const leaseDurationSeconds = options.leaseDurationSeconds ?? 3600;
  if (!Number.isInteger(leaseDurationSeconds) || leaseDurationSeconds <= 0) {
    throw invalidArgument({
      field: 'leaseDurationSeconds',
      message: `leaseDurationSeconds must be a whole number of seconds above zero (got ${String(leaseDurationSeconds)}).`,
    });
  }
  return startHeartbeat({
    store: leaseStoreFor(options.client, {
      purpose: 'the apiserver identity heartbeat',
      verbs: HEARTBEAT_VERBS,
    }),
    clock: systemClock,
    random: Math.random,
    leaseName,
    namespace,
    holderIdentity: `${leaseName}_${uuid}`,
    labels,
    renewIntervalMs: positiveMs('renewIntervalMs', options.renewIntervalMs ?? 10_000),
    leaseDurationSeconds,
    logger: resolveLogger(options.logger),
  });
}

/** The heartbeat on any store and clock; {@link createIdentityHeartbeat} without validation. */
export async function startHeartbeat(settings: HeartbeatSettings): Promise<IdentityHeartbeat> {
  const { store, clock, random, leaseName, namespace, holderIdentity, labels, logger } = settings;
  const fields = { lease: `${namespace}/${leaseName}` };
  const lifetime = new AbortController();
  let latest: V1Lease | undefined;
  let lastRenewedAt: number | undefined;
  let stopping = false;

  // A slow answer only delays the next renewal; the bound is there so that a hung request cannot stall it forever.
  const requestTimeoutMs = Math.max(settings.renewIntervalMs, REQUEST_TIMEOUT_MS);
  const request = <T>(what: string, call: (signal: AbortSignal) => Promise<T>) =>
    withTimeout({ clock, timeoutMs: requestTimeoutMs, parent: lifetime.signal, what, call });

  /** The lease as this process writes it: ours, renewed now, labelled for its generation. */
  function renewed(base: V1Lease | undefined): V1Lease {
    return {
      ...base,
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...base?.metadata,
        name: leaseName,
        namespace,
        labels: { ...base?.metadata?.labels, ...labels },
      },
      spec: {
        ...base?.spec,
        holderIdentity,
        leaseDurationSeconds: settings.leaseDurationSeconds,
        renewTime: microTime(clock.wallNow()),
      },
    };
  }

  function wrote(lease: V1Lease): void {
    latest = lease;
    lastRenewedAt = parseMicroTime(lease.spec?.renewTime) ?? clock.wallNow();
  }

  /** GET the lease, or create it when absent. */
  async function ensure(): Promise<{ lease: V1Lease; created: boolean }> {
    try {
      return {
        lease: await request('reading the lease', (signal) =>
          store.read({ namespace, name: leaseName, signal }),
        ),
        created: false,
      };
    } catch (error) {
      if (!isHacpError(error, ErrorCode.NOT_FOUND) || error.details.kind === 'namespaces') throw error;
      const lease = await request('creating the lease', (signal) =>
        store.create({ namespace, lease: renewed(undefined), signal }),
      );
      wrote(lease);
      return { lease, created: true };
    }
  }

  const backoff = (attempt: number) => backoffDelay({ attempt, ...CONFLICT_BACKOFF, random });

  /** ensure(), retried with backoff while the failure is retryable (a create race, an unavailable API). */
  async function ensureWithBackoff(): Promise<{ lease: V1Lease; created: boolean }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await ensure();
      } catch (error) {
        if (stopping || !isHacpError(error) || !error.retryable || attempt + 1 >= MAX_UPDATE_RETRIES)
          throw error;
        logger.debug('could not ensure the identity lease; retrying', { ...fields, error: String(error) });
        await sleep(clock, backoff(attempt), lifetime.signal);
      }
    }
  }

  /** The lease controller's retryUpdateLease: PUT; on a conflict re-read after backoff and try again. */
  async function retryUpdate(base: V1Lease): Promise<void> {
    let current = base;
    let lastError: unknown;
    for (let attempt = 0; attempt < MAX_UPDATE_RETRIES; attempt++) {
      try {
        wrote(
          await request('renewing the lease', (signal) =>
            store.replace({ namespace, lease: renewed(current), signal }),
          ),
        );
        return;
      } catch (error) {
        lastError = error;
        if (stopping || !isHacpError(error)) throw error;
        const stale = error.code === ErrorCode.CONFLICT || error.code === ErrorCode.NOT_FOUND;
        if (!stale && !error.retryable) throw error;
        logger.debug('identity lease update failed; retrying', { ...fields, attempt, error: String(error) });
        await sleep(clock, backoff(attempt), lifetime.signal);
        if (stale) {
          const ensured = await ensure();
          if (ensured.created) return;
          current = ensured.lease;
        }
      }
    }
    throw new HacpError({
      code: isHacpError(lastError, ErrorCode.CONFLICT) ? ErrorCode.CONFLICT : ErrorCode.UNAVAILABLE,
      message: `Could not renew identity lease ${namespace}/${leaseName} in ${MAX_UPDATE_RETRIES} attempts.`,
      details: { lease: leaseName, namespace, attempts: MAX_UPDATE_RETRIES },
      cause: lastError,
    });
  }

  async function sync(): Promise<void> {
    if (latest) {
      try {
        await retryUpdate(latest);
        return;
      } catch (error) {
        if (stopping) throw error;
        logger.info('renewing on the last version failed; reading the lease again', {
          ...fields,
          error: String(error),
        });
      }
    }
    const { lease, created } = await ensureWithBackoff();
    if (!created) await retryUpdate(lease);
  }

  try {
    await sync();
  } catch (error) {
    stopping = true;
    lifetime.abort(error);
    throw error;
  }
  logger.info('identity lease ensured', { ...fields, holderIdentity });

  const loop = (async () => {
    for (;;) {
      try {
        await sleep(clock, settings.renewIntervalMs * (1 + RENEW_JITTER * random()), lifetime.signal);
        await sync();
      } catch (error) {
        if (stopping) return;
        logger.warn('identity lease renewal failed; will retry', { ...fields, error: String(error) });
      }
    }
  })();

  let stopped: Promise<void> | undefined;
  async function deleteLease(): Promise<void> {
    const remove = (resourceVersion: string | undefined) =>
      withTimeout({
        clock,
        timeoutMs: requestTimeoutMs,
        what: 'deleting the lease',
        call: (signal) => store.remove({ namespace, name: leaseName, resourceVersion, signal }),
      });
    try {
      await remove(latest?.metadata?.resourceVersion);
    } catch (error) {
      if (isHacpError(error, ErrorCode.NOT_FOUND)) return;
      if (!isHacpError(error, ErrorCode.CONFLICT)) throw error;
      // Changed since our last write: delete it only if it is still ours.
      let current: V1Lease;
      try {
        current = await withTimeout({
          clock,
          timeoutMs: requestTimeoutMs,
          what: 'reading the lease',
          call: (signal) => store.read({ namespace, name: leaseName, signal }),
        });
      } catch (readError) {
        if (isHacpError(readError, ErrorCode.NOT_FOUND)) return;
        throw readError;
      }
      if (current.spec?.holderIdentity !== holderIdentity) {
        logger.info('identity lease has another holder now; left it', {
          ...fields,
          holder: current.spec?.holderIdentity,
        });
        return;
      }
      try {
        await remove(current.metadata?.resourceVersion);
      } catch (retryError) {
        if (!isHacpError(retryError, ErrorCode.NOT_FOUND)) throw retryError;
      }
    }
  }

  return {
    leaseName,
    namespace,
    holderIdentity,
    labels: Object.freeze({ ...labels }),
    lastRenewedAt: () => lastRenewedAt,
    stop(options) {
      stopped ??= (async () => {
        stopping = true;
        lifetime.abort(
          new HacpError({ code: ErrorCode.ABORTED, message: 'The identity heartbeat was stopped.' }),
        );
        await loop;
      })();
      return options?.deleteLease ? stopped.then(deleteLease) : stopped;
    },
  };
}
