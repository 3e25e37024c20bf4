// `certs rotate-ca --ca etcd` on three local replicas with real etcd: writes through the endpoint
// go on during all three rolls, every replica ends serving certificates of the new CA (read over
// TLS), and a client certificate of the old CA is refused by etcd at the end.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { loadPki, trustedCaPem } from '@hacp/certs';
import type { Instance } from '@hacp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecord } from './record.js';
import { expectMembersMatchReplicas, localWorld } from './test-support.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World;
let scratch: string;

const run = promisify(execFile);
const PORTS = { 'etcd-client': 2379, 'etcd-peer': 2380 } as const;
const operatorEtcd = () => join(world.dataDir, 'pki', 'pki', 'etcd');

/** The certificate a replica's port presents in its TLS handshake (the operator's etcd client cert offered). */
async function servedCertificate(instance: Instance, port: number): Promise<X509Certificate> {
  const [cert, key] = await Promise.all([
    readFile(join(operatorEtcd(), 'healthcheck-client.crt'), 'utf8'),
    readFile(join(operatorEtcd(), 'healthcheck-client.key'), 'utf8'),
  ]);
  const reach = await world.provider.reach(instance, port);
  try {
    return await new Promise<X509Certificate>((resolve, reject) => {
      const socket = connect({ host: reach.host, port: reach.port, rejectUnauthorized: false, cert, key });
      socket.once('secureConnect', () => {
        resolve(new X509Certificate(socket.getPeerCertificate().raw));
        socket.destroy();
      });
      socket.once('error', reject);
    });
  } finally {
    await reach.close();
  }
}

async function endpointUrl(): Promise<string> {
  const status = await world.controlPlane.status();
  const address = await world.provider.addresses.get({ name: 'kubernetes-master-ip', region: status.region });
  return `https://${address?.ip}:${2379 + (address?.portOffset ?? 0)}`;
}

/** etcdctl through the endpoint with the files of one client folder (`ca.crt`, `client.crt`, `client.key`). */
async function etcdctlWith(folder: string, args: string[]): Promise<string> {
  const { stdout } = await run(
    'etcdctl',
    [
      `--endpoints=${await endpointUrl()}`,
      `--cacert=${join(folder, 'ca.crt')}`,
      `--cert=${join(folder, 'client.crt')}`,
      `--key=${join(folder, 'client.key')}`,
      '--command-timeout=10s',
      ...args,
    ],
    { env: { ...process.env, ETCDCTL_API: '3' } },
  );
  return stdout.trim();
}

/** Replaces a file of a client folder in one step, so that no etcdctl run reads half of it. */
async function place(folder: string, name: string, contents: string): Promise<void> {
  await writeFile(join(folder, `${name}.tmp`), contents, { mode: 0o600 });
  await rename(join(folder, `${name}.tmp`), join(folder, name));
}

beforeAll(async () => {
  world = await localWorld();
  scratch = await mkdtemp(join(tmpdir(), 'hacp-rotate-ca-'));
  await world.controlPlane.up({ zone: 'local-a', multizone: true });
  await world.controlPlane.replicate({ zone: 'local-b' });
  await world.controlPlane.replicate({ zone: 'local-c' });
  await world.etcdctl(['put', 'hacp/before', 'kept']);
}, 180_000);

afterAll(async () => {
  await world?.cleanup();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
}, 120_000);

