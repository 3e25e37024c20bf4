import { KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityHeartbeat } from './heartbeat.js';
import { eventually, interceptedApi, TARGETS, type TargetEnv } from './integ-target.js';
import type { LeaseApi } from './lease-store.js';
import { API_SERVER_IDENTITY_GENERATIONS, apiServerIdentityLabels } from './names.js';
import { rejected } from './test-support.js';

const SIX_DIGITS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

// What a loaded two-core machine may add to a timer before its callback runs.
const TIMER_LATENESS_MS = 400;

/** The lease API with every call's method, start and end recorded in `calls`. */
function recordingApi(api: LeaseApi, calls: { method: string; at: number; done: number }[]): LeaseApi {
  const recorded =
    <A extends unknown[], R>(method: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const entry = { method, at: performance.now(), done: Number.NaN };
      calls.push(entry);
      try {
        return await call(...args);
      } finally {
        entry.done = performance.now();
      }
    };
  return {
    readNamespacedLease: recorded('readNamespacedLease', (p, o) => api.readNamespacedLease(p, o)),
    createNamespacedLease: recorded('createNamespacedLease', (p, o) => api.createNamespacedLease(p, o)),
    replaceNamespacedLease: recorded('replaceNamespacedLease', (p, o) => api.replaceNamespacedLease(p, o)),
    listNamespacedLease: recorded('listNamespacedLease', (p, o) => api.listNamespacedLease(p, o)),
    deleteNamespacedLease: recorded('deleteNamespacedLease', (p, o) => api.deleteNamespacedLease(p, o)),
  };
}

