/** The add-on folder: every manifest file under it, parsed, a bad file reported without hiding the rest. */
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isHacpError } from '@hacp/core';
import { type AddonObject, parseAddonManifests } from './manifests.js';

/** Extensions kubectl reads from a folder. */
const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

/** What {@link readAddonFolder} found. */
export interface AddonFolder {
  /** False when the folder does not exist: an empty set, and a reason not to prune anything. */
  exists: boolean;
  /** Each manifest file that parsed, by its path relative to the folder, in the order applied. */
  files: { file: string; objects: AddonObject[] }[];
  /** Files (or the folder) that could not be read or parsed, with why. */
  problems: { file: string; message: string }[];
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describe(error: unknown): string {
  if (isHacpError(error)) return error.message;
  const code = errorCode(error);
  return code === undefined ? String(error) : `it cannot be read (${code}).`;
}

/**
 * The manifest files under `dir`, depth first with the entries of each folder sorted by name, as
 * kubectl's `--recursive` walks them. Symbolic links are followed to files, not to folders.
 */
async function manifestFiles(
  dir: string,
  root: string,
  problems: AddonFolder['problems'],
): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    problems.push({ file: relative(root, dir) || '.', message: describe(error) });
    return [];
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await manifestFiles(path, root, problems)));
    else if (
      (entry.isFile() || entry.isSymbolicLink()) &&
      MANIFEST_EXTENSIONS.some((e) => entry.name.endsWith(e))
    )
      files.push(path);
  }
  return files;
}

/**
 * Reads the add-on folder: every `*.yaml`, `*.yml` and `*.json` file under it (subfolders too,
 * as kube-addon-manager's `kubectl apply --recursive`), in name order, each parsed with
 * {@link parseAddonManifests}. A file that cannot be read or parsed is reported in `problems` and
 * the others are still returned. A missing folder is an empty set with `exists: false`.
 *
 * @example
 * const { files, problems } = await readAddonFolder('/etc/kubernetes/addons');
 * const objects = files.flatMap((f) => f.objects);
 */
export async function readAddonFolder(dir: string): Promise<AddonFolder> {
  const problems: AddonFolder['problems'] = [];
  try {
    await readdir(dir);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { exists: false, files: [], problems };
  }
  const files: AddonFolder['files'] = [];
  for (const path of await manifestFiles(dir, dir, problems)) {
    const file = relative(dir, path);
    try {
      files.push({ file, objects: parseAddonManifests(await readFile(path, 'utf8'), file) });
    } catch (error) {
      problems.push({ file, message: describe(error) });
    }
  }
  return { exists: true, files, problems };
}
