import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../node-config.js';
import { Secret } from '../redact.js';
import { nodeConfigDigest, readFilesUnder, syncFolder, writeNodeFiles } from './node-files.js';
import { tempFolders } from './test-support.js';

const folders = tempFolders();
afterEach(() => folders.cleanUp());

const config = (key: string): NodeConfig => ({
  files: [
    { path: 'pki/ca.crt', mode: 0o644, contents: 'CERT' },
    { path: 'pki/ca.key', mode: 0o600, contents: new Secret(key) },
  ],
  processes: [{ name: 'etcd', command: 'etcd', args: ['--name=a'] }],
});

describe('node files', () => {
  it('writes the files with their modes in 0700 folders, a Secret by its value', async () => {
    const root = join(await folders.make(), 'root');
    await writeNodeFiles(root, config('KEY'));

    expect(await readFile(join(root, 'pki/ca.key'), 'utf8')).toBe('KEY');
    expect((await stat(join(root, 'pki/ca.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'pki/ca.crt'))).mode & 0o777).toBe(0o644);
    expect((await stat(join(root, 'pki'))).mode & 0o777).toBe(0o700);
  });

  it('digests a NodeConfig with its secrets, without the secret appearing in the digest', () => {
    const digest = nodeConfigDigest(config('KEY'), { cluster: 'c' });
    expect(nodeConfigDigest(config('KEY'), { cluster: 'c' })).toBe(digest);
    expect(nodeConfigDigest(config('OTHER'), { cluster: 'c' })).not.toBe(digest);
    expect(nodeConfigDigest(config('KEY'), { cluster: 'd' })).not.toBe(digest);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('syncFolder', () => {
  it('makes the folder hold exactly the files: new and changed written with their modes, others removed', async () => {
    const root = await folders.make();
    await syncFolder(root, {
      prefix: 'addons',
      files: [
        { path: 'addons/a.yaml', mode: 0o644, contents: 'a' },
        { path: 'addons/old/b.yaml', mode: 0o644, contents: 'b' },
      ],
    });
    const result = await syncFolder(root, {
      prefix: 'addons',
      files: [
        { path: 'addons/a.yaml', mode: 0o600, contents: 'a2' },
        { path: 'addons/new/c.yaml', mode: 0o644, contents: 'c' },
      ],
    });

    expect(result).toEqual({ written: ['addons/a.yaml', 'addons/new/c.yaml'], removed: ['addons/old'] });
    expect(await readFilesUnder(root, 'addons')).toEqual([
      { path: 'addons/a.yaml', mode: 0o600, contents: 'a2' },
      { path: 'addons/new/c.yaml', mode: 0o644, contents: 'c' },
    ]);
    expect(await readFilesUnder(root, 'missing')).toEqual([]);
    expect(await readdir(join(root, 'addons'))).toEqual(['a.yaml', 'new']);
    expect((await stat(join(root, 'addons/a.yaml'))).mode & 0o777).toBe(0o600);
    expect(
      await syncFolder(root, {
        prefix: 'addons',
        files: [{ path: 'addons/new/c.yaml', mode: 0o644, contents: 'c' }],
      }),
    ).toEqual({
      written: [],
      removed: ['addons/a.yaml'],
    });
  });
});
