import { ErrorCode, isHacpError } from '@hacp/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkBackupRetention,
  DEFAULT_BACKUP_RETENTION,
  parseRetentionDuration,
  retentionRules,
  selectRetained,
} from './backup-retention.js';

const HOUR = 3_600_000;
const NOW = new Date('2026-12-07T12:00:00Z');

function refusal(run: () => unknown) {
  try {
    run();
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('retention durations', () => {
  it('reads whole numbers with s, m, h, d or w, several adding up', () => {
    expect(parseRetentionDuration('90m')).toBe(90 * 60_000);
    expect(parseRetentionDuration('36h')).toBe(36 * HOUR);
    expect(parseRetentionDuration('7d')).toBe(7 * 24 * HOUR);
    expect(parseRetentionDuration('2w')).toBe(14 * 24 * HOUR);
    expect(parseRetentionDuration('1d12h')).toBe(36 * HOUR);
    expect(parseRetentionDuration('30s')).toBe(30_000);
  });

  it.each(['', '7', 'd', '7days', '-1d', '1.5h', '7D', '0d', '0h0m', ' 7d', '9999999999999w'])(
    'refuses %j with INVALID_ARGUMENT naming the flag',
    (value) => {
      const error = refusal(() => parseRetentionDuration(value, '--keep-within'));
      expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(error.message).toContain('--keep-within');
      expect(error.details).toMatchObject({ field: '--keep-within', value });
      expect(error.actions.join(' ')).toMatch(/90m, 36h, 7d/);
    },
  );

  it('refuses a keep-last below 1 or not whole, naming where it came from', () => {
    for (const keepLast of [0, -3, 1.5, Number.NaN]) {
      const error = refusal(() =>
        checkBackupRetention({ keepLast }, { keepLast: 'HACP_BACKUP_KEEP_LAST', keepWithin: 'x' }),
      );
      expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(error.message).toContain('HACP_BACKUP_KEEP_LAST');
    }
    expect(retentionRules({ keepLast: 1 })).toEqual({ keepLast: 1 });
  });

  it('defaults to the last 10 and everything within 7 days', () => {
    expect(DEFAULT_BACKUP_RETENTION).toEqual({ keepLast: 10, keepWithin: '7d' });
    expect(retentionRules(DEFAULT_BACKUP_RETENTION)).toEqual({ keepLast: 10, keepWithinMs: 7 * 24 * HOUR });
  });
});

describe('selectRetained', () => {
  const backup = (id: string, hoursAgo: number) => ({
    id,
    createdAt: new Date(NOW.getTime() - hoursAgo * HOUR).toISOString(),
  });
  const ids = (list: readonly { id: string }[]) => list.map((b) => b.id);

  it('keeps what any rule keeps, newest first', () => {
    const backups = [backup('a', 100), backup('b', 50), backup('c', 10), backup('d', 5), backup('e', 1)];
    expect(ids(selectRetained(backups, { keepLast: 2 }, NOW).keep)).toEqual(['e', 'd']);
    expect(ids(selectRetained(backups, { keepWithinMs: 12 * HOUR }, NOW).keep)).toEqual(['e', 'd', 'c']);
    const both = selectRetained(backups, { keepLast: 4, keepWithinMs: 2 * HOUR }, NOW);
    expect(ids(both.keep)).toEqual(['e', 'd', 'c', 'b']);
    expect(ids(both.remove)).toEqual(['a']);
  });

  it('keeps the newest even when no rule does, and everything without a rule', () => {
    const backups = [backup('old', 1000), backup('older', 2000)];
    expect(ids(selectRetained(backups, { keepWithinMs: HOUR }, NOW).keep)).toEqual(['old']);
    expect(ids(selectRetained(backups, {}, NOW).keep)).toEqual(['old', 'older']);
  });

  it('property: the newest is never deleted, and exactly what the rules say is kept', () => {
    const arbitraryBackups = fc.uniqueArray(
      fc.record({
        id: fc.stringMatching(/^[a-z0-9]{1,6}$/),
        // Minutes before NOW, some at the same minute, some (a skewed clock) after it.
        minutesAgo: fc.integer({ min: -30, max: 20_000 }),
      }),
      { selector: (b) => b.id, maxLength: 30 },
    );
    fc.assert(
      fc.property(
        arbitraryBackups,
        fc.option(fc.integer({ min: 1, max: 15 }), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined }),
        (raw, keepLast, withinMinutes) => {
          const backups = raw.map((b) => ({
            id: b.id,
            createdAt: new Date(NOW.getTime() - b.minutesAgo * 60_000).toISOString(),
          }));
          const rules = {
            ...(keepLast === undefined ? {} : { keepLast }),
            ...(withinMinutes === undefined ? {} : { keepWithinMs: withinMinutes * 60_000 }),
          };
          const { keep, remove } = selectRetained(backups, rules, NOW);
          // A partition of the input.
          expect([...ids(keep), ...ids(remove)].sort()).toEqual(ids(backups).sort());
          const time = (b: { createdAt: string }) => Date.parse(b.createdAt);
          const newer = (a: { id: string; createdAt: string }, b: { id: string; createdAt: string }) =>
            time(a) > time(b) || (time(a) === time(b) && a.id > b.id);
          const newest = backups.find((b) => backups.every((other) => other === b || newer(b, other)));
          if (newest !== undefined) expect(ids(keep)).toContain(newest.id);
          const noRule = keepLast === undefined && withinMinutes === undefined;
          for (const b of backups) {
            const rank = backups.filter((other) => newer(other, b)).length;
            const byLast = keepLast !== undefined && rank < keepLast;
            const byWithin = withinMinutes !== undefined && NOW.getTime() - time(b) <= withinMinutes * 60_000;
            const expected = noRule || b === newest || byLast || byWithin;
            expect(ids(keep).includes(b.id)).toBe(expected);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