for (const target of TARGETS) {
  describe.skipIf(target.skip)(`identity heartbeat ${target.title}`, () => {
    let env: TargetEnv;
    beforeAll(async () => {
      env = await target.start();
    });
    afterAll(async () => {
      await env?.stop();
    });

    it.each(API_SERVER_IDENTITY_GENERATIONS)(
      'creates and renews a %s identity lease in kube-system, and deletes it on request',
      async (generation) => {
        const hostname = env.unique('hacp-test-host');
        const heartbeat = await createIdentityHeartbeat({
          client: env.kubeConfig(),
          hostname,
          generation,
          renewIntervalMs: 200,
        });
        try {
          const lease = await env
            .api()
            .readNamespacedLease({ name: heartbeat.leaseName, namespace: 'kube-system' });
          expect(lease.metadata?.labels).toEqual(apiServerIdentityLabels({ hostname, generation }));
          expect(lease.spec?.holderIdentity).toBe(heartbeat.holderIdentity);
          expect(heartbeat.holderIdentity.startsWith(`${heartbeat.leaseName}_`)).toBe(true);
          expect(lease.spec?.leaseDurationSeconds).toBe(3600);
          expect(String(lease.spec?.renewTime)).toMatch(SIX_DIGITS);
          const first = Date.parse(String(lease.spec?.renewTime));
          expect(
            await eventually(async () => {
              const now = await env
                .api()
                .readNamespacedLease({ name: heartbeat.leaseName, namespace: 'kube-system' });
              return Date.parse(String(now.spec?.renewTime)) > first;
            }, 2_000),
          ).toBe(true);
        } finally {
          await heartbeat.stop({ deleteLease: true });
        }
        await expect(
          env.api().readNamespacedLease({ name: heartbeat.leaseName, namespace: 'kube-system' }),
        ).rejects.toMatchObject({ code: 404 });
      },
    );

    it('renews every renewInterval (+ up to 4%) with one PUT each, and leaves the lease when stopped', async () => {
      // Each call's start and end: the interval runs from the end of one renewal to the start of the
      // next, so the API's latency on a loaded machine does not count against it.
      const calls: { method: string; at: number; done: number }[] = [];
      const api = recordingApi(env.api(), calls);
      const heartbeat = await createIdentityHeartbeat({
        client: api,
        hostname: env.unique('cadence'),
        generation: '1.27',
        namespace: env.namespace,
        renewIntervalMs: 250,
      });
      await eventually(() => false, 2_000);
      await heartbeat.stop();

      expect(calls.slice(0, 2).map((call) => call.method)).toEqual([
        'readNamespacedLease',
        'createNamespacedLease',
      ]);
      const renewals = calls.slice(2);
      expect(renewals.every((call) => call.method === 'replaceNamespacedLease')).toBe(true);
      // 2 s / 250 ms at the most; at least a few however slow the API is.
      expect(renewals.length).toBeGreaterThanOrEqual(2);
      expect(renewals.length).toBeLessThanOrEqual(8);
      for (const [index, call] of renewals.entries()) {
        const previous = index === 0 ? calls[1] : renewals[index - 1];
        const waited = call.at - (previous?.done ?? Number.NaN);
        expect(waited).toBeGreaterThanOrEqual(249);
        // 260 ms (4% jitter), and what a loaded machine adds to a timer.
        expect(waited).toBeLessThanOrEqual(260 + TIMER_LATENESS_MS);
      }
      const lease = await env
        .api()
        .readNamespacedLease({ name: heartbeat.leaseName, namespace: env.namespace });
      expect(lease.spec?.holderIdentity).toBe(heartbeat.holderIdentity);
    });

    it('retries a conflicting renewal: re-reads after at least 100 ms, then renews', async () => {
      const other = env.api();
      let conflicts = 2;
      const calls: { method: string; at: number }[] = [];
      const leaseName = { value: '' };
      const api = interceptedApi(env.api(), async (method) => {
        calls.push({ method, at: performance.now() });
        if (method !== 'replaceNamespacedLease' || conflicts === 0 || !leaseName.value) return;
        conflicts--;
        // Another writer changes the lease just before our PUT: its resourceVersion is now stale.
        const current = await other.readNamespacedLease({ name: leaseName.value, namespace: env.namespace });
        current.metadata = { ...current.metadata, annotations: { 'hacp.test/touched': String(conflicts) } };
        await other.replaceNamespacedLease({
          name: leaseName.value,
          namespace: env.namespace,
          body: current,
        });
      });
      const heartbeat = await createIdentityHeartbeat({
        client: api,
        hostname: env.unique('conflict'),
        generation: '1.26',
        namespace: env.namespace,
        renewIntervalMs: 500,
      });
      leaseName.value = heartbeat.leaseName;
      const before = calls.length;
      expect(await eventually(() => conflicts === 0 && calls.length >= before + 5, 5_000)).toBe(true);
      await eventually(() => false, 300);
      await heartbeat.stop({ deleteLease: true });

      const sequence = calls.slice(before, before + 5);
      expect(sequence.map((call) => call.method)).toEqual([
        'replaceNamespacedLease',
        'readNamespacedLease',
        'replaceNamespacedLease',
        'readNamespacedLease',
        'replaceNamespacedLease',
      ]);
      expect((sequence[1]?.at ?? 0) - (sequence[0]?.at ?? 0)).toBeGreaterThanOrEqual(100);
      expect((sequence[3]?.at ?? 0) - (sequence[2]?.at ?? 0)).toBeGreaterThanOrEqual(100);
      expect(heartbeat.lastRenewedAt()).toBeDefined();
    });

    it('says the namespace does not exist', async () => {
      const error = await rejected(
        createIdentityHeartbeat({
          client: env.kubeConfig(),
          hostname: 'master-1',
          generation: '1.27',
          namespace: env.unique('missing'),
        }),
      );
      expect(error.code).toBe('NOT_FOUND');
      expect(error.message).toMatch(/^Namespace missing-\w+ does not exist/);
    });

    it.skipIf(!target.testServer)(
      'sends MicroTimes with six fractional digits on the wire, and refuses 403 with the RBAC to grant',
      async () => {
        const server = env.server;
        if (!server) throw new Error('test server only');
        const heartbeat = await createIdentityHeartbeat({
          client: env.kubeConfig(),
          hostname: 'wire-check',
          generation: '1.27',
          namespace: env.namespace,
          renewIntervalMs: 100,
        });
        await eventually(() => false, 350);
        await heartbeat.stop({ deleteLease: true });
        const writes = server.requests.filter(
          (request) =>
            request.name === heartbeat.leaseName ||
            (request.method === 'POST' && request.namespace === env.namespace),
        );
        const sent = writes
          .filter((request) => request.method === 'POST' || request.method === 'PUT')
          .map((request) => (request.body as { spec?: { renewTime?: string } }).spec?.renewTime);
        expect(sent.length).toBeGreaterThanOrEqual(3);
        for (const renewTime of sent) expect(renewTime).toMatch(SIX_DIGITS);
        expect(new V1MicroTime(0).toISOString()).toBe('1970-01-01T00:00:00.000000Z');

        const forbidden = new KubeConfig();
        forbidden.loadFromString(server.kubeconfig({ token: server.forbiddenToken }));
        const error = await rejected(
          createIdentityHeartbeat({ client: forbidden, hostname: 'master-1', generation: '1.27' }),
        );
        expect(error.code).toBe('PERMISSION_DENIED');
        expect(error.message).toContain('lack the "get" permission on leases.coordination.k8s.io');
        expect(error.actions[0]).toContain(
          'kubectl create role hacp-leases --namespace kube-system --verb=get,create,update,delete',
        );
      },
    );
  });
}
