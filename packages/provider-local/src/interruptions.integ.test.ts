import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Address,
  type InstanceRef,
  type LoadBalancerSpec,
  type NodeConfig,
  waitUntil,
} from '@hacp/core';
import { isAlive, type ProcessRecord } from '@hacp/core/provider-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { endpointProcess, endpointServerStates } from './haproxy.js';
import type { LocalProvider, LocalProviderSettings } from './provider.js';
import { freshProvider as freshLocalProvider } from './test-support.js';

// What a SIGKILLed hacp leaves behind, and what the next call must make of it (issue 18): each
// test puts the state folder where a kill leaves it, then checks what the provider reports and
// that the call the SDK makes next converges.

const creatorFixture = fileURLToPath(new URL('./creator.fixture.mjs', import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let request = 0;
const op = () => ({ requestId: `int-${++request}` });
const cluster = () => `int-${randomBytes(3).toString('hex')}`;

const idle: NodeConfig = { files: [], processes: [{ name: 'idle', command: 'sleep', args: ['3600'] }] };

/** A provider on a fresh state folder; afterEach deletes everything it made. */
async function freshProvider(settings: LocalProviderSettings = {}) {
  const fresh = await freshLocalProvider(settings);
  cleanups.push(fresh.cleanUp);
  return fresh;
}

/** A cluster of idle replicas in local-a, its address reserved, and a load balancer spec over `targets`. */
async function idleCluster(
  provider: LocalProvider,
  replicas: number,
): Promise<{
  refs: { name: string; zone: string }[];
  address: Address;
  spec: (targets: InstanceRef[]) => LoadBalancerSpec;
}> {
  const c = cluster();
  const refs = [`${c}-master`, `${c}-master-b2c`]
    .slice(0, replicas)
    .map((name) => ({ name, zone: 'local-a' }));
  for (const ref of refs) await provider.instances.create({ ...ref, cluster: c, nodeConfig: idle }, op());
  const address = await provider.addresses.reserve({ name: `${c}-master-ip`, region: 'local' }, op());
  const spec = (targets: InstanceRef[]): LoadBalancerSpec => ({
    name: `${c}-master-lb`,
    region: 'local',
    address: address.name,
    port: 6443,
    healthCheck: { protocol: 'tcp', port: 6443, intervalSeconds: 1 },
    targets,
  });
  return { refs, address, spec };
}

/** Kills the process group a recorded HAProxy master leads (master and workers), as a crash would. */
async function killEndpoint(dir: string): Promise<ProcessRecord> {
  const record = await endpointProcess(dir);
  if (record === undefined) throw new Error(`no HAProxy recorded in ${dir}`);
  process.kill(-record.pid, 'SIGKILL');
  await waitUntil({
    description: `HAProxy ${record.pid} to exit`,
    timeoutMs: 15_000,
    check: () => (isAlive(record) ? { done: false } : { done: true, value: undefined }),
  });
  return record;
}

describe('killed while an instance is being created', () => {
  it('reports a half-created instance whose creator died as terminated, and create finishes it', async () => {
    const { provider, dir } = await freshProvider();
    const name = `${cluster()}-master`;
    const ref = { name, zone: 'local-a' };
    const creator: ChildProcess = spawn(process.execPath, [creatorFixture, dir, name, 'int'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    cleanups.push(async () => {
      if (creator.exitCode === null && creator.signalCode === null) creator.kill('SIGKILL');
    });
    const pidFile = join(dir, 'replicas', name, 'run', 'idle.json');
    const started = await waitUntil<ProcessRecord>({
      description: `${pidFile} to be written`,
      timeoutMs: 30_000,
      check: async () => {
        const text = await readFile(pidFile, 'utf8').catch(() => '');
        return text.includes('"pid"')
          ? { done: true, value: (JSON.parse(text) as { process: ProcessRecord }).process }
          : { done: false };
      },
    });
    // Its creator still runs: the instance is on its way.
    expect((await provider.instances.get(ref))?.status).toBe('provisioning');

    const exited = new Promise((resolve) => creator.once('exit', resolve));
    creator.kill('SIGKILL');
    await exited;
    const record = JSON.parse(await readFile(join(dir, 'local', 'instances', `${name}.json`), 'utf8'));
    expect(record.state).toBe('creating');
    expect(isAlive(started)).toBe(true);

    // A failed create, so that the SDK's resume creates it again...
    expect((await provider.instances.get(ref))?.status).toBe('terminated');
    expect((await provider.instances.list({ cluster: 'int' })).map((i) => i.status)).toEqual(['terminated']);

    // ...and that create finishes it: what the dead creator started is stopped by pid, and runs anew.
    const created = await provider.instances.create({ ...ref, cluster: 'int', nodeConfig: idle }, op());
    expect(created.status).toBe('running');
    expect(isAlive(started)).toBe(false);
    const restarted = JSON.parse(await readFile(pidFile, 'utf8')).process as ProcessRecord;
    expect(restarted.pid).not.toBe(started.pid);
    expect(isAlive(restarted)).toBe(true);
  });
});

describe('killed between the load balancer record and the reload of HAProxy', () => {
  it('reports the endpoint as not serving the record, and setTargets with the recorded targets re-applies', async () => {
    const { provider, dir } = await freshProvider();
    const { refs, address, spec: specOver } = await idleCluster(provider, 2);
    const [a, b] = refs as [InstanceRef, InstanceRef];
    const spec = specOver([a]);
    expect((await provider.loadBalancers.ensure(spec, op())).serving).toBe(true);

    // A setTargets that wrote its record and died before HAProxy reloaded.
    const recordPath = join(dir, 'local', 'load-balancers', `local.${spec.name}.json`);
    const body = JSON.parse(await readFile(recordPath, 'utf8'));
    await writeFile(recordPath, JSON.stringify({ ...body, spec: { ...body.spec, targets: [a, b] } }));
    const endpointDir = join(dir, 'endpoints', `local.${address.name}`);
    expect((await endpointServerStates({ dir: endpointDir })).map((s) => s.server)).not.toContain(b.name);

    const seen = await provider.loadBalancers.get(spec);
    expect(seen?.targets.map((t) => t.name)).toEqual([a.name, b.name]);
    expect(seen?.serving).toBe(false);

    const set = await provider.loadBalancers.setTargets(spec, [a, b], op());
    expect(set.serving).toBe(true);
    expect((await endpointServerStates({ dir: endpointDir })).map((s) => s.server)).toContain(b.name);
    expect((await provider.loadBalancers.get(spec))?.serving).toBe(true);
  });
});

describe('a dead HAProxy', () => {
  it('is reported by addresses.get while an instance holds the address, and attach starts it again', async () => {
    const { provider, dir } = await freshProvider();
    const { refs, address } = await idleCluster(provider, 1);
    const ref = refs[0] as InstanceRef;
    expect((await provider.addresses.get(address))?.serving).toBeUndefined();
    expect((await provider.addresses.attach(address, ref, op())).serving).toBe(true);

    const endpointDir = join(dir, 'endpoints', `local.${address.name}`);
    const dead = await killEndpoint(endpointDir);
    expect((await provider.addresses.get(address))?.serving).toBe(false);

    const attached = await provider.addresses.attach(address, ref, op());
    expect(attached.serving).toBe(true);
    const restarted = await endpointProcess(endpointDir);
    expect(restarted?.pid).not.toBe(dead.pid);
    expect(restarted && isAlive(restarted)).toBe(true);
  });

  it('is reported by loadBalancers.get, ensure with the same spec starts it again, and health reads the targets', async () => {
    const { provider, dir } = await freshProvider();
    const { refs, address, spec: specOver } = await idleCluster(provider, 1);
    const ref = refs[0] as InstanceRef;
    const spec = specOver([ref]);
    await provider.loadBalancers.ensure(spec, op());
    expect((await provider.addresses.get(address))?.serving).toBe(true);
    expect(await provider.loadBalancers.health?.(spec)).toEqual([{ instance: ref, healthy: false }]);
    expect(await provider.loadBalancers.health?.({ name: 'missing-lb', region: 'local' })).toBeUndefined();

    await killEndpoint(join(dir, 'endpoints', `local.${address.name}`));
    expect((await provider.loadBalancers.get(spec))?.serving).toBe(false);
    expect((await provider.addresses.get(address))?.serving).toBe(false);

    expect((await provider.loadBalancers.ensure(spec, op())).serving).toBe(true);
    expect((await provider.loadBalancers.get(spec))?.serving).toBe(true);
  });
});

describe('a rolled-back add whose instance was never created', () => {
  it('delete frees the allocation: the network place goes to the next name', async () => {
    // Without loopback aliases the port offset is the smallest free slot, so a freed one is seen again.
    const { provider, dir } = await freshProvider({ loopbackAliases: false });
    const first = await provider.instances.allocateNetwork(
      { name: 'gone-master', zone: 'local-a', cluster: 'one' },
      op(),
    );
    await provider.instances.delete({ name: 'gone-master', zone: 'local-a' }, op());
    expect(await readdir(join(dir, 'local', 'networks'))).toEqual([]);

    const next = await provider.instances.allocateNetwork(
      { name: 'next-master', zone: 'local-b', cluster: 'two' },
      op(),
    );
    expect(next.portOffset).toBe(first.portOffset);
    // And the freed name is free for another cluster.
    await provider.instances.allocateNetwork(
      { name: 'gone-master', zone: 'local-c', cluster: 'three' },
      op(),
    );
  });
});
