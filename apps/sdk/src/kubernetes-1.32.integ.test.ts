/**
 * The whole control plane with the real Kubernetes 1.32 binaries: 1→3→1 with the 1.27+ identity
 * leases (`apiserver-<hash of the hostname>`, labelled with it) mapped to their replicas and each
 * replica's add-on marker, the lease-identity integration suite run unchanged against a replica's
 * real apiserver, and an `up` whose add-on manager never applies its add-ons. Skipped, with the
 * reason, when no binaries can be had.
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Instance, isHacpError } from '@hacp/core';
import { apiServerIdentityName } from '@hacp/lease-identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubernetesWorld,
  kubeApi,
  kubernetesTestSource,
  kubernetesWorld,
  readyz,
} from './kubernetes.test-support.js';

const run = promisify(execFile);
const v132 = await kubernetesTestSource('latest-1.32');
const LONG = 600_000;
const LEASE_IDENTITY = resolve(dirname(fileURLToPath(import.meta.url)), '../../../packages/lease-identity');
const IDLE_ADDON_MANAGER = fileURLToPath(new URL('./addon-manager-idle.fixture.mjs', import.meta.url));

async function expectIdentities(world: KubernetesWorld, replicas: readonly string[]) {
  const leases = await world.controlPlane.leases();
  const live = leases.identities.filter((identity) => !identity.stale);
  expect(live.map((identity) => [identity.name, identity.replica]).sort()).toEqual(
    replicas
      .map((replica) => [apiServerIdentityName({ hostname: replica, generation: '1.27' }), replica])
      .sort(),
  );
}

/** The add-on markers in kube-system (`hacp-addon-manager-<replica>`): the replica each names. */
async function addonMarkers(api: ReturnType<typeof kubeApi>): Promise<string[]> {
  const list = await api.core.listNamespacedConfigMap({ namespace: 'kube-system' });
  return list.items
    .filter((item) => item.metadata?.name?.startsWith('hacp-addon-manager-'))
    .map((item) => `${item.metadata?.name}=${item.data?.replica}`)
    .sort();
}

const markersOf = (replicas: readonly string[]) =>
  replicas.map((replica) => `hacp-addon-manager-${replica}=${replica}`).sort();

