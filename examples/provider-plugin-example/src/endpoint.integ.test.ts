import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AddressRef,
  type HealthCheck,
  type InstanceRef,
  isHacpError,
  Secret,
  waitUntil,
} from '@hacp/core';
import { isAlive } from '@hacp/core/provider-kit';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExampleProvider } from './provider.js';
import {
  echoNodeConfig,
  HEALTH_PORT,
  ProcessLedger,
  readPidFile,
  testCloud,
  waitForListening,
} from './test-support.js';

const ledger = new ProcessLedger();
const clouds: { provider: ExampleProvider; remove(): Promise<void> }[] = [];
let requests = 0;
const requestId = () => `endpoint-test-${++requests}`;

/** One line to an echo server through `host:port`, and its answer: `<replica>:<line>`. */
function ask(host: string, port: number, line: string): Promise<string> {
  return new Promise((done, fail) => {
    const socket = net.connect({ host, port });
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`no answer from ${host}:${port} within 3 s`));
    }, 3_000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (data) => {
      answer += data;
      if (answer.endsWith('\n')) {
        clearTimeout(timer);
        socket.end();
        done(answer.trimEnd());
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      fail(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      fail(new Error(`${host}:${port} closed the connection without an answer`));
    });
  });
}

/** Who answers `count` connections to `host:port`: the replica names, in order. */
async function answerers(host: string, port: number, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let index = 0; index < count; index++) {
    names.push((await ask(host, port, `hello-${index}`)).split(':')[0] as string);
  }
  return names;
}

async function newCloud(): Promise<ExampleProvider> {
  const cloud = await testCloud(ledger);
  clouds.push(cloud);
  return cloud.provider;
}

/** Creates an echo replica (see ECHO_SERVER) named `name` in `zone`. */
async function echoReplica(provider: ExampleProvider, name: string, zone: string): Promise<InstanceRef> {
  const ref = { name, zone, cluster: 'moon' };
  const network = await provider.instances.allocateNetwork(ref, { requestId: requestId() });
  await provider.instances.create(
    { ...ref, nodeConfig: echoNodeConfig(name, network.internalIp) },
    { requestId: requestId() },
  );
  await waitForListening(network.internalIp, [6443, 2379, HEALTH_PORT]);
  return { name, zone };
}

const ADDRESS: AddressRef = { name: 'moon-master-ip', region: 'moon-east' };
const BALANCER = { name: 'moon-master-lb', region: 'moon-east' };

async function forwarderPid(provider: ExampleProvider) {
  return readPidFile(join(provider.stateDir, 'endpoints', 'moon-east.moon-master-ip', 'forwarder.pid.json'));
}

/** Kills the address's forwarder by pid, as a crash would, and waits until it is gone. */
async function killForwarder(provider: ExampleProvider) {
  const forwarder = await forwarderPid(provider);
  process.kill(forwarder.pid, 'SIGKILL');
  await waitUntil({
    description: 'the killed forwarder to be gone',
    timeoutMs: 10_000,
    check: () => (isAlive(forwarder) ? { done: false } : { done: true, value: undefined }),
  });
  return forwarder;
}

async function healthOf(provider: ExampleProvider): Promise<Record<string, boolean>> {
  const balancer = await provider.loadBalancers.get(BALANCER);
  return Object.fromEntries(
    (balancer?.targetHealth ?? []).map((entry) => [entry.instance.name, entry.healthy] as const),
  );
}

/** Waits until the load balancer reports `expected` health for its targets. */
async function waitForHealth(provider: ExampleProvider, expected: Record<string, boolean>): Promise<void> {
  await waitUntil({
    description: `target health ${JSON.stringify(expected)}`,
    timeoutMs: 10_000,
    minDelayMs: 100,
    maxDelayMs: 250,
    check: async () => {
      const health = await healthOf(provider);
      return JSON.stringify(health) === JSON.stringify(expected)
        ? { done: true, value: undefined }
        : { done: false, reason: JSON.stringify(health) };
    },
  });
}

afterEach(async () => {
  // Delete what the test made, then make sure no process of it runs; kill (by pid) any that does.
  for (const { provider, remove } of clouds.splice(0)) {
    const options = { requestId: requestId() };
    await provider.loadBalancers.delete(BALANCER, options).catch(() => undefined);
    await provider.addresses.detach(ADDRESS, options).catch(() => undefined);
    await provider.addresses.release(ADDRESS, options).catch(() => undefined);
    for (const instance of await provider.instances.list({ cluster: 'moon' }).catch(() => [])) {
      await provider.instances.delete(instance, options).catch(() => undefined);
    }
    await remove();
  }
  expect(ledger.killLeftovers()).toEqual([]);
});

