import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isHacpError } from '@hacp/core';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDON_MODE_LABEL, type AddonObject } from './manifests.js';
import { reconcileAddons } from './reconcile.js';

// Requests are recorded and never answered: these tests are about what is (not) asked, and aborting.
const requests: IncomingMessage[] = [];
const server = createServer((request) => {
  requests.push(request);
});
const kubeconfig = new KubeConfig();

/** Starts `api` on a loopback port for the test file, `config` pointing at it, and stops it after. */
function serveForTheseTests(api: Server, config: KubeConfig): void {
  beforeAll(async () => {
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    config.loadFromOptions({
      clusters: [
        { name: 'c', server: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, skipTLSVerify: true },
      ],
      users: [{ name: 'u', token: 'test-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });
  afterAll(async () => {
    api.closeAllConnections();
    await new Promise((resolve) => api.close(resolve));
  });
}
serveForTheseTests(server, kubeconfig);

const configMap = (name: string, labels?: Record<string, string>): AddonObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'kube-system', ...(labels ? { labels } : {}) },
});

describe('reconcileAddons', () => {
  it('leaves objects without a mode alone: reported as ignored, nothing asked of the API server', async () => {
    requests.length = 0;
    const result = await reconcileAddons({
      kubeconfig,
      objects: [configMap('plain'), configMap('odd', { [ADDON_MODE_LABEL]: 'Sometimes' })],
      prune: false,
    });
    expect(result).toEqual({
      applied: [],
      created: [],
      unchanged: [],
      pruned: [],
      ignored: ['ConfigMap/kube-system/plain', 'ConfigMap/kube-system/odd'],
      failed: [],
    });
    expect(requests).toHaveLength(0);
  });

  it('stops with ABORTED when the signal aborts during a request', async () => {
    requests.length = 0;
    const controller = new AbortController();
    const pass = reconcileAddons({
      kubeconfig,
      objects: [configMap('a', { [ADDON_MODE_LABEL]: 'Reconcile' })],
      signal: controller.signal,
    }).catch((error: unknown) => error);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (requests.length === 0) return;
        clearInterval(poll);
        resolve();
      }, 10);
    });
    controller.abort();
    const error = await pass;
    expect(isHacpError(error, 'ABORTED')).toBe(true);
    expect(requests).toHaveLength(1);
  });

  it('refuses a kubeconfig without a current cluster', async () => {
    const error = await reconcileAddons({ kubeconfig: new KubeConfig(), objects: [] }).catch(
      (e: unknown) => e,
    );
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
  });
});

describe('reconcileAddons against an API server that answers', () => {
  // A ConfigMap that is there when read and, deleted by hand just then, made again by the apply.
  const answers = createServer((request, response) => {
    const reply = (body: object) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(body));
    };
    const object = (uid: string, resourceVersion: string) =>
      reply({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'again', namespace: 'kube-system', uid, resourceVersion },
      });
    if (request.url === '/api/v1') {
      return reply({
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true, verbs: ['get', 'patch'] }],
      });
    }
    if (request.method === 'GET') return object('uid-before', '10');
    if (request.method === 'PATCH') return object('uid-after', '11');
    response.statusCode = 404;
    response.end();
  });
  const config = new KubeConfig();
  serveForTheseTests(answers, config);

  it('reports an object deleted between its read and its apply as created, not applied', async () => {
    const result = await reconcileAddons({
      kubeconfig: config,
      objects: [configMap('again', { [ADDON_MODE_LABEL]: 'Reconcile' })],
      prune: false,
    });
    expect(result.failed).toEqual([]);
    expect(result.created).toEqual(['ConfigMap/kube-system/again']);
    expect(result.applied).toEqual([]);
  });
});
