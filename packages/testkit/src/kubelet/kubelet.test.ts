import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, waitUntil } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createRecordingLogger } from '../recording-logger.js';
import { type Kubelet, runKubelet } from './kubelet.js';
import type { KubeletStatus } from './status.js';

describe('runKubelet', () => {
  let dir: string | undefined;
  let kubelet: Kubelet | undefined;
  afterEach(async () => {
    await kubelet?.stop();
    kubelet = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a configuration without staticPodPath', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-kubelet-'));
    writeFileSync(join(dir, 'config.yaml'), 'kind: KubeletConfiguration\n');
    await expect(runKubelet({ configFile: join(dir, 'config.yaml'), vmRoot: dir })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      details: { field: 'staticPodPath' },
    });
  });

  it('writes its status at once, and lists a manifest it cannot run with its problem', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-kubelet-'));
    const manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    writeFileSync(join(dir, 'config.yaml'), `staticPodPath: ${manifests}\nfileCheckFrequency: 50ms\n`);
    const logger = createRecordingLogger();
    kubelet = await runKubelet({ configFile: join(dir, 'config.yaml'), vmRoot: dir, logger });
    expect(kubelet.syncMs).toBe(50);
    expect(kubelet.statusFile).toBe(join(dir, 'var/lib/kubelet/hacp-pods.json'));
    const read = () =>
      JSON.parse(
        readFileSync(join(dir as string, 'var/lib/kubelet/hacp-pods.json'), 'utf8'),
      ) as KubeletStatus;
    expect(read()).toMatchObject({ kubeletPid: process.pid, pods: [] });
    writeFileSync(join(manifests, 'pod.yaml'), 'apiVersion: v1\nkind: Pod\n');
    const status = await waitUntil({
      description: 'the problem in the status',
      timeoutMs: 30_000,
      check: async () => {
        const current = read();
        return current.pods.length > 0
          ? { done: true, value: current }
          : { done: false, reason: 'no pod yet' };
      },
    });
    expect(status.pods).toEqual([
      {
        name: 'pod.yaml',
        manifest: 'pod.yaml',
        problem: expect.stringMatching(/^the manifest is not JSON/),
        containers: [],
      },
    ]);
    expect(kubelet.status().pods).toEqual(status.pods);
    expect(logger.records.map((record) => record.message)).toContainEqual(
      expect.stringMatching(/^manifest pod\.yaml not run: the manifest is not JSON/),
    );
  });
});
