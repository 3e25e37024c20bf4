/**
 * `certs renew` and `certs rotate-ca` where the provider cannot rewrite a running replica's files
 * (GCE has no syncFiles or stopProcesses): refused before anything changes, naming `hacp replace`
 * as the way. And `rotate-ca` on the memory provider, interrupted between its phases, converges.
 */
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadPki, nextCaKey, previousCaKey } from '@hacp/certs';
import { ErrorCode, isHacpError } from '@hacp/core';
import type { MemoryProvider } from '@hacp/provider-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { journalKey, readRecord } from '../record.js';
import { grow, stopReplicaIn } from './scenarios.test-support.js';
import { CLUSTER, createWorld, failure, providerState, type World } from './world.test-support.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

/** The memory provider without the instance methods GCE lacks. */
function withoutFileUpdates(memory: MemoryProvider): MemoryProvider {
  const { syncFiles: _sync, stopProcesses: _stop, ...instances } = memory.instances;
  return { ...memory, instances: instances as MemoryProvider['instances'] };
}

describe('certs renew on a provider that cannot update running replicas', () => {
  it('is refused with PROVIDER_ERROR, naming hacp replace for each replica, and nothing changes', async () => {
    world = await createWorld({ wrap: withoutFileUpdates });
    await grow(world, 2);
    const before = await providerState(world);
    const pki = await readFile(join(world.dataDir, 'pki', 'pki', 'etcd', 'healthcheck-client.crt'), 'utf8');
    const error = await failure(world.controlPlane().certs.renew());
    expect(isHacpError(error, ErrorCode.PROVIDER_ERROR)).toBe(true);
    expect(error.message).toContain('cannot rewrite the certificates of a running replica');
    expect(error.message).toContain('instances.syncFiles, instances.stopProcesses');
    const replicas = (await world.provider.instances.list({ cluster: 'kubernetes' })).map((i) => i.name);
    for (const name of replicas) expect(error.actions.join(' ')).toContain(`hacp replace --replica ${name}`);
    expect(await providerState(world)).toEqual(before);
    expect(await readFile(join(world.dataDir, 'pki', 'pki', 'etcd', 'healthcheck-client.crt'), 'utf8')).toBe(
      pki,
    );
  });
});

/** Every file of the operator's PKI folder with its contents. */
async function pkiFolder(target: World): Promise<Record<string, string>> {
  const dir = join(target.dataDir, 'pki');
  const paths = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
  return Object.fromEntries(
    await Promise.all(paths.map(async (path) => [path, await readFile(path, 'utf8')])),
  );
}

const etcdClientFile = (target: World) =>
  readFile(join(target.dataDir, 'pki', 'pki', 'etcd', 'healthcheck-client.crt'), 'utf8');

