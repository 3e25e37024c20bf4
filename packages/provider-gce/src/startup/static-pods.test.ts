import { ErrorCode, isHacpError, type NodeConfig, type NodeProcess } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import {
  apiserverProcess,
  etcdProcess,
  INTERNAL_IP,
  replicaNodeConfig,
  sdkReplicaNodeConfig,
} from './fixtures.test-support.js';
import { healthTarget } from './health-endpoint.js';
import { DEFAULT_ADDON_MANAGER_IMAGE } from './images.js';
import { HEALTH_CONFIG_PATH, REPLICA_ROOT_DIR } from './layout.js';
import { podProblems } from './pod-validate.test-support.js';
import { type ReplicaMetadataOptions, renderStaticPods } from './static-pods.js';

interface HttpGet {
  host: string;
  port: number;
  path: string;
  scheme: string;
}
interface Probe {
  httpGet: HttpGet;
  initialDelaySeconds?: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: { name: string; value: string }[];
  resources: { requests: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}
interface Pod {
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: {
    hostNetwork: boolean;
    priorityClassName: string;
    terminationGracePeriodSeconds?: number;
    containers: Container[];
    volumes: { name: string; hostPath: { path: string; type: string } }[];
  };
}

const KUBERNETES_PROGRAMS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

const options = (
  nodeConfig: NodeConfig,
  extra: Partial<ReplicaMetadataOptions> = {},
): ReplicaMetadataOptions => ({
  cluster: 'prod',
  replica: 'prod-master',
  nodeConfig,
  kubernetesVersion: '1.31.2',
  ...extra,
});

function pods(nodeConfig: NodeConfig, extra: Partial<ReplicaMetadataOptions> = {}): Map<string, Pod> {
  return new Map(renderStaticPods(options(nodeConfig, extra)).map((pod) => [pod.name, pod.manifest as Pod]));
}

function pod(all: Map<string, Pod>, process: string): Pod {
  const found = all.get(`hacp-${process}.json`);
  expect(found, `hacp-${process}.json is rendered`).toBeDefined();
  return found!;
}

const container = (all: Map<string, Pod>, process: string): Container =>
  pod(all, process).spec.containers[0]!;

const processNamed = (config: NodeConfig, name: string): NodeProcess =>
  config.processes.find((process) => process.name === name)!;

/** The NodeConfig with one process replaced. */
function withProcess(config: NodeConfig, name: string, change: Partial<NodeProcess>): NodeConfig {
  return {
    ...config,
    processes: config.processes.map((process) =>
      process.name === name ? { ...process, ...change } : process,
    ),
  };
}

function refusal(run: () => unknown): { code: string; field: unknown } {
  try {
    run();
  } catch (error) {
    if (isHacpError(error)) return { code: error.code, field: error.details.field };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('renderStaticPods of the whole control plane', () => {
  const nodeConfig = sdkReplicaNodeConfig();

  it('renders five valid Pods plus the health endpoint, as kubeadm labels them', () => {
    const rendered = renderStaticPods(options(nodeConfig));
    expect(rendered.map((pod) => pod.name)).toEqual([
      'hacp-etcd.json',
      'hacp-kube-apiserver.json',
      'hacp-kube-controller-manager.json',
      'hacp-kube-scheduler.json',
      'hacp-kube-addon-manager.json',
      'hacp-health.json',
    ]);
    for (const { name, manifest } of rendered) {
      expect(podProblems(manifest), name).toEqual([]);
      const pod = manifest as Pod;
      expect(pod.metadata.namespace).toBe('kube-system');
      expect(pod.metadata.labels.tier).toBe('control-plane');
      expect(pod.spec.hostNetwork).toBe(true);
      expect(pod.spec.priorityClassName).toBe('system-node-critical');
    }
    const all = pods(nodeConfig);
    for (const process of nodeConfig.processes) {
      expect(pod(all, process.name).metadata.labels.component).toBe(process.name);
    }
  });

  it('runs each Kubernetes binary by name with every argument unchanged, in the root, which it only reads', () => {
    const all = pods(nodeConfig);
    for (const name of [...KUBERNETES_PROGRAMS, 'etcd']) {
      const process = processNamed(nodeConfig, name);
      const c = container(all, name);
      expect(c.command).toEqual([name, ...process.args]);
      expect(c.args).toBeUndefined();
      expect(c.workingDir).toBe(REPLICA_ROOT_DIR);
      expect(c.env ?? []).toEqual(
        Object.entries(process.env ?? {}).map(([key, value]) => ({ name: key, value })),
      );
      const mount = c.volumeMounts.find((m) => m.mountPath === REPLICA_ROOT_DIR);
      const volume = pod(all, name).spec.volumes.find((v) => v.name === mount?.name);
      expect(volume?.hostPath).toEqual({ path: REPLICA_ROOT_DIR, type: 'DirectoryOrCreate' });
      // etcd writes its data dir; the others only read certificates and kubeconfigs.
      expect(mount?.readOnly, name).toBe(name !== 'etcd');
    }
    // A process given by an absolute path still runs the image's own program.
    const byPath = withProcess(nodeConfig, 'kube-scheduler', { command: '/usr/local/bin/kube-scheduler' });
    expect(container(pods(byPath), 'kube-scheduler').command?.[0]).toBe('kube-scheduler');
    expect(container(all, 'kube-apiserver').resources.requests).toEqual({ cpu: '250m' });
    expect(container(all, 'kube-controller-manager').resources.requests).toEqual({ cpu: '200m' });
    expect(container(all, 'kube-scheduler').resources.requests).toEqual({ cpu: '100m' });
  });

  it("runs the add-on manager image's own entrypoint with the process's environment, reading the root", () => {
    const process = processNamed(nodeConfig, 'kube-addon-manager');
    const c = container(pods(nodeConfig), 'kube-addon-manager');
    expect(c.image).toBe(DEFAULT_ADDON_MANAGER_IMAGE);
    expect(c.image).toBe('registry.k8s.io/addon-manager/kube-addon-manager:v9.1.8');
    expect(c.command).toBeUndefined();
    expect(c.args).toBeUndefined();
    // The script sources kube-addons.sh from its working folder first: it keeps the image's own.
    expect(c.workingDir).toBeUndefined();
    expect(c.env).toEqual([
      { name: 'ADDON_PATH', value: `${REPLICA_ROOT_DIR}/addons` },
      { name: 'KUBECTL_OPTS', value: `--kubeconfig=${REPLICA_ROOT_DIR}/addon-manager.conf` },
      { name: 'ADDON_MANAGER_LEADER_ELECTION', value: 'false' },
    ]);
    expect(c.env).toEqual(Object.entries(process.env ?? {}).map(([name, value]) => ({ name, value })));
    // The addons folder and its kubeconfig are in the root, mounted read-only; it logs to stdout.
    expect(c.volumeMounts).toEqual([{ name: 'replica-root', mountPath: REPLICA_ROOT_DIR, readOnly: true }]);
    expect(c.securityContext).toEqual({
      runAsUser: 0,
      runAsGroup: 0,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources.requests).toEqual({ cpu: '5m', memory: '50Mi' });
    expect([c.livenessProbe, c.readinessProbe, c.startupProbe]).toEqual([undefined, undefined, undefined]);
  });

  it('gives each pod its process stopGraceSeconds as its termination grace period', () => {
    const all = pods(nodeConfig);
    expect(pod(all, 'kube-apiserver').spec.terminationGracePeriodSeconds).toBe(14);
    expect(pod(all, 'kube-scheduler').spec.terminationGracePeriodSeconds).toBe(5);
    // Without one, the kubelet's default (30 s) applies.
    expect(pod(all, 'etcd').spec).not.toHaveProperty('terminationGracePeriodSeconds');
    const zero = withProcess(nodeConfig, 'etcd', { stopGraceSeconds: 0 });
    expect(pod(pods(zero), 'etcd').spec.terminationGracePeriodSeconds).toBe(0);
  });
});

describe('renderStaticPods images', () => {
  const tagged = (version: string | undefined, extra: Partial<ReplicaMetadataOptions> = {}) => {
    const all = pods(sdkReplicaNodeConfig({ kubernetesVersion: version }), extra);
    return Object.fromEntries(
      ['etcd', ...KUBERNETES_PROGRAMS, 'kube-addon-manager', 'health'].map((name) => [
        name,
        container(all, name).image,
      ]),
    );
  };

  it("follow NodeConfig.kubernetesVersion, which wins over the provider's version", () => {
    expect(tagged('v1.23.16', { kubernetesVersion: '1.31.2' })).toEqual({
      etcd: 'registry.k8s.io/etcd:3.5.16-0',
      'kube-apiserver': 'registry.k8s.io/kube-apiserver:v1.23.16',
      'kube-controller-manager': 'registry.k8s.io/kube-controller-manager:v1.23.16',
      'kube-scheduler': 'registry.k8s.io/kube-scheduler:v1.23.16',
      'kube-addon-manager': DEFAULT_ADDON_MANAGER_IMAGE,
      health: 'docker.io/library/haproxy:2.8-alpine',
    });
    // Without one, the provider's version; a leading `v` or none is the same version.
    expect(tagged(undefined, { kubernetesVersion: '1.31.2' })['kube-scheduler']).toBe(
      'registry.k8s.io/kube-scheduler:v1.31.2',
    );
    expect(tagged('1.23.16')['kube-apiserver']).toBe('registry.k8s.io/kube-apiserver:v1.23.16');
  });

  it("map a build version's `+`, which no image tag may hold, to `_`, as kubeadm does", () => {
    const images = tagged('v1.32.0-beta.0.0+cd13ec4ae44e');
    for (const name of KUBERNETES_PROGRAMS) {
      expect(images[name]).toBe(`registry.k8s.io/${name}:v1.32.0-beta.0.0_cd13ec4ae44e`);
    }
    // The reference grammar's tag (distribution/reference): what a container runtime will pull.
    for (const image of Object.values(images)) {
      const tag = image.slice(image.lastIndexOf(':') + 1);
      expect(tag, image).toMatch(/^[\w][\w.-]{0,127}$/);
    }
    expect(images['kube-addon-manager']).toBe(DEFAULT_ADDON_MANAGER_IMAGE);
  });

  it('are each replaced by the given ones', () => {
    const images = tagged('v1.23.16', {
      images: {
        etcd: 'mirror.example/etcd:3.5.15-0',
        kubeApiserver: 'mirror.example/kas:1',
        kubeControllerManager: 'mirror.example/kcm:1',
        kubeScheduler: 'mirror.example/ks:1',
        addonManager: 'mirror.example/kam:9',
        health: 'mirror.example/hp:2',
      },
    });
    expect(images).toEqual({
      etcd: 'mirror.example/etcd:3.5.15-0',
      'kube-apiserver': 'mirror.example/kas:1',
      'kube-controller-manager': 'mirror.example/kcm:1',
      'kube-scheduler': 'mirror.example/ks:1',
      'kube-addon-manager': 'mirror.example/kam:9',
      health: 'mirror.example/hp:2',
    });
  });
});

describe('renderStaticPods probes', () => {
  it("aim kubeadm's /healthz probes of the controller-manager and scheduler at their --bind-address and --secure-port", () => {
    const all = pods(sdkReplicaNodeConfig());
    for (const [name, port] of [
      ['kube-controller-manager', 10257],
      ['kube-scheduler', 10259],
    ] as const) {
      const c = container(all, name);
      const httpGet = { host: INTERNAL_IP, port, path: '/healthz', scheme: 'HTTPS' };
      expect(c.livenessProbe).toEqual({
        httpGet,
        initialDelaySeconds: 10,
        periodSeconds: 10,
        timeoutSeconds: 15,
        failureThreshold: 8,
      });
      expect(c.startupProbe).toEqual({
        httpGet,
        initialDelaySeconds: 10,
        periodSeconds: 10,
        timeoutSeconds: 15,
        failureThreshold: 24,
      });
      expect(c.readinessProbe).toBeUndefined();
    }
    // Moved by the flags, the probes move with them.
    const moved = withProcess(sdkReplicaNodeConfig({ internalIp: '10.9.8.7' }), 'kube-scheduler', {
      args: ['--bind-address=10.9.8.7', '--secure-port=11259', '--leader-elect=true'],
      ports: { secure: 11259 },
    });
    expect(container(pods(moved), 'kube-scheduler').livenessProbe?.httpGet).toMatchObject({
      host: '10.9.8.7',
      port: 11259,
    });
  });

  it('reach a kube-apiserver listening on every address (the network says 0.0.0.0) over loopback', () => {
    const all = pods(sdkReplicaNodeConfig({ listenAddress: '0.0.0.0' }));
    const c = container(all, 'kube-apiserver');
    expect(c.command).toContain('--bind-address=0.0.0.0');
    expect(c.command).toContain('--advertise-address=34.78.1.10');
    const loopback = { host: '127.0.0.1', port: 6443, scheme: 'HTTPS' };
    expect(c.livenessProbe?.httpGet).toEqual({ ...loopback, path: '/livez' });
    expect(c.readinessProbe?.httpGet).toEqual({ ...loopback, path: '/readyz' });
    expect(c.startupProbe?.httpGet).toEqual({ ...loopback, path: '/livez' });
    // The health endpoint (what the target pool asks) checks the same listener.
    expect(healthTarget(sdkReplicaNodeConfig())).toMatchObject({ host: '127.0.0.1', port: 6443 });
    // Bound to the internal address only, they aim there.
    const internal = container(pods(sdkReplicaNodeConfig({ listenAddress: INTERNAL_IP })), 'kube-apiserver');
    expect(internal.readinessProbe?.httpGet).toEqual({
      host: INTERNAL_IP,
      port: 6443,
      path: '/readyz',
      scheme: 'HTTPS',
    });
  });
});

describe('renderStaticPods of etcd and kube-apiserver alone', () => {
  const { nodeConfig } = replicaNodeConfig();

  it('probes etcd like kubeadm, on the metrics listener its own --listen-metrics-urls gives', () => {
    const c = container(pods(nodeConfig), 'etcd');
    expect(c.livenessProbe?.httpGet).toEqual({
      host: INTERNAL_IP,
      port: 2381,
      path: '/health?exclude=NOSPACE&serializable=true',
      scheme: 'HTTP',
    });
    expect(c.startupProbe?.httpGet.host).toBe(INTERNAL_IP);
    const wildcard = etcdProcess();
    const args = wildcard.args.map((arg) =>
      arg.startsWith('--listen-metrics-urls=') ? '--listen-metrics-urls=http://0.0.0.0:2381' : arg,
    );
    const onAll = container(pods({ files: [], processes: [{ ...wildcard, args }] }), 'etcd');
    expect(onAll.livenessProbe?.httpGet.host).toBe('127.0.0.1');
  });

  it('probes kube-apiserver like kubeadm: /livez and /readyz over https on its bind address and secure port', () => {
    const c = container(pods(nodeConfig), 'kube-apiserver');
    expect(c.livenessProbe?.httpGet).toEqual({
      host: INTERNAL_IP,
      port: 6443,
      path: '/livez',
      scheme: 'HTTPS',
    });
    expect(c.readinessProbe?.httpGet).toEqual({
      host: INTERNAL_IP,
      port: 6443,
      path: '/readyz',
      scheme: 'HTTPS',
    });
    expect(container(pods(nodeConfig), 'kube-apiserver').env).toEqual([{ name: 'GOMAXPROCS', value: '2' }]);
    expect(container(pods(nodeConfig), 'etcd').env).toBeUndefined();
  });

  it('runs the health endpoint from its config file on the data disk, seeing only its own folder', () => {
    const c = container(pods(nodeConfig), 'health');
    expect(c.command).toEqual(['haproxy', '-db', '-f', `${REPLICA_ROOT_DIR}/${HEALTH_CONFIG_PATH}`]);
    expect(c.volumeMounts).toEqual([
      { name: 'health-config', mountPath: `${REPLICA_ROOT_DIR}/health`, readOnly: true },
    ]);
  });
});

describe('renderStaticPods refusals', () => {
  const nodeConfig = sdkReplicaNodeConfig();
  const refused = (config: NodeConfig, extra: Partial<ReplicaMetadataOptions> = {}) =>
    refusal(() => renderStaticPods(options(config, extra)));
  const invalid = (field: string) => ({ code: ErrorCode.INVALID_ARGUMENT, field });

  it('refuses a process name without an image, whatever its command', () => {
    const haproxy = { name: 'proxy', command: '/usr/sbin/haproxy', args: [] };
    expect(refused({ files: [], processes: [etcdProcess(), haproxy] })).toEqual(
      invalid('processes.proxy.name'),
    );
    // Named by its name, not its command: an etcd called "main" has no image; "health" is not a program.
    expect(refused({ files: [], processes: [{ ...etcdProcess(), name: 'main' }] })).toEqual(
      invalid('processes.main.name'),
    );
    expect(refused({ files: [], processes: [{ ...etcdProcess(), name: 'health' }] })).toEqual(
      invalid('processes.health.name'),
    );
  });

  it("refuses a command of another program, as a host provider's NodeConfig has", () => {
    const hostAddonManager = withProcess(nodeConfig, 'kube-addon-manager', {
      command: '/usr/bin/node',
      args: ['/opt/hacp/addon-manager/dist/main.js', '--addons-dir', `${REPLICA_ROOT_DIR}/addons`],
      env: {},
    });
    expect(refused(hostAddonManager)).toEqual(invalid('processes.kube-addon-manager.command'));
    const swapped = withProcess(nodeConfig, 'kube-scheduler', { command: 'kube-controller-manager' });
    expect(refused(swapped)).toEqual(invalid('processes.kube-scheduler.command'));
  });

  it('refuses an add-on manager with arguments, or paths its pod cannot see', () => {
    const env = processNamed(nodeConfig, 'kube-addon-manager').env ?? {};
    const addonManager = (change: Partial<NodeProcess>) =>
      refused(withProcess(nodeConfig, 'kube-addon-manager', change));
    expect(addonManager({ args: ['--interval-seconds', '10'] })).toEqual(
      invalid('processes.kube-addon-manager.args'),
    );
    for (const addonPath of [undefined, '/etc/kubernetes/addons', 'addons', `${REPLICA_ROOT_DIR}/../x`]) {
      const { ADDON_PATH: _, ...rest } = env;
      const changed = addonPath === undefined ? rest : { ...env, ADDON_PATH: addonPath };
      expect(addonManager({ env: changed }), String(addonPath)).toEqual(
        invalid('processes.kube-addon-manager.env.ADDON_PATH'),
      );
    }
    for (const kubectlOptions of ['', '--kubeconfig=/etc/srv/kubernetes/addon-manager/kubeconfig', '-v=2']) {
      expect(addonManager({ env: { ...env, KUBECTL_OPTS: kubectlOptions } }), kubectlOptions).toEqual(
        invalid('processes.kube-addon-manager.env.KUBECTL_OPTS'),
      );
    }
    // Both ways of giving a flag work.
    const spaced = withProcess(nodeConfig, 'kube-addon-manager', {
      env: { ...env, KUBECTL_OPTS: `-v=2 --kubeconfig ${REPLICA_ROOT_DIR}/addon-manager.conf` },
    });
    expect(renderStaticPods(options(spaced))).toHaveLength(6);
  });

  it('refuses probes it cannot aim: a missing metrics listener, a port offset, a listener turned off', () => {
    const noMetrics = { ...etcdProcess(), args: etcdProcess().args.filter((a) => !a.includes('metrics')) };
    expect(refused({ files: [], processes: [noMetrics] })).toEqual(invalid('processes.etcd.args'));
    // A port offset (the local provider's) would aim the probe beside the listener.
    const offset = { ...apiserverProcess(), args: [...apiserverProcess().args, '--secure-port=7443'] };
    expect(refused({ files: [], processes: [offset] })).toEqual(
      invalid('processes.kube-apiserver.ports.secure'),
    );
    const off = processNamed(nodeConfig, 'kube-controller-manager');
    const args = [...off.args.filter((arg) => !arg.startsWith('--secure-port')), '--secure-port=0'];
    expect(refused(withProcess(nodeConfig, 'kube-controller-manager', { args }))).toEqual(
      invalid('processes.kube-controller-manager.ports.secure'),
    );
    expect(refused(withProcess(nodeConfig, 'kube-controller-manager', { args, ports: {} }))).toEqual(
      invalid('processes.kube-controller-manager.ports.secure'),
    );
    const v6 = ['--bind-address=::', ...off.args.filter((arg) => !arg.startsWith('--bind-address'))];
    expect(refused(withProcess(nodeConfig, 'kube-controller-manager', { args: v6 }))).toEqual(
      invalid('processes.kube-controller-manager.args'),
    );
  });

  it('refuses a NodeConfig that fails its checks, a malformed version or image', () => {
    const twice = { files: [], processes: [etcdProcess(), etcdProcess()] };
    expect(refused(twice).code).toBe(ErrorCode.INVALID_ARGUMENT);
    const unversioned = sdkReplicaNodeConfig({ kubernetesVersion: undefined });
    expect(refused(unversioned, { kubernetesVersion: 'latest' })).toEqual(invalid('kubernetesVersion'));
    expect(refused({ ...nodeConfig, kubernetesVersion: 'v1.32' })).toEqual(invalid('kubernetesVersion'));
    expect(refused({ ...nodeConfig, kubernetesVersion: 'v1.32.0+a+b' })).toEqual(
      invalid('kubernetesVersion'),
    );
    expect(refused(nodeConfig, { images: { etcd: 'etcd image' } })).toEqual(invalid('images.etcd'));
    expect(refused(nodeConfig, { images: { kubeScheduler: 'ks:1 ; rm' } })).toEqual(
      invalid('images.kubeScheduler'),
    );
  });
});
