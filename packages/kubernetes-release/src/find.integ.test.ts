import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HacpError, isHacpError } from '@hacp/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureKubernetesBinaries } from './fetch.js';
import { binaryVersion, findKubernetesBinaries } from './find.js';
import {
  cacheEntries,
  type FakeRelease,
  makeFakeRelease,
  writeFakeBinary,
} from './release-server.test-support.js';
import { KUBERNETES_BINARIES, type KubernetesBinarySource } from './source.js';

async function rejection(promise: Promise<unknown>): Promise<HacpError> {
  try {
    await promise;
  } catch (error) {
    if (!isHacpError(error)) throw error;
    return error;
  }
  throw new Error('expected the promise to reject');
}

let release: FakeRelease;
let dir: string;
let source: KubernetesBinarySource;

beforeAll(async () => {
  release = await makeFakeRelease({ versions: { 'v1.23.16': { layouts: ['tarball'] } } });
}, 120_000);

afterAll(async () => {
  await release?.remove();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hacp-kube-find-'));
  // No download can succeed from here: a test that downloads says so by pointing at `release`.
  source = { cacheDir: join(dir, 'cache'), releaseUrl: `file://${join(dir, 'no-release')}`, arch: 'amd64' };
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A folder of fake binaries of `version` (all three, or those given). */
async function binDir(name: string, version: string, binaries: readonly string[] = KUBERNETES_BINARIES) {
  const folder = join(dir, name);
  for (const binary of binaries) await writeFakeBinary(join(folder, binary), version, binary);
  return folder;
}

async function cache(version: string) {
  return binDir(join('cache', 'kubernetes', version), version);
}

describe('binaryVersion', () => {
  it('returns the version a binary prints for --version', async () => {
    const folder = await binDir('bin', 'v1.32.0-beta.0.0+cd13ec4ae44e', ['kube-scheduler']);

    expect(await binaryVersion(join(folder, 'kube-scheduler'))).toBe('v1.32.0-beta.0.0+cd13ec4ae44e');
  });

  it('says DEPENDENCY_MISSING for a file that cannot run, INVALID_ARGUMENT for one that is no Kubernetes binary', async () => {
    expect((await rejection(binaryVersion(join(dir, 'missing')))).code).toBe('DEPENDENCY_MISSING');
    const other = join(dir, 'other');
    await writeFile(other, '#!/bin/sh\necho "etcd Version: 3.4.23"\n', { mode: 0o755 });
    const error = await rejection(binaryVersion(other));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('etcd Version: 3.4.23');
    const failing = join(dir, 'failing');
    await writeFile(failing, '#!/bin/sh\necho "unknown flag: --version" >&2\nexit 2\n', { mode: 0o755 });
    expect((await rejection(binaryVersion(failing))).message).toContain('exit 2');
  });

  it('says ABORTED when the signal aborts', async () => {
    const slow = join(dir, 'slow');
    await writeFile(
      slow,
      '#!/bin/sh\n# exec: the abort kills sleep itself, leaving no orphan behind.\nexec sleep 30\n',
      { mode: 0o755 },
    );
    const controller = new AbortController();
    const running = rejection(binaryVersion(slow, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);

    expect((await running).code).toBe('ABORTED');
  });
});

describe('findKubernetesBinaries: where each binary comes from', () => {
  it('takes HACP_KUBE_BIN_DIR first, over the variables and the cache', async () => {
    const folder = await binDir('bin', 'v1.23.16');
    const other = await binDir('other', 'v1.23.16', ['kube-apiserver']);
    await cache('v1.23.16');

    const found = await findKubernetesBinaries('1.23.16', {
      ...source,
      binDir: folder,
      binaries: { 'kube-apiserver': join(other, 'kube-apiserver') },
    });

    expect(found).toEqual({
      version: 'v1.23.16',
      paths: {
        'kube-apiserver': join(folder, 'kube-apiserver'),
        'kube-controller-manager': join(folder, 'kube-controller-manager'),
        'kube-scheduler': join(folder, 'kube-scheduler'),
      },
      sources: {
        'kube-apiserver': 'bin-dir',
        'kube-controller-manager': 'bin-dir',
        'kube-scheduler': 'bin-dir',
      },
    });
  });

  it('per binary: the bin dir, else its variable, else the cache', async () => {
    const folder = await binDir('bin', 'v1.23.16', ['kube-apiserver']);
    const scheduler = await binDir('sched', 'v1.23.16', ['kube-scheduler']);
    const cached = await cache('v1.23.16');

    const found = await findKubernetesBinaries('v1.23.16', {
      ...source,
      binDir: folder,
      binaries: { 'kube-scheduler': join(scheduler, 'kube-scheduler') },
    });

    expect(found?.sources).toEqual({
      'kube-apiserver': 'bin-dir',
      'kube-controller-manager': 'cache',
      'kube-scheduler': 'variable',
    });
    expect(found?.paths['kube-controller-manager']).toBe(join(cached, 'kube-controller-manager'));
    expect(found?.paths['kube-scheduler']).toBe(join(scheduler, 'kube-scheduler'));
  });

  it('is undefined when a binary is nowhere', async () => {
    const folder = await binDir('bin', 'v1.23.16', ['kube-apiserver', 'kube-scheduler']);

    expect(await findKubernetesBinaries('v1.23.16', { ...source, binDir: folder })).toBeUndefined();
    expect(await findKubernetesBinaries('v1.23.16', source)).toBeUndefined();
  });

  it('without a version: the version of the binaries named, the rest from its cache; undefined when none is named', async () => {
    const folder = await binDir('bin', 'v1.23.16', ['kube-apiserver']);
    await cache('v1.23.16');

    const found = await findKubernetesBinaries(undefined, { ...source, binDir: folder });

    expect(found?.version).toBe('v1.23.16');
    expect(found?.sources['kube-scheduler']).toBe('cache');
    expect(await findKubernetesBinaries(undefined, source)).toBeUndefined();
  });
});

describe('findKubernetesBinaries: the version checks', () => {
  it('refuses a bin dir binary of another version, naming the variable, the path and both versions', async () => {
    const folder = await binDir('bin', 'v1.23.16');
    await writeFakeBinary(join(folder, 'kube-scheduler'), 'v1.24.0', 'kube-scheduler');

    const error = await rejection(findKubernetesBinaries('v1.23.16', { ...source, binDir: folder }));

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      `HACP_KUBE_BIN_DIR names ${join(folder, 'kube-scheduler')}, which is Kubernetes v1.24.0, not v1.23.16.`,
    );
    expect(error.details).toEqual({ field: 'HACP_KUBE_BIN_DIR', value: join(folder, 'kube-scheduler') });
  });

  it('refuses a variable naming a binary of another version', async () => {
    const folder = await binDir('bin', 'v1.24.0', ['kube-apiserver']);
    await cache('v1.23.16');

    const error = await rejection(
      findKubernetesBinaries('v1.23.16', {
        ...source,
        binaries: { 'kube-apiserver': join(folder, 'kube-apiserver') },
      }),
    );

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('KUBE_APISERVER names');
    expect(error.message).toContain('v1.24.0, not v1.23.16');
    expect(error.actions.join('\n')).toContain('unset it to use the cache');
  });

  it('refuses named binaries that disagree when no version is asked for', async () => {
    const folder = await binDir('bin', 'v1.23.16', ['kube-apiserver', 'kube-controller-manager']);
    const scheduler = await binDir('sched', 'v1.32.0', ['kube-scheduler']);

    const error = await rejection(
      findKubernetesBinaries(undefined, {
        ...source,
        binDir: folder,
        binaries: { 'kube-scheduler': join(scheduler, 'kube-scheduler') },
      }),
    );

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('KUBE_SCHEDULER');
    expect(error.message).toContain('v1.32.0, not v1.23.16');
  });

  it('says DEPENDENCY_MISSING, naming the variable, for a missing or non-executable file', async () => {
    const missing = await rejection(
      findKubernetesBinaries('v1.23.16', {
        ...source,
        binaries: { 'kube-controller-manager': join(dir, 'nope') },
      }),
    );
    expect(missing.code).toBe('DEPENDENCY_MISSING');
    expect(missing.message).toBe(`KUBE_CONTROLLER_MANAGER names ${join(dir, 'nope')}, which does not exist.`);
    expect(missing.details).toMatchObject({ field: 'KUBE_CONTROLLER_MANAGER' });

    const folder = await binDir('bin', 'v1.23.16', ['kube-apiserver']);
    await chmod(join(folder, 'kube-apiserver'), 0o644);
    const notExecutable = await rejection(
      findKubernetesBinaries('v1.23.16', {
        ...source,
        binaries: { 'kube-apiserver': join(folder, 'kube-apiserver') },
      }),
    );
    expect(notExecutable.code).toBe('DEPENDENCY_MISSING');
    expect(notExecutable.message).toContain('KUBE_APISERVER');
    expect(notExecutable.actions[0]).toContain('chmod +x');

    const binDirError = await rejection(findKubernetesBinaries('v1.23.16', { ...source, binDir: folder }));
    expect(binDirError.details).toMatchObject({ field: 'HACP_KUBE_BIN_DIR' });
  });

  it('says which variable names a file that is no Kubernetes binary', async () => {
    const other = join(dir, 'kube-apiserver');
    await writeFile(other, '#!/bin/sh\necho hello\n', { mode: 0o755 });

    const error = await rejection(
      findKubernetesBinaries('v1.23.16', { ...source, binaries: { 'kube-apiserver': other } }),
    );

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(`KUBE_APISERVER names ${other}, which cannot be used`);
    expect(error.details).toMatchObject({ field: 'KUBE_APISERVER' });
  });
});

describe('ensureKubernetesBinaries', () => {
  it('downloads nothing when the bin dir has them all', async () => {
    const folder = await binDir('bin', 'v1.23.16');

    const found = await ensureKubernetesBinaries('v1.23.16', { ...source, binDir: folder });

    expect(Object.values(found.sources)).toEqual(['bin-dir', 'bin-dir', 'bin-dir']);
    expect(await cacheEntries(source.cacheDir)).toEqual([]);
  });

  it('fills only the cache, and binaries the operator named still win', async () => {
    const folder = await binDir('bin', 'v1.23.16', ['kube-apiserver']);

    const found = await ensureKubernetesBinaries('v1.23.16', {
      ...source,
      releaseUrl: release.fileUrl,
      binaries: { 'kube-apiserver': join(folder, 'kube-apiserver') },
    });

    expect(found.sources).toEqual({
      'kube-apiserver': 'variable',
      'kube-controller-manager': 'cache',
      'kube-scheduler': 'cache',
    });
    expect(found.paths['kube-apiserver']).toBe(join(folder, 'kube-apiserver'));
    expect(await cacheEntries(source.cacheDir)).toEqual(['v1.23.16']);
  });

  it('refuses a named binary of another version rather than download around it', async () => {
    const folder = await binDir('bin', 'v1.24.0', ['kube-apiserver']);
    await mkdir(source.cacheDir, { recursive: true });

    const error = await rejection(
      ensureKubernetesBinaries('v1.23.16', {
        ...source,
        releaseUrl: release.fileUrl,
        binaries: { 'kube-apiserver': join(folder, 'kube-apiserver') },
      }),
    );

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(await cacheEntries(source.cacheDir)).toEqual([]);
  });
});
