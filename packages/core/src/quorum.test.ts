import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isHacpError } from './errors.js';
import { quorumOf, toleratedFailures } from './quorum.js';

function thrown(run: () => unknown) {
  try {
    run();
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a HacpError');
}

describe('quorumOf', () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [5, 3],
    [6, 4],
    [7, 4],
  ])('quorumOf(%i) = %i', (voters, quorum) => {
    expect(quorumOf(voters)).toBe(quorum);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])(
    'refuses %s voters with INVALID_ARGUMENT on voters',
    (voters) => {
      const error = thrown(() => quorumOf(voters));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.details).toMatchObject({ field: 'voters' });
      expect(error.message).toContain('at least 1');
    },
  );

  it('is a strict majority, the smallest one, and two quorums always overlap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), (voters) => {
        const quorum = quorumOf(voters);
        expect(2 * quorum).toBeGreaterThan(voters);
        expect(2 * (quorum - 1)).toBeLessThanOrEqual(voters);
        expect(quorum).toBeLessThanOrEqual(voters);
        expect(quorumOf(voters + 1)).toBeGreaterThanOrEqual(quorum);
      }),
    );
  });
});

describe('toleratedFailures', () => {
  it.each([
    [1, 0],
    [2, 0],
    [3, 1],
    [4, 1],
    [5, 2],
    [6, 2],
    [7, 3],
  ])('%i voters tolerate %i failures', (voters, failures) => {
    expect(toleratedFailures(voters)).toBe(failures);
  });

  it('losing that many keeps a quorum, losing one more does not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), (voters) => {
        const failures = toleratedFailures(voters);
        expect(voters - failures).toBeGreaterThanOrEqual(quorumOf(voters));
        expect(voters - failures - 1).toBeLessThan(quorumOf(voters));
      }),
    );
  });

  it('refuses 0 voters with INVALID_ARGUMENT', () => {
    expect(thrown(() => toleratedFailures(0)).code).toBe('INVALID_ARGUMENT');
  });
});
