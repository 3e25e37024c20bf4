/**
 * `watch`: every interval, one look at the cluster (`status`), then what `decide` says, each action
 * through the same operations, lock and journal as a person's command, so that a person and the
 * watch never collide (the later one is refused LOCKED and says so). Every action and every reason
 * not to act is an event.
 */
import { ErrorCode, isHacpError } from '@hacp/core';
import type {
  ClusterStatus,
  ControlPlane,
  ControlPlaneEvent,
  OperationResult,
  WatchEvent,
  WatchOptions,
} from './types.js';
import {
  DEFAULT_WATCH_LIMITS,
  decide,
  newWatchMemory,
  noteReplaced,
  type WatchDecision,
  type WatchLimits,
  type WatchMemory,
} from './watch-policy.js';

/** Runs until `options.signal` aborts; resolves then. */
export async function watchCluster(
  controlPlane: Omit<ControlPlane, 'watch'>,
  emit: (event: ControlPlaneEvent) => void,
  options: WatchOptions,
): Promise<void> {
  const limits: WatchLimits = { ...DEFAULT_WATCH_LIMITS, ...withoutUndefined(options.limits ?? {}) };
  const intervalMs = options.intervalMs ?? 30_000;
  const { signal } = options;
  const memory = newWatchMemory(Date.now());
  const say = (event: Omit<WatchEvent, 'type' | 'time'>) =>
    emit({ type: 'watch', time: new Date().toISOString(), ...event });
  say({
    action: 'started',
    message: `Watching cluster ${controlPlane.cluster} every ${intervalMs / 1000} s.`,
  });
  while (!signal.aborted) {
    await look(controlPlane, memory, limits, say, signal);
    await sleep(intervalMs, signal);
  }
  say({ action: 'stopped', message: `Stopped watching cluster ${controlPlane.cluster}.` });
}

type Say = (event: Omit<WatchEvent, 'type' | 'time'>) => void;

async function look(
  controlPlane: Omit<ControlPlane, 'watch'>,
  memory: WatchMemory,
  limits: WatchLimits,
  say: Say,
  signal: AbortSignal,
): Promise<void> {
  let decisions: WatchDecision[];
  let status: ClusterStatus;
  try {
    status = await controlPlane.status({ signal });
    const certificates =
      limits.renewWithinDays > 0
        ? await controlPlane.certs.check({ warnWithinDays: limits.renewWithinDays })
        : [];
    decisions = decide(status, memory, limits, Date.now(), certificates);
  } catch (error) {
    if (!signal.aborted) said(memory, say, 'look', { action: 'failed', ...describe(error) });
    return;
  }
  const waits = new Set<string>();
  const before = new Set(status.replicas.map((replica) => replica.name));
  for (const decision of decisions) {
    if (signal.aborted) return;
    if (decision.kind === 'wait') {
      const key = `${decision.code}:${decision.replica ?? ''}`;
      waits.add(key);
      said(memory, say, key, {
        action: 'waiting',
        code: decision.code,
        message: decision.reason,
        ...(decision.replica ? { replica: decision.replica } : {}),
      });
      continue;
    }
    await act(controlPlane, memory, decision, { say, signal, before });
  }
  // A wait said before and not now is over: say it again when it comes back.
  for (const key of Object.keys(memory.said)) if (!waits.has(key) && key !== 'look') delete memory.said[key];
}

async function act(
  controlPlane: Omit<ControlPlane, 'watch'>,
  memory: WatchMemory,
  decision: Exclude<WatchDecision, { kind: 'wait' }>,
  context: { say: Say; signal: AbortSignal; before: ReadonlySet<string> },
): Promise<void> {
  const { say, signal, before } = context;
  const replica = decision.kind === 'replace' ? { replica: decision.replica } : {};
  say({ action: decision.kind, message: `${decision.reason} Running ${commandOf(decision)}.`, ...replica });
  try {
    if (decision.kind === 'repair') await controlPlane.repair({ signal });
    else if (decision.kind === 'resume') await controlPlane.resume({ signal });
    else if (decision.kind === 'backup') {
      memory.lastBackupAt = Date.now();
      await controlPlane.backups.create({});
    } else if (decision.kind === 'renew-certs') await controlPlane.certs.renew({ signal });
    else {
      const result: OperationResult = await controlPlane.replace({ name: decision.replica, signal });
      // The new replica inherits the count (a migration keeps the name).
      const added = result.replicas.find((r) => !before.has(r.name))?.name ?? decision.replica;
      noteReplaced(memory, decision.replica, added, Date.now());
    }
    say({ action: 'done', message: `${commandOf(decision)} finished.`, ...replica });
  } catch (error) {
    if (signal.aborted) return;
    if (decision.kind === 'replace') noteReplaced(memory, decision.replica, decision.replica, Date.now());
    say({ action: 'refused', ...describe(error), ...replica });
  }
}

function commandOf(decision: Exclude<WatchDecision, { kind: 'wait' }>): string {
  if (decision.kind === 'replace') return `\`hacp replace --replica ${decision.replica}\``;
  if (decision.kind === 'backup') return '`hacp backup create`';
  if (decision.kind === 'renew-certs') return '`hacp certs renew`';
  if (decision.kind === 'resume') return '`hacp resume`';
  return '`hacp repair`';
}

function describe(error: unknown): { code: string; message: string } {
  if (isHacpError(error)) {
    const next =
      error.code === ErrorCode.LOCKED
        ? ' Someone else is changing the cluster: the watch tries again at its next look.'
        : '';
    return { code: error.code, message: `${error.message}${next}` };
  }
  return { code: ErrorCode.INTERNAL, message: String(error) };
}

/** Says an event once, until the look that no longer finds it. */
function said(memory: WatchMemory, say: Say, key: string, event: Omit<WatchEvent, 'type' | 'time'>): void {
  if (memory.said[key] !== undefined) return;
  memory.said[key] = event.message;
  say(event);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
