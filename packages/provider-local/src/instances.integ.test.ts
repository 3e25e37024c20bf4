import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ErrorCode, type HacpError, isHacpError, type NodeConfig, Secret, waitUntil } from '@hacp/core';
import { isAlive, listeningPorts } from '@hacp/core/provider-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalProvider, type LocalProvider, type LocalProviderSettings } from './provider.js';
import {
  etcdctlTls,
  etcdNodeConfigs,
  freshProvider as freshLocalProvider,
  tempStateDir,
} from './test-support.js';

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let request = 0;
const op = () => ({ requestId: `inst-${++request}` });

/** A provider on a fresh state folder; afterEach deletes everything it made. */
async function freshProvider(settings: LocalProviderSettings = {}) {
  const fresh = await freshLocalProvider(settings);
  cleanups.push(fresh.cleanUp);
  return fresh;
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
    // Long enough for the shell to start and exit on two busy cores; the create fails as soon as it exits.
    const { provider, dir } = await freshProvider({ startGraceMs: 30_000 });
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

    const before = await provider.instances.allocateNetwork({ ...ref, cluster: 'keepdisk' }, op());
    expect((await provider.instances.get(ref))?.dataDiskIntact).toBe(true);
    await provider.instances.delete(ref, { ...op(), keepDisk: true });

    expect(await readFile(join(dir, 'replicas', ref.name, 'root', 'etcd-data', 'marker'), 'utf8')).toBe(
      'data',
    );
    expect(await provider.instances.get(ref)).toBeUndefined();
    // The place stays too: the same name is created again on the same address (and certificates).
    expect(await provider.instances.allocateNetwork({ ...ref, cluster: 'keepdisk' }, op())).toEqual(before);

    // A create of the same name starts on that folder: its process reads what the first one left.
    const reader = {
      name: 'reader',
      command: 'sh',
      args: ['-c', 'cat etcd-data/marker > seen; exec sleep 3600'],
    };
    const again = await provider.instances.create(
      { ...ref, cluster: 'keepdisk', nodeConfig: idle({ processes: [reader] }) },
      op(),
    );
    expect(again.dataDiskIntact).toBe(true);
    const seen = join(dir, 'replicas', ref.name, 'root', 'seen');
    await expect.poll(() => readFile(seen, 'utf8').catch(() => ''), { timeout: 5000 }).toBe('data');
    await provider.instances.delete(ref, op());
    await expect(stat(join(dir, 'replicas', ref.name))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('seeds the disk of an instance not created yet, replacing what is there, and refuses a created one', async () => {
    const { provider, dir } = await freshProvider();
    const ref = { name: `${cluster()}-master`, zone: 'local-a' };
    const from = join(dir, 'prepared');
    await mkdir(join(from, 'member'), { recursive: true });
    await writeFile(join(from, 'member', 'db'), 'restored');
    await mkdir(join(dir, 'replicas', ref.name, 'root', 'etcd-data'), { recursive: true });
    await writeFile(join(dir, 'replicas', ref.name, 'root', 'etcd-data', 'stale'), 'old');

    await provider.instances.seedData(ref, { path: 'etcd-data', from }, op());
    await provider.instances.create({ ...ref, cluster: 'seed', nodeConfig: idle() }, op());

    const data = join(dir, 'replicas', ref.name, 'root', 'etcd-data');
    expect(await readFile(join(data, 'member', 'db'), 'utf8')).toBe('restored');
    expect(existsSync(join(data, 'stale'))).toBe(false);
    const refused = await caught(provider.instances.seedData(ref, { path: 'etcd-data', from }, op()));
    expect(refused.code).toBe(ErrorCode.CONFLICT);
    expect(await readFile(join(data, 'member', 'db'), 'utf8')).toBe('restored');
    expect((await caught(provider.instances.seedData(ref, { path: '../x', from }, op()))).code).toBe(
      ErrorCode.INVALID_ARGUMENT,
    );
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

/** When each pid exits, polled every 20 ms until `until` settles. */
function deathTimes(pids: readonly number[], until: Promise<unknown>): Promise<Map<number, number>> {
  const deaths = new Map<number, number>();
  return new Promise((resolve) => {
    let settled = false;
    void until.finally(() => {
      settled = true;
    });
    const timer = setInterval(() => {
      for (const pid of pids) {
        if (!deaths.has(pid) && !isAlive({ pid, command: 'sleep', startedAt: '' }))
          deaths.set(pid, Date.now());
      }
      if (settled) {
        clearInterval(timer);
        resolve(deaths);
      }
    }, 20);
  });
}

const pidsOf = async (provider: LocalProvider, ref: { name: string; zone: string }) =>
  Object.fromEntries(
    (await provider.processes(ref)).map((state) => [state.name, state.running ? state.pid : undefined]),
  );

describe('stopping processes', () => {
  // Ignores SIGTERM (an ignored signal stays ignored across exec), so only SIGKILL ends it.
  const stubborn = (name: string, stopGraceSeconds?: number) => ({
    name,
    command: 'sh',
    args: ['-c', 'trap "" TERM; exec sleep 3600'],
    ...(stopGraceSeconds === undefined ? {} : { stopGraceSeconds }),
  });

  it("gives a process its stopGraceSeconds between SIGTERM and SIGKILL, the others the provider's stopGraceMs, last one first", async () => {
    const { provider } = await freshProvider({ stopGraceMs: 1_000 });
    const ref = { name: `${cluster()}-master`, zone: 'local-a' };
    await provider.instances.create(
      {
        ...ref,
        cluster: 'grace',
        nodeConfig: { files: [], processes: [stubborn('patient', 4), stubborn('default')] },
      },
      op(),
    );
    const pids = await pidsOf(provider, ref);
    const patient = pids.patient as number;
    const plain = pids.default as number;

    const started = Date.now();
    const stop = provider.instances.stop(ref, op());
    const deaths = await deathTimes([patient, plain], stop);
    await stop;

    const plainLived = (deaths.get(plain) as number) - started;
    const patientOutlived = (deaths.get(patient) as number) - (deaths.get(plain) as number);
    // The one listed last went first, killed after the provider's 1 s; the other got its own 4 s.
    expect(plainLived).toBeGreaterThanOrEqual(950);
    expect(plainLived).toBeLessThan(4_000);
    expect(patientOutlived).toBeGreaterThanOrEqual(3_900);
    expect((await provider.instances.get(ref))?.status).toBe('stopped');
  });

  it('stopProcesses stops the named processes only; the instance stays running until start, failZone, restoreZone', async () => {
    const { provider } = await freshProvider();
    const ref = { name: `${cluster()}-master`, zone: 'local-c' };
    const sleeper = (name: string) => ({ name, command: 'sleep', args: ['3600'] });
    await provider.instances.create(
      {
        ...ref,
        cluster: 'stopprocs',
        nodeConfig: {
          files: [],
          processes: [sleeper('etcd-like'), sleeper('apiserver-like'), sleeper('scheduler-like')],
        },
      },
      op(),
    );
    const before = await pidsOf(provider, ref);

    await provider.instances.stopProcesses(ref, ['apiserver-like', 'not-a-process'], op());
    await provider.instances.stopProcesses(ref, ['apiserver-like'], op());
    const afterStop = await pidsOf(provider, ref);
    const statusAfterStop = (await provider.instances.get(ref))?.status;
    // A process that dies on its own still counts: the status is not blind, only to intended stops.
    process.kill(before['etcd-like'] as number, 'SIGKILL');
    await waitUntil({
      description: 'the killed process to be gone',
      timeoutMs: 30_000,
      check: async () =>
        (await pidsOf(provider, ref))['etcd-like'] === undefined
          ? { done: true, value: undefined }
          : { done: false },
    });
    const statusAfterKill = (await provider.instances.get(ref))?.status;
    await provider.instances.start(ref, op());
    const afterStart = await pidsOf(provider, ref);

    expect(afterStop).toEqual({ ...before, 'apiserver-like': undefined });
    expect(statusAfterStop).toBe('running');
    expect(statusAfterKill).toBe('terminated');
    expect(afterStart['scheduler-like']).toBe(before['scheduler-like']);
    for (const name of ['etcd-like', 'apiserver-like']) {
      expect(afterStart[name]).toBeDefined();
      expect(afterStart[name]).not.toBe(before[name]);
    }
    expect((await provider.instances.get(ref))?.status).toBe('running');

    await provider.instances.stopProcesses(ref, ['scheduler-like'], op());
    await provider.failZone('local-c');
    const failed = await pidsOf(provider, ref);
    const statusFailed = (await provider.instances.get(ref))?.status;
    await provider.restoreZone('local-c');

    expect(Object.values(failed)).toEqual([undefined, undefined, undefined]);
    expect(statusFailed).toBe('stopped');
    expect(Object.values(await pidsOf(provider, ref)).every((pid) => pid !== undefined)).toBe(true);
    expect((await provider.instances.get(ref))?.status).toBe('running');
  });

  it('stopProcesses of a missing instance is NOT_FOUND; an aborted one is ABORTED and stops nothing', async () => {
    const { provider } = await freshProvider();
    const ref = { name: `${cluster()}-master`, zone: 'local-a' };
    await provider.instances.create({ ...ref, cluster: 'stopprocs', nodeConfig: idle() }, op());
    const before = await pidsOf(provider, ref);

    const missing = await caught(
      provider.instances.stopProcesses({ name: `${ref.name}-abc`, zone: 'local-a' }, ['idle'], op()),
    );
    const aborted = await caught(
      provider.instances.stopProcesses(ref, ['idle'], { ...op(), signal: AbortSignal.abort() }),
    );
    const badNames = await caught(provider.instances.stopProcesses(ref, 'idle' as never, op()));

    expect([missing.code, aborted.code, badNames.code]).toEqual([
      ErrorCode.NOT_FOUND,
      ErrorCode.ABORTED,
      ErrorCode.INVALID_ARGUMENT,
    ]);
    expect(await pidsOf(provider, ref)).toEqual(before);
    expect((await provider.instances.get(ref))?.status).toBe('running');
  });
});

describe('syncFiles', () => {
  const modeOf = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

  it('makes the folder hold exactly the files given: new and changed written with their modes, others removed', async () => {
    const { provider } = await freshProvider();
    const ref = { name: `${cluster()}-master`, zone: 'local-a' };
    const network = await provider.instances.allocateNetwork({ ...ref, cluster: 'sync' }, op());
    await provider.instances.create(
      {
        ...ref,
        cluster: 'sync',
        nodeConfig: idle({
          files: [
            { path: 'addons/old.yaml', mode: 0o644, contents: 'old' },
            { path: 'addons/gone/deep.yaml', mode: 0o644, contents: 'deep' },
            { path: 'addons-other/keep.yaml', mode: 0o644, contents: 'keep' },
          ],
        }),
      },
      op(),
    );
    const root = network.rootDir;
    const update = {
      prefix: 'addons',
      files: [
        { path: 'addons/old.yaml', mode: 0o600, contents: 'old' },
        { path: 'addons/dns/coredns.yaml', mode: 0o644, contents: 'kind: Deployment' },
        { path: 'addons/secret.yaml', mode: 0o600, contents: new Secret('token: not-a-real-one') },
      ],
    };

    await provider.instances.syncFiles(ref, update, op());
    const inode = (await stat(join(root, 'addons/dns/coredns.yaml'))).ino;
    await provider.instances.syncFiles(ref, update, op());

    expect((await readdir(join(root, 'addons'), { recursive: true })).sort()).toEqual([
      'dns',
      'dns/coredns.yaml',
      'old.yaml',
      'secret.yaml',
    ]);
    expect(await modeOf(join(root, 'addons/old.yaml'))).toBe('600');
    expect(await readFile(join(root, 'addons/secret.yaml'), 'utf8')).toBe('token: not-a-real-one');
    expect(await modeOf(join(root, 'addons/dns/coredns.yaml'))).toBe('644');
    expect(await modeOf(join(root, 'addons/dns'))).toBe('700');
    // The repeat wrote nothing: the unchanged file is the same file.
    expect((await stat(join(root, 'addons/dns/coredns.yaml'))).ino).toBe(inode);
    expect(await readFile(join(root, 'addons-other/keep.yaml'), 'utf8')).toBe('keep');

    await provider.instances.stop(ref, op());
    await provider.instances.syncFiles(
      ref,
      {
        prefix: 'addons',
        files: [{ path: 'addons/dns/coredns.yaml', mode: 0o644, contents: 'kind: DaemonSet' }],
      },
      op(),
    );

    expect(await readdir(join(root, 'addons'), { recursive: true })).toEqual(['dns', 'dns/coredns.yaml']);
    expect(await readFile(join(root, 'addons/dns/coredns.yaml'), 'utf8')).toBe('kind: DaemonSet');
    await provider.instances.syncFiles(ref, { prefix: 'addons', files: [] }, op());
    expect(await readdir(join(root, 'addons'))).toEqual([]);
  });

  it.each([
    {
      why: 'a path outside the prefix',
      update: { prefix: 'addons', files: [{ path: 'pki/ca.key', mode: 0o600, contents: 'x' }] },
    },
    {
      why: 'a path climbing out',
      update: { prefix: 'addons', files: [{ path: 'addons/../pki/ca.key', mode: 0o600, contents: 'x' }] },
    },
    { why: 'an absolute prefix', update: { prefix: '/etc', files: [] } },
    { why: 'a prefix climbing out', update: { prefix: '../other', files: [] } },
    {
      why: 'a path that is also a folder',
      update: {
        prefix: 'addons',
        files: [
          { path: 'addons/a', mode: 0o644, contents: 'x' },
          { path: 'addons/a/b.yaml', mode: 0o644, contents: 'y' },
        ],
      },
    },
    {
      why: 'a mode above 0o777',
      update: { prefix: 'addons', files: [{ path: 'addons/a.yaml', mode: 0o4755, contents: 'x' }] },
    },
  ])('refuses $why with INVALID_ARGUMENT and writes nothing', async ({ update }) => {
    const { provider, dir } = await freshProvider();
    const ref = { name: `${cluster()}-master`, zone: 'local-a' };
    await provider.instances.create(
      {
        ...ref,
        cluster: 'sync',
        nodeConfig: idle({ files: [{ path: 'addons/kept.yaml', mode: 0o644, contents: 'kept' }] }),
      },
      op(),
    );
    const before = await snapshotOf(dir);

    const error = await caught(provider.instances.syncFiles(ref, update, op()));

    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(await snapshotOf(dir)).toEqual(before);
  });

  it('syncFiles of a missing instance is NOT_FOUND and writes nothing', async () => {
    const { provider, dir } = await freshProvider();
    await provider.instances.create(
      { name: `${cluster()}-master`, zone: 'local-a', cluster: 'sync', nodeConfig: idle() },
      op(),
    );
    const before = await snapshotOf(dir);

    const error = await caught(
      provider.instances.syncFiles(
        { name: 'sync-missing-master', zone: 'local-a' },
        { prefix: 'addons', files: [{ path: 'addons/a.yaml', mode: 0o644, contents: 'x' }] },
        op(),
      ),
    );

    expect(error.code).toBe(ErrorCode.NOT_FOUND);
    expect(await snapshotOf(dir)).toEqual(before);
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
    { program: 'kube-apiserver', says: 'kube-apiserver' },
    { program: '/nonexistent/kube-apiserver', says: '/nonexistent/kube-apiserver' },
  ])(
    'refuses a process whose program $program is not found, naming $says, and creates nothing',
    async ({ program, says }) => {
      const { provider, dir } = await freshProvider({ env: { PATH: '/nonexistent' } });
      const before = await snapshotOf(dir);

      const error = await caught(
        provider.instances.create(
          {
            name: `${cluster()}-master`,
            zone: 'local-a',
            cluster: 'missing',
            nodeConfig: {
              files: [],
              processes: [{ name: program.split('/').pop() as string, command: program, args: [] }],
            },
          },
          op(),
        ),
      );

      expect(error.code).toBe(ErrorCode.DEPENDENCY_MISSING);
      expect(`${error.message} ${error.actions.join(' ')}`).toContain(says);
      expect(await snapshotOf(dir)).toEqual(before);
    },
  );
});

describe('programs', () => {
  // A stand-in for a Kubernetes program, as the SDK would render its absolute path: it records
  // where and how it was started and stays up as the real one would.
  async function standIn(dir: string): Promise<string> {
    const path = join(dir, 'kube-apiserver');
    await writeFile(
      path,
      '#!/bin/sh\ncat /proc/sys/kernel/hostname > hostname.out\necho "$@" > args.out\nexec sleep 3600\n',
      { mode: 0o755 },
    );
    return path;
  }

  it('runs an absolute command as it is, in the replica root, under its hostname', async () => {
    const temp = await tempStateDir('hacp-kas-bin-');
    cleanups.push(temp.remove);
    const binary = await standIn(temp.dir);
    const { provider } = await freshProvider();
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
              command: binary,
              args: [`--advertise-address=${network.internalIp}`, '--service-account-key-file=pki/sa.pub'],
            },
          ],
        },
      },
      op(),
    );

    expect((await readFile(join(network.rootDir, 'args.out'), 'utf8')).trim()).toBe(
      `--advertise-address=${network.internalIp} --service-account-key-file=pki/sa.pub`,
    );
    const hostname = (await readFile(join(network.rootDir, 'hostname.out'), 'utf8')).trim();
    expect(hostname).toBe(provider.ownHostnames ? name : (await import('node:os')).hostname());
    expect((await provider.processes(ref))[0]?.running).toBe(true);
  });

  it('runs the Kubernetes programs on this machine, and leaves finding them to the SDK (KUBE_APISERVER is not read)', async () => {
    const temp = await tempStateDir('hacp-kas-bin-');
    cleanups.push(temp.remove);
    const binary = await standIn(temp.dir);
    // Before the SDK found the binaries, this provider took KUBE_APISERVER; a missing one failed here.
    const { provider, dir } = await freshProvider({
      env: { PATH: '/nonexistent', KUBE_APISERVER: binary },
    });
    const ignored = createLocalProvider({
      stateDir: '/nonexistent/never-created',
      env: { KUBE_APISERVER: '/nonexistent/kube-apiserver' },
    });
    const before = await snapshotOf(dir);

    const error = await caught(
      provider.instances.create(
        {
          name: `${cluster()}-master`,
          zone: 'local-a',
          cluster: 'kas',
          nodeConfig: {
            files: [],
            processes: [{ name: 'kube-apiserver', command: 'kube-apiserver', args: [] }],
          },
        },
        op(),
      ),
    );

    expect(provider.kubernetes).toEqual({ programs: 'host' });
    expect(ignored.kubernetes).toEqual({ programs: 'host' });
    expect(Object.keys(provider.binaries).sort()).toEqual(['etcd', 'haproxy']);
    expect(error.code).toBe(ErrorCode.DEPENDENCY_MISSING);
    expect(error.message).toContain('kube-apiserver is not installed');
    expect(await snapshotOf(dir)).toEqual(before);
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
