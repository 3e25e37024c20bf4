// A provider plugin as a user adds one: `hacp plugins link` of examples/provider-plugin-example,
// then up, replicate, status and down with --provider example, all through the built CLI, with
// real etcd behind the example's endpoint (the provider kit's forwarder); then `hacp plugins unlink`.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, etcdctl, hacp, snapshotTree, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

const EXAMPLE = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'examples',
  'provider-plugin-example',
);

interface Listing {
  name: string;
  package: string;
  version?: string;
  source: string;
  plugin?: { name: string; version: string; type: string };
}

interface Status {
  provider: string;
  region: string;
  replicas: { name: string; zone: string; state: string }[];
  etcd: { members: { name: string; learner: boolean; healthy: boolean }[] };
  endpoint: {
    address: string;
    mode: string;
    attachedTo?: string;
    targets: { replica: string; healthy: boolean }[];
  };
}

let stateDir: { dir: string; remove(): Promise<void> };
/** oclif's data, cache and config folders (what is linked), and a working folder without node_modules. */
let home: string;
let outside: string;

beforeAll(async () => {
  stateDir = await tempStateDir();
  home = await mkdtemp(join(tmpdir(), 'hacp-plugins-home-'));
  outside = await mkdtemp(join(tmpdir(), 'hacp-plugins-cwd-'));
});

