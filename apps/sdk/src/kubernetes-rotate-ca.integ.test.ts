/**
 * `certs rotate-ca --ca cluster` with the real Kubernetes v1.23.16 binaries on
 * the local provider, three replicas (two lose etcd quorum while one restarts, so the API could not
 * stay reachable through a roll): afterwards every apiserver serves a certificate of the new
 * cluster CA (read over TLS), the admin kubeconfig hacp keeps works and kept working through the
 * endpoint for the whole roll (sampled every 100 ms, read from its file each time), a client
 * certificate of the old CA is refused (401), the leases have one holder each, `certs served`
 * agrees, and the apiservers publish only the new CA in kube-system/extension-apiserver-authentication.
 * The front-proxy CA's rotation runs the same steps (and its ConfigMap rewrite the same code); it is
 * rotated on an etcd-only cluster in the CLI's certs-rotate e2e test, which keeps this suite's time
 * (three replicas with Kubernetes, rolled four times) to one rotation.
 * Skipped, with the reason, when no binaries can be had.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { type ClusterPki, clientKubeconfig, loadPki } from '@hacp/certs';
import { waitUntil } from '@hacp/core';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFingerprints, publishedTrust } from './kubernetes/authentication-trust.js';
import {
  getRaw,
  type KubernetesWorld,
  kubeApi,
  kubernetesTestSource,
  kubernetesWorld,
  readyz,
  startReadyzProbe,
} from './kubernetes.test-support.js';

const v123 = await kubernetesTestSource('1.23');
const LONG = 600_000;
const REPLICAS = ['kubernetes-master', 'kubernetes-master-b0b', 'kubernetes-master-c0c'];

/** The certificate each replica's apiserver serves, read over TLS. */
async function servedApiserverCerts(world: KubernetesWorld): Promise<Map<string, X509Certificate>> {
  const served = new Map<string, X509Certificate>();
  for (const instance of await world.provider.instances.list({ cluster: 'kubernetes' })) {
    const reach = await world.provider.reach(instance, 6443);
    try {
      const raw = await new Promise<Buffer>((resolve, reject) => {
        const socket = connect({ host: reach.host, port: reach.port, rejectUnauthorized: false });
        socket.once('secureConnect', () => {
          resolve(socket.getPeerCertificate().raw);
          socket.destroy();
        });
        socket.once('error', reject);
      });
      served.set(instance.name, new X509Certificate(raw));
    } finally {
      await reach.close();
    }
  }
  return served;
}

/** A KubeConfig trusting `pki`'s cluster CA, with a client certificate `admin` (maybe of another CA). */
function configWith(pki: ClusterPki, admin: ClusterPki['admin'], server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(clientKubeconfig({ ...pki, admin }, { server, client: 'admin' }));
  return config;
}

