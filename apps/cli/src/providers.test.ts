import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHacpError, PROVIDER_PLUGIN_HOOK } from '@hacp/core';
import type { Config } from '@oclif/core';
import { describe, expect, it } from 'vitest';
import { findProvider, gceSettings, installedProviderPackages, pluginProviders } from './providers.js';

const context = (env: Record<string, string>, project?: string) => ({
  stateDir: '/nonexistent',
  env,
  ...(project === undefined ? {} : { project }),
});

function refusal(call: () => unknown) {
  try {
    call();
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a HacpError');
}

describe('gceSettings', () => {
  it('takes --project first, then HACP_GCE_PROJECT, then gcloud’s CLOUDSDK_CORE_PROJECT', () => {
    expect(gceSettings(context({ HACP_GCE_PROJECT: 'from-env-1' }, 'from-flag-1')).project).toBe(
      'from-flag-1',
    );
    expect(
      gceSettings(context({ HACP_GCE_PROJECT: 'from-env-1', CLOUDSDK_CORE_PROJECT: 'gcloud-1' })).project,
    ).toBe('from-env-1');
    expect(gceSettings(context({ CLOUDSDK_CORE_PROJECT: 'gcloud-1' })).project).toBe('gcloud-1');
  });

  it('defaults to IAP tunnels, and passes region, network and endpoint through', () => {
    expect(gceSettings(context({}, 'proj-1'))).toEqual({ project: 'proj-1', reach: 'iap' });
    expect(
      gceSettings(
        context(
          {
            HACP_GCE_REGION: 'europe-west1',
            HACP_GCE_NETWORK: 'cp-net',
            HACP_GCE_REACH: 'direct',
            HACP_GCE_API_ENDPOINT: 'http://127.0.0.1:8089',
            HACP_GCE_KUBE_APISERVER: '',
          },
          'proj-1',
        ),
      ),
    ).toEqual({
      project: 'proj-1',
      reach: 'direct',
      region: 'europe-west1',
      network: 'cp-net',
      apiEndpoint: 'http://127.0.0.1:8089',
    });
  });

  it.each([
    [{}, undefined, 'project'],
    [{}, 'Not_A_Project', 'project'],
    [{ HACP_GCE_REACH: 'vpn' }, 'proj-1', 'HACP_GCE_REACH'],
    [{ HACP_GCE_KUBE_APISERVER: 'yes' }, 'proj-1', 'HACP_GCE_KUBE_APISERVER'],
    [{ HACP_GCE_KUBE_APISERVER: 'true' }, 'proj-1', 'HACP_GCE_KUBE_APISERVER'],
    [{ HACP_GCE_API_ENDPOINT: 'not a url' }, 'proj-1', 'HACP_GCE_API_ENDPOINT'],
  ])('refuses %j with project %s as INVALID_ARGUMENT naming %s', (env, project, field) => {
    const error = refusal(() => gceSettings(context(env as Record<string, string>, project)));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe(field);
    expect(error.actions.length).toBeGreaterThan(0);
  });

  it('refuses the retired HACP_GCE_KUBE_APISERVER=false, pointing at --no-kubernetes, rather than ignore it', () => {
    const error = refusal(() => gceSettings(context({ HACP_GCE_KUBE_APISERVER: 'false' }, 'proj-1')));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.exitCode).toBe(2);
    expect(error.details).toEqual({ field: 'HACP_GCE_KUBE_APISERVER', value: 'false' });
    expect(error.message).toBe(
      'HACP_GCE_KUBE_APISERVER="false" is no longer read: whether the replicas run Kubernetes is the cluster\'s choice, made once at `hacp up`.',
    );
    expect(error.actions).toEqual([
      'Unset HACP_GCE_KUBE_APISERVER.',
      'For an etcd-only cluster, pass --no-kubernetes to `hacp up` (or set HACP_KUBERNETES=false).',
    ]);
  });
});

