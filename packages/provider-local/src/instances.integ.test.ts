import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ErrorCode, type HacpError, isHacpError, type NodeConfig, Secret } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { listeningPorts } from './network.js';
import { isAlive } from './processes.js';
import { createLocalProvider, type LocalProvider } from './provider.js';
import { etcdctlTls, etcdNodeConfigs, tempStateDir } from './test-support.js';

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let request = 0;
const op = () => ({ requestId: `inst-${++request}` });

/** A provider on a fresh state folder; afterEach deletes every instance and address it made. */
async function freshProvider(settings: Parameters<typeof createLocalProvider>[0] = {}) {
  const temp = await tempStateDir();
  const provider = createLocalProvider({ stateDir: temp.dir, stopGraceMs: 3_000, ...settings });
  cleanups.push(async () => {
    await deleteEverything(provider, temp.dir);
    await temp.remove();
  });
  return { provider, dir: temp.dir };
}

async function deleteEverything(provider: LocalProvider, dir: string): Promise<void> {
  const names = await readdir(join(dir, 'local', 'instances')).catch(() => [] as string[]);
  for (const name of names) {
    const body = JSON.parse(await readFile(join(dir, 'local', 'instances', name), 'utf8'));
    await provider.instances.delete({ name: body.name, zone: body.zone }, op());
  }
  for (const name of await readdir(join(dir, 'local', 'addresses')).catch(() => [] as string[])) {
    const body = JSON.parse(await readFile(join(dir, 'local', 'addresses', name), 'utf8'));
    if (body.holder?.kind === 'instance') await provider.addresses.detach(body, op());
    await provider.addresses.release(body, op());
  }
}

const idle = (extra: Partial<NodeConfig> = {}): NodeConfig => ({
  files: [],
  processes: [{ name: 'idle', command: 'sleep', args: ['3600'] }],
  ...extra,
});

async function caught(promise: Promise<unknown>): Promise<HacpError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!isHacpError(error)) throw new Error(`expected a HacpError, got ${String(error)}`);
  return error;
}

/** Every file under `dir` with its bytes and mode, to prove a refusal changed nothing. */
async function snapshotOf(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[path] = `${((await stat(path)).mode & 0o777).toString(8)} ${await readFile(path, 'utf8')}`;
  }
  return files;
}

const cluster = () => `inst-${randomBytes(3).toString('hex')}`;

