/**
 * Leader election on a Lease, with client-go's record semantics (holderIdentity, acquireTime,
 * renewTime, leaseDurationSeconds, leaseTransitions; the same fast path, expiry rule and release), so
 * hacp electors and client-go ones (kube-controller-manager, kube-scheduler) can share a lease.
 *
 * Safety: a follower takes over only after it has watched the record stay unchanged for the record's
 * lease duration, counted on its own clock from when it saw the record. A leader believes it leads only
 * until renewDeadline after it *sent* its last successful write, which the follower can only have seen
 * later; with renewDeadline < leaseDuration the leader's belief ends before any follower may acquire,
 * whatever the request latency. (client-go counts from the answer, so a slow answer stretches it.)
 * Timestamps in the record are never compared across hosts; clock skew rate up to leaseDuration /
 * renewDeadline is tolerated, as client-go documents.
 */
import { ErrorCode, HacpError, invalidArgument, isHacpError, type Logger, resolveLogger } from '@hacp/core';
import type { V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { LeaseVerb } from './api-errors.js';
import { type Clock, type ClockTimer, microTime, sleep, systemClock, withTimeout } from './clock.js';
import { type LeaseClient, type LeaseStore, leaseStoreFor } from './lease-store.js';
import { assertLeaseName, assertNamespace, positiveMs } from './validate.js';

/** Why an elector stopped leading. */
export type StoppedLeadingReason =
  /** No renewal succeeded within renewDeadlineMs of the last one sent. */
  | 'renew-deadline'
  /** The lease shows another holder (someone edited it by hand, or its clock ran far too fast). */
  | 'lost'
  /** `stop()` was called. */
  | 'stopped';

/** What `onStartedLeading` receives. */
export interface Leadership {
  identity: string;
  /** Aborts the moment this term of leadership ends: hand it to the work that must stop then. */
  signal: AbortSignal;
}

/** What {@link createLeaderElector} takes. */
export interface LeaderElectorOptions {
  client: LeaseClient;
  /** The Lease's name, e.g. `kube-controller-manager` or your component's. */
  name: string;
  namespace: string;
  /** This candidate's unique identity; client-go components use `<hostname>_<uuid>`. */
  identity: string;
  /** How long followers wait, from when they saw the record last change, before taking over. A whole number of seconds, as the Lease stores it. Default 15000. */
  leaseDurationMs?: number;
  /** How long the leader keeps leading without a successful renewal. Must be below leaseDurationMs. Default 10000. */
  renewDeadlineMs?: number;
  /** The time between attempts, leading or following. Default 2000. */
  retryPeriodMs?: number;
  /**
   * On `stop()`, hand the lease over at once (holder cleared, duration 1 s) instead of letting it
   * expire. Only after `onStoppedLeading` has settled, so guarded work is done first. Default false.
   */
  releaseOnCancel?: boolean;
  /** Called when this candidate starts leading; may start work bound to `leadership.signal`. */
  onStartedLeading?: (leadership: Leadership) => void | Promise<void>;
  /** Called when this candidate stops leading, for any reason; `stop()` waits for its promise. */
  onStoppedLeading?: (event: { reason: StoppedLeadingReason }) => void | Promise<void>;
  /** Called when the observed holder changes to a new, non-empty identity (this one included). */
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
}

/** A running candidate. */
export interface LeaderElector {
  readonly identity: string;
  readonly name: string;
  readonly namespace: string;
  /** True while this candidate leads: it holds the lease and its renew deadline has not passed. */
  isLeader(): boolean;
  /** The holder last observed, or undefined when none was (or the lease was released). */
  leader(): string | undefined;
  /**
   * Stops campaigning: ends leadership (calling onStoppedLeading and awaiting it), then, with
   * `release` (default: `releaseOnCancel`), hands the lease over. Leaves no timers. Never throws: a
   * release that fails is logged and the lease expires instead. Do not await it inside
   * `onStoppedLeading`, which it awaits.
   */
  stop(options?: { release?: boolean }): Promise<void>;
}

/** Everything the state machine runs on; the clock, store and randomness are injectable for tests. */
export interface ElectorSettings {
  store: LeaseStore;
  clock: Clock;
  random: () => number;
  name: string;
  namespace: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  releaseOnCancel: boolean;
  onStartedLeading?: LeaderElectorOptions['onStartedLeading'];
  onStoppedLeading?: LeaderElectorOptions['onStoppedLeading'];
  onNewLeader?: LeaderElectorOptions['onNewLeader'];
  logger: Logger;
}

/** The lease record fields the election reads, as client-go's LeaderElectionRecord has them. */
interface LeaderRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: unknown;
  renewTime: unknown;
  leaseTransitions: number;
}