/** An oclif Config whose `hacp:providers` hook gives these successes and failures. */
function configOffering(
  successes: { plugin: string; type?: string; result: unknown }[],
  failures: { plugin: string; type?: string; error: Error }[] = [],
): Config {
  const plugin = (name: string, type = 'user') => ({ name, version: '2.0.1', type });
  const runHook = async (event: string) => {
    if (event !== PROVIDER_PLUGIN_HOOK) throw new Error(`unexpected hook ${event}`);
    return {
      successes: successes.map((s) => ({ plugin: plugin(s.plugin, s.type), result: s.result })),
      failures: failures.map((f) => ({ plugin: plugin(f.plugin, f.type), error: f.error })),
    };
  };
  return { runHook } as unknown as Config;
}

const closed: string[] = [];

/** A provider descriptor whose provider has the methods of the memory-less kind the test needs. */
function offer(name: string, made: () => unknown = () => ({ specificationVersion: 'v1', name })) {
  return { specificationVersion: 'v1', name, description: `the ${name} cloud`, create: made };
}

async function rejection(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a HacpError');
}

describe('plugin providers', () => {
  it('lists each offer of each plugin with its package, version and how it is installed', async () => {
    const config = configOffering([
      { plugin: 'hacp-provider-moon', type: 'link', result: offer('moon') },
      { plugin: '@acme/hacp-clouds', result: [offer('mars'), offer('venus')] },
      { plugin: '@oclif/plugin-plugins', result: undefined },
    ]);
    const { providers, warnings } = await pluginProviders(config);
    expect(warnings).toEqual([]);
    expect(providers.map(({ create: _create, ...listing }) => listing)).toEqual([
      {
        name: 'mars',
        package: '@acme/hacp-clouds',
        version: '2.0.1',
        description: 'the mars cloud',
        source: 'plugin',
        plugin: { name: '@acme/hacp-clouds', version: '2.0.1', type: 'user' },
      },
      {
        name: 'moon',
        package: 'hacp-provider-moon',
        version: '2.0.1',
        description: 'the moon cloud',
        source: 'plugin',
        plugin: { name: 'hacp-provider-moon', version: '2.0.1', type: 'link' },
      },
      {
        name: 'venus',
        package: '@acme/hacp-clouds',
        version: '2.0.1',
        description: 'the venus cloud',
        source: 'plugin',
        plugin: { name: '@acme/hacp-clouds', version: '2.0.1', type: 'user' },
      },
    ]);
  });

  it('skips, with a warning each, a failing hook, another contract version, a broken offer and a taken name', async () => {
    const config = configOffering(
      [
        { plugin: 'hacp-provider-future', result: { ...offer('future'), specificationVersion: 'v2' } },
        { plugin: 'hacp-provider-junk', result: { name: 'junk' } },
        { plugin: 'hacp-provider-local2', result: offer('local') },
        { plugin: 'hacp-provider-twin', result: [offer('twin'), offer('twin')] },
      ],
      [{ plugin: 'hacp-provider-crash', error: new Error('Cannot find module ./dist/hook.js') }],
    );
    const { providers, warnings, refused } = await pluginProviders(config);
    expect(providers.map((entry) => entry.name)).toEqual(['twin']);
    expect(warnings.map((warning) => warning.code).sort()).toEqual([
      'PROVIDER_NAME_TAKEN',
      'PROVIDER_NAME_TAKEN',
      'PROVIDER_PLUGIN_FAILED',
      'PROVIDER_PLUGIN_INVALID',
      'PROVIDER_PLUGIN_INVALID',
    ]);
    expect(warnings.find((w) => w.code === 'PROVIDER_PLUGIN_FAILED')?.message).toContain(
      'hacp plugins uninstall hacp-provider-crash',
    );
    const linked = await pluginProviders(
      configOffering(
        [],
        [{ plugin: 'hacp-provider-mine', type: 'link', error: new Error('Cannot find module') }],
      ),
    );
    expect(linked.warnings[0]?.message).toBe(
      'The plugin hacp-provider-mine 2.0.1 could not say which providers it has: Cannot find module. Build it (its hook runs from its dist/), or remove it with `hacp plugins unlink hacp-provider-mine`.',
    );
    expect(warnings.map((w) => w.message)).toContain(
      'hacp-provider-future 2.0.1 implements provider contract "v2"; this hacp speaks v1. It is skipped.',
    );
    expect([...refused.keys()].sort()).toEqual(['future', 'junk']);
  });

  it('--provider naming a refused offer is PROVIDER_INVALID, saying why; nothing is made', async () => {
    const made: string[] = [];
    const config = configOffering([
      {
        plugin: 'hacp-provider-future',
        result: {
          ...offer('future', () => {
            made.push('future');
            return {};
          }),
          specificationVersion: 'v2',
        },
      },
    ]);
    const error = await rejection(
      findProvider('future', { stateDir: '/nowhere', env: {}, config, cwd: '/' }),
    );
    expect(error.code).toBe('PROVIDER_INVALID');
    expect(error.details).toMatchObject({
      reason: 'version',
      package: 'hacp-provider-future',
      version: '2.0.1',
    });
    expect(error.exitCode).toBe(1);
    expect(made).toEqual([]);
  });

  it("creates a plugin's provider in <state-dir>/providers/<name>, and refuses (closing it) one lacking members", async () => {
    const settingsSeen: unknown[] = [];
    const config = configOffering([
      {
        plugin: 'hacp-provider-hollow',
        result: offer('hollow', () => ({
          specificationVersion: 'v1',
          name: 'hollow',
          close: async () => {
            closed.push('hollow');
          },
        })),
      },
      {
        plugin: 'hacp-provider-seen',
        result: offer('seen', (settings?: unknown) => {
          settingsSeen.push(settings);
          return { specificationVersion: 'v1', name: 'seen' };
        }),
      },
    ]);
    const context = { stateDir: '/var/lib/hacp', env: { A: '1' }, project: 'p-123456', config, cwd: '/' };
    const error = await rejection((await findProvider('hollow', context)).create(context));
    expect(error.code).toBe('PROVIDER_INVALID');
    expect(error.details).toMatchObject({ reason: 'members', package: 'hacp-provider-hollow' });
    expect(error.message).toContain(
      'hacp-provider-hollow 2.0.1 made a provider that lacks reach, zones.list',
    );
    expect(closed).toEqual(['hollow']);
    await rejection((await findProvider('seen', context)).create(context));
    expect(settingsSeen).toEqual([
      { stateDir: '/var/lib/hacp/providers/seen', env: { A: '1' }, project: 'p-123456' },
    ]);
  });

  it('an unknown provider is PROVIDER_NOT_FOUND naming the known ones, the plugins’ included', async () => {
    const config = configOffering([{ plugin: 'hacp-provider-moon', result: offer('moon') }]);
    const error = await rejection(findProvider('azure', { stateDir: '/nowhere', env: {}, config, cwd: '/' }));
    expect(error.code).toBe('PROVIDER_NOT_FOUND');
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('The known providers are: local, gce, moon.');
    expect(error.actions[0]).toBe(
      'Install its plugin: hacp plugins install hacp-provider-azure (or hacp plugins link <folder> for one on disk).',
    );
  });
});

