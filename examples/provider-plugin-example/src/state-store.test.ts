import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isHacpError, type StateStore } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createExampleProvider } from './provider.js';
import { tempStateDir } from './test-support.js';

const stateDirs: string[] = [];

async function store(): Promise<{ state: StateStore; stateDir: string }> {
  const stateDir = await tempStateDir();
  stateDirs.push(stateDir);
  return { state: createExampleProvider({ stateDir }).state, stateDir };
}

const recordFile = (stateDir: string, key: string) =>
  join(stateDir, 'state', 'records', `k-${encodeURIComponent(key)}.json`);

async function codeOf(call: Promise<unknown>): Promise<string | undefined> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  return isHacpError(error) ? error.code : error === undefined ? undefined : String(error);
}

afterEach(async () => {
  for (const stateDir of stateDirs.splice(0)) await rm(stateDir, { recursive: true, force: true });
});

describe('the state store', () => {
  it('a record that is not JSON is STATE_CORRUPT for get, put and delete, and stays as it was', async () => {
    const { state, stateDir } = await store();
    await state.put('moon/record', { ok: true }, { requestId: 'r1', expectedVersion: 0 });
    const path = recordFile(stateDir, 'moon/record');
    await writeFile(path, '{"format":1,"key":"moon/rec');
    expect(await codeOf(state.get('moon/record'))).toBe('STATE_CORRUPT');
    expect(await codeOf(state.put('moon/record', 1, { requestId: 'r2', expectedVersion: 1 }))).toBe(
      'STATE_CORRUPT',
    );
    expect(await codeOf(state.delete('moon/record', { requestId: 'r3', expectedVersion: 1 }))).toBe(
      'STATE_CORRUPT',
    );
    expect(await readFile(path, 'utf8')).toBe('{"format":1,"key":"moon/rec');
    // Listing still works: the key is in the file name.
    expect(await state.list('moon/')).toEqual(['moon/record']);
  });

  it('a record of a newer format, or of another key, is STATE_CORRUPT', async () => {
    const { state, stateDir } = await store();
    await mkdir(join(stateDir, 'state', 'records'), { recursive: true });
    const newer = JSON.stringify({ format: 2, key: 'moon/newer', version: 1, value: 1 });
    await writeFile(recordFile(stateDir, 'moon/newer'), newer);
    const error = await state.get('moon/newer').catch((thrown: unknown) => thrown);
    expect(isHacpError(error, 'STATE_CORRUPT')).toBe(true);
    expect((error as Error).message).toMatch(/newer/);
    await writeFile(
      recordFile(stateDir, 'moon/moved'),
      JSON.stringify({ format: 1, key: 'moon/other', version: 1, value: 1 }),
    );
    expect(await codeOf(state.get('moon/moved'))).toBe('STATE_CORRUPT');
    expect(await readFile(recordFile(stateDir, 'moon/newer'), 'utf8')).toBe(newer);
  });

  it('keeps keys too long for a file name, and lists them', async () => {
    const { state } = await store();
    const key = `moon/${'ü'.repeat(120)}`;
    await state.put(key, 'long', { requestId: 'r1', expectedVersion: 0 });
    expect(await state.get(key)).toEqual({ key, version: 1, value: 'long' });
    expect(await state.list('moon/')).toEqual([key]);
  });

  it('a put repeated with its requestId after it succeeded succeeds again; another is CONFLICT', async () => {
    const { state } = await store();
    const first = await state.put('moon/a', { n: 1 }, { requestId: 'same', expectedVersion: 0 });
    expect(await state.put('moon/a', { n: 1 }, { requestId: 'same', expectedVersion: 0 })).toEqual(first);
    expect(await codeOf(state.put('moon/a', { n: 1 }, { requestId: 'other', expectedVersion: 0 }))).toBe(
      'CONFLICT',
    );
    expect(await state.get('moon/a')).toEqual({ key: 'moon/a', version: 1, value: { n: 1 } });
  });

  it('LOCKED names the lock, its holder and its expiry', async () => {
    const { state } = await store();
    const lock = await state.lock('moon/lock', { holder: 'first', ttlMs: 30_000 });
    const error = await state
      .lock('moon/lock', { holder: 'second', ttlMs: 30_000 })
      .catch((thrown: unknown) => thrown);
    expect(isHacpError(error, 'LOCKED')).toBe(true);
    expect((error as { details: unknown }).details).toEqual({
      lock: 'moon/lock',
      holder: 'first',
      expiresAt: lock.expiresAt.toISOString(),
    });
    await lock.release();
  });
});