/** The verbs an elector needs, for the RBAC suggestion in a 403. */
export const ELECTOR_VERBS: readonly LeaseVerb[] = Object.freeze(['get', 'create', 'update']);

// client-go waits retryPeriod × [1, 2.2) between follower attempts; hacp waits retryPeriod × [0.9, 1],
// so a follower sees each renewal within one retry period and can bound takeover by lease + retry.
const FOLLOWER_JITTER = 0.1;

function recordOf(lease: V1Lease): LeaderRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: spec.acquireTime,
    renewTime: spec.renewTime,
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

/** The record as compared between reads: client-go compares the serialised record, not the resourceVersion. */
function rawOf(record: LeaderRecord): string {
  return JSON.stringify([
    record.holderIdentity,
    record.leaseDurationSeconds,
    record.acquireTime ?? null,
    record.renewTime ?? null,
    record.leaseTransitions,
  ]);
}

function stoppedError(): HacpError {
  return new HacpError({ code: ErrorCode.ABORTED, message: 'The leader elector was stopped.' });
}

/**
 * Validates the timing options as client-go's NewLeaderElector does, plus whole seconds for the
 * lease (Lease.spec.leaseDurationSeconds is an integer; rounding it would change what others wait).
 */
function electorTimings(options: {
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}): { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number } {
  const leaseDurationMs = positiveMs('leaseDurationMs', options.leaseDurationMs ?? 15_000);
  const renewDeadlineMs = positiveMs('renewDeadlineMs', options.renewDeadlineMs ?? 10_000);
  const retryPeriodMs = positiveMs('retryPeriodMs', options.retryPeriodMs ?? 2_000);
  if (leaseDurationMs % 1000 !== 0) {
    throw invalidArgument({
      field: 'leaseDurationMs',
      message: `leaseDurationMs must be a whole number of seconds (got ${leaseDurationMs}): the Lease stores leaseDurationSeconds as an integer, and followers wait what it says.`,
      value: leaseDurationMs,
    });
  }
  if (!(renewDeadlineMs < leaseDurationMs)) {
    throw invalidArgument({
      field: 'renewDeadlineMs',
      message: `renewDeadlineMs (${renewDeadlineMs}) must be less than leaseDurationMs (${leaseDurationMs}): a leader must stop leading before any follower may take over.`,
      value: renewDeadlineMs,
    });
  }
  if (!(renewDeadlineMs > 1.2 * retryPeriodMs)) {
    throw invalidArgument({
      field: 'retryPeriodMs',
      message: `renewDeadlineMs (${renewDeadlineMs}) must be more than 1.2 × retryPeriodMs (${retryPeriodMs}), as client-go requires, so a leader gets more than one try to renew.`,
      value: retryPeriodMs,
    });
  }
  return { leaseDurationMs, renewDeadlineMs, retryPeriodMs };
}

/**
 * Starts a candidate for leadership of a Lease and makes its first attempt before returning, so
 * misconfiguration (no such namespace, missing RBAC, bad credentials) fails here rather than in the
 * background. Afterwards it keeps campaigning until `stop()`: a leader renews every retryPeriod, a
 * follower reads every retryPeriod and takes over once the record has stood unchanged for the lease
 * duration. After losing leadership it campaigns again (client-go's Run returns instead).
 *
 * @example
 * const elector = await createLeaderElector({
 *   client: kubeConfig,
 *   name: 'my-controller',
 *   namespace: 'kube-system',
 *   identity: `${hostname()}_${randomUUID()}`,
 *   onStartedLeading: ({ signal }) => runController({ signal }),
 *   onStoppedLeading: ({ reason }) => logger.warn(`stopped leading: ${reason}`),
 * });
 * // ...
 * await elector.stop();
 * @throws HacpError INVALID_ARGUMENT for bad options (nothing is sent); NOT_FOUND when the namespace
 *   does not exist; PERMISSION_DENIED (with the Role to grant) or UNAUTHENTICATED from the API server;
 *   a first attempt that fails only for a retryable reason (UNAVAILABLE) does not throw: the elector
 *   keeps trying and logs it.
 */
