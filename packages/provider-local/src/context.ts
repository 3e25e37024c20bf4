import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { assertRegionName, type Logger, resolveLogger } from '@hacp/core';
import {
  createNetworkAllocations,
  createProcessCloud,
  dependencyMissing,
  findProgram,
  loopbackAddressPool,
  type NetworkAllocations,
  ownHostnameSupport,
  type ProcessCloud,
  sharedLoopbackAddressPool,
} from '@hacp/core/provider-kit';
import type { LocalProviderSettings } from './provider.js';
import { assertLocalZone } from './zones.js';

/** Where the local provider's loopback addresses come from: 127.64.0.0 to 127.250.255.255. */
export const LOCAL_LOOPBACK_RANGE = { firstA: 64, lastA: 250 } as const;

/** What every part of the local provider shares: the process cloud, the programs found, the settings. */
export interface LocalContext {
  cloud: ProcessCloud;
  networks: NetworkAllocations;
  /** Where its own records go: `<stateDir>/local`. */
  recordsDir: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  binaries: { etcd?: string; haproxy?: string };
  hostnameSupport: { unshare: string } | undefined;
  loopbackAliases: boolean;
  startGraceMs: number;
  stopGraceMs: number;
}

function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (env.HACP_STATE_DIR) return env.HACP_STATE_DIR;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'hacp');
}

/**
 * The context of a local provider from its settings.
 *
 * @throws HacpError DEPENDENCY_MISSING when `etcdBinary` or `haproxyBinary` is given and is not an
 *   executable.
 */
export function createLocalContext(settings: LocalProviderSettings): LocalContext {
  const env = settings.env ?? process.env;
  const logger = resolveLogger(settings.logger);
  // Absolute, because replicas run with their own folder as working directory and flags such as
  // etcd's --data-dir need absolute paths.
  const stateDir = resolve(settings.stateDir ?? defaultStateDir(env));
  const explicit = (program: string | undefined): string | undefined => {
    if (program === undefined) return undefined;
    const found = findProgram(program, { path: env.PATH ?? '' });
    if (found === undefined) throw dependencyMissing(program);
    return found;
  };
  const binaries = {
    etcd: explicit(settings.etcdBinary) ?? findProgram('etcd', { path: env.PATH ?? '' }),
    haproxy: explicit(settings.haproxyBinary) ?? findProgram('haproxy', { path: env.PATH ?? '' }),
  };
  const loopbackAliases = settings.loopbackAliases ?? process.platform === 'linux';
  const recordsDir = join(stateDir, 'local');
  const cloud = createProcessCloud({
    stateDir,
    recordsDir,
    writer: 'hacp',
    logger,
    assertZone: assertLocalZone,
    assertRegion: assertRegionName,
  });
  const networks = createNetworkAllocations(cloud, {
    pool: loopbackAliases ? loopbackAddressPool(LOCAL_LOOPBACK_RANGE) : sharedLoopbackAddressPool(),
    // Each replica runs under its own name (its own UTS namespace where the OS allows it).
    hostnameOf: (ref) => ref.name,
  });
  return {
    cloud,
    networks,
    recordsDir,
    env,
    logger,
    binaries,
    hostnameSupport: ownHostnameSupport(),
    loopbackAliases,
    startGraceMs: settings.startGraceMs ?? 500,
    stopGraceMs: settings.stopGraceMs ?? 10_000,
  };
}
