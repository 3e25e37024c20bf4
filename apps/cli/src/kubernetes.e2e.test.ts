// The built CLI with the real Kubernetes v1.23.16 binaries: binaries fetch and list from the release
// location, up to a whole control plane with its admin kubeconfig, status with the components and
// the leaders, leases through the endpoint, add-ons, a second replica, down. Skipped, with the
// reason, when no binaries can be had.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { testKubernetesBinaries } from '@hacp/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hacp, ok, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

const v123 = await testKubernetesBinaries('1.23');
const LONG = 600_000;

interface KubernetesStatus {
  replicas: {
    name: string;
    kubernetes?: { apiserver: string; controllerManager: string; scheduler: string };
  }[];
  kubernetes?: { version: string; controllerManagerLeader?: string; schedulerLeader?: string };
  leases?: { identities: { name: string; replica?: string; stale: boolean }[] };
}

describe.skipIf(v123.skip !== undefined)(
  `hacp with the whole control plane, Kubernetes 1.23${v123.skip ? ` (skipped: ${v123.skip})` : ''}`,
  () => {
    let state: { dir: string; remove(): Promise<void> };
    let scratch: string;
    // The binaries the testkit fetched, as HACP_KUBE_BIN_DIR; Kubernetes on (the e2e default is off).
    const env = () => ({
      HACP_KUBERNETES: undefined,
      HACP_KUBE_BIN_DIR: dirname(v123.binaries?.paths['kube-apiserver'] ?? ''),
      XDG_CACHE_HOME: join(scratch, 'cache'),
    });
    const run = (args: string[], extra: Record<string, string | undefined> = {}) =>
      hacp(args, { stateDir: state.dir, env: { ...env(), ...extra } });
    const json = <T>(args: string[]) => ok<T>(args, { stateDir: state.dir, env: env() });

    beforeAll(async () => {
      state = await tempStateDir();
      scratch = await mkdtemp(join(tmpdir(), 'hacp-cli-k8s-'));
    });
    afterAll(async () => {
      await run(['down', '--yes']);
      await state.remove();
      await rm(scratch, { recursive: true, force: true });
    }, LONG);

    it(
      'binaries fetch downloads a version from the release location into the cache, and list shows it',
      async () => {
        const cache = join(scratch, 'fetched');
        const fetched = await hacp(['binaries', 'fetch', '--kubernetes-version', '1.23', '--json'], {
          stateDir: state.dir,
          env: { XDG_CACHE_HOME: cache },
        });
        expect(fetched.code, fetched.stderr).toBe(0);
        assertEnvelope('binaries-fetch', fetched.json);
        expect(JSON.stringify(fetched.json)).toContain('v1.23.16');
        const listed = await hacp(['binaries', 'list', '--json'], {
          stateDir: state.dir,
          env: { XDG_CACHE_HOME: cache },
        });
        assertEnvelope('binaries-list', listed.json);
        expect(JSON.stringify(listed.json)).toContain(join(cache, 'hacp', 'kubernetes', 'v1.23.16'));
      },
      LONG,
    );

    it(
      'up runs the whole control plane and says where the admin kubeconfig is and what to run next',
      async () => {
        const up = await run(['up', '--zone', 'local-a', '--multizone', '--kubernetes-version', '1.23']);
        expect(up.code, up.stderr).toBe(0);
        const kubeconfig = join(state.dir, 'clusters', 'kubernetes', 'admin.conf');
        expect(up.stdout).toContain(kubeconfig);
        expect(up.stdout).toContain(`kubectl --kubeconfig ${kubeconfig} get nodes`);
        expect(up.stdout).toContain('v1.23.16');
        expect((await stat(kubeconfig)).mode & 0o777).toBe(0o600);

        const status = await json<KubernetesStatus>(['status']);
        expect(status.replicas[0]?.kubernetes).toEqual({
          apiserver: 'ok',
          controllerManager: 'ok',
          scheduler: 'ok',
        });
        expect(status.kubernetes?.version).toBe('v1.23.16');
      },
      LONG,
    );

    it(
      'kubeconfig writes the admin kubeconfig 0600 where asked, and --json never shows the key',
      async () => {
        const target = join(scratch, 'out', 'admin.conf');
        const written = await run(['kubeconfig', '--output', target, '--json']);
        expect(written.code, written.stderr).toBe(0);
        assertEnvelope('kubeconfig', written.json);
        expect(written.stdout).not.toMatch(/BEGIN|client-key-data/);
        expect((await stat(target)).mode & 0o777).toBe(0o600);
        const printed = await run(['kubeconfig']);
        expect(printed.stdout).toContain('client-key-data');
        expect(printed.stdout).toMatch(/server: https:\/\/127\.\d+\.\d+\.\d+:6443/);
      },
      LONG,
    );

    it(
      'add-ons are applied by the replica: addons apply -f, then addons lists them',
      async () => {
        const file = join(scratch, 'greeting.yaml');
        await writeFile(
          file,
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: kube-system\n  labels:\n    addonmanager.kubernetes.io/mode: Reconcile\ndata:\n  hello: world\n',
        );
        const applied = await run(['addons', 'apply', '-f', file, '--json']);
        expect(applied.code, applied.stderr).toBe(0);
        assertEnvelope('addons-apply', applied.json);
        const listed = await run(['addons', '--json']);
        assertEnvelope('addons', listed.json);
        expect(JSON.stringify(listed.json)).toContain('greeting');
      },
      LONG,
    );

    it(
      'a second replica: status names the leaders, leases maps one identity lease to each replica',
      async () => {
        const second = await run(['replicate', '--zone', 'local-b', '--name', 'kubernetes-master-b0b']);
        expect(second.code, second.stderr).toBe(0);
        const status = await json<KubernetesStatus>(['status']);
        expect(status.replicas.map((r) => r.kubernetes?.apiserver)).toEqual(['ok', 'ok']);
        expect(status.kubernetes).toMatchObject({
          controllerManagerLeader: 'kubernetes-master',
          schedulerLeader: 'kubernetes-master',
        });
        const text = await run(['status']);
        expect(text.stdout).toMatch(/kube-controller-manager.*kubernetes-master/);
        const leases = await run(['leases', '--json']);
        assertEnvelope('leases', leases.json);
        const identities = (leases.json as { result: NonNullable<KubernetesStatus['leases']> }).result
          .identities;
        expect(
          identities
            .filter((i) => !i.stale)
            .map((i) => i.replica)
            .sort(),
        ).toEqual(['kubernetes-master', 'kubernetes-master-b0b']);
      },
      LONG,
    );

    it(
      'down deletes the cluster with its kubeconfig',
      async () => {
        const down = await run(['down', '--yes']);
        expect(down.code, down.stderr).toBe(0);
        await expect(stat(join(state.dir, 'clusters', 'kubernetes', 'admin.conf'))).rejects.toMatchObject({
          code: 'ENOENT',
        });
      },
      LONG,
    );
  },
);
