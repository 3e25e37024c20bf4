/**
 * The membership client's connections: one etcd3 client per member endpoint, each behind a loopback
 * relay that hacp owns (see relay.ts), a deadline on every call, the routes a read may take, and a
 * `close` that leaves nothing open.
 */
import { isIP } from 'node:net';
import { ErrorCode, HacpError, invalidArgument, type Logger, resolveLogger } from '@hacp/core';
import { noop } from 'cockatiel';
import { Etcd3, GRPCUnavailableError } from 'etcd3';
import { EtcdReason, etcdReasonOf, toHacpError } from './errors.js';
import { type MemberRelay, openRelay } from './relay.js';
import type { CallOptions, EtcdMember, EtcdTls, MembershipClientOptions } from './types.js';
import { normalizeEtcdUrl } from './urls.js';

/** gRPC's per-call options: the deadline is what matters here. */
export interface GrpcCallOptions {
  deadline: number;
}

/** One etcd call on one member's client; `within()` gives the call's deadline, fresh each time. */
export type EtcdCall<T> = (client: Etcd3, within: () => GrpcCallOptions) => Promise<T>;

/** What the reads and the membership operations share. */
export interface EtcdConnection {
  readonly logger: Logger;
  readonly tls: EtcdTls;
  /** The configured endpoints, normalized. */
  readonly endpoints: readonly string[];
  /** How this machine reaches a listed member; undefined when it cannot. */
  readonly endpointFor: (member: EtcdMember) => string | undefined;
  /** The deadline of one call in an operation: its `deadlineMs`, else the client's `callTimeoutMs`. */
  deadlineOf(options?: CallOptions): number;
  /** Where a read may go: voters last listed, then the configured endpoints; the unanswering last. */
  routes(): string[];
  /** Remembers the started voters of `list` as ways in (what etcd's own auto-sync does). */
  learnRoutes(list: readonly EtcdMember[]): void;
  /** Runs `run` on the member at `url`, with a deadline on each of its calls; failures mapped. */
  call<T>(
    url: string,
    operation: string,
    run: EtcdCall<T>,
    context?: { memberId?: string; deadlineMs?: number },
  ): Promise<T>;
  /** The first of `candidates` (default `routes()`) that completes `run`. */
  anyEndpoint<T>(
    operation: string,
    run: EtcdCall<T>,
    options?: { candidates?: readonly string[]; deadlineMs?: number },
  ): Promise<{ value: T; endpoint: string }>;
  /** Closes every client and relay at once. */
  close(): void;
}

function checkedTls(tls: EtcdTls | undefined): EtcdTls {
  if (typeof tls?.caPem !== 'string' || typeof tls.certPem !== 'string' || tls.keyPem === undefined) {
    throw invalidArgument({
      field: 'tls',
      message: 'tls needs caPem, certPem and keyPem: etcd runs with client certificate auth.',
    });
  }
  return tls;
}

function checkedDeadline(value: number | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) {
    throw invalidArgument({ field, value, message: `${field} must be a number of milliseconds above 0.` });
  }
  return value;
}

/** When, as a share of a call's deadline, a connection the member has not answered is cut. */
const CUT_AT = 0.9;

/** The gRPC services the client uses. */
const SERVICES = ['KV', 'Cluster', 'Maintenance'] as const;

/** etcd3's client, with a close that leaves nothing waiting. */
class RelayedEtcd3 extends Etcd3 {
  /**
   * Closes every gRPC channel, then the client. etcd3's own close() gives a channel that is still
   * connecting a second to finish, on a timer that keeps node running; with the relay closed first
   * there is nothing left to finish. The pool answers within microtasks: no timer, no I/O.
   */
  closeNow(): void {
    this.pool
      .withConnection('KV', ({ resource }) => {
        for (const service of SERVICES) resource.getServiceClient(service).close();
      })
      .catch(() => undefined)
      .finally(() => this.close());
  }
}

