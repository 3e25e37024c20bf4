/**
 * The operation runner: takes the cluster lock, reads the journal under it, makes the plan from one
 * observation (or continues the journal's), runs the steps through one session, writes the journal
 * at commit points only, rolls a failed add back, and leaves an interrupted operation resumable.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { ErrorCode, HacpError, isHacpError, type Logger, type ProviderV1, type StateLock } from '@hacp/core';
import type { PlanStep } from '@hacp/topology';
import type { RetentionRules } from '../backup-retention.js';
import type { KubernetesContext } from '../kubernetes/version.js';
import type { PkiStore } from '../pki-store.js';
import {
  type ClusterRecord,
  type Journal,
  journalKey,
  lockName,
  readJournal,
  readRecord,
  recordKey,
} from '../record.js';
import type {
  Backup,
  ControlPlaneEvent,
  ControlPlaneTimeouts,
  OperationResult,
  PlanRequest,
  StepOutcome,
} from '../types.js';
import type { StepContext } from './context.js';
import type { OperationSession } from './session.js';
import { CHECK_STEPS, commitsAfter, runStep } from './steps/index.js';

export const LOCK_TTL_MS = 60_000;

export type OperationRequest = PlanRequest | { operation: 'resume' };

/** What a new operation settled before it wrote anything: its plan and what `up` chose. */
export interface NewOperation {
  plan: Journal['plan'];
  target: Journal['target'];
  settings?: Journal['settings'];
}

/** What the runner needs from the control plane it runs for. */
export interface RunnerSettings {
  provider: ProviderV1;
  cluster: string;
  pkiStore: PkiStore;
  dataDir: string;
  timeouts: ControlPlaneTimeouts;
  /** The retention in force, applied after each new backup. */
  backupRetention: RetentionRules;
  logger: Logger;
  holder: string;
  emit(event: ControlPlaneEvent): void;
  kubernetes(signal: AbortSignal): KubernetesContext;
  kubeconfigFile?: string;
  /** Files of the cluster that go with its record. */
  clusterFiles: readonly string[];
  /** Refusals that need no lock (the cluster exists, the zone): checked before the lock is taken. */
  precheck(request: OperationRequest, signal?: AbortSignal): Promise<void>;
  /** Opens the operation's session (closed by the runner when the operation ends). */
  session(record: ClusterRecord | undefined): OperationSession;
  /** The plan of a new operation, from one observation through the session; reads only. */
  plan(request: PlanRequest, session: OperationSession, signal: AbortSignal): Promise<NewOperation>;
  /** After an operation finished: what it adds to its result (`up`'s kubeconfig). */
  finished(
    journal: Journal,
    session: OperationSession,
    signal: AbortSignal,
  ): Promise<Partial<OperationResult>>;
}

/** A new request continues the journal when every option it names matches the journal's. */
export function continues(journal: Journal, request: PlanRequest): boolean {
  if (journal.operation !== request.operation) return false;
  const before = journal.request as unknown as Record<string, unknown>;
  return Object.entries(request).every(([key, value]) => value === undefined || before[key] === value);
}

const newOperationId = () =>
  `op-${new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)}-${randomBytes(3).toString('hex')}`;

/**
 * Runs an operation (or resumes the interrupted one) under the cluster lock.
 * @throws HacpError LOCKED when another hacp holds the lock; CONFLICT when another operation is in
 *   flight; NOT_FOUND for a resume with nothing to resume; the failing step's error otherwise.
 */
