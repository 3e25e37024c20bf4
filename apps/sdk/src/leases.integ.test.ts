// The lease side of the lifecycle against the Kubernetes Lease API test server (the replicas here
// run no kube-apiserver, so the leases are written the way a 1.27+ apiserver writes them).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiServerIdentityLabels, apiServerIdentityName } from '@hacp/lease-identity';
import { type LeaseApiServer, startLeaseApiServer } from '@hacp/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { localWorld } from './test-support.js';

let server: LeaseApiServer | undefined;
let kubeconfigDir: string | undefined;
let world: Awaited<ReturnType<typeof localWorld>> | undefined;
afterEach(async () => {
  await world?.cleanup();
  await server?.stop();
  if (kubeconfigDir !== undefined) await rm(kubeconfigDir, { recursive: true, force: true });
  kubeconfigDir = undefined;
  world = undefined;
  server = undefined;
});

function identityLease(hostname: string) {
  const name = apiServerIdentityName({ hostname, generation: '1.27' });
  const now = `${new Date().toISOString().slice(0, 23)}000Z`;
  return {
    name,
    body: {
      metadata: { name, labels: apiServerIdentityLabels({ hostname, generation: '1.27' }) },
      spec: { holderIdentity: `${name}_0`, leaseDurationSeconds: 3600, renewTime: now, acquireTime: now },
    },
  };
}

describe('leases through the Kubernetes API', () => {
  it('maps identity leases to replicas, and remove deletes the removed replica’s lease only', async () => {
    server = await startLeaseApiServer();
    kubeconfigDir = await mkdtemp(join(tmpdir(), 'hacp-kubeconfig-'));
    const kubeconfig = join(kubeconfigDir, 'kubeconfig');
    await writeFile(kubeconfig, server.kubeconfig(), { mode: 0o600 });
    world = await localWorld({ kubeconfig });
    const w = world;
    await expect(w.controlPlane.leases()).rejects.toMatchObject({ code: 'NOT_FOUND' });

    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    await w.controlPlane.replicate({ zone: 'local-b', name: 'kubernetes-master-b0b' });
    const instances = await w.provider.instances.list({ cluster: 'kubernetes' });
    const leases = new Map<string, string>();
    for (const instance of instances) {
      const lease = identityLease(instance.hostname ?? instance.name);
      server.writeLease('kube-system', lease.body);
      leases.set(instance.name, lease.name);
    }
    server.writeLease('kube-system', {
      metadata: { name: 'kube-scheduler' },
      spec: { holderIdentity: 'kubernetes-master_1234', leaseDurationSeconds: 15 },
    });

    const seen = await w.controlPlane.leases();
    expect(seen.identities.map((i) => [i.name, i.replica, i.stale]).sort()).toEqual(
      [...leases.entries()].map(([replica, name]) => [name, replica, false]).sort(),
    );
    expect(seen.leaders).toContainEqual({ lease: 'kube-scheduler', holder: 'kubernetes-master_1234' });
    expect((await w.controlPlane.status()).leases?.identities).toHaveLength(2);

    const removed = await w.controlPlane.remove({ name: 'kubernetes-master-b0b' });
    expect(removed.steps.find((s) => s.id === 'delete-identity-lease:kubernetes-master-b0b')?.status).toBe(
      'done',
    );
    expect(server.lease('kube-system', leases.get('kubernetes-master-b0b') as string)).toBeUndefined();
    expect(server.lease('kube-system', leases.get('kubernetes-master') as string)).toBeDefined();
  });

  it('refuses to read the leases of an etcd-only cluster without a kubeconfig, and of a missing one', async () => {
    world = await localWorld();
    await expect(world.controlPlane.leases()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await world.controlPlane.up({ zone: 'local-a' });
    await expect(world.controlPlane.leases()).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('runs etcd only'),
    });
  });
});
