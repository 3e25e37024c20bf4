import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { promisify } from 'node:util';
import type { ClusterPki } from '@hacp/certs';
import { type Address, type InstanceNetwork, waitUntil } from '@hacp/core';
import { isAlive, listeningPorts } from '@hacp/core/provider-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalProvider, type LocalProvider } from './provider.js';
import { etcdctlTls, etcdNodeConfigs, tempStateDir } from './test-support.js';

const run = promisify(execFile);

const cluster = `it-${randomBytes(3).toString('hex')}`;
const zones = ['local-a', 'local-b', 'local-c'] as const;
const names = [`${cluster}-master`, `${cluster}-master-a1b`, `${cluster}-master-c2d`] as const;
const refs = names.map((name, index) => ({ name, zone: zones[index] as string }));
const region = 'local';
const addressRef = { name: `${cluster}-master-ip`, region };
const lbRef = { name: `${cluster}-master-lb`, region };

let temp: Awaited<ReturnType<typeof tempStateDir>>;
let provider: LocalProvider;
let networks: InstanceNetwork[];
let address: Address;
let pki: ClusterPki;
let tls: string[];
const pids = new Set<{ pid: number; startTime?: string; command: string; startedAt: string }>();
let request = 0;
const op = () => ({ requestId: `it-${++request}` });

async function etcdctl(
  endpoint: string,
  args: string[],
  options: { withCert?: boolean } = {},
): Promise<string> {
  const flags = options.withCert === false ? tls.filter((flag) => flag.startsWith('--cacert')) : tls;
  const timeouts =
    options.withCert === false
      ? ['--dial-timeout=2s', '--command-timeout=3s']
      : ['--dial-timeout=10s', '--command-timeout=20s'];
  const { stdout } = await run('etcdctl', [...flags, `--endpoints=${endpoint}`, ...timeouts, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeout: 30_000,
  });
  return stdout.trim();
}

const endpointUrl = () => `https://${address.ip}:${2379 + (address.portOffset ?? 0)}`;
const memberUrl = (network: InstanceNetwork) => `https://${network.internalIp}:${2379 + network.portOffset}`;

async function rememberPids(): Promise<void> {
  for (const ref of refs) {
    for (const state of await provider.processes(ref)) {
      if (state.pid !== undefined) pids.add({ pid: state.pid, command: state.name, startedAt: '' });
    }
  }
}

beforeAll(async () => {
  temp = await tempStateDir();
  provider = createLocalProvider({ stateDir: temp.dir, stopGraceMs: 5_000 });
  networks = await Promise.all(
    refs.map((ref) => provider.instances.allocateNetwork({ ...ref, cluster }, op())),
  );
  address = await provider.addresses.reserve(addressRef, op());
  const rendered = await etcdNodeConfigs({
    cluster,
    endpointAddress: address.ip,
    members: refs.map((ref, index) => ({ name: ref.name, network: networks[index] as InstanceNetwork })),
    token: `hacp-${cluster}`,
  });
  pki = rendered.pki;
  tls = await etcdctlTls(pki, temp.dir);
  // Three members bootstrapped together ('new'): the learner path is @hacp/etcd's and the SDK's.
  await Promise.all(
    refs.map((ref) =>
      provider.instances.create(
        { ...ref, cluster, nodeConfig: rendered.configs.get(ref.name) as never },
        op(),
      ),
    ),
  );
  await rememberPids();
}, 120_000);

afterAll(async () => {
  if (provider !== undefined) {
    await provider.loadBalancers.delete(lbRef, op());
    await provider.addresses.detach(addressRef, op()).catch(() => undefined);
    for (const ref of refs) await provider.instances.delete(ref, op());
    await provider.addresses.release(addressRef, op());
  }
  // What the suite started is gone: no process, and nothing bound on any address it used.
  const used = [address?.ip, ...(networks ?? []).map((network) => network.internalIp)].filter(
    Boolean,
  ) as string[];
  try {
    expect([...pids].filter((record) => isAlive(record)).map((record) => record.pid)).toEqual([]);
    expect(used.flatMap((ip) => listeningPorts(ip).map((port) => `${ip}:${port}`))).toEqual([]);
  } finally {
    await temp?.remove();
  }
}, 120_000);

