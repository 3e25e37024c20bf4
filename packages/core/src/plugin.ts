/**
 * How a provider that hacp does not ship reaches it: a package (`hacp-provider-<name>` or
 * `@scope/hacp-provider-<name>`) whose default export is a ProviderPluginV1, loaded by the SDK with
 * `import()`, or an oclif plugin of the `hacp` CLI whose `hacp:providers` hook returns them.
 */
import type { ProviderBaseSettings, ProviderV1 } from './provider.js';

/** What a host (the `hacp` CLI, or the SDK loading a provider by name) passes to a plugin's `create`. */
export interface ProviderHostSettings extends ProviderBaseSettings {
  /**
   * A folder that belongs to this provider alone, for its own state (the CLI gives
   * `<state-dir>/providers/<name>`). It may not exist yet.
   */
  stateDir: string;
  /** The environment, for the provider's own variables (by convention `HACP_<NAME>_*`). */
  env: Readonly<Record<string, string | undefined>>;
  /** `--project`, when the user gave one. */
  project?: string;
}

/**
 * What a provider package exports as its default export, and what a CLI plugin's `hacp:providers`
 * hook returns (one, or an array).
 *
 * @example
 * import { defineProviderPlugin } from '@hacp/core';
 * import { createMyProvider } from './provider.js';
 *
 * export default defineProviderPlugin({
 *   specificationVersion: 'v1',
 *   name: 'mycloud',
 *   description: 'Replicas on MyCloud VMs',
 *   create: (settings) => createMyProvider({ stateDir: settings.stateDir, logger: settings.logger }),
 * });
 */
export interface ProviderPluginV1<S extends ProviderBaseSettings = ProviderHostSettings> {
  /** The contract version the provider implements; this hacp speaks `v1`. */
  readonly specificationVersion: 'v1';
  /** The name `--provider` takes: lowercase letters, digits and dashes, starting with a letter. */
  readonly name: string;
  /** One line for `hacp providers`. */
  readonly description?: string;
  /** Makes the provider; the host shape-checks what it returns. */
  readonly create: (settings: S) => ProviderV1 | Promise<ProviderV1>;
}

/** The oclif hook a CLI plugin declares (`"oclif": { "hooks": { "hacp:providers": "./dist/hook.js" } }`). */
export const PROVIDER_PLUGIN_HOOK = 'hacp:providers';

/** Package names the SDK tries for `--provider <name>`, and that a provider package should have. */
export const PROVIDER_PACKAGE_PREFIX = 'hacp-provider-';

const PROVIDER_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/** Whether `name` can be a provider's name (`--provider` value). */
export function isProviderName(name: unknown): name is string {
  return typeof name === 'string' && PROVIDER_NAME.test(name) && !name.endsWith('-');
}

/**
 * Types a plugin's default export; returns it unchanged.
 *
 * @example export default defineProviderPlugin({ specificationVersion: 'v1', name: 'mycloud', create });
 */
export function defineProviderPlugin<S extends ProviderBaseSettings = ProviderHostSettings>(
  plugin: ProviderPluginV1<S>,
): ProviderPluginV1<S> {
  return plugin;
}

/**
 * What a value lacks to be a ProviderPluginV1: an empty list means it is one. The first entry is
 * `specificationVersion: 'v1'` when the version is wrong, so a host can tell a plugin for another
 * contract version from a broken one.
 */
export function providerPluginProblems(candidate: unknown): string[] {
  if (typeof candidate !== 'object' || candidate === null) return ['(not an object)'];
  const plugin = candidate as Record<string, unknown>;
  const problems: string[] = [];
  if (plugin.specificationVersion !== 'v1') problems.push("specificationVersion: 'v1'");
  if (!isProviderName(plugin.name)) problems.push('name');
  if (typeof plugin.create !== 'function') problems.push('create');
  if (plugin.description !== undefined && typeof plugin.description !== 'string')
    problems.push('description');
  return problems;
}
