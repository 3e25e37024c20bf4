import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonModeOf, addonObjectName, checkAddonManifests } from '@hacp/addon-manager';
import { createClusterPki, issueReplicaCerts, withReplica } from '@hacp/certs';
import { assertNodeConfig, isSecret, type NodeFile } from '@hacp/core';
import { REPLICA_ROOT_DIR, renderReplicaMetadata, renderStaticPods } from '@hacp/provider-gce';
import { describe, expect, it } from 'vitest';
import { addAddons, listAddons, readAddonFiles } from './addons.js';
import { renderReplica, replicaHealthCheck } from './render.js';

const network = {
  internalIp: '127.10.0.2',
  hostname: 'kubernetes-master',
  portOffset: 0,
  rootDir: '/srv/hacp/r1/root',
};

async function pkiFor() {
  const pki = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '127.10.0.1' });
  return withReplica(
    pki,
    await issueReplicaCerts(pki, {
      replicaName: 'kubernetes-master',
      hostname: network.hostname,
      internalIp: network.internalIp,
    }),
  );
}

describe('renderReplica', () => {
  it('renders etcd with TLS, absolute paths under the root folder and the metrics listener the health check uses', async () => {
    const config = renderReplica({
      pki: await pkiFor(),
      replica: 'kubernetes-master',
      network,
      etcdToken: 'hacp-kubernetes-1234',
      etcdState: 'new',
      initialCluster: [{ name: 'kubernetes-master', peerUrl: 'https://127.10.0.2:2380' }],
    });
    assertNodeConfig(config);
    expect(config.processes.map((p) => p.name)).toEqual(['etcd']);
    const args = config.processes[0]?.args ?? [];
    expect(args).toContain('--data-dir=/srv/hacp/r1/root/etcd-data');
    expect(args).toContain('--listen-metrics-urls=http://127.10.0.2:2381');
    expect(args).toContain('--initial-cluster-state=new');
    expect(args).toContain('--client-cert-auth=true');
    expect(args).toContain('--peer-client-cert-auth=true');
    expect(config.files.some((f) => f.path === 'pki/etcd/server.key' && f.mode === 0o600)).toBe(true);
    // No add-on manager, so no add-on folder (nor its marker).
    expect(config.files.filter((f) => f.path.startsWith('addons/'))).toEqual([]);
    expect(replicaHealthCheck(false)).toMatchObject({ protocol: 'http', port: 2381, path: '/health' });
  });

  it('runs the whole control plane on the host: programs by path, 1.23 flags, kubeconfigs and add-ons', async () => {
    const config = await hostReplica([{ path: 'addons/dns.yaml', mode: 0o644, contents: 'kind: ConfigMap' }]);
    assertNodeConfig(config);
    expect(config.kubernetesVersion).toBe('v1.23.16');
    expect(config.processes.map((p) => p.name)).toEqual([
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kube-addon-manager',
    ]);
    const args = (name: string) => config.processes.find((p) => p.name === name)?.args ?? [];
    const apiserver = config.processes.find((p) => p.name === 'kube-apiserver');
    expect(apiserver?.command).toBe('/opt/k8s/kube-apiserver');
    expect(args('kube-apiserver')).toEqual(
      expect.arrayContaining([
        '--secure-port=26443',
        '--bind-address=127.10.0.2',
        '--advertise-address=127.10.0.1',
        '--etcd-servers=https://127.10.0.2:22379',
        '--tls-private-key-file=/srv/hacp/r1/root/pki/apiserver.key',
        '--kubelet-client-certificate=/srv/hacp/r1/root/pki/apiserver-kubelet-client.crt',
        '--feature-gates=APIServerIdentity=true',
        '--identity-lease-duration-seconds=60',
        // A loopback endpoint cannot be the kubernetes service's endpoint.
        '--endpoint-reconciler-type=none',
        '--shutdown-delay-duration=3s',
        '--shutdown-send-retry-after=true',
      ]),
    );
    expect(apiserver?.stopGraceSeconds).toBe(8);
    expect(args('kube-controller-manager')).toEqual(
      expect.arrayContaining([
        '--leader-elect=true',
        '--secure-port=30257',
        '--bind-address=127.10.0.2',
        '--kubeconfig=/srv/hacp/r1/root/controller-manager.conf',
        '--cluster-signing-key-file=/srv/hacp/r1/root/pki/ca.key',
        '--service-account-private-key-file=/srv/hacp/r1/root/pki/sa.key',
      ]),
    );
    expect(args('kube-scheduler')).toEqual(
      expect.arrayContaining([
        '--leader-elect=true',
        '--secure-port=30259',
        '--kubeconfig=/srv/hacp/r1/root/scheduler.conf',
      ]),
    );
    const addonManager = config.processes.find((p) => p.name === 'kube-addon-manager');
    expect(addonManager?.command).toBe(process.execPath);
    expect(addonManager?.args.slice(0, 3)).toEqual([
      '/opt/hacp/addon-manager/main.js',
      '--kubeconfig',
      '/srv/hacp/r1/root/addon-manager.conf',
    ]);
    const file = (path: string) => config.files.find((f) => f.path === path);
    for (const conf of ['controller-manager.conf', 'scheduler.conf', 'addon-manager.conf']) {
      expect(file(conf)?.mode).toBe(0o600);
      expect(isSecret(file(conf)?.contents)).toBe(true);
    }
    expect(file('pki/apiserver-kubelet-client.key')?.mode).toBe(0o600);
    expect(file('addons/dns.yaml')?.contents).toBe('kind: ConfigMap');
  });

  it("renders 1.32 for a provider's images: names, the endpoint reconciler, all addresses", async () => {
    const config = renderReplica({
      pki: await pkiFor(),
      replica: 'kubernetes-master',
      network: { ...network, listenAddress: '0.0.0.0' },
      etcdToken: 't',
      etcdState: 'new',
      initialCluster: [{ name: 'kubernetes-master', peerUrl: 'https://127.10.0.2:2380' }],
      kubernetes: {
        version: 'v1.32.0-beta.0.0+cd13ec4ae44e',
        programs: { kind: 'images' },
        // A documentation address (RFC 5737): rendered, never dialled.
        endpointAddress: '203.0.113.10',
        healthCheck: {
          protocol: 'https',
          port: 6443,
          path: '/readyz',
          intervalSeconds: 5,
          unhealthyThreshold: 2,
        },
        addons: [],
      },
    });
    const byName = (name: string) => config.processes.find((p) => p.name === name);
    expect(byName('kube-apiserver')?.command).toBe('kube-apiserver');
    expect(byName('kube-controller-manager')?.command).toBe('kube-controller-manager');
    const args = byName('kube-apiserver')?.args ?? [];
    expect(args).toEqual(
      expect.arrayContaining([
        '--bind-address=0.0.0.0',
        '--advertise-address=203.0.113.10',
        '--endpoint-reconciler-type=lease',
        '--shutdown-delay-duration=15s',
      ]),
    );
    expect(args.some((arg) => arg.startsWith('--feature-gates'))).toBe(false);
    expect(byName('kube-addon-manager')).toMatchObject({
      command: 'kube-addon-manager',
      env: {
        ADDON_PATH: '/srv/hacp/r1/root/addons',
        KUBECTL_OPTS: '--kubeconfig=/srv/hacp/r1/root/addon-manager.conf',
        ADDON_MANAGER_LEADER_ELECTION: 'false',
      },
    });
  });
});

