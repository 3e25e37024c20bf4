/**
 * The Kubernetes side of the CLI, in-process: up's Kubernetes flags and variables, the kubeconfig,
 * binaries and addons commands, and Kubernetes in status and progress. The control plane is the
 * fake of test-support; the binaries commands run the SDK's real functions against a release
 * location and a cache in a temporary folder.
 */
import { access, constants, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControlPlaneEvent } from '@hacp/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import AddonsApply from './commands/addons/apply.js';
import Addons from './commands/addons/index.js';
import BinariesFetch from './commands/binaries/fetch.js';
import BinariesList from './commands/binaries/list.js';
import KubeUp from './commands/kube-up.js';
import Kubeconfig from './commands/kubeconfig.js';
import Plan from './commands/plan.js';
import Status from './commands/status.js';
import Up from './commands/up.js';
import { validateEnvelope } from './schemas.js';
import {
  type FakeRelease,
  type FakeRuntime,
  fakeRuntime,
  makeFakeRelease,
  runCommand,
  SAMPLE_KEY_DATA,
  sampleKubeconfigText,
  sampleKubernetesStatus,
  sampleOperationResult,
} from './test-support.js';

const STATE = { HACP_STATE_DIR: '/var/lib/hacp-test' };

// biome-ignore lint/suspicious/noExplicitAny: envelopes are read field by field
type Printed = Record<string, any>;

function json(runtime: FakeRuntime): Printed {
  return JSON.parse(runtime.stdout) as Printed;
}

function callsOf(runtime: FakeRuntime) {
  return runtime.controlPlanes.flatMap((entry) => entry.controlPlane.calls);
}

describe('up with Kubernetes', () => {
  it('passes --kubernetes-version through, with Kubernetes on', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Up, 'up', ['--zone', 'local-a', '--kubernetes-version', '1.23'], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(callsOf(runtime)[0]).toMatchObject({
      method: 'up',
      options: { zone: 'local-a', kubernetes: true, kubernetesVersion: '1.23' },
    });
  });

  it('takes HACP_KUBERNETES_VERSION and HACP_KUBERNETES=false from the environment', async () => {
    const versioned = fakeRuntime({ env: { ...STATE, HACP_KUBERNETES_VERSION: 'latest-1.32' } });
    await runCommand(Up, 'up', ['--zone', 'local-a'], versioned);
    expect(callsOf(versioned)[0]?.options).toMatchObject({
      kubernetes: true,
      kubernetesVersion: 'latest-1.32',
    });

    const etcdOnly = fakeRuntime({ env: { ...STATE, HACP_KUBERNETES: 'false' } });
    await runCommand(Up, 'up', ['--zone', 'local-a'], etcdOnly);
    expect(callsOf(etcdOnly)[0]?.options).toMatchObject({ kubernetes: false });
    expect(callsOf(etcdOnly)[0]?.options).not.toHaveProperty('kubernetesVersion');
  });

  it('refuses --no-kubernetes with --kubernetes-version before making anything (exit 2)', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(
      Up,
      'up',
      ['--zone', 'local-a', '--no-kubernetes', '--kubernetes-version', 'v1.23.16', '--json'],
      runtime,
    );
    expect(runtime.exitCode).toBe(2);
    expect(validateEnvelope('up', json(runtime)).errors).toEqual([]);
    expect(json(runtime).error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message:
        '--no-kubernetes and --kubernetes-version v1.23.16 contradict each other: an etcd-only cluster runs no Kubernetes version.',
    });
    expect(runtime.providersCreated).toEqual([]);
    expect(runtime.controlPlanes).toEqual([]);
  });

  it('refuses a malformed HACP_KUBERNETES before making anything', async () => {
    const runtime = fakeRuntime({ env: { ...STATE, HACP_KUBERNETES: 'yes' } });
    await runCommand(Up, 'up', ['--zone', 'local-a'], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(runtime.stderr).toMatch(/^Error \(INVALID_ARGUMENT\): HACP_KUBERNETES="yes" is not a boolean/);
    expect(runtime.providersCreated).toEqual([]);
  });

  it('says where the admin kubeconfig is, what to run next, and the version', async () => {
    const runtime = fakeRuntime({
      env: STATE,
      result: sampleOperationResult({
        operation: 'up',
        replicas: [{ name: 'kubernetes-master', zone: 'local-a' }],
        kubernetesVersion: 'v1.23.16',
        kubeconfig: '/var/lib/hacp-test/clusters/kubernetes/admin.conf',
      }),
    });
    await runCommand(Up, 'up', ['--zone', 'local-a'], runtime);
    expect(runtime.stdout).toContain(
      [
        'Kubernetes: v1.23.16',
        'Admin kubeconfig: /var/lib/hacp-test/clusters/kubernetes/admin.conf',
        'Next: kubectl --kubeconfig /var/lib/hacp-test/clusters/kubernetes/admin.conf get nodes',
      ].join('\n'),
    );
  });

  it("gives the control plane the environment's binary source", async () => {
    const runtime = fakeRuntime({
      env: {
        ...STATE,
        XDG_CACHE_HOME: '/cache',
        HACP_KUBE_BIN_DIR: '/opt/k8s/bin',
        HACP_KUBE_RELEASE_URL: 'file:///srv/release',
      },
    });
    await runCommand(Up, 'up', ['--zone', 'local-a'], runtime);
    expect(runtime.controlPlanes[0]?.settings.kubernetesBinaries).toEqual({
      binDir: '/opt/k8s/bin',
      cacheDir: '/cache/hacp',
      releaseUrl: 'file:///srv/release',
    });
  });

  it('kube-up and plan up read the same choice', async () => {
    const kubeUp = fakeRuntime({
      env: { ...STATE, KUBE_GCE_ZONE: 'local-a', HACP_KUBERNETES_VERSION: 'stable-1.23' },
    });
    await runCommand(KubeUp, 'kube-up', [], kubeUp);
    expect(callsOf(kubeUp)[0]).toMatchObject({
      method: 'up',
      options: { zone: 'local-a', kubernetes: true, kubernetesVersion: 'stable-1.23' },
    });

    const planned = fakeRuntime({ env: { ...STATE, KUBE_GCE_ZONE: 'local-a' } });
    await runCommand(Plan, 'plan', ['up', '--no-kubernetes'], planned);
    expect(callsOf(planned)[0]?.options).toEqual({
      operation: 'up',
      zone: 'local-a',
      multizone: false,
      quorumReads: false,
      kubernetes: false,
    });
  });
});

