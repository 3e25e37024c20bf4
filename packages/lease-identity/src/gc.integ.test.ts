import { type CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityGc } from './gc.js';
import { interceptedApi, TARGETS, type TargetEnv } from './integ-target.js';
import { apiServerIdentityLabels, apiServerIdentityName } from './names.js';

const HOUR = 3_600_000;

for (const target of TARGETS) {
  describe.skipIf(target.skip)(`identity lease GC ${target.title}`, () => {
    let env: TargetEnv;
    let api: CoordinationV1Api;
    beforeAll(async () => {
      env = await target.start();
      api = env.api();
    });
    afterAll(async () => {
      await env?.stop();
    });

    /** Writes a lease as another apiserver would have, last renewed `ageMs` ago; returns its name. */
    async function identityLease(generation: '1.20' | '1.26' | '1.27', ageMs: number): Promise<string> {
      const hostname = env.unique('host');
      const name = apiServerIdentityName({ hostname, generation });
      await api.createNamespacedLease({
        namespace: env.namespace,
        body: {
          metadata: { name, labels: apiServerIdentityLabels({ hostname, generation }) },
          spec: {
            holderIdentity: `${name}_x`,
            leaseDurationSeconds: 3600,
            renewTime: new V1MicroTime(Date.now() - ageMs),
          },
        },
      });
      return name;
    }

    async function renew(name: string): Promise<void> {
      const lease = await api.readNamespacedLease({ name, namespace: env.namespace });
      lease.spec = { ...lease.spec, renewTime: new V1MicroTime() };
      await api.replaceNamespacedLease({ name, namespace: env.namespace, body: lease });
    }

    async function exists(name: string): Promise<boolean> {
      try {
        await api.readNamespacedLease({ name, namespace: env.namespace });
        return true;
      } catch (error) {
        if ((error as { code?: number }).code === 404) return false;
        throw error;
      }
    }

    it('deletes expired identity leases of both label generations, keeps live and unlabelled ones', async () => {
      const expired = [await identityLease('1.20', 2 * HOUR), await identityLease('1.27', 3 * HOUR)];
      const live = await identityLease('1.26', 60_000);
      const unlabelled = env.unique('kube-scheduler');
      await api.createNamespacedLease({
        namespace: env.namespace,
        body: {
          metadata: { name: unlabelled },
          spec: {
            holderIdentity: 'x',
            leaseDurationSeconds: 15,
            renewTime: new V1MicroTime(Date.now() - 5 * HOUR),
          },
        },
      });
      const gc = createIdentityGc({ client: env.kubeConfig(), namespace: env.namespace });
      const result = await gc.collect();
      await gc.stop();

      expect(result.deleted).toEqual([...expired].sort());
      expect(result.renewed).toEqual([]);
      for (const name of expired) expect(await exists(name)).toBe(false);
      expect(await exists(live)).toBe(true);
      expect(await exists(unlabelled)).toBe(true);
    });

    it('keeps a lease renewed between its list and its re-read', async () => {
      const name = await identityLease('1.27', 2 * HOUR);
      const client = interceptedApi(api, async (method, leaseName) => {
        if (method === 'readNamespacedLease' && leaseName === name) await renew(name);
      });
      const gc = createIdentityGc({ client, namespace: env.namespace });
      const result = await gc.collect();
      await gc.stop();
      expect(result.renewed).toEqual([name]);
      expect(result.deleted).toEqual([]);
      expect(await exists(name)).toBe(true);
    });

    it('keeps a lease renewed between its re-read and its delete (the precondition fails)', async () => {
      const name = await identityLease('1.26', 2 * HOUR);
      const client = interceptedApi(api, async (method, leaseName) => {
        if (method === 'deleteNamespacedLease' && leaseName === name) await renew(name);
      });
      const gc = createIdentityGc({ client, namespace: env.namespace });
      const result = await gc.collect();
      await gc.stop();
      expect(result.renewed).toEqual([name]);
      expect(result.deleted).toEqual([]);
      expect(await exists(name)).toBe(true);
    });

    it('counts a lease another GC deleted first as already gone, not as an error', async () => {
      const name = await identityLease('1.20', 2 * HOUR);
      const client = interceptedApi(api, async (method, leaseName) => {
        if (method === 'deleteNamespacedLease' && leaseName === name) {
          await api.deleteNamespacedLease({ name, namespace: env.namespace });
        }
      });
      const gc = createIdentityGc({ client, namespace: env.namespace });
      const result = await gc.collect();
      await gc.stop();
      expect(result.alreadyGone).toEqual([name]);
      expect(result.deleted).toEqual([]);
    });

    it.skipIf(!target.testServer)(
      "sends the re-read's resourceVersion as the delete precondition, and keeps a lease renewed inside the server",
      async () => {
        const server = env.server;
        if (!server) throw new Error('test server only');
        const deleted = await identityLease('1.27', 2 * HOUR);
        const raced = await identityLease('1.27', 2 * HOUR);
        const readVersion = (await api.readNamespacedLease({ name: deleted, namespace: env.namespace }))
          .metadata?.resourceVersion;
        const unsubscribe = server.beforeRequest((request) => {
          // Renewed in the store after the DELETE arrived, before it is handled.
          if (request.method !== 'DELETE' || request.name !== raced) return;
          const lease = server.lease(env.namespace, raced) as { spec: Record<string, unknown> };
          server.writeLease(env.namespace, {
            ...lease,
            spec: { ...lease.spec, renewTime: new V1MicroTime().toISOString() },
          });
        });
        const gc = createIdentityGc({ client: env.kubeConfig(), namespace: env.namespace });
        const result = await gc.collect();
        await gc.stop();
        unsubscribe();

        expect(result.deleted).toEqual([deleted]);
        expect(result.renewed).toEqual([raced]);
        expect(server.lease(env.namespace, raced)).toBeDefined();
        const reads = server.requests.filter((r) => r.method === 'GET' && r.name === deleted);
        const deletes = server.requests.filter((r) => r.method === 'DELETE' && r.name === deleted);
        expect(deletes).toHaveLength(1);
        expect(deletes[0]?.status).toBe(200);
        expect(reads.at(-1)?.status).toBe(200);
        expect(deletes[0]?.body).toMatchObject({ preconditions: { resourceVersion: readVersion } });
        const racedDelete = server.requests.find((r) => r.method === 'DELETE' && r.name === raced);
        expect(racedDelete?.status).toBe(409);
      },
    );
  });
}
