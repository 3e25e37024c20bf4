import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import { noopLogger } from '../logger.js';
import { FileMutex } from './file-mutex.js';
import { jsonFiles } from './json-files.js';
import { selfRecord } from './processes.js';
import { createFileStateStore } from './state-store.js';
import { failureOf, snapshotOf, tempFolders } from './test-support.js';

const folders = tempFolders();
afterEach(() => folders.cleanUp());
const op = (expectedVersion: number, requestId = `r-${expectedVersion}`) => ({ requestId, expectedVersion });

async function storeIn() {
  const dir = await folders.make();
  const recordsDir = join(dir, 'records');
  const locksDir = join(dir, 'locks');
  const store = createFileStateStore({
    recordsDir,
    locksDir,
    mutex: new FileMutex(join(dir, '.mutex')),
    files: jsonFiles({ writer: 'hacp-test' }),
    logger: noopLogger,
  });
  return { dir, recordsDir, locksDir, store };
}

describe('the file state store', () => {
  it('puts with compare-and-swap: versions count up, a stale version is CONFLICT and writes nothing', async () => {
    const { dir, recordsDir, store } = await storeIn();
    expect(await store.put('cluster', { replicas: 1 }, op(0))).toEqual({
      key: 'cluster',
      version: 1,
      value: { replicas: 1 },
    });
    expect((await store.put('cluster', { replicas: 2 }, op(1))).version).toBe(2);
    const before = await snapshotOf(dir);

    expect((await failureOf(store.put('cluster', { replicas: 3 }, op(1, 'late')))).code).toBe(
      ErrorCode.CONFLICT,
    );
    expect((await failureOf(store.delete('cluster', op(1, 'late')))).code).toBe(ErrorCode.CONFLICT);
    expect(await snapshotOf(dir)).toEqual(before);
    expect((await stat(join(recordsDir, 'k-cluster.json'))).mode & 0o777).toBe(0o600);
  });

  it('returns the stored record again when the same put is retried after it succeeded', async () => {
    const { store } = await storeIn();
    await store.put('k', 'v', op(0, 'once'));
    expect(await store.put('k', 'v', op(0, 'once'))).toEqual({ key: 'k', version: 1, value: 'v' });
    expect((await failureOf(store.put('k', 'other', op(0, 'once')))).code).toBe(ErrorCode.CONFLICT);
  });

  it('keeps a copy of the value, deletes, and lists keys by prefix, long ones too', async () => {
    const { store } = await storeIn();
    const value = { n: 1 };
    await store.put('a/1', value, op(0));
    value.n = 2;
    const long = `b/${'x'.repeat(240)}`;
    await store.put(long, 1, op(0));
    await store.put('a/2', 1, op(0));
    await store.delete('a/2', op(1));

    expect((await store.get<{ n: number }>('a/1'))?.value).toEqual({ n: 1 });
    expect(await store.list('')).toEqual(['a/1', long]);
    expect(await store.list('b/')).toEqual([long]);
    await store.delete('missing', op(4));
  });

  it('refuses a record that is not its key, and one of a newer format, and leaves them', async () => {
    const { recordsDir, store } = await storeIn();
    await store.put('k', 1, op(0));
    const path = join(recordsDir, 'k-k.json');
    await writeFile(path, JSON.stringify({ format: 1, key: 'other', version: 1, value: 1 }));
    expect((await failureOf(store.get('k'))).code).toBe(ErrorCode.STATE_CORRUPT);
    await writeFile(path, JSON.stringify({ format: 9, key: 'k', version: 1, value: 1 }));
    expect((await failureOf(store.put('k', 2, op(1)))).message).toContain('newer hacp-test');
    expect(JSON.parse(await readFile(path, 'utf8')).format).toBe(9);
  });

  it('refuses bad input with INVALID_ARGUMENT and writes nothing', async () => {
    const { dir, store } = await storeIn();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const call of [
      store.put('', 1, op(0)),
      store.put('k', 1, op(-1)),
      store.put('k', cyclic, op(0)),
      store.put('k', undefined, op(0)),
      store.lock('l', { holder: '', ttlMs: 1_000 }),
      store.lock('l', { holder: 'h', ttlMs: 0 }),
    ]) {
      expect((await failureOf(call)).code).toBe(ErrorCode.INVALID_ARGUMENT);
    }
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('locks of the file state store', () => {
  it('is LOCKED for a second holder while the first one runs, naming it, and changes nothing', async () => {
    const { dir, store } = await storeIn();
    const lock = await store.lock('cluster', { holder: 'first', ttlMs: 60_000 });
    const before = await snapshotOf(dir);

    const error = await failureOf(store.lock('cluster', { holder: 'second', ttlMs: 60_000 }));
    expect(error.code).toBe(ErrorCode.LOCKED);
    expect(error.details).toMatchObject({ lock: 'cluster', holder: 'first' });
    expect(await snapshotOf(dir)).toEqual(before);
    await lock.release();
    await (await store.lock('cluster', { holder: 'second', ttlMs: 60_000 })).release();
  });

  it('gives the lock of a holder whose process has exited to the next one, before its expiry', async () => {
    const { locksDir, store } = await storeIn();
    await store.lock('cluster', { holder: 'crashed', ttlMs: 60_000 });
    const path = join(locksDir, 'k-cluster.json');
    const body = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...body, process: { ...selfRecord(), startTime: '1' } }));

    const next = await store.lock('cluster', { holder: 'next', ttlMs: 60_000 });
    expect(next.holder).toBe('next');
  });

  it('renews a held lock, and a lost one is LOCKED; releasing a lost lock changes nothing', async () => {
    const { store } = await storeIn();
    const first = await store.lock('cluster', { holder: 'first', ttlMs: 50 });
    const expiry = first.expiresAt.getTime();
    await first.renew();
    expect(first.expiresAt.getTime()).toBeGreaterThanOrEqual(expiry);
    await new Promise((done) => setTimeout(done, 80));
    const second = await store.lock('cluster', { holder: 'second', ttlMs: 60_000 });

    expect((await failureOf(first.renew())).code).toBe(ErrorCode.LOCKED);
    await first.release();
    expect((await failureOf(store.lock('cluster', { holder: 'third', ttlMs: 1_000 }))).details).toMatchObject(
      {
        holder: 'second',
      },
    );
    await second.release();
  });
});
