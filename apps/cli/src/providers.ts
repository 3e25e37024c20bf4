/**
 * The providers the CLI knows, by `--provider` name. Only `local` exists now; a cloud provider is
 * one more entry here.
 */

import { createLocalProvider, type LocalProvider } from '@hacp/provider-local';
import type { ControlPlaneSettings } from '@hacp/sdk';
import type { Environment } from './env.js';
import { ErrorCode, HacpError } from './errors.js';

/** The provider contract v1, as the SDK takes it. */
export type Provider = ControlPlaneSettings['provider'];

/** What every provider factory gets from the global flags. */
export interface ProviderContext {
  /** `--state-dir`: the provider's state and, under `clusters/<name>`, the SDK's data. */
  stateDir: string;
  env: Environment;
}

export const PROVIDERS = {
  local: (context: ProviderContext): Provider =>
    createLocalProvider({ stateDir: context.stateDir, env: context.env }),
} as const satisfies Record<string, (context: ProviderContext) => Provider>;

export type ProviderName = keyof typeof PROVIDERS;

export const KNOWN_PROVIDERS = Object.keys(PROVIDERS) as ProviderName[];

/**
 * Checks a `--provider` value.
 *
 * @throws HacpError INVALID_ARGUMENT listing the known providers.
 */
export function assertProviderName(name: string): asserts name is ProviderName {
  if (!(KNOWN_PROVIDERS as string[]).includes(name)) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `Unknown provider "${name}"; the known providers are: ${KNOWN_PROVIDERS.join(', ')}.`,
      actions: [`Pass --provider ${KNOWN_PROVIDERS[0]} (or leave it out: it is the default).`],
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
