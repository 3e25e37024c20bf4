import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { noopLogger } from '../logger.js';
import { FileMutex } from './file-mutex.js';
import { jsonFiles } from './json-files.js';
import { createFileStateStore } from './state-store.js';
import { tempFolders } from './test-support.js';

const folders = tempFolders();
afterEach(() => folders.cleanUp());

const built = fileURLToPath(new URL('../../dist/provider-kit/index.js', import.meta.url));
// Increments the record `counter` `count` times through the built kit, retrying on CONFLICT.
const worker = `
const { createFileStateStore, FileMutex, jsonFiles } = await import(process.argv[1]);
const [dir, count] = process.argv.slice(2);
const state = createFileStateStore({
  recordsDir: dir + '/records', locksDir: dir + '/locks', mutex: new FileMutex(dir + '/.mutex'),
  files: jsonFiles({ writer: 'hacp-test' }), logger: { debug() {}, info() {}, warn() {}, error() {} },
});
for (let done = 0; done < Number(count); ) {
  const current = await state.get('counter');
  try {
    await state.put('counter', current.value + 1, { requestId: process.pid + '-' + done, expectedVersion: current.version });
    done++;
  } catch (error) {
    if (error?.code !== 'CONFLICT') throw error;
  }
}
`;

describe('the file state store across processes', () => {
  it('needs the built kit (run the build first)', () => {
    expect(existsSync(built)).toBe(true);
  });

  it('loses no update when four processes increment one record concurrently', async () => {
    const dir = await folders.make();
    const store = createFileStateStore({
      recordsDir: join(dir, 'records'),
      locksDir: join(dir, 'locks'),
      mutex: new FileMutex(join(dir, '.mutex')),
      files: jsonFiles({ writer: 'hacp-test' }),
      logger: noopLogger,
    });
    await store.put('counter', 0, { requestId: 'start', expectedVersion: 0 });

    const exits = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', worker, built, dir, '15'], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      return new Promise<number | null>((done) => child.once('exit', done));
    });
    expect(await Promise.all(exits)).toEqual([0, 0, 0, 0]);
    expect(await store.get('counter')).toEqual({ key: 'counter', version: 61, value: 60 });
  });
});