describe.skipIf(v132.skip !== undefined)(
  `the whole control plane with Kubernetes 1.32${v132.skip ? ` (skipped: ${v132.skip})` : ''}`,
  () => {
    let world: KubernetesWorld;
    beforeAll(async () => {
      if (v132.skip === undefined) world = await kubernetesWorld(v132.source);
    });
    afterAll(async () => world?.cleanup(), LONG);

    it(
      "1→3 with /readyz through the endpoint, one 1.27+ identity lease per replica, and each replica's add-on marker when it finishes",
      async () => {
        const up = await world.controlPlane.up({
          zone: 'local-a',
          multizone: true,
          kubernetesVersion: 'latest-1.32',
        });
        expect(up.kubernetesVersion).toBe(v132.skip === undefined ? v132.version : '');
        const api = kubeApi(up.kubeconfig as string);
        expect(await readyz(api.config)).toBe('ok');
        await expectIdentities(world, ['kubernetes-master']);
        // `up` returns only once the replica's add-on manager has made its marker: no wait here.
        expect(await addonMarkers(api)).toEqual(markersOf(['kubernetes-master']));
        // The marker is the replica's, not one of the operator's add-ons.
        expect(await world.controlPlane.addons.list()).toEqual([]);
        await world.controlPlane.replicate({ zone: 'local-b', name: 'kubernetes-master-b32' });
        expect(await readyz(api.config)).toBe('ok');
        await expectIdentities(world, ['kubernetes-master', 'kubernetes-master-b32']);
        expect(await addonMarkers(api)).toEqual(markersOf(['kubernetes-master', 'kubernetes-master-b32']));
        await world.controlPlane.replicate({ zone: 'local-c', name: 'kubernetes-master-c32' });
        expect(await readyz(api.config)).toBe('ok');
        const three = ['kubernetes-master', 'kubernetes-master-b32', 'kubernetes-master-c32'];
        await expectIdentities(world, three);
        expect(await addonMarkers(api)).toEqual(markersOf(three));

        // Applying add-ons syncs every replica's folder to the operator's files: its marker stays.
        await world.controlPlane.addons.apply({
          files: [{ name: 'extra.json', text: JSON.stringify(reconciledConfigMap('hacp-extra')) }],
        });
        expect((await world.controlPlane.addons.list()).map((file) => file.file)).toEqual(['extra.json']);
        for (const replica of three) {
          const root = join(world.stateDir, 'replicas', replica, 'root', 'addons');
          await expect(access(join(root, 'extra.json'))).resolves.toBeUndefined();
          await expect(access(join(root, 'hacp', `addon-manager-${replica}.json`))).resolves.toBeUndefined();
        }
      },
      LONG,
    );

    it(
      'the lease-identity integration suite passes, unchanged, against the real apiservers',
      async () => {
        const out = await mkdtemp(join(tmpdir(), 'hacp-lease-suite-'));
        try {
          const vitest = join(
            dirname(createRequire(join(LEASE_IDENTITY, 'package.json')).resolve('vitest/package.json')),
            'vitest.mjs',
          );
          const report = join(out, 'report.json');
          await run(
            process.execPath,
            [vitest, 'run', '--project', 'integration', '--reporter=json', `--outputFile=${report}`],
            {
              cwd: LEASE_IDENTITY,
              env: { ...process.env, HACP_TEST_KUBECONFIG: join(world.dataDir, 'admin.conf') },
              maxBuffer: 64 * 1024 * 1024,
            },
          ).catch(async (error: { stdout?: string; stderr?: string }) => {
            throw new Error(
              `the lease-identity suite failed:\n${await failuresIn(report)}\n${error.stdout ?? ''}\n${error.stderr ?? ''}`,
            );
          });
          const results = JSON.parse(await readFile(report, 'utf8')) as {
            testResults: { assertionResults: { fullName: string; status: string }[] }[];
          };
          const real = results.testResults
            .flatMap((file) => file.assertionResults)
            .filter((test) => test.fullName.includes('against a real cluster'));
          // What only the test server can do (a forbidden token, hooks inside it) is skipped on a cluster.
          expect(real.filter((test) => test.status === 'skipped').length).toBeLessThanOrEqual(6);
          expect(real.filter((test) => test.status === 'passed').length).toBeGreaterThanOrEqual(15);
          expect(real.filter((test) => test.status !== 'passed' && test.status !== 'skipped')).toEqual([]);
        } finally {
          await rm(out, { recursive: true, force: true });
        }
      },
      LONG,
    );

    it(
      "3→1: each removed replica's identity lease and add-on marker are deleted, the others' kept",
      async () => {
        const api = kubeApi(join(world.dataDir, 'admin.conf'));
        const first = await world.controlPlane.remove({ name: 'kubernetes-master-c32' });
        expect(first.steps.find((s) => s.id === 'delete-identity-lease:kubernetes-master-c32')).toEqual({
          id: 'delete-identity-lease:kubernetes-master-c32',
          title: "Delete kubernetes-master-c32's identity lease and add-on marker",
          status: 'done',
        });
        await expectIdentities(world, ['kubernetes-master', 'kubernetes-master-b32']);
        expect(await addonMarkers(api)).toEqual(markersOf(['kubernetes-master', 'kubernetes-master-b32']));
        await world.controlPlane.remove({ name: 'kubernetes-master-b32' });
        await expectIdentities(world, ['kubernetes-master']);
        expect(await addonMarkers(api)).toEqual(markersOf(['kubernetes-master']));
        expect(await readyz(api.config)).toBe('ok');
      },
      LONG,
    );
  },
);

