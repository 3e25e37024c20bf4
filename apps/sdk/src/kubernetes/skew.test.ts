import { describe, expect, it } from 'vitest';
import { assertUpgradeSkew } from './skew.js';

const refusal = (from: string, to: string) => {
  try {
    assertUpgradeSkew(from, to);
  } catch (error) {
    return error as { code: string; message: string; actions: string[]; details: unknown };
  }
  throw new Error(`${from} → ${to} was allowed`);
};

describe('assertUpgradeSkew', () => {
  it('allows the same version, a patch either way, and one minor up', () => {
    for (const [from, to] of [
      ['v1.23.16', 'v1.23.16'],
      ['v1.23.16', 'v1.23.17'],
      ['v1.23.16', 'v1.23.15'],
      ['v1.31.4', 'v1.32.0-beta.0.0+cd13ec4ae44e'],
    ] as const)
      expect(() => assertUpgradeSkew(from, to)).not.toThrow();
  });

  it('refuses a skipped minor, naming the next one to go to', () => {
    const error = refusal('v1.23.16', 'v1.32.0-beta.0.0+cd13ec4ae44e');
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toMatchObject({ field: 'kubernetesVersion' });
    expect(error.message).toMatch(/would skip 8 minor versions/);
    expect(error.actions.join(' ')).toContain('hacp upgrade --kubernetes-version 1.24');
  });

  it('refuses a minor down and another major', () => {
    expect(refusal('v1.24.0', 'v1.23.16').message).toMatch(/a minor version down/);
    expect(refusal('v1.24.0', 'v2.24.0').message).toMatch(/changes the major version/);
  });
});
