// rollout restart on the local provider with real etcd: every replica replaced once, one at a time,
// in its zone, while a writer through the endpoint loses no acknowledged write; what it refuses,
// nothing changed; and a run cut short finished by the same call.
import { isHacpError } from '@hacp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalKey } from './record.js';
import { endpointWriter, expectMembersMatchReplicas, localWorld } from './test-support.js';

let world: Awaited<ReturnType<typeof localWorld>>;
beforeAll(async () => {
  world = await localWorld();
  await world.controlPlane.up({ zone: 'local-a', multizone: true });
}, 180_000);
afterAll(async () => {
  await world?.cleanup();
});

const names = async () =>
  (await world.controlPlane.status()).replicas.map((r) => `${r.name}@${r.zone}`).sort();
const rolloutKey = 'hacp/clusters/kubernetes/rollout';

describe('rollout restart on the local provider', () => {
  it("replaces a cluster's only replica by a new one in its zone, the address following, data kept", async () => {
    await world.etcdctl(['put', 'hacp/first', 'kept']);
    const [only] = (await world.controlPlane.status()).replicas;
    const result = await world.controlPlane.rollout();
    expect(result.replaced).toEqual([{ old: only?.name, new: expect.any(String), zone: 'local-a' }]);
    const after = await world.controlPlane.status();
    expectMembersMatchReplicas(after, 1);
    expect(after.replicas[0]?.name).toBe(result.replaced[0]?.new);
    expect(after.endpoint).toMatchObject({ mode: 'attached', attachedTo: result.replaced[0]?.new });
    expect(await world.etcdctl(['get', '--print-value-only', 'hacp/first'])).toBe('kept');
    expect(await world.provider.state.get(rolloutKey)).toBeUndefined();
  }, 240_000);

  it('refuses --max-surge 0 with two replicas, and upgrade of an etcd-only cluster, nothing changed', async () => {
    await world.controlPlane.replicate({ zone: 'local-b' });
    const before = await names();
    const surge = await world.controlPlane.rollout({ maxSurge: 0 }).catch((error: unknown) => error);
    expect(isHacpError(surge, 'INVALID_ARGUMENT')).toBe(true);
    expect(String((surge as Error).message)).toMatch(/has 2 replicas: with --max-surge 0/);
    const upgrade = await world.controlPlane
      .upgrade({ kubernetesVersion: '1.32' })
      .catch((error: unknown) => error);
    expect(isHacpError(upgrade, 'INVALID_ARGUMENT')).toBe(true);
    expect(String((upgrade as Error).message)).toMatch(/runs etcd only: there is no Kubernetes to upgrade/);
    expect(await names()).toEqual(before);
    expect(await world.provider.state.get(rolloutKey)).toBeUndefined();
  }, 120_000);

  it('replaces each of three replicas once, in its zone, with no acknowledged write lost', async () => {
    await world.controlPlane.replicate({ zone: 'local-c' });
    await world.etcdctl(['put', 'hacp/before', 'kept']);
    const before = (await world.controlPlane.status()).replicas;
    const writes = endpointWriter(world, 'rollout/');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const result = await world.controlPlane.rollout({ maxSurge: 0 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { written, failures } = await writes.stop();

    expect(result.operation).toBe('rollout-restart');
    expect(result.replaced.map((r) => r.old).sort()).toEqual(before.map((r) => r.name).sort());
    for (const { old, new: added, zone } of result.replaced) {
      expect(added).not.toBe(old);
      expect(zone).toBe(before.find((r) => r.name === old)?.zone);
    }
    const after = await world.controlPlane.status();
    expectMembersMatchReplicas(after, 3);
    expect(after.replicas.map((r) => r.name).sort()).toEqual(result.replaced.map((r) => r.new).sort());
    expect(after.replicas.map((r) => r.zone).sort()).toEqual(['local-a', 'local-b', 'local-c']);
    expect(await world.provider.state.get(rolloutKey)).toBeUndefined();
    expect(await world.etcdctl(['get', '--print-value-only', 'hacp/before'])).toBe('kept');
    const stored = (await world.etcdctl(['get', '--prefix', '--keys-only', 'rollout/']))
      .split('\n')
      .filter(Boolean);
    // Each replica leaves the load balancer before its member goes: no write through the endpoint
    // fails, and every one acknowledged is there.
    expect(failures).toEqual([]);
    expect(written.length).toBeGreaterThan(10);
    for (const key of written) expect(stored, key).toContain(key);
  }, 400_000);

  it('a rollout cut short is finished by the same call: the interrupted replace first, then the rest', async () => {
    const before = (await world.controlPlane.status()).replicas.map((r) => r.name);
    const controller = new AbortController();
    let replaces = 0;
    const { createControlPlane } = await import('./control-plane.js');
    const interrupted = createControlPlane({
      provider: world.provider,
      dataDir: world.dataDir,
      timeouts: { drain: 200 },
      onEvent: (event) => {
        // The second replace, once its new member is a learner.
        if (event.type === 'operation-started') replaces += 1;
        if (replaces === 2 && event.type === 'step-done' && event.step.startsWith('add-learner'))
          controller.abort();
      },
    });
    const cut = await interrupted.rollout({ signal: controller.signal }).catch((error: unknown) => error);
    await interrupted.close();
    expect(isHacpError(cut, 'ABORTED')).toBe(true);
    expect(await world.provider.state.get(journalKey('kubernetes'))).toBeDefined();
    const marker = await world.provider.state.get<{ pending: string[] }>(rolloutKey);
    expect(marker?.value.pending).toHaveLength(2);

    const other = await world.controlPlane.rollout({ maxSurge: 0 }).catch((error: unknown) => error);
    expect(isHacpError(other, 'CONFLICT')).toBe(true);
    const result = await world.controlPlane.rollout();
    expect(result.replaced.map((r) => r.old).sort()).toEqual([...before].sort());
    const after = await world.controlPlane.status();
    expectMembersMatchReplicas(after, 3);
    expect(after.replicas.some((r) => before.includes(r.name))).toBe(false);
    expect(await world.provider.state.get(rolloutKey)).toBeUndefined();
  }, 400_000);
});
