import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
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

  it('fails, not skips, when the location serves binaries that do not match their checksums', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hacp-kube-corrupt-'));
    dirs.push(dir);
    const bin = join(dir, 'release', 'v1.23.16', 'bin', 'linux', 'amd64');
    await mkdir(bin, { recursive: true });
    for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      await writeFile(join(bin, name), '#!/bin/sh\necho Kubernetes v1.23.16\n');
      await writeFile(join(bin, `${name}.sha256`), `${'0'.repeat(64)}\n`);
    }
    const env = {
      HACP_KUBE_RELEASE_URL: pathToFileURL(join(dir, 'release')).href,
      HACP_TEST_KUBE_CACHE: join(dir, 'cache'),
    };
    await expect(testKubernetesBinaries('v1.23.16', { env })).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
  });

  it('names the 1.23 and 1.32 lines', () => {
    expect(TEST_KUBERNETES_VERSIONS).toEqual(['1.23', 'latest-1.32']);
  });
});
