import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { type HacpError, type InstanceRef, isHacpError, type NodeConfig, Secret } from '@hacp/core';
import { isAlive } from '@hacp/core/provider-kit';
import { afterEach, describe, expect, it } from 'vitest';
import examplePlugin from './index.js';
import type { ExampleProvider } from './provider.js';
import {
  echoNodeConfig,
  HEALTH_PORT,
  ProcessLedger,
  readPidFile,
  tempStateDir,
  testCloud,
  waitForListening,
  waitForText,
} from './test-support.js';

const ledger = new ProcessLedger();
const clouds: { provider: ExampleProvider; remove(): Promise<void> }[] = [];
let requests = 0;
const requestId = () => `instances-test-${++requests}`;
const CLUSTER = 'moon';

async function newCloud(
  settings: { stopGraceMs?: number; startCheckMs?: number } = {},
): Promise<ExampleProvider> {
  const cloud = await testCloud(ledger, settings);
  clouds.push(cloud);
  return cloud.provider;
}

/** The error a call throws (the test fails when it succeeds). */
async function failureOf(call: Promise<unknown>): Promise<HacpError> {
  const outcome = await call.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  if (!isHacpError(outcome.error)) throw outcome.error;
  return outcome.error;
}

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** One line to `host:port` and its answer. */
function ask(host: string, port: number, line: string): Promise<string> {
  return new Promise((done, fail) => {
    const socket = net.connect({ host, port });
    socket.setEncoding('utf8');
    socket.setTimeout(3_000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (data: string) => {
      socket.end();
      done(data.trimEnd());
    });
    socket.on('error', fail);
  });
}

async function pidOf(provider: ExampleProvider, instance: string, process: string) {
  return readPidFile(join(provider.stateDir, 'replicas', instance, 'run', `${process}.json`));
}

const idle = (name: string) => ({ name, command: 'sleep', args: ['3600'] });

afterEach(async () => {
  for (const { provider, remove } of clouds.splice(0)) {
    for (const instance of await provider.instances.list({ cluster: CLUSTER }).catch(() => [])) {
      await provider.instances.delete(instance, { requestId: requestId() }).catch(() => undefined);
    }
    await remove();
  }
  expect(ledger.killLeftovers()).toEqual([]);
});

