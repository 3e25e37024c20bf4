/**
 * Tunnels through a fake gcloud (./fake-gcloud.fixture.mjs, copied as `gcloud` into a temp folder):
 * the argv hacp gives gcloud, bytes flowing through the tunnel, close() killing it by pid, and a
 * gcloud that ends early.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, isHacpError, noopLogger } from '@hacp/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTunnels, type Tunnels } from './reach.js';

const dir = mkdtempSync(join(tmpdir(), 'hacp-gce-reach-'));
const gcloud = join(dir, 'gcloud');
copyFileSync(new URL('./fake-gcloud.fixture.mjs', import.meta.url), gcloud);
chmodSync(gcloud, 0o755);

let echo: Server;
let echoPort = 0;
let tunnels: Tunnels | undefined;

beforeAll(async () => {
  echo = createServer((socket) =>
    socket.on('data', (data) => socket.write(Buffer.concat([Buffer.from('echo:'), data]))),
  );
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as { port: number }).port;
});
afterEach(async () => {
  // Whatever a failed test left open, by pid.
  await tunnels?.closeAll();
  tunnels = undefined;
});
afterAll(async () => {
  await new Promise((resolve) => echo.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function calls(): { pid: number; args: string[] }[] {
  try {
    return readFileSync(join(dir, 'calls.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
  } catch {
    return [];
  }
}

function exchange(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => socket.write(text));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString());
    });
    socket.once('error', reject);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const target = { name: 'k-master', zone: 'europe-west1-b', internalIp: '10.132.0.5' };

describe('gcloud tunnels', () => {
  it.each(['iap', 'ssh'] as const)(
    '%s: bytes flow through the tunnel, and close() kills gcloud by pid',
    async (mode) => {
      writeFileSync(join(dir, 'target.json'), JSON.stringify({ host: '127.0.0.1', port: echoPort }));
      tunnels = createTunnels({ mode, project: 'hacp-test', gcloud, logger: noopLogger });
      const reach = await tunnels.open(target, 2379);

      expect(await exchange(reach.host, reach.port, 'hello')).toBe('echo:hello');
      const [pid] = tunnels.pids();
      expect(pid).toBeTypeOf('number');
      const call = calls().find((entry) => entry.pid === pid);
      expect(call?.args).toEqual(
        mode === 'iap'
          ? [
              'compute',
              'start-iap-tunnel',
              'k-master',
              '2379',
              `--local-host-port=localhost:${reach.port}`,
              '--zone',
              'europe-west1-b',
              '--project',
              'hacp-test',
            ]
          : [
              'compute',
              'ssh',
              'k-master',
              '--zone',
              'europe-west1-b',
              '--project',
              'hacp-test',
              '--tunnel-through-iap',
              '--',
              '-N',
              '-L',
              `127.0.0.1:${reach.port}:10.132.0.5:2379`,
            ],
      );

      await reach.close();
      expect(alive(pid as number)).toBe(false);
      expect(tunnels.pids()).toEqual([]);
      await expect(exchange(reach.host, reach.port, 'again')).rejects.toThrow();
      await reach.close();
    },
  );

  it('a gcloud that ends early is UNAVAILABLE, with its last words and what to check', async () => {
    writeFileSync(
      join(dir, 'target.json'),
      JSON.stringify({
        fail: 'ERROR: (gcloud.compute.start-iap-tunnel) Error while connecting [4033: not authorized].',
      }),
    );
    tunnels = createTunnels({ mode: 'iap', project: 'hacp-test', gcloud, logger: noopLogger });
    const error = await tunnels.open(target, 2379).catch((caught: unknown) => caught);
    expect(isHacpError(error, ErrorCode.UNAVAILABLE)).toBe(true);
    const { message, actions } = error as { message: string; actions: string[] };
    expect(message).toContain('4033: not authorized');
    expect(actions.join(' ')).toContain('gcloud auth login');
    expect(actions.join(' ')).toContain('roles/iap.tunnelResourceAccessor');
    expect(actions.join(' ')).toContain('35.235.240.0/20');
    expect(tunnels.pids()).toEqual([]);
  });

  it('a tunnel that never accepts is UNAVAILABLE after the ready timeout, and its gcloud is killed', async () => {
    writeFileSync(join(dir, 'target.json'), JSON.stringify({ hang: true }));
    tunnels = createTunnels({
      mode: 'iap',
      project: 'hacp-test',
      gcloud,
      logger: noopLogger,
      readyTimeoutMs: 600,
    });
    const started = Date.now();
    const error = await tunnels.open(target, 2379).catch((caught: unknown) => caught);
    expect(isHacpError(error, ErrorCode.UNAVAILABLE)).toBe(true);
    expect((error as Error).message).toMatch(/no connection on localhost:\d+ after 600 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    const pid = calls().at(-1)?.pid as number;
    expect(alive(pid)).toBe(false);
    expect(tunnels.pids()).toEqual([]);
  });

  it('an aborted open is ABORTED, and its gcloud is killed', async () => {
    writeFileSync(join(dir, 'target.json'), JSON.stringify({ hang: true }));
    tunnels = createTunnels({ mode: 'iap', project: 'hacp-test', gcloud, logger: noopLogger });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const error = await tunnels.open(target, 2379, controller.signal).catch((caught: unknown) => caught);
    expect(isHacpError(error, ErrorCode.ABORTED)).toBe(true);
    const pid = calls().at(-1)?.pid as number;
    expect(alive(pid)).toBe(false);
    expect(tunnels.pids()).toEqual([]);
  });
});
