// The `hacp` CLI as the benchmarks that run it as a user does (lifecycle, replace) find, run and
// fingerprint it.

import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtCodeSha256 } from './machine.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The `hacp` package: the bench's workspace dependency once installed, else the repo's apps/cli. */
function cliDir() {
  try {
    return dirname(createRequire(import.meta.url).resolve('hacp/package.json'));
  } catch {
    return join(repoRoot, 'apps', 'cli');
  }
}
export const CLI_DIR = cliDir();
/** The CLI's entry point, run as `node CLI <args>`. */
export const CLI = join(CLI_DIR, 'bin', 'run.js');

/**
 * The environment of every CLI process: the state folder, none of the variables hacp reads as defaults,
 * and `extra` (the Kubernetes lifecycle's release location and binary cache).
 */
export function cliEnv(stateDir, extra = {}) {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(KUBE_|HACP_)/.test(key)) delete env[key];
  }
  for (const key of ['MULTIZONE', 'ENABLE_ETCD_QUORUM_READ', 'ENABLE_ETCD_QUORUM_READS', 'KUBECONFIG']) {
    delete env[key];
  }
  return {
    ...env,
    ...(stateDir === undefined ? {} : { HACP_STATE_DIR: stateDir }),
    SHELL: '/bin/sh',
    ...extra,
  };
}

/** A hash of the built code the CLI runs (its dist and that of the workspace packages), to tell builds apart. */
export function buildHash() {
  const dirs = [join(CLI_DIR, 'dist'), join(repoRoot, 'apps', 'sdk', 'dist')];
  for (const name of readdirSync(join(repoRoot, 'packages')).sort())
    dirs.push(join(repoRoot, 'packages', name, 'dist'));
  return builtCodeSha256({ root: repoRoot, dirs });
}
