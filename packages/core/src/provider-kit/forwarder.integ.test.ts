import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import type { LogFields } from '../logger.js';
import type { HealthCheck } from '../provider.js';
import type { EndpointPlan } from './endpoints.js';
import { forwarderEndpointDriver, forwarderPaths, forwarderScript } from './forwarder-endpoint.js';
import { jsonFiles } from './json-files.js';
import { pickLoopbackIp } from './loopback.js';
import { isAlive, type ProcessRecord, stopProcess } from './processes.js';
import { failureOf, tempFolders } from './test-support.js';

const folders = tempFolders();
const forwarders: ProcessRecord[] = [];
const servers: net.Server[] = [];
const taken = new Set<string>();

afterEach(async () => {
  // Whatever a failed test left running is stopped by pid (and start time).
  for (const record of forwarders.splice(0)) await stopProcess(record, { graceMs: 0 });
  for (const server of servers.splice(0)) await new Promise((done) => server.close(done));
  await folders.cleanUp();
});

/** A loopback address of the kit's test range nothing listens on. */
function freeIp(): string {
  const ip = pickLoopbackIp(taken, { firstA: 251, lastA: 254 });
  taken.add(ip);
  return ip;
}

/** The driver over a fresh folder, with the forwarders it starts recorded (from its log line) for cleanup. */
async function newDriver(settings: { script?: string } = {}) {
  const dir = await folders.make('hacp-forwarder-');
  const started: LogFields[] = [];
  const record = (message: string, fields?: LogFields) => {
    if (message !== 'started forwarder' || typeof fields?.pid !== 'number') return;
    started.push(fields);
    forwarders.push({ pid: fields.pid, startTime: String(fields.startTime), command: 'node', startedAt: '' });
  };
  const logger = { debug() {}, info: record, warn() {}, error() {} };
  const driver = forwarderEndpointDriver({ files: jsonFiles({ writer: 'hacp-test' }), logger }, settings);
  return { driver, dir, started };
}

async function listenOn(server: net.Server, host: string, port: number): Promise<void> {
  servers.push(server);
  await new Promise<void>((done) => server.listen(port, host, done));
}

/** A server at `host:port` that says `text` to every connection and closes it (a tcp probe resets it). */
const says = (text: string, host: string, port: number) =>
  listenOn(
    net.createServer((socket) => socket.on('error', () => {}).end(text)),
    host,
    port,
  );

/** An HTTP server at `host:port` answering every request with `status()`. */
const answersHttp = (status: () => number, host: string, port: number) =>
  listenOn(
    http.createServer((_request, response) => {
      response.statusCode = status();
      response.end();
    }),
    host,
    port,
  );

/** What `host:port` says to one connection. */
function heardFrom(host: string, port: number): Promise<string> {
  return new Promise((done, fail) => {
    let text = '';
    const socket = net.connect({ host, port });
    socket.setEncoding('utf8');
    socket.on('data', (data) => {
      text += data;
    });
    socket.on('end', () => done(text));
    socket.on('error', fail);
  });
}

const heardOver = async (host: string, port: number, count: number) => {
  const heard: string[] = [];
  for (let index = 0; index < count; index++) heard.push(await heardFrom(host, port));
  return heard;
};

/** A plan with one listener per bind port, each to `targets` at the same port. */
function planOf(
  bindHost: string,
  ports: number[],
  targets: string[][],
  healthCheck?: HealthCheck,
): EndpointPlan {
  return {
    listeners: ports.map((port) => ({
      name: `port-${port}`,
      bindHost,
      bindPort: port,
      servers: targets.map(([name, host]) => ({
        name: name as string,
        zone: 'kit-a',
        host: host as string,
        port,
        ...(healthCheck === undefined ? {} : { checkPort: healthCheck.port }),
      })),
    })),
    ...(healthCheck === undefined ? {} : { healthCheck }),
  };
}

const recordIn = async (dir: string) =>
  (await jsonFiles({ writer: 'hacp-test' }).read<{ process: ProcessRecord }>(forwarderPaths(dir).pidFile))
    ?.process as ProcessRecord;

