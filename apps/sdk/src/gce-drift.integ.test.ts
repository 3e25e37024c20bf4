/**
 * Changes an operator makes outside hacp, as gcloud makes them (REST calls straight to the Compute
 * API test server, gce.test-support.ts): status names each one, repair fixes it with the least
 * change, and the next replicate and down succeed and leave nothing.
 */
import { isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import {
  CLUSTER,
  expectConsistent,
  type GceWorld,
  gcloud,
  mutating,
  NOTHING,
  PROJECT,
  REGION,
  resources,
  useGceWorlds,
  ZONES,
} from './gce.test-support.js';

const worlds = useGceWorlds();

const POOL = `regions/${REGION}/targetPools/${CLUSTER}-master`;
const codesOf = (warnings: readonly { code: string }[]) => warnings.map((warning) => warning.code);
const stepIdsOf = (plan: { steps: readonly { id: string }[] }) => plan.steps.map((step) => step.id);

/** A cluster of `count` replicas, one per zone. */
async function grown(count: number): Promise<GceWorld> {
  const w = await worlds.create();
  await w.controlPlane.up({ zone: ZONES[0], multizone: true });
  for (const zone of ZONES.slice(1, count)) await w.controlPlane.replicate({ zone });
  await expectConsistent(w, count);
  return w;
}

/** The replica in a zone, by the server's instances. */
async function replicaIn(w: GceWorld, zone: string): Promise<string> {
  const status = await w.controlPlane.status();
  const replica = status.replicas.find((r) => r.zone === zone);
  if (replica === undefined) throw new Error(`no replica in ${zone}`);
  return replica.name;
}

/** After a repair: one more replica, then down, which leaves nothing in the project. */
async function replicateAndDown(w: GceWorld, count: number, zone: string): Promise<void> {
  await w.controlPlane.replicate({ zone });
  await expectConsistent(w, count + 1);
  await w.controlPlane.down();
  expect(resources(w.server)).toEqual(NOTHING);
}

describe('changes made outside hacp, as gcloud makes them (issue 19)', () => {
  it('`instances stop` of a replica: status says so, repair starts it (same instance and disk), replicate and down work', async () => {
    const w = await grown(2);
    await w.etcdctl(['put', 'hacp/kept', 'yes']);
    const name = await replicaIn(w, ZONES[1]);
    const before = resources(w.server);
    await gcloud(w.server, 'POST', `zones/${ZONES[1]}/instances/${name}/stop`);
    const status = await w.controlPlane.status();
    expect(status.replicas.find((r) => r.name === name)?.state).toBe('stopped');
    expect(status.warnings.find((warning) => warning.code === 'REPLICA_STOPPED')?.message).toContain(name);
    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(stepIdsOf(plan)).toEqual([`start-instance:${name}`, `wait-healthy:${name}`]);
    await w.controlPlane.repair();
    // The target pool counts the started replica healthy at its next health check, which comes on
    // its own interval after repair's wait for the replica: later on two busy cores.
    await expect
      .poll(async () => (await w.controlPlane.status()).endpoint.targets.every((t) => t.healthy), {
        timeout: 60_000,
        interval: 1000,
      })
      .toBe(true);
    await expectConsistent(w, 2);
    // Started, not replaced: the same instances and disks.
    expect(resources(w.server)).toEqual(before);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/kept'])).toBe('yes');
    await replicateAndDown(w, 2, ZONES[2]);
  }, 300_000);

  it('`target-pools remove-instances` of a healthy replica: status warns, repair adds it back', async () => {
    const w = await grown(2);
    const name = await replicaIn(w, ZONES[1]);
    await gcloud(w.server, 'POST', `${POOL}/removeInstance`, {
      instances: [{ instance: `projects/${PROJECT}/zones/${ZONES[1]}/instances/${name}` }],
    });
    const status = await w.controlPlane.status();
    expect(status.endpoint.targets.map((target) => target.replica)).not.toContain(name);
    expect(status.warnings.find((warning) => warning.code === 'TARGET_MISSING')?.message).toContain(name);
    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(stepIdsOf(plan)).toEqual([`add-target:${name}`]);
    await w.controlPlane.repair();
    await expectConsistent(w, 2);
    expect(codesOf((await w.controlPlane.status()).warnings)).not.toContain('TARGET_MISSING');
    await replicateAndDown(w, 2, ZONES[2]);
  }, 300_000);

  it('`instances delete` of a replica: status warns, repair removes its target and member; without its target, the member only, and the next replica of that name starts on an empty data folder', async () => {
    const w = await grown(3);
    await w.etcdctl(['put', 'hacp/kept', 'yes']);
    const name = await replicaIn(w, ZONES[2]);
    await gcloud(w.server, 'DELETE', `zones/${ZONES[2]}/instances/${name}`);
    const status = await w.controlPlane.status();
    expect(codesOf(status.warnings)).toEqual(
      expect.arrayContaining(['INSTANCE_MISSING', 'TARGET_WITHOUT_INSTANCE']),
    );
    // gcloud kept its data disk and internal address.
    expect(resources(w.server).disks).toContain(`${name}-pd`);
    // A replicate now is refused before it changes anything (its member is down): the project's
    // resources stay, and the only writes are the lock's, in project metadata.
    const before = resources(w.server);
    const calls = mutating(w.server).length;
    const refused = await w.controlPlane.replicate({ zone: ZONES[2] }).catch((caught: unknown) => caught);
    expect(isHacpError(refused, 'QUORUM_AT_RISK')).toBe(true);
    expect(resources(w.server)).toEqual(before);
    expect(
      mutating(w.server)
        .slice(calls)
        .filter((request) => request.method !== 'compute.projects.setCommonInstanceMetadata'),
    ).toEqual([]);
    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(stepIdsOf(plan)).toEqual([
      `drop-target:${name}`,
      'snapshot',
      `remove-member:${name}`,
      `delete-instance:${name}`,
    ]);
    await w.controlPlane.repair();
    await expectConsistent(w, 2);
    expect(resources(w.server).disks).not.toContain(`${name}-pd`);
    expect(resources(w.server).addresses).not.toContain(`${name}-internal`);
    // The next replica in that zone gets the same name again: names come from the replicas and
    // members, which are as they were before it.
    await w.controlPlane.replicate({ zone: ZONES[2] });
    await expectConsistent(w, 3);
    expect(await replicaIn(w, ZONES[2])).toBe(name);

    // Now its target first, then its instance, by hand: the load balancer no longer names its zone,
    // so repair removes the member only, and its data disk stays.
    await gcloud(w.server, 'POST', `${POOL}/removeInstance`, {
      instances: [{ instance: `projects/${PROJECT}/zones/${ZONES[2]}/instances/${name}` }],
    });
    await gcloud(w.server, 'DELETE', `zones/${ZONES[2]}/instances/${name}`);
    expect(codesOf((await w.controlPlane.status()).warnings)).toContain('INSTANCE_MISSING');
    const memberOnly = stepIdsOf(await w.controlPlane.plan({ operation: 'repair' }));
    expect(memberOnly).toContain(`remove-member:${name}`);
    expect(memberOnly).not.toContain(`delete-instance:${name}`);
    await w.controlPlane.repair();
    expect(resources(w.server).disks).toContain(`${name}-pd`);
    // The next replica there has that name and that disk, with the removed member's etcd data on
    // it: its startup script moves that aside (the instance id on the disk is another's), and the
    // new member starts empty and catches up.
    await w.controlPlane.replicate({ zone: ZONES[2] });
    expect(w.server.runtime?.serialOutput(name, ZONES[2])).toMatch(/written by instance \d+, not this one/);
    await expectConsistent(w, 3);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/kept'])).toBe('yes');
    await w.controlPlane.down();
    expect(resources(w.server)).toEqual(NOTHING);
  }, 480_000);

  it('`instances delete` of a replica, then `replace --replica` it: a new replica in its zone', async () => {
    const w = await grown(3);
    const name = await replicaIn(w, ZONES[2]);
    await gcloud(w.server, 'DELETE', `zones/${ZONES[2]}/instances/${name}`);
    const before = resources(w.server);
    await w.controlPlane.replace({ name });
    // What the deleted instance left went with its member: its disk and internal address.
    expect(before.disks).toContain(`${name}-pd`);
    const status = await expectConsistent(w, 3);
    expect(status.replicas.map((r) => r.name)).not.toContain(name);
    expect(status.replicas.filter((r) => r.zone === ZONES[2])).toHaveLength(1);
    await w.controlPlane.down();
    expect(resources(w.server)).toEqual(NOTHING);
  }, 360_000);

  it('`forwarding-rules delete`: status says the endpoint is detached with no operation, repair makes the rule again', async () => {
    const w = await grown(2);
    const address = (await w.controlPlane.status()).endpoint.address;
    await gcloud(w.server, 'DELETE', `regions/${REGION}/forwardingRules/${CLUSTER}-master`);
    const status = await w.controlPlane.status();
    expect(status.endpoint.mode).toBe('detached');
    expect(status.operation).toBeUndefined();
    expect(status.warnings.find((warning) => warning.code === 'ENDPOINT_DETACHED')?.message).toContain(
      'hacp repair',
    );
    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(stepIdsOf(plan)).toEqual(['restore-endpoint']);
    await w.controlPlane.repair();
    const after = await expectConsistent(w, 2);
    expect(after.endpoint.address).toBe(address);
    expect(codesOf(after.warnings)).not.toContain('ENDPOINT_DETACHED');
    await replicateAndDown(w, 2, ZONES[2]);
  }, 300_000);
});
