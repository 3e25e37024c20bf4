import { ErrorCode, isHacpError, type NodeConfig } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { apiserverProcess, etcdProcess, INTERNAL_IP, replicaNodeConfig } from './fixtures.test-support.js';
import { HEALTH_CONFIG_PATH, REPLICA_ROOT_DIR } from './layout.js';
import { podProblems } from './pod-validate.test-support.js';
import { type ReplicaMetadataOptions, renderStaticPods } from './static-pods.js';

interface Container {
  name: string;
  image: string;
  command: string[];
  workingDir?: string;
  env?: { name: string; value: string }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  livenessProbe?: { httpGet: { host: string; port: number; path: string; scheme: string } };
  readinessProbe?: { httpGet: { host: string; port: number; path: string; scheme: string } };
  startupProbe?: { httpGet: { host: string; port: number; path: string; scheme: string } };
}
interface Pod {
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: {
    hostNetwork: boolean;
    priorityClassName: string;
    containers: Container[];
    volumes: { name: string; hostPath: { path: string; type: string } }[];
  };
}

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

function container(all: Map<string, Pod>, file: string): Container {
  const pod = all.get(file);
  expect(pod, `${file} is rendered`).toBeDefined();
  return pod!.spec.containers[0]!;
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

describe('renderStaticPods', () => {
  const { nodeConfig } = replicaNodeConfig();

  it('renders one valid Pod per process plus the health endpoint, as kubeadm labels them', () => {
    const rendered = renderStaticPods(options(nodeConfig));
    expect(rendered.map((pod) => pod.name)).toEqual([
      'hacp-etcd.json',
      'hacp-kube-apiserver.json',
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
    expect(all.get('hacp-etcd.json')?.metadata.labels.component).toBe('etcd');
    expect(all.get('hacp-kube-apiserver.json')?.metadata.labels.component).toBe('kube-apiserver');
  });

  it('runs every process with its command and every argument unchanged, its env, and the root mounted in place', () => {
    const all = pods(nodeConfig);
    for (const process of nodeConfig.processes) {
      const c = container(all, `hacp-${process.name}.json`);
      expect(c.command).toEqual([process.command, ...process.args]);
      expect(c.env ?? []).toEqual(
        Object.entries(process.env ?? {}).map(([name, value]) => ({ name, value })),
      );
      const pod = all.get(`hacp-${process.name}.json`)!;
      const mount = c.volumeMounts.find((m) => m.mountPath === REPLICA_ROOT_DIR);
      const volume = pod.spec.volumes.find((v) => v.name === mount?.name);
      expect(volume?.hostPath).toEqual({ path: REPLICA_ROOT_DIR, type: 'DirectoryOrCreate' });
      expect(c.workingDir).toBe(REPLICA_ROOT_DIR);
    }
    expect(container(all, 'hacp-etcd.json').env).toBeUndefined();
    expect(container(all, 'hacp-kube-apiserver.json').env).toEqual([{ name: 'GOMAXPROCS', value: '2' }]);
    // etcd writes its data dir; kube-apiserver only reads.
    expect(container(all, 'hacp-etcd.json').volumeMounts[0]?.readOnly).toBe(false);
    expect(container(all, 'hacp-kube-apiserver.json').volumeMounts[0]?.readOnly).toBe(true);
  });

  it('uses the default images, and the given ones', () => {
    const defaults = pods(nodeConfig);
    expect(container(defaults, 'hacp-etcd.json').image).toBe('registry.k8s.io/etcd:3.5.16-0');
    expect(container(defaults, 'hacp-kube-apiserver.json').image).toBe(
      'registry.k8s.io/kube-apiserver:v1.31.2',
    );
    expect(container(defaults, 'hacp-health.json').image).toBe('docker.io/library/haproxy:2.8-alpine');
    const given = pods(nodeConfig, {
      kubernetesVersion: 'v1.30.4',
      images: {
        etcd: 'mirror.example/etcd:3.5.15-0',
        kubeApiserver: 'mirror.example/kas:1',
        health: 'mirror.example/hp:2',
      },
    });
    expect(container(given, 'hacp-etcd.json').image).toBe('mirror.example/etcd:3.5.15-0');
    expect(container(given, 'hacp-kube-apiserver.json').image).toBe('mirror.example/kas:1');
    expect(container(given, 'hacp-health.json').image).toBe('mirror.example/hp:2');
    // Only the kube-apiserver default follows the version, which loses its `v` first.
    const versioned = pods(nodeConfig, { kubernetesVersion: 'v1.30.4' });
    expect(container(versioned, 'hacp-kube-apiserver.json').image).toBe(
      'registry.k8s.io/kube-apiserver:v1.30.4',
    );
  });

  it('probes etcd like kubeadm, on the metrics listener its own --listen-metrics-urls gives', () => {
    const c = container(pods(nodeConfig), 'hacp-etcd.json');
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
    const onAll = container(pods({ files: [], processes: [{ ...wildcard, args }] }), 'hacp-etcd.json');
    expect(onAll.livenessProbe?.httpGet.host).toBe('127.0.0.1');
  });

  it('probes kube-apiserver like kubeadm: /livez and /readyz over https on its bind address and secure port', () => {
    const c = container(pods(nodeConfig), 'hacp-kube-apiserver.json');
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
  });

  it('runs the health endpoint from its config file on the data disk, seeing only its own folder', () => {
    const c = container(pods(nodeConfig), 'hacp-health.json');
    expect(c.command).toEqual(['haproxy', '-db', '-f', `${REPLICA_ROOT_DIR}/${HEALTH_CONFIG_PATH}`]);
    expect(c.volumeMounts).toEqual([
      { name: 'health-config', mountPath: `${REPLICA_ROOT_DIR}/health`, readOnly: true },
    ]);
  });

  it('refuses a command without an image, a NodeConfig that fails its checks, and probes it cannot aim', () => {
    const haproxy = { name: 'proxy', command: '/usr/sbin/haproxy', args: [] };
    expect(
      refusal(() => renderStaticPods(options({ files: [], processes: [etcdProcess(), haproxy] }))),
    ).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'processes.proxy.command',
    });
    const twice = { files: [], processes: [etcdProcess(), etcdProcess()] };
    expect(refusal(() => renderStaticPods(options(twice))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    const noMetrics = { ...etcdProcess(), args: etcdProcess().args.filter((a) => !a.includes('metrics')) };
    expect(refusal(() => renderStaticPods(options({ files: [], processes: [noMetrics] })))).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'processes.etcd.args',
    });
    // A port offset (the local provider's) would aim the probe beside the listener.
    const offset = { ...apiserverProcess(), args: [...apiserverProcess().args, '--secure-port=7443'] };
    expect(refusal(() => renderStaticPods(options({ files: [], processes: [offset] })))).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'processes.kube-apiserver.ports.secure',
    });
    const health = { ...etcdProcess(), name: 'health' };
    expect(refusal(() => renderStaticPods(options({ files: [], processes: [health] }))).field).toBe(
      'processes[0].name',
    );
    expect(refusal(() => renderStaticPods(options(nodeConfig, { kubernetesVersion: 'latest' }))).field).toBe(
      'kubernetesVersion',
    );
    expect(
      refusal(() => renderStaticPods(options(nodeConfig, { images: { etcd: 'etcd image' } }))).field,
    ).toBe('images.etcd');
  });
});
