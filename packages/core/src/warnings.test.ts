import { describe, expect, it } from 'vitest';
import { isWarningCode, WarningCode } from './warnings.js';

describe('WarningCode', () => {
  it('is one closed set: each code is its own name, and nothing else is a warning code', () => {
    for (const [name, code] of Object.entries(WarningCode)) expect(code).toBe(name);
    expect(isWarningCode('OPERATION_DISCARDED')).toBe(true);
    expect(isWarningCode('CERTIFICATE_EXPIRING')).toBe(true);
    expect(isWarningCode('QUORUM_AT_RISK')).toBe(false);
    expect(isWarningCode('')).toBe(false);
  });
});
