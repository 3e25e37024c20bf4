import { describe, expect, it } from 'vitest';
import { formatGoTime, type GoInstant, parseGoTime, RFC3339, RFC3339_MICRO } from './go-time.js';

const micro = (value: string) => {
  const parsed = parseGoTime(value, RFC3339_MICRO);
  return typeof parsed === 'string' ? parsed : formatGoTime(parsed, RFC3339_MICRO);
};

describe('parseGoTime with the MicroTime layout', () => {
  it('accepts exactly six fractional digits and prints in UTC', () => {
    expect(micro('2026-11-23T19:04:28.205000Z')).toBe('2026-11-23T19:04:28.205000Z');
    expect(micro('2026-11-23T19:04:28.000001Z')).toBe('2026-11-23T19:04:28.000001Z');
    expect(micro('2026-11-23T20:04:28.123456+01:00')).toBe('2026-11-23T19:04:28.123456Z');
    expect(micro('2026-01-01T00:30:00.000000+01:00')).toBe('2025-12-31T23:30:00.000000Z');
  });

  it('refuses three digits with Go’s error text', () => {
    expect(micro('2026-11-23T19:04:28.205Z')).toBe(
      'parsing time "2026-11-23T19:04:28.205Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".205Z" as ".000000"',
    );
  });

  it('refuses nine digits, no fraction, and trailing text', () => {
    expect(micro('2026-11-23T19:04:28.205000000Z')).toBe(
      'parsing time "2026-11-23T19:04:28.205000000Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "000Z" as "Z07:00"',
    );
    expect(micro('2026-11-23T19:04:28Z')).toMatch(/cannot parse "Z" as ".000000"/);
    expect(micro('2026-11-23T19:04:28.205000Zjunk')).toBe(
      'parsing time "2026-11-23T19:04:28.205000Zjunk": extra text: "junk"',
    );
  });

  it('refuses out-of-range fields', () => {
    expect(micro('2026-13-01T00:00:00.000000Z')).toBe(
      'parsing time "2026-13-01T00:00:00.000000Z": month out of range',
    );
    expect(micro('2026-02-30T00:00:00.000000Z')).toBe(
      'parsing time "2026-02-30T00:00:00.000000Z": day out of range',
    );
    expect(micro('2026-02-01T24:00:00.000000Z')).toBe(
      'parsing time "2026-02-01T24:00:00.000000Z": hour out of range',
    );
  });
});

describe('parseGoTime with RFC3339 (metav1.Time)', () => {
  it('accepts a fraction the layout does not name and drops it when printing', () => {
    const parsed = parseGoTime('2026-11-23T19:04:28.205Z', RFC3339) as GoInstant;
    expect(typeof parsed).toBe('object');
    expect(formatGoTime(parsed, RFC3339)).toBe('2026-11-23T19:04:28Z');
  });
});
