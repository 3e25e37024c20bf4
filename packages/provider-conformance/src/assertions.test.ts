import { AssertionError } from 'node:assert';
import { HacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { expectHacpError, expectSuccess } from './assertions.js';

const conflict = new HacpError({ code: 'CONFLICT', message: 'Someone wrote first.' });

describe('expectHacpError', () => {
  it('returns the HacpError when the code matches', async () => {
    await expect(expectHacpError(Promise.reject(conflict), 'CONFLICT')).resolves.toBe(conflict);
  });

  it('takes any code when the code is undefined', async () => {
    await expect(expectHacpError(Promise.reject(conflict), undefined)).resolves.toBe(conflict);
  });

  it('says the call succeeded, and what it returned', async () => {
    const outcome = expectHacpError(
      Promise.resolve({ version: 3 }),
      'CONFLICT',
      'a put with a stale version',
    );
    await expect(outcome).rejects.toBeInstanceOf(AssertionError);
    await expect(outcome).rejects.toThrow(
      'A put with a stale version should have failed with HacpError CONFLICT, but it succeeded and returned {"version":3}.',
    );
  });

  it('names the code that was thrown instead', async () => {
    await expect(expectHacpError(Promise.reject(conflict), 'LOCKED', 'taking the lock')).rejects.toThrow(
      'Taking the lock should have failed with HacpError LOCKED, but it threw HacpError CONFLICT ("Someone wrote first.").',
    );
  });

  it('says when what was thrown is not a HacpError', async () => {
    await expect(
      expectHacpError(Promise.reject(new TypeError('x is undefined')), 'NOT_FOUND'),
    ).rejects.toThrow(
      'The call should have failed with HacpError NOT_FOUND, but it threw TypeError ("x is undefined"), which is not a HacpError.',
    );
  });

  it('catches a synchronous throw when given a function', async () => {
    const call = () => {
      throw conflict;
    };
    await expect(expectHacpError(call, 'CONFLICT')).resolves.toBe(conflict);
  });
});

describe('expectSuccess', () => {
  it('returns the value', async () => {
    await expect(expectSuccess(Promise.resolve(7), 'counting')).resolves.toBe(7);
  });

  it('says what should have succeeded and what it threw', async () => {
    const gone = new HacpError({ code: 'NOT_FOUND', message: 'No such instance.' });
    const outcome = expectSuccess(Promise.reject(gone), 'deleting a missing instance');
    await expect(outcome).rejects.toBeInstanceOf(AssertionError);
    await expect(outcome).rejects.toThrow(
      'Deleting a missing instance should succeed, but it threw HacpError NOT_FOUND ("No such instance.").',
    );
  });
});
