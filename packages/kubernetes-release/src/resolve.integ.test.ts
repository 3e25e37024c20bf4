import { createServer } from 'node:net';
import { type HacpError, isHacpError } from '@hacp/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type FakeRelease,
  makeFakeRelease,
  type ReleaseServer,
  startReleaseServer,
} from './release-server.test-support.js';
import { resolveKubernetesVersion } from './resolve.js';

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
let server: ReleaseServer;

beforeAll(async () => {
  release = await makeFakeRelease({
    versions: {},
    markers: {
      'stable-1.23': 'v1.23.16',
      'latest-1.32': 'v1.32.0-beta.0.0+cd13ec4ae44e',
      stable: 'v1.31.4',
      latest: 'v1.32.0-beta.0.0+cd13ec4ae44e',
      'stable-1': 'v1.31.4',
      'stable-1.29': '<html>Moved</html>',
      'stable-1.30': 'v1.31.4',
    },
  });
  server = await startReleaseServer(release.dir);
});

afterAll(async () => {
  await server?.close();
  await release?.remove();
});

beforeEach(() => {
  server.requests.length = 0;
});

describe('resolveKubernetesVersion', () => {
  it.each([
    ['1.23', 'stable-1.23.txt', 'v1.23.16'],
    ['v1.23', 'stable-1.23.txt', 'v1.23.16'],
    ['stable-1.23', 'stable-1.23.txt', 'v1.23.16'],
    ['latest-1.32', 'latest-1.32.txt', 'v1.32.0-beta.0.0+cd13ec4ae44e'],
    ['stable', 'stable.txt', 'v1.31.4'],
    ['latest', 'latest.txt', 'v1.32.0-beta.0.0+cd13ec4ae44e'],
    ['stable-1', 'stable-1.txt', 'v1.31.4'],
  ])('resolves %s through %s', async (spec, file, version) => {
    const resolved = await resolveKubernetesVersion(spec, { releaseUrl: server.url });

    expect(resolved.version).toBe(version);
    expect(server.requests).toEqual([file]);
  });

  it('resolves through a file:// location too', async () => {
    expect((await resolveKubernetesVersion('latest-1.32', { releaseUrl: release.fileUrl })).minor).toBe(32);
  });

  it('only normalises an exact version, asking nothing', async () => {
    expect(await resolveKubernetesVersion('1.23.16', { releaseUrl: server.url })).toEqual({
      version: 'v1.23.16',
      major: 1,
      minor: 23,
      patch: 16,
    });
    expect(server.requests).toEqual([]);
  });

  it('says NOT_FOUND, with the URL and what to do, when the location has no marker for the spec', async () => {
    const error = await rejection(resolveKubernetesVersion('latest-1.23', { releaseUrl: server.url }));

    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain(`${server.url}/latest-1.23.txt`);
    expect(error.actions[0]).toContain('exact version');
    expect(error.actions.join('\n')).toContain('HACP_KUBE_RELEASE_URL');
    expect((await rejection(resolveKubernetesVersion('1.99', { releaseUrl: release.fileUrl }))).code).toBe(
      'NOT_FOUND',
    );
  });

  it('refuses a marker that holds no version, or a version of another line', async () => {
    const junk = await rejection(resolveKubernetesVersion('1.29', { releaseUrl: server.url }));
    expect(junk.code).toBe('INVALID_ARGUMENT');
    expect(junk.details).toMatchObject({ field: 'releaseUrl' });
    expect(junk.message).toContain('<html>Moved</html>');

    const otherLine = await rejection(resolveKubernetesVersion('stable-1.30', { releaseUrl: server.url }));
    expect(otherLine.code).toBe('INVALID_ARGUMENT');
    expect(otherLine.message).toContain('of the 1.30 line');
  });

  it('refuses text that is neither a version nor a spec, asking nothing', async () => {
    const error = await rejection(resolveKubernetesVersion('newest', { releaseUrl: server.url }));

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toMatchObject({ field: 'version', value: 'newest' });
    expect(server.requests).toEqual([]);
  });

  it('says UNAVAILABLE when the location cannot be reached', async () => {
    const listener = createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as { port: number };
    await new Promise<void>((resolve) => listener.close(() => resolve()));

    const error = await rejection(
      resolveKubernetesVersion('1.23', { releaseUrl: `http://127.0.0.1:${port}/release` }),
    );

    expect(error.code).toBe('UNAVAILABLE');
  });

  it('says ABORTED for an aborted signal', async () => {
    const error = await rejection(
      resolveKubernetesVersion('1.23', { releaseUrl: server.url, signal: AbortSignal.abort() }),
    );

    expect(error.code).toBe('ABORTED');
  });
});
