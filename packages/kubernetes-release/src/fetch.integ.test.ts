import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HacpError, isHacpError } from '@hacp/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listCachedKubernetesBinaries } from './cache.js';
import { type DownloadProgress, ensureKubernetesBinaries, fetchKubernetesBinaries } from './fetch.js';
import { binaryVersion, findKubernetesBinaries } from './find.js';
import {
  cacheEntries,
  type FakeRelease,
  makeFakeRelease,
  type ReleaseServer,
  startReleaseServer,
} from './release-server.test-support.js';
import { KUBERNETES_BINARIES } from './source.js';

async function rejection(promise: Promise<unknown>): Promise<HacpError> {
  try {
    await promise;
  } catch (error) {
    if (!isHacpError(error)) throw error;
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let release: FakeRelease;
let server: ReleaseServer;
let cacheDir: string;

beforeAll(async () => {
  release = await makeFakeRelease({
    versions: {
      'v1.23.16': { layouts: ['tarball'] },
      'v1.30.2': { layouts: ['binaries'] },
      'v1.31.0': { layouts: ['binaries', 'tarball'] },
      'v1.32.0-beta.0.0+cd13ec4ae44e': { layouts: ['tarball'] },
    },
  });
  server = await startReleaseServer(release.dir);
}, 120_000);

afterAll(async () => {
  await server?.close();
  await release?.remove();
});

beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'hacp-kube-cache-'));
  server.requests.length = 0;
  server.faults.truncate.clear();
  server.faults.stallAfter.clear();
});

