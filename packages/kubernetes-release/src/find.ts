import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCode, HacpError, invalidArgument, isHacpError } from '@hacp/core';
import { abortedError } from './errors.js';
import {
  BINARY_VARIABLES,
  KUBERNETES_BINARIES,
  type KubernetesBinary,
  type KubernetesBinarySource,
  versionCacheDir,
} from './source.js';
import { parseKubernetesVersion } from './version.js';

const run = promisify(execFile);
/** Generous: a 70 MB Go binary can take a while to start on a busy machine, but never minutes. */
const VERSION_TIMEOUT_MS = 120_000;

/** A version's three binaries, and where each was found. */
export interface KubernetesBinaries {
  /** Normalised: `v1.23.16`. */
  version: string;
  /** Absolute paths of executable files. */
  paths: Record<KubernetesBinary, string>;
  /** `bin-dir` (HACP_KUBE_BIN_DIR), `variable` (KUBE_APISERVER, ...) or `cache`. */
  sources: Record<KubernetesBinary, 'bin-dir' | 'variable' | 'cache'>;
}

/**
 * Runs `<path> --version` (which prints `Kubernetes v1.23.16`) and returns the binary's own version.
 *
 * @example
 * await binaryVersion('/usr/local/bin/kube-apiserver'); // 'v1.23.16'
 * @throws HacpError DEPENDENCY_MISSING when the file cannot be run; INVALID_ARGUMENT (field `path`)
 *   when it fails or prints no Kubernetes version; ABORTED.
 */
export async function binaryVersion(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await run(path, ['--version'], {
      timeout: VERSION_TIMEOUT_MS,
      maxBuffer: 64 * 1024,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    }));
  } catch (error) {
    if (options.signal?.aborted) throw abortedError(options.signal, `Running ${path} --version`);
    const failure = error as NodeJS.ErrnoException & { stderr?: string; code?: string | number };
    if (typeof failure.code === 'string') {
      throw new HacpError({
        code: ErrorCode.DEPENDENCY_MISSING,
        message: `Could not run ${path}: ${failure.code === 'ENOENT' ? 'there is no such file' : failure.message}.`,
        actions: ['Check the path, and that the file is an executable built for this machine.'],
        details: { path, cause: failure.code },
        cause: error,
      });
    }
    throw invalidArgument({
      field: 'path',
      value: path,
      message: `${path} --version failed (${failure.code === undefined ? 'no exit code' : `exit ${failure.code}`}): ${(failure.stderr ?? '').trim().slice(-300) || failure.message}`,
      actions: ['Check that the file is a Kubernetes server binary built for this machine.'],
    });
  }
  const match = /^Kubernetes (v\S+)$/.exec(stdout.trim());
  const version = match?.[1];
  if (version === undefined) {
    throw invalidArgument({
      field: 'path',
      value: path,
      message: `${path} --version printed "${stdout.trim().slice(0, 120)}", not "Kubernetes v<version>": it is not a Kubernetes server binary.`,
      actions: ['Point it at kube-apiserver, kube-controller-manager or kube-scheduler.'],
    });
  }
  return version;
}

type Located = { binary: KubernetesBinary; path: string; source: 'bin-dir' | 'variable'; origin: string };

async function fileState(path: string): Promise<'executable' | 'missing' | 'not-executable'> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return 'missing';
  if (!info.isFile()) return 'not-executable';
  return access(path, constants.X_OK).then(
    () => 'executable' as const,
    () => 'not-executable' as const,
  );
}

function unusable(origin: string, path: string, state: 'missing' | 'not-executable'): HacpError {
  return new HacpError({
    code: ErrorCode.DEPENDENCY_MISSING,
    message: `${origin} names ${path}, which ${state === 'missing' ? 'does not exist' : 'is not an executable file'}.`,
    actions: [
      state === 'missing'
        ? `Set ${origin} to the binary's absolute path, or unset it to use the cache.`
        : `Make it executable (chmod +x ${path}), or unset ${origin} to use the cache.`,
    ],
    details: { field: origin, path },
  });
}

