import { ErrorCode, isHacpError, type NodeConfig, Secret } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import {
  certificatePem,
  etcdProcess,
  replicaNodeConfig,
  sdkReplicaNodeConfig,
} from './fixtures.test-support.js';
import { renderHealthEndpointConfig } from './health-endpoint.js';
import { METADATA_LIMITS } from './layout.js';
import { renderReplicaMetadata } from './metadata.js';
import { renderStartupScript } from './startup-script.js';
import { type ReplicaMetadataOptions, renderStaticPods } from './static-pods.js';

const options = (
  nodeConfig: NodeConfig,
  extra: Partial<ReplicaMetadataOptions> = {},
): ReplicaMetadataOptions => ({
  cluster: 'prod',
  replica: 'prod-master-a1f',
  nodeConfig,
  kubernetesVersion: '1.31.2',
  ...extra,
});

const itemValue = (items: { key: string; value: string }[], key: string) => {
  const item = items.find((entry) => entry.key === key);
  expect(item, key).toBeDefined();
  return item!.value;
};

/** `hacp-files` decoded the way the startup script reads it. */
function decodeFiles(value: string): Map<string, { mode: number; contents: Buffer }> {
  const files = new Map<string, { mode: number; contents: Buffer }>();
  for (const line of value.split('\n')) {
    const match = /^(0[0-7]{3}) (\S+) ([A-Za-z0-9+/=]*)$/.exec(line);
    expect(match, line.slice(0, 40)).not.toBeNull();
    files.set(match![2]!, {
      mode: Number.parseInt(match![1]!, 8),
      contents: Buffer.from(match![3]!, 'base64'),
    });
  }
  return files;
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

describe('renderReplicaMetadata', () => {
  it('renders the items the startup script and the testkit read, in their fixed formats', () => {
    const nodeConfig = sdkReplicaNodeConfig({ kubernetesVersion: 'v1.23.16' });
    const items = renderReplicaMetadata(options(nodeConfig));
    expect(items.map((item) => item.key).sort()).toEqual(
      [
        'hacp-cluster',
        'hacp-containerd-config',
        'hacp-data-disk',
        'hacp-files',
        'hacp-kubernetes-version',
        'hacp-manifests',
        'hacp-registry-hosts',
        'startup-script',
      ].sort(),
    );
    expect(itemValue(items, 'hacp-cluster')).toBe('prod');
    // The NodeConfig's version wins over the provider's (1.31.2 here), without its `v`.
    expect(itemValue(items, 'hacp-kubernetes-version')).toBe('1.23.16');
    expect(itemValue(items, 'startup-script')).toBe(renderStartupScript());
    const manifests = itemValue(items, 'hacp-manifests')
      .split('\n')
      .map((line) => line.split(' '));
    expect(
      manifests.map(([name, data]) => [name, JSON.parse(Buffer.from(data!, 'base64').toString())]),
    ).toEqual(renderStaticPods(options(nodeConfig)).map((pod) => [pod.name, pod.manifest]));
    expect(manifests).toHaveLength(6);
  });

  it("gives the kubelet the NodeConfig's version, else the provider's; a build version keeps its +", () => {
    const version = (nodeConfig: NodeConfig) =>
      itemValue(renderReplicaMetadata(options(nodeConfig)), 'hacp-kubernetes-version');
    expect(version(sdkReplicaNodeConfig({ kubernetesVersion: 'v1.32.0-beta.0.0+cd13ec4ae44e' }))).toBe(
      '1.32.0-beta.0.0+cd13ec4ae44e',
    );
    expect(version(sdkReplicaNodeConfig({ kubernetesVersion: undefined }))).toBe('1.31.2');
    expect(version(replicaNodeConfig().nodeConfig)).toBe('1.31.2');
  });

  it('round-trips every file with its bytes and mode, plus the health endpoint config, secrets only there', () => {
    const { nodeConfig, secrets } = replicaNodeConfig();
    const items = renderReplicaMetadata(options(nodeConfig));
    const files = decodeFiles(itemValue(items, 'hacp-files'));
    for (const file of nodeConfig.files) {
      const contents = file.contents instanceof Secret ? file.contents.reveal() : String(file.contents);
      expect(files.get(file.path)).toEqual({ mode: file.mode, contents: Buffer.from(contents) });
    }
    expect(files.get('pki/etcd/peer.key')?.mode).toBe(0o600);
    expect(files.get('pki/ca.crt')?.mode).toBe(0o644);
    expect(files.get('health/haproxy.cfg')).toEqual({
      mode: 0o644,
      contents: Buffer.from(renderHealthEndpointConfig(nodeConfig)),
    });
    expect(files.size).toBe(nodeConfig.files.length + 1);
    // No other item carries a key, in clear or in base64.
    for (const item of items.filter((entry) => entry.key !== 'hacp-files')) {
      for (const secret of secrets) {
        expect(item.value).not.toContain(secret.split('\n')[1]);
        expect(item.value).not.toContain(Buffer.from(secret).toString('base64').slice(0, 40));
      }
    }
  });

  it('keeps an empty file and unusual bytes intact', () => {
    const nodeConfig: NodeConfig = {
      files: [
        { path: 'empty', mode: 0o600, contents: '' },
        { path: 'conf/notes.txt', mode: 0o640, contents: 'é\n\0 ✓' },
      ],
      processes: [etcdProcess()],
    };
    const files = decodeFiles(itemValue(renderReplicaMetadata(options(nodeConfig)), 'hacp-files'));
    expect(files.get('empty')).toEqual({ mode: 0o600, contents: Buffer.alloc(0) });
    expect(files.get('conf/notes.txt')).toEqual({ mode: 0o640, contents: Buffer.from('é\n\0 ✓') });
  });

  /** Bytes of each item, and of keys plus values together (what GCE counts). */
  function sizes(items: { key: string; value: string }[]): { total: number } & Record<string, number> {
    const result: { total: number } & Record<string, number> = { total: 0 };
    for (const item of items) {
      result[item.key] = Buffer.byteLength(item.value);
      result.total += Buffer.byteLength(item.key) + Buffer.byteLength(item.value);
    }
    return result;
  }

  it('leaves a whole control plane with RSA-4096 keys well within the limits (measured)', () => {
    const ecdsa = sizes(renderReplicaMetadata(options(sdkReplicaNodeConfig())));
    const rsa = sizes(renderReplicaMetadata(options(sdkReplicaNodeConfig({ keys: 'rsa-4096' }))));
    // Measured: ECDSA P-256 about 55 KB in all; RSA-4096 about 131 KB, its hacp-files about 104 KB.
    expect(ecdsa.total).toBeLessThan(METADATA_LIMITS.totalBytes * 0.15);
    expect(rsa.total).toBeLessThan(METADATA_LIMITS.totalBytes * 0.3);
    expect(rsa['hacp-files']).toBeLessThan(METADATA_LIMITS.valueBytes * 0.45);
    // The processes' arguments are in the manifests (base64), and only there.
    expect(rsa['hacp-manifests']).toBeLessThan(METADATA_LIMITS.valueBytes * 0.1);
  });

  it('refuses add-ons that take hacp-files past 256 KiB by a byte, and accepts them a byte short', () => {
    const base = sdkReplicaNodeConfig({ keys: 'rsa-4096' });
    const filesBytes = sizes(renderReplicaMetadata(options(base)))['hacp-files'] as number;
    // One more line: "\n0644 addons/big.yaml <base64>"; base64 takes 4 characters per 3 bytes.
    const room = METADATA_LIMITS.valueBytes - filesBytes - '\n0644 addons/big.yaml '.length;
    const addon = (bytes: number): NodeConfig => ({
      ...base,
      files: [...base.files, { path: 'addons/big.yaml', mode: 0o644, contents: 'x'.repeat(bytes) }],
    });
    const fits = Math.floor(room / 4) * 3;
    const atLimit = sizes(renderReplicaMetadata(options(addon(fits))));
    expect(atLimit['hacp-files']).toBeLessThanOrEqual(METADATA_LIMITS.valueBytes);
    expect(atLimit['hacp-files']).toBeGreaterThan(METADATA_LIMITS.valueBytes - 4);
    expect(refusal(() => renderReplicaMetadata(options(addon(fits + 3))))).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'metadata.hacp-files',
    });
  });

  it('refuses a replica whose items each fit but together pass 512 KiB', () => {
    const base = sdkReplicaNodeConfig({ keys: 'rsa-4096' });
    const withAddons: NodeConfig = {
      ...base,
      files: [...base.files, { path: 'addons/big.yaml', mode: 0o644, contents: 'x'.repeat(110 * 1024) }],
    };
    const before = sizes(renderReplicaMetadata(options(withAddons)));
    // A long argument goes into the manifests, in base64.
    const note = 180 * 1024;
    const bigger: NodeConfig = {
      ...withAddons,
      processes: withAddons.processes.map((process) =>
        process.name === 'kube-scheduler'
          ? { ...process, args: [...process.args, `--v=${'9'.repeat(note)}`] }
          : process,
      ),
    };
    const manifestsBytes = (before['hacp-manifests'] as number) + Math.ceil(((note + 8) * 4) / 3) + 4;
    for (const bytes of [before['hacp-files'] as number, manifestsBytes]) {
      expect(bytes).toBeLessThan(METADATA_LIMITS.valueBytes);
    }
    const others = before.total - (before['hacp-manifests'] as number);
    expect(others + manifestsBytes).toBeGreaterThan(METADATA_LIMITS.totalBytes);
    expect(refusal(() => renderReplicaMetadata(options(bigger)))).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'metadata',
    });
    // The same without the argument is accepted.
    expect(renderReplicaMetadata(options(withAddons))).toHaveLength(8);
  });

  it('refuses a NodeConfig that fails assertNodeConfig, a process without image, and bad names', () => {
    const bad = (nodeConfig: NodeConfig, extra: Partial<ReplicaMetadataOptions> = {}) =>
      refusal(() => renderReplicaMetadata(options(nodeConfig, extra)));
    const cert = certificatePem('x');
    expect(
      bad({ files: [{ path: '../escape', mode: 0o600, contents: cert }], processes: [etcdProcess()] }),
    ).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'files[0].path',
    });
    expect(
      bad({ files: [{ path: 'a', mode: 0o1777, contents: cert }], processes: [etcdProcess()] }).field,
    ).toBe('files[0].mode');
    expect(
      bad({ files: [], processes: [etcdProcess(), { name: 'sh', command: 'bash', args: ['-c', 'true'] }] }),
    ).toEqual({ code: ErrorCode.INVALID_ARGUMENT, field: 'processes.sh.name' });
    expect(
      bad({ files: [{ path: 'health/haproxy.cfg', mode: 0o644, contents: '' }], processes: [etcdProcess()] })
        .field,
    ).toBe('nodeConfig.files');
    expect(bad({ files: [], processes: [] }).field).toBe('nodeConfig.processes');
    expect(bad({ files: [], processes: [etcdProcess()] }, { cluster: 'Prod!' }).field).toBe('cluster');
    expect(bad({ files: [], processes: [etcdProcess()] }, { replica: 'a b' }).field).toBe('replica');
  });
});
