import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  KUBERNETES_BINARIES,
  type KubernetesBinary,
  type KubernetesBinarySource,
  kubernetesCacheDir,
} from './source.js';
import { compareKubernetesVersions, parseKubernetesVersion } from './version.js';

/** One version in the cache. */
export interface CachedKubernetesVersion {
  version: string;
  /** Its folder, `<cacheDir>/kubernetes/<version>`. */
  dir: string;
  /** The binaries it holds. */
  binaries: KubernetesBinary[];
  /** The size of everything in the folder. */
  bytes: number;
}

/** Staging folders start with this; nothing else in the cache does. */
const STAGING_PREFIX = '.tmp-';
const STALE_PREFIX = '.stale-';
/** A staging folder nothing has written to for this long belongs to a process that died. */
const ABANDONED_AFTER_MS = 60 * 60 * 1000;

/**
 * The versions in the cache, oldest first; a folder missing a binary is listed with what it has.
 *
 * @example
 * for (const cached of await listCachedKubernetesBinaries(kubernetesBinarySourceFromEnv(process.env))) {
 *   console.log(cached.version, cached.bytes);
 * }
 * @throws HacpError INVALID_ARGUMENT (field `cacheDir`) when the cache folder is not absolute.
 */
export async function listCachedKubernetesBinaries(
  source: Pick<KubernetesBinarySource, 'cacheDir'>,
): Promise<CachedKubernetesVersion[]> {
  const root = kubernetesCacheDir(source);
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const cached: CachedKubernetesVersion[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    let version: string;
    try {
      version = parseKubernetesVersion(entry.name).version;
    } catch {
      continue;
    }
    if (version !== entry.name) continue;
    const dir = join(root, entry.name);
    const files = await readdir(dir, { withFileTypes: true }).catch(() => []);
    let bytes = 0;
    const binaries: KubernetesBinary[] = [];
    for (const file of files) {
      if (!file.isFile()) continue;
      bytes += (await stat(join(dir, file.name)).catch(() => undefined))?.size ?? 0;
      if ((KUBERNETES_BINARIES as readonly string[]).includes(file.name))
        binaries.push(file.name as KubernetesBinary);
    }
    binaries.sort((a, b) => KUBERNETES_BINARIES.indexOf(a) - KUBERNETES_BINARIES.indexOf(b));
    cached.push({ version, dir, binaries, bytes });
  }
  return cached.sort((a, b) =>
    compareKubernetesVersions(parseKubernetesVersion(a.version), parseKubernetesVersion(b.version)),
  );
}

/** Whether `dir` holds all three binaries, executable. */
export async function isCompleteVersionDir(dir: string): Promise<boolean> {
  const checks = await Promise.all(
    KUBERNETES_BINARIES.map(async (binary) => {
      const path = join(dir, binary);
      const info = await stat(path).catch(() => undefined);
      return (
        info?.isFile() === true &&
        (await access(path, constants.X_OK).then(
          () => true,
          () => false,
        ))
      );
    }),
  );
  return checks.every(Boolean);
}

/** A new, empty staging folder beside the version's folder, on the same file system as it. */
export async function makeStagingDir(
  source: Pick<KubernetesBinarySource, 'cacheDir'>,
  version: string,
): Promise<string> {
  const root = kubernetesCacheDir(source);
  await mkdir(root, { recursive: true, mode: 0o755 });
  return mkdtemp(join(root, `${STAGING_PREFIX}${version}-`));
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Moves a complete staging folder into place as `target` in one rename, so that the cache never
 * holds a half-written version. When another process's rename won, its folder is kept and ours is
 * dropped; a damaged folder at `target` (a binary missing) is replaced.
 */
export async function installStagingDir(staging: string, target: string): Promise<void> {
  await chmod(staging, 0o755);
  await syncDir(staging);
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(staging, target);
      await syncDir(dirname(target));
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt > 0) throw error;
    }
    if (await isCompleteVersionDir(target)) {
      await rm(staging, { recursive: true, force: true });
      return;
    }
    const stale = join(dirname(target), `${STALE_PREFIX}${Date.now()}-${process.pid}`);
    await rename(target, stale).catch(() => undefined);
    await rm(stale, { recursive: true, force: true });
  }
}

/** Removes staging folders of processes that died mid-download (nothing written for an hour). */
export async function removeAbandonedStagingDirs(
  source: Pick<KubernetesBinarySource, 'cacheDir'>,
): Promise<void> {
  const root = kubernetesCacheDir(source);
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const now = Date.now();
  for (const entry of entries) {
    if (
      !entry.isDirectory() ||
      !(entry.name.startsWith(STAGING_PREFIX) || entry.name.startsWith(STALE_PREFIX))
    ) {
      continue;
    }
    const dir = join(root, entry.name);
    const files = await readdir(dir).catch(() => []);
    const times = await Promise.all(
      [dir, ...files.map((file) => join(dir, file))].map((path) =>
        stat(path).then(
          (info) => info.mtimeMs,
          () => 0,
        ),
      ),
    );
    if (now - Math.max(...times) > ABANDONED_AFTER_MS) await rm(dir, { recursive: true, force: true });
  }
}
