import { afterEach, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster, writeKeys } from './test-support.js';

let current: TestCluster | undefined;
afterEach(async () => {
  await current?.stop();
  current = undefined;
});

describe('growing 1→3→5 and shrinking 5→3→1 through learners', () => {
  it('keeps every write, equal on every member, at each size', async () => {
    const test = await startTestCluster(1);
    current = test;
    const { cluster, etcd } = test;
    await writeKeys(cluster, 'size-1', 50);

    for (const name of ['etcd-2', 'etcd-3']) {
      const promoted = await test.grow(name);
      expect(promoted).toMatchObject({ name, learner: false, started: true });
    }
    expect((await etcd.members()).filter((member) => !member.learner)).toHaveLength(3);
    await writeKeys(cluster, 'size-3', 50);
    expect(await test.expectConsistent()).toBe(3);

    for (const name of ['etcd-4', 'etcd-5']) await test.grow(name);
    expect((await etcd.members()).map((member) => member.name).sort()).toEqual([
      'etcd-1',
      'etcd-2',
      'etcd-3',
      'etcd-4',
      'etcd-5',
    ]);
    await writeKeys(cluster, 'size-5', 50);
    expect(await test.expectConsistent()).toBe(5);

    // Shrink, the first member (the original leader, most likely) included.
    for (const name of ['etcd-1', 'etcd-2']) {
      const member = await test.memberNamed(name);
      const removed = await etcd.removeMember(member.id);
      expect(removed.removed.id).toBe(member.id);
      expect(removed.through).not.toBe(member.clientUrls[0]);
      await cluster.stopMember(name);
    }
    expect((await etcd.members()).map((member) => member.name).sort()).toEqual([
      'etcd-3',
      'etcd-4',
      'etcd-5',
    ]);
    await writeKeys(cluster, 'size-3-again', 50);
    expect(await test.expectConsistent()).toBe(3);

    for (const name of ['etcd-3', 'etcd-4']) {
      await etcd.removeMember((await test.memberNamed(name)).id);
      await cluster.stopMember(name);
    }
    const [last] = await etcd.members();
    expect(last?.name).toBe('etcd-5');
    await writeKeys(cluster, 'size-1-again', 50);
    expect(await test.expectConsistent()).toBe(1);

    const survivor = cluster.client({ members: ['etcd-5'] });
    for (const prefix of ['size-1', 'size-3', 'size-5', 'size-3-again', 'size-1-again']) {
      const keys = await survivor.getAll().prefix(`${prefix}/`).keys();
      expect(keys).toHaveLength(50);
    }
    expect(await survivor.get('size-1/49').string()).toBe('value-49');
  });
});
