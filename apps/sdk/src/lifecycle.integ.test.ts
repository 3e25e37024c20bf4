import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadPki } from '@hacp/certs';
import { ErrorCode, type ProviderV1 } from '@hacp/core';
import { createMembershipClient } from '@hacp/etcd';
import { afterEach, describe, expect, it } from 'vitest';
import { createControlPlane } from './control-plane.js';
import { journalKey } from './record.js';
import { expectMembersMatchReplicas, localWorld, membersMatchReplicas } from './test-support.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

async function expectConsistent(w: World, count: number) {
  const status = await w.controlPlane.status();
  const replicas = expectMembersMatchReplicas(status, count);
  if (count === 1) {
    expect(status.endpoint).toMatchObject({ mode: 'attached', attachedTo: status.replicas[0]?.name });
  } else {
    expect(status.endpoint.mode).toBe('load-balanced');
    expect(status.endpoint.targets.map((t) => t.replica).sort()).toEqual(replicas);
    expect(status.endpoint.targets.every((t) => t.healthy)).toBe(true);
  }
  return status;
}

describe('the SDK on the local provider', () => {
  it('grows 1→3 across zones and back to 1, keeping data and the endpoint', async () => {
    world = await localWorld();
    const w = world;
    const up = await w.controlPlane.up({ zone: 'local-a', multizone: true });
    expect(up.replicas).toEqual([{ name: 'kubernetes-master', zone: 'local-a' }]);
    await expectConsistent(w, 1);
    await w.etcdctl(['put', 'hacp/one', '1']);

    const second = await w.controlPlane.replicate({ zone: 'local-b' });
    expect(second.warnings.map((warning) => warning.code)).toContain('TWO_REPLICAS');
    await expectConsistent(w, 2);
    await w.etcdctl(['put', 'hacp/two', '2']);
    await w.controlPlane.replicate({ zone: 'local-c' });
    const three = await expectConsistent(w, 3);
    expect(new Set(three.replicas.map((r) => r.zone))).toEqual(new Set(['local-a', 'local-b', 'local-c']));
    expect(three.faultTolerance).toMatchObject({ voters: 3, quorum: 2, tolerates: 1 });
    expect(three.faultTolerance.zoneLoss).toMatch(/survives the loss of any one zone/);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/one'])).toBe('1');

    // Every step reported, in order, with progress events.
    const started = w.events.filter((e) => e.type === 'step-started').length;
    expect(started).toBeGreaterThan(20);
    expect(w.events.filter((e) => e.type === 'step-done')).toHaveLength(started);

    await w.controlPlane.remove({ zone: 'local-c' });
    await expectConsistent(w, 2);
    await w.controlPlane.remove({ zone: 'local-b' });
    const last = await expectConsistent(w, 1);
    expect(last.replicas[0]?.name).toBe('kubernetes-master');
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/two'])).toBe('2');
    // A snapshot was kept before each membership change.
    expect((await readdir(join(w.dataDir, 'backups'))).length).toBeGreaterThanOrEqual(4);

    await w.controlPlane.down();
    expect(await w.provider.instances.list({ cluster: 'kubernetes' })).toEqual([]);
    expect(await w.provider.addresses.get({ name: 'kubernetes-master-ip', region: 'local' })).toBeUndefined();
    await expect(w.controlPlane.status()).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
  });

  it('replaces a replica whose processes were killed, in its zone, with a new member (keepData: false)', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    await w.controlPlane.replicate({ zone: 'local-b' });
    await w.controlPlane.replicate({ zone: 'local-c' });
    await w.etcdctl(['put', 'hacp/before', 'kept']);
    const victim = (await w.controlPlane.status()).replicas.find((r) => r.zone === 'local-b');
    if (victim === undefined) throw new Error('no replica in local-b');
    for (const proc of await w.provider.processes(victim)) {
      if (proc.running && proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL');
    }
    const broken = await w.controlPlane.status();
    expect(broken.replicas.find((r) => r.name === victim.name)?.state).not.toBe('healthy');

    // Its data folder survived, so replace would migrate its member; keepData: false adds a new one.
    const result = await w.controlPlane.replace({ name: victim.name, keepData: false });
    const after = await expectConsistent(w, 3);
    expect(after.replicas.map((r) => r.name)).not.toContain(victim.name);
    expect(after.replicas.filter((r) => r.zone === 'local-b')).toHaveLength(1);
    expect(result.replicas).toHaveLength(3);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/before'])).toBe('kept');
  });

  it('rolls back the learner and the instance when a replicate fails, and can then replicate again', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    // A provider whose create fails for the new replica, after etcd has accepted its learner.
    const failing: ProviderV1 = {
      ...w.provider,
      instances: {
        ...w.provider.instances,
        create: async (spec, options) => {
          if (spec.name !== 'kubernetes-master') throw new Error('quota exceeded');
          return w.provider.instances.create(spec, options);
        },
      },
    };
    const broken = createControlPlane({ provider: failing, dataDir: w.dataDir, timeouts: { drain: 200 } });
    const error = await broken
      .replicate({ zone: 'local-b', name: 'kubernetes-master-b0b' })
      .catch((e: unknown) => e as { code: string; message: string; details: Record<string, unknown> });
    expect(error).toMatchObject({ details: { rolledBack: true } });
    expect((error as { message: string }).message).toMatch(/quota exceeded/);

    const status = await w.controlPlane.status();
    expect(membersMatchReplicas(status).members).toEqual(['kubernetes-master']);
    expect(status.etcd.members.some((m) => m.learner)).toBe(false);
    expect(status.replicas.map((r) => r.name)).toEqual(['kubernetes-master']);
    expect(status.endpoint).toMatchObject({ mode: 'attached', attachedTo: 'kubernetes-master' });
    expect(await w.provider.state.get(journalKey('kubernetes'))).toBeUndefined();

    await w.controlPlane.replicate({ zone: 'local-b', name: 'kubernetes-master-b0b' });
    await expectConsistent(w, 2);
  });

  it('refuses a second operation while one is interrupted, and resume finishes it', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    const controller = new AbortController();
    const interrupted = createControlPlane({
      provider: w.provider,
      dataDir: w.dataDir,
      timeouts: { drain: 200 },
      onEvent: (event) => {
        if (event.type === 'step-done' && event.step.startsWith('add-learner')) controller.abort();
      },
    });
    await expect(interrupted.replicate({ zone: 'local-b', signal: controller.signal })).rejects.toMatchObject(
      {
        code: ErrorCode.ABORTED,
      },
    );
    const journal = await w.provider.state.get(journalKey('kubernetes'));
    expect(journal).toBeDefined();
    expect((await w.controlPlane.status()).operation).toMatchObject({ operation: 'replicate' });

    await expect(w.controlPlane.remove({ zone: 'local-a' })).rejects.toMatchObject({
      code: ErrorCode.CONFLICT,
    });
    expect(await w.provider.state.get(journalKey('kubernetes'))).toEqual(journal);

    const resumed = await w.controlPlane.resume();
    expect(resumed.resumed).toBe(true);
    expect(resumed.steps.find((s) => s.id.startsWith('add-learner'))).toBeUndefined();
    await expectConsistent(w, 2);
  });
});