export async function createLeaderElector(options: LeaderElectorOptions): Promise<LeaderElector> {
  assertLeaseName(options.name);
  assertNamespace(options.namespace);
  if (typeof options.identity !== 'string' || options.identity === '') {
    throw invalidArgument({
      field: 'identity',
      message: 'identity is empty: each candidate needs a unique identity, e.g. <hostname>_<uuid>.',
    });
  }
  const timings = electorTimings(options);
  const store = leaseStoreFor(options.client, { purpose: 'leader election', verbs: ELECTOR_VERBS });
  return startElector({
    ...timings,
    store,
    clock: systemClock,
    random: Math.random,
    name: options.name,
    namespace: options.namespace,
    identity: options.identity,
    releaseOnCancel: options.releaseOnCancel ?? false,
    onStartedLeading: options.onStartedLeading,
    onStoppedLeading: options.onStoppedLeading,
    onNewLeader: options.onNewLeader,
    logger: resolveLogger(options.logger),
  });
}

/** The elector's state machine on any store and clock; {@link createLeaderElector} without validation. */
export async function startElector(settings: ElectorSettings): Promise<LeaderElector> {
  const { store, clock, random, name, namespace, identity, logger } = settings;
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = settings;
  const lifetime = new AbortController();
  const fields = { lease: `${namespace}/${name}`, identity };

  /** The last version of the lease seen: the precondition of the leader's optimistic renewal. */
  let lease: V1Lease | undefined;
  let observed: { record: LeaderRecord; raw: string; at: number } | undefined;
  let reportedLeader: string | undefined;
  let leading = false;
  let leadingUntil = Number.NEGATIVE_INFINITY;
  let leadership: AbortController | undefined;
  let deadlineTimer: ClockTimer | undefined;
  let stopping = false;

  const isLeader = () => leading && clock.now() < leadingUntil;

  /** Calls a user callback; what it throws or rejects with is logged, never propagated. */
  function callback(what: string, run: () => void | Promise<void>): Promise<void> {
    try {
      return Promise.resolve(run()).catch((error: unknown) => {
        logger.error(`${what} callback failed`, { ...fields, error: String(error) });
      });
    } catch (error) {
      logger.error(`${what} callback threw`, { ...fields, error: String(error) });
      return Promise.resolve();
    }
  }

  function reportLeader(): void {
    const holder = observed?.record.holderIdentity || undefined;
    if (holder === reportedLeader) return;
    reportedLeader = holder;
    if (holder !== undefined && settings.onNewLeader) {
      const onNewLeader = settings.onNewLeader;
      void callback('onNewLeader', () => onNewLeader(holder));
    }
  }

  function observe(current: V1Lease, always: boolean): void {
    lease = current;
    const record = recordOf(current);
    const raw = rawOf(record);
    if (always || observed?.raw !== raw) observed = { record, raw, at: clock.now() };
    reportLeader();
  }

  /** When the observed holder's lease runs out on this clock; undefined when free or ours. */
  function observedExpiry(): number | undefined {
    if (!observed || observed.record.holderIdentity === '' || observed.record.holderIdentity === identity) {
      return undefined;
    }
    return observed.at + observed.record.leaseDurationSeconds * 1000;
  }

  function armDeadline(): void {
    deadlineTimer?.cancel();
    deadlineTimer = clock.setTimer(onDeadline, leadingUntil - clock.now());
  }

  function onDeadline(): void {
    deadlineTimer = undefined;
    if (!leading) return;
    if (clock.now() < leadingUntil) {
      armDeadline();
      return;
    }
    logger.warn('stopped leading: no renewal succeeded within the renew deadline', {
      ...fields,
      renewDeadlineMs,
    });
    void stepDown('renew-deadline');
  }

  /** A write sent at `sentAt` succeeded: lead until renewDeadline after it, unless that is past already. */
  function confirm(sentAt: number): void {
    const until = sentAt + renewDeadlineMs;
    if (clock.now() >= until || stopping) return;
    leadingUntil = Math.max(leadingUntil, until);
    armDeadline();
    if (leading) return;
    leading = true;
    leadership = new AbortController();
    logger.info('started leading', fields);
    const onStartedLeading = settings.onStartedLeading;
    if (onStartedLeading) {
      const signal = leadership.signal;
      void callback('onStartedLeading', () => onStartedLeading({ identity, signal }));
    }
  }

  function stepDown(reason: StoppedLeadingReason): Promise<void> {
    if (!leading) return Promise.resolve();
    leading = false;
    leadingUntil = Number.NEGATIVE_INFINITY;
    deadlineTimer?.cancel();
    deadlineTimer = undefined;
    leadership?.abort(
      new HacpError({
        code: ErrorCode.ABORTED,
        message: `Leadership of lease ${namespace}/${name} ended (${reason}).`,
        details: { reason },
      }),
    );
    leadership = undefined;
    if (reason !== 'renew-deadline') logger.info('stopped leading', { ...fields, reason });
    const onStoppedLeading = settings.onStoppedLeading;
    return onStoppedLeading
      ? callback('onStoppedLeading', () => onStoppedLeading({ reason }))
      : Promise.resolve();
  }

  /** A store call bounded by the leader's deadline (or renewDeadline when following) and by stop(). */
  function request<T>(what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = isLeader() ? leadingUntil - clock.now() : renewDeadlineMs;
    return withTimeout({ clock, timeoutMs, parent: lifetime.signal, what, call });
  }

  function written(base: V1Lease, record: LeaderRecord): V1Lease {
    return {
      ...base,
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...base.metadata, name, namespace },
      spec: {
        ...base.spec,
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        // Read back, MicroTimes are the server's strings (client-node does not parse them); kept as sent.
        acquireTime: record.acquireTime as V1MicroTime | undefined,
        renewTime: record.renewTime as V1MicroTime | undefined,
        leaseTransitions: record.leaseTransitions,
      },
    };
  }

  /** The record this candidate writes to renew (keeping acquireTime and transitions) or take over. */
  function ours(base: LeaderRecord | undefined, holding: boolean): LeaderRecord {
    const now = microTime(clock.wallNow());
    return {
      holderIdentity: identity,
      leaseDurationSeconds: leaseDurationMs / 1000,
      acquireTime: holding && base ? base.acquireTime : now,
      renewTime: now,
      leaseTransitions: holding && base ? base.leaseTransitions : (base?.leaseTransitions ?? -1) + 1,
    };
  }

  /** client-go's tryAcquireOrRenew. */
  async function attempt(): Promise<void> {
    // 1. The leader's fast path: one PUT on the version it last wrote.
    if (isLeader() && lease && observed) {
      const sentAt = clock.now();
      const base = lease;
      const record = ours(observed.record, true);
      try {
        const result = await request('renewing the lease', (signal) =>
          store.replace({ namespace, lease: written(base, record), signal }),
        );
        observe(result, true);
        confirm(sentAt);
        return;
      } catch (error) {
        if (stopping) throw error;
        logger.debug('optimistic renewal failed, reading the lease', { ...fields, error: String(error) });
      }
    }
    // 2. Read the lease, or create it.
    let current: V1Lease;
    try {
      current = await request('reading the lease', (signal) => store.read({ namespace, name, signal }));
    } catch (error) {
      if (!isHacpError(error, ErrorCode.NOT_FOUND)) throw error;
      const sentAt = clock.now();
      const record = ours(undefined, false);
      const created = await request('creating the lease', (signal) =>
        store.create({ namespace, lease: written({ metadata: { name, namespace } }, record), signal }),
      );
      observe(created, true);
      confirm(sentAt);
      return;
    }
    observe(current, false);
    const record = recordOf(current);
    const holding = record.holderIdentity === identity;
    if (record.holderIdentity !== '' && !holding) {
      const expiry = observedExpiry();
      if (expiry === undefined || clock.now() < expiry) {
        // Held by another and not expired: if this candidate thought it led, it does not.
        if (leading) void stepDown('lost');
        return;
      }
      logger.info('lease expired, taking over', { ...fields, previousHolder: record.holderIdentity });
    }
    // 3. Acquire or renew on the version just read.
    const sentAt = clock.now();
    const next = ours(record, holding);
    const result = await request(holding ? 'renewing the lease' : 'acquiring the lease', (signal) =>
      store.replace({ namespace, lease: written(current, next), signal }),
    );
    observe(result, true);
    confirm(sentAt);
  }

  function nextAttemptAt(startedAt: number): number {
    if (isLeader()) return startedAt + retryPeriodMs;
    const polled = startedAt + retryPeriodMs * (1 - FOLLOWER_JITTER * random());
    // Try again exactly when the holder's lease runs out, rather than up to a retry period later.
    const expiry = observedExpiry();
    return expiry !== undefined && expiry > clock.now() && expiry < polled ? expiry : polled;
  }

  async function campaign(): Promise<void> {
    for (;;) {
      const startedAt = clock.now();
      try {
        await attempt();
      } catch (error) {
        if (stopping) return;
        const quiet = isHacpError(error, ErrorCode.CONFLICT) || isHacpError(error, ErrorCode.ALREADY_EXISTS);
        logger[quiet ? 'debug' : 'warn']('leader election attempt failed', {
          ...fields,
          error: String(error),
        });
      }
      if (stopping) return;
      try {
        await sleep(clock, Math.max(0, nextAttemptAt(startedAt) - clock.now()), lifetime.signal);
      } catch {
        return;
      }
    }
  }

  /** Hands the lease over: holder cleared, duration 1 s, as client-go's release writes it. */
  async function release(): Promise<void> {
    const releaseRecord = (base: LeaderRecord): LeaderRecord => {
      const now = microTime(clock.wallNow());
      return {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: base.leaseTransitions,
      };
    };
    const put = (base: V1Lease) =>
      withTimeout({
        clock,
        timeoutMs: renewDeadlineMs,
        what: 'releasing the lease',
        call: (signal) =>
          store.replace({ namespace, lease: written(base, releaseRecord(recordOf(base))), signal }),
      });
    try {
      if (!lease) return;
      try {
        observe(await put(lease), true);
      } catch (error) {
        if (!isHacpError(error, ErrorCode.CONFLICT)) throw error;
        // A renewal aborted by stop() may have landed; release the version that is there if still ours.
        const current = await withTimeout({
          clock,
          timeoutMs: renewDeadlineMs,
          what: 'reading the lease',
          call: (signal) => store.read({ namespace, name, signal }),
        });
        if (recordOf(current).holderIdentity === identity) observe(await put(current), true);
      }
      logger.info('released the lease', fields);
    } catch (error) {
      logger.warn('could not release the lease; it will expire instead', { ...fields, error: String(error) });
    }
  }

  // The first attempt runs before returning, so that what cannot work fails the caller.
  const firstStartedAt = clock.now();
  try {
    await attempt();
  } catch (error) {
    if (isHacpError(error) && !error.retryable) {
      stopping = true;
      lifetime.abort(stoppedError());
      deadlineTimer?.cancel();
      throw error;
    }
    logger.warn('first leader election attempt failed; will retry', { ...fields, error: String(error) });
  }
  const campaigning = (async () => {
    try {
      await sleep(clock, Math.max(0, nextAttemptAt(firstStartedAt) - clock.now()), lifetime.signal);
    } catch {
      return;
    }
    await campaign();
  })();
  let stopped: Promise<void> | undefined;

  return {
    identity,
    name,
    namespace,
    isLeader,
    leader: () => observed?.record.holderIdentity || undefined,
    stop(options) {
      stopped ??= (async () => {
        stopping = true;
        lifetime.abort(stoppedError());
        await campaigning;
        const holder = observed?.record.holderIdentity === identity;
        await stepDown('stopped');
        deadlineTimer?.cancel();
        if ((options?.release ?? settings.releaseOnCancel) && holder) await release();
      })();
      return stopped;
    },
  };
}
