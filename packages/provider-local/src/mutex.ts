import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, rename, rm } from 'node:fs/promises';
import { ErrorCode, HacpError } from '@hacp/core';
import { isAlive, type ProcessRecord } from './processes.js';

/** This process, as a ProcessRecord, so other processes can tell whether it still runs. */
export function selfRecord(): ProcessRecord {
  let startTime: string | undefined;
  try {
    const text = readFileSync('/proc/self/stat', 'utf8');
    startTime = text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    startTime = undefined;
  }
  return {
    pid: process.pid,
    ...(startTime === undefined ? {} : { startTime }),
    command: process.argv0,
    startedAt: new Date().toISOString(),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A cross-process mutex over a state folder: a file created with O_EXCL that names its holder. It
 * guards short read-modify-write sections (compare-and-swap, lock takeover, record claims), never
 * slow work. A file whose holder process has died is taken over; a live holder is waited for.
 *
 * @throws HacpError UNAVAILABLE (retryable) when it stays held for `timeoutMs`.
 */
export async function withMutex<T>(path: string, work: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const me = JSON.stringify({ ...selfRecord(), token: randomBytes(8).toString('hex') });
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(me);
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    await takeOverIfHolderDied(path);
    if (Date.now() >= deadline) {
      throw new HacpError({
        code: ErrorCode.UNAVAILABLE,
        message: `The state folder stayed busy for ${timeoutMs} ms (${path} is held by another hacp process).`,
        actions: [
          'Retry in a moment; if it persists, check which process holds it (its pid is in the file).',
        ],
        details: { path },
        retryable: true,
      });
    }
    await sleep(delay);
    delay = Math.min(50, delay * 2);
  }
  try {
    return await work();
  } finally {
    // Remove only our own file: compare before removing.
    try {
      if ((await readFile(path, 'utf8')) === me) await rm(path, { force: true });
    } catch {
      // already gone
    }
  }
}

async function takeOverIfHolderDied(path: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return;
  }
  let holder: ProcessRecord | undefined;
  try {
    holder = JSON.parse(text) as ProcessRecord;
  } catch {
    // Being written right now (open and write are two steps): give it time.
    return;
  }
  if (typeof holder?.pid !== 'number' || isAlive(holder)) return;
  const moved = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, moved);
  } catch {
    return;
  }
  // Another process may have replaced the stale file between our read and the rename: if what we
  // moved is not what we judged stale, put it back (link fails if someone took the path meanwhile).
  try {
    if ((await readFile(moved, 'utf8')) !== text) await link(moved, path).catch(() => undefined);
  } finally {
    await rm(moved, { force: true });
  }
}