describe('certs rotate-ca --ca etcd on three local replicas', () => {
  it('replaces the etcd CA while writes through the endpoint go on; the old CA is refused at the end', async () => {
    const oldPki = await loadPki(join(world.dataDir, 'pki'));
    // A client as an operator's tool would be: it trusts both CAs once the new one exists, and
    // takes its new client certificate once it is issued.
    const client = join(scratch, 'client');
    const old = join(scratch, 'old-client');
    await run('mkdir', ['-p', client, old]);
    for (const folder of [client, old]) {
      await place(folder, 'ca.crt', oldPki.etcdCa.certPem);
      await place(folder, 'client.crt', oldPki.etcdClient.certPem);
      await place(folder, 'client.key', oldPki.etcdClient.keyPem.reveal());
    }
    const start = world.events.length;
    let following = Promise.resolve();
    const seen = new Set<string>();
    const follow = setInterval(() => {
      for (const event of world.events.slice(start)) {
        if (event.type !== 'step-done' || seen.has(event.step)) continue;
        seen.add(event.step);
        if (event.step === 'rotate-etcd-ca')
          following = following.then(async () => {
            const pki = await loadPki(join(world.dataDir, 'pki'));
            // Both CAs, as the replicas and hacp's own client now trust them.
            await place(client, 'ca.crt', trustedCaPem(pki, 'etcdCa'));
          });
        if (event.step === 'rotate-etcd-ca#2')
          following = following.then(async () => {
            const pki = await loadPki(join(world.dataDir, 'pki'));
            await place(client, 'client.crt', pki.etcdClient.certPem);
            await place(client, 'client.key', pki.etcdClient.keyPem.reveal());
          });
      }
    }, 5);

    let running = true;
    const written: string[] = [];
    const failures: string[] = [];
    const writer = (async () => {
      for (let i = 0; running; i++) {
        try {
          await etcdctlWith(client, ['put', `rotate/${i}`, String(i)]);
          written.push(`rotate/${i}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const result = await world.controlPlane.certs.rotateCa({ ca: 'etcd' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    running = false;
    await writer;
    clearInterval(follow);
    await following;

    expect(failures).toEqual([]);
    expect(written.length).toBeGreaterThan(10);
    expect(result).toMatchObject({ operation: 'rotate-ca', ca: 'etcd' });
    expect(result.reissued).toEqual(expect.arrayContaining(['etcd-client']));
    // Three rolls, one replica at a time, each after its phase.
    const kinds = world.events
      .slice(start)
      .flatMap((event) => (event.type === 'step-started' ? [event.step.split(/[:#]/)[0] as string] : []));
    expect(kinds.join(' ')).toMatch(/^(rotate-etcd-ca( roll-certs wait-healthy add-target){3} ?){3}$/);

    const newPki = await loadPki(join(world.dataDir, 'pki'));
    const newCa = new X509Certificate(newPki.etcdCa.certPem);
    expect(newPki.etcdCa.certPem).not.toBe(oldPki.etcdCa.certPem);
    expect(newPki.etcdCaPrevious).toBeUndefined();
    expect(newPki.etcdCaNext).toBeUndefined();
    expect(result.newCa.serial).toBe(newCa.serialNumber.toUpperCase());
    expect((await readRecord(world.provider.state, 'kubernetes'))?.value.caCertificates.etcdCa).toBe(
      newPki.etcdCa.certPem,
    );
    // Every replica serves certificates of the new CA on both etcd ports, read over TLS.
    const instances = await world.provider.instances.list({ cluster: 'kubernetes' });
    expect(instances).toHaveLength(3);
    for (const instance of instances) {
      for (const [port, number] of Object.entries(PORTS)) {
        const served = await servedCertificate(instance, number);
        expect(served.verify(newCa.publicKey), `${instance.name}/${port}`).toBe(true);
        expect(served.verify(new X509Certificate(oldPki.etcdCa.certPem).publicKey)).toBe(false);
      }
    }
    // `certs check` agrees: the etcd CA it reports is the new one, and every replica serves its copy.
    const check = await world.controlPlane.certs.check();
    expect(check.find((entry) => entry.name === 'etcd-ca')?.serial).toBe(newCa.serialNumber.toUpperCase());
    expect(check.map((entry) => entry.name)).not.toContain('etcd-ca-previous');
    const served = await world.controlPlane.certs.served();
    expect(served).toHaveLength(6);
    expect(served.every((entry) => entry.matches && entry.error === undefined)).toBe(true);

    // An old client, trusting the new CA but presenting its old-CA certificate, is refused by etcd.
    await place(old, 'ca.crt', newPki.etcdCa.certPem);
    const refused = await etcdctlWith(old, ['get', 'hacp/before']).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Error);
    // The same client with a certificate of the new CA is served (the refusal is the certificate's).
    await copyFile(join(operatorEtcd(), 'healthcheck-client.crt'), join(old, 'client.crt'));
    await copyFile(join(operatorEtcd(), 'healthcheck-client.key'), join(old, 'client.key'));
    expect(await etcdctlWith(old, ['get', '--print-value-only', 'hacp/before'])).toBe('kept');

    expectMembersMatchReplicas(await world.controlPlane.status(), 3);
    const stored = (await world.etcdctl(['get', '--prefix', '--keys-only', 'rotate/']))
      .split('\n')
      .filter(Boolean);
    expect(stored.sort()).toEqual([...written].sort());
  }, 300_000);
});
