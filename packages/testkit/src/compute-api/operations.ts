import type { Logger } from '@hacp/core';
import { ComputeApiError, httpErrorMessage } from './errors.js';
import { link } from './links.js';
import {
  gceTimestamp,
  type Json,
  newNumericId,
  type OperationRecord,
  type OperationScope,
  type ProjectState,
  scopePath,
} from './model.js';

/** What a mutating call does, once accepted. */
export interface Mutation {
  /** `insert`, `delete`, `addInstance`, `compute.projects.setCommonInstanceMetadata`, ... */
  operationType: string;
  scope: OperationScope;
  /** The target's path in the project (`zones/z/instances/n`; '' for the project itself). */
  targetPath: string;
  targetId: string;
  /** `insert` reserves the name until the operation ends; `delete` makes the target busy. */
  effect?: 'insert' | 'delete';
  /**
   * Checks the state and returns the change. Called when the call is accepted (a throw is the HTTP
   * answer) and again when the operation completes (a throw fails the operation, nothing changes).
   * The commit itself must not throw a ComputeApiError after it started changing state.
   */
  prepare(): () => void | Promise<void>;
  /** Called once the operation ends, with whether the change was applied. */
  settle?(applied: boolean): void;
}

function operationName(): string {
  const hex = (bytes: number) =>
    Array.from({ length: bytes * 2 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
  return `operation-${Date.now()}-${hex(6)}${hex(1).slice(0, 1)}-${hex(4)}-${hex(4)}`;
}

/**
 * Runs operations as GCE does: accepted PENDING, RUNNING after half the delay, DONE after the rest, the
 * change applied at that moment (or the operation failed with the error, the change not applied).
 * `wait` holds a caller until DONE or `waitTimeoutMs`, like `operations.wait`.
 */
export class OperationRunner {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly records = new Set<OperationRecord>();
  private closed = false;

  constructor(
    private readonly options: {
      delayMs: number;
      waitTimeoutMs: number;
      logger: Logger;
      /** Called after a change applied, before its operation is DONE (the data path follows it). */
      onCommitted?: () => Promise<void>;
    },
  ) {}

  /** Records the operation of an accepted call and starts running it; returns it (PENDING). */
  start(
    project: ProjectState,
    mutation: Mutation,
    options: { requestId?: string; failure?: ComputeApiError },
  ): OperationRecord {
    const name = operationName();
    const where = scopePath(mutation.scope);
    const json: Json = {
      kind: 'compute#operation',
      id: newNumericId(),
      name,
      ...(mutation.scope.kind === 'zone' ? { zone: link(project.name, where) } : {}),
      operationType: mutation.operationType,
      targetLink: link(project.name, mutation.targetPath),
      targetId: mutation.targetId,
      status: 'PENDING',
      user: `compute-api-test@${project.name}.iam.gserviceaccount.com`,
      progress: 0,
      insertTime: gceTimestamp(new Date()),
      selfLink: link(project.name, `${where}/operations/${name}`),
      ...(mutation.scope.kind === 'region' ? { region: link(project.name, where) } : {}),
    };
    const record: OperationRecord = { json, scope: mutation.scope, done: false, waiters: new Set() };
    let scoped = project.operations.get(where);
    if (scoped === undefined) {
      scoped = new Map();
      project.operations.set(where, scoped);
    }
    scoped.set(name, record);
    if (options.requestId !== undefined) project.byRequestId.set(options.requestId, record);
    if (mutation.effect === 'insert') project.pendingInserts.add(mutation.targetPath);
    if (mutation.effect === 'delete') project.pendingDeletes.add(mutation.targetPath);
    this.records.add(record);
    void this.run(project, record, mutation, options.failure);
    return record;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private async run(
    project: ProjectState,
    record: OperationRecord,
    mutation: Mutation,
    failure: ComputeApiError | undefined,
  ): Promise<void> {
    const half = Math.floor(this.options.delayMs / 2);
    await this.sleep(half);
    if (this.closed) return;
    record.json.status = 'RUNNING';
    record.json.startTime = gceTimestamp(new Date());
    await this.sleep(this.options.delayMs - half);
    if (this.closed) return;
    let error = failure;
    if (error === undefined) {
      try {
        const commit = mutation.prepare();
        await commit();
        await this.options.onCommitted?.();
      } catch (caught) {
        if (caught instanceof ComputeApiError) {
          error = caught;
        } else {
          this.options.logger.error('compute api operation failed unexpectedly', {
            operation: record.json.name,
            error: caught instanceof Error ? (caught.stack ?? caught.message) : String(caught),
          });
          error = new ComputeApiError({
            status: 500,
            message: `Internal error: ${caught instanceof Error ? caught.message : String(caught)}`,
            reason: 'backendError',
            operationCode: 'INTERNAL_ERROR',
          });
        }
      }
    }
    if (mutation.effect === 'insert') project.pendingInserts.delete(mutation.targetPath);
    if (mutation.effect === 'delete') project.pendingDeletes.delete(mutation.targetPath);
    mutation.settle?.(error === undefined);
    this.finish(record, error);
  }

  private finish(record: OperationRecord, error: ComputeApiError | undefined): void {
    const json = record.json;
    json.status = 'DONE';
    json.progress = 100;
    json.startTime ??= gceTimestamp(new Date());
    json.endTime = gceTimestamp(new Date());
    if (error !== undefined) {
      json.error = { errors: [error.operationError()] };
      json.httpErrorStatusCode = error.status;
      json.httpErrorMessage = httpErrorMessage(error.status);
    }
    record.done = true;
    for (const waiter of record.waiters) waiter();
    record.waiters.clear();
  }

  /** Resolves when the operation is DONE, or after `waitTimeoutMs` (or `timeoutMs`), or when closing. */
  wait(record: OperationRecord, timeoutMs = this.options.waitTimeoutMs): Promise<void> {
    if (record.done || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        record.waiters.delete(waiter);
        resolve();
      };
      const timer = setTimeout(waiter, timeoutMs);
      this.timers.add(timer);
      record.waiters.add(waiter);
    });
  }

  /** Stops every running operation where it is and releases every waiter. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const record of this.records) {
      for (const waiter of [...record.waiters]) waiter();
    }
  }
}