export async function runOperation(
  settings: RunnerSettings,
  request: OperationRequest,
  userSignal?: AbortSignal,
): Promise<OperationResult> {
  settings.pkiStore.forget();
  await settings.precheck(request, userSignal);
  const lock = await settings.provider.state.lock(lockName(settings.cluster), {
    holder: settings.holder,
    ttlMs: LOCK_TTL_MS,
    ...(userSignal ? { signal: userSignal } : {}),
  });
  const controller = new AbortController();
  const onAbort = () => controller.abort(userSignal?.reason);
  userSignal?.addEventListener('abort', onAbort, { once: true });
  if (userSignal?.aborted) onAbort();
  const renewal = keepLock(settings, lock, controller);
  let releasing: Promise<void> | undefined;
  const release = () => {
    clearInterval(renewal);
    releasing ??= lock
      .release()
      .catch((error) => settings.logger.warn('could not release the lock', { error: String(error) }));
    return releasing;
  };
  try {
    return await runLocked(settings, request, controller.signal, release);
  } finally {
    userSignal?.removeEventListener('abort', onAbort);
    await release();
  }
}

function keepLock(settings: RunnerSettings, lock: StateLock, controller: AbortController) {
  const renewal = setInterval(() => {
    lock.renew().catch((error) => {
      settings.logger.error('lost the cluster lock', { error: String(error) });
      controller.abort(
        new HacpError({
          code: ErrorCode.LOCKED,
          message: `hacp lost the lock of cluster ${settings.cluster} while it worked.`,
          actions: ['Run `hacp status`, then `hacp resume`.'],
          cause: error,
        }),
      );
    });
  }, LOCK_TTL_MS / 3);
  renewal.unref();
  return renewal;
}

async function runLocked(
  settings: RunnerSettings,
  request: OperationRequest,
  signal: AbortSignal,
  release: () => Promise<void>,
): Promise<OperationResult> {
  const { provider, cluster } = settings;
  const stored = await readJournal(provider.state, cluster, signal);
  const session = settings.session((await readRecord(provider.state, cluster, signal))?.value);
  try {
    const continuing =
      stored !== undefined && (request.operation === 'resume' || continues(stored.value, request));
    if (stored === undefined && request.operation === 'resume') throw nothingToResume(cluster);
    if (stored !== undefined && !continuing && request.operation !== 'down')
      throw inFlight(cluster, stored.value, request.operation);
    let journal: Journal;
    let version: number;
    if (continuing && stored !== undefined) {
      journal = stored.value;
      version = stored.version;
    } else {
      const made = await settings.plan(request as PlanRequest, session, signal);
      journal = newJournal(settings, request as PlanRequest, made);
      if (stored !== undefined) {
        settings.emit({
          type: 'warning',
          code: 'OPERATION_DISCARDED',
          message: `The interrupted ${stored.value.operation} (${stored.value.id}) is discarded: down deletes the cluster.`,
        });
      }
      version = (
        await provider.state.put(journalKey(cluster), journal, {
          expectedVersion: stored?.version ?? 0,
          requestId: `${journal.id}-journal`,
          signal,
        })
      ).version;
    }
    const run = new OperationRun(settings, session, journal, version, signal, release);
    return await run.execute(continuing);
  } finally {
    await session.close();
  }
}

function newJournal(settings: RunnerSettings, request: PlanRequest, made: NewOperation): Journal {
  const { signal: _signal, ...rest } = request as PlanRequest & { signal?: AbortSignal };
  return {
    formatVersion: 1,
    id: newOperationId(),
    operation: made.plan.operation,
    request: rest as PlanRequest,
    plan: made.plan,
    done: [],
    skipped: [],
    phase: 'running',
    rollbackDone: [],
    networks: {},
    target: made.target,
    ...(made.settings === undefined ? {} : { settings: made.settings }),
    startedAt: new Date().toISOString(),
    holder: settings.holder,
  };
}

/** One run of an operation's steps: the step loop, the journal's commit points, the rollback. */
class OperationRun {
  private readonly outcomes: StepOutcome[] = [];
  /** The last backup a snapshot step took (or found taken). */
  private backup: Backup | undefined;

  constructor(
    private readonly settings: RunnerSettings,
    private readonly session: OperationSession,
    private readonly journal: Journal,
    private version: number,
    private readonly signal: AbortSignal,
    /** Releases the cluster lock (once). */
    private readonly release: () => Promise<void>,
  ) {}