describe('the forwarder endpoint', () => {
  it('needs the built forwarder (run the build first)', () => {
    expect(forwarderScript()).toMatch(/dist\/provider-kit\/forwarder\.js$/);
  });

  it('forwards each listener round robin over its servers, reloads a new plan in the same process, and stops', async () => {
    const { driver, dir, started } = await newDriver();
    const [endpoint, a, b] = [freeIp(), freeIp(), freeIp()];
    await says('a', a, 6443);
    await says('b', b, 6443);
    await says('a-etcd', a, 2379);
    await says('b-etcd', b, 2379);
    await driver.apply({
      dir,
      plan: planOf(
        endpoint,
        [6443, 2379],
        [
          ['a', a],
          ['b', b],
        ],
      ),
    });
    expect(await heardOver(endpoint, 6443, 4)).toEqual(['a', 'b', 'a', 'b']);
    expect(await heardOver(endpoint, 2379, 2)).toEqual(['a-etcd', 'b-etcd']);
    const forwarder = await recordIn(dir);
    expect(started).toEqual([
      { endpoint: expect.any(String), pid: forwarder.pid, startTime: forwarder.startTime },
    ]);
    expect(await driver.running(dir)).toBe(true);
    // Without a health check no server is checked.
    expect(await driver.health(dir)).toEqual(new Map());

    // Another plan: 2379 closed, 6443 to b only, by the same process.
    await driver.apply({ dir, plan: planOf(endpoint, [6443], [['b', b]]) });
    expect((await recordIn(dir)).pid).toBe(forwarder.pid);
    expect(await heardOver(endpoint, 6443, 2)).toEqual(['b', 'b']);
    await expect(heardFrom(endpoint, 2379)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await driver.stop(dir);
    expect(isAlive(forwarder)).toBe(false);
    expect(await driver.running(dir)).toBe(false);
    expect((await readdir(dir)).sort()).toEqual(['forwarder.log']);
    await expect(heardFrom(endpoint, 6443)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('sends connections only to the servers whose health check passes, and follows it', async () => {
    const { driver, dir } = await newDriver();
    const [endpoint, a, b] = [freeIp(), freeIp(), freeIp()];
    let bStatus = 503;
    await says('a', a, 6443);
    await says('b', b, 6443);
    await answersHttp(() => 200, a, 8080);
    await answersHttp(() => bStatus, b, 8080);
    const check: HealthCheck = { protocol: 'http', port: 8080, path: '/healthz', intervalSeconds: 1 };
    const plan = planOf(
      endpoint,
      [6443],
      [
        ['a', a],
        ['b', b],
      ],
      check,
    );
    // The apply returns after the first round of probes: health is known at once.
    await driver.apply({ dir, plan });
    expect(await driver.health(dir)).toEqual(
      new Map([
        ['a', true],
        ['b', false],
      ]),
    );
    expect(await heardOver(endpoint, 6443, 3)).toEqual(['a', 'a', 'a']);

    bStatus = 200;
    await expect
      .poll(() => driver.health(dir), { timeout: 10_000 })
      .toEqual(
        new Map([
          ['a', true],
          ['b', true],
        ]),
      );
    expect(new Set(await heardOver(endpoint, 6443, 4))).toEqual(new Set(['a', 'b']));

    // A tcp check on a port nothing listens on fails; no server left, so a connection is closed at once.
    await driver.apply({
      dir,
      plan: planOf(
        endpoint,
        [6443],
        [
          ['a', a],
          ['b', b],
        ],
        { protocol: 'tcp', port: 9 },
      ),
    });
    expect(await driver.health(dir)).toEqual(
      new Map([
        ['a', false],
        ['b', false],
      ]),
    );
    expect(await heardFrom(endpoint, 6443)).toBe('');
  });

  it('an apply that cannot bind a port is UNAVAILABLE naming it; the same apply serves once the port is free', async () => {
    const { driver, dir } = await newDriver();
    const [endpoint, a] = [freeIp(), freeIp()];
    await says('a', a, 6443);
    await says('a-etcd', a, 2379);
    const squatter = net.createServer();
    await new Promise<void>((done) => squatter.listen(2379, endpoint, done));
    const plan = planOf(endpoint, [6443, 2379], [['a', a]]);
    const failure = await failureOf(driver.apply({ dir, plan }));
    expect(failure.code).toBe(ErrorCode.UNAVAILABLE);
    expect(failure.message).toMatch(new RegExp(`${endpoint}:2379.*EADDRINUSE`));
    await new Promise((done) => squatter.close(done));

    await driver.apply({ dir, plan });
    expect(await heardFrom(endpoint, 2379)).toBe('a-etcd');
    expect(await heardFrom(endpoint, 6443)).toBe('a');
  });

  it('a dead forwarder is not running and reports no health; the next apply starts another', async () => {
    const { driver, dir } = await newDriver();
    const [endpoint, a] = [freeIp(), freeIp()];
    await says('a', a, 6443);
    const plan = planOf(endpoint, [6443], [['a', a]], { protocol: 'tcp', port: 6443 });
    await driver.apply({ dir, plan });
    expect(await driver.health(dir)).toEqual(new Map([['a', true]]));
    const dead = await recordIn(dir);
    process.kill(dead.pid, 'SIGKILL');
    await expect.poll(() => isAlive(dead)).toBe(false);
    expect(await driver.running(dir)).toBe(false);
    expect(await driver.health(dir)).toEqual(new Map());

    await driver.apply({ dir, plan });
    expect((await recordIn(dir)).pid).not.toBe(dead.pid);
    expect(await heardFrom(endpoint, 6443)).toBe('a');
  });

  it('exits by itself once its folder is removed', async () => {
    const { driver, dir } = await newDriver();
    const [endpoint, a] = [freeIp(), freeIp()];
    await driver.apply({ dir, plan: planOf(endpoint, [6443], [['a', a]]) });
    const forwarder = await recordIn(dir);
    await rm(dir, { recursive: true, force: true });
    // It looks for its config every second.
    await expect.poll(() => isAlive(forwarder), { timeout: 10_000 }).toBe(false);
  });

  it('without its program, is DEPENDENCY_MISSING before anything starts', async () => {
    const { driver, dir } = await newDriver({ script: '/nonexistent/forwarder.js' });
    expect(() => driver.assertAvailable()).toThrow(
      expect.objectContaining({ code: ErrorCode.DEPENDENCY_MISSING }),
    );
    const failure = await failureOf(driver.apply({ dir, plan: planOf(freeIp(), [6443], []) }));
    expect(failure.code).toBe(ErrorCode.DEPENDENCY_MISSING);
    expect(existsSync(forwarderPaths(dir).pidFile)).toBe(false);
    expect(await driver.running(dir)).toBe(false);
  });
});
