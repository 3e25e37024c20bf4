import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, HacpError } from '@hacp/core';
import { isAlive, type ProcessRecord, selfRecord } from './processes.js';

/** How long a mutex file that names no holder (its writer died between open and write) is waited for. */
const UNNAMED_HOLDER_GRACE_MS = 5_000;

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * A mutex over part of the state folder, for other processes and for this one: a file created with
 * O_EXCL (`open(path, 'wx')`) naming its holder's pid and start time. It guards short
 * read-modify-write sections, never slow work. A file whose holder process has died is taken over.
 * Within one process, callers queue first, so they do not poll the file against each other.
 */
export class FileMutex {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly timeoutMs = 15_000,
  ) {}

  /**
   * Runs `work` while holding the mutex. Never call it again from inside `work`: that would wait
   * for itself.
   *
   * @throws HacpError UNAVAILABLE (retryable) when another process holds it for `timeoutMs`.
   */
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(() => this.#runLocked(work));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #runLocked<T>(work: () => Promise<T>): Promise<T> {
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
    const deadline = Date.now() + this.timeoutMs;
    let delay = 2;
    for (;;) {
      try {
        const handle = await open(this.path, 'wx', 0o600);
        try {
          await handle.writeFile(me);
        } finally {
          await handle.close();
        }
        return;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          // The state folder is new (or was removed): make the mutex's folder and try again.
          await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
          continue;
        }
        if (code !== 'EEXIST') throw error;
      }
      await this.#takeOverIfStale();
      if (Date.now() >= deadline) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `The state folder stayed busy for ${this.timeoutMs} ms: ${this.path} is held by another process.`,
          actions: ['Retry in a moment. If it persists, the pid of the holder is in that file.'],
          details: { path: this.path },
          retryable: true,
        });
      }
      await sleep(delay);
      delay = Math.min(50, delay * 2);
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
    let holder: ProcessRecord | undefined;
    try {
      holder = JSON.parse(text) as ProcessRecord;
    } catch {
      holder = undefined;
    }
    const stale =
      typeof holder?.pid === 'number'
        ? !isAlive(holder)
        : // Being written right now, or its writer died before writing: wait a little first.
          Date.now() - modifiedAt > UNNAMED_HOLDER_GRACE_MS;
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