afterEach(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

const httpSource = () => ({ cacheDir, releaseUrl: server.url, arch: 'amd64' });
const tarball = (version: string) => `${version}/kubernetes-server-linux-amd64.tar.gz`;
const binaryPath = (version: string, binary: string) => `${version}/bin/linux/amd64/${binary}`;

/** Replaces a published file for one test, and puts it back after. */
async function withReplaced<T>(
  relative: string,
  contents: Buffer | string | undefined,
  run: () => Promise<T>,
) {
  const path = join(release.dir, relative);
  const original = await readFile(path);
  if (contents === undefined) await unlink(path);
  else await writeFile(path, contents);
  try {
    return await run();
  } finally {
    await writeFile(path, original, { mode: 0o755 });
  }
}

async function expectCachedVersion(version: string): Promise<void> {
  expect(await cacheEntries(cacheDir)).toEqual([version]);
  for (const binary of KUBERNETES_BINARIES) {
    const path = join(cacheDir, 'kubernetes', version, binary);
    expect(((await stat(path)).mode & 0o777).toString(8)).toBe('755');
    expect(await binaryVersion(path)).toBe(version);
  }
  expect((await readdir(join(cacheDir, 'kubernetes', version))).sort()).toEqual(
    [...KUBERNETES_BINARIES].sort(),
  );
}

describe('fetchKubernetesBinaries: the two layouts', () => {
  it('downloads the per-binary files over http, each checked against its .sha256', async () => {
    const binaries = await fetchKubernetesBinaries('1.30.2', httpSource());

    expect(binaries.version).toBe('v1.30.2');
    expect(binaries.sources).toEqual({
      'kube-apiserver': 'cache',
      'kube-controller-manager': 'cache',
      'kube-scheduler': 'cache',
    });
    expect(binaries.paths['kube-scheduler']).toBe(join(cacheDir, 'kubernetes', 'v1.30.2', 'kube-scheduler'));
    await expectCachedVersion('v1.30.2');
    const downloaded = await readFile(binaries.paths['kube-apiserver']);
    // Buffer.equals: vitest's deep equality walks megabytes byte by byte, slowly.
    expect(
      downloaded.equals(await readFile(join(release.dir, binaryPath('v1.30.2', 'kube-apiserver')))),
    ).toBe(true);
    expect(server.requests).toEqual(
      KUBERNETES_BINARIES.flatMap((binary) => [
        `${binaryPath('v1.30.2', binary)}.sha256`,
        binaryPath('v1.30.2', binary),
      ]),
    );
  });

  it('falls back to the server tarball where the location has only that, keeping only the three binaries', async () => {
    await fetchKubernetesBinaries('v1.23.16', httpSource());

    await expectCachedVersion('v1.23.16');
    expect(server.requests).toEqual([
      `${binaryPath('v1.23.16', 'kube-apiserver')}.sha256`,
      `${tarball('v1.23.16')}.sha256`,
      tarball('v1.23.16'),
    ]);
  });

  it('takes the per-binary files when the location has both', async () => {
    await fetchKubernetesBinaries('v1.31.0', httpSource());

    await expectCachedVersion('v1.31.0');
    expect(server.requests.some((path) => path.includes('.tar.gz'))).toBe(false);
  });

  it('reads file:// locations in both layouts, versions with + included', async () => {
    const source = { cacheDir, releaseUrl: release.fileUrl, arch: 'amd64' };
    await fetchKubernetesBinaries('v1.30.2', source);
    await fetchKubernetesBinaries('v1.32.0-beta.0.0+cd13ec4ae44e', source);

    expect((await cacheEntries(cacheDir)).sort()).toEqual(['v1.30.2', 'v1.32.0-beta.0.0+cd13ec4ae44e']);
    const found = await findKubernetesBinaries('v1.32.0-beta.0.0+cd13ec4ae44e', source);
    expect(await binaryVersion(found?.paths['kube-controller-manager'] as string)).toBe(
      'v1.32.0-beta.0.0+cd13ec4ae44e',
    );
    expect(server.requests).toEqual([]);
  });

  it('follows redirects', async () => {
    await fetchKubernetesBinaries('v1.23.16', { ...httpSource(), releaseUrl: server.redirectingUrl });

    await expectCachedVersion('v1.23.16');
  });

  it('reports progress per file: from 0 to the size, at least every MiB', async () => {
    const events: DownloadProgress[] = [];
    await fetchKubernetesBinaries('v1.30.2', httpSource(), { onProgress: (event) => events.push(event) });

    for (const binary of KUBERNETES_BINARIES) {
      const size = (await stat(join(release.dir, binaryPath('v1.30.2', binary)))).size;
      const mine = events.filter((event) => event.file === binary);
      expect(mine[0]).toEqual({
        file: binary,
        url: `${server.url}/${binaryPath('v1.30.2', binary)}`,
        receivedBytes: 0,
        totalBytes: size,
      });
      expect(mine.at(-1)?.receivedBytes).toBe(size);
      expect(mine.length).toBeGreaterThanOrEqual(4);
      for (const [i, event] of mine.entries()) {
        if (i > 0)
          expect(event.receivedBytes - (mine[i - 1] as DownloadProgress).receivedBytes).toBeGreaterThan(0);
        if (i > 0)
          expect(event.receivedBytes - (mine[i - 1] as DownloadProgress).receivedBytes).toBeLessThan(3 << 20);
      }
    }
    const tarEvents: DownloadProgress[] = [];
    await fetchKubernetesBinaries('v1.23.16', httpSource(), { onProgress: (event) => tarEvents.push(event) });
    const size = (await stat(join(release.dir, tarball('v1.23.16')))).size;
    expect(tarEvents[0]).toMatchObject({
      file: 'kubernetes-server-linux-amd64.tar.gz',
      receivedBytes: 0,
      totalBytes: size,
    });
    expect(tarEvents.at(-1)?.receivedBytes).toBe(size);
  });
});

describe('fetchKubernetesBinaries: refusals leave nothing in the cache', () => {
  it('refuses a binary that does not match its .sha256 (CHECKSUM_MISMATCH)', async () => {
    const error = await withReplaced(
      `${binaryPath('v1.30.2', 'kube-scheduler')}.sha256`,
      `${'0'.repeat(64)}  kube-scheduler\n`,
      () => rejection(fetchKubernetesBinaries('v1.30.2', httpSource())),
    );

    expect(error.code).toBe('CHECKSUM_MISMATCH');
    expect(error.message).toContain(`${server.url}/${binaryPath('v1.30.2', 'kube-scheduler')}`);
    expect(error.message).toContain('0'.repeat(64));
    expect(error.details).toMatchObject({
      expected: '0'.repeat(64),
      actual: release.digests.get(binaryPath('v1.30.2', 'kube-scheduler')),
    });
    expect(await cacheEntries(cacheDir)).toEqual([]);
    expect(await findKubernetesBinaries('v1.30.2', httpSource())).toBeUndefined();
  });

  it('refuses a server tarball that does not match its .sha256', async () => {
    const error = await withReplaced(`${tarball('v1.23.16')}.sha256`, `${'a'.repeat(64)}\n`, () =>
      rejection(fetchKubernetesBinaries('v1.23.16', httpSource())),
    );

    expect(error.code).toBe('CHECKSUM_MISMATCH');
    expect(await cacheEntries(cacheDir)).toEqual([]);
  });

  it('calls a tarball damaged on the way a checksum mismatch, not a gzip error', async () => {
    const original = await readFile(join(release.dir, tarball('v1.23.16')));
    const damaged = Buffer.from(original);
    for (let i = 100; i < damaged.length; i += 997) damaged[i] = (damaged[i] as number) ^ 0xff;
    const error = await withReplaced(tarball('v1.23.16'), damaged, () =>
      rejection(fetchKubernetesBinaries('v1.23.16', httpSource())),
    );

    expect(error.code).toBe('CHECKSUM_MISMATCH');
    expect(await cacheEntries(cacheDir)).toEqual([]);
  });

  it('says NOT_FOUND, naming both layouts and what to do, for a version the location lacks', async () => {
    const error = await rejection(fetchKubernetesBinaries('v1.99.0', httpSource()));

    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain(`${server.url}/v1.99.0/bin/linux/amd64/kube-apiserver.sha256`);
    expect(error.message).toContain(`${server.url}/v1.99.0/kubernetes-server-linux-amd64.tar.gz.sha256`);
    expect(error.actions.join('\n')).toContain('HACP_KUBE_RELEASE_URL');
    expect(error.actions.join('\n')).toContain('Check the version');
    expect(await cacheEntries(cacheDir)).toEqual([]);
  });

  it('says NOT_FOUND for a binary missing beside its .sha256', async () => {
    const error = await withReplaced(binaryPath('v1.30.2', 'kube-controller-manager'), undefined, () =>
      rejection(fetchKubernetesBinaries('v1.30.2', httpSource())),
    );

    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain(`${server.url}/${binaryPath('v1.30.2', 'kube-controller-manager')}`);
    expect(await cacheEntries(cacheDir)).toEqual([]);
  });

  it.each([
    ['a binary', binaryPath('v1.30.2', 'kube-controller-manager'), 'v1.30.2'],
    ['the server tarball', tarball('v1.23.16'), 'v1.23.16'],
  ])('says UNAVAILABLE when the server closes the connection inside %s', async (_, path, version) => {
    server.faults.truncate.add(path);
    const error = await rejection(fetchKubernetesBinaries(version, httpSource()));

    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain(`${server.url}/${path}`);
    expect(error.retryable).toBe(true);
    expect(await cacheEntries(cacheDir)).toEqual([]);
  });

  it('says UNAVAILABLE when the location cannot be reached', async () => {
    const releaseUrl = `http://127.0.0.1:${await closedPort()}/release`;
    const error = await rejection(fetchKubernetesBinaries('v1.30.2', { cacheDir, releaseUrl }));

    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.actions.join('\n')).toContain('HACP_KUBE_RELEASE_URL');
    expect(await cacheEntries(cacheDir)).toEqual([]);
  });

  it('refuses bad input before any request', async () => {
    expect((await rejection(fetchKubernetesBinaries('1.30', httpSource()))).details).toMatchObject({
      field: 'version',
    });
    expect(
      (
        await rejection(
          fetchKubernetesBinaries('v1.30.2', { ...httpSource(), releaseUrl: 'ftp://x/release' }),
        )
      ).details,
    ).toMatchObject({ field: 'releaseUrl' });
    expect(server.requests).toEqual([]);
    expect(await cacheEntries(cacheDir)).toEqual([]);
  });
});

