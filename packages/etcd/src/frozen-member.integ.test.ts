import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '@hacp/core';
import { type EtcdTestMember, spawnTracked } from '@hacp/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMembershipClient, type MembershipClient } from './client.js';
import { startTestCluster, type TestCluster, testPki } from './test-support.js';

/** The per-call deadline under test; each bound below is a multiple of it, generous for busy cores. */
const DEADLINE_MS = 2500;

/** Runs `body` with process `pid` stopped (SIGSTOP, a hung host), and always lets it go on after. */
async function whileFrozen<T>(pid: number | undefined, body: () => Promise<T>): Promise<T> {
  if (pid === undefined) throw new Error('the member to freeze does not run');
  process.kill(pid, 'SIGSTOP');
  try {
    return await body();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await run();
  return { value, ms: Date.now() - started };
}

/** Inodes of the TCP sockets this process holds that are connected to `port` on loopback. */
async function socketsTo(port: number): Promise<string[]> {
  const own = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1] !== undefined) own.add(match[1]);
  }
  const table = await readFile('/proc/net/tcp', 'utf8');
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[2]?.endsWith(`:${hexPort}`) && own.has(fields[9] as string))
    .map((fields) => fields[9] as string);
}

describe('with one of three members frozen (SIGSTOP, a hung host)', () => {
  let test: TestCluster;
  let tls: { caPem: string; certPem: string; keyPem: string };
  beforeAll(async () => {
    test = await startTestCluster(3);
    const pki = await testPki();
    tls = {
      caPem: pki.etcdCa.certPem,
      certPem: pki.etcdClient.certPem,
      keyPem: pki.etcdClient.keyPem.reveal(),
    };
  });
  // The member thawed, the next test starts from a healthy cluster again.
  afterEach(async () => {
    await test?.cluster.waitHealthy({ timeoutMs: 30_000 });
  });
  afterAll(async () => {
    await test?.stop();
  });

  /**
   * A follower to freeze, and every endpoint with it first (as the first replica comes first in the
   * SDK). A follower, so that the deadlines are all that is measured: a frozen leader also costs the
   * others an election before they serve linearizable reads.
   */
  async function frozenFollower() {
    const leader = await test.cluster.leader();
    const member = test.cluster.members.find((candidate) => candidate.name !== leader) as EtcdTestMember;
    const others = test.cluster.endpoints.filter((url) => url !== member.clientUrl);
    return { member, port: Number(new URL(member.clientUrl).port), endpoints: [member.clientUrl, ...others] };
  }

  /**
   * Waits until this process holds no connection to `port` but those in `before` (the testkit's
   * own clients, which gRPC keeps for a while after they are closed).
   */
  const noConnectionTo = (port: number, before: readonly string[]) =>
    waitUntil({
      description: 'the connections to the frozen member to close',
      timeoutMs: 5000,
      minDelayMs: 20,
      maxDelayMs: 200,
      check: async () => {
        const open = (await socketsTo(port)).filter((inode) => !before.includes(inode));
        const table = open.length === 0 ? '' : await readFile('/proc/net/tcp', 'utf8');
        return open.length === 0
          ? { done: true, value: undefined }
          : {
              done: false,
              reason: `${open.length} open: ${table
                .split('\n')
                .filter((line) => open.some((inode) => line.includes(` ${inode} `)))
                .join(' | ')}`,
            };
      },
    });

  it('members, health and status finish within their deadlines, and close leaves no connection to it', async () => {
    const frozen = await frozenFollower();
    const before = await socketsTo(frozen.port);
    const etcd: MembershipClient = createMembershipClient({
      endpoints: frozen.endpoints,
      tls,
      callTimeoutMs: DEADLINE_MS,
    });
    try {
      await whileFrozen(frozen.member.pid, async () => {
        const members = await timed(() => etcd.members());
        expect(members.value.map((member) => member.name).sort()).toEqual(['etcd-1', 'etcd-2', 'etcd-3']);
        // One deadline for the member that does not answer, not one per call made to it.
        expect(members.ms).toBeLessThan(2 * DEADLINE_MS);
        // It is tried last from now on.
        expect((await timed(() => etcd.members())).ms).toBeLessThan(DEADLINE_MS);

        const health = await timed(() => etcd.health({ timeoutMs: DEADLINE_MS }));
        expect(health.value.filter((entry) => !entry.healthy).map((entry) => entry.name)).toEqual([
          frozen.member.name,
        ]);
        expect(health.ms).toBeLessThan(2 * DEADLINE_MS);

        const status = await timed(() => etcd.status({ endpoints: frozen.endpoints }));
        expect(status.value.map((entry) => entry.ok)).toEqual([false, true, true]);
        expect(status.value[0]?.error?.message).toMatch(/did not answer/);
        expect(status.ms).toBeLessThan(2 * DEADLINE_MS);

        const closing = Date.now();
        etcd.close();
        expect(Date.now() - closing).toBeLessThan(500);
        await noConnectionTo(frozen.port, before);
      });
    } finally {
      etcd.close();
    }
  });

  it('a member frozen after the client connected: calls to it end at their deadline, close leaves nothing', async () => {
    const frozen = await frozenFollower();
    const before = await socketsTo(frozen.port);
    const etcd = createMembershipClient({ endpoints: frozen.endpoints, tls, callTimeoutMs: DEADLINE_MS });
    try {
      expect((await etcd.health()).every((entry) => entry.healthy)).toBe(true);
      expect((await socketsTo(frozen.port)).filter((inode) => !before.includes(inode))).not.toEqual([]);
      await whileFrozen(frozen.member.pid, async () => {
        const health = await timed(() => etcd.health({ timeoutMs: DEADLINE_MS }));
        expect(health.value.filter((entry) => !entry.healthy).map((entry) => entry.name)).toEqual([
          frozen.member.name,
        ]);
        expect(health.ms).toBeLessThan(2 * DEADLINE_MS);
        const status = await timed(() => etcd.status());
        expect(status.value.map((entry) => entry.ok)).toEqual([false, true, true]);
        expect(status.ms).toBeLessThan(2 * DEADLINE_MS);
        etcd.close();
        await noConnectionTo(frozen.port, before);
      });
    } finally {
      etcd.close();
    }
  });

  /** Runs the fixture in `mode` with a follower frozen; what it printed last, once it exited on its own. */
  async function runFixture(mode: 'read' | 'abandon', deadlineMs: number) {
    const frozen = await frozenFollower();
    const { caFile, certFile, keyFile } = test.cluster.clientTls;
    // `abandon` talks to the frozen member alone.
    const endpoints = mode === 'read' ? frozen.endpoints : [frozen.member.clientUrl];
    const child = spawnTracked({
      command: process.execPath,
      args: [
        fileURLToPath(new URL('./frozen-member.fixture.mjs', import.meta.url)),
        mode,
        String(deadlineMs),
        caFile,
        certFile,
        keyFile,
        ...endpoints,
      ],
      logFile: join(test.cluster.dir, `frozen-member-${mode}.log`),
      marker: test.cluster.dir,
    });
    try {
      const outcome = await whileFrozen(frozen.member.pid, async () => {
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise<'still running'>((resolve) => {
          timer = setTimeout(() => resolve('still running'), 20_000);
        });
        try {
          return await Promise.race([child.exited, bound]);
        } finally {
          clearTimeout(timer);
        }
      });
      const output = await readFile(child.logFile, 'utf8');
      expect(outcome, output).toEqual({ code: 0, signal: null });
      return { endpoints, result: JSON.parse(output.trim().split('\n').at(-1) as string) };
    } finally {
      await child.stop({ signal: 'SIGKILL' });
    }
  }

  it('a process that reads through a client and closes it exits on its own', async () => {
    const { endpoints, result } = await runFixture('read', DEADLINE_MS);
    expect(result).toMatchObject({ members: 3, healthy: 2, answered: endpoints.slice(1) });
  });

  it('closing the client while a call to the frozen member is pending leaves no timer and no connection', async () => {
    // A minute's deadline: nothing but close() ends this call.
    const { result } = await runFixture('abandon', 60_000);
    expect(result.outcome).toBe('UNAVAILABLE');
    expect(result.tookMs).toBeLessThan(20_000);
    expect(result.keepingNodeRunning).not.toContain('Timeout');
    expect(result.keepingNodeRunning).not.toContain('ConnectWrap');
  });
});
