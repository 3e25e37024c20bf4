import { randomInt } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, type HacpError, isHacpError, waitUntil } from '@hacp/core';
import { isAlive, type ProcessRecord } from '@hacp/core/provider-kit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  applyEndpoint,
  type EndpointConfig,
  endpointProcess,
  endpointRunning,
  endpointServerStates,
  statsSocketPath,
  stopEndpoint,
} from './haproxy.js';

const HAPROXY = '/usr/sbin/haproxy';
const WAIT_MS = 30_000;

/** A random loopback address outside the ranges other tests pick (127.0.0.x and the like). */
function randomLoopback(): string {
  return `127.${randomInt(64, 251)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

/** What a test started, stopped in afterEach by pid and by handle, also when the test failed. */
const cleanup = {
  states: [] as string[],
  servers: [] as Server[],
  sockets: [] as Socket[],
  ips: [] as string[],
};

/**
 * A new endpoint folder, laid out as the provider does (`<state>/endpoints/<name>`) under
 * HACP_LOCAL_TEST_ROOT when the package's global setup provides it, so its reaper finds the record too.
 */
async function newDir(): Promise<string> {
  const state = await mkdtemp(join(process.env.HACP_LOCAL_TEST_ROOT || tmpdir(), 'hacp-haproxy-'));
  cleanup.states.push(state);
  return join(state, 'endpoints', 'endpoint');
}

function newIp(): string {
  const ip = randomLoopback();
  cleanup.ips.push(ip);
  return ip;
}

/**
 * A backend standing in for a replica: writes its name and a newline on connect, then echoes. The
 * health checks of HAProxy connect to it too, which is fine.
 */
async function startBackend(name: string, host: string, port = 0): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  // Closing a backend also drops its connections, as a replica that dies would.
  const close = server.close.bind(server);
  server.close = (callback?: (error?: Error) => void) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  cleanup.servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) resolve();
    else server.close(() => resolve());
  });
}

/** Connects, reads the first line (the backend's name) and closes; '' when closed without data. */
function ask(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${host}:${port}`));
    }, 10_000);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text.split('\n')[0] ?? '');
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) done();
    });
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A connection kept open: its first line, and a way to send a line and read its echo. */
async function hold(host: string, port: number) {
  const socket = connect({ host, port });
  cleanup.sockets.push(socket);
  const events: string[] = [];
  let buffer = '';
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
  });
  socket.on('close', () => events.push('close'));
  socket.on('error', (error) => events.push(`error ${error.message}`));
  const nextLine = () =>
    waitUntil<string>({
      description: `a line from ${host}:${port}`,
      timeoutMs: 10_000,
      minDelayMs: 20,
      maxDelayMs: 200,
      check: () => {
        if (events.length > 0)
          throw new Error(`the connection to ${host}:${port} ended: ${events.join(', ')}`);
        const end = buffer.indexOf('\n');
        if (end === -1) return { done: false };
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        return { done: true, value: line };
      },
    });
  const name = await nextLine();
  return {
    socket,
    name,
    events,
    async exchange(line: string): Promise<string> {
      socket.write(`${line}\n`);
      return nextLine();
    },
  };
}

function ipFromProcHex(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  if (endianness() === 'LE') bytes.reverse();
  return [...bytes].join('.');
}

/** `ip:port` of every TCP socket listening on one of `ips` (/proc/net/tcp, state 0A). */
function listenersOn(ips: readonly string[]): string[] {
  const found: string[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (local === undefined || fields[3] !== '0A') continue;
    const [ipHex = '', portHex = ''] = local.split(':');
    const ip = ipFromProcHex(ipHex);
    if (ips.includes(ip)) found.push(`${ip}:${Number.parseInt(portHex, 16)}`);
  }
  return found;
}

/** Pid, state, parent, group and session of a process, from /proc/<pid>/stat. */
function procStat(pid: number): { state: string; ppid: number; pgrp: number; session: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state = '', ppid, pgrp, session] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state, ppid: Number(ppid), pgrp: Number(pgrp), session: Number(session) };
  } catch {
    return undefined;
  }
}

/** Live (not zombie) processes whose command line names the config of `dir`: master and workers. */
function haproxyPidsOf(dir: string): number[] {
  const marker = join(dir, 'haproxy.cfg');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(marker)) continue;
    } catch {
      continue;
    }
    const state = procStat(pid)?.state;
    if (state !== undefined && state !== 'Z' && state !== 'X') pids.push(pid);
  }
  return pids;
}