describe.skipIf(v132.skip !== undefined)(
  `a replica whose add-on manager never applies its add-ons, Kubernetes 1.32${v132.skip ? ` (skipped: ${v132.skip})` : ''}`,
  () => {
    let world: KubernetesWorld;
    beforeAll(async () => {
      // The wait is long enough for etcd and the apiserver on a busy machine, so it is the marker's that ends.
      if (v132.skip === undefined)
        world = await kubernetesWorld(v132.source, {
          addonManagerProgram: IDLE_ADDON_MANAGER,
          healthyMs: 60_000,
        });
    });
    afterAll(async () => world?.cleanup(), LONG);

    it(
      'up fails with TIMEOUT naming kube-addon-manager and its ConfigMap, and stays resumable at its wait with the address unattached',
      async () => {
        const error = await world.controlPlane
          .up({ zone: 'local-a', multizone: true, kubernetesVersion: 'latest-1.32' })
          .catch((caught: unknown) => caught);
        expect(isHacpError(error, 'TIMEOUT')).toBe(true);
        if (!isHacpError(error)) throw error;
        expect(error.message).toMatch(
          /: kube-addon-manager on kubernetes-master has not applied its add-ons within 60 s: its ConfigMap kube-system\/hacp-addon-manager-kubernetes-master does not exist\.$/,
        );
        expect(error.actions[0]).toContain('replicas/kubernetes-master/logs/kube-addon-manager.log');
        expect(error.details).toMatchObject({ step: 'wait-healthy:kubernetes-master', resumable: true });
        // It did not report success, and said what it waited for.
        const events = world.events.map((entry) => entry.event);
        expect(events.filter((event) => event.type === 'operation-done')).toEqual([]);
        expect(
          events.some(
            (event) =>
              event.type === 'waiting' &&
              event.message.includes('kube-addon-manager') &&
              event.message.includes('kube-system/hacp-addon-manager-kubernetes-master'),
          ),
        ).toBe(true);

        // The engine left the up where it stopped: the replica serves, only its add-on manager did nothing.
        const status = await world.controlPlane.status();
        expect(status.operation).toMatchObject({
          operation: 'up',
          next: 'Wait until kubernetes-master is healthy',
        });
        expect(status.endpoint).toMatchObject({ mode: 'detached' });
        expect(status.endpoint.attachedTo).toBeUndefined();
        expect(status.replicas).toMatchObject([
          {
            name: 'kubernetes-master',
            state: 'healthy',
            kubernetes: { apiserver: 'ok', controllerManager: 'ok', scheduler: 'ok' },
          },
        ]);
        const [instance] = await world.provider.instances.list({ cluster: 'kubernetes' });
        const manager = (await world.provider.processes(instance as Instance)).find(
          (process) => process.name === 'kube-addon-manager',
        );
        expect(manager?.running).toBe(true);
        expect(await readFile(manager?.logFile as string, 'utf8')).toContain(
          'idle add-on manager stand-in started',
        );
      },
      LONG,
    );
  },
);

/** The failed tests of a vitest JSON report, with their messages, for the error that names them. */
async function failuresIn(report: string): Promise<string> {
  const results = JSON.parse(await readFile(report, 'utf8').catch(() => '{}')) as {
    testResults?: { assertionResults: { fullName: string; status: string; failureMessages?: string[] }[] }[];
  };
  return (results.testResults ?? [])
    .flatMap((file) => file.assertionResults)
    .filter((test) => test.status === 'failed')
    .map((test) => `${test.fullName}: ${(test.failureMessages ?? []).join('\n').slice(0, 2_000)}`)
    .join('\n');
}

function reconciledConfigMap(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'kube-system', labels: { 'addonmanager.kubernetes.io/mode': 'Reconcile' } },
    data: { value: 'one' },
  };
}
