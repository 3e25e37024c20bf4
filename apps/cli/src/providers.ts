/**
 * The providers the CLI knows, by `--provider` name: the built-in `local` (the default) and `gce`,
 * those that installed or linked oclif plugins contribute through the `hacp:providers` hook, and
 * packages named `hacp-provider-<name>` installed where the CLI runs. A provider's package is
 * imported when the provider is first used, so that `--help`, bad input and the local provider
 * never load the Google client (about half a second).
 */

import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { LocalProvider } from '@hacp/provider-local';
import type { ControlPlaneSettings } from '@hacp/sdk';
import { isProviderName, PROVIDER_PACKAGE_PREFIX, PROVIDER_PLUGIN_HOOK } from '@hacp/sdk/errors';
import {
  createProviderRegistry,
  defaultProviderRegistry,
  findProviderPackages,
  type LoadProviderOptions,
  loadProvider,
  type ProviderRegistry,
  type RegisteredProvider,
} from '@hacp/sdk/providers';
import type { Config } from '@oclif/core';
import { type Environment, readStringVariable } from './env.js';
import type { CliWarning } from './envelope.js';
import { ErrorCode, HacpError, isHacpError } from './errors.js';

/** The provider contract v1, as the SDK takes it. */
export type Provider = ControlPlaneSettings['provider'];

/** What every provider factory gets from the global flags. */
export interface ProviderContext {
  /**
   * `--state-dir`: the built-in providers' state and, under `clusters/<name>`, the SDK's data.
   * Plugin providers get `<state-dir>/providers/<name>` as their own.
   */
  stateDir: string;
  /** `--project`: the cloud project (GCE, and plugins that want one). */
  project?: string;
  env: Environment;
  /** The CLI's oclif configuration: its plugins contribute providers. */
  config?: Config;
  /** Where `hacp-provider-<name>` packages are looked for (their node_modules and its parents). */
  cwd?: string;
}

/** The variables the GCE provider reads (besides `--project`). */
export const GCE_VARIABLES = {
  /** The project when `--project` is not given; then gcloud's `CLOUDSDK_CORE_PROJECT`. */
  project: 'HACP_GCE_PROJECT',
  /** Only zones of this region are offered. */
  region: 'HACP_GCE_REGION',
  /** The VPC network (default `default`). */
  network: 'HACP_GCE_NETWORK',
  /** How hacp reaches a replica's etcd: `iap` (default), `ssh` or `direct` (hacp runs inside the VPC). */
  reach: 'HACP_GCE_REACH',
  /** Another Compute API endpoint, such as `http://127.0.0.1:8089` for the testkit's Compute API server. */
  apiEndpoint: 'HACP_GCE_API_ENDPOINT',
} as const;

/**
 * The GCE provider's former switch for etcd-only replicas. Whether replicas run Kubernetes is now
 * the cluster's choice at `up` (`--no-kubernetes`), so any value is refused rather than ignored:
 * ignoring `false` would silently give a cluster with Kubernetes.
 */
export const RETIRED_GCE_KUBE_APISERVER = 'HACP_GCE_KUBE_APISERVER';

const REACH_MODES = ['iap', 'ssh', 'direct'] as const;

/** The providers built into the CLI, by name; `local` is the default. */
export const PROVIDERS = {
  local: async (context: ProviderContext): Promise<Provider> => {
    const { createLocalProvider } = await import('@hacp/provider-local');
    return createLocalProvider({ stateDir: context.stateDir, env: context.env });
  },
  gce: async (context: ProviderContext): Promise<Provider> => {
    const settings = gceSettings(context);
    const { createGceProvider } = await import('@hacp/provider-gce');
    return createGceProvider(settings);
  },
} as const satisfies Record<string, (context: ProviderContext) => Promise<Provider>>;

/** A built-in provider's name. */
export type BuiltInProviderName = keyof typeof PROVIDERS;

/** The built-in providers' names, the default first. */
export const KNOWN_PROVIDERS = Object.keys(PROVIDERS) as BuiltInProviderName[];

const BUILT_IN = {
  local: {
    package: '@hacp/provider-local',
    description: 'Replicas as local processes (etcd and the Kubernetes control plane), behind HAProxy.',
  },
  gce: {
    package: '@hacp/provider-gce',
    description: 'Replicas on Google Compute Engine VMs, behind a target pool (kube-up.sh names).',
  },
} as const satisfies Record<BuiltInProviderName, { package: string; description: string }>;

