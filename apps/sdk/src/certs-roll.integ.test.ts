import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { loadPki } from '@hacp/certs';
import { ErrorCode, type Instance, type ProviderV1 } from '@hacp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlPlane } from './control-plane.js';
import { journalKey } from './record.js';
import { endpointWriter, expectMembersMatchReplicas, localWorld } from './test-support.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World;

const PORTS = { 'etcd-client': 2379, 'etcd-peer': 2380 } as const;
type Port = keyof typeof PORTS;

/** The serial a replica's port presents in its TLS handshake, read with node:tls (the etcd client cert offered). */
async function servedSerial(instance: Instance, port: Port): Promise<string> {
  const pki = join(world.dataDir, 'pki', 'pki', 'etcd');
  const [cert, key] = await Promise.all([
    readFile(join(pki, 'healthcheck-client.crt'), 'utf8'),
    readFile(join(pki, 'healthcheck-client.key'), 'utf8'),
  ]);
  const reach = await world.provider.reach(instance, PORTS[port]);
  try {
    return await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: reach.host, port: reach.port, rejectUnauthorized: false, cert, key });
      socket.once('secureConnect', () => {
        resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
        socket.destroy();
      });
      socket.once('error', reject);
    });
  } finally {
    await reach.close();
  }
}

/** Every replica's served serial on both etcd ports, by `<replica>/<port>`. */
async function servedSerials(): Promise<Record<string, string>> {
  const served: Record<string, string> = {};
  for (const instance of await world.provider.instances.list({ cluster: 'kubernetes' })) {
    for (const port of Object.keys(PORTS) as Port[])
      served[`${instance.name}/${port}`] = await servedSerial(instance, port);
  }
  return served;
}

/** The operator's copies, by the same keys. */
async function operatorSerials(): Promise<Record<string, string>> {
  const pki = await loadPki(join(world.dataDir, 'pki'));
  const serials: Record<string, string> = {};
  for (const [name, certs] of Object.entries(pki.replicas)) {
    serials[`${name}/etcd-client`] = new X509Certificate(certs.etcdServer.certPem).serialNumber.toUpperCase();
    serials[`${name}/etcd-peer`] = new X509Certificate(certs.etcdPeer.certPem).serialNumber.toUpperCase();
  }
  return serials;
}

async function waitAllHealthy(): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const status = await world.controlPlane.status();
    if (status.replicas.every((replica) => replica.state === 'healthy')) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error('the replicas did not become healthy again');
}

beforeAll(async () => {
  world = await localWorld();
  await world.controlPlane.up({ zone: 'local-a', multizone: true });
  await world.controlPlane.replicate({ zone: 'local-b' });
  await world.controlPlane.replicate({ zone: 'local-c' });
  await world.etcdctl(['put', 'hacp/before', 'kept']);
}, 180_000);

afterAll(async () => {
  await world?.cleanup();
}, 120_000);

