import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type Address,
  type InstanceNetwork,
  type LoadBalancerSpec,
  type NodeConfig,
  Secret,
  waitUntil,
} from '@hacp/core';
import { listeningPorts } from '@hacp/core/provider-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalProvider, type LocalProvider } from './provider.js';
import { tempStateDir } from './test-support.js';

// The endpoint's promise to the SDK: a load-balanced endpoint gives a replica connections only after
// its health check (kube-apiserver's /readyz over https) passed `healthyThreshold` times: after the
// load balancer is made, after the replica restarts, after its zone is restored, and across a
// re-apply of the load balancer while the replica is not ready. HAProxy 2.6 alone starts checked
// servers UP, and keeps a restarted one UP until `fall` checks fail.

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./readyz.fixture.mjs', import.meta.url));
const cluster = `ready-${randomBytes(3).toString('hex')}`;
const refs = [
  { name: `${cluster}-master`, zone: 'local-a' },
  { name: `${cluster}-master-b2c`, zone: 'local-b' },
] as const;
const [first, second] = refs;
const addressRef = { name: `${cluster}-master-ip`, region: 'local' };
const lbRef = { name: `${cluster}-master-lb`, region: 'local' };
/** What the SDK asks for when the replicas run kube-apiserver (replicaHealthCheck). */
const HEALTH_CHECK = { protocol: 'https', port: 6443, path: '/readyz', intervalSeconds: 1 } as const;
/** Long enough for several checks to run, so a target marked up too early would get connections. */
const OBSERVE_MS = 4_000;

let temp: Awaited<ReturnType<typeof tempStateDir>>;
let provider: LocalProvider;
let networks: InstanceNetwork[];
let address: Address;
let request = 0;
const op = () => ({ requestId: `ready-${++request}` });

const spec = (): LoadBalancerSpec => ({
  ...lbRef,
  address: addressRef.name,
  port: 6443,
  healthCheck: HEALTH_CHECK,
  targets: refs.map((ref) => ({ ...ref })),
});

async function setReady(index: number, ready: boolean): Promise<void> {
  const file = join((networks[index] as InstanceNetwork).rootDir, 'ready');
  if (ready) await writeFile(file, 'ready\n');
  else await rm(file, { force: true });
}

/** One request through the endpoint on a new connection: the replica that answered, or `refused`. */
function ask(): Promise<string> {
  return new Promise((resolve) => {
    const call = get(
      { host: address.ip, port: 6443, path: '/', rejectUnauthorized: false, agent: false, timeout: 10_000 },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        response.on('end', () => resolve(body.trim()));
        response.on('error', () => resolve('refused'));
      },
    );
    call.on('timeout', () => call.destroy(new Error('timeout')));
    call.on('error', () => resolve('refused'));
  });
}

async function healthOf(name: string): Promise<boolean | undefined> {
  const lb = await provider.loadBalancers.get(lbRef);
  return lb?.targetHealth.find((target) => target.instance.name === name)?.healthy;
}

/** Requests through the endpoint for `ms`, one after another, and the health of `second` meanwhile. */
async function observe(
  ms: number,
): Promise<{ answers: Set<string>; secondHealthy: Set<boolean | undefined> }> {
  const answers = new Set<string>();
  const secondHealthy = new Set<boolean | undefined>();
  const until = Date.now() + ms;
  while (Date.now() < until) {
    answers.add(await ask());
    secondHealthy.add(await healthOf(second.name));
  }
  return { answers, secondHealthy };
}

async function waitHealthy(name: string): Promise<void> {
  await waitUntil({
    description: `${name} healthy in the load balancer`,
    timeoutMs: 30_000,
    check: async () => ((await healthOf(name)) ? { done: true, value: undefined } : { done: false }),
  });
}

/** Waits until a request through the endpoint reaches `name`: it gets traffic again. */
async function waitServedBy(name: string): Promise<void> {
  await waitUntil({
    description: `a request through the endpoint answered by ${name}`,
    timeoutMs: 30_000,
    minDelayMs: 20,
    maxDelayMs: 100,
    check: async () => ((await ask()) === name ? { done: true, value: undefined } : { done: false }),
  });
}

