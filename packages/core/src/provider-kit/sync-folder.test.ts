import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isHacpError } from '../errors.js';
import { Secret } from '../redact.js';
import { assertFileUpdate, syncFolder, writeChangedFiles } from './node-files.js';

function refusal(update: unknown): { code: string; field: unknown } {
  try {
    assertFileUpdate(update as never);
  } catch (error) {
    if (isHacpError(error)) return { code: error.code, field: (error.details as { field?: unknown }).field };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('assertFileUpdate', () => {
  it('accepts files inside the prefix, also none', () => {
    expect(() =>
      assertFileUpdate({
        prefix: 'addons/cluster',
        files: [
          { path: 'addons/cluster/dns/coredns.yaml', mode: 0o644, contents: 'x' },
          { path: 'addons/cluster/token.yaml', mode: 0o600, contents: new Secret('y') },
        ],
      }),
    ).not.toThrow();
    expect(() => assertFileUpdate({ prefix: 'addons', files: [] })).not.toThrow();
  });

  it.each([
    ['an absolute prefix', { prefix: '/addons', files: [] }, 'prefix'],
    ['a prefix with ..', { prefix: 'addons/..', files: [] }, 'prefix'],
    ['an empty prefix', { prefix: '', files: [] }, 'prefix'],
    ['files that are not a list', { prefix: 'addons', files: 'a.yaml' }, 'files'],
    [
      'a sibling folder that starts alike',
      { prefix: 'addons', files: [{ path: 'addons-x/a', mode: 0o644, contents: '' }] },
      'files[0].path',
    ],
    [
      'the prefix itself as a file',
      { prefix: 'addons', files: [{ path: 'addons', mode: 0o644, contents: '' }] },
      'files[0].path',
    ],
    [
      'a path twice',
      {
        prefix: 'addons',
        files: [
          { path: 'addons/a', mode: 0o644, contents: '' },
          { path: 'addons/a', mode: 0o600, contents: '' },
        ],
      },
      'files[1].path',
    ],
    [
      'a file that is also a folder, listed after',
      {
        prefix: 'addons',
        files: [
          { path: 'addons/a/b/c', mode: 0o644, contents: '' },
          { path: 'addons/a', mode: 0o644, contents: '' },
        ],
      },
      'files[0].path',
    ],
  ])('refuses %s with INVALID_ARGUMENT naming the field', (_, update, field) => {
    expect(refusal(update)).toEqual({ code: ErrorCode.INVALID_ARGUMENT, field });
  });
});

describe('syncFolder', () => {
  const roots: string[] = [];
  afterEach(async () => {
    for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
  });
  const newRoot = async () => {
    const root = await mkdtemp(join(tmpdir(), 'hacp-sync-unit-'));
    roots.push(root);
    return root;
  };

  it('replaces a stray file where the folder goes, and removes a symbolic link without following it', async () => {
    const root = await newRoot();
    const outside = join(root, 'outside.txt');
    await writeFile(outside, 'outside');
    await writeFile(join(root, 'addons'), 'a stray file');

    await syncFolder(root, {
      prefix: 'addons',
      files: [{ path: 'addons/a.yaml', mode: 0o644, contents: 'a' }],
    });
    await symlink(outside, join(root, 'addons', 'link.yaml'));
    const { written, removed } = await syncFolder(root, {
      prefix: 'addons',
      files: [{ path: 'addons/a.yaml', mode: 0o644, contents: 'a' }],
    });

    expect({ written, removed }).toEqual({ written: [], removed: ['addons/link.yaml'] });
    expect(await readdir(join(root, 'addons'))).toEqual(['a.yaml']);
    expect(await readFile(outside, 'utf8')).toBe('outside');
    expect((await stat(join(root, 'addons'))).mode & 0o777).toBe(0o700);
  });

  it('replaces a folder left where a file now goes, and leaves no temporary file', async () => {
    const root = await newRoot();
    await syncFolder(root, {
      prefix: 'addons',
      files: [{ path: 'addons/a/b.yaml', mode: 0o644, contents: 'b' }],
    });

    await syncFolder(root, {
      prefix: 'addons',
      files: [{ path: 'addons/a', mode: 0o600, contents: 'now a file' }],
    });

    expect(await readdir(join(root, 'addons'))).toEqual(['a']);
    expect(await readFile(join(root, 'addons/a'), 'utf8')).toBe('now a file');
    expect((await stat(join(root, 'addons/a'))).mode & 0o777).toBe(0o600);
  });
});

describe('writeChangedFiles', () => {
  const roots: string[] = [];
  afterEach(async () => {
    for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
  });

  it('writes changed files with their modes, leaves unchanged and unnamed files alone', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hacp-write-unit-'));
    roots.push(root);
    await writeFile(join(root, 'scheduler.conf'), 'old', { mode: 0o600 });
    await writeFile(join(root, 'other.conf'), 'untouched', { mode: 0o644 });
    const first = await writeChangedFiles(root, [
      { path: 'scheduler.conf', mode: 0o600, contents: new Secret('new') },
      { path: 'kube/controller-manager.conf', mode: 0o600, contents: 'cm' },
    ]);
    expect(first).toEqual(['scheduler.conf', 'kube/controller-manager.conf']);
    expect(await readFile(join(root, 'scheduler.conf'), 'utf8')).toBe('new');
    expect((await stat(join(root, 'kube'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, 'kube/controller-manager.conf'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(root, 'other.conf'), 'utf8')).toBe('untouched');
    // Run again: nothing differs, nothing is written.
    expect(await writeChangedFiles(root, [{ path: 'scheduler.conf', mode: 0o600, contents: 'new' }])).toEqual(
      [],
    );
    expect((await readdir(root)).sort()).toEqual(['kube', 'other.conf', 'scheduler.conf']);
  });
});