describe('the endpoint carries traffic', () => {
  it('forwards 6443 and 2379 to the instance holding the address, and stops forwarding on detach', async () => {
    const provider = await newCloud();
    const master = await echoReplica(provider, 'moon-master', 'moon-east-a');
    const address = await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    expect(address.ip).toMatch(/^127\.([1-9]|[1-5]\d|6[0-3])\.\d+\.\d+$/);
    await provider.addresses.attach(ADDRESS, master, { requestId: requestId() });

    expect(await ask(address.ip, 6443, 'hello')).toBe('moon-master:hello');
    expect(await ask(address.ip, 2379, 'etcd')).toBe('moon-master:etcd');
    const forwarder = await forwarderPid(provider);
    expect(isAlive(forwarder)).toBe(true);

    // Attaching again changes nothing: the same forwarder serves on.
    await provider.addresses.attach(ADDRESS, master, { requestId: requestId() });
    expect((await forwarderPid(provider)).pid).toBe(forwarder.pid);

    await provider.addresses.detach(ADDRESS, { requestId: requestId() });
    expect(isAlive(forwarder)).toBe(false);
    await expect(ask(address.ip, 6443, 'hello')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('balances over healthy targets only, and follows the health check as a target stops and starts', async () => {
    const provider = await newCloud();
    const a = await echoReplica(provider, 'moon-master', 'moon-east-a');
    const b = await echoReplica(provider, 'moon-master-b0b', 'moon-east-b');
    const address = await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    const healthCheck: HealthCheck = {
      protocol: 'http',
      port: HEALTH_PORT,
      path: '/healthz',
      intervalSeconds: 1,
    };
    const ensured = await provider.loadBalancers.ensure(
      { ...BALANCER, address: ADDRESS.name, port: 6443, healthCheck, targets: [a, b] },
      { requestId: requestId() },
    );
    // ensure returns after the forwarder's first probe round: health is known at once.
    expect(ensured.targetHealth.map((entry) => entry.healthy)).toEqual([true, true]);
    expect((await provider.addresses.get(ADDRESS))?.holder).toEqual({
      kind: 'load-balancer',
      name: BALANCER.name,
    });

    // Round robin: both replicas answer, on the API port and on etcd's.
    expect(new Set(await answerers(address.ip, 6443, 4))).toEqual(new Set([a.name, b.name]));
    expect(new Set(await answerers(address.ip, 2379, 4))).toEqual(new Set([a.name, b.name]));

    await provider.instances.stop(a, { requestId: requestId() });
    await waitForHealth(provider, { [a.name]: false, [b.name]: true });
    expect(await answerers(address.ip, 6443, 4)).toEqual([b.name, b.name, b.name, b.name]);

    await provider.instances.start(a, { requestId: requestId() });
    await waitForListening((await provider.instances.get(a))?.internalIp ?? '', [6443, 2379, HEALTH_PORT]);
    await waitForHealth(provider, { [a.name]: true, [b.name]: true });
    expect(new Set(await answerers(address.ip, 6443, 4))).toEqual(new Set([a.name, b.name]));

    // setTargets narrows what is served, at once.
    await provider.loadBalancers.setTargets(BALANCER, [b], { requestId: requestId() });
    expect(await answerers(address.ip, 6443, 3)).toEqual([b.name, b.name, b.name]);

    const forwarder = await forwarderPid(provider);
    await provider.loadBalancers.delete(BALANCER, { requestId: requestId() });
    expect(isAlive(forwarder)).toBe(false);
    expect((await provider.addresses.get(ADDRESS))?.holder).toBeUndefined();
    await expect(ask(address.ip, 6443, 'hello')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('forwards the spec port to targetPort, and 2379 to 2379', async () => {
    const provider = await newCloud();
    const a = await echoReplica(provider, 'moon-master', 'moon-east-c');
    const address = await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    await provider.loadBalancers.ensure(
      {
        ...BALANCER,
        address: ADDRESS.name,
        port: 8443,
        targetPort: 6443,
        healthCheck: { protocol: 'tcp', port: 6443 },
        targets: [a],
      },
      { requestId: requestId() },
    );
    expect(await ask(address.ip, 8443, 'api')).toBe('moon-master:api');
    expect(await ask(address.ip, 2379, 'etcd')).toBe('moon-master:etcd');
    await expect(ask(address.ip, 6443, 'api')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('reports a target unhealthy while its health check fails, and sends it nothing', async () => {
    const provider = await newCloud();
    const a = await echoReplica(provider, 'moon-master', 'moon-east-a');
    const address = await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    const spec = { ...BALANCER, address: ADDRESS.name, port: 6443, targets: [a] };
    // The process runs, but the path answers 404: unhealthy, so no connection reaches it.
    const failing = await provider.loadBalancers.ensure(
      { ...spec, healthCheck: { protocol: 'http', port: HEALTH_PORT, path: '/missing' } },
      { requestId: requestId() },
    );
    expect(failing.targetHealth).toEqual([{ instance: a, healthy: false }]);
    // Accepted, then closed (or reset, when the line was already sent) without an answer.
    await expect(ask(address.ip, 6443, 'hello')).rejects.toThrow(/without an answer|ECONNRESET/);
    // A port nothing listens on fails a tcp check the same way.
    const closedPort = await provider.loadBalancers.ensure(
      { ...spec, healthCheck: { protocol: 'tcp', port: 9 } },
      { requestId: requestId() },
    );
    expect(closedPort.targetHealth).toEqual([{ instance: a, healthy: false }]);
    // The right path: healthy, and served.
    const passing = await provider.loadBalancers.ensure(
      { ...spec, healthCheck: { protocol: 'http', port: HEALTH_PORT, path: '/healthz' } },
      { requestId: requestId() },
    );
    expect(passing.targetHealth).toEqual([{ instance: a, healthy: true }]);
    expect(await ask(address.ip, 6443, 'hello')).toBe('moon-master:hello');
  });

  it('an https check accepts the self-signed certificate of the replica, and follows the path', async () => {
    const provider = await newCloud();
    // A throwaway certificate, made with openssl (a system package scripts/setup.sh installs).
    const tls = await mkdtemp(join(tmpdir(), 'hacp-example-tls-'));
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
          .concat(['-subj', '/CN=moon-master', '-days', '1'])
          .concat(['-keyout', join(tls, 'server.key'), '-out', join(tls, 'server.crt')]),
        { stdio: 'ignore' },
      );
      const ref = { name: 'moon-master', zone: 'moon-east-a', cluster: 'moon' };
      const network = await provider.instances.allocateNetwork(ref, { requestId: requestId() });
      const echo = echoNodeConfig(ref.name, network.internalIp);
      const readyz = [
        "const fs = require('node:fs');",
        "const options = { key: fs.readFileSync('tls/server.key'), cert: fs.readFileSync('tls/server.crt') };",
        "require('node:https').createServer(options, (request, response) => {",
        "  response.statusCode = request.url === '/readyz' ? 200 : 404;",
        '  response.end();',
        `}).listen(8443, '${network.internalIp}');`,
      ].join('\n');
      await provider.instances.create(
        {
          ...ref,
          nodeConfig: {
            files: [
              ...echo.files,
              {
                path: 'tls/server.key',
                mode: 0o600,
                contents: new Secret(await readFile(join(tls, 'server.key'), 'utf8')),
              },
              {
                path: 'tls/server.crt',
                mode: 0o644,
                contents: await readFile(join(tls, 'server.crt'), 'utf8'),
              },
            ],
            processes: [
              ...echo.processes,
              { name: 'readyz', command: process.execPath, args: ['-e', readyz] },
            ],
          },
        },
        { requestId: requestId() },
      );
      await waitForListening(network.internalIp, [6443, 8443]);
      const address = await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
      const spec = { ...BALANCER, address: ADDRESS.name, port: 6443, targets: [ref] };
      const check = { protocol: 'https' as const, port: 8443, path: '/readyz' };
      const target = { name: ref.name, zone: ref.zone };
      const ready = await provider.loadBalancers.ensure(
        { ...spec, healthCheck: check },
        { requestId: requestId() },
      );
      expect(ready.targetHealth).toEqual([{ instance: target, healthy: true }]);
      expect(await ask(address.ip, 6443, 'hello')).toBe('moon-master:hello');
      const wrongPath = await provider.loadBalancers.ensure(
        { ...spec, healthCheck: { ...check, path: '/missing' } },
        { requestId: requestId() },
      );
      expect(wrongPath.targetHealth).toEqual([{ instance: target, healthy: false }]);
      // Plain HTTP to a TLS port gets no 200 either.
      const plain = await provider.loadBalancers.ensure(
        { ...spec, healthCheck: { ...check, protocol: 'http' } },
        { requestId: requestId() },
      );
      expect(plain.targetHealth).toEqual([{ instance: target, healthy: false }]);
    } finally {
      await rm(tls, { recursive: true, force: true });
    }
  });

  it('deleting the instance that holds the address frees the address and stops its forwarder', async () => {
    const provider = await newCloud();
    const master = await echoReplica(provider, 'moon-master', 'moon-east-a');
    const address = await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    await provider.addresses.attach(ADDRESS, master, { requestId: requestId() });
    const forwarder = await forwarderPid(provider);
    await provider.instances.delete(master, { requestId: requestId() });
    expect(isAlive(forwarder)).toBe(false);
    expect(await provider.addresses.get(ADDRESS)).toEqual({ ...ADDRESS, ip: address.ip });
  });

  it('a failed attach (the port is taken) changes nothing and leaves no forwarder', async () => {
    const provider = await newCloud();
    const master = await echoReplica(provider, 'moon-master', 'moon-east-a');
    const address = await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    const squatter = net.createServer();
    await new Promise<void>((done) => squatter.listen(6443, address.ip, done));
    try {
      const error = await provider.addresses
        .attach(ADDRESS, master, { requestId: requestId() })
        .catch((thrown: unknown) => thrown);
      expect(isHacpError(error, 'UNAVAILABLE')).toBe(true);
      expect((error as Error).message).toMatch(/EADDRINUSE/);
      expect((await provider.addresses.get(ADDRESS))?.holder).toBeUndefined();
      expect(ledger.alive().filter((record) => record.command === 'started forwarder')).toEqual([]);
    } finally {
      await new Promise((done) => squatter.close(done));
    }
  });

  it('a load balancer whose port was taken is completed by ensuring it again once the port is free', async () => {
    const provider = await newCloud();
    const a = await echoReplica(provider, 'moon-master', 'moon-east-a');
    const address = await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    const spec = {
      ...BALANCER,
      address: ADDRESS.name,
      port: 6443,
      healthCheck: { protocol: 'tcp' as const, port: 6443 },
      targets: [a],
    };
    const squatter = net.createServer();
    await new Promise<void>((done) => squatter.listen(2379, address.ip, done));
    try {
      await expect(provider.loadBalancers.ensure(spec, { requestId: requestId() })).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/2379.*EADDRINUSE/),
      });
    } finally {
      await new Promise((done) => squatter.close(done));
    }
    // The failed ensure left its forwarder running without 2379: the same call completes it.
    const forwarder = await forwarderPid(provider);
    await provider.loadBalancers.ensure(spec, { requestId: requestId() });
    expect((await forwarderPid(provider)).pid).toBe(forwarder.pid);
    expect(await ask(address.ip, 2379, 'etcd')).toBe('moon-master:etcd');
    expect(await ask(address.ip, 6443, 'api')).toBe('moon-master:api');
  });

  it('a dead forwarder is reported as not serving, and attaching or ensuring again starts a new one', async () => {
    const provider = await newCloud();
    const master = await echoReplica(provider, 'moon-master', 'moon-east-a');
    const address = await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    expect((await provider.addresses.attach(ADDRESS, master, { requestId: requestId() })).serving).toBe(true);
    const killed = await killForwarder(provider);
    expect((await provider.addresses.get(ADDRESS))?.serving).toBe(false);

    expect((await provider.addresses.attach(ADDRESS, master, { requestId: requestId() })).serving).toBe(true);
    expect((await forwarderPid(provider)).pid).not.toBe(killed.pid);
    expect(await ask(address.ip, 6443, 'again')).toBe('moon-master:again');

    await provider.addresses.detach(ADDRESS, { requestId: requestId() });
    const spec = {
      ...BALANCER,
      address: ADDRESS.name,
      port: 6443,
      healthCheck: { protocol: 'tcp' as const, port: 6443 },
      targets: [master],
    };
    await provider.loadBalancers.ensure(spec, { requestId: requestId() });
    await killForwarder(provider);
    expect((await provider.loadBalancers.get(BALANCER))?.serving).toBe(false);
    expect((await provider.loadBalancers.ensure(spec, { requestId: requestId() })).serving).toBe(true);
    await waitForHealth(provider, { 'moon-master': true });
    expect(await provider.loadBalancers.health(BALANCER)).toEqual([
      { instance: { name: 'moon-master', zone: 'moon-east-a' }, healthy: true },
    ]);
  });

  it('refuses an instance outside the address region with ZONE_NOT_IN_REGION', async () => {
    const provider = await newCloud();
    const west = await echoReplica(provider, 'moon-master', 'moon-west-a');
    await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    const error = await provider.addresses
      .attach(ADDRESS, west, { requestId: requestId() })
      .catch((thrown: unknown) => thrown);
    expect(isHacpError(error, 'ZONE_NOT_IN_REGION')).toBe(true);
    expect((await provider.addresses.get(ADDRESS))?.holder).toBeUndefined();
  });

  it('a forwarder whose state folder is removed exits by itself', async () => {
    const provider = await newCloud();
    const master = await echoReplica(provider, 'moon-master', 'moon-east-a');
    await provider.addresses.reserve(ADDRESS, { requestId: requestId() });
    await provider.addresses.attach(ADDRESS, master, { requestId: requestId() });
    const forwarder = await forwarderPid(provider);
    await rm(join(provider.stateDir, 'endpoints'), { recursive: true, force: true });
    await waitUntil({
      description: 'the orphaned forwarder to exit',
      // It looks for its config every second.
      timeoutMs: 10_000,
      maxDelayMs: 200,
      check: () => (isAlive(forwarder) ? { done: false } : { done: true, value: undefined }),
    });
  });
});