describe('progress of downloads', () => {
  const MB = 1024 * 1024;
  const events: ControlPlaneEvent[] = [
    {
      type: 'step-started',
      operationId: 'op-1',
      step: 'create-pki',
      title: 'Create the PKI',
      index: 1,
      steps: 2,
    },
    { type: 'download', file: 'kube-apiserver', url: 'file:///r', receivedBytes: 0, totalBytes: 2 * MB },
    { type: 'download', file: 'kube-apiserver', url: 'file:///r', receivedBytes: 2 * MB, totalBytes: 2 * MB },
    {
      type: 'step-done',
      operationId: 'op-1',
      step: 'create-pki',
      title: 'Create the PKI',
      index: 1,
      steps: 2,
      status: 'not-applicable',
    },
  ];

  it('draws a bar on a terminal, and nothing with --json', async () => {
    const result = sampleOperationResult({ operation: 'up', warnings: [] });
    const terminal = fakeRuntime({ env: STATE, stderrIsTTY: true, events, result });
    await runCommand(Up, 'up', ['--zone', 'local-a'], terminal);
    expect(terminal.stderr).toBe(
      [
        '[1/2] Create the PKI …\n',
        '\r  kube-apiserver  0.0/2.0 MB  [------------------------]   0%',
        '\r  kube-apiserver  2.0/2.0 MB  [########################] 100%\n',
        '[1/2] Create the PKI … not needed\n',
      ].join(''),
    );

    const quiet = fakeRuntime({ env: STATE, stderrIsTTY: true, events, result });
    await runCommand(Up, 'up', ['--zone', 'local-a', '--json'], quiet);
    expect(quiet.stderr).toBe('');
  });
});