/** Applies with the real haproxy and registers the master with the testkit reaper, in case this worker dies. */
async function apply(dir: string, config: EndpointConfig): Promise<ProcessRecord> {
  await applyEndpoint({ binary: HAPROXY, dir, config });
  const record = await endpointProcess(dir);
  if (record === undefined) throw new Error(`no record in ${dir}`);
  const pidDir = process.env.HACP_TESTKIT_PID_DIR;
  if (pidDir) writeFileSync(join(pidDir, String(record.pid)), join(dir, 'haproxy.cfg'));
  return record;
}

async function caught(promise: Promise<unknown>): Promise<HacpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHacpError(error)) throw new Error(`expected a HacpError, got ${String(error)}`);
  return error;
}

function instance(
  ip: string,
  listeners: { name: string; port: number; to: { name: string; host: string; port: number }[] }[],
): EndpointConfig {
  return {
    listeners: listeners.map((listener) => ({
      name: listener.name,
      bindHost: ip,
      bindPort: listener.port,
      servers: listener.to,
    })),
  };
}

afterEach(async () => {
  const failures: string[] = [];
  for (const socket of cleanup.sockets.splice(0)) socket.destroy();
  for (const state of cleanup.states.splice(0)) {
    const dir = join(state, 'endpoints', 'endpoint');
    try {
      await stopEndpoint({ dir });
    } catch (error) {
      failures.push(`stopEndpoint(${dir}): ${String(error)}`);
    }
    const left = haproxyPidsOf(dir);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    if (left.length > 0) failures.push(`haproxy processes left for ${dir}: ${left.join(', ')}`);
    await rm(state, { recursive: true, force: true });
  }
  for (const server of cleanup.servers.splice(0)) await closeServer(server);
  const ips = cleanup.ips.splice(0);
  try {
    await waitUntil({
      description: 'no listener on the test addresses',
      timeoutMs: 10_000,
      check: () => (listenersOn(ips).length === 0 ? { done: true, value: undefined } : { done: false }),
    });
  } catch {
    failures.push(`listeners left: ${listenersOn(ips).join(', ')}`);
  }
  expect(failures).toEqual([]);
});