afterAll(async () => {
  await cli(['down', '--provider', 'example', '--yes', '--cluster', 'moon']);
  await cli(['plugins', 'unlink', 'hacp-provider-example']);
  await stateDir.remove();
  await rm(home, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

/** `hacp <args>` with this test's plugin folders, run from a folder with no hacp-provider-* packages. */
function cli(args: string[]): Promise<CliRun> {
  return hacp(args, {
    stateDir: stateDir.dir,
    cwd: outside,
    env: {
      XDG_DATA_HOME: join(home, 'data'),
      XDG_CACHE_HOME: join(home, 'cache'),
      XDG_CONFIG_HOME: join(home, 'config'),
    },
  });
}

async function ok<T>(args: string[]): Promise<T> {
  const run = await cli([...args, '--json']);
  expect(run.code, `hacp ${args.join(' ')}: ${run.stdout}\n${run.stderr}`).toBe(0);
  return (run.json as { result: T }).result;
}

const moon = (args: string[]) => [...args, '--provider', 'example', '--cluster', 'moon'];

async function providers(): Promise<Listing[]> {
  const run = await cli(['providers', '--json']);
  expect(run.code, run.stderr).toBe(0);
  assertEnvelope('providers', run.json);
  return (run.json as { result: { providers: Listing[] } }).result.providers;
}

describe('a provider plugin, linked into the built CLI', () => {
  it('before it is linked, --provider example is PROVIDER_NOT_FOUND (exit 2) and nothing is written', async () => {
    expect((await providers()).map((provider) => provider.name)).toEqual(['local', 'gce']);
    const before = snapshotTree(stateDir.dir);
    const run = await cli(moon(['up', '--zone', 'moon-east-a', '--json']));
    expect(run.code).toBe(2);
    assertEnvelope('error', run.json);
    expect(run.json).toMatchObject({ error: { code: 'PROVIDER_NOT_FOUND' } });
    const error = (run.json as { error: { message: string; actions: string[] } }).error;
    expect(error.message).toContain('Unknown provider "example"');
    expect(error.actions[0]).toContain('hacp plugins install hacp-provider-example');
    expect(snapshotTree(stateDir.dir)).toEqual(before);
  });

  it('hacp plugins link adds it, and hacp providers lists it with its package and version', async () => {
    const link = await cli(['plugins', 'link', EXAMPLE, '--no-install']);
    expect(link.code, link.stdout + link.stderr).toBe(0);
    expect(link.stderr).not.toContain('auto-transpile');
    const example = (await providers()).find((provider) => provider.name === 'example');
    expect(example).toMatchObject({
      package: 'hacp-provider-example',
      version: '0.1.0',
      source: 'plugin',
      plugin: { name: 'hacp-provider-example', version: '0.1.0', type: 'link' },
    });
    const text = await cli(['providers']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^example\s+hacp-provider-example\s+0\.1\.0\s+linked plugin\s+\S/m);
  });

  it('runs up, replicate, status and down with --provider example', async () => {
    await ok(moon(['up', '--zone', 'moon-east-a', '--multizone']));
    let status = await ok<Status>(moon(['status']));
    expect(status).toMatchObject({ provider: 'example', region: 'moon-east' });
    expect(status.endpoint).toMatchObject({ mode: 'attached', attachedTo: 'moon-master' });
    const endpoint = { address: status.endpoint.address, port: 2379 };
    await etcdctl(stateDir.dir, 'moon', endpoint, ['put', 'moon/1', 'one']);

    await ok(moon(['replicate', '--zone', 'moon-east-b']));
    const statusRun = await cli(moon(['status', '--json']));
    expect(statusRun.code).toBe(0);
    assertEnvelope('status', statusRun.json);
    status = (statusRun.json as { result: Status }).result;
    const replicas = status.replicas.map((replica) => replica.name).sort();
    expect(replicas).toHaveLength(2);
    expect(status.replicas.map((replica) => replica.zone).sort()).toEqual(['moon-east-a', 'moon-east-b']);
    expect(status.etcd.members.map((member) => member.name).sort()).toEqual(replicas);
    expect(status.etcd.members.every((member) => member.healthy && !member.learner)).toBe(true);
    expect(status.endpoint.mode).toBe('load-balanced');
    expect(status.endpoint.targets.map((target) => target.replica).sort()).toEqual(replicas);
    expect(await etcdctl(stateDir.dir, 'moon', endpoint, ['get', '--print-value-only', 'moon/1'])).toBe(
      'one',
    );

    const tree = await cli(moon(['status']));
    expect(tree.code).toBe(0);
    expect(tree.stdout).toContain('Cluster moon  (provider example, region moon-east, multizone)');
    expect(tree.stdout).toContain('Zone moon-east-b');

    // A zone of the cloud's other region: refused, exit 2, with the cluster and its data as they were.
    const data = snapshotTree(join(stateDir.dir, 'clusters', 'moon'));
    const refused = await cli(moon(['replicate', '--zone', 'moon-west-a', '--json']));
    expect(refused.code).toBe(2);
    expect(refused.json).toMatchObject({ error: { code: 'ZONE_NOT_IN_REGION' } });
    expect(snapshotTree(join(stateDir.dir, 'clusters', 'moon'))).toEqual(data);
    const after = await ok<Status>(moon(['status']));
    expect(after.replicas.map((replica) => replica.name).sort()).toEqual(replicas);

    // The same cluster name on the built-in provider, in the same state folder: refused, so that
    // neither cluster reuses or deletes the other's PKI.
    const outsidePlugin = (tree: Record<string, string>) =>
      Object.fromEntries(Object.entries(tree).filter(([path]) => !path.startsWith('providers')));
    const beforeLocal = outsidePlugin(snapshotTree(stateDir.dir));
    const twin = await cli(['up', '--zone', 'local-a', '--cluster', 'moon', '--json']);
    expect(twin.code).toBe(2);
    expect(twin.json).toMatchObject({ error: { code: 'ALREADY_EXISTS' } });
    expect((twin.json as { error: { message: string } }).error.message).toContain(
      'holds the PKI of another cluster named moon',
    );
    expect(outsidePlugin(snapshotTree(stateDir.dir))).toEqual(beforeLocal);

    const down = await cli(moon(['down', '--yes', '--json']));
    expect(down.code, down.stdout + down.stderr).toBe(0);
    const gone = await cli(moon(['status', '--json']));
    expect(gone.code).toBe(2);
    expect(gone.json).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('hacp plugins unlink removes it again', async () => {
    const unlink = await cli(['plugins', 'unlink', 'hacp-provider-example']);
    expect(unlink.code, unlink.stdout + unlink.stderr).toBe(0);
    expect((await providers()).map((provider) => provider.name)).toEqual(['local', 'gce']);
    const run = await cli(moon(['status', '--json']));
    expect(run.code).toBe(2);
    expect(run.json).toMatchObject({ error: { code: 'PROVIDER_NOT_FOUND' } });
  });

  it('a linked plugin for another contract version is skipped with a warning; --provider names the reason', async () => {
    const future = join(home, 'hacp-provider-future');
    await mkdir(future, { recursive: true });
    await writeFile(
      join(future, 'package.json'),
      JSON.stringify({
        name: 'hacp-provider-future',
        version: '2.0.0',
        type: 'module',
        oclif: { hooks: { 'hacp:providers': './hook.js' } },
      }),
    );
    await writeFile(
      join(future, 'hook.js'),
      "export default async () => [{ specificationVersion: 'v2', name: 'future', create: () => ({}) }];\n",
    );
    const link = await cli(['plugins', 'link', future, '--no-install']);
    expect(link.code, link.stdout + link.stderr).toBe(0);
    try {
      const listed = await cli(['providers', '--json']);
      expect(listed.code).toBe(0);
      const envelope = listed.json as {
        result: { providers: Listing[] };
        warnings: { code: string; message: string }[];
      };
      expect(envelope.result.providers.map((provider) => provider.name)).toEqual(['local', 'gce']);
      expect(envelope.warnings).toEqual([
        {
          code: 'PROVIDER_PLUGIN_INVALID',
          message:
            'hacp-provider-future 2.0.0 implements provider contract "v2"; this hacp speaks v1. It is skipped.',
        },
      ]);
      const before = snapshotTree(stateDir.dir);
      const run = await cli(['up', '--provider', 'future', '--zone', 'moon-east-a', '--json']);
      expect(run.code).toBe(1);
      expect(run.json).toMatchObject({ error: { code: 'PROVIDER_INVALID' } });
      expect((run.json as { error: { actions: string[] } }).error.actions[0]).toContain(
        'Install a version of hacp-provider-future made for',
      );
      expect(snapshotTree(stateDir.dir)).toEqual(before);
    } finally {
      await cli(['plugins', 'unlink', 'hacp-provider-future']);
    }
  });

  it('without any plugin, a hacp-provider-<name> package in the working folder works too', async () => {
    // apps/cli has hacp-provider-example in its node_modules (a development dependency).
    const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
    const run = await hacp(['providers', '--json'], {
      stateDir: stateDir.dir,
      cwd: here,
      env: { XDG_DATA_HOME: join(home, 'data') },
    });
    expect(run.code).toBe(0);
    expect((run.json as { result: { providers: Listing[] } }).result.providers).toContainEqual(
      expect.objectContaining({ name: 'example', package: 'hacp-provider-example', source: 'package' }),
    );
    const status = await hacp(['status', '--provider', 'example', '--cluster', 'nothing-here', '--json'], {
      stateDir: stateDir.dir,
      cwd: here,
      env: { XDG_DATA_HOME: join(home, 'data') },
    });
    // The provider was found, loaded and made; the cluster does not exist.
    expect(status.code).toBe(2);
    expect(status.json).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((status.json as { error: { actions: string[] } }).error.actions[0]).toBe(
      // The hint keeps the flags given: pasted, it acts on the same cluster and provider.
      'Create it with `hacp up --zone <zone> --provider example --cluster nothing-here`.',
    );
  });

  it('hacp plugins install and uninstall a packed plugin; a provider lacking methods is PROVIDER_INVALID', async () => {
    // A plugin package with no dependencies, packed as npm packs it (files under package/).
    const source = join(home, 'tiny', 'package');
    await mkdir(source, { recursive: true });
    await writeFile(
      join(source, 'package.json'),
      JSON.stringify({
        name: 'hacp-provider-tiny',
        version: '1.0.0',
        type: 'module',
        exports: './index.js',
        oclif: { hooks: { 'hacp:providers': './hook.js' } },
      }),
    );
    await writeFile(
      join(source, 'index.js'),
      "export default { specificationVersion: 'v1', name: 'tiny', description: 'A tiny cloud', create: () => ({ specificationVersion: 'v1', name: 'tiny' }) };\n",
    );
    await writeFile(
      join(source, 'hook.js'),
      "import plugin from './index.js';\nexport default async () => [plugin];\n",
    );
    const tarball = join(home, 'tiny', 'hacp-provider-tiny-1.0.0.tgz');
    await promisify(execFile)('tar', ['-czf', tarball, '-C', join(home, 'tiny'), 'package']);

    const install = await cli(['plugins', 'install', `file:${tarball}`]);
    expect(install.code, install.stdout + install.stderr).toBe(0);
    try {
      expect((await providers()).find((provider) => provider.name === 'tiny')).toMatchObject({
        package: 'hacp-provider-tiny',
        version: '1.0.0',
        source: 'plugin',
        plugin: { name: 'hacp-provider-tiny', version: '1.0.0', type: 'user' },
      });
      const before = snapshotTree(stateDir.dir);
      const run = await cli(['status', '--provider', 'tiny', '--json']);
      expect(run.code).toBe(1);
      assertEnvelope('error', run.json);
      const error = (run.json as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('PROVIDER_INVALID');
      expect(error.message).toContain(
        'hacp-provider-tiny 1.0.0 made a provider that lacks reach, zones.list',
      );
      expect(snapshotTree(stateDir.dir)).toEqual(before);
    } finally {
      const uninstall = await cli(['plugins', 'uninstall', 'hacp-provider-tiny']);
      expect(uninstall.code, uninstall.stdout + uninstall.stderr).toBe(0);
    }
    expect((await providers()).map((provider) => provider.name)).toEqual(['local', 'gce']);
  });
});
