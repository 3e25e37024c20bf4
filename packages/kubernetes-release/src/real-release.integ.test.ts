import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listCachedKubernetesBinaries } from './cache.js';
import { type DownloadProgress, fetchKubernetesBinaries } from './fetch.js';
import { binaryVersion } from './find.js';
import { resolveKubernetesVersion } from './resolve.js';
import { KUBERNETES_BINARIES } from './source.js';

const releaseUrl = process.env.HACP_KUBE_RELEASE_URL;
const cacheDirs: string[] = [];

afterAll(async () => {
  for (const dir of cacheDirs) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(releaseUrl === undefined || releaseUrl === '')(
  'the real Kubernetes v1.23.16 release (needs HACP_KUBE_RELEASE_URL, e.g. file:///work/shared/kubernetes-release/release)',
  () => {
    it('resolves 1.23, fetches the release into an empty cache, and each binary says it is v1.23.16', async () => {
      const cacheDir = await mkdtemp(join(tmpdir(), 'hacp-kube-real-'));
      cacheDirs.push(cacheDir);
      const { version } = await resolveKubernetesVersion('1.23', { releaseUrl: releaseUrl as string });
      expect(version).toBe('v1.23.16');
      const progress: DownloadProgress[] = [];

      const binaries = await fetchKubernetesBinaries(
        version,
        { cacheDir, releaseUrl: releaseUrl as string },
        {
          onProgress: (event) => progress.push(event),
        },
      );

      for (const binary of KUBERNETES_BINARIES)
        expect(await binaryVersion(binaries.paths[binary])).toBe('v1.23.16');
      expect(progress.at(-1)?.receivedBytes).toBe(progress.at(-1)?.totalBytes);
      const [cached] = await listCachedKubernetesBinaries({ cacheDir });
      expect(cached?.binaries).toEqual([...KUBERNETES_BINARIES]);
      expect(cached?.bytes).toBeGreaterThan(100_000_000);
    }, 600_000);
  },
);