describe('fetchKubernetesBinaries: the cache folder', () => {
  it('says INVALID_ARGUMENT naming the cache folder when it cannot be written', async () => {
    const file = join(cacheDir, 'a-file');
    await writeFile(file, 'not a folder');

    const error = await rejection(
      fetchKubernetesBinaries('v1.30.2', { ...httpSource(), cacheDir: join(file, 'hacp') }),
    );

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toMatchObject({ field: 'cacheDir' });
    expect(error.message).toContain(join(file, 'hacp'));
    expect(server.requests).toEqual([]);
  });
});

describe('fetchKubernetesBinaries: aborts', () => {
  it.each([
    ['a binary', binaryPath('v1.30.2', 'kube-apiserver'), 'v1.30.2'],
    ['the server tarball', tarball('v1.23.16'), 'v1.23.16'],
  ])('stops in the middle of %s with ABORTED and keeps nothing', async (_, path, version) => {
    // The server stops sending after 2 MiB: the abort comes mid-transfer, at the first progress past 0.
    server.faults.stallAfter.set(path, 2 << 20);
    const controller = new AbortController();
    const events: DownloadProgress[] = [];
    const fetching = rejection(
      fetchKubernetesBinaries(version, httpSource(), {
        signal: controller.signal,
        onProgress: (event) => {
          events.push(event);
          if (event.receivedBytes > 0) controller.abort();
        },
      }),
    );
    const error = await fetching;

    expect(error.code).toBe('ABORTED');
    expect(events.some((event) => event.receivedBytes > 0)).toBe(true);
    expect(await cacheEntries(cacheDir)).toEqual([]);
  });

  it('does nothing at all with a signal aborted before the call', async () => {
    const error = await rejection(
      fetchKubernetesBinaries('v1.30.2', httpSource(), { signal: AbortSignal.abort() }),
    );

    expect(error.code).toBe('ABORTED');
    expect(server.requests).toEqual([]);
    expect(await cacheEntries(cacheDir)).toEqual([]);
  });
});

