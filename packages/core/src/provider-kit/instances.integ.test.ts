import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import type { NodeConfig } from '../node-config.js';
import { Secret } from '../redact.js';
import type { InstanceRecord } from './cloud.js';
import { pidFileOf } from './process-set.js';
import { isAlive, type ProcessRecord, selfRecord } from './processes.js';
import { failureOf, type testCloud, testClouds } from './test-support.js';

const clouds = testClouds();
afterEach(() => clouds.cleanUp());

let request = 0;
const op = () => ({ requestId: `kit-${++request}` });
const idle = (name = 'idle') => ({ name, command: 'sleep', args: ['3600'] });
const ref = { name: 'kit-master', zone: 'kit-a' };

const newCloud = (options: Parameters<typeof testCloud>[1] = {}) => clouds.make(options);
/** An instance with a file on its disk and one idle process. */
const withDisk = {
  ...ref,
  cluster: 'kit',
  nodeConfig: { files: [{ path: 'data/marker', mode: 0o600, contents: 'x' }], processes: [idle()] },
};

async function pidOf(
  cloud: ReturnType<typeof testCloud>,
  name: string,
  process = 'idle',
): Promise<ProcessRecord> {
  const body = JSON.parse(await readFile(pidFileOf(cloud.cloud.instancePaths(name), process), 'utf8'));
  return body.process;
}

