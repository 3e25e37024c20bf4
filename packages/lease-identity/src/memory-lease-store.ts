/**
 * An in-memory Lease API with the semantics the lease code relies on (resourceVersion preconditions,
 * create conflicts, label selectors, missing namespaces, MicroTime validation), request latency on a
 * controllable clock, and per-connection faults. Test support: not exported from the package.
 */
import { ApiException, type V1Lease } from '@kubernetes/client-node';
import { type LeaseVerb, leaseApiError } from './api-errors.js';
import type { Clock } from './clock.js';
import type { LeaseStore, LeaseStoreUse } from './lease-store.js';

/** One request as the server saw it. */
export interface MemoryRequest {
  connection: string;
  verb: LeaseVerb;
  namespace: string;
  name?: string;
  /** Clock time the request was sent, and when it took effect (undefined: it never did). */
  sentAt: number;
  committedAt?: number;
  status?: number;
}

/** How a connection behaves: `up`; `fail` answers 503 without effect; `hang` never answers until aborted. */
export type ConnectionState = 'up' | 'fail' | 'hang' | 'forbidden';

export interface MemoryConnection extends LeaseStore {
  state: ConnectionState;
}

// The Go apiserver parses MicroTime as RFC 3339 with exactly six fractional digits.
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

function apiException(code: number, reason: string, message: string): ApiException<string> {
  return new ApiException(
    code,
    message,
    JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }),
    {},
  );
}

/** A JSON round trip: what the wire does to a body (V1MicroTime becomes its six-digit string). */
function wire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function matches(labels: Record<string, string> | undefined, selector: string): boolean {
  if (selector === '') return true;
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=');
    return key !== undefined && labels?.[key] === value;
  });
}

export class MemoryLeaseServer {
  readonly requests: MemoryRequest[] = [];
  private readonly namespaces = new Set<string>(['kube-system', 'default']);
  private readonly leases = new Map<string, V1Lease>();
  private version = 1;
  /** Runs right before a request takes effect: where a test changes the world between two calls. */
  beforeCommit: ((request: MemoryRequest) => void) | undefined;

  constructor(private readonly clock: Clock) {}

  createNamespace(name: string): void {
    this.namespaces.add(name);
  }

  /** The stored lease (a copy), or undefined. */
  lease(namespace: string, name: string): V1Lease | undefined {
    const lease = this.leases.get(`${namespace}/${name}`);
    return lease === undefined ? undefined : wire(lease);
  }

  /** Writes a lease directly, as another client would; returns the stored copy. */
  put(namespace: string, lease: V1Lease): V1Lease {
    const name = lease.metadata?.name ?? '';
    const existing = this.leases.get(`${namespace}/${name}`);
    const stored = wire(lease);
    stored.metadata = {
      ...stored.metadata,
      name,
      namespace,
      resourceVersion: String(++this.version),
      creationTimestamp: existing?.metadata?.creationTimestamp ?? new Date(this.clock.wallNow()),
    };
    this.leases.set(`${namespace}/${name}`, stored);
    return wire(stored);
  }

  /** Deletes a lease directly, as another client would. */
  drop(namespace: string, name: string): void {
    this.leases.delete(`${namespace}/${name}`);
  }

  private validate(lease: V1Lease): void {
    for (const field of ['renewTime', 'acquireTime'] as const) {
      const value: unknown = lease.spec?.[field];
      if (value !== undefined && value !== null && (typeof value !== 'string' || !MICRO_TIME.test(value))) {
        throw apiException(
          400,
          'BadRequest',
          `spec.${field}: cannot parse ${JSON.stringify(value)} as MicroTime`,
        );
      }
    }
  }

