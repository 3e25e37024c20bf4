// The SDK with a provider it knows only by name: the example plugin package (hacp-provider-example),
// imported by loadProvider, shape-checked, and driven through a whole lifecycle with real etcd.
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, type ProviderV1 } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createControlPlane } from './control-plane.js';
import { createProviderRegistry } from './providers.js';
import { etcdctlAt, expectMembersMatchReplicas } from './test-support.js';
import type { ControlPlane } from './types.js';

// The example plugin package in this repository (built before these tests run: see turbo.json).
const EXAMPLE = fileURLToPath(new URL('../../../examples/provider-plugin-example', import.meta.url));

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('a provider loaded by package name', () => {
  it('runs up, replicate, status, remove and down on hacp-provider-example', async () => {
    const root = await mkdtemp(join(process.env.HACP_LOCAL_TEST_ROOT ?? tmpdir(), 'hacp-sdk-plugin-'));
    const registry = createProviderRegistry();
    let provider: ProviderV1 | undefined;
    let controlPlane: ControlPlane | undefined;
    cleanup = async () => {
      await controlPlane?.down().catch(() => undefined);
      await controlPlane?.close();
      // Whatever down could not delete is stopped by pid through the provider itself.
      for (const instance of (await provider?.instances.list({ cluster: 'kubernetes' }).catch(() => [])) ??
        []) {
        await provider?.instances
          .delete(instance, { requestId: `cleanup-${instance.name}` })
          .catch(() => undefined);
      }
      await rm(root, { recursive: true, force: true });
    };

    // A project with the package installed, as npm or pnpm link it into node_modules.
    const project = join(root, 'project');
    await mkdir(join(project, 'node_modules'), { recursive: true });
    await symlink(EXAMPLE, join(project, 'node_modules', 'hacp-provider-example'));
    const from = join(project, 'src');
    const loaded = await registry.load('example', { from });
    expect(loaded).toMatchObject({ name: 'example', package: 'hacp-provider-example', version: '0.1.0' });
    provider = await registry.create('example', { stateDir: join(root, 'example'), env: {} }, { from });
    expect(provider.name).toBe('example');
    const zones = await provider.zones.list();
    expect(zones.map((zone) => zone.name)).toContain('moon-east-b');

    const dataDir = join(root, 'clusters', 'kubernetes');
    controlPlane = createControlPlane({ provider, dataDir, timeouts: { drain: 200 } });
    const cp = controlPlane;
    await cp.up({ zone: 'moon-east-a', multizone: true });
    await cp.replicate({ zone: 'moon-east-b' });
    const two = await cp.status();
    expect(two.provider).toBe('example');
    expect(two.region).toBe('moon-east');
    const replicas = expectMembersMatchReplicas(two, 2);
    expect(two.replicas.map((replica) => replica.zone).sort()).toEqual(['moon-east-a', 'moon-east-b']);
    expect(two.endpoint.mode).toBe('load-balanced');
    expect(two.endpoint.targets.every((target) => target.healthy)).toBe(true);

    // The endpoint carries etcd traffic through the example's endpoint, the provider kit's forwarder.
    const endpoints = [`https://${two.endpoint.address}:2379`];
    await etcdctlAt({ dataDir, endpoints, args: ['put', 'plugin/key', 'kept'] });

    // A zone of another region is refused before anything changes.
    await expect(cp.replicate({ zone: 'moon-west-a' })).rejects.toMatchObject({
      code: ErrorCode.ZONE_NOT_IN_REGION,
    });
    expect((await provider.instances.list({ cluster: 'kubernetes' })).map((i) => i.name).sort()).toEqual(
      replicas,
    );

    await cp.remove({ zone: 'moon-east-b' });
    const one = await cp.status();
    expect(one.replicas.map((replica) => replica.name)).toEqual(['kubernetes-master']);
    expect(one.endpoint).toMatchObject({ mode: 'attached', attachedTo: 'kubernetes-master' });
    expect(await etcdctlAt({ dataDir, endpoints, args: ['get', '--print-value-only', 'plugin/key'] })).toBe(
      'kept',
    );

    await cp.down();
    expect(await provider.instances.list({ cluster: 'kubernetes' })).toEqual([]);
    expect(
      await provider.addresses.get({ name: 'kubernetes-master-ip', region: 'moon-east' }),
    ).toBeUndefined();
  });
});
