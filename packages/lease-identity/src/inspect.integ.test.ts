import { KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeaderElector } from './elector.js';
import { createIdentityGc } from './gc.js';
import { createIdentityHeartbeat, type IdentityHeartbeat } from './heartbeat.js';
import { leaderOf, listApiServerIdentities } from './inspect.js';
import { eventually, TARGETS, type TargetEnv } from './integ-target.js';
import { apiServerIdentityName } from './names.js';
import { recordingLogger, rejected } from './test-support.js';

for (const target of TARGETS) {
  describe.skipIf(target.skip)(`inspection and errors ${target.title}`, () => {
    let env: TargetEnv;
    beforeAll(async () => {
      env = await target.start();
    });
    afterAll(async () => {
      await env?.stop();
    });

    it('lists each apiserver identity with its hostname, generation, holder, last renewal and staleness', async () => {
      const heartbeats: IdentityHeartbeat[] = [];
      for (const [hostname, generation] of [
        ['master-a', '1.20'],
        ['master-b', '1.26'],
        ['master-c', '1.27'],
      ] as const) {
        heartbeats.push(
          await createIdentityHeartbeat({
            client: env.kubeConfig(),
            hostname,
            generation,
            namespace: env.namespace,
          }),
        );
      }
      const staleName = apiServerIdentityName({ hostname: 'master-gone', generation: '1.27' });
      await env.api().createNamespacedLease({
        namespace: env.namespace,
        body: {
          metadata: {
            name: staleName,
            labels: {
              'apiserver.kubernetes.io/identity': 'kube-apiserver',
              'kubernetes.io/hostname': 'master-gone',
            },
          },
          spec: {
            holderIdentity: `${staleName}_old`,
            leaseDurationSeconds: 3600,
            renewTime: new V1MicroTime(Date.now() - 7_200_000),
          },
        },
      });
      await env.api().createNamespacedLease({
        namespace: env.namespace,
        body: {
          metadata: { name: 'not-an-identity' },
          spec: { holderIdentity: 'x', leaseDurationSeconds: 15 },
        },
      });

      const identities = await listApiServerIdentities({
        client: env.kubeConfig(),
        namespace: env.namespace,
      });
      for (const heartbeat of heartbeats) await heartbeat.stop();

      expect(identities.map((identity) => [identity.hostname, identity.generation, identity.stale])).toEqual([
        // 1.20 leases carry no hostname label: they sort first.
        [undefined, '1.20', false],
        ['master-b', '1.26', false],
        ['master-c', '1.27', false],
        ['master-gone', '1.27', true],
      ]);
      expect(identities[2]).toMatchObject({
        leaseName: heartbeats[2]?.leaseName,
        holder: heartbeats[2]?.holderIdentity,
        leaseDurationSeconds: 3600,
        lastRenewedAt: heartbeats[2]?.lastRenewedAt(),
      });
      expect(identities[3]?.holder).toBe(`${staleName}_old`);
    });

    it('tells who holds a leader lease, and says undefined for a lease that does not exist', async () => {
      const name = env.unique('kube-scheduler');
      await env.api().createNamespacedLease({
        namespace: env.namespace,
        body: {
          metadata: { name },
          spec: {
            holderIdentity: 'kubernetes-master_2f5c1d3e-aaaa-bbbb-cccc-0123456789ab',
            leaseDurationSeconds: 15,
            acquireTime: new V1MicroTime(Date.now() - 60_000),
            renewTime: new V1MicroTime(),
            leaseTransitions: 3,
          },
        },
      });
      const leader = await leaderOf({ client: env.kubeConfig(), name, namespace: env.namespace });
      expect(leader).toMatchObject({
        holder: 'kubernetes-master_2f5c1d3e-aaaa-bbbb-cccc-0123456789ab',
        hostname: 'kubernetes-master',
        leaseDurationSeconds: 15,
        leaseTransitions: 3,
        expired: false,
      });
      expect(
        await leaderOf({ client: env.kubeConfig(), name: env.unique('none'), namespace: env.namespace }),
      ).toBe(undefined);

      const elected = env.unique('elected');
      const elector = await createLeaderElector({
        client: env.kubeConfig(),
        name: elected,
        namespace: env.namespace,
        identity: 'host-9_abc',
      });
      const seen = await leaderOf({ client: env.kubeConfig(), name: elected, namespace: env.namespace });
      await elector.stop({ release: true });
      expect(seen).toMatchObject({
        holder: 'host-9_abc',
        hostname: 'host-9',
        leaseTransitions: 0,
        expired: false,
      });
      expect(
        (await leaderOf({ client: env.kubeConfig(), name: elected, namespace: env.namespace }))?.holder,
      ).toBe(undefined);
    });

    it('says a namespace that does not exist is missing when an elector starts', async () => {
      const error = await rejected(
        createLeaderElector({
          client: env.kubeConfig(),
          name: 'x',
          namespace: env.unique('nope'),
          identity: 'a',
        }),
      );
      expect(error.code).toBe('NOT_FOUND');
      expect(error.message).toMatch(/^Namespace nope-\w+ does not exist, so leader election cannot create/);
      expect(error.actions[0]).toContain('kubectl create namespace');
    });

    it('reports an unreachable API server as UNAVAILABLE, retryable', async () => {
      const unreachable = new KubeConfig();
      unreachable.loadFromOptions({
        clusters: [{ name: 'gone', server: 'https://127.0.0.1:1', skipTLSVerify: false }],
        users: [{ name: 'u', token: 't' }],
        contexts: [{ name: 'gone', cluster: 'gone', user: 'u' }],
        currentContext: 'gone',
      });
      const error = await rejected(leaderOf({ client: unreachable, name: 'kube-scheduler' }));
      expect(error.code).toBe('UNAVAILABLE');
      expect(error.retryable).toBe(true);
      expect(error.details.errorCode).toBe('ECONNREFUSED');
    });

    it.skipIf(!target.testServer)('refuses 403 on every entry point with the verbs each needs', async () => {
      const server = env.server;
      if (!server) throw new Error('test server only');
      const forbidden = new KubeConfig();
      forbidden.loadFromString(server.kubeconfig({ token: server.forbiddenToken }));
      const gc = createIdentityGc({ client: forbidden });
      // Each call is made only when awaited, so none rejects unobserved.
      const cases: [() => Promise<unknown>, string, string][] = [
        [() => listApiServerIdentities({ client: forbidden }), 'list', '--verb=list,get'],
        [() => leaderOf({ client: forbidden, name: 'kube-controller-manager' }), 'get', '--verb=get,list'],
        [() => gc.collect(), 'list', '--verb=list,get,delete'],
        [
          () => createLeaderElector({ client: forbidden, name: 'x', namespace: 'default', identity: 'a' }),
          'get',
          '--verb=get,create,update',
        ],
      ];
      for (const [call, verb, verbs] of cases) {
        const error = await rejected(call());
        expect(error.code).toBe('PERMISSION_DENIED');
        expect(error.message).toContain(`lack the "${verb}" permission`);
        expect(error.actions[0]).toContain(verbs);
        expect(error.details.status).toBe(403);
      }
      await gc.stop();
    });

    it.skipIf(!target.testServer)('sends nothing for bad input', async () => {
      const server = env.server;
      if (!server) throw new Error('test server only');
      const before = server.requests.length;
      const client = env.kubeConfig();
      const errors = [
        await rejected(createIdentityHeartbeat({ client, hostname: '', generation: '1.27' })),
        await rejected(createIdentityHeartbeat({ client, hostname: 'h', generation: '1.19' as '1.20' })),
        await rejected(createLeaderElector({ client, name: 'x', namespace: 'default', identity: '' })),
        await rejected(leaderOf({ client, name: 'Bad Name' })),
        await rejected(listApiServerIdentities({ client, namespace: 'Not A Namespace' })),
      ];
      expect(errors.map((error) => [error.code, error.details.field])).toEqual([
        ['INVALID_ARGUMENT', 'hostname'],
        ['INVALID_ARGUMENT', 'generation'],
        ['INVALID_ARGUMENT', 'identity'],
        ['INVALID_ARGUMENT', 'name'],
        ['INVALID_ARGUMENT', 'namespace'],
      ]);
      expect(server.requests.length).toBe(before);
    });

    it.skipIf(!target.testServer)(
      'aborts a request the API server does not answer in time, and leaves no timers after stop',
      async () => {
        const server = env.server;
        if (!server) throw new Error('test server only');
        const timersBefore = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
        const name = env.unique('stalled');
        let release: () => void = () => undefined;
        const stalled = new Promise<void>((resolve) => {
          release = resolve;
        });
        const unsubscribe = server.beforeRequest(async (request) => {
          if (request.name === name) await stalled;
        });
        const logger = recordingLogger();
        const startedAt = performance.now();
        const elector = await createLeaderElector({
          client: env.kubeConfig(),
          name,
          namespace: env.namespace,
          identity: 'patient',
          leaseDurationMs: 2_000,
          renewDeadlineMs: 500,
          retryPeriodMs: 200,
          logger,
        });
        const waited = performance.now() - startedAt;
        expect(waited).toBeGreaterThanOrEqual(480);
        expect(waited).toBeLessThan(1_500);
        expect(elector.isLeader()).toBe(false);
        const warning = logger.lines.find((line) => line.level === 'warn');
        expect(String(warning?.fields?.error)).toContain('did not answer reading the lease within 500 ms');

        unsubscribe();
        release();
        expect(await eventually(() => elector.isLeader(), 2_000)).toBe(true);
        await elector.stop();
        await new Promise((resolve) => setImmediate(resolve));
        const timersAfter = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
        expect(timersAfter).toBeLessThanOrEqual(timersBefore);
      },
    );
  });
}
