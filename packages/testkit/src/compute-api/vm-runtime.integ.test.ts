import { randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, waitUntil } from '@hacp/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAlive } from '../processes.js';
import { createRecordingLogger, type LogRecord, type RecordingLogger } from '../recording-logger.js';
import { createVmRuntime, probeHttp, type VmRuntime, type VmSpec } from './vm-runtime.js';

const ROOT = '/mnt/disks/master-pd';
const ZONE = 'europe-west1-b';

/** A random 127.x.y.z address, away from 127.0.0.1 and the Compute server's 127.100-199 pools. */
function randomLoopbackIp(): string {
  return `127.${randomInt(200, 250)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

/** The `hacp-files` item: one `<mode> <path> <base64>` line per file. */
function filesItem(files: { path: string; mode: number; contents: string }[]): string {
  return files
    .map(
      (f) => `${f.mode.toString(8).padStart(4, '0')} ${f.path} ${Buffer.from(f.contents).toString('base64')}`,
    )
    .join('\n');
}

function nodeConfigItem(
  processes: { name: string; command: string; args: string[]; env?: Record<string, string> }[],
) {
  return JSON.stringify({ format: 1, rootDir: ROOT, processes });
}

/** A single-member etcd over plain http on `ip`, its data under the node's rootDir. */
function etcdProcess(ip: string) {
  return {
    name: 'etcd',
    command: 'etcd',
    args: [
      '--name=n1',
      `--data-dir=${ROOT}/etcd-data`,
      `--listen-client-urls=http://${ip}:2379`,
      `--advertise-client-urls=http://${ip}:2379`,
      `--listen-peer-urls=http://${ip}:2380`,
      `--initial-advertise-peer-urls=http://${ip}:2380`,
      `--initial-cluster=n1=http://${ip}:2380`,
      `--listen-metrics-urls=http://${ip}:2381`,
    ],
    ports: { client: 2379, peer: 2380, metrics: 2381 },
  };
}

/** A process that stays up doing nothing (a stand-in where etcd is beside the point). */
function idleProcess(name: string, script = 'setInterval(() => {}, 1000);') {
  return { name, command: process.execPath, args: ['-e', script] };
}

const PEER_KEY = '-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n';

function etcdVm(options: { name: string; ip: string; disk?: string }): VmSpec {
  return {
    name: options.name,
    zone: ZONE,
    networkIP: options.ip,
    metadata: {
      'hacp-cluster': 'c1',
      'hacp-files': filesItem([
        { path: 'pki/etcd/peer.key', mode: 0o600, contents: PEER_KEY },
        { path: 'pki/etcd/ca.crt', mode: 0o644, contents: 'ca' },
      ]),
      'hacp-node-config': nodeConfigItem([etcdProcess(options.ip)]),
    },
    disks: [
      { name: `${options.name}-boot`, deviceName: 'persistent-disk-0', boot: true },
      ...(options.disk === undefined ? [] : [{ name: options.disk, deviceName: 'master-pd', boot: false }]),
    ],
  };
}

async function waitForHealth(ip: string, healthy: boolean): Promise<void> {
  await waitUntil({
    description: `etcd on ${ip} to be ${healthy ? 'healthy' : 'down'}`,
    timeoutMs: 20_000,
    minDelayMs: 50,
    maxDelayMs: 200,
    check: async () =>
      (await probeHttp(`http://${ip}:2381/health`)) === healthy
        ? { done: true, value: undefined }
        : { done: false },
  });
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Writes a key through etcd's JSON gateway (no extra process needed). */
async function etcdPut(ip: string, key: string, value: string): Promise<void> {
  const response = await fetch(`http://${ip}:2379/v3/kv/put`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(key), value: b64(value) }),
  });
  expect(response.status).toBe(200);
}

