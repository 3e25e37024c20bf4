/**
 * Providers by name: the ones a program registers, and the ones it loads from installed packages
 * (`hacp-provider-<name>` or `@scope/hacp-provider-<name>`, whose default export is a
 * ProviderPluginV1) with `import()`. Everything loaded is shape-checked: the plugin descriptor when
 * it is imported, the provider when it is created.
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ErrorCode,
  HacpError,
  invalidArgument,
  isProviderName,
  missingProviderV1Members,
  PROVIDER_PACKAGE_PREFIX,
  type ProviderHostSettings,
  type ProviderPluginV1,
  type ProviderV1,
  providerPluginProblems,
} from '@hacp/core';

/** Any provider factory: it takes the settings its provider needs. */
// biome-ignore lint/suspicious/noExplicitAny: a registry holds factories of every settings type.
export type AnyProviderFactory = (settings: any) => ProviderV1 | Promise<ProviderV1>;

/** Where a registered provider came from, for `hacp providers` and for error messages. */
export interface ProviderOrigin {
  /** The npm package, when it came from one (`hacp-provider-example`). */
  package?: string;
  /** That package's version. */
  version?: string;
  /** One line saying what the provider is. */
  description?: string;
}

/** A provider a registry can create. */
export interface RegisteredProvider extends ProviderOrigin {
  name: string;
  factory: AnyProviderFactory;
}

/** Where `loadProvider` looks for packages. */
export interface LoadProviderOptions {
  /**
   * The folder whose `node_modules` (and those of its parents) are searched first. Default: the
   * current working directory. Packages the SDK itself can import are found too.
   */
  from?: string;
}

/** Providers by name. `createProviderRegistry()` makes an empty one; the functions below share one. */
export interface ProviderRegistry {
  /**
   * Registers a factory under a name (`--provider` value).
   * @throws HacpError INVALID_ARGUMENT for a bad name or a factory that is not a function.
   * @throws HacpError ALREADY_EXISTS when another factory has that name (unless `replace`).
   */
  register(name: string, factory: AnyProviderFactory, options?: ProviderOrigin & { replace?: boolean }): void;
  /**
   * Registers a plugin descriptor (a provider package's default export, a CLI hook's result).
   * @throws HacpError PROVIDER_INVALID when it is not a ProviderPluginV1, saying what is wrong.
   */
  registerPlugin(plugin: unknown, origin?: ProviderOrigin & { replace?: boolean }): RegisteredProvider;
  /** The registered provider, or undefined. */
  get(name: string): RegisteredProvider | undefined;
  /** Every registered provider, by name. */
  list(): RegisteredProvider[];
  /**
   * A registered provider, or else the package `hacp-provider-<name>` (a scoped package name is
   * taken as it is) imported and registered.
   * @throws HacpError PROVIDER_NOT_FOUND when nothing is registered and no package is installed.
   * @throws HacpError PROVIDER_INVALID when the package is not a v1 provider plugin.
   */
  load(nameOrPackage: string, options?: LoadProviderOptions): Promise<RegisteredProvider>;
  /**
   * Loads the provider (see `load`), creates it with `settings` and shape-checks the result.
   * @throws HacpError PROVIDER_INVALID when what the factory made is not a v1 provider (it is closed).
   */
  create(nameOrPackage: string, settings: unknown, options?: LoadProviderOptions): Promise<ProviderV1>;
}

const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._-]*\/)?hacp-provider-([a-z][a-z0-9-]*)$/;

/** The provider name a package name stands for, or undefined when it is not a provider package's name. */
export function providerNameOfPackage(packageName: string): string | undefined {
  const name = PACKAGE_NAME.exec(packageName)?.[1];
  return name !== undefined && isProviderName(name) ? name : undefined;
}

function describeSource(source: ProviderOrigin & { name: string }): string {
  if (source.package === undefined) return `provider "${source.name}"`;
  return `${source.package}${source.version === undefined ? '' : ` ${source.version}`}`;
}

/**
 * Throws unless `candidate` is a v1 provider.
 *
 * @throws HacpError PROVIDER_INVALID naming the contract version found or the members missing.
 */
