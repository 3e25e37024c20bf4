import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { ErrorCode, HacpError, invalidArgument, isHacpError } from '@hacp/core';
import { installStagingDir, makeStagingDir, removeAbandonedStagingDirs } from './cache.js';
import { checksumMismatch, publishedDigest } from './checksum.js';
import { type Download, type DownloadOptions, openDownload } from './download.js';
import { abortedError, displayUrl, locationActions, whenAborted } from './errors.js';
import { findKubernetesBinaries, type KubernetesBinaries } from './find.js';
import {
  KUBERNETES_BINARIES,
  type KubernetesBinary,
  type KubernetesBinarySource,
  releaseArch,
  releaseBase,
  releaseFileUrl,
  versionCacheDir,
} from './source.js';
import { readTar } from './tar.js';
import { parseKubernetesVersion } from './version.js';

/** How far one download has come. */
export interface DownloadProgress {
  /** The file's name: `kube-apiserver`, `kubernetes-server-linux-amd64.tar.gz`. */
  file: string;
  url: string;
  receivedBytes: number;
  /** When the location says. */
  totalBytes?: number;
}

export interface FetchOptions {
  signal?: AbortSignal;
  /** Called at the start, at least every 1 MiB, and at the end of each download. */
  onProgress?: (progress: DownloadProgress) => void;
}

const PROGRESS_STEP_BYTES = 1 << 20;
const TARBALL_BIN = 'kubernetes/server/bin';

/**
 * Downloads `version`'s binaries into the cache, `<cacheDir>/kubernetes/<version>/`: the per-binary
 * files (`<base>/<version>/bin/linux/<arch>/<binary>`) where the location has them, else the server
 * tarball (`<base>/<version>/kubernetes-server-linux-<arch>.tar.gz`). Every download is checked
 * against the `.sha256` beside it. The files go to a staging folder beside the version's and into
 * place in one rename, so a failure, an abort or another process fetching the same version at the
 * same time never leaves a half-written version in the cache.
 *
 * @example
 * const binaries = await fetchKubernetesBinaries('v1.23.16', kubernetesBinarySourceFromEnv(process.env), {
 *   onProgress: ({ file, receivedBytes, totalBytes }) => console.log(file, receivedBytes, totalBytes),
 * });
 * @throws HacpError INVALID_ARGUMENT (field `version`, `releaseUrl`, `arch` or `cacheDir`) for bad
 *   input or a location that serves something else; NOT_FOUND when the location has neither layout
 *   of the version; CHECKSUM_MISMATCH; UNAVAILABLE when the location cannot be reached or a transfer
 *   ends early; PERMISSION_DENIED; ABORTED.
 */
export async function fetchKubernetesBinaries(
  version: string,
  source: KubernetesBinarySource,
  options: FetchOptions = {},
): Promise<KubernetesBinaries> {
  const exact = parseKubernetesVersion(version).version;
  const base = releaseBase(source.releaseUrl);
  const arch = releaseArch(source);
  const target = versionCacheDir(source, exact);
  const what = `Fetching Kubernetes ${exact}`;
  if (options.signal?.aborted) throw abortedError(options.signal, what);
  const staging = await makeStagingDir(source, exact).catch((error: unknown) => {
    throw cacheWriteError(error, source);
  });
  try {
    await removeAbandonedStagingDirs(source);
    await downloadRelease({ base, arch, version: exact, staging, releaseUrl: source.releaseUrl, options });
    if (options.signal?.aborted) throw abortedError(options.signal, what);
    await installStagingDir(staging, target);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw cacheWriteError(whenAborted(error, options.signal, what), source);
  }
  const paths = {} as Record<KubernetesBinary, string>;
  const sources = {} as KubernetesBinaries['sources'];
  for (const binary of KUBERNETES_BINARIES) {
    paths[binary] = join(target, binary);
    sources[binary] = 'cache';
  }
  return { version: exact, paths, sources };
}

/**
 * The binaries of `version`: found (bin dir, variables, cache) when they are all there, else
 * downloaded into the cache first. Only the cache is ever written.
 *
 * @example
 * const source = kubernetesBinarySourceFromEnv(process.env);
 * const { version } = await resolveKubernetesVersion('1.23', source);
 * const binaries = await ensureKubernetesBinaries(version, source);
 * @throws HacpError as `findKubernetesBinaries` and `fetchKubernetesBinaries`.
 */