describe('instances of a process cloud', () => {
  it('writes the NodeConfig under the allocated root and runs its processes there, until deleted', async () => {
    const { cloud, instances } = await newCloud();
    const network = await instances.api.allocateNetwork({ ...ref, cluster: 'kit' }, op());
    const nodeConfig: NodeConfig = {
      files: [{ path: 'pki/key.pem', mode: 0o600, contents: new Secret('KEY') }],
      processes: [{ name: 'pwd', command: 'sh', args: ['-c', 'pwd; exec sleep 3600'] }],
    };
    const created = await instances.api.create({ ...ref, cluster: 'kit', nodeConfig }, op());

    expect(created).toMatchObject({
      ...ref,
      cluster: 'kit',
      status: 'running',
      internalIp: network.internalIp,
    });
    expect(await readFile(join(network.rootDir, 'pki/key.pem'), 'utf8')).toBe('KEY');
    expect((await stat(join(network.rootDir, 'pki/key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(cloud.instancePaths(ref.name).logs, 'pwd.log'), 'utf8')).toBe(
      `${network.rootDir}\n`,
    );
    expect((await instances.api.list({ cluster: 'kit' })).map((instance) => instance.name)).toEqual([
      ref.name,
    ]);
    // The same spec again is the same instance; another is ALREADY_EXISTS.
    expect((await instances.api.create({ ...ref, cluster: 'kit', nodeConfig }, op())).createdAt).toEqual(
      created.createdAt,
    );
    const other = { ...ref, cluster: 'kit', nodeConfig: { files: [], processes: [idle()] } };
    expect((await failureOf(instances.api.create(other, op()))).code).toBe(ErrorCode.ALREADY_EXISTS);

    const process = await pidOf({ cloud } as ReturnType<typeof testCloud>, ref.name, 'pwd');
    await instances.api.delete(ref, op());
    expect(isAlive(process)).toBe(false);
    expect(await instances.api.get(ref)).toBeUndefined();
    expect(await readdir(cloud.paths.replicas)).toEqual([]);
    expect(await readdir(cloud.paths.networks)).toEqual([]);
  });

  it('rolls back a create whose process exits at once: UNAVAILABLE with its log, secrets removed, nothing left', async () => {
    // Long enough for node to start and exit on two busy cores; the create fails as soon as it exits.
    const { cloud, instances } = await newCloud({ startCheckMs: 30_000 });
    const leaky = "console.error('connecting with password=hunter2'); process.exit(3)";
    const error = await failureOf(
      instances.api.create(
        {
          ...ref,
          cluster: 'kit',
          nodeConfig: {
            files: [],
            processes: [idle('steady'), { name: 'crash', command: process.execPath, args: ['-e', leaky] }],
          },
        },
        op(),
      ),
    );

    expect(error.code).toBe(ErrorCode.UNAVAILABLE);
    expect(error.message).toMatch(
      /Process crash of instance kit-master exited right after it started \(exit code 3\)/,
    );
    expect(error.message).toContain('password=[redacted]');
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('hunter2');
    expect(await instances.api.get(ref)).toBeUndefined();
    expect(await readdir(cloud.paths.replicas)).toEqual([]);
    expect(await readdir(cloud.paths.networks)).toEqual([]);
  });

  it('is DEPENDENCY_MISSING for a program that is not installed, before anything is made', async () => {
    const { cloud, instances } = await newCloud();
    const spec = {
      ...ref,
      cluster: 'kit',
      nodeConfig: { files: [], processes: [{ name: 'x', command: 'no-such-program-here', args: [] }] },
    };
    const error = await failureOf(instances.api.create(spec, op()));
    expect(error.code).toBe(ErrorCode.DEPENDENCY_MISSING);
    expect(error.details).toEqual({ program: 'no-such-program-here' });
    expect(await readdir(cloud.stateDir)).toEqual([]);
  });

  it('reports a half-made instance whose creator died as terminated, and its next create makes it afresh', async () => {
    const { cloud, instances } = await newCloud();
    const spec = withDisk;
    await instances.api.create(spec, op());
    const started = await pidOf({ cloud } as ReturnType<typeof testCloud>, ref.name);
    // Where a creator killed after starting the processes leaves it.
    const file = cloud.instanceFile(ref.name);
    const record = JSON.parse(await readFile(file, 'utf8')) as InstanceRecord;
    const halfMade = (creator: ProcessRecord) =>
      writeFile(file, JSON.stringify({ ...record, state: 'creating', creator }));
    await halfMade(selfRecord());
    expect((await instances.api.get(ref))?.status).toBe('provisioning');
    await halfMade({ ...selfRecord(), startTime: '1' });
    expect((await instances.api.get(ref))?.status).toBe('terminated');
    expect((await instances.api.list({ cluster: 'kit' }))[0]?.status).toBe('terminated');

    const made = await instances.api.create(spec, op());
    const restarted = await pidOf({ cloud } as ReturnType<typeof testCloud>, ref.name);
    expect(made.status).toBe('running');
    expect(isAlive(started)).toBe(false);
    expect(isAlive(restarted)).toBe(true);
    expect(JSON.parse(await readFile(file, 'utf8')).state).toBe('created');
  });

  it('frees the network place on delete also when the instance was never created', async () => {
    const { cloud, instances } = await newCloud({ shared: true });
    const first = await instances.api.allocateNetwork(
      { name: 'gone-master', zone: 'kit-a', cluster: 'one' },
      op(),
    );
    await instances.api.delete({ name: 'gone-master', zone: 'kit-a' }, op());
    expect(await readdir(cloud.paths.networks)).toEqual([]);

    const next = await instances.api.allocateNetwork(
      { name: 'next-master', zone: 'kit-b', cluster: 'two' },
      op(),
    );
    expect(next.portOffset).toBe(first.portOffset);
    await instances.api.allocateNetwork({ name: 'gone-master', zone: 'kit-a', cluster: 'three' }, op());
  });

  it('stops and starts; processes stopped on purpose keep it running until it starts again', async () => {
    const { instances } = await newCloud();
    await instances.api.create(
      { ...ref, cluster: 'kit', nodeConfig: { files: [], processes: [idle('a'), idle('b')] } },
      op(),
    );
    await instances.api.stopProcesses(ref, ['b', 'unknown'], op());
    expect((await instances.processes(ref)).map((state) => state.running)).toEqual([true, false]);
    expect((await instances.api.get(ref))?.status).toBe('running');

    await instances.api.stop(ref, op());
    expect((await instances.api.get(ref))?.status).toBe('stopped');
    await instances.api.start(ref, op());
    expect((await instances.processes(ref)).map((state) => state.running)).toEqual([true, true]);
    expect((await instances.api.get(ref))?.status).toBe('running');
  });

  it('keeps the root on delete with keepDisk, and a later delete without it removes it', async () => {
    const { cloud, instances } = await newCloud();
    const spec = withDisk;
    await instances.api.create(spec, op());
    await instances.api.delete(ref, { ...op(), keepDisk: true });
    const root = cloud.instancePaths(ref.name).root;
    expect(await readFile(join(root, 'data/marker'), 'utf8')).toBe('x');
    expect(await instances.api.get(ref)).toBeUndefined();

    await instances.api.delete(ref, op());
    await expect(stat(root)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