describe('status with Kubernetes', () => {
  it("draws each replica's components, the version and the leaders", async () => {
    const runtime = fakeRuntime({ env: STATE, status: sampleKubernetesStatus() });
    await runCommand(Status, 'status', [], runtime);
    expect(runtime.stdout).toContain(
      'kubernetes-master      127.1.2.3  healthy  etcd voter, leader  kubernetes ok',
    );
    expect(runtime.stdout).toContain(
      '├─ Kubernetes v1.23.16\n│  ├─ kube-controller-manager  leader kubernetes-master',
    );

    const asJson = fakeRuntime({ env: STATE, status: sampleKubernetesStatus() });
    await runCommand(Status, 'status', ['--json'], asJson);
    expect(validateEnvelope('status', json(asJson)).errors).toEqual([]);
  });
});

describe('kubeconfig', () => {
  it('prints the kubeconfig itself without --output, writing nothing', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Kubeconfig, 'kubeconfig', [], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(runtime.stdout).toBe(sampleKubeconfigText());
    expect(callsOf(runtime)).toEqual([
      { method: 'kubeconfig', options: { signal: expect.any(AbortSignal) } },
    ]);
  });

  it('writes it with --output (relative to the working folder) and says where, without the key', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Kubeconfig, 'kubeconfig', ['--output', 'kube/hacp.conf'], runtime);
    expect(callsOf(runtime)[0]?.options).toMatchObject({ path: '/home/operator/kube/hacp.conf' });
    expect(runtime.stdout).toBe(
      [
        'Wrote the admin kubeconfig of kubernetes (server https://127.9.9.9:6443) to /home/operator/kube/hacp.conf (mode 0600).',
        'Next: kubectl --kubeconfig /home/operator/kube/hacp.conf get nodes',
        '',
      ].join('\n'),
    );
  });

  it('never prints the contents with --json: it writes admin.conf and prints where', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Kubeconfig, 'kubeconfig', ['--json'], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(callsOf(runtime)[0]?.options).toMatchObject({
      path: '/var/lib/hacp-test/clusters/kubernetes/admin.conf',
    });
    const envelope = json(runtime);
    expect(envelope).toEqual({
      status: 0,
      result: {
        server: 'https://127.9.9.9:6443',
        context: 'kubernetes',
        path: '/var/lib/hacp-test/clusters/kubernetes/admin.conf',
      },
      warnings: [],
    });
    expect(validateEnvelope('kubeconfig', envelope).errors).toEqual([]);
    for (const secret of ['-----BEGIN', SAMPLE_KEY_DATA, 'client-key-data', 'redacted']) {
      expect(runtime.stdout).not.toContain(secret);
    }
    expect(runtime.stderr).toBe('');

    const output = fakeRuntime({ env: STATE });
    await runCommand(Kubeconfig, 'kubeconfig', ['--json', '-o', '/tmp/kc'], output);
    expect(json(output).result.path).toBe('/tmp/kc');
    expect(output.stdout).not.toContain('-----BEGIN');
  });
});

describe('addons', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hacp-cli-addons-'));
    await writeFile(join(dir, 'dns.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dns}\n');
    await writeFile(join(dir, 'quota.json'), '{"apiVersion":"v1","kind":"ConfigMap"}\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the files with their objects and modes', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Addons, 'addons', [], runtime);
    expect(runtime.stdout).toBe(
      [
        'dns.yaml',
        '  Deployment     kube-system/coredns    Reconcile',
        '  Service        kube-system/kube-dns   Reconcile',
        'quota.yaml',
        '  ResourceQuota  default/default-quota  EnsureExists',
        '',
      ].join('\n'),
    );
    const empty = fakeRuntime({ env: STATE, addons: [] });
    await runCommand(Addons, 'addons', ['--json'], empty);
    expect(json(empty).result).toEqual({ files: [] });
    expect(validateEnvelope('addons', json(empty)).errors).toEqual([]);
    expect(Addons.aliases).toEqual(['addons:list']);
  });

  it('apply reads every -f file and passes its name and text', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(
      AddonsApply,
      'addons:apply',
      ['-f', join(dir, 'dns.yaml'), '--file', join(dir, 'quota.json')],
      runtime,
    );
    expect(runtime.exitCode).toBe(0);
    const options = callsOf(runtime)[0]?.options as { files: { name: string; text: string }[] };
    expect(options.files).toEqual([
      { name: 'dns.yaml', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dns}\n' },
      { name: 'quota.json', text: '{"apiVersion":"v1","kind":"ConfigMap"}\n' },
    ]);
    expect(runtime.stdout).toContain('Added 2 add-on files:\ndns.yaml\n  ConfigMap  dns    Reconcile\n');
    expect(runtime.stdout).toContain(
      'Copied to 2 replicas (kubernetes-master, kubernetes-master-1f3); each replica',
    );

    const asJson = fakeRuntime({ env: STATE });
    await runCommand(AddonsApply, 'addons:apply', ['-f', join(dir, 'dns.yaml'), '--json'], asJson);
    expect(validateEnvelope('addons apply', json(asJson)).errors).toEqual([]);
  });

  it('apply refuses a file it cannot read, before touching the cluster', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(
      AddonsApply,
      'addons:apply',
      ['-f', join(dir, 'dns.yaml'), '-f', join(dir, 'missing.yaml'), '--json'],
      runtime,
    );
    expect(runtime.exitCode).toBe(2);
    expect(json(runtime).error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `Cannot read the add-on file ${join(dir, 'missing.yaml')}: there is no such file.`,
    });
    expect(runtime.providersCreated).toEqual([]);

    const none = fakeRuntime({ env: STATE });
    await runCommand(AddonsApply, 'addons:apply', [], none);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('Missing required flag file');
  });
});