export function assertProviderV1(
  candidate: unknown,
  source: ProviderOrigin & { name: string },
): asserts candidate is ProviderV1 {
  const missing = missingProviderV1Members(candidate);
  if (missing.length === 0) return;
  const what = describeSource(source);
  const details = { provider: source.name, ...originDetails(source) };
  const found = (candidate as { specificationVersion?: unknown } | null)?.specificationVersion;
  if (missing[0] === "specificationVersion: 'v1'" && found !== undefined) {
    throw new HacpError({
      code: ErrorCode.PROVIDER_INVALID,
      message: `${what} implements provider contract ${JSON.stringify(found)}; this hacp speaks v1.`,
      actions: versionActions(source),
      details: { ...details, reason: 'version', specificationVersion: String(found), expected: 'v1' },
    });
  }
  throw new HacpError({
    code: ErrorCode.PROVIDER_INVALID,
    message: `${what} made a provider that lacks ${missing.join(', ')} of provider contract v1.`,
    actions: [
      source.package === undefined
        ? 'Implement every member of ProviderV1 (@hacp/core) and run @hacp/provider-conformance against it.'
        : `Upgrade ${source.package}, or ask its authors to implement these and to run @hacp/provider-conformance.`,
    ],
    details: { ...details, reason: 'members', missing },
  });
}

function originDetails(origin: ProviderOrigin): Record<string, string> {
  return {
    ...(origin.package === undefined ? {} : { package: origin.package }),
    ...(origin.version === undefined ? {} : { version: origin.version }),
  };
}

function versionActions(source: ProviderOrigin & { name: string }): string[] {
  return source.package === undefined
    ? ["Give the provider specificationVersion: 'v1' and the v1 members (@hacp/core)."]
    : [
        `Install a version of ${source.package} made for hacp's provider contract v1.`,
        'Or use a hacp release that speaks the contract version it implements.',
      ];
}

/** Checks a plugin descriptor. @throws HacpError PROVIDER_INVALID */
function assertPlugin(candidate: unknown, origin: ProviderOrigin & { name?: string }): ProviderPluginV1 {
  const problems = providerPluginProblems(candidate);
  if (problems.length === 0) return candidate as ProviderPluginV1;
  const what =
    origin.package === undefined
      ? `The provider plugin${origin.name === undefined ? '' : ` "${origin.name}"`}`
      : describeSource({ ...origin, name: origin.name ?? origin.package });
  const found = (candidate as { specificationVersion?: unknown } | null)?.specificationVersion;
  const details = {
    ...originDetails(origin),
    ...(origin.name === undefined ? {} : { provider: origin.name }),
  };
  if (problems[0] === "specificationVersion: 'v1'" && found !== undefined) {
    throw new HacpError({
      code: ErrorCode.PROVIDER_INVALID,
      message: `${what} implements provider contract ${JSON.stringify(found)}; this hacp speaks v1.`,
      actions: versionActions({ ...origin, name: origin.name ?? '' }),
      details: { ...details, reason: 'version', specificationVersion: String(found), expected: 'v1' },
    });
  }
  throw new HacpError({
    code: ErrorCode.PROVIDER_INVALID,
    message: `${what} is not a hacp provider plugin: ${problems.join(', ')} ${problems.length === 1 ? 'is' : 'are'} missing or wrong.`,
    actions: [
      "A provider plugin's default export is defineProviderPlugin({ specificationVersion: 'v1', name, create }) from @hacp/core.",
      ...(origin.package === undefined ? [] : [`Reinstall or upgrade ${origin.package}.`]),
    ],
    details: { ...details, reason: 'plugin', problems },
  });
}

interface FoundPackage {
  dir: string;
  manifest: { name?: string; version?: string; description?: string; exports?: unknown; main?: string };
}

/** A provider package found on disk, read from its package.json without importing it. */
export interface ProviderPackage {
  /** The provider name it stands for (`example` for `hacp-provider-example`). */
  name: string;
  package: string;
  version?: string;
  description?: string;
}

/** The node_modules folders `from` and its parents would import from, nearest first. */
function nodeModulesAbove(from: string): string[] {
  const folders: string[] = [];
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    folders.push(join(dir, 'node_modules'));
    if (dirname(dir) === dir) return folders;
  }
}

function readDirNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The provider packages (`hacp-provider-<name>`, `@scope/hacp-provider-<name>`) installed in
 * `from`'s node_modules or a parent's, nearest first for a name found twice, sorted by name. Nothing
 * is imported: this is what `hacp providers` lists.
 */
export function findProviderPackages(from: string): ProviderPackage[] {
  const found = new Map<string, ProviderPackage>();
  for (const modules of nodeModulesAbove(from)) {
    const packageNames = readDirNames(modules).flatMap((entry) => {
      if (entry.startsWith(PROVIDER_PACKAGE_PREFIX)) return [entry];
      if (!entry.startsWith('@')) return [];
      return readDirNames(join(modules, entry))
        .filter((inner) => inner.startsWith(PROVIDER_PACKAGE_PREFIX))
        .map((inner) => `${entry}/${inner}`);
    });
    for (const packageName of packageNames) {
      const name = providerNameOfPackage(packageName);
      if (name === undefined || found.has(name)) continue;
      const manifest = readManifest(join(modules, packageName));
      found.set(name, {
        name,
        package: packageName,
        ...(typeof manifest?.version === 'string' ? { version: manifest.version } : {}),
        ...(typeof manifest?.description === 'string' ? { description: manifest.description } : {}),
      });
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function readManifest(dir: string): FoundPackage['manifest'] | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as FoundPackage['manifest'];
  } catch {
    return undefined;
  }
}

/** The package in `from`'s node_modules or a parent's, else one the SDK itself resolves. */
function findPackage(packageName: string, from: string): FoundPackage | undefined {
  for (const modules of nodeModulesAbove(from)) {
    const candidate = join(modules, packageName);
    const manifest = existsSync(join(candidate, 'package.json')) ? readManifest(candidate) : undefined;
    if (manifest !== undefined) return { dir: realpathSync(candidate), manifest };
  }
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve(packageName));
  } catch {
    return undefined;
  }
  for (let dir = dirname(entry); dirname(dir) !== dir; dir = dirname(dir)) {
    const manifest = readManifest(dir);
    if (manifest?.name === packageName) return { dir, manifest };
  }
  return undefined;
}

const CONDITIONS = ['import', 'node', 'default'];

/** The file an ESM `import` of the package's root loads: its `exports` (`.`), else `main`, else index.js. */
function entryOf(manifest: FoundPackage['manifest']): string {
  let target: unknown = manifest.exports;
  if (typeof target === 'object' && target !== null && '.' in target)
    target = (target as Record<string, unknown>)['.'];
  for (let depth = 0; typeof target === 'object' && target !== null && depth < 4; depth++) {
    const conditions = target as Record<string, unknown>;
    const key = CONDITIONS.find((condition) => condition in conditions);
    target = key === undefined ? undefined : conditions[key];
  }
  if (typeof target === 'string') return target;
  return manifest.main ?? 'index.js';
}

// One host factory per plugin descriptor, so that registering a plugin again is the same factory.
const HOST_FACTORIES = new WeakMap<ProviderPluginV1, AnyProviderFactory>();

/**
 * A plugin's `create` behind a check of the host settings it is promised (ProviderHostSettings):
 * `stateDir` is required, `env` defaults to this process's environment.
 */
function hostFactory(plugin: ProviderPluginV1): AnyProviderFactory {
  let factory = HOST_FACTORIES.get(plugin);
  if (factory === undefined) {
    factory = (settings: unknown) => {
      const given = (typeof settings === 'object' && settings !== null ? settings : {}) as Record<
        string,
        unknown
      >;
      if (typeof given.stateDir !== 'string' || given.stateDir === '') {
        throw invalidArgument({
          field: 'stateDir',
          message: `Provider plugin "${plugin.name}" needs settings.stateDir, a folder of its own for its state.`,
          actions: [
            `Pass { stateDir: '/var/lib/hacp/providers/${plugin.name}' } (any folder the provider may own).`,
          ],
        });
      }
      return plugin.create({ ...given, env: given.env ?? process.env } as ProviderHostSettings);
    };
    HOST_FACTORIES.set(plugin, factory);
  }
  return factory;
}

/**
 * Makes an empty registry, for a program that wants its own set of providers.
 *
 * @example
 * const registry = createProviderRegistry();
 * registry.register('local', createLocalProvider);
 * const provider = await registry.create('local', { stateDir });
 */
