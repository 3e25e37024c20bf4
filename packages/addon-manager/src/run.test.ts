import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHacpError } from '@hacp/core';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADDON_MODE_LABEL } from './manifests.js';
import { REQUEST_TIMEOUT_MS } from './object-api.js';
import { type AddonPassReport, FIRST_PASS_RETRY_MS, runAddonManager } from './run.js';

/** An API server stand-in on loopback that records requests and never answers them. */
async function silentServer(): Promise<{ server: Server; requests: IncomingMessage[]; url: string }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((request) => {
    requests.push(request);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, requests, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function kubeconfigFor(server: string): KubeConfig {
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kubeconfig;
}

describe('runAddonManager', () => {
  let dir: string;
  let api: Awaited<ReturnType<typeof silentServer>>;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-addon-run-'));
    api = await silentServer();
  });
  afterEach(async () => {
    api.server.closeAllConnections();
    await new Promise((resolve) => api.server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('treats a missing folder as an empty set: passes that ask nothing and prune nothing', async () => {
    const controller = new AbortController();
    const reports: AddonPassReport[] = [];
    await runAddonManager({
      kubeconfig: kubeconfigFor(api.url),
      addonsDir: join(dir, 'missing'),
      intervalMs: 20,
      signal: controller.signal,
      onPass: (report) => {
        reports.push(report);
        if (reports.length === 3) controller.abort();
      },
    });
    expect(reports).toHaveLength(3);
    expect(reports[0]).toEqual({
      applied: [],
      created: [],
      unchanged: [],
      pruned: [],
      ignored: [],
      failed: [],
      problems: [],
      pruneSkipped: `the add-on folder ${join(dir, 'missing')} does not exist`,
    });
    expect(api.requests).toHaveLength(0);
  });

  it('returns promptly when aborted in the middle of a pass, dropping the request in flight', async () => {
    writeFileSync(
      join(dir, 'a.yaml'),
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {${ADDON_MODE_LABEL}: Reconcile}\n`,
    );
    const controller = new AbortController();
    const passes: AddonPassReport[] = [];
    const started = Date.now();
    const running = runAddonManager({
      kubeconfig: kubeconfigFor(api.url),
      addonsDir: dir,
      intervalMs: 60_000,
      signal: controller.signal,
      onPass: (report) => passes.push(report),
    });
    const first = await new Promise<IncomingMessage>((resolve) => {
      const poll = setInterval(() => {
        if (api.requests[0] === undefined) return;
        clearInterval(poll);
        resolve(api.requests[0]);
      }, 10);
    });
    expect(first.url).toBe('/api/v1');
    const closed = new Promise<void>((resolve) => first.socket.once('close', () => resolve()));
    controller.abort();
    await running;
    await closed;
    expect(Date.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS);
    expect(passes).toEqual([]);
    expect(api.requests).toHaveLength(1);
  });

  it('tries a failed pass again within a second until one goes through (the API server starting)', async () => {
    writeFileSync(
      join(dir, 'cm.yaml'),
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: kube-system\n  labels:\n    ${ADDON_MODE_LABEL}: Reconcile\n`,
    );
    const controller = new AbortController();
    const failed: number[] = [];
    const started = Date.now();
    await runAddonManager({
      // Nothing listens on port 1 of loopback: every pass fails to connect.
      kubeconfig: kubeconfigFor('http://127.0.0.1:1'),
      addonsDir: dir,
      intervalMs: 600_000,
      signal: controller.signal,
      onPass: (report) => {
        if (report.failed.length > 0) failed.push(Date.now() - started);
        if (failed.length === 3) controller.abort();
      },
    });
    // Three failed passes, each a retry of the last, far sooner than one interval.
    expect(failed).toHaveLength(3);
    expect(failed[2]).toBeLessThan(120_000);
    expect((failed[2] as number) - (failed[1] as number)).toBeGreaterThanOrEqual(FIRST_PASS_RETRY_MS - 50);
  });

  it('hands a pass that fails as a whole to onError and goes on', async () => {
    const controller = new AbortController();
    const errors: unknown[] = [];
    await runAddonManager({
      kubeconfig: kubeconfigFor(api.url),
      addonsDir: join(dir, 'missing'),
      intervalMs: 10,
      signal: controller.signal,
      onPass: () => {
        throw new Error('listener broke');
      },
      onError: (error) => {
        errors.push(error);
        if (errors.length === 2) controller.abort();
      },
    });
    expect(errors.map((e) => (e as Error).message)).toEqual(['listener broke', 'listener broke']);
  });

  it.each([0, -5, Number.NaN])('refuses an interval of %s ms', async (intervalMs) => {
    const error = await runAddonManager({
      kubeconfig: kubeconfigFor(api.url),
      addonsDir: dir,
      intervalMs,
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as { details: unknown }).details).toMatchObject({ field: 'intervalMs' });
  });

  it('refuses a kubeconfig without a current cluster', async () => {
    const error = await runAddonManager({
      kubeconfig: new KubeConfig(),
      addonsDir: dir,
      intervalMs: 1000,
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as { details: unknown }).details).toEqual({ field: 'kubeconfig' });
  });
});
