import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, HacpError } from '@hacp/core';

/** Folders hold keys and state: only the owner may enter them. */
export const DIR_MODE = 0o700;

/** Creates a folder (and its parents) with mode 0700, and sets 0700 on it when it existed. */
export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: DIR_MODE });
  await chmod(path, DIR_MODE);
}

/**
 * Replaces a file atomically: a temporary file with the final mode in the same folder, fsync,
 * rename, then fsync of the folder, so a crash leaves the old or the new contents, never a mix.
 */
export async function writeFileAtomically(path: string, contents: string, mode = 0o600): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.chmod(mode);
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  const folder = await open(dirname(path), 'r');
  try {
    await folder.sync();
  } catch {
    // Some filesystems refuse fsync on a folder; the rename itself is still atomic.
  } finally {
    await folder.close();
  }
}

/** The format of every JSON file the local provider writes; a newer one is refused, never reset. */
export const STATE_FORMAT = 1;

/** Writes `{ format, ...body }` atomically as JSON (0600). */
export async function writeJsonFile(path: string, body: Record<string, unknown>): Promise<void> {
  await writeFileAtomically(path, `${JSON.stringify({ format: STATE_FORMAT, ...body }, null, 2)}\n`);
}

/**
 * Reads a JSON file written by writeJsonFile; undefined when it does not exist.
 *
 * @throws HacpError STATE_CORRUPT when it is not JSON, not an object, or of a newer format: the file
 *   is left as it is, for the operator to look at.
 */
export async function readJsonFile<T extends Record<string, unknown>>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw stateCorrupt(path, 'it is not valid JSON', error);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw stateCorrupt(path, 'it is not a JSON object');
  }
  const format = (body as { format?: unknown }).format;
  if (typeof format !== 'number' || !Number.isInteger(format)) {
    throw stateCorrupt(path, 'it has no format number');
  }
  if (format > STATE_FORMAT) {
    throw new HacpError({
      code: ErrorCode.STATE_CORRUPT,
      message: `${path} was written by a newer hacp (format ${format}; this one reads up to ${STATE_FORMAT}). It was left untouched.`,
      actions: ['Upgrade hacp to the version that wrote it.'],
      details: { path, format, supportedFormat: STATE_FORMAT },
    });
  }
  return body as T;
}

function stateCorrupt(path: string, why: string, cause?: unknown): HacpError {
  return new HacpError({
    code: ErrorCode.STATE_CORRUPT,
    message: `${path} cannot be read: ${why}. It was left untouched.`,
    actions: [`Look at ${path}: restore it from a backup, or move it away if you know it is not needed.`],
    details: { path },
    ...(cause === undefined ? {} : { cause }),
  });
}
