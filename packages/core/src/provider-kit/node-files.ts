import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { chmod, lstat, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { invalidArgument } from '../errors.js';
import { assertNodeConfig, type NodeConfig, type NodeFile } from '../node-config.js';
import { isSecret } from '../redact.js';
import { ensureDir, writeFileAtomically } from './json-files.js';

function contentsOf(file: NodeFile): string {
  // A Secret is revealed here only: into a hash, or into its own file with its own mode.
  return isSecret(file.contents) ? file.contents.reveal() : file.contents;
}

/**
 * A digest of what a NodeConfig makes, with `extra` (cluster, zone, labels, resolved programs):
 * equal digests mean the same instance. Secrets count by their own digest and appear nowhere.
 */
export function nodeConfigDigest(config: NodeConfig, extra: unknown): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(extra));
  for (const file of config.files) {
    const contents = createHash('sha256').update(contentsOf(file)).digest('hex');
    hash.update(JSON.stringify([file.path, file.mode, contents]));
  }
  hash.update(JSON.stringify(config.processes));
  return hash.digest('hex');
}

/** Writes the NodeConfig's files under `root`: folders 0700, each file with its own mode. */
export async function writeNodeFiles(root: string, config: NodeConfig): Promise<void> {
  await ensureDir(root);
  for (const file of config.files) {
    const target = join(root, file.path);
    await ensureDir(dirname(target));
    const handle = await open(target, 'w', file.mode);
    try {
      await handle.writeFile(contentsOf(file));
      await handle.sync();
    } finally {
      await handle.close();
    }
    // open() keeps the mode of a file that existed, and the umask trims a new one: set it.
    await chmod(target, file.mode);
  }
}

/** What `instances.syncFiles` makes a folder of an instance hold. */
export interface FileUpdate {
  /** A folder relative to the instance root, such as `addons`. */
  prefix: string;
  /** Every file that folder holds afterwards; each path starts with `<prefix>/`. */
  files: readonly NodeFile[];
}

// NodeConfig's rule for paths (@hacp/core): safe segments joined by single slashes, no `.` or `..`.
const SAFE_PATH = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/**
 * Checks a syncFiles update: a safe relative prefix, files valid as NodeConfig files (paths, modes,
 * no duplicates), each inside `<prefix>/`, and no path that is also another's folder.
 *
 * @throws HacpError INVALID_ARGUMENT naming the offending field.
 */
export function assertFileUpdate(update: FileUpdate): void {
  if (typeof update?.prefix !== 'string' || !SAFE_PATH.test(update.prefix)) {
    throw invalidArgument({
      field: 'prefix',
      message: `The prefix ${JSON.stringify(update?.prefix)} must be a relative folder such as addons, without empty, "." or ".." parts.`,
    });
  }
  if (!Array.isArray(update.files)) {
    throw invalidArgument({ field: 'files', message: 'files must be a list of files.' });
  }
  assertNodeConfig({ files: update.files, processes: [] });
  const paths = new Set(update.files.map((file) => file.path));
  for (const [index, file] of update.files.entries()) {
    if (!file.path.startsWith(`${update.prefix}/`)) {
      throw invalidArgument({
        field: `files[${index}].path`,
        value: file.path,
        message: `File path "${file.path}" is outside the folder "${update.prefix}": each path must start with "${update.prefix}/".`,
      });
    }
    for (let folder = dirname(file.path); folder !== update.prefix; folder = dirname(folder)) {
      if (paths.has(folder)) {
        throw invalidArgument({
          field: `files[${index}].path`,
          value: file.path,
          message: `"${folder}" cannot be both a file and the folder of "${file.path}".`,
        });
      }
    }
  }
}

/** Whether `path` is a regular file with exactly these bytes and this mode. */
async function holds(path: string, contents: string, mode: number): Promise<boolean> {
  try {
    const info = await lstat(path);
    if (!info.isFile() || (info.mode & 0o777) !== mode) return false;
    return (await readFile(path, 'utf8')) === contents;
  } catch {
    return false;
  }
}

/** Creates (or sets) every folder from `root` down to `folder` with mode 0700. */
async function ensureFolders(root: string, folder: string): Promise<void> {
  let path = root;
  for (const part of relative(root, folder).split('/')) {
    path = join(path, part);
    await ensureDir(path);
  }
}

/** Removes what is under `folder` and is neither a wanted file nor a folder holding one. */
async function removeOthers(root: string, folder: string, wanted: ReadonlySet<string>): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const path = join(folder, entry.name);
    const relativePath = relative(root, path);
    // Dirent types come from lstat: a symbolic link is never followed, only removed.
    if (entry.isDirectory() && [...wanted].some((file) => file.startsWith(`${relativePath}/`))) {
      removed.push(...(await removeOthers(root, path, wanted)));
    } else if (entry.isDirectory() || !wanted.has(relativePath)) {
      await rm(path, { recursive: true, force: true });
      removed.push(relativePath);
    }
  }
  return removed;
}

/**
 * Makes `<root>/<prefix>/` hold exactly `update.files`: new and changed files are written
 * atomically with their modes in 0700 folders, unchanged ones are left alone, then everything else
 * there is removed. Writing before removing means a reader of the folder (an add-on manager) never
 * sees a file missing that stays.
 *
 * @returns the paths written and removed, relative to `root`.
 */
export async function syncFolder(
  root: string,
  update: FileUpdate,
): Promise<{ written: string[]; removed: string[] }> {
  const folder = join(root, update.prefix);
  // Something that is not a folder where the folder goes (a stray file) cannot hold the files.
  if ((await lstat(folder).catch(() => undefined))?.isDirectory() === false)
    await rm(folder, { force: true });
  const written = await writeChangedFiles(root, update.files);
  const removed = await removeOthers(root, folder, new Set(update.files.map((file) => file.path)));
  return { written, removed };
}

/**
 * Writes each of `files` under `root` that does not hold its contents and mode already, atomically,
 * in 0700 folders; other files stay. What `instances.writeFiles` does, and syncFolder before it removes.
 *
 * @returns the paths written, relative to `root`.
 */
export async function writeChangedFiles(root: string, files: readonly NodeFile[]): Promise<string[]> {
  const written: string[] = [];
  for (const file of files) {
    const target = join(root, file.path);
    const contents = contentsOf(file);
    if (await holds(target, contents, file.mode)) continue;
    await ensureFolders(root, dirname(target));
    // A folder left where a file now goes (by an earlier update) is replaced by the file.
    if ((await lstat(target).catch(() => undefined))?.isDirectory()) {
      await rm(target, { recursive: true, force: true });
    }
    await writeFileAtomically(target, contents, file.mode);
    written.push(file.path);
  }
  return written;
}

/**
 * Every regular file under `<root>/<prefix>/`, with its path relative to `root`, its mode and its
 * contents, in path order; none when the folder does not exist. What syncFolder made there, as the
 * conformance kit's `readFiles` reads it.
 */
export async function readFilesUnder(
  root: string,
  prefix: string,
): Promise<{ path: string; mode: number; contents: string }[]> {
  const entries = await readdir(join(root, prefix), { recursive: true, withFileTypes: true }).catch(() => []);
  const files: { path: string; mode: number; contents: string }[] = [];
  for (const entry of entries.filter((candidate) => candidate.isFile())) {
    const path = join(entry.parentPath, entry.name);
    files.push({
      path: relative(root, path),
      mode: (await stat(path)).mode & 0o777,
      contents: await readFile(path, 'utf8'),
    });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