describe('HAProxy endpoint (real /usr/sbin/haproxy)', () => {
  it('instance mode forwards each listener to its one server; one without servers closes at once', async () => {
    const [dir, endpoint, replica] = [await newDir(), newIp(), newIp()];
    const apiserver = await startBackend('replica-apiserver', replica);
    const etcd = await startBackend('replica-etcd', replica);
    await apply(
      dir,
      instance(endpoint, [
        { name: 'apiserver', port: 6443, to: [{ name: 'r1', host: replica, port: apiserver.port }] },
        { name: 'etcd', port: 2379, to: [{ name: 'r1', host: replica, port: etcd.port }] },
        { name: 'spare', port: 2380, to: [] },
      ]),
    );

    expect(await ask(endpoint, 6443)).toBe('replica-apiserver');
    expect(await ask(endpoint, 2379)).toBe('replica-etcd');
    expect(await ask(endpoint, 2380)).toBe('');
    expect(await endpointRunning({ dir })).toBe(true);
    expect(await endpointServerStates({ dir })).toEqual([
      { listener: 'apiserver', server: 'r1', status: 'no check', up: true },
      { listener: 'etcd', server: 'r1', status: 'no check', up: true },
    ]);
    expect(listenersOn([endpoint]).sort()).toEqual([
      `${endpoint}:2379`,
      `${endpoint}:2380`,
      `${endpoint}:6443`,
    ]);
    expect((await stat(join(dir, 'haproxy.cfg'))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('load-balancer mode reaches both healthy servers, then only the one left when the other dies', async () => {
    const [dir, endpoint, replicaA, replicaB] = [await newDir(), newIp(), newIp(), newIp()];
    const a = await startBackend('a', replicaA, 6443);
    await startBackend('b', replicaB, 6443);
    await apply(dir, {
      listeners: [
        {
          name: 'apiserver',
          bindHost: endpoint,
          bindPort: 6443,
          servers: [
            { name: 'a', host: replicaA, port: 6443 },
            { name: 'b', host: replicaB, port: 6443 },
          ],
        },
      ],
      healthCheck: {
        protocol: 'tcp',
        port: 6443,
        intervalSeconds: 1,
        unhealthyThreshold: 2,
        healthyThreshold: 2,
      },
    });
    await waitUntil({
      description: 'both servers up',
      timeoutMs: WAIT_MS,
      check: async () => {
        const states = await endpointServerStates({ dir });
        return states.length === 2 && states.every((s) => s.status === 'UP')
          ? { done: true, value: undefined }
          : { done: false, reason: JSON.stringify(states) };
      },
    });

    // leastconn: while the first connection is open, the second goes to the other server.
    const first = await hold(endpoint, 6443);
    const second = await hold(endpoint, 6443);
    expect([first.name, second.name].sort()).toEqual(['a', 'b']);
    first.socket.destroy();
    second.socket.destroy();

    await closeServer(a.server);
    const states = await waitUntil({
      description: 'server a marked down',
      timeoutMs: WAIT_MS,
      check: async () => {
        const now = await endpointServerStates({ dir });
        return now.find((s) => s.server === 'a')?.up === false
          ? { done: true, value: now }
          : { done: false, reason: JSON.stringify(now) };
      },
    });
    expect(states).toEqual([
      { listener: 'apiserver', server: 'a', status: expect.stringMatching(/^DOWN/), up: false },
      { listener: 'apiserver', server: 'b', status: 'UP', up: true },
    ]);
    const names = [];
    for (let i = 0; i < 10; i++) names.push(await ask(endpoint, 6443));
    expect(names).toEqual(Array(10).fill('b'));
  });

  it('a reload with a changed server set keeps an established connection', async () => {
    const [dir, endpoint, replicaA, replicaB] = [await newDir(), newIp(), newIp(), newIp()];
    const a = await startBackend('a', replicaA, 2379);
    const b = await startBackend('b', replicaB, 2379);
    const before = await apply(
      dir,
      instance(endpoint, [{ name: 'etcd', port: 2379, to: [{ name: 'a', host: replicaA, port: a.port }] }]),
    );

    const connection = await hold(endpoint, 2379);
    expect(connection.name).toBe('a');
    expect(await connection.exchange('before reload')).toBe('before reload');

    const after = await apply(
      dir,
      instance(endpoint, [
        { name: 'etcd', port: 2379, to: [{ name: 'b', host: replicaB, port: b.port }] },
        { name: 'apiserver', port: 6443, to: [{ name: 'b', host: replicaB, port: b.port }] },
      ]),
    );

    expect(await connection.exchange('after reload')).toBe('after reload');
    expect(connection.events).toEqual([]);
    expect(after).toEqual(before);
    expect(await endpointServerStates({ dir })).toEqual([
      { listener: 'etcd', server: 'b', status: 'no check', up: true },
      { listener: 'apiserver', server: 'b', status: 'no check', up: true },
    ]);
    expect(await ask(endpoint, 2379)).toBe('b');
    expect(await ask(endpoint, 6443)).toBe('b');
  });

  it('a configuration that haproxy -c rejects leaves the running endpoint as it was', async () => {
    const [dir, endpoint, replicaA, replicaB] = [await newDir(), newIp(), newIp(), newIp()];
    const a = await startBackend('a', replicaA);
    const b = await startBackend('b', replicaB);
    const record = await apply(
      dir,
      instance(endpoint, [{ name: 'etcd', port: 2379, to: [{ name: 'a', host: replicaA, port: a.port }] }]),
    );
    const running = await readFile(join(dir, 'haproxy.cfg'), 'utf8');
    // A haproxy that fails every check and runs the real one otherwise.
    const rejecting = join(dir, 'rejecting-haproxy');
    await writeFile(
      rejecting,
      `#!/bin/sh\nif [ "$1" = "-c" ]; then echo "[ALERT] test: configuration rejected" >&2; exit 1; fi\nexec ${HAPROXY} "$@"\n`,
    );
    await chmod(rejecting, 0o755);

    const error = await caught(
      applyEndpoint({
        binary: rejecting,
        dir,
        config: instance(endpoint, [
          { name: 'etcd', port: 2379, to: [{ name: 'b', host: replicaB, port: b.port }] },
        ]),
      }),
    );

    expect(error.code).toBe(ErrorCode.PROVIDER_ERROR);
    expect(error.message).toContain('test: configuration rejected');
    expect(await readFile(join(dir, 'haproxy.cfg'), 'utf8')).toBe(running);
    expect(await endpointProcess(dir)).toEqual(record);
    expect(isAlive(record)).toBe(true);
    expect(await ask(endpoint, 2379)).toBe('a');
    expect(await endpointServerStates({ dir })).toEqual([
      { listener: 'etcd', server: 'a', status: 'no check', up: true },
    ]);
  });

  it('an address in use fails with UNAVAILABLE and leaves no haproxy running', async () => {
    const [dir, endpoint, replica] = [await newDir(), newIp(), newIp()];
    const squatter = await startBackend('squatter', endpoint, 2379);
    const backend = await startBackend('replica', replica);

    const error = await caught(
      applyEndpoint({
        binary: HAPROXY,
        dir,
        config: instance(endpoint, [
          { name: 'apiserver', port: 6443, to: [{ name: 'r1', host: replica, port: backend.port }] },
          { name: 'etcd', port: squatter.port, to: [{ name: 'r1', host: replica, port: backend.port }] },
        ]),
      }),
    );

    expect(error.code).toBe(ErrorCode.UNAVAILABLE);
    expect(error.message).toContain(`${endpoint}:2379`);
    const pid = (error.details as { pid?: number }).pid;
    expect(pid).toBeTypeOf('number');
    const leftover = procStat(pid as number);
    expect(leftover === undefined || leftover.state === 'Z').toBe(true);
    expect(haproxyPidsOf(dir)).toEqual([]);
    expect(await endpointProcess(dir)).toBeUndefined();
    expect(await endpointRunning({ dir })).toBe(false);
    expect(listenersOn([endpoint])).toEqual([`${endpoint}:2379`]);
    expect(await ask(endpoint, 2379)).toBe('squatter');
  });

  it('a second HAProxy cannot bind an address the first serves (no SO_REUSEPORT sharing)', async () => {
    const [first, second, endpoint, replica] = [await newDir(), await newDir(), newIp(), newIp()];
    const backend = await startBackend('first', replica);
    const config = instance(endpoint, [
      { name: 'etcd', port: 2379, to: [{ name: 'r1', host: replica, port: backend.port }] },
    ]);
    await apply(first, config);

    const error = await caught(applyEndpoint({ binary: HAPROXY, dir: second, config }));

    expect(error.code).toBe(ErrorCode.UNAVAILABLE);
    expect(haproxyPidsOf(second)).toEqual([]);
    expect(await ask(endpoint, 2379)).toBe('first');
  });

  it('stopEndpoint stops master and workers and frees the address; stopping again is fine', async () => {
    const [dir, endpoint, replica] = [await newDir(), newIp(), newIp()];
    const backend = await startBackend('r1', replica);
    const record = await apply(dir, {
      ...instance(endpoint, [
        { name: 'etcd', port: 2379, to: [{ name: 'r1', host: replica, port: backend.port }] },
      ]),
      healthCheck: { protocol: 'tcp', port: backend.port },
    });
    expect(haproxyPidsOf(dir).length).toBeGreaterThanOrEqual(2);
    await stat(statsSocketPath(dir));

    await stopEndpoint({ dir });

    expect(isAlive(record)).toBe(false);
    expect(haproxyPidsOf(dir)).toEqual([]);
    expect(listenersOn([endpoint])).toEqual([]);
    await expect(stat(statsSocketPath(dir))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(dir, 'haproxy.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await endpointRunning({ dir })).toBe(false);
    expect(await endpointServerStates({ dir })).toEqual([]);
    await expect(stopEndpoint({ dir })).resolves.toBeUndefined();
  });

  it('the master leads its own session and process group, and its workers are in that group', async () => {
    const [dir, endpoint, replica] = [await newDir(), newIp(), newIp()];
    const backend = await startBackend('r1', replica);
    const record = await apply(
      dir,
      instance(endpoint, [
        { name: 'etcd', port: 2379, to: [{ name: 'r1', host: replica, port: backend.port }] },
      ]),
    );

    const master = procStat(record.pid);
    expect(master).toMatchObject({ pgrp: record.pid, session: record.pid });
    const workers = haproxyPidsOf(dir).filter((pid) => pid !== record.pid);
    expect(workers.length).toBeGreaterThanOrEqual(1);
    for (const worker of workers)
      expect(procStat(worker)).toMatchObject({ ppid: record.pid, pgrp: record.pid });
  });

  it('apply after the master died starts a new one over the stale record and socket', async () => {
    const [dir, endpoint, replica] = [await newDir(), newIp(), newIp()];
    const backend = await startBackend('r1', replica);
    const config = instance(endpoint, [
      { name: 'etcd', port: 2379, to: [{ name: 'r1', host: replica, port: backend.port }] },
    ]);
    const dead = await apply(dir, config);
    process.kill(dead.pid, 'SIGKILL');
    await waitUntil({
      description: 'the killed master and its worker to be gone',
      timeoutMs: WAIT_MS,
      check: () => (haproxyPidsOf(dir).length === 0 ? { done: true, value: undefined } : { done: false }),
    });
    expect(await endpointRunning({ dir })).toBe(false);
    expect(await endpointServerStates({ dir })).toEqual([]);

    const fresh = await apply(dir, config);

    expect(fresh.pid).not.toBe(dead.pid);
    expect(isAlive(fresh)).toBe(true);
    expect(await ask(endpoint, 2379)).toBe('r1');
  });
});
