import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_KUBERNETES_VERSIONS, testKubernetesBinaries } from './kubernetes.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('testKubernetesBinaries', () => {
  it('skips, saying why, when HACP_KUBE_RELEASE_URL is not set: never the official location', async () => {
    expect(await testKubernetesBinaries('1.23', { env: {} })).toEqual({
      skip: 'no Kubernetes binaries: HACP_KUBE_RELEASE_URL is not set',
    });
    expect(await testKubernetesBinaries('1.23', { env: { HACP_KUBE_RELEASE_URL: ' ' } })).toEqual({
      skip: 'no Kubernetes binaries: HACP_KUBE_RELEASE_URL is not set',
    });
  });

  it("skips with the error's message when the location cannot provide them, writing nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hacp-kube-empty-'));
    dirs.push(dir);
    const env = {
      HACP_KUBE_RELEASE_URL: pathToFileURL(join(dir, 'release')).href,
      HACP_TEST_KUBE_CACHE: join(dir, 'cache'),
    };

    const result = await testKubernetesBinaries('1.23', { env });

    expect(result.binaries).toBeUndefined();
    expect(result.skip).toContain('stable-1.23.txt');
    expect(await readdir(dir)).toEqual([]);
    expect((await testKubernetesBinaries('v1.23.16', { env })).skip).toContain('is not at');
  });

  it('names the 1.23 and 1.32 lines', () => {
    expect(TEST_KUBERNETES_VERSIONS).toEqual(['1.23', 'latest-1.32']);
  });
});