describe('three replicas in three zones, real etcd and HAProxy', () => {
  it('gives every replica its own loopback address with the standard ports', () => {
    expect(new Set(networks.map((network) => network.internalIp)).size).toBe(3);
    for (const network of networks) {
      expect(network.internalIp).toMatch(/^127\.\d+\.\d+\.\d+$/);
      expect(network.internalIp).not.toBe('127.0.0.1');
      expect(network.portOffset).toBe(0);
    }
    expect(address.ip).not.toBe(networks[0]?.internalIp);
  });

  it('forms a 3-member TLS etcd cluster, reachable with etcdctl through the endpoint attached to one replica', async () => {
    await provider.addresses.attach(addressRef, refs[0] as (typeof refs)[number], op());

    const members = JSON.parse(await etcdctl(endpointUrl(), ['member', 'list', '-w', 'json'])) as {
      members: { name: string; clientURLs: string[] }[];
    };
    await etcdctl(endpointUrl(), ['put', 'hacp/greeting', 'through-the-endpoint']);

    expect(members.members.map((member) => member.name).sort()).toEqual([...names].sort());
    expect(
      await etcdctl(memberUrl(networks[2] as InstanceNetwork), [
        'get',
        '--print-value-only',
        'hacp/greeting',
      ]),
    ).toBe('through-the-endpoint');
    expect((await provider.addresses.get(addressRef))?.holder).toEqual({
      kind: 'instance',
      instance: refs[0],
    });
  });

  it('requires a client certificate through the endpoint (etcd sees the TLS handshake)', async () => {
    // The same command with the certificate succeeds, so the refusal is the missing certificate.
    expect(await etcdctl(endpointUrl(), ['get', '--print-value-only', 'hacp/greeting'])).toBe(
      'through-the-endpoint',
    );
    await expect(etcdctl(endpointUrl(), ['get', 'hacp/greeting'], { withCert: false })).rejects.toThrow(
      /bad certificate|certificate required|deadline exceeded|context deadline/i,
    );
  });

  it('serves etcd through the load-balanced endpoint while a zone is down, and the member returns on restore', async () => {
    await provider.addresses.detach(addressRef, op());
    expect(listeningPorts(address.ip)).toEqual([]);
    await provider.loadBalancers.ensure(
      {
        ...lbRef,
        address: addressRef.name,
        port: 6443,
        healthCheck: { protocol: 'tcp', port: 2379, intervalSeconds: 1 },
        targets: refs,
      },
      op(),
    );
    await waitUntil({
      description: 'every target healthy',
      check: async () => {
        const lb = await provider.loadBalancers.get(lbRef);
        return lb?.targetHealth.every((target) => target.healthy)
          ? { done: true, value: lb }
          : { done: false };
      },
      timeoutMs: 30_000,
    });

    const stopped = await provider.failZone('local-b');
    expect(stopped).toEqual([names[1]]);
    expect((await provider.instances.get(refs[1] as (typeof refs)[number]))?.status).toBe('stopped');
    expect(
      (await provider.processes(refs[1] as (typeof refs)[number])).every((state) => !state.running),
    ).toBe(true);

    // Every request through the endpoint succeeds while the zone is down, from the first one on.
    for (let index = 0; index < 10; index++) {
      await etcdctl(endpointUrl(), ['put', `hacp/during-outage/${index}`, String(index)]);
    }
    await waitUntil({
      description: 'the stopped target marked down',
      check: async () => {
        const lb = await provider.loadBalancers.get(lbRef);
        const down = lb?.targetHealth.find((target) => target.instance.name === names[1]);
        return down?.healthy === false ? { done: true, value: true } : { done: false };
      },
      timeoutMs: 30_000,
    });

    const restored = await provider.restoreZone('local-b');
    expect(restored).toEqual([names[1]]);
    await rememberPids();
    // Caught up: its own serializable (local) read has what was written while it was down.
    const value = await waitUntil({
      description: 'the restored member caught up',
      check: async () => {
        try {
          const read = await etcdctl(memberUrl(networks[1] as InstanceNetwork), [
            'get',
            '--consistency=s',
            '--print-value-only',
            'hacp/during-outage/9',
          ]);
          return read === '9' ? { done: true, value: read } : { done: false };
        } catch {
          return { done: false };
        }
      },
      timeoutMs: 60_000,
    });
    expect(value).toBe('9');
    expect((await provider.instances.get(refs[1] as (typeof refs)[number]))?.status).toBe('running');
    expect(await provider.failedZones()).toEqual([]);
  });

  it('refuses a new instance in a failed zone with UNAVAILABLE and creates nothing', async () => {
    await provider.failZone('local-c');
    try {
      const error = await provider.instances
        .create(
          {
            name: `${cluster}-master-fff`,
            zone: 'local-c',
            cluster,
            nodeConfig: { files: [], processes: [{ name: 'idle', command: 'sleep', args: ['60'] }] },
          },
          op(),
        )
        .catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'UNAVAILABLE' });
      expect((await provider.instances.list({ cluster })).map((instance) => instance.name)).toEqual(
        [...names].sort(),
      );
    } finally {
      await provider.restoreZone('local-c');
      await rememberPids();
    }
  });

  it('runs each replica under its own hostname where the OS allows it', async () => {
    const pidsOf = await Promise.all(
      refs.map(async (ref) => (await provider.processes(ref))[0]?.pid as number),
    );
    const namespaces = pidsOf.map((pid) => readlinkSync(`/proc/${pid}/ns/uts`));

    if (provider.ownHostnames) {
      const hostnames = await Promise.all(
        pidsOf.map(async (pid) =>
          (await run('nsenter', ['-t', String(pid), '-u', 'hostname'])).stdout.trim(),
        ),
      );
      expect(hostnames).toEqual([...names]);
      expect(new Set([...namespaces, readlinkSync('/proc/self/ns/uts')]).size).toBe(4);
    } else {
      expect(namespaces).toEqual(pidsOf.map(() => readlinkSync('/proc/self/ns/uts')));
    }
  });
});
