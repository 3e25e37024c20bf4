import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HacpError, isHacpError, PROVIDER_V1_METHODS } from '@hacp/core';
import { createMemoryProvider } from '@hacp/provider-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProvider,
  createProviderRegistry,
  defaultProviderRegistry,
  findProviderPackages,
  loadProvider,
  providerNameOfPackage,
  registerProvider,
} from './providers.js';

const memoryUrl = import.meta.resolve('@hacp/provider-conformance');

let root: string;

/** A package in `<root>/app/node_modules/<name>` with `files` (path → source) and this manifest. */
async function fakePackage(name: string, manifest: Record<string, unknown>, files: Record<string, string>) {
  const dir = join(root, 'app', 'node_modules', name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, type: 'module', ...manifest }));
  for (const [path, source] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), source);
  }
}

/** The source of a plugin module: `plugin` is spliced in as the default export's body. */
const pluginModule = (body: string) =>
  `import { createMemoryProvider } from ${JSON.stringify(memoryUrl)};\nexport const closed = [];\nexport default { ${body} };\n`;

async function refusal(promise: Promise<unknown>): Promise<HacpError> {
  try {
    await promise;
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a HacpError');
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hacp-sdk-providers-'));
  // Nested: the app runs from a sub-folder, so packages are found in a parent's node_modules.
  await mkdir(join(root, 'app', 'src'), { recursive: true });
  await fakePackage(
    'hacp-provider-good',
    { version: '1.2.3', exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } } },
    {
      'dist/index.js': pluginModule(
        `specificationVersion: 'v1', name: 'good', description: 'a memory cloud', create: () => createMemoryProvider({ name: 'good' })`,
      ),
    },
  );
  await fakePackage(
    '@acme/hacp-provider-scoped',
    { version: '0.0.1', main: 'lib/main.js' },
    {
      'lib/main.js': pluginModule(
        `specificationVersion: 'v1', name: 'scoped', create: () => createMemoryProvider({ name: 'scoped' })`,
      ),
    },
  );
  await fakePackage(
    'hacp-provider-future',
    { version: '3.0.0', exports: './index.js' },
    { 'index.js': pluginModule(`specificationVersion: 'v2', name: 'future', create: () => ({})`) },
  );
  await fakePackage(
    'hacp-provider-partial',
    { version: '0.9.0', exports: './index.js' },
    {
      'index.js': pluginModule(`specificationVersion: 'v1', name: 'partial', create: () => {
        const provider = createMemoryProvider({ name: 'partial' });
        const { delete: _gone, ...instances } = provider.instances;
        return { ...provider, instances, reach: undefined, close: async () => { closed.push('partial'); } };
      }`),
    },
  );
  await fakePackage(
    'hacp-provider-oldmade',
    { version: '0.1.0', exports: './index.js' },
    {
      'index.js': pluginModule(
        `specificationVersion: 'v1', name: 'oldmade', create: () => ({ ...createMemoryProvider({ name: 'oldmade' }), specificationVersion: 'v0' })`,
      ),
    },
  );
  await fakePackage(
    'hacp-provider-nodefault',
    { version: '1.0.0', exports: './index.js' },
    { 'index.js': 'export const create = () => ({});\n' },
  );
  await fakePackage(
    'hacp-provider-misnamed',
    { version: '1.0.0', exports: './index.js' },
    { 'index.js': pluginModule(`specificationVersion: 'v1', name: 'other', create: () => ({})`) },
  );
  await fakePackage(
    'hacp-provider-broken',
    { version: '1.0.0', exports: './index.js' },
    { 'index.js': 'export default {{ not javascript\n' },
  );
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const from = () => join(root, 'app', 'src');

