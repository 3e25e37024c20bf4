import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { ErrorCode, HacpError } from '@hacp/core';

/** Folders hold keys and state: only the owner may enter them. */
export const DIR_MODE = 0o700;

/** The format of every JSON file Example Cloud writes; a newer one is refused, never reset. */
export const STATE_FORMAT = 1;

/** Creates a folder (and its parents) 0700, and sets 0700 on it when it existed already. */
export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: DIR_MODE });
  await chmod(path, DIR_MODE);
}

/**
 * Replaces a file atomically: a temporary file with the final mode in the same folder, then a
 * rename, so a reader (or a crash) sees the old or the new contents, never a mix.
 */
export async function writeFileAtomically(path: string, contents: string, mode = 0o600): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', mode);
  try {
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
}

/** Writes `{ format, ...body }` atomically as JSON, 0600. */
export async function writeJsonFile(path: string, body: object): Promise<void> {
  await writeFileAtomically(path, `${JSON.stringify({ format: STATE_FORMAT, ...body }, null, 2)}\n`);
}

/** STATE_CORRUPT for a file that cannot be read; the file is left as it is. */
export function stateCorrupt(path: string, why: string, cause?: unknown): HacpError {
  return new HacpError({
    code: ErrorCode.STATE_CORRUPT,
    message: `${path} cannot be read: ${why}. It was left untouched.`,
    actions: [`Look at ${path}: restore it from a backup, or move it away if you know it is not needed.`],
    details: { path },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Reads a JSON file written by writeJsonFile; undefined when it does not exist.
 *
 * @throws HacpError STATE_CORRUPT when it is not a JSON object with a format number, or has a newer
 *   format. The file is left untouched, for the operator to look at.
 */
export async function readJsonFile<T extends object>(path: string): Promise<T | undefined> {
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
      message: `${path} was written by a newer hacp-provider-example (format ${format}; this one reads up to ${STATE_FORMAT}). It was left untouched.`,
      actions: ['Upgrade hacp-provider-example to the version that wrote it.'],
      details: { path, format, supportedFormat: STATE_FORMAT },
    });
  }
  return body as T;
}

/** The names in a folder; none when it does not exist. */
export async function listFolder(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