describe('instances', () => {
  it('writes the NodeConfig with its modes, a Secret by value, and runs its processes in the root', async () => {
    const provider = await newCloud();
    const ref = { name: 'moon-master', zone: 'moon-east-a', cluster: CLUSTER };
    const network = await provider.instances.allocateNetwork(ref, { requestId: requestId() });
    expect(network).toEqual({
      internalIp: expect.stringMatching(/^127\.([1-9]|[1-5]\d|6[0-3])\.\d+\.\d+$/),
      hostname: 'moon-master.moon-east-a.example.internal',
      portOffset: 0,
      rootDir: join(provider.stateDir, 'replicas', 'moon-master', 'root'),
    });
    const echo = echoNodeConfig(ref.name, network.internalIp);
    const nodeConfig: NodeConfig = {
      files: [
        ...echo.files,
        { path: 'pki/etcd/ca.crt', mode: 0o644, contents: 'not a real certificate\n' },
        { path: 'pki/etcd/peer.key', mode: 0o600, contents: new Secret('not a real key\n') },
      ],
      processes: echo.processes,
    };
    const instance = await provider.instances.create(
      { ...ref, nodeConfig, labels: { role: 'master' } },
      { requestId: requestId() },
    );
    expect(instance).toMatchObject({
      name: ref.name,
      zone: ref.zone,
      cluster: CLUSTER,
      status: 'running',
      internalIp: network.internalIp,
      hostname: network.hostname,
      labels: { role: 'master', 'hacp-cluster': CLUSTER },
    });

    const root = network.rootDir;
    expect(await readFile(join(root, 'pki/etcd/peer.key'), 'utf8')).toBe('not a real key\n');
    expect(await modeOf(join(root, 'pki/etcd/peer.key'))).toBe(0o600);
    expect(await modeOf(join(root, 'pki/etcd/ca.crt'))).toBe(0o644);
    for (const folder of [root, join(root, 'pki'), join(root, 'pki/etcd'), join(root, 'bin')]) {
      expect(await modeOf(folder)).toBe(0o700);
    }

    // `bin/echo.js` is relative: it ran from the root, and it answers on the instance's own IP.
    await waitForListening(network.internalIp, [6443, 2379, HEALTH_PORT]);
    const reach = await provider.reach(ref, 6443);
    expect(reach).toMatchObject({ host: network.internalIp, port: 6443 });
    expect(await ask(reach.host, reach.port, 'ping')).toBe('moon-master:ping');
    const record = await pidOf(provider, ref.name, 'echo');
    expect(isAlive(record)).toBe(true);
    expect(ledger.records.map((entry) => entry.pid)).toContain(record.pid);
  });

  it('a process that exits at once fails the create, which stops the rest by pid and leaves nothing', async () => {
    // Long enough for node to start and exit on two busy cores; the create fails as soon as it exits.
    const provider = await newCloud({ startCheckMs: 30_000 });
    const ref = { name: 'moon-master', zone: 'moon-east-a', cluster: CLUSTER };
    const before = ledger.records.length;
    const leaky = [
      "console.error('connecting with password=hunter2');",
      "console.error('-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----');",
      'process.exit(3);',
    ].join('\n');
    const error = await failureOf(
      provider.instances.create(
        {
          ...ref,
          nodeConfig: {
            files: [{ path: 'data/keep.txt', mode: 0o600, contents: 'x' }],
            processes: [idle('steady'), { name: 'crash', command: process.execPath, args: ['-e', leaky] }],
          },
        },
        { requestId: requestId() },
      ),
    );
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toMatch(
      /Process crash of instance moon-master exited right after it started \(exit code 3\)/,
    );
    expect(error.message).toContain('password=[redacted]');
    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toContain('MIIEvQIBADAN');
    expect(JSON.stringify(error.details)).not.toContain('hunter2');

    // Both processes it started are dead, and the instance, its folder and its network are gone.
    const started = ledger.records.slice(before);
    expect(started).toHaveLength(2);
    expect(started.filter(isAlive)).toEqual([]);
    expect(await provider.instances.get(ref)).toBeUndefined();
    expect(existsSync(join(provider.stateDir, 'replicas', ref.name))).toBe(false);
    await expect(
      provider.instances.allocateNetwork({ ...ref, cluster: 'another' }, { requestId: requestId() }),
    ).resolves.toMatchObject({ portOffset: 0 });
  });

  it('a command that is not installed is DEPENDENCY_MISSING naming it, before anything is made', async () => {
    const provider = await newCloud();
    const ref = { name: 'moon-master', zone: 'moon-east-a', cluster: CLUSTER };
    const error = await failureOf(
      provider.instances.create(
        {
          ...ref,
          nodeConfig: { files: [], processes: [{ name: 'etcd', command: 'no-such-etcd-here', args: [] }] },
        },
        { requestId: requestId() },
      ),
    );
    expect(error.code).toBe('DEPENDENCY_MISSING');
    expect(error.message).toContain('no-such-etcd-here');
    expect(error.details).toEqual({ program: 'no-such-etcd-here' });
    expect(existsSync(join(provider.stateDir, 'replicas', ref.name))).toBe(false);
  });

  it('a relative command missing from the root fails after the files are written, and is rolled back', async () => {
    const provider = await newCloud();
    const ref = { name: 'moon-master', zone: 'moon-east-b', cluster: CLUSTER };
    const error = await failureOf(
      provider.instances.create(
        {
          ...ref,
          nodeConfig: {
            files: [{ path: 'bin/readme.txt', mode: 0o644, contents: 'no program here\n' }],
            processes: [idle('steady'), { name: 'server', command: 'bin/server', args: [] }],
          },
        },
        { requestId: requestId() },
      ),
    );
    expect(error.code).toBe('DEPENDENCY_MISSING');
    expect(error.message).toContain('bin/server');
    expect(await provider.instances.get(ref)).toBeUndefined();
    expect(existsSync(join(provider.stateDir, 'replicas', ref.name))).toBe(false);
    expect(ledger.alive()).toEqual([]);
  });

  it('delete frees the network of an instance that was never created (a rolled-back add)', async () => {
    const provider = await newCloud();
    const ref = { name: 'moon-master', zone: 'moon-east-a' };
    await provider.instances.allocateNetwork({ ...ref, cluster: CLUSTER }, { requestId: requestId() });
    // Allocated to this cluster and zone, the name is refused to another...
    await expect(
      provider.instances.allocateNetwork(
        { ...ref, zone: 'moon-east-b', cluster: 'other' },
        { requestId: requestId() },
      ),
    ).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });

    await provider.instances.delete(ref, { requestId: requestId() });

    // ...and free again once deleted, though the instance was never created.
    expect(await readdir(join(provider.stateDir, 'networks'))).toEqual([]);
    await expect(
      provider.instances.allocateNetwork(
        { ...ref, zone: 'moon-east-b', cluster: 'other' },
        { requestId: requestId() },
      ),
    ).resolves.toMatchObject({ portOffset: 0 });
  });

  it('is running only while every recorded process runs', async () => {
    const provider = await newCloud();
    const ref = { name: 'moon-master', zone: 'moon-east-a', cluster: CLUSTER };
    await provider.instances.create(
      { ...ref, nodeConfig: { files: [], processes: [idle('one'), idle('two')] } },
      { requestId: requestId() },
    );
    const one = await pidOf(provider, ref.name, 'one');
    const two = await pidOf(provider, ref.name, 'two');
    // Kill by pid, as a crash would: one of two dead is already `terminated`, as is both.
    process.kill(one.pid, 'SIGKILL');
    await waitForExit(one);
    expect((await provider.instances.get(ref))?.status).toBe('terminated');
    process.kill(two.pid, 'SIGKILL');
    await waitForExit(two);
    expect((await provider.instances.get(ref))?.status).toBe('terminated');
  });

  it('stop stops the processes by pid and start runs them again', async () => {
    const provider = await newCloud();
    const ref: InstanceRef = { name: 'moon-master', zone: 'moon-west-b' };
    await provider.instances.create(
      { ...ref, cluster: CLUSTER, nodeConfig: { files: [], processes: [idle('idle')] } },
      { requestId: requestId() },
    );
    const first = await pidOf(provider, ref.name, 'idle');
    await provider.instances.stop(ref, { requestId: requestId() });
    expect(isAlive(first)).toBe(false);
    expect((await provider.instances.get(ref))?.status).toBe('stopped');
    expect(existsSync(join(provider.stateDir, 'replicas', ref.name, 'run', 'idle.json'))).toBe(false);
    // Stopping again is fine.
    await provider.instances.stop(ref, { requestId: requestId() });

    await provider.instances.start(ref, { requestId: requestId() });
    const second = await pidOf(provider, ref.name, 'idle');
    expect(second.pid).not.toBe(first.pid);
    expect(isAlive(second)).toBe(true);
    expect((await provider.instances.get(ref))?.status).toBe('running');
    await expect(
      provider.instances.stop({ name: 'moon-master-abc', zone: 'moon-west-b' }, { requestId: requestId() }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('delete kills a process that ignores SIGTERM once stopGraceMs has passed', async () => {
    const provider = await newCloud({ stopGraceMs: 800 });
    const ref: InstanceRef = { name: 'moon-master', zone: 'moon-east-c' };
    const stubborn = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready');";
    await provider.instances.create(
      {
        ...ref,
        cluster: CLUSTER,
        nodeConfig: {
          files: [],
          processes: [{ name: 'stubborn', command: process.execPath, args: ['-e', stubborn] }],
        },
      },
      { requestId: requestId() },
    );
    const record = await pidOf(provider, ref.name, 'stubborn');
    // Its SIGTERM handler is in place once it says so.
    await waitForText(join(provider.stateDir, 'replicas', ref.name, 'logs', 'stubborn.log'), 'ready');
    const started = Date.now();
    await provider.instances.delete(ref, { requestId: requestId() });
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(isAlive(record)).toBe(false);
    expect(existsSync(join(provider.stateDir, 'replicas', ref.name))).toBe(false);
  });

  it('delete with keepDisk keeps the root, and a later delete without it removes the root', async () => {
    const provider = await newCloud();
    const ref: InstanceRef = { name: 'moon-master', zone: 'moon-east-a' };
    await provider.instances.create(
      {
        ...ref,
        cluster: CLUSTER,
        nodeConfig: {
          files: [{ path: 'etcd-data/member', mode: 0o600, contents: 'wal' }],
          processes: [idle('idle')],
        },
      },
      { requestId: requestId() },
    );
    const record = await pidOf(provider, ref.name, 'idle');
    const root = join(provider.stateDir, 'replicas', ref.name, 'root');
    await provider.instances.delete(ref, { requestId: requestId(), keepDisk: true });
    expect(isAlive(record)).toBe(false);
    expect(await provider.instances.get(ref)).toBeUndefined();
    expect(await readFile(join(root, 'etcd-data/member'), 'utf8')).toBe('wal');
    await provider.instances.delete(ref, { requestId: requestId() });
    expect(existsSync(root)).toBe(false);
  });

  it('made by the plugin with an empty host env, it still finds bare commands on PATH', async () => {
    const stateDir = await tempStateDir();
    const provider = (await examplePlugin.create({
      stateDir,
      env: {},
      logger: ledger.logger,
    })) as ExampleProvider;
    clouds.push({ provider, remove: () => rm(stateDir, { recursive: true, force: true }) });
    const instance = await provider.instances.create(
      {
        name: 'moon-master',
        zone: 'moon-east-a',
        cluster: CLUSTER,
        nodeConfig: { files: [], processes: [idle('idle')] },
      },
      { requestId: requestId() },
    );
    expect(instance.status).toBe('running');
  });

  it('create of an existing instance returns it only for the same spec', async () => {
    const provider = await newCloud();
    const spec = {
      name: 'moon-master',
      zone: 'moon-east-a',
      cluster: CLUSTER,
      nodeConfig: { files: [], processes: [idle('idle')] },
    };
    const first = await provider.instances.create(spec, { requestId: requestId() });
    const again = await provider.instances.create(spec, { requestId: requestId() });
    expect(again).toEqual(first);
    const other = await failureOf(
      provider.instances.create(
        { ...spec, nodeConfig: { files: [], processes: [idle('other')] } },
        { requestId: requestId() },
      ),
    );
    expect(other.code).toBe('ALREADY_EXISTS');
    const elsewhere = await failureOf(
      provider.instances.create({ ...spec, zone: 'moon-east-b' }, { requestId: requestId() }),
    );
    expect(elsewhere.code).toBe('ALREADY_EXISTS');
  });
});

async function waitForExit(record: { pid: number; startTime?: string; command: string; startedAt: string }) {
  const deadline = Date.now() + 5_000;
  while (isAlive(record) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
  expect(isAlive(record)).toBe(false);
}