export function createProviderRegistry(): ProviderRegistry {
  const entries = new Map<string, RegisteredProvider>();

  const register: ProviderRegistry['register'] = (name, factory, options = {}) => {
    if (!isProviderName(name)) {
      throw invalidArgument({
        field: 'name',
        value: String(name),
        message: `"${String(name)}" is not a provider name: use 1-40 lowercase letters, digits and dashes, starting with a letter.`,
        actions: ['Name the provider as `--provider` will take it, such as mycloud.'],
      });
    }
    if (typeof factory !== 'function') {
      throw invalidArgument({
        field: 'factory',
        message: `The factory of provider "${name}" is ${typeof factory}, not a function.`,
        actions: ['Pass the function that makes the provider from its settings, such as createMyProvider.'],
      });
    }
    const existing = entries.get(name);
    if (existing !== undefined && existing.factory !== factory && options.replace !== true) {
      throw new HacpError({
        code: ErrorCode.ALREADY_EXISTS,
        message: `A provider named "${name}" is registered already${existing.package === undefined ? '' : ` (from ${existing.package})`}.`,
        actions: ['Register it under another name, or pass { replace: true } to replace it.'],
        details: { provider: name, ...originDetails(existing) },
      });
    }
    const { replace: _replace, ...origin } = options;
    entries.set(name, { name, factory, ...origin });
  };

  const registerPlugin: ProviderRegistry['registerPlugin'] = (candidate, origin = {}) => {
    const plugin = assertPlugin(candidate, origin);
    const { replace, ...rest } = origin;
    register(plugin.name, hostFactory(plugin), {
      ...rest,
      ...(plugin.description === undefined || rest.description !== undefined
        ? {}
        : { description: plugin.description }),
      ...(replace === undefined ? {} : { replace }),
    });
    return entries.get(plugin.name)!;
  };

  const load: ProviderRegistry['load'] = async (nameOrPackage, options = {}) => {
    const registered = entries.get(nameOrPackage);
    if (registered !== undefined) return registered;
    const scoped = providerNameOfPackage(nameOrPackage);
    if (scoped === undefined && !isProviderName(nameOrPackage)) {
      throw invalidArgument({
        field: 'provider',
        value: String(nameOrPackage),
        message: `"${String(nameOrPackage)}" is neither a provider name nor a provider package name (hacp-provider-<name> or @scope/hacp-provider-<name>).`,
        actions: ['Give a provider name such as local, or a package name such as hacp-provider-example.'],
      });
    }
    const name = scoped ?? nameOrPackage;
    const packageName = scoped === undefined ? `${PROVIDER_PACKAGE_PREFIX}${name}` : nameOrPackage;
    const fromScoped = scoped === undefined ? undefined : entries.get(scoped);
    if (fromScoped !== undefined && fromScoped.package === packageName) return fromScoped;
    const from = options.from ?? process.cwd();
    const found = findPackage(packageName, from);
    if (found === undefined) {
      const known = [...entries.keys()];
      throw new HacpError({
        code: ErrorCode.PROVIDER_NOT_FOUND,
        message: `There is no provider "${name}": none is registered under that name, and the package ${packageName} is not installed (looked in ${join(resolve(from), 'node_modules')} and its parents).`,
        actions: [
          `Install it: npm install ${packageName} (with the hacp CLI: hacp plugins install ${packageName}).`,
          known.length === 0
            ? 'Or register a factory with registerProvider(name, factory).'
            : `Or use one of the known providers: ${known.join(', ')}.`,
        ],
        details: { provider: name, package: packageName },
      });
    }
    const origin: ProviderOrigin = {
      package: packageName,
      ...(typeof found.manifest.version === 'string' ? { version: found.manifest.version } : {}),
    };
    let module: { default?: unknown };
    try {
      module = (await import(pathToFileURL(join(found.dir, entryOf(found.manifest))).href)) as {
        default?: unknown;
      };
    } catch (error) {
      throw new HacpError({
        code: ErrorCode.PROVIDER_INVALID,
        message: `${describeSource({ ...origin, name })} could not be imported: ${error instanceof Error ? error.message : String(error)}`,
        actions: [
          `Reinstall ${packageName} with its dependencies; check it was built (its entry is ${entryOf(found.manifest)}).`,
        ],
        details: { provider: name, ...originDetails(origin), reason: 'import' },
        cause: error,
      });
    }
    const plugin = assertPlugin(module.default, { ...origin, name });
    if (plugin.name !== name) {
      throw new HacpError({
        code: ErrorCode.PROVIDER_INVALID,
        message: `${describeSource({ ...origin, name })} names its provider "${plugin.name}"; a package ${packageName} must name it "${name}".`,
        actions: [
          `Use --provider ${plugin.name} only if its package is named hacp-provider-${plugin.name}; report the mismatch to its authors.`,
        ],
        details: { provider: name, ...originDetails(origin), reason: 'name', found: plugin.name },
      });
    }
    return registerPlugin(plugin, { ...origin, replace: true });
  };

  return {
    register,
    registerPlugin,
    get: (name) => entries.get(name),
    list: () => [...entries.values()].sort((a, b) => a.name.localeCompare(b.name)),
    load,
    create: async (nameOrPackage, settings, options) => {
      const entry = await load(nameOrPackage, options);
      const provider: unknown = await entry.factory(settings);
      try {
        assertProviderV1(provider, entry);
      } catch (error) {
        await (provider as Partial<ProviderV1> | undefined)?.close?.().catch(() => undefined);
        throw error;
      }
      return provider;
    },
  };
}

