import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type ClusterPki, createClusterPki, issueReplicaCerts } from '@hacp/certs';
import { isHacpError, waitUntil } from '@hacp/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdTestCluster, startEtcdCluster } from './etcd-cluster.js';
import { isAlive as alive, trackedPids } from './processes.js';

/** etcd accepts membership changes only after every voter was connected for 5 s; retry until then. */
function retryThroughStartupGate<T>(description: string, call: () => Promise<T>): Promise<T> {
  return waitUntil({
    description,
    timeoutMs: 20_000,
    minDelayMs: 250,
    maxDelayMs: 1000,
    retryOn: (error) => error instanceof Error && /unhealthy cluster/.test(error.message),
    check: async () => ({ done: true, value: await call() }),
  });
}

let pki: ClusterPki;
beforeAll(async () => {
  pki = await createClusterPki({ clusterName: 'testkit', endpointAddress: '127.0.0.1' });
});

describe('a 3-member etcd cluster with peer and client mTLS', () => {
  let cluster: EtcdTestCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 3, pki });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('is healthy: three started voters, one leader, TLS URLs, unique token', async () => {
    const { members } = await cluster.client().cluster.memberList({ linearizable: true });
    expect(members.map((m) => m.name).sort()).toEqual(['etcd-1', 'etcd-2', 'etcd-3']);
    for (const member of members) {
      expect(member.isLearner).toBe(false);
      expect(member.peerURLs[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(member.clientURLs[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    }
    const leaders = await Promise.all(
      cluster.members.map((m) =>
        cluster
          .client({ members: [m.name] })
          .maintenance.status()
          .then((s) => s.leader),
      ),
    );
    expect(new Set(leaders).size).toBe(1);
    expect(members.map((m) => m.ID)).toContain(leaders[0]);
    expect(cluster.token).toMatch(/^hacp-test-[0-9a-f]{12}$/);
  });

  it('serves writes and linearizable reads through each member', async () => {
    await cluster.client().put('hacp/greeting').value('hello');
    for (const member of cluster.members) {
      expect(
        await cluster
          .client({ members: [member.name] })
          .get('hacp/greeting')
          .string(),
      ).toBe('hello');
    }
  });

  it('refuses a client that offers no certificate, and etcdctl without one', async () => {
    const anonymous = cluster.client({ withCertificate: false, dialTimeoutMs: 2000 });
    await expect(anonymous.get('hacp/greeting').string()).rejects.toThrow();
    await expect(cluster.etcdctl(['get', 'hacp/greeting'], { withCertificate: false })).rejects.toThrow();
    // The same calls with the certificate succeed, so the refusal is the certificate's doing.
    expect(await cluster.etcdctl(['get', 'hacp/greeting', '--print-value-only'])).toBe('hello\n');
  });

  it('refuses a peer whose certificate comes from another CA', async () => {
    const foreignPki = await createClusterPki({ clusterName: 'intruder', endpointAddress: '127.0.0.1' });
    const foreignCerts = await issueReplicaCerts(foreignPki, {
      replicaName: 'intruder',
      hostname: 'intruder',
      internalIp: '127.0.0.1',
    });
    const admin = cluster.client();
    const initialCluster = (await admin.cluster.memberList({ linearizable: true })).members.map(
      (m) => `${m.name}=${m.peerURLs[0]}`,
    );
    const { freePorts } = await import('./ports.js');
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    const added = await retryThroughStartupGate('the learner to be added', () =>
      admin.cluster.memberAdd({ peerURLs: [`https://127.0.0.1:${peerPort}`], isLearner: true }),
    );
    const learnerId = added.member.ID;
    // It trusts our etcd CA, so only the members' check of its certificate can keep it out.
    const intruder = await cluster.spawnMember({
      name: 'intruder',
      certs: foreignCerts,
      trustedCaPem: pki.etcdCa.certPem,
      initialCluster,
      state: 'existing',
      clientPort,
      peerPort,
    });
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const learner = (await admin.cluster.memberList({ linearizable: true })).members.find(
      (m) => m.ID === learnerId,
    );
    expect(learner?.name).toBe(''); // never started: its peer connection was refused
    const memberLogs = await Promise.all(
      ['etcd-1', 'etcd-2', 'etcd-3'].map((n) => readFile(cluster.member(n).logFile, 'utf8')),
    );
    expect(memberLogs.join('\n')).toMatch(/certificate signed by unknown authority|bad certificate/);
    await admin.cluster.memberRemove({ ID: learnerId });
    await cluster.stopMember(intruder.name);

    // Control: the same join with a certificate from the cluster's CA succeeds.
    const [goodClient, goodPeer] = (await freePorts(2)) as [number, number];
    const good = await admin.cluster.memberAdd({
      peerURLs: [`https://127.0.0.1:${goodPeer}`],
      isLearner: true,
    });
    await cluster.spawnMember({
      name: 'etcd-4',
      initialCluster,
      state: 'existing',
      clientPort: goodClient,
      peerPort: goodPeer,
    });
    const started = await waitUntil({
      description: 'the learner with a good certificate to start',
      timeoutMs: 20_000,
      check: async () => {
        const member = (await admin.cluster.memberList({ linearizable: true })).members.find(
          (m) => m.ID === good.member.ID,
        );
        return member?.name ? { done: true, value: member.name } : { done: false };
      },
    });
    expect(started).toBe('etcd-4');
    await admin.cluster.memberRemove({ ID: good.member.ID });
    await cluster.stopMember('etcd-4');
  });
});

describe('losing members', () => {
  let cluster: EtcdTestCluster;
  afterEach(async () => {
    await cluster?.stop();
  });

  it('keeps accepting writes with its leader killed, and stops without quorum', async () => {
    cluster = await startEtcdCluster({ members: 3, pki });
    const leader = await cluster.leader();
    const [first, second] = cluster.members.map((m) => m.name).filter((name) => name !== leader) as [
      string,
      string,
    ];
    await cluster.killMember(leader);
    expect(cluster.member(leader).running).toBe(false);

    // The two survivors elect a new leader among themselves, then take writes.
    await cluster.waitHealthy({ timeoutMs: 15_000 });
    expect([first, second]).toContain(await cluster.leader());
    const survivors = cluster.client({ members: [first, second] });
    await survivors.put('hacp/after-one-loss').value('still writable');
    expect(await survivors.get('hacp/after-one-loss').string()).toBe('still writable');

    await cluster.killMember(second);
    const lonely = cluster.client({ members: [first] });
    await expect(lonely.put('hacp/after-two-losses').value('lost')).rejects.toThrow();

    await cluster.startMember(second);
    await cluster.startMember(leader);
    await cluster.waitHealthy();
    await cluster.client().put('hacp/after-restart').value('back');
    const restarted = cluster.client({ members: [leader] });
    expect(await restarted.get('hacp/after-one-loss').string()).toBe('still writable');
    expect(await restarted.get('hacp/after-restart').string()).toBe('back');
  });

  it('stops every process it started and removes its folder', async () => {
    cluster = await startEtcdCluster({ members: 1, pki });
    const pids = cluster.members.map((m) => m.pid as number);
    expect(pids.every((pid) => alive(pid))).toBe(true);
    const dir = cluster.dir;
    await cluster.stop();
    expect(pids.some((pid) => alive(pid))).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(trackedPids().filter((pid) => pids.includes(pid))).toEqual([]);
  });

  it('stops what it started when the start fails, and says why', async () => {
    const error = await startEtcdCluster({ members: 1, pki, etcdBinary: '/nonexistent/etcd' }).catch(
      (e) => e,
    );
    expect(isHacpError(error, 'DEPENDENCY_MISSING')).toBe(true);
    expect(error.actions.join(' ')).toContain('etcd-server');
    const bad = await startEtcdCluster({ members: 2 as 3, pki }).catch((e) => e);
    expect(isHacpError(bad, 'INVALID_ARGUMENT')).toBe(true);

    // A member that starts and dies at once: the start fails with its log, and nothing is left.
    const before = trackedPids();
    const dying = await startEtcdCluster({ members: 3, pki, etcdBinary: '/bin/false' }).catch((e) => e);
    expect(isHacpError(dying, 'UNAVAILABLE')).toBe(true);
    expect(dying.message).toMatch(/exited while starting/);
    expect(trackedPids().filter((pid) => !before.includes(pid))).toEqual([]);
    // The folder it made (named by the member's log path) is gone; other packages' tests may be
    // making folders of their own in the same tmpdir meanwhile, so only this one is checked.
    const madeDir = dirname(dirname(dying.details.logFile as string));
    expect(madeDir.startsWith(join(tmpdir(), 'hacp-etcd-'))).toBe(true);
    expect(existsSync(madeDir)).toBe(false);
  });

  it('runs five members', async () => {
    cluster = await startEtcdCluster({ members: 5, pki });
    const { members } = await cluster.client().cluster.memberList({ linearizable: true });
    expect(members).toHaveLength(5);
  });
});
