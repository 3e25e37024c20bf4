/**
 * The retention rules of the backup catalogue, pure: which of one cluster's backups `--keep-last N`
 * and `--keep-within <duration>` keep. A backup is kept when any rule keeps it (restic's
 * semantics), and the newest is kept whatever the rules say.
 */
import { ErrorCode, HacpError } from '@hacp/core';
import type { BackupRetention } from './types.js';

/** What hacp keeps when nothing else is said: the last 10 backups, and every one of the last 7 days. */
export const DEFAULT_BACKUP_RETENTION: Readonly<BackupRetention> = Object.freeze({
  keepLast: 10,
  keepWithin: '7d',
});

/** The rules, checked, with the duration in milliseconds. */
export interface RetentionRules {
  keepLast?: number;
  keepWithinMs?: number;
}

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

function badValue(field: string, value: unknown, message: string, action: string): HacpError {
  return new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `${field}=${JSON.stringify(value)} is not valid: ${message}`,
    actions: [action],
    details: { field, value: String(value) },
  });
}

/**
 * A duration as the retention flags take it: whole numbers with a unit, `s`, `m`, `h`, `d` (24 h)
 * or `w` (7 d), several in a row adding up (`1d12h`).
 *
 * @example parseRetentionDuration('90m') // 5_400_000
 * @throws HacpError INVALID_ARGUMENT for anything else, or a zero duration; `field` names the flag or setting.
 */
export function parseRetentionDuration(value: string, field = 'keepWithin'): number {
  const action = `Give ${field} a duration such as 90m, 36h, 7d or 2w.`;
  if (typeof value !== 'string' || !/^(\d+[smhdw])+$/.test(value)) {
    throw badValue(
      field,
      value,
      'a duration is whole numbers with a unit: s, m, h, d or w (90m, 36h, 7d).',
      action,
    );
  }
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+)([smhdw])/g)) {
    total += Number(amount) * (UNIT_MS[unit as string] as number);
  }
  if (!Number.isSafeInteger(total) || total <= 0) {
    throw badValue(field, value, 'the duration must be more than zero and of a sensible size.', action);
  }
  return total;
}

/**
 * Checks retention settings and resolves the duration. `fields` names the flags or variables the
 * values came from, for the message.
 *
 * @throws HacpError INVALID_ARGUMENT for a `keepLast` that is not a whole number of at least 1, or a bad `keepWithin`.
 */
export function retentionRules(
  retention: BackupRetention,
  fields: { keepLast: string; keepWithin: string } = { keepLast: 'keepLast', keepWithin: 'keepWithin' },
): RetentionRules {
  const rules: RetentionRules = {};
  if (retention.keepLast !== undefined) {
    if (!Number.isSafeInteger(retention.keepLast) || retention.keepLast < 1) {
      throw badValue(
        fields.keepLast,
        retention.keepLast,
        'it must be a whole number of at least 1 (the newest backup is always kept).',
        `Give ${fields.keepLast} a whole number such as 10.`,
      );
    }
    rules.keepLast = retention.keepLast;
  }
  if (retention.keepWithin !== undefined) {
    rules.keepWithinMs = parseRetentionDuration(retention.keepWithin, fields.keepWithin);
  }
  return rules;
}

/**
 * Checks retention settings as `createControlPlane` and `backups.prune` will, naming the flags or
 * variables they came from: for a caller that wants a bad value refused before anything else.
 *
 * @example checkBackupRetention({ keepWithin: '36h' }, { keepLast: '--keep-last', keepWithin: '--keep-within' });
 * @throws HacpError INVALID_ARGUMENT for a bad value.
 */
export function checkBackupRetention(
  retention: BackupRetention,
  fields?: { keepLast: string; keepWithin: string },
): void {
  retentionRules(retention, fields);
}

/** Newest first: by time, then by id, so that two backups of the same millisecond keep one order. */
export function newestFirst<T extends { id: string; createdAt: string }>(a: T, b: T): number {
  const byTime = Date.parse(b.createdAt) - Date.parse(a.createdAt);
  if (byTime !== 0) return byTime;
  return a.id === b.id ? 0 : a.id < b.id ? 1 : -1;
}

/**
 * Splits one cluster's backups into those the rules keep and those they let go, each newest first.
 * The newest is always kept; with no rule at all, every backup is kept.
 *
 * @example
 * selectRetained(backups, { keepLast: 3, keepWithinMs: 86_400_000 }, new Date());
 */
export function selectRetained<T extends { id: string; createdAt: string }>(
  backups: readonly T[],
  rules: RetentionRules,
  now: Date,
): { keep: T[]; remove: T[] } {
  const sorted = [...backups].sort(newestFirst);
  if (rules.keepLast === undefined && rules.keepWithinMs === undefined) return { keep: sorted, remove: [] };
  const keep: T[] = [];
  const remove: T[] = [];
  for (const [index, backup] of sorted.entries()) {
    const recent =
      rules.keepWithinMs !== undefined && now.getTime() - Date.parse(backup.createdAt) <= rules.keepWithinMs;
    const last = rules.keepLast !== undefined && index < rules.keepLast;
    if (index === 0 || recent || last) keep.push(backup);
    else remove.push(backup);
  }
  return { keep, remove };
}