// One default registry per process, also across duplicate copies of the SDK.
const DEFAULT_REGISTRY = Symbol.for('hacp.provider-registry');

/** The registry the functions below use. */
export function defaultProviderRegistry(): ProviderRegistry {
  const holder = globalThis as { [DEFAULT_REGISTRY]?: ProviderRegistry };
  holder[DEFAULT_REGISTRY] ??= createProviderRegistry();
  return holder[DEFAULT_REGISTRY];
}

/**
 * Registers a provider factory under a name, so that `createProvider(name, settings)` (and the
 * `hacp` CLI's `--provider <name>`, in the same process) can make it.
 *
 * @example
 * registerProvider('mycloud', (settings) => createMyCloudProvider(settings));
 * const provider = await createProvider('mycloud', { region: 'eu-1' });
 * @throws HacpError INVALID_ARGUMENT for a bad name or factory; ALREADY_EXISTS for a name taken.
 */
export function registerProvider(
  name: string,
  factory: AnyProviderFactory,
  options?: ProviderOrigin & { replace?: boolean },
): void {
  defaultProviderRegistry().register(name, factory, options);
}

/**
 * A provider by name: registered, or imported from the installed package `hacp-provider-<name>`
 * (or the scoped package named), whose default export is checked to be a v1 provider plugin.
 *
 * @example
 * const example = await loadProvider('example'); // imports hacp-provider-example
 * console.log(example.package, example.version);
 * @throws HacpError PROVIDER_NOT_FOUND when no such provider is registered or installed.
 * @throws HacpError PROVIDER_INVALID for another contract version or a broken descriptor.
 */
export function loadProvider(
  nameOrPackage: string,
  options?: LoadProviderOptions,
): Promise<RegisteredProvider> {
  return defaultProviderRegistry().load(nameOrPackage, options);
}

/**
 * Loads a provider (see `loadProvider`), makes it with `settings`, and checks that what it made has
 * `specificationVersion: 'v1'` and every method of the contract. A plugin's provider takes
 * ProviderHostSettings: `stateDir` (required: a folder of its own), `env` (default
 * `process.env`), `project?`, `logger?`.
 *
 * @example
 * const provider = await createProvider('example', { stateDir: '/tmp/hacp-example' });
 * const controlPlane = createControlPlane({ provider, dataDir: '/tmp/hacp-example/clusters/kubernetes' });
 * @throws HacpError PROVIDER_NOT_FOUND, or PROVIDER_INVALID naming the version found or the members missing.
 * @throws HacpError INVALID_ARGUMENT when a plugin's provider is given no `stateDir`.
 */
export function createProvider(
  nameOrPackage: string,
  settings: unknown,
  options?: LoadProviderOptions,
): Promise<ProviderV1> {
  return defaultProviderRegistry().create(nameOrPackage, settings, options);
}