beforeAll(async () => {
  temp = await tempStateDir('hacp-readiness-');
  provider = createLocalProvider({ stateDir: temp.dir, stopGraceMs: 3_000 });
  await run('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
    ...[
      '-subj',
      '/CN=readyz-fixture',
      '-keyout',
      join(temp.dir, 'server.key'),
      '-out',
      join(temp.dir, 'server.crt'),
    ],
  ]);
  const tls = {
    crt: await readFile(join(temp.dir, 'server.crt'), 'utf8'),
    key: await readFile(join(temp.dir, 'server.key'), 'utf8'),
  };
  networks = [];
  for (const ref of refs) {
    const network = await provider.instances.allocateNetwork({ ...ref, cluster }, op());
    networks.push(network);
    const nodeConfig: NodeConfig = {
      files: [
        { path: 'tls/server.crt', mode: 0o644, contents: tls.crt },
        { path: 'tls/server.key', mode: 0o600, contents: new Secret(tls.key) },
      ],
      processes: [
        {
          name: 'kube-apiserver',
          command: process.execPath,
          args: [fixture, network.internalIp, String(6443 + network.portOffset), ref.name],
        },
      ],
    };
    await provider.instances.create({ ...ref, cluster, nodeConfig }, op());
  }
  address = await provider.addresses.reserve(addressRef, op());
}, 60_000);

afterAll(async () => {
  if (provider !== undefined) {
    await provider.loadBalancers.delete(lbRef, op());
    for (const ref of refs) await provider.instances.delete(ref, op());
    await provider.addresses.release(addressRef, op());
  }
  const used = [address?.ip, ...(networks ?? []).map((network) => network.internalIp)].filter(Boolean);
  try {
    expect(used.flatMap((ip) => listeningPorts(ip as string))).toEqual([]);
  } finally {
    await temp?.remove();
  }
}, 60_000);

describe('a load-balanced endpoint sends traffic only to replicas whose /readyz passed', () => {
  it('a new load balancer gives a target nothing before its /readyz passed, from the first request on', async () => {
    await setReady(0, true);
    await setReady(1, false);

    await provider.loadBalancers.ensure(spec(), op());
    const notReady = await observe(OBSERVE_MS);
    await waitHealthy(first.name);
    const firstReady = await observe(OBSERVE_MS);
    await setReady(1, true);
    await waitHealthy(second.name);
    await waitServedBy(second.name);

    // Before the first replica's checks passed the endpoint may refuse, but never answers from the
    // replica that is not ready.
    expect([...notReady.answers].filter((answer) => answer !== 'refused')).not.toContain(second.name);
    expect(notReady.secondHealthy).not.toContain(true);
    expect(firstReady.answers).toEqual(new Set([first.name]));
    expect(firstReady.secondHealthy).toEqual(new Set([false]));
  });

  it('a replica restarted faster than the checks notice gets traffic again only after /readyz passes, also across a re-apply', async () => {
    await waitHealthy(second.name);
    await setReady(1, false);

    await provider.instances.stop(second, op());
    await provider.instances.start(second, op());
    const restarted = await observe(OBSERVE_MS);
    await provider.loadBalancers.setTargets(lbRef, spec().targets, op());
    const firstAfterReapply = await ask();
    const reapplied = await observe(OBSERVE_MS);
    await setReady(1, true);
    await waitServedBy(second.name);

    expect(restarted.answers).toEqual(new Set([first.name]));
    expect(restarted.secondHealthy).toEqual(new Set([false]));
    // The healthy replica stays up through the reload: the very first request is served.
    expect(firstAfterReapply).toBe(first.name);
    expect(reapplied.answers).toEqual(new Set([first.name]));
    expect(reapplied.secondHealthy).toEqual(new Set([false]));
  });

  it('a replica whose zone is restored gets traffic again only after /readyz passes', async () => {
    await waitHealthy(second.name);
    await setReady(1, false);

    expect(await provider.failZone(second.zone)).toEqual([second.name]);
    expect(await provider.restoreZone(second.zone)).toEqual([second.name]);
    const restored = await observe(OBSERVE_MS);
    await setReady(1, true);
    await waitServedBy(second.name);

    expect(restored.answers).toEqual(new Set([first.name]));
    expect(restored.secondHealthy).toEqual(new Set([false]));
    expect((await provider.processes(second)).every((state) => state.running)).toBe(true);
  });
});
