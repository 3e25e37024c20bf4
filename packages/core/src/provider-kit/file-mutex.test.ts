import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import { FileMutex } from './file-mutex.js';
import { selfRecord } from './processes.js';
import { failureOf, tempFolders } from './test-support.js';

const folders = tempFolders();
afterEach(() => folders.cleanUp());

async function age(path: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(path, then, then);
}

describe('FileMutex', () => {
  it('takes over an empty file left by a holder that died between creating and writing it', async () => {
    const path = join(await folders.make(), '.mutex');
    await writeFile(path, '');
    await age(path, 60_000);

    expect(await new FileMutex(path, { timeoutMs: 5_000 }).run(async () => 'ran')).toBe('ran');
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('takes over an unreadable file only once it is older than the grace', async () => {
    const path = join(await folders.make(), '.mutex');
    await writeFile(path, '{"pid":');
    const started = performance.now();

    expect(await new FileMutex(path, { unnamedHolderGraceMs: 300 }).run(async () => 'ran')).toBe('ran');
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('takes over at once a file whose holder process has exited (its pid now has another start time)', async () => {
    const path = join(await folders.make(), '.mutex');
    await writeFile(path, JSON.stringify({ ...selfRecord(), startTime: '1' }));

    expect(await new FileMutex(path, { timeoutMs: 1_000 }).run(async () => 'ran')).toBe('ran');
  });

  it('waits for a live holder, then is UNAVAILABLE (retryable) and leaves its file alone', async () => {
    const path = join(await folders.make(), '.mutex');
    const holder = JSON.stringify(selfRecord());
    await writeFile(path, holder);
    await age(path, 60_000);

    const error = await failureOf(new FileMutex(path, { timeoutMs: 300 }).run(async () => 'ran'));
    expect(error.code).toBe(ErrorCode.UNAVAILABLE);
    expect(error.retryable).toBe(true);
    expect(await readFile(path, 'utf8')).toBe(holder);
  });

  it('names its holder from the first byte on, and leaves nothing behind', async () => {
    const dir = await folders.make();
    const path = join(dir, 'locks', 'state.lock');
    const seen = await new FileMutex(path).run(async () => JSON.parse(await readFile(path, 'utf8')));

    expect(seen).toMatchObject({ pid: process.pid, startTime: selfRecord().startTime });
    expect(await readdir(join(dir, 'locks'))).toEqual([]);
  });

  it('runs the callers of one process one at a time, also when one fails', async () => {
    const mutex = new FileMutex(join(await folders.make(), '.mutex'));
    const order: string[] = [];
    const slow = (name: string, fail = false) =>
      mutex.run(async () => {
        order.push(`${name} in`);
        await new Promise((done) => setTimeout(done, 20));
        order.push(`${name} out`);
        if (fail) throw new Error(name);
      });

    const results = await Promise.allSettled([slow('a'), slow('b', true), slow('c')]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(order).toEqual(['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
  });
});
