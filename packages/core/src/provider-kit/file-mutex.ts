import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, HacpError } from '../errors.js';
import { isAlive, type ProcessRecord, selfRecord } from './processes.js';
import { sleep } from './sleep.js';

/** How FileMutex waits and when it takes a file over. */
export interface FileMutexOptions {
  /** How long a live holder is waited for before UNAVAILABLE. Default 15 s. */
  timeoutMs?: number;
  /**
   * How old a file that names no holder (empty or unreadable: left by a writer that died while
   * writing it) must be before it is taken over. Default 2 s.
   */
  unnamedHolderGraceMs?: number;
}

/**
 * A mutex for other processes and for this one: a file that names its holder (pid and start
 * time), created whole or not at all (written to a temporary file, then hard-linked into place, which
 * fails when the path exists), so that no holder ever leaves it empty. It guards short
 * read-modify-write sections, never slow work.
 *
 * A file whose holder has exited is taken over at once; one that names no holder (an older writer
 * died between creating and writing it) once it is older than a short grace. A live holder is
 * waited for. Within one process, callers queue first, so they do not poll the file against each
 * other.
 *
 * @example
 * const mutex = new FileMutex('/tmp/state/.mutex');
 * await mutex.run(async () => {
 *   // read, change and write records here
 * });
 */
export class FileMutex {
  readonly path: string;
  readonly #timeoutMs: number;
  readonly #unnamedHolderGraceMs: number;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string, options: FileMutexOptions = {}) {
    this.path = path;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#unnamedHolderGraceMs = options.unnamedHolderGraceMs ?? 2_000;
  }

  /**
   * Runs `work` while holding the mutex. Never call it again from inside `work`: that would wait
   * for itself.
   *
   * @throws HacpError UNAVAILABLE (retryable) when another process holds it for `timeoutMs`; the
   *   holder's file is left alone.
   */
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(() => this.#runHeld(work));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #runHeld<T>(work: () => Promise<T>): Promise<T> {
    const me = JSON.stringify({ ...selfRecord(), token: randomBytes(8).toString('hex') });
    await this.#acquire(me);
    try {
      return await work();
    } finally {
      // Remove only our own file: another process may have taken over a file it judged stale.
      try {
        if ((await readFile(this.path, 'utf8')) === me) await rm(this.path, { force: true });
      } catch {
        // Gone already.
      }
    }
  }

  async #acquire(me: string): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    let delay = 2;
    for (;;) {
      if (await this.#create(me)) return;
      await this.#takeOverIfStale();
      if (Date.now() >= deadline) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `The state folder stayed busy for ${this.#timeoutMs} ms: ${this.path} is held by another process.`,
          actions: ['Retry in a moment. If it persists, the pid of the holder is in that file.'],
          details: { path: this.path },
          retryable: true,
        });
      }
      await sleep(delay);
      delay = Math.min(50, delay * 2);
    }
  }

  /** Creates the file holding `me`, whole; false when it exists. */
  async #create(me: string): Promise<boolean> {
    const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, me, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // A new (or removed) state folder: make the mutex's folder, then try again.
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      return false;
    }
    try {
      await link(temporary, this.path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async #takeOverIfStale(): Promise<void> {
    let text: string;
    let modifiedAt: number;
    try {
      text = await readFile(this.path, 'utf8');
      modifiedAt = (await stat(this.path)).mtimeMs;
    } catch {
      return;
    }
    let holder: Partial<ProcessRecord> | undefined;
    try {
      holder = JSON.parse(text) as Partial<ProcessRecord>;
    } catch {
      holder = undefined;
    }
    const stale =
      typeof holder?.pid === 'number'
        ? !isAlive(holder as ProcessRecord)
        : Date.now() - modifiedAt > this.#unnamedHolderGraceMs;
    if (!stale) return;
    const moved = `${this.path}.${randomBytes(6).toString('hex')}.stale`;
    try {
      await rename(this.path, moved);
    } catch {
      return;
    }
    // Another process may have replaced the stale file between our read and the rename: when what
    // was moved is not what was judged stale, put it back (link fails if the path was taken since).
    try {
      if ((await readFile(moved, 'utf8')) !== text) await link(moved, this.path).catch(() => undefined);
    } finally {
      await rm(moved, { force: true });
    }
  }
}