/** An etcd3 client whose only host is the relay; TLS is still checked against the member's name. */
function clientThroughRelay(
  url: string,
  relay: MemberRelay,
  tls: EtcdTls,
  callTimeoutMs: number,
): RelayedEtcd3 {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const key = typeof tls.keyPem === 'string' ? tls.keyPem : tls.keyPem.reveal();
  return new RelayedEtcd3({
    hosts: [`https://127.0.0.1:${relay.port}`],
    credentials: {
      rootCertificate: Buffer.from(tls.caPem),
      certChain: Buffer.from(tls.certPem),
      privateKey: Buffer.from(key),
    },
    grpcOptions: {
      'grpc.ssl_target_name_override': tls.serverName ?? (isIP(host) === 0 ? host : 'localhost'),
    },
    // Admin calls retry on their own terms; etcd3's circuit breaker would turn the 5-second
    // "unhealthy cluster" gate into BrokenCircuitError (toolchain notes §2).
    faultHandling: { host: () => noop, global: noop },
    // The backstop for a call made without `within()`; streams (snapshots) have no deadline.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  });
}

/**
 * Opens the connections of a membership client; nothing is dialled until the first call.
 *
 * @throws HacpError INVALID_ARGUMENT for no endpoints, an endpoint that is not an https URL, TLS
 *   material missing, or a deadline that is not a positive number.
 */
export function openConnection(options: MembershipClientOptions): EtcdConnection {
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
    throw invalidArgument({ field: 'endpoints', message: 'Give at least one etcd client URL in endpoints.' });
  }
  const endpoints = options.endpoints.map((url) => normalizeEtcdUrl(url, 'endpoints'));
  const tls = checkedTls(options.tls);
  const callTimeoutMs = checkedDeadline(options.callTimeoutMs, 'callTimeoutMs', 5000);
  const endpointFor = options.endpointFor ?? ((member: EtcdMember) => member.clientUrls[0]);
  const clients = new Map<string, Promise<{ client: RelayedEtcd3; relay: MemberRelay }>>();
  const opened: { client: RelayedEtcd3; relay: MemberRelay }[] = [];
  const unanswered = new Set<string>();
  let discovered: string[] = [];
  let closed = false;

  const closedError = () =>
    new HacpError({ code: ErrorCode.ABORTED, message: 'The membership client is closed.', retryable: false });

  const open = async (url: string) => {
    const parsed = new URL(url);
    const relay = await openRelay({
      host: parsed.hostname.replace(/^\[|\]$/g, ''),
      port: Number(parsed.port || 443),
    });
    if (closed) {
      relay.close();
      throw closedError();
    }
    const entry = { client: clientThroughRelay(url, relay, tls, callTimeoutMs), relay };
    opened.push(entry);
    return entry;
  };

  const connectionTo = (url: string) => {
    if (closed) return Promise.reject(closedError());
    let entry = clients.get(url);
    if (entry === undefined) {
      const opening = open(url);
      // A relay that could not start is tried again by the next call.
      opening.catch(() => {
        if (clients.get(url) === opening) clients.delete(url);
      });
      clients.set(url, opening);
      entry = opening;
    }
    return entry;
  };

  const call: EtcdConnection['call'] = async (url, operation, run, context = {}) => {
    const deadlineMs = context.deadlineMs ?? callTimeoutMs;
    const where = {
      operation,
      endpoint: url,
      ...(context.memberId === undefined ? {} : { memberId: context.memberId }),
    };
    const { client, relay } = await connectionTo(url).catch((error: unknown) => {
      throw toHacpError(error, where);
    });
    // A connection the member accepted but never answered is cut shortly before the deadline: the
    // call then fails as unanswered and the channel is not left connecting (etcd3 would keep a
    // timer for a channel still connecting when the call fails). One opened a moment ago, for
    // another call, has not had its chance yet and stays.
    const cutAfterMs = deadlineMs * CUT_AT;
    const cut = setTimeout(
      () =>
        relay.cutUnanswered(
          `the member accepted the connection but did not answer within ${Math.round(cutAfterMs)} ms`,
          cutAfterMs / 2,
        ),
      cutAfterMs,
    );
    cut.unref();
    try {
      const value = await run(client, () => ({ deadline: Date.now() + deadlineMs }));
      unanswered.delete(url);
      return value;
    } catch (error) {
      let mapped = toHacpError(error, where);
      let reason = etcdReasonOf(mapped);
      // gRPC only says the member was not reached; the relay knows why (refused, reset, no route).
      const failure = reason === EtcdReason.CONNECTION ? relay.lastFailure() : undefined;
      if (failure !== undefined) {
        mapped = toHacpError(new GRPCUnavailableError(failure.message), where);
        reason = etcdReasonOf(mapped);
      }
      if (reason === EtcdReason.CONNECTION || reason === EtcdReason.DEADLINE) unanswered.add(url);
      throw mapped;
    } finally {
      clearTimeout(cut);
    }
  };

  const routes = () => {
    const all = [...new Set([...discovered, ...endpoints])];
    return [...all.filter((url) => !unanswered.has(url)), ...all.filter((url) => unanswered.has(url))];
  };

  const anyEndpoint: EtcdConnection['anyEndpoint'] = async (operation, run, anyOptions = {}) => {
    const candidates = anyOptions.candidates ?? routes();
    let last: unknown;
    for (const url of candidates) {
      try {
        return {
          value: await call(url, operation, run, { deadlineMs: anyOptions.deadlineMs }),
          endpoint: url,
        };
      } catch (error) {
        last = error;
        const reason = etcdReasonOf(error);
        if (
          reason !== EtcdReason.CONNECTION &&
          reason !== EtcdReason.DEADLINE &&
          reason !== EtcdReason.LEARNER_RPC
        ) {
          throw error;
        }
      }
    }
    throw noEndpointAnswered(candidates, last, operation);
  };

  return {
    logger: resolveLogger(options.logger),
    tls,
    endpoints,
    endpointFor,
    deadlineOf: (callOptions) => checkedDeadline(callOptions?.deadlineMs, 'deadlineMs', callTimeoutMs),
    routes,
    learnRoutes(list) {
      discovered = list
        .filter((member) => member.started && !member.learner)
        .map((member) => endpointFor(member))
        .filter((url): url is string => url !== undefined);
    },
    call,
    anyEndpoint,
    close() {
      closed = true;
      for (const { client, relay } of opened) {
        // The relay first: whatever gRPC still has open to it ends now, pending handshakes included.
        relay.close();
        client.closeNow();
      }
      opened.length = 0;
      clients.clear();
    },
  };
}

function noEndpointAnswered(tried: readonly string[], last: unknown, what: string): HacpError {
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `Could not ${what}: none of the etcd endpoints answered (${tried.join(', ')}). Last error: ${
      last instanceof Error ? last.message : String(last)
    }`,
    actions: [
      'Check that the endpoints are the members’ client URLs and that the members run.',
      'Check the TLS material: the CA must be the cluster’s etcd CA and the client certificate must be signed by it.',
    ],
    retryable: true,
    details: {
      endpoints: [...tried],
      reason: etcdReasonOf(last) ?? EtcdReason.CONNECTION,
    },
    cause: last,
  });
}