const HOST_PATHS = {
  'kube-apiserver': '/opt/k8s/kube-apiserver',
  'kube-controller-manager': '/opt/k8s/kube-controller-manager',
  'kube-scheduler': '/opt/k8s/kube-scheduler',
};

/** kubernetes-master as a local replica runs it: 1.23 programs by path, on a port offset, with these add-ons. */
async function hostReplica(addons: readonly NodeFile[]) {
  return renderReplica({
    pki: await pkiFor(),
    replica: 'kubernetes-master',
    network: { ...network, portOffset: 20000 },
    etcdToken: 't',
    etcdState: 'existing',
    initialCluster: [{ name: 'kubernetes-master', peerUrl: 'https://127.10.0.2:22380' }],
    kubernetes: {
      version: 'v1.23.16',
      programs: { kind: 'host', paths: HOST_PATHS, addonManager: '/opt/hacp/addon-manager/main.js' },
      endpointAddress: '127.10.0.1',
      healthCheck: replicaHealthCheck(true),
      addons,
    },
  });
}

describe('what GCE boots from the rendered NodeConfig', () => {
  // Documentation addresses (RFC 5737): rendered, never dialled.
  it('becomes a static pod per component, the apiserver on every address of the VM', async () => {
    const gceNetwork = {
      internalIp: '192.0.2.2',
      hostname: 'kubernetes-master',
      portOffset: 0,
      rootDir: REPLICA_ROOT_DIR,
      listenAddress: '0.0.0.0',
    };
    const pki = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '203.0.113.10' });
    const withCerts = withReplica(
      pki,
      await issueReplicaCerts(pki, {
        replicaName: 'kubernetes-master',
        hostname: 'kubernetes-master',
        internalIp: '192.0.2.2',
      }),
    );
    const nodeConfig = renderReplica({
      pki: withCerts,
      replica: 'kubernetes-master',
      network: gceNetwork,
      etcdToken: 't',
      etcdState: 'new',
      initialCluster: [{ name: 'kubernetes-master', peerUrl: 'https://192.0.2.2:2380' }],
      kubernetes: {
        version: 'v1.23.16',
        programs: { kind: 'images' },
        endpointAddress: '203.0.113.10',
        healthCheck: replicaHealthCheck(true),
        addons: [],
      },
    });
    const pods = renderStaticPods({
      cluster: 'kubernetes',
      replica: 'kubernetes-master',
      nodeConfig,
      kubernetesVersion: '1.23.16',
    });
    const byName = new Map(
      pods.map((pod) => [
        pod.name,
        pod.manifest as { spec: { containers: { image: string; command?: string[] }[] } },
      ]),
    );
    expect([...byName.keys()].sort()).toEqual([
      'hacp-etcd.json',
      'hacp-health.json',
      'hacp-kube-addon-manager.json',
      'hacp-kube-apiserver.json',
      'hacp-kube-controller-manager.json',
      'hacp-kube-scheduler.json',
    ]);
    const apiserver = byName.get('hacp-kube-apiserver.json')?.spec.containers[0];
    expect(apiserver?.image).toBe('registry.k8s.io/kube-apiserver:v1.23.16');
    expect(apiserver?.command).toContain('--bind-address=0.0.0.0');
    expect(byName.get('hacp-kube-scheduler.json')?.spec.containers[0]?.image).toBe(
      'registry.k8s.io/kube-scheduler:v1.23.16',
    );
    // The whole boot fits GCE's metadata limits.
    expect(() =>
      renderReplicaMetadata({
        cluster: 'kubernetes',
        replica: 'kubernetes-master',
        nodeConfig,
        kubernetesVersion: '1.23.16',
      }),
    ).not.toThrow();
  });
});

