import { ErrorCode, isHacpError, type NodeConfig, Secret } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { certificatePem, etcdProcess, replicaNodeConfig } from './fixtures.test-support.js';
import { renderHealthEndpointConfig } from './health-endpoint.js';
import { METADATA_LIMITS, NODE_CONFIG_FORMAT, REPLICA_ROOT_DIR } from './layout.js';
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
    const { nodeConfig } = replicaNodeConfig();
    const items = renderReplicaMetadata(options(nodeConfig));
    expect(items.map((item) => item.key).sort()).toEqual(
      [
        'hacp-cluster',
        'hacp-files',
        'hacp-kubernetes-version',
        'hacp-manifests',
        'hacp-node-config',
        'startup-script',
      ].sort(),
    );
    expect(itemValue(items, 'hacp-cluster')).toBe('prod');
    expect(itemValue(items, 'hacp-kubernetes-version')).toBe('1.31.2');
    expect(itemValue(items, 'startup-script')).toBe(renderStartupScript());
    expect(JSON.parse(itemValue(items, 'hacp-node-config'))).toEqual({
      format: NODE_CONFIG_FORMAT,
      rootDir: REPLICA_ROOT_DIR,
      processes: nodeConfig.processes.map((process) => ({
        name: process.name,
        command: process.command,
        args: process.args,
        ...(process.env ? { env: process.env } : {}),
        ports: process.ports,
      })),
    });
    const manifests = itemValue(items, 'hacp-manifests')
      .split('\n')
      .map((line) => line.split(' '));
    expect(
      manifests.map(([name, data]) => [name, JSON.parse(Buffer.from(data!, 'base64').toString())]),
    ).toEqual(renderStaticPods(options(nodeConfig)).map((pod) => [pod.name, pod.manifest]));
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

  it('refuses what would exceed GCE metadata limits: one value, and the total', () => {
    const big = (path: string, bytes: number) => ({ path, mode: 0o644, contents: 'x'.repeat(bytes) });
    // base64 grows 4/3: 200 KiB of contents is more than 256 KiB in hacp-files.
    const oneValue = { files: [big('big', 200 * 1024)], processes: [etcdProcess()] };
    expect(refusal(() => renderReplicaMetadata(options(oneValue)))).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'metadata.hacp-files',
    });
    // Every value under 256 KiB (files ~200 KiB, node config ~150 KiB, manifests ~200 KiB), not the sum.
    const huge = 'a'.repeat(150 * 1024);
    const total = {
      files: [big('big', 150 * 1024)],
      processes: [{ ...etcdProcess(), args: [...etcdProcess().args, `--experimental-note=${huge}`] }],
    };
    expect(Buffer.byteLength(JSON.stringify(total.processes))).toBeLessThan(METADATA_LIMITS.valueBytes);
    const error = refusal(() => renderReplicaMetadata(options(total)));
    expect(error).toEqual({ code: ErrorCode.INVALID_ARGUMENT, field: 'metadata' });
    // Well within both: accepted.
    const fits = { files: [big('big', 100 * 1024)], processes: [etcdProcess()] };
    expect(renderReplicaMetadata(options(fits)).length).toBe(6);
  });

  it('refuses a NodeConfig that fails assertNodeConfig, a command without image, and bad names', () => {
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
    ).toEqual({ code: ErrorCode.INVALID_ARGUMENT, field: 'processes.sh.command' });
    expect(
      bad({ files: [{ path: 'health/haproxy.cfg', mode: 0o644, contents: '' }], processes: [etcdProcess()] })
        .field,
    ).toBe('nodeConfig.files');
    expect(bad({ files: [], processes: [] }).field).toBe('nodeConfig.processes');
    expect(bad({ files: [], processes: [etcdProcess()] }, { cluster: 'Prod!' }).field).toBe('cluster');
    expect(bad({ files: [], processes: [etcdProcess()] }, { replica: 'a b' }).field).toBe('replica');
  });
});