/** A provider the CLI can use, as `hacp providers` lists it. */
export interface ProviderListing {
  name: string;
  /** The npm package that implements it. */
  package: string;
  /** That package's version, when known. */
  version?: string;
  description?: string;
  /** `built-in`; `plugin` (an oclif plugin's hook); `package` (hacp-provider-<name> installed here). */
  source: 'built-in' | 'plugin' | 'package';
  /** For `plugin`: the oclif plugin and how it is installed (`user`: `plugins install`, `link`: `plugins link`). */
  plugin?: { name: string; version: string; type: string };
}

/** A provider listing and how to make the provider. */
export interface ProviderEntry extends ProviderListing {
  create(context: ProviderContext): Promise<Provider>;
}

function isBuiltIn(name: string): name is BuiltInProviderName {
  return Object.hasOwn(PROVIDERS, name);
}

function builtInEntry(name: BuiltInProviderName): ProviderEntry {
  const { package: packageName, description } = BUILT_IN[name];
  let version: string | undefined;
  try {
    version = (createRequire(import.meta.url)(`${packageName}/package.json`) as { version?: string }).version;
  } catch {
    version = undefined;
  }
  return {
    name,
    package: packageName,
    ...(version === undefined ? {} : { version }),
    description,
    source: 'built-in',
    create: PROVIDERS[name],
  };
}

/** A plugin provider's own state folder: `<state-dir>/providers/<name>`. */
export function pluginStateDir(stateDir: string, name: string): string {
  return join(stateDir, 'providers', name);
}

/**
 * Makes a plugin provider through `registry` (which checks core's ProviderHostSettings, shape-checks
 * the provider and closes one that fails), in its own folder `<state-dir>/providers/<name>`.
 */
function pluginCreate(registry: ProviderRegistry, name: string, options: LoadProviderOptions = {}) {
  return (context: ProviderContext): Promise<Provider> =>
    registry.create(
      name,
      {
        stateDir: pluginStateDir(context.stateDir, name),
        env: context.env,
        ...(context.project === undefined ? {} : { project: context.project }),
      },
      options,
    );
}

/** What the plugins offer: usable providers, warnings, and the offers refused, by provider name. */
export interface PluginOffers {
  providers: ProviderEntry[];
  warnings: CliWarning[];
  /** Offers that named a provider and were refused (another contract version, a broken descriptor). */
  refused: Map<string, HacpError>;
}

/**
 * The providers that installed and linked oclif plugins contribute through their `hacp:providers`
 * hook (see @hacp/core's ProviderPluginV1), checked by the SDK's registry. A plugin whose hook
 * fails, an offer that is not a v1 provider plugin, and a name another provider has are skipped
 * with a warning.
 */
export async function pluginProviders(config: Config): Promise<PluginOffers> {
  const result = await config.runHook(PROVIDER_PLUGIN_HOOK, {}, 10_000, true);
  const registry = createProviderRegistry();
  const offers: PluginOffers = { providers: [], warnings: [], refused: new Map() };
  for (const failure of result.failures) {
    const error = failure.error as Error | undefined;
    const { name, version, type } = failure.plugin;
    const advice =
      type === 'link'
        ? `Build it (its hook runs from its dist/), or remove it with \`hacp plugins unlink ${name}\`.`
        : `Reinstall it, or remove it with \`hacp plugins uninstall ${name}\`.`;
    offers.warnings.push({
      code: 'PROVIDER_PLUGIN_FAILED',
      message: `The plugin ${name} ${version} could not say which providers it has: ${String(error?.message ?? error)}. ${advice}`,
    });
  }
  for (const success of result.successes) {
    const plugin = success.plugin;
    const origin = { package: plugin.name, version: plugin.version };
    // A hook that returns nothing offers nothing.
    if (success.result === undefined || success.result === null) continue;
    const offered: unknown[] = Array.isArray(success.result) ? success.result : [success.result];
    for (const candidate of offered) {
      const name = (candidate as { name?: unknown } | null)?.name;
      if (isProviderName(name) && (isBuiltIn(name) || registry.get(name) !== undefined)) {
        const holder = isBuiltIn(name)
          ? 'the built-in provider'
          : `the plugin ${registry.get(name)?.package}`;
        offers.warnings.push({
          code: 'PROVIDER_NAME_TAKEN',
          message: `The plugin ${plugin.name} offers a provider named "${name}", which ${holder} has already; it is skipped.`,
        });
        continue;
      }
      let entry: RegisteredProvider;
      try {
        entry = registry.registerPlugin(candidate, origin);
      } catch (error) {
        if (!isHacpError(error)) throw error;
        offers.warnings.push({ code: 'PROVIDER_PLUGIN_INVALID', message: `${error.message} It is skipped.` });
        if (isProviderName(name)) offers.refused.set(name, error);
        continue;
      }
      offers.providers.push({
        name: entry.name,
        package: plugin.name,
        version: plugin.version,
        ...(entry.description === undefined ? {} : { description: entry.description }),
        source: 'plugin',
        plugin: { name: plugin.name, version: plugin.version, type: plugin.type },
        create: pluginCreate(registry, entry.name),
      });
    }
  }
  offers.providers.sort((a, b) => a.name.localeCompare(b.name));
  return offers;
}