describe("a replica's add-on marker", () => {
  const MARKER = 'addons/hacp/addon-manager-kubernetes-master.json';

  it('is one more file of its add-on folder: an EnsureExists ConfigMap in kube-system named for the replica', async () => {
    const config = await hostReplica([{ path: 'addons/dns.yaml', mode: 0o644, contents: 'kind: ConfigMap' }]);
    assertNodeConfig(config);
    const addons = config.files.filter((file) => file.path.startsWith('addons/'));
    expect(addons.map((file) => file.path)).toEqual(['addons/dns.yaml', MARKER]);
    const marker = addons[1];
    expect(marker?.mode).toBe(0o644);
    // What both add-on managers read: the manifest checks as `hacp addons apply` checks one.
    const objects = checkAddonManifests(marker?.contents as string, MARKER);
    expect(objects.map(addonObjectName)).toEqual([
      'ConfigMap/kube-system/hacp-addon-manager-kubernetes-master',
    ]);
    expect(addonModeOf(objects[0] as (typeof objects)[number])).toBe('EnsureExists');
    expect(JSON.parse(marker?.contents as string)).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'hacp-addon-manager-kubernetes-master',
        namespace: 'kube-system',
        labels: { 'addonmanager.kubernetes.io/mode': 'EnsureExists' },
      },
      data: { replica: 'kubernetes-master' },
    });
  });

  it('has a path no operator add-on can take, and `addons list` does not show it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hacp-addon-marker-'));
    try {
      // An operator's file of the marker's name lands at the top of the folder, by its base name.
      await addAddons(dir, [
        { name: 'hacp/addon-manager-kubernetes-master.json', text: configMapManifest('mine', 'Reconcile') },
      ]);
      // A subfolder of the operator's folder is not copied to the replicas at all.
      await mkdir(join(dir, 'hacp'));
      await writeFile(
        join(dir, 'hacp', 'addon-manager-kubernetes-master.json'),
        configMapManifest('sub', 'Reconcile'),
      );
      const operator = await readAddonFiles(dir);
      expect(operator.map((file) => file.path)).toEqual(['addons/addon-manager-kubernetes-master.json']);
      const config = await hostReplica(operator);
      assertNodeConfig(config);
      const marker = config.files.filter((file) => file.path === MARKER);
      expect(marker).toHaveLength(1);
      expect(JSON.parse(marker[0]?.contents as string).data).toEqual({ replica: 'kubernetes-master' });
      expect((await listAddons(dir)).map((file) => file.file)).toEqual([
        'addon-manager-kubernetes-master.json',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function configMapManifest(name: string, mode: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'kube-system', labels: { 'addonmanager.kubernetes.io/mode': mode } },
  });
}
