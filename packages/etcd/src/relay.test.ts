import { connect, createServer, type Server, type Socket } from 'node:net';
import { waitUntil } from '@hacp/core';
import { freePort } from '@hacp/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type MemberRelay, openRelay } from './relay.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A member stand-in on loopback: answers "hello" with "hello back", and says nothing otherwise. */
async function startMember(): Promise<{ port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server: Server = createServer((socket) => {
    accepted.push(socket);
    socket.on('data', (data) => {
      if (data.toString() === 'hello') socket.write('hello back');
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  cleanups.push(() => {
    for (const socket of accepted) socket.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, accepted };
}

async function relayTo(port: number): Promise<MemberRelay> {
  const relay = await openRelay({ host: '127.0.0.1', port });
  cleanups.push(() => relay.close());
  return relay;
}

/** A client connection to the relay, with what it received and whether it closed. */
async function dial(relay: MemberRelay) {
  const socket = connect({ host: '127.0.0.1', port: relay.port });
  cleanups.push(() => socket.destroy());
  const state = { received: '', closed: false, socket };
  socket.on('data', (data) => {
    state.received += data.toString();
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    state.closed = true;
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return state;
}

const until = (description: string, done: () => boolean) =>
  waitUntil({
    description,
    timeoutMs: 10_000,
    minDelayMs: 5,
    maxDelayMs: 50,
    check: () => (done() ? { done: true, value: undefined } : { done: false }),
  });

describe('openRelay', () => {
  it('listens on loopback and pipes both ways', async () => {
    const member = await startMember();
    const relay = await relayTo(member.port);
    const client = await dial(relay);
    client.socket.write('hello');
    await until('the answer through the relay', () => client.received === 'hello back');
    expect(member.accepted).toHaveLength(1);
    expect(member.accepted[0]?.remoteAddress).toBe('127.0.0.1');
  });

  it('cuts only the connections the member has not answered, and says why', async () => {
    const member = await startMember();
    const relay = await relayTo(member.port);
    const talking = await dial(relay);
    talking.socket.write('hello');
    await until('the answer', () => talking.received === 'hello back');
    const silent = await dial(relay);
    await until('the member to accept both', () => member.accepted.length === 2);

    expect(relay.cutUnanswered('no answer in 900 ms', 0)).toBe(1);

    await until('the unanswered connection to close', () => silent.closed);
    await until('the member to see it close', () => member.accepted[1]?.destroyed === true);
    expect(talking.closed).toBe(false);
    talking.socket.write('hello');
    await until('a second answer', () => talking.received === 'hello backhello back');
    expect(relay.lastFailure()?.message).toBe('no answer in 900 ms');
  });

  it('leaves an unanswered connection younger than minAgeMs', async () => {
    const member = await startMember();
    const relay = await relayTo(member.port);
    const silent = await dial(relay);
    await until('the member to accept it', () => member.accepted.length === 1);
    expect(relay.cutUnanswered('too early', 60_000)).toBe(0);
    expect(silent.closed).toBe(false);
    expect(relay.lastFailure()).toBeUndefined();
  });

  it('close ends every connection on both sides and stops listening', async () => {
    const member = await startMember();
    const relay = await relayTo(member.port);
    const talking = await dial(relay);
    talking.socket.write('hello');
    await until('the answer', () => talking.received === 'hello back');
    const silent = await dial(relay);
    await until('the member to accept both', () => member.accepted.length === 2);

    relay.close();
    relay.close();

    await until('both client connections to close', () => talking.closed && silent.closed);
    await until('the member to see both close', () => member.accepted.every((socket) => socket.destroyed));
    const refused = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: relay.port });
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('remembers why the member could not be reached', async () => {
    const relay = await relayTo(await freePort());
    const client = await dial(relay);
    await until('the relay to drop the connection', () => client.closed);
    expect((relay.lastFailure() as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNREFUSED');
  });
});