/** The provider packages installed in `cwd`'s node_modules or a parent's (see the SDK's findProviderPackages). */
export function installedProviderPackages(cwd: string): ProviderEntry[] {
  return findProviderPackages(cwd).map((found) => ({
    ...found,
    source: 'package',
    create: async (context) =>
      (await findProvider(found.name, { ...context, config: undefined })).create(context),
  }));
}

/**
 * Every provider the CLI can use now, for `hacp providers`: the built-in ones, the plugins', then
 * provider packages installed where hacp runs (a name already taken is not listed twice).
 */
export async function listProviders(
  config: Config,
  cwd: string,
): Promise<{ providers: ProviderEntry[]; warnings: CliWarning[] }> {
  const { providers, warnings } = await pluginProviders(config);
  const listed = [...KNOWN_PROVIDERS.map(builtInEntry), ...providers];
  const packages = installedProviderPackages(cwd).filter(
    (entry) => !listed.some((other) => other.name === entry.name),
  );
  return { providers: [...listed, ...packages], warnings };
}

/**
 * The provider `--provider <name>` means: built in, else contributed by a plugin, else the package
 * `hacp-provider-<name>` installed where the CLI runs (loaded and shape-checked by the SDK).
 *
 * @throws HacpError PROVIDER_NOT_FOUND saying how to install it; PROVIDER_INVALID for a plugin or
 *   package that is not a v1 provider plugin.
 */
export async function findProvider(name: string, context: ProviderContext): Promise<ProviderEntry> {
  assertProviderName(name);
  if (isBuiltIn(name)) return builtInEntry(name);
  const fromPlugins = context.config === undefined ? undefined : await pluginProviders(context.config);
  const contributed = fromPlugins?.providers.find((entry) => entry.name === name);
  if (contributed !== undefined) return contributed;
  const refused = fromPlugins?.refused.get(name);
  if (refused !== undefined) throw refused;
  try {
    const from = context.cwd ?? process.cwd();
    const loaded = await loadProvider(name, { from });
    return {
      name,
      package: loaded.package ?? `${PROVIDER_PACKAGE_PREFIX}${name}`,
      ...(loaded.version === undefined ? {} : { version: loaded.version }),
      ...(loaded.description === undefined ? {} : { description: loaded.description }),
      source: 'package',
      create: pluginCreate(defaultProviderRegistry(), name, { from }),
    };
  } catch (error) {
    if (!isHacpError(error, ErrorCode.PROVIDER_NOT_FOUND)) throw error;
    const known = [...KNOWN_PROVIDERS, ...(fromPlugins?.providers ?? []).map((entry) => entry.name)];
    throw new HacpError({
      code: ErrorCode.PROVIDER_NOT_FOUND,
      message: `Unknown provider "${name}": it is not built in, no installed plugin offers it, and the package ${PROVIDER_PACKAGE_PREFIX}${name} is not installed. The known providers are: ${known.join(', ')}.`,
      actions: [
        `Install its plugin: hacp plugins install ${PROVIDER_PACKAGE_PREFIX}${name} (or hacp plugins link <folder> for one on disk).`,
        'Run `hacp providers` to list the providers you have.',
      ],
      details: { ...error.details, known },
      cause: error,
    });
  }
}