  async execute(resumed: boolean): Promise<OperationResult> {
    const { journal, settings } = this;
    settings.emit({
      type: 'operation-started',
      operation: journal.operation,
      operationId: journal.id,
      resumed,
      steps: journal.plan.steps.length,
    });
    if (journal.phase === 'rolling-back') {
      await this.runSteps(journal.plan.onFailure, journal.rollbackDone, 'r');
      await this.finish();
      throw rolledBack(journal, journal.failure);
    }
    try {
      await this.runSteps(journal.plan.steps, journal.done, '');
    } catch (error) {
      await this.failed(error);
    }
    await this.finish();
    settings.emit({ type: 'operation-done', operation: journal.operation, operationId: journal.id });
    const instances = await this.session.instances(this.signal).catch(() => []);
    const kubernetesVersion = this.session.record()?.kubernetesVersion;
    return {
      operation: journal.operation,
      operationId: journal.id,
      cluster: settings.cluster,
      resumed,
      steps: this.outcomes,
      warnings: [...journal.plan.warnings],
      replicas: instances
        .map((instance) => ({ name: instance.name, zone: instance.zone }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      ...(kubernetesVersion === undefined ? {} : { kubernetesVersion }),
      ...(this.backup === undefined ? {} : { backup: { id: this.backup.id, path: this.backup.path } }),
      ...(await settings.finished(journal, this.session, this.signal)),
    };
  }

  /** A step failed: roll a replicate back while its learner is not a voter, else leave it resumable. */
  private async failed(error: unknown): Promise<never> {
    const { journal, signal, settings } = this;
    const failure = isHacpError(error) ? error : undefined;
    if (signal.aborted || failure?.code === ErrorCode.ABORTED)
      throw abortedError(signal.reason ?? error, journal);
    const notBack = startedNotHealthy(journal);
    if (notBack !== undefined) {
      // Nothing is half-done: the start was the whole change, so the operation ends here.
      await this.finish();
      throw notBackAfterStart(error, journal, notBack);
    }
    if (!shouldRollBack(journal)) throw resumable(error, journal);
    settings.emit({
      type: 'rollback-started',
      operationId: journal.id,
      reason: String((error as Error).message),
    });
    journal.phase = 'rolling-back';
    journal.failure = { code: failure?.code ?? ErrorCode.INTERNAL, message: (error as Error).message };
    await this.saveJournal();
    try {
      await this.runSteps(journal.plan.onFailure, journal.rollbackDone, 'r');
    } catch (rollbackError) {
      if (signal.aborted) throw abortedError(signal.reason ?? rollbackError, journal);
      throw new HacpError({
        code: isHacpError(rollbackError) ? rollbackError.code : ErrorCode.INTERNAL,
        message: `${journal.operation} failed (${(error as Error).message}), and undoing it stopped half-way: ${(rollbackError as Error).message}`,
        actions: ['Run `hacp resume` to finish undoing it.'],
        details: { operationId: journal.id },
        cause: rollbackError,
      });
    }
    await this.finish();
    throw rolledBack(journal, journal.failure, error);
  }

  private async runSteps(steps: readonly PlanStep[], done: string[], prefix: string): Promise<void> {
    const { journal, signal, settings } = this;
    // Checks and waits run again on every run: a resumed operation checks the cluster anew.
    for (const step of steps) {
      if (CHECK_STEPS.has(step.action.kind) && done.includes(step.id)) done.splice(done.indexOf(step.id), 1);
    }
    for (const [index, step] of steps.entries()) {
      if (done.includes(step.id)) continue;
      if (signal.aborted) throw abortedError(signal.reason, journal);
      const position = {
        operationId: journal.id,
        step: step.id,
        title: step.title,
        index: index + 1,
        steps: steps.length,
      };
      settings.emit({ type: 'step-started', ...position });
      const status = await runStep(this.context(`${journal.id}-${prefix}${index + 1}`), step);
      done.push(step.id);
      if (status === 'skipped') journal.skipped.push(step.id);
      // The journal is written where something changed (a commit point), not after checks, waits
      // or steps that found their work done.
      if (status === 'done' && commitsAfter(step.action.kind)) await this.saveJournal();
      this.outcomes.push({ id: step.id, title: step.title, status });
      settings.emit({ type: 'step-done', ...position, status });
    }
  }

  private async saveJournal(): Promise<void> {
    const saved = await this.settings.provider.state.put(journalKey(this.settings.cluster), this.journal, {
      expectedVersion: this.version,
      requestId: `${this.journal.id}-journal-${this.version}`,
      signal: this.signal,
    });
    this.version = saved.version;
  }

  /**
   * Deletes the journal and releases the lock, issued together: a provider whose state store
   * batches changes issued at once (GCE: one metadata write) makes them one write.
   */
  private async finish(): Promise<void> {
    const deleted = this.settings.provider.state.delete(journalKey(this.settings.cluster), {
      expectedVersion: this.version,
      requestId: `${this.journal.id}-journal-done`,
      signal: this.signal,
    });
    await Promise.all([deleted, this.release()]);
  }

  private context(prefix: string): StepContext {
    const { settings, session, journal, signal } = this;
    const { provider, cluster } = settings;
    let n = 0;
    return {
      session,
      provider,
      cluster,
      pkiStore: settings.pkiStore,
      dataDir: settings.dataDir,
      journal,
      saveJournal: () => this.saveJournal(),
      record: async () => session.record(),
      writeRecord: async (value: ClusterRecord) => {
        await provider.state.put(recordKey(cluster), value, {
          expectedVersion: 0,
          requestId: `${prefix}-record`,
          signal,
        });
        session.setRecord(value);
      },
      deleteRecord: async () => {
        const current = await readRecord(provider.state, cluster, signal);
        if (current !== undefined) {
          await provider.state.delete(recordKey(cluster), {
            expectedVersion: current.version,
            requestId: `${prefix}-record`,
            signal,
          });
        }
        session.setRecord(undefined);
        // The cluster's own files go with it (snapshots stay).
        for (const file of settings.clusterFiles) await rm(file, { recursive: true, force: true });
      },
      kubernetes: settings.kubernetes(signal),
      ...(settings.kubeconfigFile === undefined ? {} : { kubeconfigFile: settings.kubeconfigFile }),
      timeouts: settings.timeouts,
      backupRetention: settings.backupRetention,
      backupTaken: (backup) => {
        this.backup = backup;
      },
      logger: settings.logger,
      emit: settings.emit,
      signal,
      requestId: () => `${prefix}-${++n}`,
    };
  }
}

/** A replicate (or the adding half of a replace) is undone while its learner is not yet a voter. */
function shouldRollBack(journal: Journal): boolean {
  if (journal.plan.onFailure.length === 0) return false;
  const promote = journal.plan.steps.find((step) => step.action.kind === 'promote-learner');
  return promote !== undefined && !journal.done.includes(promote.id);
}

/**
 * The replica a repair started again whose health wait failed (the step that failed), where every
 * step before it is complete: then nothing is left to resume.
 */
function startedNotHealthy(journal: Journal): string | undefined {
  if (journal.operation !== 'repair') return undefined;
  const next = journal.plan.steps.find((step) => !journal.done.includes(step.id));
  if (next?.action.kind !== 'wait-healthy') return undefined;
  const replica = next.action.replica;
  const started = journal.plan.steps.some(
    (step) =>
      step.action.kind === 'start-instance' &&
      step.action.replica === replica &&
      journal.done.includes(step.id),
  );
  return started ? replica : undefined;
}

function notBackAfterStart(error: unknown, journal: Journal, replica: string): HacpError {
  const base = isHacpError(error) ? error : undefined;
  return new HacpError({
    code: base?.code ?? ErrorCode.INTERNAL,
    message: `repair started ${replica} again, but it did not become healthy: ${(error as Error).message} Nothing else was changed, and the repair is over.`,
    actions: [
      `Run \`hacp status\`; if ${replica} stays unhealthy, \`hacp replace --replica ${replica}\` replaces it with a new replica in its zone.`,
    ],
    details: { ...(base?.details ?? {}), operationId: journal.id, replica },
    retryable: false,
    cause: error,
  });
}

export function nothingToResume(cluster: string): HacpError {
  return new HacpError({
    code: ErrorCode.NOT_FOUND,
    message: `Cluster ${cluster} has no interrupted operation to resume.`,
    actions: ['Run `hacp status` to see the cluster.'],
    details: { cluster },
  });
}

function inFlight(cluster: string, journal: Journal, requested: string): HacpError {
  return new HacpError({
    code: ErrorCode.CONFLICT,
    message: `Cluster ${cluster} has an interrupted ${journal.operation} (${journal.id}, ${journal.done.length} of ${journal.plan.steps.length} steps done); ${requested} must wait until it finishes.`,
    actions: ['Run `hacp resume` to finish it first.', 'Or `hacp down --yes` to delete the cluster.'],
    details: { operation: journal.operation, operationId: journal.id },
  });
}

export function abortedError(reason: unknown, journal?: Journal): HacpError {
  if (isHacpError(reason) && reason.code !== ErrorCode.ABORTED) return reason;
  return new HacpError({
    code: ErrorCode.ABORTED,
    message: journal
      ? `${journal.operation} was interrupted after ${journal.done.length} of ${journal.plan.steps.length} steps; it is recorded and can be continued.`
      : 'The operation was interrupted.',
    actions: ['Run `hacp resume` (or the same command again) to continue.'],
    details: journal ? { operationId: journal.id, stepsDone: journal.done.length } : {},
    cause: reason,
  });
}

function resumable(error: unknown, journal: Journal): HacpError {
  const base = isHacpError(error) ? error : undefined;
  const next = journal.plan.steps.find((step) => !journal.done.includes(step.id));
  return new HacpError({
    code: base?.code ?? ErrorCode.INTERNAL,
    message: `${journal.operation} stopped at "${next?.title ?? 'its last step'}": ${(error as Error).message}`,
    actions: [...(base?.actions ?? []), 'Fix the cause, then run `hacp resume` to continue from that step.'],
    details: { ...(base?.details ?? {}), operationId: journal.id, step: next?.id, resumable: true },
    retryable: base?.retryable ?? false,
    cause: error,
  });
}

function rolledBack(journal: Journal, failure: Journal['failure'], cause?: unknown): HacpError {
  const base = isHacpError(cause) ? cause : undefined;
  // A replace that removed the old replica first: only its add was undone, and the old one is gone.
  const removed = journal.plan.steps.find(
    (step) => step.action.kind === 'remove-member' && journal.done.includes(step.id),
  );
  const created = journal.plan.steps.find((step) => step.action.kind === 'create-instance')?.action;
  const again =
    journal.operation === 'replace' && removed !== undefined && created?.kind === 'create-instance'
      ? `The old replica is gone already: add its successor with \`hacp replicate --zone ${created.zone}\` once the cause is fixed.`
      : 'Check `hacp status`, fix the cause and run the command again.';
  return new HacpError({
    code: (failure?.code as ErrorCode | undefined) ?? ErrorCode.INTERNAL,
    message: `${journal.operation} failed: ${failure?.message ?? 'unknown error'} The new replica's member and instance were removed again.`,
    actions: [...(base?.actions ?? []), again],
    details: { ...(base?.details ?? {}), operationId: journal.id, rolledBack: true },
    cause,
  });
}
