/**
 * hacp-provider-example: Example Cloud, a small cloud whose replicas are processes on this machine,
 * as a hacp provider plugin. The default export is the plugin (what `hacp` and the SDK load by
 * name); `createExampleProvider` is the factory, for SDK users who make the provider themselves.
 */
import { defineProviderPlugin, invalidArgument, type ProviderHostSettings } from '@hacp/core';
import { createExampleProvider, type ExampleProviderSettings } from './provider.js';

export { createExampleProvider, type ExampleProvider, type ExampleProviderSettings } from './provider.js';
export { EXAMPLE_REGIONS, EXAMPLE_ZONES } from './zones.js';

/** The environment variables the plugin reads (the CLI passes its environment). */
export const EXAMPLE_VARIABLES = {
  /** Milliseconds a started process must stay up to count as started (default 1500). */
  startCheckMs: 'HACP_EXAMPLE_START_CHECK_MS',
  /** Milliseconds a stopping process gets between SIGTERM and SIGKILL (default 5000). */
  stopGraceMs: 'HACP_EXAMPLE_STOP_GRACE_MS',
} as const;

function millisecondsFrom(
  env: Readonly<Record<string, string | undefined>>,
  variable: string,
): number | undefined {
  const text = env[variable];
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,9}$/.test(text)) {
    throw invalidArgument({
      field: variable,
      value: text,
      message: `${variable}=${JSON.stringify(text)} is not a whole number of milliseconds.`,
      actions: [`Set ${variable} to a number such as 1500, or unset it.`],
    });
  }
  return Number(text);
}

/**
 * The provider's settings from what a host gives a plugin: its own state folder, the logger, and
 * the `HACP_EXAMPLE_*` variables of the environment it passes. That environment is for the
 * provider's own variables only (a host may pass `{}`): replica processes start with this process's
 * environment, and its PATH finds their commands.
 *
 * @throws HacpError INVALID_ARGUMENT naming a variable that is not a whole number.
 */
export function settingsFromHost(host: ProviderHostSettings): ExampleProviderSettings {
  // A caller that skips the host may leave env out; the SDK and the CLI always pass it.
  const env = host.env ?? process.env;
  const startCheckMs = millisecondsFrom(env, EXAMPLE_VARIABLES.startCheckMs);
  const stopGraceMs = millisecondsFrom(env, EXAMPLE_VARIABLES.stopGraceMs);
  return {
    stateDir: host.stateDir,
    ...(host.logger ? { logger: host.logger } : {}),
    ...(startCheckMs === undefined ? {} : { startCheckMs }),
    ...(stopGraceMs === undefined ? {} : { stopGraceMs }),
  };
}

/**
 * The plugin: `--provider example` in the CLI, `example` for the SDK's loader.
 *
 * @example
 * import examplePlugin from 'hacp-provider-example';
 *
 * const provider = await examplePlugin.create({ stateDir: '/tmp/example-cloud', env: process.env });
 */
const examplePlugin = defineProviderPlugin({
  specificationVersion: 'v1',
  name: 'example',
  description:
    'Example Cloud: replicas as processes on this machine, zones moon-east-a..c and moon-west-a..b',
  create: (host: ProviderHostSettings) => createExampleProvider(settingsFromHost(host)),
});

export default examplePlugin;