describe('certs rotate-ca', () => {
  it('is refused on a provider that cannot update running replicas, and nothing changes', async () => {
    world = await createWorld({ wrap: withoutFileUpdates });
    await grow(world, 2);
    const before = await providerState(world);
    const client = await etcdClientFile(world);
    const error = await failure(world.controlPlane().certs.rotateCa({ ca: 'etcd' }));
    expect(isHacpError(error, ErrorCode.PROVIDER_ERROR)).toBe(true);
    expect(error.message).toContain('certs rotate-ca');
    expect(await providerState(world)).toEqual(before);
    expect(await etcdClientFile(world)).toBe(client);
  });

  it('refuses an unknown CA name with INVALID_ARGUMENT, and nothing changes', async () => {
    world = await createWorld();
    await grow(world, 1);
    const before = await providerState(world);
    const error = await failure(world.controlPlane().certs.rotateCa({ ca: 'kubernetes' }));
    expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
    expect(error.message).toContain('no CA named "kubernetes"');
    expect(await providerState(world)).toEqual(before);
  });

  it('refuses another CA while a rotation is in flight, and while one is left mid-way in the PKI (CONFLICT), and nothing changes', async () => {
    world = await createWorld();
    await grow(world, 2);
    const controller = new AbortController();
    const interrupted = world.controlPlane({
      onEvent: (event) => {
        if (event.type === 'step-done' && event.step === 'rotate-etcd-ca') controller.abort();
      },
    });
    await failure(interrupted.certs.rotateCa({ ca: 'etcd', signal: controller.signal }));
    const before = await providerState(world);
    const pkiBefore = await pkiFolder(world);
    const inFlight = await failure(world.controlPlane().certs.rotateCa({ ca: 'cluster' }));
    expect(isHacpError(inFlight, ErrorCode.CONFLICT)).toBe(true);
    expect(await providerState(world)).toEqual(before);
    expect(await pkiFolder(world)).toEqual(pkiBefore);

    // The journal gone (its rotation abandoned), the PKI still holds the next etcd CA.
    const journal = await world.provider.state.get(journalKey(CLUSTER));
    await world.provider.state.delete(journalKey(CLUSTER), {
      expectedVersion: journal?.version as number,
      requestId: 'test-drop-journal',
    });
    const withoutJournal = await providerState(world);
    for (const ca of ['cluster', 'front-proxy']) {
      const error = await failure(world.controlPlane().certs.rotateCa({ ca }));
      expect(isHacpError(error, ErrorCode.CONFLICT)).toBe(true);
      expect(error.message).toContain('etcd CA rotation is not finished');
      expect(error.actions.join(' ')).toContain('hacp certs rotate-ca --ca etcd');
      expect(await providerState(world)).toEqual(withoutJournal);
      expect(await pkiFolder(world)).toEqual(pkiBefore);
    }
    // The same CA continues where it stopped.
    await world.controlPlane().certs.rotateCa({ ca: 'etcd' });
    const pki = await loadPki(join(world.dataDir, 'pki'));
    expect(pki.etcdCaNext).toBeUndefined();
    expect(pki.etcdCaPrevious).toBeUndefined();
  });

  for (const [ca, key, trustFile, leaves] of [
    ['cluster', 'ca', 'pki/ca.crt', ['apiserver']],
    ['front-proxy', 'frontProxyCa', 'pki/front-proxy-ca.crt', ['front-proxy-client']],
  ] as const) {
    it(`rotates the ${ca} CA of a cluster without Kubernetes: every replica trusts and holds leaves of the new CA alone, the record names it`, async () => {
      world = await createWorld();
      await grow(world, 2);
      const oldPki = await loadPki(join(world.dataDir, 'pki'));
      const result = await world.controlPlane().certs.rotateCa({ ca });
      expect(result).toMatchObject({ operation: 'rotate-ca', ca });
      const ids = world.events.flatMap((event) => (event.type === 'step-done' ? [event.step] : []));
      expect(ids).toEqual(
        expect.arrayContaining([`rotate-${ca}-ca`, `rotate-${ca}-ca#2`, `rotate-${ca}-ca#3`]),
      );

      const pki = await loadPki(join(world.dataDir, 'pki'));
      const newCa = pki[key].certPem;
      expect(newCa).not.toBe(oldPki[key].certPem);
      expect(pki[nextCaKey(key)]).toBeUndefined();
      expect(pki[previousCaKey(key)]).toBeUndefined();
      // The other CAs stay as they were.
      for (const other of ['ca', 'etcdCa', 'frontProxyCa'] as const)
        if (other !== key) expect(pki[other].certPem).toBe(oldPki[other].certPem);
      const record = (await readRecord(world.provider.state, CLUSTER))?.value;
      expect(record?.caCertificates[key]).toBe(newCa);
      expect(result.newCa.serial).toBe(new X509Certificate(newCa).serialNumber.toUpperCase());
      expect(result.reissued).toEqual(expect.arrayContaining(leaves.filter((leaf) => leaf !== 'apiserver')));

      const caKey = new X509Certificate(newCa).publicKey;
      const instances = await world.provider.instances.list({ cluster: CLUSTER });
      expect(instances).toHaveLength(2);
      for (const instance of instances) {
        const files = new Map(
          world.provider.instanceFiles(instance, 'pki').map((file) => [file.path, file.contents]),
        );
        expect(files.get(trustFile)).toBe(newCa);
        for (const leaf of leaves)
          expect(new X509Certificate(files.get(`pki/${leaf}.crt`) as string).verify(caKey)).toBe(true);
        if (key === 'ca') expect(files.get('pki/cluster-signing-ca.crt')).toBe(newCa);
      }
      expect((await providerState(world)).journal).toBeUndefined();
    });
  }

  it('plans three phases, each rolled onto the three replicas, and changes nothing', async () => {
    world = await createWorld();
    await grow(world, 3);
    const before = await providerState(world);
    const plan = await world.controlPlane().plan({ operation: 'rotate-ca', ca: 'etcd' });
    expect(plan.operation).toBe('rotate-ca');
    expect(plan.steps.filter((step) => step.action.kind === 'rotate-ca')).toHaveLength(3);
    expect(plan.steps.filter((step) => step.action.kind === 'roll-certs')).toHaveLength(9);
    expect(await providerState(world)).toEqual(before);
  });

  it('plans the cluster CA as three phases rolled onto the replicas, then the apiservers republishing it, and changes nothing', async () => {
    world = await createWorld();
    await grow(world, 3);
    const before = await providerState(world);
    const plan = await world.controlPlane().plan({ operation: 'rotate-ca', ca: 'cluster' });
    const rotations = plan.steps.filter((step) => step.action.kind === 'rotate-ca');
    expect(rotations.map((step) => step.id)).toEqual([
      'rotate-cluster-ca',
      'rotate-cluster-ca#2',
      'rotate-cluster-ca#3',
      'rotate-cluster-ca#4',
    ]);
    expect(rotations.map((step) => step.title).join(' ')).toContain('cluster CA');
    expect(plan.steps.filter((step) => step.action.kind === 'roll-certs')).toHaveLength(9);
    expect(await providerState(world)).toEqual(before);
  });

  it('is refused with QUORUM_AT_RISK while a replica is stopped, and nothing changes', async () => {
    world = await createWorld();
    await grow(world, 3);
    const stopped = await stopReplicaIn(world, 'local-c');
    const before = await providerState(world);
    const client = await etcdClientFile(world);
    const error = await failure(world.controlPlane().certs.rotateCa({ ca: 'etcd' }));
    expect(isHacpError(error, ErrorCode.QUORUM_AT_RISK)).toBe(true);
    expect(error.message).toContain(stopped);
    expect(await providerState(world)).toEqual(before);
    expect(await etcdClientFile(world)).toBe(client);
  });

  for (const stopAfter of ['rotate-etcd-ca', 'rotate-etcd-ca#2', 'rotate-etcd-ca#3']) {
    it(`interrupted after ${stopAfter}, resumes to every replica trusting and serving the new etcd CA alone`, async () => {
      world = await createWorld();
      await grow(world, 3);
      const oldCa = (await readRecord(world.provider.state, CLUSTER))?.value.caCertificates.etcdCa;
      const controller = new AbortController();
      const interrupted = world.controlPlane({
        onEvent: (event) => {
          if (event.type === 'step-done' && event.step === stopAfter) controller.abort();
        },
      });
      const stopped = await failure(interrupted.certs.rotateCa({ ca: 'etcd', signal: controller.signal }));
      expect(isHacpError(stopped, ErrorCode.ABORTED)).toBe(true);
      const result = await world.controlPlane().resume();
      expect(result.operation).toBe('rotate-ca');

      const record = (await readRecord(world.provider.state, CLUSTER))?.value;
      const newCa = record?.caCertificates.etcdCa as string;
      expect(newCa).not.toBe(oldCa);
      const caKey = new X509Certificate(newCa).publicKey;
      expect(new X509Certificate(await etcdClientFile(world)).verify(caKey)).toBe(true);
      const instances = await world.provider.instances.list({ cluster: CLUSTER });
      expect(instances).toHaveLength(3);
      for (const instance of instances) {
        const files = new Map(
          world.provider.instanceFiles(instance, 'pki').map((file) => [file.path, file.contents]),
        );
        expect(files.get('pki/etcd/ca.crt')).toBe(newCa);
        for (const leaf of ['etcd/server', 'etcd/peer', 'apiserver-etcd-client'])
          expect(new X509Certificate(files.get(`pki/${leaf}.crt`) as string).verify(caKey)).toBe(true);
      }
      expect((await providerState(world)).journal).toBeUndefined();
      const check = await world.controlPlane().certs.check();
      expect(check.map((entry) => entry.name)).not.toContain('etcd-ca-previous');
    });
  }
});
