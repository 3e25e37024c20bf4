import { describe, expect, it } from 'vitest';
import { type HacpError, isHacpError } from './errors.js';
import { assertNodeConfig, type NodeConfig, type NodeFile, type NodeProcess } from './node-config.js';
import { Secret } from './redact.js';

function validConfig(): NodeConfig {
  return {
    files: [
      { path: 'pki/etcd/ca.crt', mode: 0o644, contents: '-----BEGIN CERTIFICATE-----...' },
      { path: 'pki/etcd/peer.key', mode: 0o600, contents: new Secret('-----BEGIN PRIVATE KEY-----...') },
      { path: 'etcd.env', mode: 0o644, contents: 'ETCD_NAME=kubernetes-master\n' },
    ],
    processes: [
      {
        name: 'etcd',
        command: 'etcd',
        args: ['--cert-file', 'pki/etcd/peer.crt'],
        ports: { client: 2379, peer: 2380 },
      },
      {
        name: 'kube-apiserver',
        command: '/usr/local/bin/kube-apiserver',
        args: [],
        env: { GOMAXPROCS: '2' },
      },
      { name: 'health', command: 'hacp-health', args: ['--port', '8080'] },
    ],
  };
}

function withFile(index: number, change: Partial<NodeFile>): NodeConfig {
  const config = validConfig();
  const files = config.files.map((file, i) => (i === index ? { ...file, ...change } : file));
  return { ...config, files };
}

function withProcess(index: number, change: Partial<NodeProcess>): NodeConfig {
  const config = validConfig();
  const processes = config.processes.map((process, i) => (i === index ? { ...process, ...change } : process));
  return { ...config, processes };
}

/** Runs assertNodeConfig and returns the HacpError it threw, failing the test when it did not throw. */
function rejection(config: NodeConfig): HacpError {
  try {
    assertNodeConfig(config);
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected assertNodeConfig to throw');
}

describe('assertNodeConfig', () => {
  it('accepts a valid config', () => {
    expect(() => assertNodeConfig(validConfig())).not.toThrow();
  });

  it('accepts an empty config and dotted file names', () => {
    expect(() => assertNodeConfig({ files: [], processes: [] })).not.toThrow();
    expect(() =>
      assertNodeConfig({ files: [{ path: '.hidden/a..b.conf', mode: 0o600, contents: '' }], processes: [] }),
    ).not.toThrow();
  });

  it.each([
    ['an absolute path', '/etc/kubernetes/pki/ca.key'],
    ['a leading ..', '../x'],
    ['a .. in the middle', 'a/../b'],
    ['a trailing ..', 'a/..'],
    ['a leading .', './a'],
    ['a . in the middle', 'a/./b'],
    ['an empty path', ''],
    ['a trailing slash', 'pki/'],
    ['an empty segment', 'pki//ca.crt'],
    ['a space', 'pki/ca key.pem'],
    ['a backslash', 'pki\\ca.key'],
  ])('rejects %s with INVALID_ARGUMENT on files[i].path', (_why, path) => {
    const error = rejection(withFile(1, { path }));

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toEqual({ field: 'files[1].path', value: path });
  });

  it('rejects a duplicate path, naming the second one', () => {
    const error = rejection(withFile(2, { path: 'pki/etcd/ca.crt' }));

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toEqual({ field: 'files[2].path', value: 'pki/etcd/ca.crt' });
    expect(error.message).toContain('twice');
  });

  it.each([0o1777, 0o4755, -1, 1.5, Number.NaN])('rejects mode %s', (mode) => {
    const error = rejection(withFile(0, { mode }));

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('files[0].mode');
  });

  it('accepts modes 0 and 0o777', () => {
    expect(() => assertNodeConfig(withFile(0, { mode: 0 }))).not.toThrow();
    expect(() => assertNodeConfig(withFile(0, { mode: 0o777 }))).not.toThrow();
  });

  it('rejects a duplicate process name, naming the second one', () => {
    const error = rejection(withProcess(2, { name: 'etcd' }));

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toEqual({ field: 'processes[2].name', value: 'etcd' });
  });

  it.each(['', 'Etcd', 'kube_apiserver', '1etcd'])('rejects the process name "%s"', (name) => {
    const error = rejection(withProcess(1, { name }));

    expect(error.details.field).toBe('processes[1].name');
  });

  it('rejects an empty command', () => {
    const error = rejection(withProcess(1, { command: '' }));

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details).toEqual({ field: 'processes[1].command' });
    expect(error.message).toContain('kube-apiserver');
  });
});
