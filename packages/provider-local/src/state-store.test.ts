import { spawn } from 'node:child_process';
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, isHacpError } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalProvider } from './provider.js';
import { tempStateDir } from './test-support.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function storeIn() {
  const temp = await tempStateDir();
  cleanups.push(temp.remove);
  const paths = {
    records: join(temp.dir, 'state', 'records'),
    locks: join(temp.dir, 'state', 'locks'),
    mutex: join(temp.dir, '.mutex'),
  };
  return { dir: temp.dir, paths, store: createLocalProvider({ stateDir: temp.dir }).state };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isHacpError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a HacpError, but the call succeeded');
}

/** Every file under `dir`, with its bytes, to prove a refusal changed nothing. */
async function snapshotOf(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files[path] = await readFile(path, 'utf8');
    }
  }
  return files;
}

describe('the folder state store', () => {
  it('keeps records as 0600 files in 0700 folders', async () => {
    const { dir, paths, store } = await storeIn();

    await store.put('clusters/demo', { endpoint: '127.80.0.1' }, { requestId: 'r1', expectedVersion: 0 });

    expect((await stat(paths.records)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    const [file] = await readdir(paths.records);
    expect((await stat(join(paths.records, file as string))).mode & 0o777).toBe(0o600);
    expect(await store.get('clusters/demo')).toEqual({
      key: 'clusters/demo',
      version: 1,
      value: { endpoint: '127.80.0.1' },
    });
  });

  it('returns the stored record again when the same request is retried after it succeeded', async () => {
    const { store } = await storeIn();
    await store.put('k', { a: 1 }, { requestId: 'same', expectedVersion: 0 });

    const again = await store.put('k', { a: 1 }, { requestId: 'same', expectedVersion: 0 });

    expect(again.version).toBe(1);
    expect(await codeOf(store.put('k', { a: 1 }, { requestId: 'other', expectedVersion: 0 }))).toBe(
      ErrorCode.CONFLICT,
    );
  });

  it('handles keys too long for a file name, and lists them', async () => {
    const { store } = await storeIn();
    const long = `journal/${'é'.repeat(120)}`;

    await store.put(long, 1, { requestId: 'r', expectedVersion: 0 });

    expect(await store.list('journal/')).toEqual([long]);
    expect((await store.get(long))?.value).toBe(1);
  });

  it('refuses a corrupted record with STATE_CORRUPT and leaves the file as it was', async () => {
    const { paths, store } = await storeIn();
    await store.put('clusters/demo', { ok: true }, { requestId: 'r1', expectedVersion: 0 });
    const [file] = await readdir(paths.records);
    const path = join(paths.records, file as string);
    await writeFile(path, '{"format":1,"key":"clusters/demo","vers');

    expect(await codeOf(store.get('clusters/demo'))).toBe(ErrorCode.STATE_CORRUPT);
    expect(await codeOf(store.put('clusters/demo', {}, { requestId: 'r2', expectedVersion: 1 }))).toBe(
      ErrorCode.STATE_CORRUPT,
    );
    expect(await readFile(path, 'utf8')).toBe('{"format":1,"key":"clusters/demo","vers');
  });

  it('refuses a record written by a newer format, naming the upgrade, and leaves it', async () => {
    const { paths, store } = await storeIn();
    await store.put('clusters/demo', { ok: true }, { requestId: 'r1', expectedVersion: 0 });
    const [file] = await readdir(paths.records);
    const path = join(paths.records, file as string);
    const newer = JSON.stringify({ format: 2, key: 'clusters/demo', version: 7, value: { shape: 'new' } });
    await writeFile(path, newer);

    const error = await store.get('clusters/demo').catch((caught: unknown) => caught);

    expect(isHacpError(error) && error.code).toBe(ErrorCode.STATE_CORRUPT);
    expect(isHacpError(error) && error.actions.join(' ')).toMatch(/Upgrade hacp/);
    expect(await readFile(path, 'utf8')).toBe(newer);
  });

  it('refuses bad keys, versions and lock settings with INVALID_ARGUMENT and writes nothing', async () => {
    const { dir, store } = await storeIn();
    await store.put('kept', 1, { requestId: 'r', expectedVersion: 0 });
    const before = await snapshotOf(dir);

    const codes = [
      await codeOf(store.put('', 1, { requestId: 'r', expectedVersion: 0 })),
      await codeOf(store.put('a\nb', 1, { requestId: 'r', expectedVersion: 0 })),
      await codeOf(store.put('x', 1, { requestId: 'r', expectedVersion: -1 })),
      await codeOf(store.put('x', 1, { requestId: 'r', expectedVersion: 1.5 })),
      await codeOf(store.put('x', undefined, { requestId: 'r', expectedVersion: 0 })),
      await codeOf(store.delete('', { requestId: 'r', expectedVersion: 1 })),
      await codeOf(store.lock('cluster', { holder: 'me', ttlMs: 0 })),
      await codeOf(store.lock('cluster', { holder: '', ttlMs: 1000 })),
    ];

    expect(codes).toEqual(Array(8).fill(ErrorCode.INVALID_ARGUMENT));
    expect(await snapshotOf(dir)).toEqual(before);
  });

  it('gives the lock of a holder whose process has exited to the next one, before its expiry', async () => {
    const { paths, store } = await storeIn();
    await store.lock('cluster', { holder: 'hacp up (killed)', ttlMs: 600_000 });
    // Make the holder a process that has exited, as a CLI killed mid-operation leaves it.
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
    const [file] = await readdir(paths.locks);
    const path = join(paths.locks, file as string);
    const body = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(
      path,
      JSON.stringify({ ...body, process: { ...body.process, pid: child.pid, startTime: '1' } }),
    );

    const next = await store.lock('cluster', { holder: 'hacp resume', ttlMs: 60_000 });

    expect(next.holder).toBe('hacp resume');
    expect(JSON.parse(await readFile(path, 'utf8')).holder).toBe('hacp resume');
    await next.release();
  });

  it('refuses a second holder while the first one runs, naming it, and changes nothing', async () => {
    const { paths, store } = await storeIn();
    const first = await store.lock('cluster', { holder: 'hacp replicate', ttlMs: 60_000 });
    const [file] = await readdir(paths.locks);
    const before = await readFile(join(paths.locks, file as string), 'utf8');

    const error = await store
      .lock('cluster', { holder: 'hacp remove', ttlMs: 60_000 })
      .catch((caught: unknown) => caught);

    expect(isHacpError(error) && error.code).toBe(ErrorCode.LOCKED);
    expect(isHacpError(error) && error.message).toMatch(/held by hacp replicate until/);
    expect(await readFile(join(paths.locks, file as string), 'utf8')).toBe(before);
    await first.release();
  });
});

describe('compare-and-swap across processes', () => {
  it('loses no update when four processes increment one record concurrently', async () => {
    const temp = await tempStateDir();
    cleanups.push(temp.remove);
    const stateDir = temp.dir;
    const store = createLocalProvider({ stateDir }).state;
    await store.put('counter', 0, { requestId: 'init', expectedVersion: 0 });
    const script = fileURLToPath(new URL('./cas-worker.fixture.mjs', import.meta.url));
    const workers = Array.from(
      { length: 4 },
      (_, index) =>
        new Promise<number>((resolve, reject) => {
          const child = spawn(process.execPath, [script, stateDir, '25'], {
            stdio: ['ignore', 'inherit', 'inherit'],
          });
          child.once('exit', (code) =>
            code === 0 ? resolve(index) : reject(new Error(`worker ${index} exited ${code}`)),
          );
        }),
    );
    await Promise.all(workers);

    const final = await store.get<number>('counter');
    expect(final?.value).toBe(100);
    expect(final?.version).toBe(101);
  }, 60_000);

  it('lets exactly one of two concurrent writers with the same version win', async () => {
    const { store } = await storeIn();
    await store.put('k', 'start', { requestId: 'r0', expectedVersion: 0 });

    const results = await Promise.allSettled([
      store.put('k', 'one', { requestId: 'r1', expectedVersion: 1 }),
      store.put('k', 'two', { requestId: 'r2', expectedVersion: 1 }),
    ]);

    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.filter((result) => result.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(
      isHacpError((lost[0] as PromiseRejectedResult).reason) &&
        (lost[0] as PromiseRejectedResult).reason.code,
    ).toBe(ErrorCode.CONFLICT);
    expect((await store.get('k'))?.value).toBe(
      (won[0] as PromiseFulfilledResult<{ value: string }>).value.value,
    );
  });
});

describe('the state mutex', () => {
  it('takes over an empty mutex file whose writer died between creating and writing it', async () => {
    const { paths, store } = await storeIn();
    // Where an older hacp killed between open(O_EXCL) and its write left it: every later command
    // was UNAVAILABLE until someone deleted the file by hand.
    await writeFile(paths.mutex, '');
    const then = new Date(Date.now() - 60_000);
    await utimes(paths.mutex, then, then);

    const lock = await store.lock('cluster', { holder: 'hacp resume', ttlMs: 60_000 });

    expect(lock.holder).toBe('hacp resume');
    await lock.release();
    await expect(stat(paths.mutex)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('takes over a mutex file whose holder process has exited', async () => {
    const { paths, store } = await storeIn();
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
    await writeFile(
      paths.mutex,
      JSON.stringify({ pid: child.pid, command: 'node', startedAt: new Date().toISOString() }),
    );

    await store.put('k', 1, { requestId: 'r', expectedVersion: 0 });

    expect((await store.get('k'))?.value).toBe(1);
  });
});
