import { ErrorCode, isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { formatInitialCluster, type MemberFlagsOptions, memberFlags, parseInitialCluster } from './flags.js';

const base: MemberFlagsOptions = {
  name: 'kubernetes-master',
  clientUrls: ['https://10.0.0.2:2379'],
  peerUrls: ['https://10.0.0.2:2380'],
  pkiPaths: {
    trustedCaFile: '/etc/kubernetes/pki/etcd/ca.crt',
    certFile: '/etc/kubernetes/pki/etcd/server.crt',
    keyFile: '/etc/kubernetes/pki/etcd/server.key',
    peerCertFile: '/etc/kubernetes/pki/etcd/peer.crt',
    peerKeyFile: '/etc/kubernetes/pki/etcd/peer.key',
  },
  initialCluster: 'kubernetes-master=https://10.0.0.2:2380',
  state: 'new',
  token: 'hacp-kubernetes-5f2c',
  dataDir: '/var/lib/etcd',
};

function flagMap(args: string[]): Map<string, string> {
  return new Map(
    args.map((arg) => {
      const at = arg.indexOf('=');
      return [arg.slice(0, at), arg.slice(at + 1)];
    }),
  );
}

function refusal(options: MemberFlagsOptions) {
  try {
    memberFlags(options);
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('memberFlags accepted it');
}

describe('memberFlags', () => {
  it('renders the whole command line, TLS with client-cert auth on both ports', () => {
    const flags = flagMap(memberFlags(base));
    expect(Object.fromEntries(flags)).toEqual({
      '--name': 'kubernetes-master',
      '--data-dir': '/var/lib/etcd',
      '--listen-client-urls': 'https://10.0.0.2:2379',
      '--advertise-client-urls': 'https://10.0.0.2:2379',
      '--listen-peer-urls': 'https://10.0.0.2:2380',
      '--initial-advertise-peer-urls': 'https://10.0.0.2:2380',
      '--initial-cluster': 'kubernetes-master=https://10.0.0.2:2380',
      '--initial-cluster-state': 'new',
      '--initial-cluster-token': 'hacp-kubernetes-5f2c',
      '--cert-file': '/etc/kubernetes/pki/etcd/server.crt',
      '--key-file': '/etc/kubernetes/pki/etcd/server.key',
      '--client-cert-auth': 'true',
      '--trusted-ca-file': '/etc/kubernetes/pki/etcd/ca.crt',
      '--peer-cert-file': '/etc/kubernetes/pki/etcd/peer.crt',
      '--peer-key-file': '/etc/kubernetes/pki/etcd/peer.key',
      '--peer-client-cert-auth': 'true',
      '--peer-trusted-ca-file': '/etc/kubernetes/pki/etcd/ca.crt',
      '--strict-reconfig-check': 'true',
      '--snapshot-count': '10000',
      '--quota-backend-bytes': String(4 * 1024 ** 3),
      '--logger': 'zap',
      '--log-outputs': 'stderr',
    });
  });

  it('joins an existing cluster with the initial cluster addLearner returned', () => {
    const flags = flagMap(
      memberFlags({
        ...base,
        name: 'kubernetes-master-a1b',
        clientUrls: ['https://10.0.0.3:2379'],
        peerUrls: ['https://10.0.0.3:2380'],
        listenClientUrls: ['https://10.0.0.3:2379', 'https://127.0.0.1:2379'],
        initialCluster: 'kubernetes-master=https://10.0.0.2:2380,kubernetes-master-a1b=https://10.0.0.3:2380',
        state: 'existing',
      }),
    );
    expect(flags.get('--initial-cluster-state')).toBe('existing');
    expect(flags.get('--listen-client-urls')).toBe('https://10.0.0.3:2379,https://127.0.0.1:2379');
    expect(flags.get('--advertise-client-urls')).toBe('https://10.0.0.3:2379');
  });

  it('adds --force-new-cluster only when asked (recover), never otherwise', () => {
    expect(memberFlags({ ...base, state: 'existing', forceNewCluster: true })).toContain(
      '--force-new-cluster=true',
    );
    expect(memberFlags(base).some((flag) => flag.startsWith('--force-new-cluster'))).toBe(false);
  });

  it('takes the initial cluster as entries, and the tuning knobs', () => {
    const args = memberFlags({
      ...base,
      initialCluster: [{ name: 'kubernetes-master', peerUrl: 'https://10.0.0.2:2380/' }],
      snapshotCount: 100,
      quotaBackendBytes: 2 * 1024 ** 3,
      heartbeatIntervalMs: 250,
      electionTimeoutMs: 2500,
      listenMetricsUrls: ['http://127.0.0.1:2381'],
      pkiPaths: { ...base.pkiPaths, peerTrustedCaFile: '/etc/peer-ca.crt' },
    });
    const flags = flagMap(args);
    expect(flags.get('--initial-cluster')).toBe('kubernetes-master=https://10.0.0.2:2380');
    expect(flags.get('--snapshot-count')).toBe('100');
    expect(flags.get('--heartbeat-interval')).toBe('250');
    expect(flags.get('--election-timeout')).toBe('2500');
    expect(flags.get('--listen-metrics-urls')).toBe('http://127.0.0.1:2381');
    expect(flags.get('--peer-trusted-ca-file')).toBe('/etc/peer-ca.crt');
  });

  it.each([
    ['name', { name: 'a=b' }],
    ['name', { name: '' }],
    ['clientUrls', { clientUrls: [] }],
    ['clientUrls', { clientUrls: ['http://10.0.0.2:2379'] }],
    ['peerUrls', { peerUrls: ['https://10.0.0.2'] }],
    ['state', { state: 'joining' as 'new' }],
    ['token', { token: '' }],
    ['token', { token: 'has space' }],
    ['dataDir', { dataDir: 'relative/etcd' }],
    ['pkiPaths.keyFile', { pkiPaths: { ...base.pkiPaths, keyFile: 'server.key' } }],
    ['initialCluster', { initialCluster: 'other=https://10.0.0.9:2380' }],
    ['initialCluster', { initialCluster: 'kubernetes-master=https://10.0.0.2:2381' }],
    ['initialCluster', { initialCluster: 'kubernetes-master' }],
    ['initialCluster', { initialCluster: '' }],
    [
      'initialCluster',
      { initialCluster: 'kubernetes-master=https://10.0.0.2:2380,other=https://10.0.0.2:2380' },
    ],
    ['snapshotCount', { snapshotCount: 0 }],
    ['electionTimeoutMs', { heartbeatIntervalMs: 500, electionTimeoutMs: 1000 }],
    ['listenMetricsUrls', { listenMetricsUrls: ['127.0.0.1:2381'] }],
  ] as const)('refuses a bad %s with INVALID_ARGUMENT naming it', (field, change) => {
    const error = refusal({ ...base, ...change } as MemberFlagsOptions);
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.details).toMatchObject({ field });
  });
});

describe('initial cluster values', () => {
  it('round-trips through parse and format', () => {
    const value = 'a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,b=https://[fd00::2]:2380';
    expect(formatInitialCluster(parseInitialCluster(value))).toBe(value);
  });
});
