import { describe, expect, it } from 'vitest';
import { ErrorCode, ExitCode, exitCodeFor, HacpError, invalidArgument, isHacpError } from './errors.js';

const ALL_CODES = Object.values(ErrorCode);

describe('HacpError', () => {
  it('carries code, message, actions and details', () => {
    const error = new HacpError({
      code: 'ZONE_NOT_IN_REGION',
      message: 'Zone us-east1-b is not in the cluster region europe-west1.',
      actions: ['Pick a zone in europe-west1.'],
      details: { zone: 'us-east1-b', region: 'europe-west1' },
    });

    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('HacpError');
    expect(error.code).toBe('ZONE_NOT_IN_REGION');
    expect(error.message).toBe('Zone us-east1-b is not in the cluster region europe-west1.');
    expect(error.actions).toEqual(['Pick a zone in europe-west1.']);
    expect(error.details).toEqual({ zone: 'us-east1-b', region: 'europe-west1' });
    expect(error.exitCode).toBe(ExitCode.BAD_INPUT);
  });

  it('defaults actions and details to empty, and freezes actions', () => {
    const actions = ['Retry.'];
    const error = new HacpError({ code: 'INTERNAL', message: 'boom', actions });
    actions.push('Changed later.');

    expect(error.actions).toEqual(['Retry.']);
    expect(Object.isFrozen(error.actions)).toBe(true);
    expect(new HacpError({ code: 'INTERNAL', message: 'boom' }).actions).toEqual([]);
    expect(new HacpError({ code: 'INTERNAL', message: 'boom' }).details).toEqual({});
  });

  it.each(['CONFLICT', 'LOCKED', 'TIMEOUT', 'UNAVAILABLE'] as const)(
    'is retryable by default for %s',
    (code) => {
      expect(new HacpError({ code, message: 'm' }).retryable).toBe(true);
    },
  );

  it('is not retryable by default for every other code', () => {
    const retryable = new Set<string>(['CONFLICT', 'LOCKED', 'TIMEOUT', 'UNAVAILABLE']);
    const others = ALL_CODES.filter((code) => !retryable.has(code));

    expect(others.length).toBe(ALL_CODES.length - 4);
    for (const code of others) {
      expect(new HacpError({ code, message: 'm' }).retryable, code).toBe(false);
    }
  });

  it('takes an explicit retryable over the default', () => {
    expect(new HacpError({ code: 'UNAVAILABLE', message: 'm', retryable: false }).retryable).toBe(false);
    expect(new HacpError({ code: 'PROVIDER_ERROR', message: 'm', retryable: true }).retryable).toBe(true);
  });

  it('keeps the cause, and has none when none was given', () => {
    const cause = new Error('socket hang up');
    expect(new HacpError({ code: 'UNAVAILABLE', message: 'm', cause }).cause).toBe(cause);
    expect('cause' in new HacpError({ code: 'UNAVAILABLE', message: 'm' })).toBe(false);
  });

  it('serialises to code, message, actions, details and retryable only', () => {
    const error = new HacpError({
      code: 'LOCKED',
      message: 'The cluster is locked by hacp@host-1.',
      actions: ['Wait for the other operation.'],
      details: { holder: 'hacp@host-1' },
      cause: new Error('inner'),
    });

    const json = JSON.parse(JSON.stringify(error));

    expect(json).toEqual({
      code: 'LOCKED',
      message: 'The cluster is locked by hacp@host-1.',
      actions: ['Wait for the other operation.'],
      details: { holder: 'hacp@host-1' },
      retryable: true,
    });
    expect(Object.keys(error.toJSON())).not.toContain('stack');
    expect(Object.keys(error.toJSON())).not.toContain('cause');
  });
});

describe('exitCodeFor', () => {
  it.each([
    'INVALID_ARGUMENT',
    'ZONE_INVALID',
    'ZONE_NOT_IN_REGION',
    'MULTIZONE_REQUIRED',
    'REPLICA_NOT_FOUND',
    'NOT_FOUND',
    'ALREADY_EXISTS',
    'PROVIDER_NOT_FOUND',
  ] as const)('is 2 (bad input) for %s', (code) => {
    expect(exitCodeFor(code)).toBe(2);
  });

  it.each(['QUORUM_AT_RISK', 'QUORUM_LOST', 'LEARNER_PRESENT', 'LAST_REPLICA', 'LOCKED'] as const)(
    'is 3 (refused) for %s',
    (code) => {
      expect(exitCodeFor(code)).toBe(3);
    },
  );

  it('is 4 (interrupted) for ABORTED', () => {
    expect(exitCodeFor('ABORTED')).toBe(4);
  });

  it('is 1 for every other code', () => {
    const special = new Set<string>([
      'INVALID_ARGUMENT',
      'ZONE_INVALID',
      'ZONE_NOT_IN_REGION',
      'MULTIZONE_REQUIRED',
      'REPLICA_NOT_FOUND',
      'NOT_FOUND',
      'ALREADY_EXISTS',
      'PROVIDER_NOT_FOUND',
      'QUORUM_AT_RISK',
      'QUORUM_LOST',
      'LEARNER_PRESENT',
      'LAST_REPLICA',
      'LOCKED',
      'ABORTED',
    ]);
    const others = ALL_CODES.filter((code) => !special.has(code));

    expect(others).toContain('INTERNAL');
    expect(others).toContain('TIMEOUT');
    for (const code of others) {
      expect(exitCodeFor(code), code).toBe(1);
    }
  });
});

describe('isHacpError', () => {
  it('is true for a HacpError and filters by code', () => {
    const error = new HacpError({ code: 'TIMEOUT', message: 'm' });

    expect(isHacpError(error)).toBe(true);
    expect(isHacpError(error, 'TIMEOUT')).toBe(true);
    expect(isHacpError(error, 'ABORTED')).toBe(false);
  });

  it('is true for an error made by another copy of the package', () => {
    // Another copy has its own class, so instanceof fails; only the registered symbol is shared.
    const foreign = Object.assign(new Error('from another copy'), {
      code: 'LOCKED',
      [Symbol.for('hacp.error')]: true,
    });

    expect(foreign instanceof HacpError).toBe(false);
    expect(isHacpError(foreign)).toBe(true);
    expect(isHacpError(foreign, 'LOCKED')).toBe(true);
    expect(isHacpError(foreign, 'CONFLICT')).toBe(false);
  });

  it('is false for plain errors, look-alikes and non-objects', () => {
    expect(isHacpError(new Error('plain'))).toBe(false);
    expect(isHacpError(Object.assign(new Error('x'), { code: 'LOCKED' }))).toBe(false);
    expect(isHacpError({ [Symbol.for('hacp.error')]: 'yes', code: 'LOCKED' })).toBe(false);
    expect(isHacpError(null)).toBe(false);
    expect(isHacpError(undefined)).toBe(false);
    expect(isHacpError('HacpError')).toBe(false);
    expect(isHacpError(42)).toBe(false);
  });
});

describe('invalidArgument', () => {
  it('makes an INVALID_ARGUMENT naming the field', () => {
    const error = invalidArgument({ field: 'zone', message: 'Bad zone.', actions: ['Fix it.'] });

    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect(error.message).toBe('Bad zone.');
    expect(error.actions).toEqual(['Fix it.']);
    expect(error.details).toEqual({ field: 'zone' });
    expect(error.retryable).toBe(false);
    expect(error.exitCode).toBe(2);
  });

  it('puts the value in details when given', () => {
    expect(invalidArgument({ field: 'replicas', message: 'm', value: 0 }).details).toEqual({
      field: 'replicas',
      value: 0,
    });
  });
});
