import type { KillPlan, TerminalRun } from './terminal-run.mjs';

/** The local provider's zones, one replica in each at most. */
export declare const ZONES: readonly string[];

export type CampaignOperationName = 'replicate' | 'remove' | 'replace';

/** An operation of the campaign and the replica count it starts from. */
export interface CampaignOperation {
  operation: CampaignOperationName;
  from: number;
}

/** replicate 1→2 and 2→3, remove 3→2 and 2→1, replace at 3 and at 2. */
export declare const OPERATIONS: readonly CampaignOperation[];

/**
 * When a trial's CLI is killed: at the line of the step `step` points at (a share of the steps,
 * 0 to 1) and `afterLineMs` later; after `share` of the time the operation took when it last ran
 * whole; or as an explicit plan.
 */
export type TrialKill = { step: number; afterLineMs: number } | { share: number } | { plan: KillPlan };

/** One trial: an operation, which replica (or free zone) it acts on, and when its CLI dies. */
export interface TrialSpec extends CampaignOperation {
  /** 0 to 1: the share of the sorted replica names (remove, replace) or free zones (replicate) to pick. */
  pick: number;
  kill: TrialKill;
  /** Called right after the kill, before the recovery: to look at the state the kill left. */
  onKilled?: (run: TerminalRun) => void | Promise<void>;
}

/** How one trial went. */
export interface TrialResult {
  /** 1-based. */
  index: number;
  /** `replicate 1→2`, `replace at 3`. */
  operation: string;
  /** The zone grown into, or the replica removed or replaced. */
  subject: string;
  /** Where it was killed, or that it finished first. */
  kill: string;
  /** `resume`, `the same command again`, `nothing to resume: it had finished`, or `none` when not killed. */
  recovery: string;
  /** The run that was killed. */
  run?: TerminalRun;
  converged: boolean;
  /** Why it did not converge; empty when it did. */
  problems: string[];
  ms: number;
}

/** A whole campaign's outcome. */
export interface CampaignSummary {
  seed: number;
  trials: number;
  /** Trials run: fewer than `trials` when the campaign stopped early. */
  ran: number;
  converged: number;
  results: TrialResult[];
  /** Why it stopped before the last trial (a cluster no resume converged, a failed `up`). */
  stopped?: string;
  /** What `down` left running or failed at (stopped by pid since); empty when all is gone. */
  leftAfterDown: string[];
  ms: number;
}

/** Where the campaign's cluster lives. */
export interface CampaignSettings {
  /** Its own state folder (absolute): `down` checks that nothing runs from it afterwards. */
  stateDir: string;
  /** Default `campaign`. */
  cluster?: string;
  /** The built CLI; default apps/cli/bin/run.js. */
  cli?: string;
}

/** The campaign's cluster: `up`, trials one at a time, `down`. */
export interface KillCampaign {
  readonly stateDir: string;
  readonly cluster: string;
  /**
   * `hacp up --zone local-a --multizone --no-kubernetes`, checked converged.
   * @throws Error when it fails or does not converge.
   */
  up(): Promise<void>;
  /**
   * Runs one trial: writes a key through the endpoint, runs the operation on a terminal and kills
   * it as `spec.kill` says, recovers with the first `hacp resume` (or the same command again when
   * there is nothing to resume and it had not finished), and checks convergence and that every key
   * written so far is still there. Never rejects: what went wrong is in `problems`.
   */
  trial(spec: TrialSpec, index: number): Promise<TrialResult>;
  /** One more `resume` after a trial that did not converge; whether the cluster converged then. */
  rescue(expected: number): Promise<boolean>;
  /** `hacp down --yes`; whatever still runs from the state folder is reported and SIGKILLed by pid. */
  down(): Promise<string[]>;
}

/** A seeded generator of numbers in [0, 1) (mulberry32). */
export declare function seededRandom(seed: number): () => number;

/** `replicate 1→2`, `remove 3→2`, `replace at 3`. */
export declare function describeOperation(operation: CampaignOperation): string;

/**
 * The trials of a campaign from its seed, starting from one replica: each time the least-tried
 * operation the replica count allows (ties broken by the seed), killed at a random step's line
 * (two in three) or after a random share of the operation's time.
 */
export declare function planTrials(options: { seed: number; trials: number }): TrialSpec[];

/** The campaign's cluster in `settings.stateDir`. */
export declare function createKillCampaign(settings: CampaignSettings): KillCampaign;

/**
 * Runs the campaign: `up`, the seeded trials (stopping early only when a cluster does not converge
 * even after another `resume`), then `down`, always.
 *
 * @example
 * const summary = await runCampaign({ stateDir: '/tmp/hacp-kill-1', seed: 7, trials: 60 });
 * // summary.converged === summary.trials when every trial converged
 */
export declare function runCampaign(
  settings: CampaignSettings & { seed: number; trials: number; onTrial?: (result: TrialResult) => void },
): Promise<CampaignSummary>;
