import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import type { LoadBalancerSpec } from '../provider.js';
import { isAlive, type ProcessRecord } from './processes.js';
import { failureOf, servedServers, snapshotOf, testClouds } from './test-support.js';

const clouds = testClouds();
afterEach(() => clouds.cleanUp());

let request = 0;
const op = () => ({ requestId: `ep-${++request}` });
const a = { name: 'ep-master', zone: 'kit-a' };
const b = { name: 'ep-master-b2c', zone: 'kit-b' };
const addressRef = { name: 'ep-master-ip', region: 'kit' };
const spec = (targets = [a]): LoadBalancerSpec => ({
  name: 'ep-master-lb',
  region: 'kit',
  address: addressRef.name,
  port: 443,
  targetPort: 6443,
  healthCheck: { protocol: 'tcp', port: 6443 },
  targets,
});

/** A cloud with instances `a` and `b` and the address reserved. */
async function newCloud() {
  const cloud = await clouds.make();
  for (const ref of [a, b]) {
    await cloud.instances.api.create(
      {
        ...ref,
        cluster: 'ep',
        nodeConfig: { files: [], processes: [{ name: 'idle', command: 'sleep', args: ['3600'] }] },
      },
      op(),
    );
  }
  await cloud.addresses.reserve(addressRef, op());
  return { ...cloud, dir: cloud.cloud.endpointDir(addressRef) };
}

async function endpointProcess(dir: string): Promise<ProcessRecord> {
  return JSON.parse(await readFile(join(dir, 'endpoint.json'), 'utf8')).process;
}

describe('addresses of a process cloud', () => {
  it('serve the instance they are attached to; a dead endpoint is reported, and attaching again restarts it', async () => {
    const { addresses, dir } = await newCloud();
    expect((await addresses.get(addressRef))?.serving).toBeUndefined();
    expect(await addresses.attach(addressRef, a, op())).toMatchObject({
      holder: { kind: 'instance', instance: a },
      serving: true,
    });
    expect(await servedServers(dir)).toEqual({ apiserver: [a.name], etcd: [a.name] });

    const dead = await endpointProcess(dir);
    process.kill(dead.pid, 'SIGKILL');
    await expect.poll(() => isAlive(dead)).toBe(false);
    expect((await addresses.get(addressRef))?.serving).toBe(false);

    expect((await addresses.attach(addressRef, a, op())).serving).toBe(true);
    expect((await endpointProcess(dir)).pid).not.toBe(dead.pid);
    expect((await addresses.detach(addressRef, op())).holder).toBeUndefined();
    expect((await addresses.get(addressRef))?.serving).toBeUndefined();
  });

  it('an attach whose endpoint does not start leaves the address free, with nothing running', async () => {
    const { addresses, driver, dir } = await newCloud();
    driver.failApplies = 1;
    expect((await failureOf(addresses.attach(addressRef, a, op()))).code).toBe(ErrorCode.UNAVAILABLE);
    expect((await addresses.get(addressRef))?.holder).toBeUndefined();
    expect(await driver.running(dir)).toBe(false);
  });

  it('a held address refuses another holder and its release with CONFLICT, and nothing changes', async () => {
    const { cloud, addresses, loadBalancers } = await newCloud();
    await addresses.attach(addressRef, a, op());
    const before = await snapshotOf(cloud.stateDir);
    expect((await failureOf(addresses.attach(addressRef, b, op()))).code).toBe(ErrorCode.CONFLICT);
    expect((await failureOf(addresses.release(addressRef, op()))).code).toBe(ErrorCode.CONFLICT);
    expect((await failureOf(loadBalancers.ensure(spec(), op()))).code).toBe(ErrorCode.CONFLICT);
    expect(await snapshotOf(cloud.stateDir)).toEqual(before);
  });

  it('deleting the instance that holds an address frees the address and stops its endpoint', async () => {
    const { addresses, instances, driver, dir } = await newCloud();
    await addresses.attach(addressRef, a, op());
    await instances.api.delete(a, op());
    expect((await addresses.get(addressRef))?.holder).toBeUndefined();
    expect(await driver.running(dir)).toBe(false);
  });
});

describe('load balancers of a process cloud', () => {
  it('apply before they record: a setTargets whose apply fails leaves the record and the endpoint as they were', async () => {
    const { loadBalancers, driver, dir } = await newCloud();
    expect((await loadBalancers.ensure(spec(), op())).serving).toBe(true);
    driver.failApplies = 1;

    expect((await failureOf(loadBalancers.setTargets(spec(), [a, b], op()))).code).toBe(
      ErrorCode.UNAVAILABLE,
    );
    const seen = await loadBalancers.get(spec());
    expect(seen?.targets).toEqual([a]);
    // The endpoint was told nothing new, and what it serves is still what the record says.
    expect(await servedServers(dir)).toEqual({ apiserver: [a.name], etcd: [a.name] });
    expect(seen?.serving).toBe(false);
    expect((await loadBalancers.ensure(spec(), op())).serving).toBe(true);
  });

  it('report a record the endpoint does not serve, and setTargets with the recorded targets applies it', async () => {
    const { cloud, loadBalancers, dir, driver } = await newCloud();
    await loadBalancers.ensure(spec(), op());
    const appliesBefore = driver.applies;
    // Ensuring what is served already changes nothing.
    await loadBalancers.ensure(spec(), op());
    expect(driver.applies).toBe(appliesBefore);

    // A record written by a call that died before its endpoint changed.
    const file = cloud.loadBalancerFile(spec());
    const body = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...body, spec: spec([a, b]) }));
    expect((await loadBalancers.get(spec()))?.serving).toBe(false);

    expect((await loadBalancers.setTargets(spec(), [a, b], op())).serving).toBe(true);
    expect(await servedServers(dir)).toEqual({ apiserver: [a.name, b.name], etcd: [a.name, b.name] });
    expect(await loadBalancers.health(spec())).toEqual([
      { instance: a, healthy: true },
      { instance: b, healthy: true },
    ]);
  });

  it('report a dead endpoint, and ensure with the same spec starts it again', async () => {
    const { loadBalancers, addresses, dir } = await newCloud();
    await loadBalancers.ensure(spec([a, b]), op());
    const dead = await endpointProcess(dir);
    process.kill(dead.pid, 'SIGKILL');
    await expect.poll(() => isAlive(dead)).toBe(false);

    expect((await loadBalancers.get(spec()))?.serving).toBe(false);
    expect((await addresses.get(addressRef))?.serving).toBe(false);
    expect(await loadBalancers.health(spec())).toEqual([
      { instance: a, healthy: false },
      { instance: b, healthy: false },
    ]);
    expect((await loadBalancers.ensure(spec([a, b]), op())).serving).toBe(true);
    expect(await loadBalancers.health({ name: 'missing-lb', region: 'kit' })).toBeUndefined();
  });

  it('follow a target that is deleted, and free the address when deleted', async () => {
    const { loadBalancers, addresses, instances, driver, dir } = await newCloud();
    await loadBalancers.ensure(spec([a, b]), op());
    await instances.api.delete(b, op());
    expect(await servedServers(dir)).toEqual({ apiserver: [a.name], etcd: [a.name] });

    await loadBalancers.delete(spec(), op());
    expect(await loadBalancers.get(spec())).toBeUndefined();
    expect((await addresses.get(addressRef))?.holder).toBeUndefined();
    expect(await driver.running(dir)).toBe(false);
  });
});