describe('binaries (a release location and a cache on disk)', () => {
  let release: FakeRelease;
  const env = () => ({
    ...STATE,
    XDG_CACHE_HOME: release.cacheHome,
    HACP_KUBE_RELEASE_URL: release.releaseUrl,
  });
  beforeAll(async () => {
    release = await makeFakeRelease({
      versions: ['v1.23.16', 'v1.32.0'],
      markers: { 'stable-1.23': 'v1.23.16' },
      paddingBytes: 3 * 1024 * 1024,
    });
  });
  afterAll(async () => {
    await release.remove();
  });
  const cacheDir = () => join(release.cacheHome, 'hacp', 'kubernetes');

  it('lists an empty cache and where downloads come from', async () => {
    const runtime = fakeRuntime({ env: env() });
    await runCommand(BinariesList, 'binaries:list', [], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(runtime.stdout).toBe(
      [
        `No Kubernetes versions cached in ${cacheDir()}; \`hacp binaries fetch --kubernetes-version <version>\` downloads one.`,
        `Downloads come from ${release.releaseUrl} (HACP_KUBE_RELEASE_URL).`,
        '',
      ].join('\n'),
    );
  });

  it('fetch resolves a spec, downloads with a bar on a terminal, and a second fetch downloads nothing', async () => {
    const runtime = fakeRuntime({ env: env(), stderrIsTTY: true });
    await runCommand(BinariesFetch, 'binaries:fetch', ['--kubernetes-version', '1.23'], runtime);
    expect(runtime.exitCode, runtime.stderr).toBe(0);
    const dir = join(cacheDir(), 'v1.23.16');
    expect(runtime.stdout).toBe(
      [
        'Kubernetes v1.23.16 (1.23): downloaded.',
        `  kube-apiserver           ${dir}/kube-apiserver           cache`,
        `  kube-controller-manager  ${dir}/kube-controller-manager  cache`,
        `  kube-scheduler           ${dir}/kube-scheduler           cache`,
        '',
      ].join('\n'),
    );
    for (const binary of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      await access(join(dir, binary), constants.X_OK);
      expect(runtime.stderr).toMatch(
        new RegExp(`\\r  ${binary}  \\d+\\.\\d/\\d+\\.\\d MB  \\[#{24}\\] 100%\\n`),
      );
    }
    expect(runtime.stderr.match(/\r/g)?.length).toBeGreaterThan(3);

    const again = fakeRuntime({ env: env(), stderrIsTTY: true });
    await runCommand(BinariesFetch, 'binaries:fetch', ['--kubernetes-version', 'v1.23.16', '--json'], again);
    const envelope = json(again);
    expect(validateEnvelope('binaries fetch', envelope).errors).toEqual([]);
    expect(envelope.result).toMatchObject({ requested: 'v1.23.16', version: 'v1.23.16', downloaded: false });
    expect(again.stderr).toBe('');

    const listed = fakeRuntime({ env: env() });
    await runCommand(BinariesList, 'binaries:list', ['--json'], listed);
    expect(validateEnvelope('binaries list', json(listed)).errors).toEqual([]);
    expect(json(listed).result.versions).toEqual([
      {
        version: 'v1.23.16',
        dir,
        binaries: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'],
        bytes: expect.any(Number),
      },
    ]);
    expect(json(listed).result.versions[0].bytes).toBeGreaterThan(3 * 3 * 1024 * 1024);
  });

  it('fetch takes HACP_KUBERNETES_VERSION, and prints nothing on stderr without a terminal', async () => {
    const runtime = fakeRuntime({ env: { ...env(), HACP_KUBERNETES_VERSION: 'v1.32.0' } });
    await runCommand(BinariesFetch, 'binaries:fetch', [], runtime);
    expect(runtime.exitCode, runtime.stderr).toBe(0);
    expect(runtime.stdout).toMatch(/^Kubernetes v1\.32\.0: downloaded\.\n/);
    expect(runtime.stderr).toBe('');
  });

  it('fetch of a version the location lacks is NOT_FOUND and leaves nothing in the cache', async () => {
    const before = (await readdir(cacheDir()).catch(() => [])).sort();
    const runtime = fakeRuntime({ env: env() });
    await runCommand(BinariesFetch, 'binaries:fetch', ['--kubernetes-version', 'v1.99.0', '--json'], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(json(runtime).error.code).toBe('NOT_FOUND');
    expect((await readdir(cacheDir())).sort()).toEqual(before);
  });

  it('names the binaries HACP_KUBE_BIN_DIR points at, with their version, and uses them', async () => {
    const binDir = join(new URL(release.releaseUrl).pathname, 'v1.32.0', 'bin', 'linux');
    const arch = (await readdir(binDir))[0] as string;
    const named = { ...env(), HACP_KUBE_BIN_DIR: join(binDir, arch) };
    const listed = fakeRuntime({ env: named });
    await runCommand(BinariesList, 'binaries:list', ['--json'], listed);
    expect(json(listed).result.configured).toEqual({ binDir: join(binDir, arch), version: 'v1.32.0' });

    const text = fakeRuntime({ env: named });
    await runCommand(BinariesList, 'binaries:list', [], text);
    expect(text.stdout).toContain(
      `Configured: HACP_KUBE_BIN_DIR=${join(binDir, arch)} (Kubernetes v1.32.0, what \`hacp up\` runs by default).`,
    );

    const fetched = fakeRuntime({ env: named });
    await runCommand(BinariesFetch, 'binaries:fetch', ['--kubernetes-version', 'v1.32.0', '--json'], fetched);
    expect(json(fetched).result.binaries.map((binary: { source: string }) => binary.source)).toEqual([
      'bin-dir',
      'bin-dir',
      'bin-dir',
    ]);
  });

  it('warns about a configured binary that cannot be used, and still lists the cache', async () => {
    const runtime = fakeRuntime({ env: { ...env(), KUBE_APISERVER: '/nonexistent/kube-apiserver' } });
    await runCommand(BinariesList, 'binaries:list', ['--json'], runtime);
    expect(runtime.exitCode).toBe(0);
    const envelope = json(runtime);
    expect(envelope.result.configured).toEqual({
      variables: { KUBE_APISERVER: '/nonexistent/kube-apiserver' },
    });
    expect(envelope.warnings).toEqual([
      {
        code: 'KUBERNETES_BINARIES_UNUSABLE',
        message: 'KUBE_APISERVER names /nonexistent/kube-apiserver, which does not exist.',
      },
    ]);
    expect(validateEnvelope('binaries list', envelope).errors).toEqual([]);
  });

  it('strips a user name and password from the release location it prints', async () => {
    const runtime = fakeRuntime({
      env: { ...env(), HACP_KUBE_RELEASE_URL: 'https://me:s3cret@mirror.invalid/release' },
    });
    await runCommand(BinariesList, 'binaries:list', ['--json'], runtime);
    expect(json(runtime).result.releaseUrl).toBe('https://mirror.invalid/release');
    expect(runtime.stdout).not.toContain('s3cret');
  });
});