/** The binaries the operator named (bin dir, then variable), per binary; the rest come from the cache. */
async function locateOverrides(source: KubernetesBinarySource): Promise<Located[]> {
  const located: Located[] = [];
  for (const binary of KUBERNETES_BINARIES) {
    if (source.binDir !== undefined) {
      const path = join(source.binDir, binary);
      const state = await fileState(path);
      if (state === 'executable') {
        located.push({ binary, path, source: 'bin-dir', origin: 'HACP_KUBE_BIN_DIR' });
        continue;
      }
      if (state === 'not-executable') throw unusable('HACP_KUBE_BIN_DIR', path, state);
    }
    const path = source.binaries?.[binary];
    if (path !== undefined) {
      const state = await fileState(path);
      if (state !== 'executable') throw unusable(BINARY_VARIABLES[binary], path, state);
      located.push({ binary, path, source: 'variable', origin: BINARY_VARIABLES[binary] });
    }
  }
  return located;
}

async function versionOf(located: Located, signal: AbortSignal | undefined): Promise<string> {
  try {
    return await binaryVersion(located.path, signal === undefined ? {} : { signal });
  } catch (error) {
    if (!isHacpError(error) || error.code === ErrorCode.ABORTED) throw error;
    throw new HacpError({
      code: error.code,
      message: `${located.origin} names ${located.path}, which cannot be used: ${error.message}`,
      actions: [...error.actions, `Or unset ${located.origin} to use the cache.`],
      details: { field: located.origin, path: located.path },
      cause: error,
    });
  }
}

function otherVersion(located: Located, expected: string, actual: string): HacpError {
  return invalidArgument({
    field: located.origin,
    value: located.path,
    message: `${located.origin} names ${located.path}, which is Kubernetes ${actual}, not ${expected}.`,
    actions: [
      `Point ${located.origin} at ${located.binary} ${expected}, or unset it to use the cache.`,
      `Or use version ${actual}, the version of the binaries you named.`,
    ],
  });
}

/**
 * The binaries of `version`, without downloading: per binary, from `HACP_KUBE_BIN_DIR`, else its
 * variable (`KUBE_APISERVER`, ...), else the cache. Binaries you named are checked with `--version`.
 * With `version` undefined, the version is that of the binaries you named (all of them must agree),
 * and undefined when you named none.
 *
 * @returns undefined when any binary is in none of those places.
 * @example
 * const found = await findKubernetesBinaries('v1.23.16', kubernetesBinarySourceFromEnv(process.env));
 * if (found) console.log(found.paths['kube-apiserver'], found.sources['kube-apiserver']);
 * @throws HacpError INVALID_ARGUMENT (field `version`) for a version that is not exact; INVALID_ARGUMENT
 *   (field the variable) for a binary of another version, naming the variable, the path and both
 *   versions; DEPENDENCY_MISSING for a variable naming a missing or non-executable file, or a bin dir
 *   holding a non-executable one; ABORTED.
 */
export async function findKubernetesBinaries(
  version: string | undefined,
  source: KubernetesBinarySource,
  options: { signal?: AbortSignal } = {},
): Promise<KubernetesBinaries | undefined> {
  const wanted = version === undefined ? undefined : parseKubernetesVersion(version).version;
  const overrides = await locateOverrides(source);
  const versions = await Promise.all(overrides.map((located) => versionOf(located, options.signal)));
  let resolved = wanted;
  for (const [i, located] of overrides.entries()) {
    const actual = versions[i] as string;
    if (resolved === undefined) resolved = actual;
    else if (actual !== resolved) throw otherVersion(located, resolved, actual);
  }
  if (resolved === undefined) return undefined;

  const paths = {} as Record<KubernetesBinary, string>;
  const sources = {} as KubernetesBinaries['sources'];
  for (const located of overrides) {
    paths[located.binary] = located.path;
    sources[located.binary] = located.source;
  }
  const cacheDir = versionCacheDir(source, resolved);
  for (const binary of KUBERNETES_BINARIES) {
    if (paths[binary] !== undefined) continue;
    const path = join(cacheDir, binary);
    if ((await fileState(path)) !== 'executable') return undefined;
    paths[binary] = path;
    sources[binary] = 'cache';
  }
  return { version: resolved, paths, sources };
}
