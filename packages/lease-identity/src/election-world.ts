/**
 * A simulated world for leader election tests: one in-memory Lease API, a fake clock, and candidates
 * that each have their own connection (latency, faults) and their own clock rate. Test support, not
 * exported from the package.
 */
import { noopLogger } from '@hacp/core';
import type { Clock } from './clock.js';
import { ELECTOR_VERBS, type ElectorSettings, type LeaderElector, startElector } from './elector.js';
import { FakeClock, skewedClock } from './fake-clock.js';
import { type MemoryConnection, MemoryLeaseServer } from './memory-lease-store.js';

export const LEASE = { name: 'kube-controller-manager', namespace: 'kube-system' } as const;

/** client-go's defaults. */
export const DEFAULT_TIMINGS = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
} as const;

/** One candidate: its elector (while running), its connection, and what its callbacks said. */
export interface Candidate {
  identity: string;
  connection: MemoryConnection;
  clock: Clock;
  elector: LeaderElector | undefined;
  /** What the callbacks say: started and not yet stopped. */
  believesLeading: boolean;
  /** Times (fake clock) of every start and stop of leadership, and every new leader reported. */
  started: number[];
  stopped: { at: number; reason: string }[];
  newLeaders: string[];
  signals: AbortSignal[];
  /** How long its requests take to reach the server, and its answers to come back. */
  latencyMs: number;
  answerLatencyMs: number;
  /** Each request draws its latencies uniformly from [0, latencyMs] and [0, answerLatencyMs]. */
  jitter: boolean;
}

export class ElectionWorld {
  readonly clock = new FakeClock();
  readonly server = new MemoryLeaseServer(this.clock);
  readonly candidates: Candidate[] = [];
  private seed = 1;

  /** A deterministic random source, so failures reproduce. */
  random = (): number => {
    this.seed = (this.seed * 16807) % 2147483647;
    return (this.seed - 1) / 2147483646;
  };

  constructor(
    readonly timings: Pick<
      ElectorSettings,
      'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'
    > = DEFAULT_TIMINGS,
  ) {}

  /** Adds a candidate (not yet started) whose clock runs at `rate` and whose requests take `latencyMs` each way. */
  candidate(options: { identity: string; rate?: number; latencyMs?: number }): Candidate {
    const candidate: Candidate = {
      identity: options.identity,
      connection: undefined as unknown as MemoryConnection,
      clock: options.rate === undefined ? this.clock : skewedClock(this.clock, options.rate),
      elector: undefined,
      believesLeading: false,
      started: [],
      stopped: [],
      newLeaders: [],
      signals: [],
      latencyMs: options.latencyMs ?? 1,
      answerLatencyMs: options.latencyMs ?? 1,
      jitter: false,
    };
    candidate.connection = this.server.connect({
      name: options.identity,
      use: { purpose: 'leader election', verbs: ELECTOR_VERBS },
      latency: () => (candidate.jitter ? this.random() : 1) * candidate.latencyMs,
      answerLatency: () => (candidate.jitter ? this.random() : 1) * candidate.answerLatencyMs,
    });
    this.candidates.push(candidate);
    return candidate;
  }

  /** Starts the candidate's elector, advancing the fake clock until its first attempt is done. */
  async start(candidate: Candidate, overrides: Partial<ElectorSettings> = {}): Promise<LeaderElector> {
    let elector: LeaderElector | undefined;
    let failure: unknown;
    const starting = startElector({
      ...this.timings,
      store: candidate.connection,
      clock: candidate.clock,
      random: this.random,
      ...LEASE,
      identity: candidate.identity,
      releaseOnCancel: false,
      logger: noopLogger,
      onStartedLeading: ({ signal }) => {
        candidate.believesLeading = true;
        candidate.started.push(this.clock.now());
        candidate.signals.push(signal);
      },
      onStoppedLeading: ({ reason }) => {
        candidate.believesLeading = false;
        candidate.stopped.push({ at: this.clock.now(), reason });
      },
      onNewLeader: (identity) => {
        candidate.newLeaders.push(identity);
      },
      ...overrides,
    }).then(
      (started) => {
        elector = started;
      },
      (error: unknown) => {
        failure = error ?? new Error('start failed');
      },
    );
    await this.clock.advanceUntil(() => elector !== undefined || failure !== undefined, 60_000);
    await starting;
    if (failure !== undefined) throw failure;
    if (!elector) throw new Error(`${candidate.identity} did not finish its first attempt within 60 s`);
    candidate.elector = elector;
    return elector;
  }

  /** Stops the candidate (with or without releasing), advancing the clock until stop() is done. */
  async stop(candidate: Candidate, options: { release?: boolean } = {}): Promise<void> {
    const elector = candidate.elector;
    if (!elector) return;
    candidate.elector = undefined;
    let done = false;
    const stopping = elector.stop(options).then(() => {
      done = true;
    });
    await this.clock.advanceUntil(() => done, 60_000);
    await stopping;
  }

  /** The candidates whose elector says it leads right now. */
  leaders(): Candidate[] {
    return this.candidates.filter((candidate) => candidate.elector?.isLeader());
  }

  /** The candidates whose callbacks say they lead. */
  believers(): Candidate[] {
    return this.candidates.filter((candidate) => candidate.believesLeading);
  }

  /** Requests of one candidate's connection, by verb, sent in [from, to). */
  requestsOf(candidate: Candidate, from: number, to: number): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const request of this.server.requests) {
      if (request.connection !== candidate.identity || request.sentAt < from || request.sentAt >= to)
        continue;
      counts[request.verb] = (counts[request.verb] ?? 0) + 1;
    }
    return counts;
  }
}