describe('instances', () => {
  it('materialises the NodeConfig under the allocated root: files with their modes, folders 0700', async () => {
    const { provider, dir } = await freshProvider();
    const name = `${cluster()}-master`;
    const network = await provider.instances.allocateNetwork(
      { name, zone: 'local-a', cluster: 'files' },
      op(),
    );

    await provider.instances.create(
      {
        name,
        zone: 'local-a',
        cluster: 'files',
        nodeConfig: idle({
          files: [
            { path: 'pki/etcd/peer.key', mode: 0o600, contents: new Secret('not-a-real-key') },
            { path: 'pki/etcd/peer.crt', mode: 0o644, contents: 'certificate' },
          ],
        }),
      },
      op(),
    );

    expect(network.rootDir).toBe(join(dir, 'replicas', name, 'root'));
    expect(await readFile(join(network.rootDir, 'pki/etcd/peer.key'), 'utf8')).toBe('not-a-real-key');
    expect((await stat(join(network.rootDir, 'pki/etcd/peer.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(network.rootDir, 'pki/etcd/peer.crt'))).mode & 0o777).toBe(0o644);
    for (const folder of ['', 'replicas', `replicas/${name}`, `replicas/${name}/root/pki/etcd`]) {
      expect(((await stat(join(dir, folder))).mode & 0o777).toString(8)).toBe('700');
    }
    // The instance record keeps a digest of the files, never their contents.
    expect(await readFile(join(dir, 'local', 'instances', `${name}.json`), 'utf8')).not.toContain(
      'not-a-real-key',
    );
  });

  it('leaves the mode of an existing state folder alone and makes every folder inside it 0700', async () => {
    const { provider, dir } = await freshProvider();
    await chmod(dir, 0o755);
    const ref = { name: `${cluster()}-master`, zone: 'local-a' };

    await provider.instances.create({ ...ref, cluster: 'modes', nodeConfig: idle() }, op());
    await provider.state.put('clusters/modes', { ok: true }, { ...op(), expectedVersion: 0 });

    expect((await stat(dir)).mode & 0o777).toBe(0o755);
    for (const folder of [
      'local',
      'state',
      'replicas',
      `replicas/${ref.name}/run`,
      `replicas/${ref.name}/logs`,
    ]) {
      expect(((await stat(join(dir, folder))).mode & 0o777).toString(8)).toBe('700');
    }
  });

  it('keeps its processes running after the process that created them has exited, until deleted', async () => {
    const { provider, dir } = await freshProvider();
    const name = `${cluster()}-master`;
    const script = fileURLToPath(new URL('./outlive.fixture.mjs', import.meta.url));

    const child = spawn(process.execPath, [script, dir, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const [idleProcess] = await provider.processes({ name, zone: 'local-a' });

    expect(exitCode).toBe(0);
    expect(idleProcess?.running).toBe(true);
    const statLine = await readFile(`/proc/${idleProcess?.pid}/stat`, 'utf8');
    const [, , pgrp, session] = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
    // Its own process group and session: a terminal's Ctrl-C or hang-up does not reach it.
    expect(Number(pgrp)).toBe(idleProcess?.pid);
    expect(Number(session)).toBe(idleProcess?.pid);

    await provider.instances.delete({ name, zone: 'local-a' }, op());

    expect(isAlive({ pid: idleProcess?.pid as number, command: 'sleep', startedAt: '' })).toBe(false);
    await expect(stat(join(dir, 'replicas', name))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await provider.instances.get({ name, zone: 'local-a' })).toBeUndefined();
  });

  it('rolls back a create whose process exits at once: UNAVAILABLE with its log, nothing left', async () => {
    const { provider, dir } = await freshProvider();
    const name = `${cluster()}-master`;

    const error = await caught(
      provider.instances.create(
        {
          name,
          zone: 'local-a',
          cluster: 'rollback',
          nodeConfig: {
            files: [{ path: 'config.yaml', mode: 0o644, contents: 'x: 1' }],
            processes: [
              { name: 'first', command: 'sleep', args: ['3600'] },
              { name: 'broken', command: 'sh', args: ['-c', 'echo "bad flag --nope" >&2; exit 3'] },
            ],
          },
        },
        op(),
      ),
    );

    expect(error.code).toBe(ErrorCode.UNAVAILABLE);
    expect(error.message).toContain('bad flag --nope');
    expect(error.message).toContain('exit code 3');
    expect(await provider.instances.get({ name, zone: 'local-a' })).toBeUndefined();
    expect(await provider.instances.list({ cluster: 'rollback' })).toEqual([]);
    await expect(stat(join(dir, 'replicas', name))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(join(dir, 'local', 'networks'))).toEqual([]);
    // The process that had started is stopped again: nothing of this instance runs.
    const { stdout } = await run('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(join(dir, 'replicas', name));
  });

  it('stops and starts an instance: the processes end, then run again with new pids', async () => {
    const { provider } = await freshProvider();
    const ref = { name: `${cluster()}-master`, zone: 'local-b' };
    await provider.instances.create({ ...ref, cluster: 'stopstart', nodeConfig: idle() }, op());
    const [before] = await provider.processes(ref);

    await provider.instances.stop(ref, op());
    const stopped = await provider.instances.get(ref);
    await provider.instances.start(ref, op());
    const [after] = await provider.processes(ref);

    expect(stopped?.status).toBe('stopped');
    expect(isAlive({ pid: before?.pid as number, command: 'sleep', startedAt: '' })).toBe(false);
    expect((await provider.instances.get(ref))?.status).toBe('running');
    expect(after?.running).toBe(true);
    expect(after?.pid).not.toBe(before?.pid);
  });

  it('keeps the data folder on delete with keepDisk, for a replacement to migrate', async () => {
    const { provider, dir } = await freshProvider();
    const ref = { name: `${cluster()}-master`, zone: 'local-a' };
    await provider.instances.create(
      {
        ...ref,
        cluster: 'keepdisk',
        nodeConfig: idle({ files: [{ path: 'etcd-data/marker', mode: 0o600, contents: 'data' }] }),
      },
      op(),
    );

    await provider.instances.delete(ref, { ...op(), keepDisk: true });

    expect(await readFile(join(dir, 'replicas', ref.name, 'root', 'etcd-data', 'marker'), 'utf8')).toBe(
      'data',
    );
    expect(await provider.instances.get(ref)).toBeUndefined();
  });

  it('reports a corrupted instance record as STATE_CORRUPT and leaves it as it was', async () => {
    const { provider, dir } = await freshProvider();
    const ref = { name: `${cluster()}-master`, zone: 'local-a' };
    await provider.instances.create({ ...ref, cluster: 'corrupt', nodeConfig: idle() }, op());
    const path = join(dir, 'local', 'instances', `${ref.name}.json`);
    const good = await readFile(path, 'utf8');
    await writeFile(path, good.slice(0, 40));

    try {
      expect((await caught(provider.instances.get(ref))).code).toBe(ErrorCode.STATE_CORRUPT);
      expect((await caught(provider.instances.list({ cluster: 'corrupt' }))).code).toBe(
        ErrorCode.STATE_CORRUPT,
      );
      expect(await readFile(path, 'utf8')).toBe(good.slice(0, 40));
    } finally {
      await writeFile(path, good);
    }
  });
});

describe('regions', () => {
  it('refuses to attach an address to an instance of another region, or target one, and changes nothing', async () => {
    const { provider, dir } = await freshProvider();
    const ref = { name: `${cluster()}-master`, zone: 'elsewhere-a' };
    await provider.instances.create({ ...ref, cluster: 'regions', nodeConfig: idle() }, op());
    const addressRef = { name: `${ref.name}-ip`, region: 'local' };
    await provider.addresses.reserve(addressRef, op());
    const before = await snapshotOf(join(dir, 'local'));

    const attach = await caught(provider.addresses.attach(addressRef, ref, op()));
    const ensure = await caught(
      provider.loadBalancers.ensure(
        {
          name: `${ref.name}-lb`,
          region: 'local',
          address: addressRef.name,
          port: 6443,
          healthCheck: { protocol: 'tcp', port: 2379 },
          targets: [ref],
        },
        op(),
      ),
    );

    expect([attach.code, ensure.code]).toEqual([ErrorCode.ZONE_NOT_IN_REGION, ErrorCode.ZONE_NOT_IN_REGION]);
    expect(attach.message).toContain('elsewhere-a');
    expect(await snapshotOf(join(dir, 'local'))).toEqual(before);
    expect((await provider.addresses.get(addressRef))?.holder).toBeUndefined();
  });
});

describe('missing programs', () => {
  it('refuses an etcd binary given explicitly that does not exist, naming the Debian package', () => {
    let error: unknown;
    try {
      createLocalProvider({ stateDir: '/nonexistent/never-created', etcdBinary: '/nonexistent/etcd' });
    } catch (caughtError) {
      error = caughtError;
    }
    expect(isHacpError(error) && error.code).toBe(ErrorCode.DEPENDENCY_MISSING);
    expect(isHacpError(error) && error.details).toMatchObject({ debianPackage: 'etcd-server' });
  });

  it('refuses a haproxy binary given explicitly that does not exist, naming the Debian package', () => {
    let error: unknown;
    try {
      createLocalProvider({ stateDir: '/nonexistent/never-created', haproxyBinary: '/nonexistent/haproxy' });
    } catch (caughtError) {
      error = caughtError;
    }
    expect(isHacpError(error) && error.code).toBe(ErrorCode.DEPENDENCY_MISSING);
    expect(isHacpError(error) && error.message).toMatch(/Debian package haproxy/);
  });

  it.each([
    { program: 'etcd', says: 'etcd-server' },
    { program: 'kube-apiserver', says: 'KUBE_APISERVER' },
  ])(
    'refuses a $program process when no $program is found, naming $says, and creates nothing',
    async ({ program, says }) => {
      const { provider, dir } = await freshProvider({ env: { PATH: '/nonexistent' } });
      const before = await snapshotOf(dir);

      const error = await caught(
        provider.instances.create(
          {
            name: `${cluster()}-master`,
            zone: 'local-a',
            cluster: 'missing',
            nodeConfig: { files: [], processes: [{ name: program, command: program, args: [] }] },
          },
          op(),
        ),
      );

      expect(program === 'etcd' ? provider.binaries.etcd : provider.binaries.kubeApiserver).toBeUndefined();
      expect(error.code).toBe(ErrorCode.DEPENDENCY_MISSING);
      expect(`${error.message} ${error.actions.join(' ')}`).toContain(says);
      expect(await snapshotOf(dir)).toEqual(before);
    },
  );
});

describe('kube-apiserver', () => {
  // No kube-apiserver can be installed here (it is in neither Debian's packages nor npm), so a
  // stand-in script takes its place: it records what the provider gave it and stays up as it would.
  async function standIn(dir: string): Promise<string> {
    const path = join(dir, 'kube-apiserver');
    await writeFile(
      path,
      '#!/bin/sh\ncat /proc/sys/kernel/hostname > hostname.out\necho "$@" > args.out\nexec sleep 3600\n',
      { mode: 0o755 },
    );
    return path;
  }

  it('runs the binary KUBE_APISERVER names for the process "kube-apiserver", in the replica root, under its hostname', async () => {
    const temp = await tempStateDir('hacp-kas-bin-');
    cleanups.push(temp.remove);
    const binary = await standIn(temp.dir);
    const { provider } = await freshProvider({ env: { ...process.env, KUBE_APISERVER: binary } });
    const name = `${cluster()}-master`;
    const ref = { name, zone: 'local-a' };
    const network = await provider.instances.allocateNetwork({ ...ref, cluster: 'kas' }, op());

    await provider.instances.create(
      {
        ...ref,
        cluster: 'kas',
        nodeConfig: {
          files: [{ path: 'pki/sa.pub', mode: 0o644, contents: 'public key' }],
          processes: [
            {
              name: 'kube-apiserver',
              command: 'kube-apiserver',
              args: [`--advertise-address=${network.internalIp}`, '--service-account-key-file=pki/sa.pub'],
            },
          ],
        },
      },
      op(),
    );

    expect(provider.binaries.kubeApiserver).toBe(binary);
    expect((await readFile(join(network.rootDir, 'args.out'), 'utf8')).trim()).toBe(
      `--advertise-address=${network.internalIp} --service-account-key-file=pki/sa.pub`,
    );
    const hostname = (await readFile(join(network.rootDir, 'hostname.out'), 'utf8')).trim();
    expect(hostname).toBe(provider.ownHostnames ? name : (await import('node:os')).hostname());
    expect((await provider.processes(ref))[0]?.running).toBe(true);
  });

  it('refuses a KUBE_APISERVER that names no executable at creation', () => {
    let error: unknown;
    try {
      createLocalProvider({
        stateDir: '/nonexistent/never-created',
        env: { KUBE_APISERVER: '/nonexistent/kube-apiserver' },
      });
    } catch (caughtError) {
      error = caughtError;
    }
    expect(isHacpError(error) && error.code).toBe(ErrorCode.DEPENDENCY_MISSING);
    expect(isHacpError(error) && error.message).toContain('/nonexistent/kube-apiserver');
  });
});

describe('without loopback aliases', () => {
  it('puts every replica and the endpoint on 127.0.0.1 with distinct port offsets, and etcd works through them', async () => {
    const { provider, dir } = await freshProvider({ loopbackAliases: false });
    const name = `${cluster()}-master`;
    const ref = { name, zone: 'local-a' };
    const network = await provider.instances.allocateNetwork({ ...ref, cluster: 'offsets' }, op());
    const other = await provider.instances.allocateNetwork(
      { name: `${name}-abc`, zone: 'local-b', cluster: 'offsets' },
      op(),
    );
    const address = await provider.addresses.reserve({ name: `${name}-ip`, region: 'local' }, op());
    const { pki, configs } = await etcdNodeConfigs({
      cluster: 'offsets',
      endpointAddress: '127.0.0.1',
      members: [{ name, network }],
      token: 'hacp-offsets',
    });
    const tls = await etcdctlTls(pki, dir);

    await provider.instances.create(
      { ...ref, cluster: 'offsets', nodeConfig: configs.get(name) as NodeConfig },
      op(),
    );
    await provider.addresses.attach({ name: `${name}-ip`, region: 'local' }, ref, op());
    const reach = await provider.reach(ref, 2379);
    const endpointPort = 2379 + (address.portOffset ?? 0);
    const { stdout } = await run(
      'etcdctl',
      [...tls, `--endpoints=https://127.0.0.1:${endpointPort}`, '--dial-timeout=10s', 'put', 'k', 'v'],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    );

    expect([network.internalIp, other.internalIp, address.ip]).toEqual([
      '127.0.0.1',
      '127.0.0.1',
      '127.0.0.1',
    ]);
    expect(new Set([network.portOffset, other.portOffset, address.portOffset]).size).toBe(3);
    expect(network.portOffset).toBeGreaterThan(0);
    expect(reach).toMatchObject({ host: '127.0.0.1', port: 2379 + network.portOffset });
    expect(listeningPorts('127.0.0.1')).toContain(2379 + network.portOffset);
    expect(stdout.trim()).toBe('OK');
  });
});
