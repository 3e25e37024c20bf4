import { createClusterPki, issueReplicaCerts, withReplica } from '@hacp/certs';
import { assertNodeConfig } from '@hacp/core';
import { describe, expect, it } from 'vitest';
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
      kubeApiserver: false,
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
    expect(replicaHealthCheck(false)).toMatchObject({ protocol: 'http', port: 2381, path: '/health' });
  });

  it('adds kube-apiserver against its local etcd only when asked, with the port offset applied', async () => {
    const config = renderReplica({
      pki: await pkiFor(),
      replica: 'kubernetes-master',
      network: { ...network, portOffset: 20000 },
      etcdToken: 't',
      etcdState: 'existing',
      initialCluster: [{ name: 'kubernetes-master', peerUrl: 'https://127.10.0.2:22380' }],
      kubeApiserver: true,
    });
    const apiserver = config.processes.find((p) => p.name === 'kube-apiserver');
    expect(apiserver?.args).toContain('--secure-port=26443');
    expect(apiserver?.args).toContain('--etcd-servers=https://127.10.0.2:22379');
    expect(apiserver?.args).toContain('--tls-private-key-file=/srv/hacp/r1/root/pki/apiserver.key');
    expect(replicaHealthCheck(true)).toMatchObject({ protocol: 'https', port: 6443, path: '/readyz' });
  });
});