describe('the cache', () => {
  it('ends good when several fetches of one version run at once: one rename wins, the others use it', async () => {
    const results = await Promise.all([
      fetchKubernetesBinaries('v1.23.16', httpSource()),
      fetchKubernetesBinaries('v1.23.16', httpSource()),
      fetchKubernetesBinaries('v1.23.16', { ...httpSource(), releaseUrl: release.fileUrl }),
    ]);

    expect(new Set(results.map((result) => result.paths['kube-apiserver'])).size).toBe(1);
    await expectCachedVersion('v1.23.16');
    expect(server.requests.filter((path) => path === tarball('v1.23.16'))).toHaveLength(2);
  });

  it('ensure downloads nothing when the version is cached', async () => {
    await ensureKubernetesBinaries('v1.30.2', httpSource());
    const requests = server.requests.length;
    const again = await ensureKubernetesBinaries('v1.30.2', httpSource());

    expect(again.paths['kube-apiserver']).toBe(join(cacheDir, 'kubernetes', 'v1.30.2', 'kube-apiserver'));
    expect(server.requests.length).toBe(requests);
  });

  it('replaces a cached version that lost a binary', async () => {
    await fetchKubernetesBinaries('v1.30.2', httpSource());
    await unlink(join(cacheDir, 'kubernetes', 'v1.30.2', 'kube-scheduler'));
    expect(await findKubernetesBinaries('v1.30.2', httpSource())).toBeUndefined();

    await ensureKubernetesBinaries('v1.30.2', httpSource());

    await expectCachedVersion('v1.30.2');
  });

  it('removes staging folders abandoned an hour ago, and leaves fresh ones alone', async () => {
    const root = join(cacheDir, 'kubernetes');
    await mkdir(join(root, '.tmp-v1.30.2-old'), { recursive: true });
    await writeFile(join(root, '.tmp-v1.30.2-old', 'kube-apiserver'), 'partial');
    const longAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(join(root, '.tmp-v1.30.2-old', 'kube-apiserver'), longAgo, longAgo);
    await utimes(join(root, '.tmp-v1.30.2-old'), longAgo, longAgo);
    await mkdir(join(root, '.tmp-v1.30.2-busy'));

    await fetchKubernetesBinaries('v1.30.2', httpSource());

    expect((await cacheEntries(cacheDir)).sort()).toEqual(['.tmp-v1.30.2-busy', 'v1.30.2']);
  });

  it('lists cached versions oldest first, with their binaries and sizes, and skips what is not a version', async () => {
    expect(await listCachedKubernetesBinaries({ cacheDir })).toEqual([]);
    await fetchKubernetesBinaries('v1.31.0', httpSource());
    await fetchKubernetesBinaries('v1.23.16', httpSource());
    await mkdir(join(cacheDir, 'kubernetes', 'v1.30.2'));
    await writeFile(join(cacheDir, 'kubernetes', 'v1.30.2', 'kube-scheduler'), 'x');
    await mkdir(join(cacheDir, 'kubernetes', 'not-a-version'));
    await mkdir(join(cacheDir, 'kubernetes', '.tmp-v1.29.0-abc'));

    const listed = await listCachedKubernetesBinaries({ cacheDir });

    expect(listed.map(({ version, binaries }) => ({ version, binaries }))).toEqual([
      { version: 'v1.23.16', binaries: [...KUBERNETES_BINARIES] },
      { version: 'v1.30.2', binaries: ['kube-scheduler'] },
      { version: 'v1.31.0', binaries: [...KUBERNETES_BINARIES] },
    ]);
    const sizes = await Promise.all(
      KUBERNETES_BINARIES.map(
        async (binary) => (await stat(join(cacheDir, 'kubernetes', 'v1.31.0', binary))).size,
      ),
    );
    expect(listed[2]?.bytes).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(listed[1]).toMatchObject({ dir: join(cacheDir, 'kubernetes', 'v1.30.2'), bytes: 1 });
  });
});