  /** The request's effect on the stored state: the response body, or a thrown ApiException. */
  private apply(request: MemoryRequest, body: unknown): unknown {
    const { verb, namespace, name } = request;
    const key = `${namespace}/${name ?? ''}`;
    const existing = this.leases.get(key);
    switch (verb) {
      case 'get':
        if (!existing) throw apiException(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`);
        return wire(existing);
      case 'list':
        return [...this.leases.entries()]
          .filter(
            ([k, lease]) => k.startsWith(`${namespace}/`) && matches(lease.metadata?.labels, body as string),
          )
          .map(([, lease]) => wire(lease));
      case 'create': {
        if (!this.namespaces.has(namespace)) {
          throw apiException(404, 'NotFound', `namespaces "${namespace}" not found`);
        }
        const lease = wire(body as V1Lease);
        this.validate(lease);
        if (existing)
          throw apiException(409, 'AlreadyExists', `leases.coordination.k8s.io "${name}" already exists`);
        return this.put(namespace, lease);
      }
      case 'update': {
        const lease = wire(body as V1Lease);
        this.validate(lease);
        if (!existing) throw apiException(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`);
        if (lease.metadata?.resourceVersion !== existing.metadata?.resourceVersion) {
          throw apiException(
            409,
            'Conflict',
            'the object has been modified; please apply your changes to the latest version and try again',
          );
        }
        return this.put(namespace, lease);
      }
      case 'delete': {
        if (!existing) throw apiException(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`);
        const precondition = body as string | undefined;
        if (precondition !== undefined && precondition !== existing.metadata?.resourceVersion) {
          throw apiException(
            409,
            'Conflict',
            'Precondition failed: ResourceVersion in precondition does not match',
          );
        }
        this.leases.delete(key);
        return undefined;
      }
    }
  }

  /**
   * A client connection: each request takes `latency()` ms to reach the server and `answerLatency()`
   * to answer (both on `clock`), and honours its abort signal like a closed socket: before the server
   * acts, nothing happens; after, the effect stays and only the answer is lost.
   */
  connect(options: {
    name: string;
    use: LeaseStoreUse;
    /** Milliseconds a request takes to reach the server. Default 1. */
    latency?: () => number;
    /** Milliseconds an answer takes to come back. Default: the same as `latency`. */
    answerLatency?: () => number;
    clock?: Clock;
  }): MemoryConnection {
    const clock = options.clock ?? this.clock;
    const latency = options.latency ?? (() => 1);
    const answerLatency = options.answerLatency ?? latency;
    const send = <T>(
      verb: LeaseVerb,
      where: { namespace: string; name?: string },
      body: unknown,
      signal: AbortSignal | undefined,
    ): Promise<T> => {
      const request: MemoryRequest = { connection: options.name, verb, ...where, sentAt: clock.now() };
      this.requests.push(request);
      const call = { verb, ...where, purpose: options.use.purpose, verbs: options.use.verbs };
      const state = connection.state;
      return new Promise<T>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        let answer: ReturnType<Clock['setTimer']> | undefined;
        const onAbort = () => {
          commit.cancel();
          answer?.cancel();
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const settleWith = (outcome: () => void) => {
          answer = clock.setTimer(() => {
            signal?.removeEventListener('abort', onAbort);
            outcome();
          }, answerLatency());
        };
        const commit = clock.setTimer(
          () => {
            if (state === 'hang') return;
            if (state === 'fail') {
              request.status = 503;
              const error = leaseApiError(apiException(503, 'ServiceUnavailable', 'unavailable'), call);
              settleWith(() => reject(error));
              return;
            }
            if (state === 'forbidden') {
              request.status = 403;
              const error = leaseApiError(apiException(403, 'Forbidden', `forbidden: ${verb} leases`), call);
              settleWith(() => reject(error));
              return;
            }
            this.beforeCommit?.(request);
            request.committedAt = clock.now();
            try {
              const result = this.apply(request, body) as T;
              request.status = 200;
              settleWith(() => resolve(result));
            } catch (error) {
              request.status = (error as ApiException<string>).code;
              const mapped = leaseApiError(error, call);
              settleWith(() => reject(mapped));
            }
          },
          state === 'hang' ? Number.MAX_SAFE_INTEGER : latency(),
        );
      });
    };
    const connection: MemoryConnection = {
      state: 'up',
      read: ({ namespace, name, signal }) => send('get', { namespace, name }, undefined, signal),
      create: ({ namespace, lease, signal }) =>
        send('create', { namespace, name: lease.metadata?.name ?? '' }, wire(lease), signal),
      replace: ({ namespace, lease, signal }) =>
        send('update', { namespace, name: lease.metadata?.name ?? '' }, wire(lease), signal),
      list: ({ namespace, labelSelector, signal }) => send('list', { namespace }, labelSelector, signal),
      remove: ({ namespace, name, resourceVersion, signal }) =>
        send('delete', { namespace, name }, resourceVersion, signal),
    };
    return connection;
  }
}
