import { createClusterPki } from '@hacp/certs';
import { ErrorCode, type HacpError, isHacpError } from '@hacp/core';
import { freePorts } from '@hacp/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMembershipClient, type MembershipClient } from './client.js';
import { EtcdReason, etcdReasonOf, toHacpError } from './errors.js';
import { membershipOf, startTestCluster, type TestCluster, testPki, writeKeys } from './test-support.js';

async function rejection(promise: Promise<unknown>): Promise<HacpError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!isHacpError(error)) throw new Error(`expected a HacpError, got ${String(error)}`);
  return error;
}

describe('bad input leaves the cluster unchanged', () => {
  let test: TestCluster;
  let before: string[];
  let hashBefore: string;
  beforeAll(async () => {
    test = await startTestCluster(3);
    await writeKeys(test.cluster, 'data', 10);
    before = await membershipOf(test.etcd);
    hashBefore = (await test.etcd.hashKv())[0]?.hash as string;
  });
  afterAll(async () => {
    await test?.stop();
  });

  async function expectUnchanged() {
    expect(await membershipOf(test.etcd)).toEqual(before);
    const hashes = await test.etcd.hashKv();
    expect(hashes.map((entry) => entry.hash)).toEqual([hashBefore, hashBefore, hashBefore]);
  }

  it('an unknown member id is NOT_FOUND, naming the members there are', async () => {
    for (const call of [
      (id: string) => test.etcd.removeMember(id),
      (id: string) => test.etcd.promoteWhenReady(id),
      (id: string) => test.etcd.moveLeaderAway(id),
      (id: string) => test.etcd.migrateMember(id, 'https://127.0.0.1:1'),
    ]) {
      const error = await rejection(call('12345678901234567'));
      expect(error.code).toBe(ErrorCode.NOT_FOUND);
      expect(error.message).toContain('12345678901234567');
      expect(error.message).toContain('etcd-1');
      expect(error.exitCode).toBe(2);
    }
    await expectUnchanged();
  });

  it('a malformed member id is INVALID_ARGUMENT before anything is sent', async () => {
    for (const id of ['', 'abc', '-1', '0', '18446744073709551616', '1e3']) {
      const error = await rejection(test.etcd.removeMember(id));
      expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(error.details).toMatchObject({ field: 'id' });
    }
    await expectUnchanged();
  });

  it('a malformed peer URL or name is INVALID_ARGUMENT naming the field', async () => {
    for (const peerUrl of [
      '',
      'not a url',
      'http://127.0.0.1:2380',
      'https://127.0.0.1',
      'https://127.0.0.1:2380/x',
    ]) {
      const error = await rejection(test.etcd.addLearner({ name: 'etcd-9', peerUrl }));
      expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(error.details).toMatchObject({ field: 'peerUrl' });
      expect(error.actions[0]).toMatch(/https:\/\//);
    }
    for (const name of ['', 'a=b', 'a,b', 'has space']) {
      const error = await rejection(test.etcd.addLearner({ name, peerUrl: 'https://127.0.0.1:2380' }));
      expect(error.details).toMatchObject({ field: 'name' });
    }
    await expectUnchanged();
  });

  it('an existing peer URL or name is ALREADY_EXISTS', async () => {
    const [first] = await test.etcd.members();
    const byUrl = await rejection(
      test.etcd.addLearner({ name: 'etcd-9', peerUrl: first?.peerUrls[0] as string }),
    );
    expect(byUrl.code).toBe(ErrorCode.ALREADY_EXISTS);
    const [port] = await freePorts(1);
    const byName = await rejection(
      test.etcd.addLearner({ name: 'etcd-2', peerUrl: `https://127.0.0.1:${port}` }),
    );
    expect(byName.code).toBe(ErrorCode.ALREADY_EXISTS);
    await expectUnchanged();
  });

  it("maps etcd's own refusals, as the real server words them, to codes", async () => {
    const raw = test.cluster.client();
    const refusedWith = async (call: () => Promise<unknown>) => {
      // Past etcd's 5-second gate after start, which answers "unhealthy cluster" to everything.
      for (const deadline = Date.now() + 15_000; ; ) {
        const error = await call().then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(Error);
        const mapped = toHacpError(error, { operation: 'probe' });
        if (etcdReasonOf(mapped) !== EtcdReason.UNHEALTHY_CLUSTER || Date.now() > deadline) return mapped;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    const [first] = await test.etcd.members();
    const duplicate = await refusedWith(() =>
      raw.cluster.memberAdd({ peerURLs: [first?.peerUrls[0] as string], isLearner: true }),
    );
    expect([duplicate.code, etcdReasonOf(duplicate)]).toEqual([
      ErrorCode.ALREADY_EXISTS,
      EtcdReason.PEER_URL_EXISTS,
    ]);
    const unknown = await refusedWith(() => raw.cluster.memberRemove({ ID: '12345678901234567' }));
    expect([unknown.code, etcdReasonOf(unknown)]).toEqual([ErrorCode.NOT_FOUND, EtcdReason.MEMBER_NOT_FOUND]);
    const voter = await refusedWith(() => raw.cluster.memberPromote({ ID: first?.id as string }));
    expect([voter.code, etcdReasonOf(voter)]).toEqual([ErrorCode.CONFLICT, EtcdReason.MEMBER_NOT_LEARNER]);
    const follower = (await test.etcd.status()).find((entry) => entry.memberId !== entry.leaderId);
    const notLeader = await refusedWith(() =>
      test.cluster
        .client({
          members: [test.cluster.members.find((m) => m.clientUrl === follower?.endpoint)?.name as string],
        })
        .maintenance.moveLeader({ targetID: first?.id as string }),
    );
    expect([notLeader.code, etcdReasonOf(notLeader), notLeader.retryable]).toEqual([
      ErrorCode.UNAVAILABLE,
      EtcdReason.NOT_LEADER,
      true,
    ]);
    await expectUnchanged();
  });

  it('the last voter is never removed', async () => {
    const single = await startTestCluster(1);
    try {
      const [only] = await single.etcd.members();
      const error = await rejection(single.etcd.removeMember(only?.id as string));
      expect(error.code).toBe(ErrorCode.LAST_REPLICA);
      expect(error.actions.join(' ')).toContain('hacp down');
      expect(await single.etcd.members()).toHaveLength(1);
    } finally {
      await single.stop();
    }
  });

  describe('endpoints that cannot be used', () => {
    const clients: MembershipClient[] = [];
    afterAll(() => {
      for (const client of clients) client.close();
    });

    it('unreachable endpoints give UNAVAILABLE naming them', async () => {
      const pki = await testPki();
      const ports = await freePorts(2);
      const endpoints = ports.map((port) => `https://127.0.0.1:${port}`);
      const client = createMembershipClient({
        endpoints,
        tls: { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem },
      });
      clients.push(client);
      const error = await rejection(client.members());
      expect(error.code).toBe(ErrorCode.UNAVAILABLE);
      for (const endpoint of endpoints) expect(error.message).toContain(endpoint);
      expect(error.details).toMatchObject({ reason: EtcdReason.CONNECTION });
      const add = await rejection(client.addLearner({ name: 'etcd-9', peerUrl: 'https://127.0.0.1:2380' }));
      expect(add.code).toBe(ErrorCode.UNAVAILABLE);
      await expectUnchanged();
    });

    it('a client certificate from another CA is refused by etcd: UNAVAILABLE, nothing changed', async () => {
      const foreign = await createClusterPki({ clusterName: 'foreign', endpointAddress: '127.0.0.1' });
      const pki = await testPki();
      const client = createMembershipClient({
        endpoints: test.cluster.endpoints,
        tls: {
          caPem: pki.etcdCa.certPem,
          certPem: foreign.etcdClient.certPem,
          keyPem: foreign.etcdClient.keyPem,
        },
        callTimeoutMs: 3000,
      });
      clients.push(client);
      const error = await rejection(client.members());
      expect(error.code).toBe(ErrorCode.UNAVAILABLE);
      expect(error.actions.join(' ')).toMatch(/client certificate/);
      const [port] = await freePorts(1);
      const add = await rejection(
        client.addLearner({ name: 'etcd-9', peerUrl: `https://127.0.0.1:${port}` }),
      );
      expect(add.code).toBe(ErrorCode.UNAVAILABLE);
      await expectUnchanged();
    });

    it('members certified by a CA the client does not trust are refused: UNAVAILABLE', async () => {
      const foreign = await createClusterPki({ clusterName: 'foreign-ca', endpointAddress: '127.0.0.1' });
      const pki = await testPki();
      const client = createMembershipClient({
        endpoints: test.cluster.endpoints,
        tls: {
          caPem: foreign.etcdCa.certPem,
          certPem: pki.etcdClient.certPem,
          keyPem: pki.etcdClient.keyPem,
        },
        callTimeoutMs: 3000,
      });
      clients.push(client);
      const error = await rejection(client.members());
      expect(error.code).toBe(ErrorCode.UNAVAILABLE);
      await expectUnchanged();
    });

    it('no endpoints, or plain http ones, are INVALID_ARGUMENT at creation', async () => {
      const pki = await testPki();
      const tls = {
        caPem: pki.etcdCa.certPem,
        certPem: pki.etcdClient.certPem,
        keyPem: pki.etcdClient.keyPem,
      };
      expect(() => createMembershipClient({ endpoints: [], tls })).toThrow(/at least one etcd client URL/);
      expect(() => createMembershipClient({ endpoints: ['http://127.0.0.1:2379'], tls })).toThrow(/https/);
    });
  });
});