describe('repair', () => {
  it('removes a stuck learner (a member added without a replica) and leaves the cluster healthy', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    await w.controlPlane.replicate({ zone: 'local-b' });
    // What an interrupted replicate whose journal was lost leaves: a learner that never started.
    const pki = await loadPki(join(w.dataDir, 'pki'));
    const status = await w.controlPlane.status();
    const client = createMembershipClient({
      endpoints: status.replicas.map((r) => `https://${r.internalIp}:2379`),
      tls: { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem },
    });
    try {
      await client.addLearner({ name: 'kubernetes-master-dead', peerUrl: 'https://127.0.0.254:2380' });
      expect((await client.members()).some((m) => m.learner)).toBe(true);
      const plan = await w.controlPlane.plan({ operation: 'repair' });
      expect(plan.steps.map((s) => s.action.kind)).toContain('remove-member');
      const repaired = await w.controlPlane.repair();
      expect(repaired.steps.some((s) => s.id.startsWith('remove-member') && s.status === 'done')).toBe(true);
      // One backup first, named in the result and listed as repair's.
      expect(repaired.steps.filter((s) => s.id === 'snapshot' && s.status === 'done')).toHaveLength(1);
      const backups = (await w.controlPlane.backups.list()).backups;
      expect(backups[0]).toMatchObject({ path: repaired.backup?.path, operation: 'repair', verified: true });
      expect((await client.members()).some((m) => m.learner)).toBe(false);
    } finally {
      client.close();
    }
    await expectConsistent(w, 2);
  });
});