describe.skipIf(v123.skip !== undefined)(
  `certs rotate-ca with Kubernetes 1.23${v123.skip ? ` (skipped: ${v123.skip})` : ''}`,
  () => {
    let world: KubernetesWorld;
    let adminConf: string;
    beforeAll(async () => {
      if (v123.skip !== undefined) return;
      world = await kubernetesWorld(v123.source);
      const up = await world.controlPlane.up({ zone: 'local-a', multizone: true, kubernetesVersion: '1.23' });
      adminConf = up.kubeconfig as string;
      await world.controlPlane.replicate({ zone: 'local-b', name: REPLICAS[1] as string });
      await world.controlPlane.replicate({ zone: 'local-c', name: REPLICAS[2] as string });
    }, LONG);
    afterAll(async () => world?.cleanup(), LONG);

    it(
      '--ca cluster: every apiserver serves the new CA, the admin kubeconfig worked throughout, the old CA is refused',
      async () => {
        const pkiDir = join(world.dataDir, 'pki');
        const oldPki = await loadPki(pkiDir);
        const server = kubeApi(adminConf).config.getCurrentCluster()?.server as string;
        expect(await readyz(kubeApi(adminConf).config)).toBe('ok');

        // The admin kubeconfig read anew from its file for each request: hacp rewrites it at each phase.
        const probe = startReadyzProbe(async () => {
          const config = new KubeConfig();
          config.loadFromString(await readFile(adminConf, 'utf8'));
          return config;
        });
        const started = Date.now();
        const result = await world.controlPlane.certs.rotateCa({ ca: 'cluster' }).finally(() => probe.stop());
        const took = Date.now() - started;
        const report = await probe.stop();
        expect(report.failures).toEqual([]);
        expect(report.requests).toBeGreaterThan(20);
        expect(result).toMatchObject({ operation: 'rotate-ca', ca: 'cluster' });
        expect(result.steps.filter((step) => step.id.startsWith('roll-certs:'))).toHaveLength(9);
        expect(result.reissued).toEqual(
          expect.arrayContaining(['admin', 'controller-manager', 'scheduler', `${REPLICAS[0]}/apiserver`]),
        );
        // Three rolls of three replicas; generous, so that a loaded machine does not fail it.
        expect(took).toBeLessThan(LONG);

        const newPki = await loadPki(pkiDir);
        expect(newPki.ca.certPem).not.toBe(oldPki.ca.certPem);
        expect(newPki.caPrevious).toBeUndefined();
        const newCa = new X509Certificate(newPki.ca.certPem);
        const served = await servedApiserverCerts(world);
        expect([...served.keys()].sort()).toEqual([...REPLICAS].sort());
        for (const [replica, cert] of served) {
          expect(cert.verify(newCa.publicKey), replica).toBe(true);
          expect(cert.verify(new X509Certificate(oldPki.ca.certPem).publicKey), replica).toBe(false);
        }

        // kubectl-equivalent calls with the admin kubeconfig hacp rewrote.
        const api = kubeApi(adminConf);
        const namespaces = await api.core.listNamespace();
        expect(namespaces.items.map((item) => item.metadata?.name)).toContain('kube-system');
        expect((await getRaw(api.config, '/api/v1/namespaces/kube-system')).status).toBe(200);
        // The old admin certificate (old CA), over TLS that trusts the new serving certificates.
        const old = await getRaw(configWith(newPki, oldPki.admin, server), '/api/v1/namespaces');
        expect(old.status).toBe(401);
        // The new one with the same TLS trust, to show that only the client certificate differs.
        expect((await getRaw(configWith(newPki, newPki.admin, server), '/api/v1/namespaces')).status).toBe(
          200,
        );

        // One holder per leader lease, one identity lease per replica.
        const status = await world.controlPlane.status();
        expect(REPLICAS).toContain(status.kubernetes?.controllerManagerLeader);
        expect(REPLICAS).toContain(status.kubernetes?.schedulerLeader);
        const live = await waitUntil<number>({
          description: 'one identity lease per replica',
          timeoutMs: 60_000,
          minDelayMs: 500,
          retryOn: () => true,
          check: async () => {
            const seen = await world.controlPlane.leases();
            const live = seen.identities.filter((identity) => !identity.stale).map((entry) => entry.replica);
            return [...live].sort().join() === [...REPLICAS].sort().join()
              ? { done: true, value: live.length }
              : { done: false };
          },
        });
        expect(live).toBe(3);

        // `certs served` agrees: every port serves the operator's copy.
        const check = await world.controlPlane.certs.served();
        expect(check.filter((entry) => entry.port === 'apiserver')).toHaveLength(3);
        expect(check.every((entry) => entry.matches)).toBe(true);
        // The apiservers publish the new cluster CA alone for clients: hacp had to make them (their
        // controller had kept the old CA published beside the new one).
        expect(result.steps.find((step) => step.id === 'rotate-cluster-ca#4')?.status).toBe('done');
        const published = await publishedTrust(api.config, 'client-ca-file');
        expect(bundleFingerprints(published?.bundle)).toEqual([newCa.fingerprint256]);
      },
      LONG,
    );
  },
);