describe('loading a provider by package name', () => {
  it('imports hacp-provider-<name> from a parent node_modules, through its exports, and creates it', async () => {
    const registry = createProviderRegistry();
    const loaded = await registry.load('good', { from: from() });
    expect(loaded).toMatchObject({
      name: 'good',
      package: 'hacp-provider-good',
      version: '1.2.3',
      description: 'a memory cloud',
    });
    const provider = await registry.create('good', { stateDir: '/srv/good' }, { from: from() });
    expect(provider.name).toBe('good');
    expect(await provider.zones.list()).not.toEqual([]);
    // Loaded once, then registered: the list shows where it came from.
    expect(registry.list().map(({ name, package: pkg, version }) => ({ name, pkg, version }))).toEqual([
      { name: 'good', pkg: 'hacp-provider-good', version: '1.2.3' },
    ]);
  });

  it("gives a plugin's create host settings: stateDir required, env this process's by default", async () => {
    const registry = createProviderRegistry();
    const seen: unknown[] = [];
    const plugin = {
      specificationVersion: 'v1',
      name: 'hosted',
      create: (settings: unknown) => {
        seen.push(settings);
        return createMemoryProvider({ name: 'hosted' });
      },
    };
    registry.registerPlugin(plugin);
    registry.registerPlugin(plugin); // the same descriptor again is the same factory
    await registry.create('hosted', { stateDir: '/srv/hosted' });
    await registry.create('hosted', { stateDir: '/srv/hosted', env: { A: '1' }, project: 'p' });
    expect(seen).toEqual([
      { stateDir: '/srv/hosted', env: process.env },
      { stateDir: '/srv/hosted', env: { A: '1' }, project: 'p' },
    ]);
    const missing = await refusal(registry.create('hosted', {}));
    expect(missing.code).toBe('INVALID_ARGUMENT');
    expect(missing.details).toEqual({ field: 'stateDir' });
    expect(seen).toHaveLength(2);
  });

  it('imports a scoped @scope/hacp-provider-<name> through its main, under <name>', async () => {
    const registry = createProviderRegistry();
    const provider = await registry.create(
      '@acme/hacp-provider-scoped',
      { stateDir: '/srv/scoped' },
      { from: from() },
    );
    expect(provider.name).toBe('scoped');
    expect(registry.get('scoped')).toMatchObject({ package: '@acme/hacp-provider-scoped', version: '0.0.1' });
  });

  it('a missing package is PROVIDER_NOT_FOUND, naming the package and how to install it', async () => {
    const registry = createProviderRegistry();
    const error = await refusal(registry.load('nowhere', { from: from() }));
    expect(error.code).toBe('PROVIDER_NOT_FOUND');
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('hacp-provider-nowhere is not installed');
    expect(error.actions.join('\n')).toContain('npm install hacp-provider-nowhere');
    expect(error.details).toEqual({ provider: 'nowhere', package: 'hacp-provider-nowhere' });
    expect(registry.list()).toEqual([]);
  });

  it('a plugin for another contract version is PROVIDER_INVALID (version), naming package and version', async () => {
    const registry = createProviderRegistry();
    const error = await refusal(registry.load('future', { from: from() }));
    expect(error.code).toBe('PROVIDER_INVALID');
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe(
      'hacp-provider-future 3.0.0 implements provider contract "v2"; this hacp speaks v1.',
    );
    expect(error.details).toMatchObject({ reason: 'version', specificationVersion: 'v2', expected: 'v1' });
    expect(error.actions[0]).toContain('Install a version of hacp-provider-future made for');
    expect(registry.list()).toEqual([]);
  });

  it('a provider lacking methods is PROVIDER_INVALID (members), listing them; it is closed', async () => {
    const registry = createProviderRegistry();
    const error = await refusal(registry.create('partial', { stateDir: '/srv/partial' }, { from: from() }));
    expect(error.code).toBe('PROVIDER_INVALID');
    expect(error.details).toMatchObject({ reason: 'members', missing: ['reach', 'instances.delete'] });
    expect(error.message).toBe(
      'hacp-provider-partial 0.9.0 made a provider that lacks reach, instances.delete of provider contract v1.',
    );
    const module = await import(join(root, 'app', 'node_modules', 'hacp-provider-partial', 'index.js'));
    expect(module.closed).toEqual(['partial']);
  });

  it('a provider made with another specificationVersion is PROVIDER_INVALID (version)', async () => {
    const error = await refusal(
      createProviderRegistry().create('oldmade', { stateDir: '/srv/oldmade' }, { from: from() }),
    );
    expect(error.code).toBe('PROVIDER_INVALID');
    expect(error.details).toMatchObject({ reason: 'version', specificationVersion: 'v0' });
  });

  it('a package without a plugin default export, or naming another provider, is PROVIDER_INVALID', async () => {
    const registry = createProviderRegistry();
    const noDefault = await refusal(registry.load('nodefault', { from: from() }));
    expect(noDefault.code).toBe('PROVIDER_INVALID');
    expect(noDefault.details).toMatchObject({ reason: 'plugin', problems: ['(not an object)'] });
    expect(noDefault.actions[0]).toContain('defineProviderPlugin');
    const misnamed = await refusal(registry.load('misnamed', { from: from() }));
    expect(misnamed.details).toMatchObject({ reason: 'name', found: 'other' });
    expect(registry.list()).toEqual([]);
  });

  it('a package that cannot be imported is PROVIDER_INVALID (import)', async () => {
    const error = await refusal(createProviderRegistry().load('broken', { from: from() }));
    expect(error.code).toBe('PROVIDER_INVALID');
    expect(error.details).toMatchObject({ reason: 'import', package: 'hacp-provider-broken' });
  });

  it('a value that is neither a provider name nor a provider package name is INVALID_ARGUMENT', async () => {
    for (const value of ['Good', 'some_package', '@acme/other', '../hacp-provider-good']) {
      const error = await refusal(createProviderRegistry().load(value, { from: from() }));
      expect(error.code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('registering providers', () => {
  const factory = () => createMemoryProvider({ name: 'mine' });

  it('creates a registered provider without importing anything, and shape-checks it', async () => {
    const registry = createProviderRegistry();
    registry.register('mine', factory, { description: 'in memory' });
    registry.register('mine', factory); // the same factory again is fine
    const provider = await registry.create('mine', {});
    expect(provider.name).toBe('mine');
    registry.register('hollow', () => ({ specificationVersion: 'v1', name: 'hollow' }) as never);
    const error = await refusal(registry.create('hollow', {}));
    expect(error.code).toBe('PROVIDER_INVALID');
    const expected = [
      'reach',
      ...Object.entries(PROVIDER_V1_METHODS).flatMap(([g, ms]) => ms.map((m) => `${g}.${m}`)),
    ];
    expect(error.details).toMatchObject({ reason: 'members', missing: expected });
    expect(error.message).toContain('provider "hollow" made a provider that lacks reach, zones.list');
  });

  it('refuses a bad name, a factory that is not a function and a second factory for a name', () => {
    const registry = createProviderRegistry();
    registry.register('mine', factory);
    const codes = [
      () => registry.register('My Cloud', factory),
      () => registry.register('other', 'not a function' as never),
      () => registry.register('mine', () => createMemoryProvider({ name: 'mine' })),
    ].map((call) => {
      try {
        call();
        return 'no error';
      } catch (error) {
        return isHacpError(error) ? error.code : String(error);
      }
    });
    expect(codes).toEqual(['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'ALREADY_EXISTS']);
    expect(registry.list().map((entry) => entry.name)).toEqual(['mine']);
    expect(registry.get('mine')?.factory).toBe(factory);
    const replacement = () => createMemoryProvider({ name: 'mine' });
    registry.register('mine', replacement, { replace: true });
    expect(registry.get('mine')?.factory).toBe(replacement);
  });

  it('registerPlugin checks a descriptor: another version is PROVIDER_INVALID and registers nothing', () => {
    const registry = createProviderRegistry();
    let error: unknown;
    try {
      registry.registerPlugin(
        { specificationVersion: 'v9', name: 'nine', create: factory },
        { package: 'x' },
      );
    } catch (thrown) {
      error = thrown;
    }
    expect(isHacpError(error, 'PROVIDER_INVALID')).toBe(true);
    expect((error as HacpError).details).toMatchObject({ reason: 'version', specificationVersion: 'v9' });
    expect(registry.list()).toEqual([]);
  });

  it('registerProvider, loadProvider and createProvider share one registry per process', async () => {
    registerProvider('shared-one', factory, { package: 'my-app' });
    expect(defaultProviderRegistry().get('shared-one')?.package).toBe('my-app');
    expect((await loadProvider('shared-one')).factory).toBe(factory);
    expect((await createProvider('shared-one', {})).name).toBe('mine');
    expect((await createProvider('good', { stateDir: '/srv/good' }, { from: from() })).name).toBe('good');
  });
});

describe('findProviderPackages', () => {
  it('lists the provider packages in node_modules here and above, from package.json alone', () => {
    const found = findProviderPackages(from());
    expect(found.map((entry) => entry.name)).toEqual([
      'broken',
      'future',
      'good',
      'misnamed',
      'nodefault',
      'oldmade',
      'partial',
      'scoped',
    ]);
    expect(found.find((entry) => entry.name === 'scoped')).toEqual({
      name: 'scoped',
      package: '@acme/hacp-provider-scoped',
      version: '0.0.1',
    });
    // The broken package is listed, not imported (importing it throws).
    expect(found.find((entry) => entry.name === 'broken')?.version).toBe('1.0.0');
    expect(findProviderPackages(tmpdir())).toEqual([]);
  });
});

describe('providerNameOfPackage', () => {
  it('takes the name out of hacp-provider-<name> and @scope/hacp-provider-<name> only', () => {
    expect(providerNameOfPackage('hacp-provider-example')).toBe('example');
    expect(providerNameOfPackage('@acme/hacp-provider-my-cloud')).toBe('my-cloud');
    expect(providerNameOfPackage('hacp-provider-')).toBeUndefined();
    expect(providerNameOfPackage('provider-example')).toBeUndefined();
    expect(providerNameOfPackage('hacp-provider-Bad')).toBeUndefined();
  });
});
