import { type NodeConfig, Secret } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { expectHacpError } from './assertions.js';
import { createMemoryProvider } from './memory-provider.js';

const nodeConfig: NodeConfig = {
  files: [{ path: 'pki/etcd/peer.key', mode: 0o600, contents: new Secret('key') }],
  processes: [{ name: 'etcd', command: 'etcd', args: [] }],
};
const requestId = 'test';

function spec(name: string, zone = 'local-a') {
  return { name, zone, cluster: 'kubernetes', nodeConfig };
}

describe('createMemoryProvider', () => {
  it('offers local-a, local-b and local-c in region local by default, or the zones given', async () => {
    expect(await createMemoryProvider().zones.list()).toEqual([
      { name: 'local-a', region: 'local' },
      { name: 'local-b', region: 'local' },
      { name: 'local-c', region: 'local' },
    ]);
    const provider = createMemoryProvider({ name: 'fake-gce', zones: ['europe-west1-b'] });
    expect(provider.name).toBe('fake-gce');
    expect(await provider.zones.list()).toEqual([{ name: 'europe-west1-b', region: 'europe-west1' }]);
  });

  it('refuses a configured zone that is not <region>-<letter>', () => {
    expect(() => createMemoryProvider({ zones: ['local-1'] })).toThrow(
      expect.objectContaining({ code: 'ZONE_INVALID' }),
    );
  });

  it('accepts any <region>-<letter> zone, listed or not', async () => {
    const provider = createMemoryProvider();
    const instance = await provider.instances.create(spec('kubernetes-master', 'us-central1-f'), {
      requestId,
    });
    expect(instance.zone).toBe('us-central1-f');
    await expectHacpError(
      provider.instances.create(spec('kubernetes-master-a1b', 'local-1'), { requestId }),
      'ZONE_INVALID',
    );
  });

  it('gives each instance its own 10.0.0.0/8 address, which reach returns with the port as it is', async () => {
    const provider = createMemoryProvider();
    const a = await provider.instances.create(spec('kubernetes-master'), { requestId });
    const b = await provider.instances.create(spec('kubernetes-master-a1b'), { requestId });
    expect(a.internalIp).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(b.internalIp).not.toBe(a.internalIp);
    const reach = await provider.reach(a, 2379);
    expect({ host: reach.host, port: reach.port }).toEqual({ host: a.internalIp, port: 2379 });
  });

  it('reports a stopped instance unreachable and unhealthy behind a load balancer', async () => {
    const provider = createMemoryProvider();
    const a = await provider.instances.create(spec('kubernetes-master'), { requestId });
    const b = await provider.instances.create(spec('kubernetes-master-a1b'), { requestId });
    await provider.addresses.reserve({ name: 'kubernetes-master-ip', region: 'local' }, { requestId });
    const lb = { name: 'kubernetes-lb', region: 'local', address: 'kubernetes-master-ip', port: 443 };
    await provider.loadBalancers.ensure(
      { ...lb, healthCheck: { protocol: 'https', port: 6443, path: '/readyz' }, targets: [a, b] },
      { requestId },
    );
    await provider.instances.stop(b, { requestId });
    await expectHacpError(provider.reach(b, 2379), 'UNAVAILABLE');
    const health = (await provider.loadBalancers.get(lb))?.targetHealth.map((entry) => entry.healthy);
    expect(health).toEqual([true, false]);
  });

  it('refuses to attach an address to an instance in another region', async () => {
    const provider = createMemoryProvider();
    const instance = await provider.instances.create(spec('kubernetes-master', 'elsewhere-a'), { requestId });
    const ref = { name: 'kubernetes-master-ip', region: 'local' };
    await provider.addresses.reserve(ref, { requestId });
    await expectHacpError(provider.addresses.attach(ref, instance, { requestId }), 'ZONE_NOT_IN_REGION');
    expect((await provider.addresses.get(ref))?.holder).toBeUndefined();
  });

  it('frees the address an instance held when the instance is deleted', async () => {
    const provider = createMemoryProvider();
    const instance = await provider.instances.create(spec('kubernetes-master'), { requestId });
    const ref = { name: 'kubernetes-master-ip', region: 'local' };
    const { ip } = await provider.addresses.reserve(ref, { requestId });
    await provider.addresses.attach(ref, instance, { requestId });
    await provider.instances.delete(instance, { requestId });
    expect(await provider.addresses.get(ref)).toEqual({ ...ref, ip });
  });

  it('refuses firewall ports outside 1-65535 and reversed ranges, and takes the whole range', async () => {
    const { firewalls } = createMemoryProvider();
    const rule = {
      name: 'kubernetes-etcd',
      cluster: 'kubernetes',
      protocol: 'tcp',
      from: 'replicas',
    } as const;
    for (const port of ['0', '65536', '2380-2379', '', '80-', '-80']) {
      await expectHacpError(
        firewalls.ensure({ ...rule, ports: [port] }, { requestId }),
        'INVALID_ARGUMENT',
        port,
      );
    }
    await expectHacpError(firewalls.ensure({ ...rule, ports: [] }, { requestId }), 'INVALID_ARGUMENT');
    await expect(
      firewalls.ensure({ ...rule, ports: ['1-65535', '6443'] }, { requestId }),
    ).resolves.toBeUndefined();
  });

  it('refuses state keys over 256 characters or with control characters, and values JSON cannot hold', async () => {
    const { state } = createMemoryProvider();
    const options = { requestId, expectedVersion: 0 };
    await expectHacpError(state.put('k'.repeat(257), 1, options), 'INVALID_ARGUMENT');
    await expectHacpError(state.put('a\nb', 1, options), 'INVALID_ARGUMENT');
    await expectHacpError(state.put('key', undefined, options), 'INVALID_ARGUMENT');
    await expectHacpError(state.put('key', 1n, options), 'INVALID_ARGUMENT');
    expect(await state.list('')).toEqual([]);
    await expect(state.put('k'.repeat(256), 1, options)).resolves.toMatchObject({ version: 1 });
  });

  it('refuses a live lock also to its own holder', async () => {
    const { state } = createMemoryProvider();
    await state.lock('kubernetes', { holder: 'hacp-1', ttlMs: 30_000 });
    const error = await expectHacpError(
      state.lock('kubernetes', { holder: 'hacp-1', ttlMs: 30_000 }),
      'LOCKED',
    );
    expect(error.details).toMatchObject({ lock: 'kubernetes', holder: 'hacp-1' });
  });

  it('checks the NodeConfig it is given', async () => {
    const provider = createMemoryProvider();
    const bad = {
      ...spec('kubernetes-master'),
      nodeConfig: { files: [{ path: '../x', mode: 0o600, contents: '' }], processes: [] },
    };
    await expectHacpError(provider.instances.create(bad, { requestId }), 'INVALID_ARGUMENT');
    expect(await provider.instances.list({ cluster: 'kubernetes' })).toEqual([]);
  });

  it("keeps each instance's files as its disk would: the NodeConfig's, as syncFiles replaced them under the prefix", async () => {
    const provider = createMemoryProvider();
    const ref = { name: 'kubernetes-master', zone: 'local-a' };
    await provider.instances.create(spec(ref.name), { requestId });
    const update = {
      prefix: 'addons',
      files: [
        { path: 'addons/dns.yaml', mode: 0o644, contents: 'dns' },
        { path: 'addons/token.yaml', mode: 0o600, contents: new Secret('token') },
      ],
    };

    await provider.instances.syncFiles(ref, update, { requestId });
    await provider.instances.syncFiles(
      ref,
      { prefix: 'addons', files: [{ path: 'addons/dns.yaml', mode: 0o600, contents: 'dns 2' }] },
      { requestId },
    );
    await expectHacpError(
      provider.instances.syncFiles(
        ref,
        { prefix: 'addons', files: [{ path: 'pki/etcd/peer.key', mode: 0o600, contents: 'x' }] },
        { requestId },
      ),
      'INVALID_ARGUMENT',
    );

    expect(provider.instanceFiles(ref)).toEqual([
      { path: 'addons/dns.yaml', mode: 0o600, contents: 'dns 2' },
      { path: 'pki/etcd/peer.key', mode: 0o600, contents: 'key' },
    ]);
    expect(provider.instanceFiles(ref, 'addons')).toEqual([
      { path: 'addons/dns.yaml', mode: 0o600, contents: 'dns 2' },
    ]);
    await provider.instances.stopProcesses(ref, ['etcd'], { requestId });
    expect((await provider.instances.get(ref))?.status).toBe('running');
    await provider.instances.delete(ref, { requestId });
    expect(() => provider.instanceFiles(ref)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
  it('writeFiles writes just the files named, leaving the others, and refuses a bad path with nothing written', async () => {
    const provider = createMemoryProvider();
    const ref = { name: 'kubernetes-master', zone: 'local-a' };
    await provider.instances.create(spec(ref.name), { requestId });
    await provider.instances.writeFiles(
      ref,
      [{ path: 'scheduler.conf', mode: 0o600, contents: new Secret('kubeconfig') }],
      { requestId },
    );
    await expectHacpError(
      provider.instances.writeFiles(
        ref,
        [
          { path: 'controller-manager.conf', mode: 0o600, contents: 'x' },
          { path: '../outside', mode: 0o600, contents: 'x' },
        ],
        { requestId },
      ),
      'INVALID_ARGUMENT',
    );
    expect(provider.instanceFiles(ref)).toEqual([
      { path: 'pki/etcd/peer.key', mode: 0o600, contents: 'key' },
      { path: 'scheduler.conf', mode: 0o600, contents: 'kubeconfig' },
    ]);
    await expectHacpError(
      provider.instances.writeFiles({ name: 'kubernetes-master-abc', zone: 'local-a' }, [], { requestId }),
      'NOT_FOUND',
    );
  });
});
