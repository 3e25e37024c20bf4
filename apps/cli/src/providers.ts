/**
 * The providers the CLI knows, by `--provider` name: `local` (the embedded default) and `gce`. A
 * provider's package is imported when the provider is first used, so that `--help`, bad input and
 * the local provider never load the Google client (about half a second).
 */

import type { LocalProvider } from '@hacp/provider-local';
import type { ControlPlaneSettings } from '@hacp/sdk';
import { type Environment, readStringVariable } from './env.js';
import { ErrorCode, HacpError } from './errors.js';

/** The provider contract v1, as the SDK takes it. */
export type Provider = ControlPlaneSettings['provider'];

/** What every provider factory gets from the global flags. */
export interface ProviderContext {
  /** `--state-dir`: the provider's state and, under `clusters/<name>`, the SDK's data. */
  stateDir: string;
  /** `--project`: the cloud project (GCE). */
  project?: string;
  env: Environment;
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
  /** `false`: replicas run etcd only, without kube-apiserver. */
  kubeApiserver: 'HACP_GCE_KUBE_APISERVER',
} as const;

const REACH_MODES = ['iap', 'ssh', 'direct'] as const;

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

export type ProviderName = keyof typeof PROVIDERS;

export const KNOWN_PROVIDERS = Object.keys(PROVIDERS) as ProviderName[];

/**
 * The GCE provider's settings from `--project` and the environment, checked before the Google
 * client is loaded.
 *
 * @throws HacpError INVALID_ARGUMENT for a missing project or a bad variable.
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
  const apiserver = readStringVariable(env, GCE_VARIABLES.kubeApiserver);
  if (apiserver !== undefined && apiserver !== 'true' && apiserver !== 'false') {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `${GCE_VARIABLES.kubeApiserver}=${JSON.stringify(apiserver)} is not a boolean: it accepts exactly true or false.`,
      actions: [`Set ${GCE_VARIABLES.kubeApiserver}=true or false, or unset it.`],
      details: { field: GCE_VARIABLES.kubeApiserver, value: apiserver },
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
    kubeApiserver: apiserver !== 'false',
    ...optional('region', readStringVariable(env, GCE_VARIABLES.region)),
    ...optional('network', readStringVariable(env, GCE_VARIABLES.network)),
    ...optional('apiEndpoint', apiEndpoint),
  };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

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