describe('certs renew on three local replicas', () => {
  it('is refused while a replica is unhealthy, and nothing changes', async () => {
    const [victim] = await world.provider.instances.list({ cluster: 'kubernetes' });
    if (victim === undefined) throw new Error('no replica');
    const before = { served: await servedSerials(), copy: await operatorSerials() };
    await world.provider.instances.stopProcesses(victim, ['etcd'], { requestId: 'test-stop-etcd' });
    try {
      const error = await world.controlPlane.certs.renew().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCode.QUORUM_AT_RISK });
      expect((error as Error).message).toContain(victim.name);
      expect((error as Error).message).toContain('Nothing was changed');
      expect(await operatorSerials()).toEqual(before.copy);
      expect(await world.provider.state.get(journalKey('kubernetes'))).toBeUndefined();
    } finally {
      await world.provider.instances.start(victim, { requestId: 'test-start-etcd' });
    }
    await waitAllHealthy();
    const others = Object.entries(before.served).filter(([key]) => !key.startsWith(`${victim.name}/`));
    const now = await servedSerials();
    for (const [key, serial] of others) expect(now[key], key).toBe(serial);
    expect(now).toEqual(before.served);
  }, 120_000);

  it('rolls the renewed certificates onto every replica, one at a time, while writes through the endpoint go on', async () => {
    const before = await servedSerials();
    expect(before).toEqual(await operatorSerials());
    const events: string[] = [];
    const start = world.events.length;
    const writes = endpointWriter(world, 'roll/');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const result = await world.controlPlane.certs.renew();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { written, failures } = await writes.stop();

    expect(failures).toEqual([]);
    expect(written.length).toBeGreaterThan(10);
    expect(result.operation).toBe('renew-certs');
    expect(result.renewed).toContain('etcd-client');
    const after = await servedSerials();
    expect(after).toEqual(await operatorSerials());
    for (const [key, serial] of Object.entries(after)) expect(serial, key).not.toBe(before[key]);
    // One replica at a time: each restart is followed by its wait before the next starts.
    for (const event of world.events.slice(start))
      if (event.type === 'step-started') events.push(event.step.split(':')[0] as string);
    expect(events.filter((kind) => kind === 'roll-certs')).toHaveLength(3);
    expect(events.join(' ')).toMatch(/^renew-pki( roll-certs wait-healthy add-target){3}$/);

    const served = await world.controlPlane.certs.served();
    expect(served).toHaveLength(6);
    expect(served.every((entry) => entry.matches && entry.error === undefined)).toBe(true);
    expectMembersMatchReplicas(await world.controlPlane.status(), 3);
    expect(await world.etcdctl(['get', '--print-value-only', 'hacp/before'])).toBe('kept');
    const stored = (await world.etcdctl(['get', '--prefix', '--keys-only', 'roll/']))
      .split('\n')
      .filter(Boolean);
    expect(stored.sort()).toEqual([...written].sort());
  }, 240_000);

  it('continues an interrupted renew with resume, without renewing twice', async () => {
    const before = await servedSerials();
    const controller = new AbortController();
    const start = world.events.length;
    const stopAfterFirstRoll = setInterval(() => {
      const rolled = world.events
        .slice(start)
        .some((event) => event.type === 'step-done' && event.step.startsWith('roll-certs:'));
      if (rolled) controller.abort();
    }, 20);
    const error = await world.controlPlane.certs
      .renew({ signal: controller.signal })
      .catch((e: unknown) => e)
      .finally(() => clearInterval(stopAfterFirstRoll));
    expect(error).toMatchObject({ code: ErrorCode.ABORTED });
    expect(await world.provider.state.get(journalKey('kubernetes'))).toBeDefined();
    const copy = await operatorSerials();
    const midway = await servedSerials();
    const rolledKeys = Object.keys(midway).filter((key) => midway[key] !== before[key]);
    expect(rolledKeys.length).toBeGreaterThanOrEqual(2);
    expect(rolledKeys.length).toBeLessThan(6);
    for (const key of rolledKeys) expect(midway[key], key).toBe(copy[key]);

    const resumed = await world.controlPlane.resume();
    expect(resumed).toMatchObject({ operation: 'renew-certs', resumed: true });
    expect(await world.provider.state.get(journalKey('kubernetes'))).toBeUndefined();
    // The PKI renewed once: the replica rolled before the interruption keeps what it got.
    expect(await operatorSerials()).toEqual(copy);
    const after = await servedSerials();
    expect(after).toEqual(copy);
    for (const [key, serial] of Object.entries(after)) expect(serial, key).not.toBe(before[key]);
    expectMembersMatchReplicas(await world.controlPlane.status(), 3);
  }, 240_000);
  it('continues a renew cut off between stopping a replica and starting it again', async () => {
    const before = await servedSerials();
    const controller = new AbortController();
    let stopped: string | undefined;
    // The provider stops the first replica's processes, then the run is cut off before the start.
    const cutting: ProviderV1 = {
      ...world.provider,
      instances: {
        ...world.provider.instances,
        stopProcesses: async (ref, names, options) => {
          await world.provider.instances.stopProcesses(ref, names, options);
          stopped ??= ref.name;
          controller.abort();
        },
      },
    };
    const interrupted = createControlPlane({
      provider: cutting,
      dataDir: world.dataDir,
      timeouts: { drain: 200 },
    });
    const error = await interrupted.certs.renew({ signal: controller.signal }).catch((e: unknown) => e);
    await interrupted.close();
    expect(error).toMatchObject({ code: ErrorCode.ABORTED });
    const down = (await world.controlPlane.status()).replicas.find((replica) => replica.name === stopped);
    expect(down?.state).not.toBe('healthy');
    const copy = await operatorSerials();

    const resumed = await world.controlPlane.resume();
    expect(resumed).toMatchObject({ operation: 'renew-certs', resumed: true });
    expect(resumed.steps.find((step) => step.id === `roll-certs:${stopped}`)?.status).toBe('done');
    const after = await servedSerials();
    expect(after).toEqual(copy);
    for (const [key, serial] of Object.entries(after)) expect(serial, key).not.toBe(before[key]);
    expectMembersMatchReplicas(await world.controlPlane.status(), 3);
    expect(await world.etcdctl(['get', '--print-value-only', 'hacp/before'])).toBe('kept');
  }, 240_000);
});