async function etcdGet(ip: string, key: string): Promise<string | undefined> {
  const response = await fetch(`http://${ip}:2379/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(key) }),
  });
  const body = (await response.json()) as { kvs?: { value: string }[] };
  const value = body.kvs?.[0]?.value;
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString();
}

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('createVmRuntime', () => {
  let dir: string;
  let logger: RecordingLogger;
  let runtime: VmRuntime;
  /** Every pid seen, killed by pid after each test whatever happened. */
  const seen = new Set<number>();
  const pidsNow = () => {
    const pids = runtime.pids();
    for (const pid of pids) seen.add(pid);
    return pids;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-vm-runtime-'));
    logger = createRecordingLogger();
    runtime = createVmRuntime({ dir, logger });
  });

  afterEach(async () => {
    pidsNow();
    await runtime.close();
    for (const pid of seen) {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    seen.clear();
    rmSync(dir, { recursive: true, force: true });
  });

  it('boots, stops, starts and removes a VM running etcd on its persistent disk', async () => {
    const ip = randomLoopbackIp();
    const vm = etcdVm({ name: 'cp-1', ip, disk: 'cp-1-pd' });
    const disk = join(dir, 'disks', ZONE, 'cp-1-pd');
    const vmFolder = join(dir, 'vms', ZONE, 'cp-1');

    await runtime.boot(vm);
    await waitForHealth(ip, true);
    const [firstPid, ...others] = pidsNow();
    expect(others).toEqual([]);
    expect(modeOf(join(disk, 'pki/etcd/peer.key'))).toBe(0o600);
    expect(readFileSync(join(disk, 'pki/etcd/peer.key'), 'utf8')).toBe(PEER_KEY);
    expect(modeOf(join(disk, 'pki/etcd/ca.crt'))).toBe(0o644);
    expect(modeOf(join(disk, 'pki'))).toBe(0o700);
    // etcd got the disk folder in place of /mnt/disks/master-pd.
    expect(existsSync(join(disk, 'etcd-data', 'member'))).toBe(true);
    expect(existsSync(join(vmFolder, 'etcd.log'))).toBe(true);
    expect(existsSync(join(vmFolder, 'root'))).toBe(false);

    await runtime.boot(vm);
    expect(pidsNow()).toEqual([firstPid]);
    await etcdPut(ip, 'hacp/greeting', 'hello');

    await runtime.stop('cp-1', ZONE);
    expect(await probeHttp(`http://${ip}:2381/health`)).toBe(false);
    expect(isAlive(firstPid as number)).toBe(false);
    expect(pidsNow()).toEqual([]);
    expect(existsSync(join(disk, 'pki/etcd/peer.key'))).toBe(true);

    // Like the startup script, a start rewrites the files from metadata.
    writeFileSync(join(disk, 'pki/etcd/peer.key'), 'tampered', { mode: 0o666 });
    await runtime.start('cp-1', ZONE);
    await waitForHealth(ip, true);
    const [secondPid] = pidsNow();
    expect(secondPid).not.toBe(firstPid);
    expect(readFileSync(join(disk, 'pki/etcd/peer.key'), 'utf8')).toBe(PEER_KEY);
    expect(modeOf(join(disk, 'pki/etcd/peer.key'))).toBe(0o600);
    expect(await etcdGet(ip, 'hacp/greeting')).toBe('hello');

    await runtime.remove('cp-1', ZONE);
    expect(pidsNow()).toEqual([]);
    expect(isAlive(secondPid as number)).toBe(false);
    expect(existsSync(vmFolder)).toBe(false);
    expect(existsSync(join(disk, 'etcd-data', 'member'))).toBe(true);
    await expect(runtime.start('cp-1', ZONE)).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });

    // A replacement VM attaching the same disk finds the data.
    await runtime.boot(etcdVm({ name: 'cp-1-new', ip, disk: 'cp-1-pd' }));
    await waitForHealth(ip, true);
    expect(await etcdGet(ip, 'hacp/greeting')).toBe('hello');
    expect(existsSync(join(dir, 'vms', ZONE, 'cp-1-new', 'etcd.log'))).toBe(true);
    // Stops on request are not crashes.
    expect(logger.records.filter((r) => r.message === 'VM process exited')).toEqual([]);
  });

  it('close() stops every VM by pid and refuses later boots', async () => {
    const ips = [randomLoopbackIp(), randomLoopbackIp()];
    await Promise.all(ips.map((ip, index) => runtime.boot(etcdVm({ name: `cp-${index + 1}`, ip }))));
    await Promise.all(ips.map((ip) => waitForHealth(ip, true)));
    const pids = pidsNow();
    expect(pids).toHaveLength(2);
    // Without a master-pd disk, the rootDir is the VM's own folder.
    expect(existsSync(join(dir, 'vms', ZONE, 'cp-1', 'root', 'etcd-data', 'member'))).toBe(true);

    await runtime.close();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(runtime.pids()).toEqual([]);
    await expect(runtime.boot(etcdVm({ name: 'cp-3', ip: randomLoopbackIp() }))).rejects.toMatchObject({
      code: ErrorCode.UNAVAILABLE,
    });
  });

  it('replaces the rootDir in args and env only where a path starts', async () => {
    const script =
      "require('fs').writeFileSync(process.argv[1], JSON.stringify({ argv: process.argv.slice(2), env: " +
      '[process.env.LIST, process.env.OTHER] })); setInterval(() => {}, 1000);';
    await runtime.boot({
      name: 'cp-1',
      zone: ZONE,
      networkIP: randomLoopbackIp(),
      metadata: {
        'hacp-node-config': nodeConfigItem([
          {
            name: 'echo',
            command: process.execPath,
            args: [
              '-e',
              script,
              `${ROOT}/seen.json`,
              `--data-dir=${ROOT}/etcd`,
              `${ROOT}-2/x`,
              ROOT,
              `/x${ROOT}`,
            ],
            env: { LIST: `${ROOT}/a:${ROOT},${ROOT}`, OTHER: `${ROOT}x` },
          },
        ]),
      },
      disks: [],
    });
    pidsNow();
    const root = join(dir, 'vms', ZONE, 'cp-1', 'root');
    const seenFile = join(root, 'seen.json');
    await waitUntil({
      description: 'the process to write what it got',
      timeoutMs: 10_000,
      minDelayMs: 20,
      check: () => (existsSync(seenFile) ? { done: true, value: undefined } : { done: false }),
    });
    expect(JSON.parse(readFileSync(seenFile, 'utf8'))).toEqual({
      argv: [`--data-dir=${root}/etcd`, `${ROOT}-2/x`, root, `/x${ROOT}`],
      env: [`${root}/a:${root},${root}`, `${ROOT}x`],
    });
  });

  it('boots a VM without a missing command, and tells why', async () => {
    await runtime.boot({
      name: 'cp-1',
      zone: ZONE,
      networkIP: randomLoopbackIp(),
      metadata: {
        'hacp-node-config': nodeConfigItem([
          { name: 'kube-apiserver', command: 'hacp-no-such-command', args: [] },
          idleProcess('health'),
        ]),
      },
      disks: [],
    });
    expect(pidsNow()).toHaveLength(1);
    expect(logger.records).toContainEqual(
      expect.objectContaining({
        level: 'error',
        fields: expect.objectContaining({ process: 'kube-apiserver', command: 'hacp-no-such-command' }),
      }),
    );
    expect(existsSync(join(dir, 'vms', ZONE, 'cp-1', 'health.log'))).toBe(true);
  });

  it('logs a VM process that exits by itself', async () => {
    await runtime.boot({
      name: 'cp-1',
      zone: ZONE,
      networkIP: randomLoopbackIp(),
      metadata: { 'hacp-node-config': nodeConfigItem([idleProcess('crasher', 'process.exit(3);')]) },
      disks: [],
    });
    pidsNow();
    const crash = await waitUntil<LogRecord>({
      description: 'the crash to be logged',
      timeoutMs: 10_000,
      minDelayMs: 20,
      check: () => {
        const record = logger.records.find((r) => r.message === 'VM process exited');
        return record ? { done: true, value: record } : { done: false };
      },
    });
    expect(crash.fields).toMatchObject({ vm: 'cp-1', process: 'crasher', code: 3 });
    expect(runtime.pids()).toEqual([]);
  });

  it.each([
    [
      'an unknown format',
      { 'hacp-node-config': JSON.stringify({ format: 2, rootDir: ROOT, processes: [] }) },
      /format 2/,
    ],
    ['a node config that is not JSON', { 'hacp-node-config': '{format: 1' }, /not JSON/],
    ['a file path that climbs out', { 'hacp-files': '0600 ../escape.key AAAA' }, /line 1/],
    ['a mode that is not octal', { 'hacp-files': '0600 ok.txt AAAA\n0689 bad.txt AAAA' }, /line 2/],
  ])('boots a VM with nothing on it for %s, and logs why', async (_, items, why) => {
    await runtime.boot({
      name: 'cp-1',
      zone: ZONE,
      networkIP: randomLoopbackIp(),
      metadata: {
        'hacp-files': filesItem([{ path: 'pki/ca.crt', mode: 0o644, contents: 'ca' }]),
        'hacp-node-config': nodeConfigItem([idleProcess('health')]),
        ...items,
      },
      disks: [],
    });
    expect(pidsNow()).toEqual([]);
    expect(existsSync(join(dir, 'vms', ZONE, 'cp-1', 'root', 'pki'))).toBe(false);
    expect(existsSync(join(dir, 'escape.key'))).toBe(false);
    const problem = logger.records.find((r) => r.level === 'error')?.fields?.problem;
    expect(problem).toMatch(why);
  });

  it('boots a VM without a node configuration with its files and no processes', async () => {
    await runtime.boot({
      name: 'cp-1',
      zone: ZONE,
      networkIP: randomLoopbackIp(),
      metadata: {
        'hacp-files': filesItem([{ path: 'health/haproxy.cfg', mode: 0o640, contents: 'global\n' }]),
      },
      disks: [],
    });
    expect(pidsNow()).toEqual([]);
    expect(modeOf(join(dir, 'vms', ZONE, 'cp-1', 'root', 'health/haproxy.cfg'))).toBe(0o640);
  });

  it('kills a process that ignores SIGTERM after the grace period', async () => {
    // The process says when its SIGTERM handler is installed (a busy machine may take a while).
    const ready = join(dir, 'stubborn-ready');
    await runtime.boot({
      name: 'cp-1',
      zone: ZONE,
      networkIP: randomLoopbackIp(),
      metadata: {
        'hacp-node-config': nodeConfigItem([
          idleProcess(
            'stubborn',
            `process.on('SIGTERM', () => {}); require('node:fs').writeFileSync(${JSON.stringify(ready)}, ''); setInterval(() => {}, 1000);`,
          ),
        ]),
      },
      disks: [],
    });
    const [pid] = pidsNow();
    await waitUntil({
      description: 'the process to install its SIGTERM handler',
      timeoutMs: 60_000,
      check: () => (existsSync(ready) ? { done: true, value: true } : { done: false }),
    });
    const started = Date.now();
    await runtime.stop('cp-1', ZONE);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
    expect(isAlive(pid as number)).toBe(false);
  });

  it('refuses names that are not GCE resource names, which would make paths', async () => {
    await expect(
      runtime.boot({ name: '../cp-1', zone: ZONE, networkIP: '127.0.0.2', metadata: {}, disks: [] }),
    ).rejects.toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});

describe('probeHttp', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('is true for 200 and false for any other status', async () => {
    const url = await serve((request, response) => {
      response.statusCode = request.url === '/healthz' ? 200 : 503;
      response.end('ok');
    });
    expect(await probeHttp(`${url}/healthz`)).toBe(true);
    expect(await probeHttp(`${url}/other`)).toBe(false);
  });

  it('is false when nothing listens, the answer is late, or the URL is not http', async () => {
    const url = await serve(() => {
      // never answers
    });
    const started = Date.now();
    expect(await probeHttp(url, 300)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await probeHttp(`http://${randomLoopbackIp()}:1/`)).toBe(false);
    expect(await probeHttp('ftp://127.0.0.1/')).toBe(false);
    expect(await probeHttp('not a url')).toBe(false);
  });
});