export async function ensureKubernetesBinaries(
  version: string,
  source: KubernetesBinarySource,
  options: FetchOptions = {},
): Promise<KubernetesBinaries> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const found = await findKubernetesBinaries(version, source, signal);
  if (found !== undefined) return found;
  await fetchKubernetesBinaries(version, source, options);
  // Found again, so that binaries the operator named still win over the cache.
  const fetched = await findKubernetesBinaries(version, source, signal);
  if (fetched === undefined) {
    throw new HacpError({
      code: ErrorCode.INTERNAL,
      message: `Kubernetes ${version} was fetched into ${versionCacheDir(source, parseKubernetesVersion(version).version)} but is not there.`,
    });
  }
  return fetched;
}

/** A file system failure while filling the cache (no space, no permission) as a HacpError; others as they are. */
function cacheWriteError(error: unknown, source: KubernetesBinarySource): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (isHacpError(error) || typeof code !== 'string') return error;
  return invalidArgument({
    field: 'cacheDir',
    value: source.cacheDir,
    message: `Could not write the Kubernetes binaries into the cache under ${source.cacheDir}: ${(error as Error).message}.`,
    actions: [
      code === 'ENOSPC'
        ? 'Free some space there (each version takes about 200 MB), or set XDG_CACHE_HOME to a folder with room.'
        : 'Make the folder writable, or set XDG_CACHE_HOME to one that is.',
    ],
  });
}

interface ReleaseInput {
  base: URL;
  arch: string;
  version: string;
  staging: string;
  releaseUrl: string;
  options: FetchOptions;
}

