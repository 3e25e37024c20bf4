/**
 * The whole control plane with the real Kubernetes 1.32 binaries: 1→3→1 with the 1.27+ identity
 * leases (`apiserver-<hash of the hostname>`, labelled with it) mapped to their replicas, and the
 * lease-identity integration suite run unchanged against a replica's real apiserver. Skipped, with
 * the reason, when no binaries can be had.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

async function expectIdentities(world: KubernetesWorld, replicas: readonly string[]) {
  const leases = await world.controlPlane.leases();
  const live = leases.identities.filter((identity) => !identity.stale);
  expect(live.map((identity) => [identity.name, identity.replica]).sort()).toEqual(
    replicas
      .map((replica) => [apiServerIdentityName({ hostname: replica, generation: '1.27' }), replica])
      .sort(),
  );
}

describe.skipIf(v132.skip !== undefined)(
  `the whole control plane with Kubernetes 1.32${v132.skip ? ` (skipped: ${v132.skip})` : ''}`,
  () => {
    let world: KubernetesWorld;
    beforeAll(async () => {
      if (v132.skip === undefined) world = await kubernetesWorld(v132.source);
    });
    afterAll(async () => world?.cleanup(), LONG);

    it(
      '1→3 with /readyz through the endpoint and one 1.27+ identity lease per replica',
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
        await world.controlPlane.replicate({ zone: 'local-b', name: 'kubernetes-master-b32' });
        expect(await readyz(api.config)).toBe('ok');
        await expectIdentities(world, ['kubernetes-master', 'kubernetes-master-b32']);
        await world.controlPlane.replicate({ zone: 'local-c', name: 'kubernetes-master-c32' });
        expect(await readyz(api.config)).toBe('ok');
        await expectIdentities(world, [
          'kubernetes-master',
          'kubernetes-master-b32',
          'kubernetes-master-c32',
        ]);
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
      "3→1: each removed replica's identity lease is deleted",
      async () => {
        await world.controlPlane.remove({ name: 'kubernetes-master-c32' });
        await expectIdentities(world, ['kubernetes-master', 'kubernetes-master-b32']);
        await world.controlPlane.remove({ name: 'kubernetes-master-b32' });
        await expectIdentities(world, ['kubernetes-master']);
        const api = kubeApi(join(world.dataDir, 'admin.conf'));
        expect(await readyz(api.config)).toBe('ok');
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