describe('installed provider packages', () => {
  it('finds hacp-provider-* and @scope/hacp-provider-* in node_modules here and above, without importing them', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hacp-cli-packages-'));
    try {
      const write = async (dir: string, manifest: Record<string, unknown>) => {
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'package.json'), JSON.stringify(manifest));
        // An entry that would throw if it were imported.
        await writeFile(join(dir, 'index.js'), 'throw new Error("imported");\n');
      };
      await write(join(root, 'node_modules', 'hacp-provider-moon'), {
        version: '1.0.0',
        description: 'Moon',
      });
      await write(join(root, 'app', 'node_modules', '@acme', 'hacp-provider-mars'), { version: '0.2.0' });
      await write(join(root, 'app', 'node_modules', 'left-pad'), { version: '1.3.0' });
      await write(join(root, 'app', 'node_modules', 'hacp-provider-Bad'), { version: '1.0.0' });
      await mkdir(join(root, 'app', 'src'));
      const found = installedProviderPackages(join(root, 'app', 'src'));
      expect(found.map(({ create: _create, ...listing }) => listing)).toEqual([
        { name: 'mars', package: '@acme/hacp-provider-mars', version: '0.2.0', source: 'package' },
        {
          name: 'moon',
          package: 'hacp-provider-moon',
          version: '1.0.0',
          description: 'Moon',
          source: 'package',
        },
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