/** Makes the provider `--provider <name>` means (see findProvider). */
export async function createCliProvider(name: string, context: ProviderContext): Promise<Provider> {
  return (await findProvider(name, context)).create(context);
}

/**
 * The GCE provider's settings from `--project` and the environment, checked before the Google
 * client is loaded.
 *
 * @throws HacpError INVALID_ARGUMENT for a missing project, a bad variable, or the retired
 *   HACP_GCE_KUBE_APISERVER set to anything.
 */
export function gceSettings(context: ProviderContext) {
  const { env } = context;
  const project =
    context.project ??
    readStringVariable(env, GCE_VARIABLES.project) ??
    readStringVariable(env, 'CLOUDSDK_CORE_PROJECT');
  if (project === undefined) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: 'The GCE provider needs a project, and none was given.',
      actions: [`Pass --project <project-id>, or set ${GCE_VARIABLES.project}.`],
      details: { field: 'project' },
    });
  }
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project)) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `"${project}" is not a GCE project id: 6-30 lowercase letters, digits and dashes, starting with a letter.`,
      actions: ['Pass the project id (not its name or number), as `gcloud projects list` shows it.'],
      details: { field: 'project', value: project },
    });
  }
  const reach = readStringVariable(env, GCE_VARIABLES.reach) ?? 'iap';
  if (!(REACH_MODES as readonly string[]).includes(reach)) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `${GCE_VARIABLES.reach}=${JSON.stringify(reach)} is not one of ${REACH_MODES.join(', ')}.`,
      actions: [`Set ${GCE_VARIABLES.reach} to iap, ssh or direct, or unset it.`],
      details: { field: GCE_VARIABLES.reach, value: reach },
    });
  }
  const retired = readStringVariable(env, RETIRED_GCE_KUBE_APISERVER);
  if (retired !== undefined) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `${RETIRED_GCE_KUBE_APISERVER}=${JSON.stringify(retired)} is no longer read: whether the replicas run Kubernetes is the cluster's choice, made once at \`hacp up\`.`,
      actions: [
        `Unset ${RETIRED_GCE_KUBE_APISERVER}.`,
        'For an etcd-only cluster, pass --no-kubernetes to `hacp up` (or set HACP_KUBERNETES=false).',
      ],
      details: { field: RETIRED_GCE_KUBE_APISERVER, value: retired },
    });
  }
  const apiEndpoint = readStringVariable(env, GCE_VARIABLES.apiEndpoint);
  if (apiEndpoint !== undefined && !URL.canParse(apiEndpoint)) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `${GCE_VARIABLES.apiEndpoint}=${JSON.stringify(apiEndpoint)} is not a URL.`,
      actions: [`Set ${GCE_VARIABLES.apiEndpoint} to a URL such as http://127.0.0.1:8089, or unset it.`],
      details: { field: GCE_VARIABLES.apiEndpoint, value: apiEndpoint },
    });
  }
  return {
    project,
    reach: reach as (typeof REACH_MODES)[number],
    ...optional('region', readStringVariable(env, GCE_VARIABLES.region)),
    ...optional('network', readStringVariable(env, GCE_VARIABLES.network)),
    ...optional('apiEndpoint', apiEndpoint),
  };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/**
 * Checks that a `--provider` value can be a provider's name (whether one exists is found later).
 *
 * @throws HacpError INVALID_ARGUMENT naming the built-in providers.
 */
export function assertProviderName(name: string): void {
  if (!isProviderName(name)) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `"${name}" is not a provider name: use lowercase letters, digits and dashes, such as ${KNOWN_PROVIDERS.join(' or ')}.`,
      actions: [
        `Pass --provider ${KNOWN_PROVIDERS[0]} (or leave it out: it is the default), or a plugin's provider name.`,
        'Run `hacp providers` to list the providers you have.',
      ],
      details: { field: 'provider', value: name },
    });
  }
}

/** Whether a provider is the local one, with `failZone`/`restoreZone`. */
export function isLocalProvider(provider: Provider): provider is LocalProvider {
  const candidate = provider as Partial<LocalProvider>;
  return (
    provider.name === 'local' &&
    typeof candidate.failZone === 'function' &&
    typeof candidate.restoreZone === 'function'
  );
}
