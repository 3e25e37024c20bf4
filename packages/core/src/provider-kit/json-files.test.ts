import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import { ensureDir, jsonFiles, listFolder, writeFileAtomically } from './json-files.js';
import { failureOf, tempFolders } from './test-support.js';

const folders = tempFolders();
afterEach(() => folders.cleanUp());
const files = jsonFiles({ writer: 'hacp-test' });

describe('JSON state files', () => {
  it('writes 0600 files with their format in 0700 folders, and reads them back', async () => {
    const dir = join(await folders.make(), 'a', 'b');
    await ensureDir(dir);
    await files.write(join(dir, 'one.json'), { name: 'one' });

    expect(await files.read(join(dir, 'one.json'))).toEqual({ format: 1, name: 'one' });
    expect((await stat(join(dir, 'one.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await files.read(join(dir, 'missing.json'))).toBeUndefined();
  });

  it('refuses what it cannot read with STATE_CORRUPT and leaves the file as it was', async () => {
    const dir = await folders.make();
    const cases = { 'text.json': '{ not json', 'list.json': '[1]', 'bare.json': '{"name":"x"}' };
    for (const [name, text] of Object.entries(cases)) {
      await writeFile(join(dir, name), text);
      const error = await failureOf(files.read(join(dir, name)));
      expect(error.code).toBe(ErrorCode.STATE_CORRUPT);
      expect(await readFile(join(dir, name), 'utf8')).toBe(text);
    }
  });

  it('refuses a newer format, naming the program to upgrade', async () => {
    const dir = await folders.make();
    await writeFile(join(dir, 'new.json'), '{"format":2}');
    const error = await failureOf(files.read(join(dir, 'new.json')));
    expect(error.code).toBe(ErrorCode.STATE_CORRUPT);
    expect(error.message).toContain('newer hacp-test');
    expect(error.details).toMatchObject({ format: 2, supportedFormat: 1 });
  });

  it('reads the JSON files of a folder in name order, and none of a missing folder', async () => {
    const dir = await folders.make();
    await files.write(join(dir, 'b.json'), { n: 2 });
    await files.write(join(dir, 'a.json'), { n: 1 });
    await writeFile(join(dir, 'notes.txt'), 'ignored');

    expect((await files.readFolder<{ n: number }>(dir)).map((body) => body.n)).toEqual([1, 2]);
    expect(await files.readFolder(join(dir, 'missing'))).toEqual([]);
    expect(await listFolder(join(dir, 'missing'))).toEqual([]);
  });

  it('replaces a file atomically with its mode, leaving no temporary file', async () => {
    const dir = await folders.make();
    await writeFileAtomically(join(dir, 'key.pem'), 'old', 0o644);
    await writeFileAtomically(join(dir, 'key.pem'), 'new', 0o600);

    expect(await readFile(join(dir, 'key.pem'), 'utf8')).toBe('new');
    expect((await stat(join(dir, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['key.pem']);
  });
});
