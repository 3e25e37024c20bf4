import { existsSync } from 'node:fs';
import { request } from 'node:https';
import { isHacpError, waitUntil } from '@hacp/core';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { startTestApiserver, type TestApiserver, testKubernetesBinaries } from './kubernetes.js';
import { isAlive, trackedPids } from './processes.js';

const v123 = await testKubernetesBinaries('1.23');
const v132 = await testKubernetesBinaries('latest-1.32');

/** GET with the admin client certificate. */
function adminGet(apiserver: TestApiserver, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${apiserver.url}${path}`,
      {
        ca: apiserver.pki.ca.certPem,
        cert: apiserver.pki.admin.certPem,
        key: apiserver.pki.admin.keyPem.reveal(),
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

function clients(apiserver: TestApiserver) {
  const kc = new KubeConfig();
  kc.loadFromString(apiserver.kubeconfig);
  return { core: kc.makeApiClient(CoreV1Api), coordination: kc.makeApiClient(CoordinationV1Api) };
}

describe.skipIf(v123.skip !== undefined)(
  `startTestApiserver with Kubernetes 1.23${v123.skip ? ` (skipped: ${v123.skip})` : ''}`,
  () => {
    it('starts a bare apiserver that is ready and serves the kubernetes Service; stop() ends it all', async () => {
      const before = new Set(trackedPids());
      const apiserver = await startTestApiserver({ binaries: v123.binaries! });
      const pids = trackedPids().filter((pid) => !before.has(pid));
      try {
        expect(pids).toHaveLength(2); // etcd and kube-apiserver
        expect(await adminGet(apiserver, '/readyz')).toEqual({ status: 200, body: 'ok' });
        expect(JSON.parse((await adminGet(apiserver, '/version')).body).gitVersion).toBe('v1.23.16');
        const service = await clients(apiserver).core.readNamespacedService({
          name: 'kubernetes',
          namespace: 'default',
        });
        expect(service.spec?.clusterIP).toBe('10.0.0.1');
        expect(service.spec?.ports?.[0]).toMatchObject({
          name: 'https',
          port: 443,
          targetPort: Number(new URL(apiserver.url).port),
        });
      } finally {
        await apiserver.stop();
      }
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
      expect(existsSync(apiserver.dir)).toBe(false);
    }, 300_000);

    it('stops what it began and removes its folder when the start is aborted', async () => {
      const before = new Set(trackedPids());
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 1_500);
      let failure: unknown;
      try {
        await startTestApiserver({ binaries: v123.binaries!, signal: controller.signal });
      } catch (error) {
        failure = error;
      }

      expect(isHacpError(failure, 'ABORTED')).toBe(true);
      expect(trackedPids().filter((pid) => !before.has(pid))).toEqual([]);
    }, 120_000);
  },
);

describe.skipIf(v132.skip !== undefined)(
  `startTestApiserver with Kubernetes 1.32 and the controller manager${v132.skip ? ` (skipped: ${v132.skip})` : ''}`,
  () => {
    it('runs kube-controller-manager: it takes its lease and makes the default ServiceAccount', async () => {
      const apiserver = await startTestApiserver({ binaries: v132.binaries!, controllerManager: true });
      try {
        const { core, coordination } = clients(apiserver);
        expect(JSON.parse((await adminGet(apiserver, '/version')).body).gitVersion).toBe(
          v132.binaries?.version,
        );
        const account = await waitUntil({
          description: 'the default ServiceAccount',
          timeoutMs: 120_000,
          minDelayMs: 250,
          maxDelayMs: 2_000,
          check: async () =>
            core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(
              (found) => ({ done: true as const, value: found }),
              (error: Error) => ({ done: false as const, reason: error.message }),
            ),
        });
        expect(account.metadata?.name).toBe('default');
        const lease = await coordination.readNamespacedLease({
          name: 'kube-controller-manager',
          namespace: 'kube-system',
        });
        expect(lease.spec?.holderIdentity).toMatch(/.+_.+/);
      } finally {
        await apiserver.stop();
      }
    }, 300_000);
  },
);
