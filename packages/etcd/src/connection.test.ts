import { createServer, type Server, type Socket } from 'node:net';
import { ErrorCode, type HacpError, isHacpError, waitUntil } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createMembershipClient } from './client.js';
import { EtcdReason } from './errors.js';
import { testPki } from './test-support.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A member that accepts TCP and never says a word: a stopped etcd looks like this to a client. */
async function startSilentMember(): Promise<{ url: string; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server: Server = createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => undefined);
    // Reads what it is sent (a TLS hello) without answering, and so sees the client hang up.
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  cleanups.push(() => {
    for (const socket of accepted) socket.destroy();
    server.close();
  });
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}`, accepted };
}

async function tls() {
  const pki = await testPki();
  return { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem };
}

async function rejection(promise: Promise<unknown>): Promise<HacpError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!isHacpError(error)) throw new Error(`expected a HacpError, got ${String(error)}`);
  return error;
}

describe('deadlines and close', () => {
  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses callTimeoutMs %s with INVALID_ARGUMENT',
    async (callTimeoutMs) => {
      const member = await startSilentMember();
      let error: unknown;
      try {
        createMembershipClient({ endpoints: [member.url], tls: await tls(), callTimeoutMs });
      } catch (thrown) {
        error = thrown;
      }
      expect(isHacpError(error) && error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(isHacpError(error) && error.details).toMatchObject({ field: 'callTimeoutMs' });
    },
  );

  it('refuses a deadlineMs of 0 before anything is sent', async () => {
    const member = await startSilentMember();
    const etcd = createMembershipClient({ endpoints: [member.url], tls: await tls() });
    cleanups.push(() => etcd.close());
    const error = await rejection(etcd.members({ deadlineMs: 0 }));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.details).toMatchObject({ field: 'deadlineMs' });
    expect(member.accepted).toHaveLength(0);
  });

  it('a member that accepts and never answers fails the call within its deadline, its connection cut', async () => {
    const member = await startSilentMember();
    const etcd = createMembershipClient({ endpoints: [member.url], tls: await tls(), callTimeoutMs: 5000 });
    cleanups.push(() => etcd.close());
    const started = Date.now();
    const error = await rejection(etcd.members({ deadlineMs: 1000 }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error.code).toBe(ErrorCode.UNAVAILABLE);
    expect(error.message).toContain(member.url);
    expect(error.message).toMatch(/did not answer/);
    // Which bound ends it first depends on the machine's load: the connection attempt (no TLS
    // handshake ever comes) or the call's deadline. Either way the call failed within its deadline.
    expect([EtcdReason.CONNECTION, EtcdReason.DEADLINE]).toContain(error.details.reason);
    expect(member.accepted.length).toBeGreaterThan(0);
    // Cut before the deadline, not left to close().
    await waitUntil({
      description: 'every connection to the silent member to close',
      timeoutMs: 10_000,
      minDelayMs: 10,
      maxDelayMs: 100,
      check: () =>
        member.accepted.every((socket) => socket.destroyed)
          ? { done: true, value: undefined }
          : { done: false },
    });
  });

  it('close during a call to a member that never answers ends the call and the connection at once', async () => {
    const member = await startSilentMember();
    const etcd = createMembershipClient({ endpoints: [member.url], tls: await tls(), callTimeoutMs: 60_000 });
    cleanups.push(() => etcd.close());
    const pending = rejection(etcd.members());
    await waitUntil({
      description: 'the client to connect',
      timeoutMs: 10_000,
      minDelayMs: 10,
      maxDelayMs: 100,
      check: () => (member.accepted.length > 0 ? { done: true, value: undefined } : { done: false }),
    });
    const closing = Date.now();
    etcd.close();
    const error = await pending;
    expect(Date.now() - closing).toBeLessThan(10_000);
    expect(error.code).toBe(ErrorCode.UNAVAILABLE);
    await waitUntil({
      description: 'every connection to the silent member to close',
      timeoutMs: 10_000,
      minDelayMs: 10,
      maxDelayMs: 100,
      check: () =>
        member.accepted.every((socket) => socket.destroyed)
          ? { done: true, value: undefined }
          : { done: false },
    });
  });

  it('a closed client refuses every call with ABORTED and sends nothing', async () => {
    const member = await startSilentMember();
    const etcd = createMembershipClient({ endpoints: [member.url], tls: await tls() });
    etcd.close();
    for (const call of [() => etcd.members(), () => etcd.hashKv(), () => etcd.health()]) {
      const error = await rejection(call());
      expect(error.code).toBe(ErrorCode.ABORTED);
    }
    expect(await etcd.status()).toMatchObject([{ ok: false, error: { code: ErrorCode.ABORTED } }]);
    expect(member.accepted).toHaveLength(0);
  });
});