async function downloadRelease(input: ReleaseInput): Promise<void> {
  const { base, arch, version, releaseUrl, options } = input;
  const download: DownloadOptions = {
    releaseUrl,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const binaryUrl = (binary: KubernetesBinary) =>
    releaseFileUrl(base, `${version}/bin/linux/${arch}/${binary}`);
  const tarballUrl = releaseFileUrl(base, `${version}/kubernetes-server-linux-${arch}.tar.gz`);

  const firstDigest = await publishedDigest(binaryUrl('kube-apiserver'), download).catch((error: unknown) => {
    // A mirror that has only the tarball: S3-like stores answer 403 for what is not there.
    if (isHacpError(error, ErrorCode.NOT_FOUND) || isHacpError(error, ErrorCode.PERMISSION_DENIED))
      return undefined;
    throw error;
  });
  if (firstDigest !== undefined) {
    for (const binary of KUBERNETES_BINARIES) {
      const url = binaryUrl(binary);
      const expected = binary === 'kube-apiserver' ? firstDigest : await publishedDigest(url, download);
      await downloadBinary({ url, expected, path: join(input.staging, binary), download, options });
    }
    return;
  }
  const expected = await publishedDigest(tarballUrl, download).catch((error: unknown) => {
    if (!isHacpError(error, ErrorCode.NOT_FOUND)) throw error;
    throw new HacpError({
      code: ErrorCode.NOT_FOUND,
      message: `Kubernetes ${version} for linux/${arch} is not at ${displayUrl(base)}: neither ${displayUrl(binaryUrl('kube-apiserver'))}.sha256 nor ${displayUrl(tarballUrl)}.sha256 exists.`,
      actions: locationActions(releaseUrl),
      details: { version, arch, releaseUrl: displayUrl(base) },
      cause: error,
    });
  });
  await extractServerTarball({ url: tarballUrl, expected, staging: input.staging, download, options });
}

/** Reports a download's progress every PROGRESS_STEP_BYTES, and at its start and end. */
function progressOf(file: string, opened: Download, onProgress: FetchOptions['onProgress']) {
  let receivedBytes = 0;
  let reportedBytes = -1;
  const report = () => {
    reportedBytes = receivedBytes;
    onProgress?.({
      file,
      url: displayUrl(opened.url),
      receivedBytes,
      ...(opened.totalBytes === undefined ? {} : { totalBytes: opened.totalBytes }),
    });
  };
  report();
  return {
    add(bytes: number) {
      receivedBytes += bytes;
      if (receivedBytes - reportedBytes >= PROGRESS_STEP_BYTES) report();
    },
    end() {
      if (reportedBytes !== receivedBytes) report();
    },
  };
}

/** Writes `chunks` to a new file `path` (0755) and flushes it to disk. */
async function writeExecutable(
  path: string,
  chunks: AsyncIterable<Buffer>,
  onChunk?: (chunk: Buffer) => void,
) {
  const file = await open(path, 'wx', 0o755);
  try {
    await file.chmod(0o755);
    for await (const chunk of chunks) {
      onChunk?.(chunk);
      await file.write(chunk);
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

async function downloadBinary(input: {
  url: URL;
  expected: string;
  path: string;
  download: DownloadOptions;
  options: FetchOptions;
}): Promise<void> {
  const opened = await openDownload(input.url, input.download);
  const hash = createHash('sha256');
  const progress = progressOf(
    input.url.pathname.split('/').pop() as string,
    opened,
    input.options.onProgress,
  );
  await writeExecutable(input.path, opened.body, (chunk) => {
    hash.update(chunk);
    progress.add(chunk.length);
  });
  progress.end();
  const actual = hash.digest('hex');
  if (actual !== input.expected)
    throw checksumMismatch({ url: opened.url, expected: input.expected, actual });
}

/**
 * Streams the server tarball through gunzip into a tar reader that keeps the three binaries. The
 * digest covers every byte, so the download is read to its end even when the archive turns out
 * unreadable: a damaged download is CHECKSUM_MISMATCH, not a gzip error.
 */
async function extractServerTarball(input: {
  url: URL;
  expected: string;
  staging: string;
  download: DownloadOptions;
  options: FetchOptions;
}): Promise<void> {
  const opened = await openDownload(input.url, input.download);
  const hash = createHash('sha256');
  const progress = progressOf(
    input.url.pathname.split('/').pop() as string,
    opened,
    input.options.onProgress,
  );
  const gunzip = createGunzip();
  // Its errors reach the tar reader through iteration; this keeps a late one from being unhandled.
  gunzip.on('error', () => undefined);
  let settled = false;
  const extraction = extractBinaries(gunzip, input.staging).finally(() => {
    settled = true;
  });
  const extracted = extraction.then(
    (found) => ({ found, error: undefined }),
    (error: unknown) => ({ found: new Set<KubernetesBinary>(), error }),
  );
  try {
    for await (const chunk of opened.body) {
      hash.update(chunk);
      progress.add(chunk.length);
      if (!settled && !gunzip.write(chunk)) {
        await Promise.race([once(gunzip, 'drain').catch(() => undefined), extracted]);
      }
    }
  } catch (error) {
    gunzip.destroy();
    await extracted;
    throw error;
  }
  progress.end();
  gunzip.end();
  const { found, error } = await extracted;
  gunzip.destroy();
  const actual = hash.digest('hex');
  if (actual !== input.expected)
    throw checksumMismatch({ url: opened.url, expected: input.expected, actual });
  if (error !== undefined) {
    throw invalidArgument({
      field: 'releaseUrl',
      value: displayUrl(input.download.releaseUrl),
      message: `${displayUrl(opened.url)} matches its .sha256 but is not a readable gzip'd tar: ${(error as Error).message}.`,
      actions: locationActions(input.download.releaseUrl),
    });
  }
  const missing = KUBERNETES_BINARIES.filter((binary) => !found.has(binary));
  if (missing.length > 0) {
    throw new HacpError({
      code: ErrorCode.NOT_FOUND,
      message: `The server tarball ${displayUrl(opened.url)} holds no ${missing.map((binary) => `${TARBALL_BIN}/${binary}`).join(', ')}.`,
      actions: locationActions(input.download.releaseUrl),
      details: { url: displayUrl(opened.url), missing },
    });
  }
}

/** Writes the tarball's three binaries into `dir`; stops reading once it has them all. */
async function extractBinaries(archive: AsyncIterable<Buffer>, dir: string): Promise<Set<KubernetesBinary>> {
  const found = new Set<KubernetesBinary>();
  for await (const entry of readTar(archive)) {
    const binary = KUBERNETES_BINARIES.find((name) => entry.path === `${TARBALL_BIN}/${name}`);
    if (binary === undefined || entry.type !== 'file' || found.has(binary)) continue;
    await writeExecutable(join(dir, binary), entry.body);
    found.add(binary);
    // The official tarball holds much more (kubelet, kubectl, image archives): no need to unpack it.
    if (found.size === KUBERNETES_BINARIES.length) break;
  }
  return found;
}
