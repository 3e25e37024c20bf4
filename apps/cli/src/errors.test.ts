import { describe, expect, it } from 'vitest';
import { parseErrorToHacpError } from './base-command.js';
import { errorEnvelope, formatEnvelope, successEnvelope, WarningList } from './envelope.js';
import {
  ErrorCode,
  errorBody,
  exitCodeOf,
  HacpError,
  isHacpError,
  renderError,
  toHacpError,
} from './errors.js';

const error = (code: ErrorCode, actions: string[] = []) =>
  new HacpError({ code, message: `${code} happened.`, actions });

describe('exit codes', () => {
  it.each([
    [ErrorCode.INVALID_ARGUMENT, 2],
    [ErrorCode.NOT_FOUND, 2],
    [ErrorCode.ALREADY_EXISTS, 2],
    [ErrorCode.ZONE_INVALID, 2],
    [ErrorCode.ZONE_NOT_IN_REGION, 2],
    [ErrorCode.MULTIZONE_REQUIRED, 2],
    [ErrorCode.REPLICA_NOT_FOUND, 2],
    [ErrorCode.QUORUM_AT_RISK, 3],
    [ErrorCode.LEARNER_PRESENT, 3],
    [ErrorCode.LAST_REPLICA, 3],
    [ErrorCode.LOCKED, 3],
    [ErrorCode.ABORTED, 4],
    [ErrorCode.TIMEOUT, 1],
    [ErrorCode.UNAVAILABLE, 1],
    [ErrorCode.LEARNER_STALLED, 1],
    [ErrorCode.MEMBER_NOT_STARTED, 1],
    [ErrorCode.DEPENDENCY_MISSING, 1],
    [ErrorCode.STATE_CORRUPT, 1],
    [ErrorCode.INTERNAL, 1],
  ])('%s exits %i', (code, exit) => {
    expect(exitCodeOf(error(code))).toBe(exit);
    expect(errorEnvelope(error(code)).status).toBe(exit);
  });

  it('treats any other thrown value as INTERNAL, exit 1', () => {
    expect(exitCodeOf(new TypeError('x is undefined'))).toBe(1);
    expect(toHacpError(new TypeError('x is undefined')).code).toBe('INTERNAL');
    expect(toHacpError('a string').message).toBe('Unexpected error: a string');
  });

  it('recognises a HacpError from another copy of the package by its marker', () => {
    const foreign = Object.assign(new Error('Quorum.'), {
      [Symbol.for('hacp.error')]: true,
      code: 'QUORUM_AT_RISK',
      actions: [],
    });
    expect(isHacpError(foreign)).toBe(true);
    expect(exitCodeOf(foreign)).toBe(3);
  });
});

describe('error text and envelope', () => {
  it('prints the code, the message and each action', () => {
    expect(
      renderError(
        error(ErrorCode.QUORUM_AT_RISK, [
          'Repair or replace the unhealthy replica first.',
          'Run `hacp status`.',
        ]),
      ),
    ).toBe(
      [
        'Error (QUORUM_AT_RISK): QUORUM_AT_RISK happened.',
        '  → Repair or replace the unhealthy replica first.',
        '  → Run `hacp status`.',
        '',
      ].join('\n'),
    );
  });

  it('indents the continuation lines of a message', () => {
    expect(
      renderError(new HacpError({ code: 'INVALID_ARGUMENT', message: 'Missing 1 required arg:\noperation' })),
    ).toBe('Error (INVALID_ARGUMENT): Missing 1 required arg:\n  operation\n');
  });

  it('keeps details, stack and cause out of the envelope', () => {
    const envelope = errorEnvelope(
      new HacpError({
        code: 'ZONE_NOT_IN_REGION',
        message: 'Zone us-east1-b is not in region local.',
        actions: ['Pick a zone in local.'],
        details: { zone: 'us-east1-b' },
        cause: new Error('inner'),
      }),
    );
    expect(envelope).toEqual({
      status: 2,
      error: {
        code: 'ZONE_NOT_IN_REGION',
        message: 'Zone us-east1-b is not in region local.',
        actions: ['Pick a zone in local.'],
      },
    });
  });

  it('never prints a private key or a bearer token an unexpected error carried', () => {
    const leak = new Error(
      'bad file: -----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY----- with Authorization: Bearer abc.def.ghi',
    );
    const text = renderError(leak) + JSON.stringify(errorBody(leak));
    expect(text).not.toContain('MIGHAgEAMBMGByqGSM49');
    expect(text).not.toContain('abc.def.ghi');
    expect(text).toContain('Error (INTERNAL): Unexpected error: bad file:');
  });

  it('prints exactly one indented JSON document', () => {
    const text = formatEnvelope(successEnvelope({ ok: true }, [{ code: 'W', message: 'm' }]));
    expect(text.endsWith('}\n')).toBe(true);
    expect(JSON.parse(text)).toEqual({
      status: 0,
      result: { ok: true },
      warnings: [{ code: 'W', message: 'm' }],
    });
  });

  it('keeps each warning once, in order', () => {
    const list = new WarningList();
    expect(list.add({ code: 'A', message: '1' })).toBe(true);
    expect(list.add({ code: 'B', message: '2' })).toBe(true);
    expect(list.add({ code: 'A', message: '1' })).toBe(false);
    expect(list.all()).toEqual([
      { code: 'A', message: '1' },
      { code: 'B', message: '2' },
    ]);
  });
});

describe('parseErrorToHacpError', () => {
  it("turns oclif's parse errors into INVALID_ARGUMENT (exit 2), without colours or the help hint", () => {
    const parsed = parseErrorToHacpError(
      new Error('\u001b[31mNonexistent flag: --bogus\u001b[39m\nSee more help with --help'),
      'zone fail',
    );
    expect(parsed.code).toBe('INVALID_ARGUMENT');
    expect(parsed.message).toBe('Nonexistent flag: --bogus');
    expect(parsed.actions).toEqual(['Run `hacp zone fail --help` for its flags and arguments.']);
    expect(exitCodeOf(parsed)).toBe(2);
  });

  it('keeps a HacpError as it is', () => {
    const original = error(ErrorCode.ZONE_INVALID);
    expect(parseErrorToHacpError(original, 'up')).toBe(original);
  });
});
