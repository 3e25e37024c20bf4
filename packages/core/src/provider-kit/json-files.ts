import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, HacpError } from '../errors.js';

/** Folders hold keys and state: only the owner may enter them. */
export const DIR_MODE = 0o700;

/** Creates a folder (and its parents) with mode 0700, and sets 0700 on it when it existed. */
export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: DIR_MODE });
  await chmod(path, DIR_MODE);
}

/**
 * Replaces a file atomically: a temporary file with the final mode in the same folder, fsync,
 * rename, then fsync of the folder, so that a reader, or a crash, sees the old or the new contents,
 * never a mix.
 */
export async function writeFileAtomically(path: string, contents: string, mode = 0o600): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', mode);
  try {
    // The umask trims the mode open() gives; set it exactly.
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

/** The names in a folder, sorted; none when it does not exist. */
export async function listFolder(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** STATE_CORRUPT for a file that cannot be read; the file is left as it is, for the operator. */
export function stateCorrupt(path: string, why: string, cause?: unknown): HacpError {
  return new HacpError({
    code: ErrorCode.STATE_CORRUPT,
    message: `${path} cannot be read: ${why}. It was left untouched.`,
    actions: [`Look at ${path}: restore it from a backup, or move it away if you know it is not needed.`],
    details: { path },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** JSON state files of one format, written by one program. */
export interface JsonFiles {
  /** The format number every file is written with. */
  readonly format: number;
  /**
   * A file written by `write`; undefined when it does not exist.
   * @throws HacpError STATE_CORRUPT when it is not a JSON object with a format number, or has a
   *   newer format. The file is left untouched.
   */
  read<T extends object>(path: string): Promise<T | undefined>;
  /** Writes `{ format, ...body }` atomically as JSON, 0600. */
  write(path: string, body: object): Promise<void>;
  /** Every `*.json` file of a folder, in name order; none when the folder does not exist. */
  readFolder<T extends object>(dir: string): Promise<T[]>;
}

/**
 * The JSON files of a state folder. `writer` names the program in the STATE_CORRUPT of a file
 * written by a newer format, so that the operator knows what to upgrade.
 *
 * @example
 * const files = jsonFiles({ writer: 'hacp' });
 * await files.write('/tmp/state/record.json', { name: 'a' });
 * const record = await files.read<{ name: string }>('/tmp/state/record.json');
 */
export function jsonFiles(options: { writer: string; format?: number }): JsonFiles {
  const format = options.format ?? 1;

  async function read<T extends object>(path: string): Promise<T | undefined> {
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
    const written = (body as { format?: unknown }).format;
    if (typeof written !== 'number' || !Number.isInteger(written)) {
      throw stateCorrupt(path, 'it has no format number');
    }
    if (written > format) {
      throw new HacpError({
        code: ErrorCode.STATE_CORRUPT,
        message: `${path} was written by a newer ${options.writer} (format ${written}; this one reads up to ${format}). It was left untouched.`,
        actions: [`Upgrade ${options.writer} to the version that wrote it.`],
        details: { path, format: written, supportedFormat: format },
      });
    }
    return body as T;
  }

  return {
    format,
    read,
    async write(path, body) {
      await writeFileAtomically(path, `${JSON.stringify({ format, ...body }, null, 2)}\n`);
    },
    async readFolder<T extends object>(dir: string) {
      const bodies: T[] = [];
      for (const name of (await listFolder(dir)).filter((entry) => entry.endsWith('.json'))) {
        const body = await read<T>(join(dir, name));
        if (body !== undefined) bodies.push(body);
      }
      return bodies;
    },
  };
}
