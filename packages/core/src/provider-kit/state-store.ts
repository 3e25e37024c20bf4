import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ErrorCode, HacpError, invalidArgument } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MutationOptions, ReadOptions, StateLock, StateRecord, StateStore } from '../provider.js';
import {
  assertExpectedVersion,
  assertLockRequest,
  assertStateKey,
  throwIfAborted,
} from '../provider-input.js';
import type { FileMutex } from './file-mutex.js';
import { ensureDir, type JsonFiles, listFolder, stateCorrupt } from './json-files.js';
import { isAlive, type ProcessRecord, selfRecord } from './processes.js';

/** Where createFileStateStore keeps what. */
export interface FileStateStoreSettings {
  /** One file per record. */
  recordsDir: string;
  /** One file per lock. */
  locksDir: string;
  /** Guards every read-modify-write; the provider's own records may share it. */
  mutex: FileMutex;
  files: JsonFiles;
  logger: Logger;
}

interface StoredRecord {
  key: string;
  version: number;
  value: unknown;
  /** The put that wrote it, so that the same put retried after a lost answer succeeds again. */
  requestId?: string;
  updatedAt: string;
}

interface StoredLock {
  name: string;
  holder: string;
  token: string;
  /** The process that took it: a lock whose process has exited is free before its expiry. */
  process?: ProcessRecord;
  acquiredAt: string;
  expiresAt: string;
}

/** A file name for a key: readable where it can be, a digest where the key is too long for one. */
function fileNameOf(key: string): string {
  const encoded = encodeURIComponent(key);
  return encoded.length <= 200
    ? `k-${encoded}.json`
    : `h-${createHash('sha256').update(key).digest('hex')}.json`;
}

function conflict(key: string, expectedVersion: number, actualVersion: number): HacpError {
  return new HacpError({
    code: ErrorCode.CONFLICT,
    message:
      actualVersion === 0
        ? `State record ${key} does not exist (expected version ${expectedVersion}); nothing was written.`
        : `State record ${key} is at version ${actualVersion}, not ${expectedVersion}: someone else wrote it first. Nothing was written.`,
    actions: ['Read it again and retry the change on the version read.'],
    details: { key, expectedVersion, actualVersion },
  });
}

function locked(name: string, current: StoredLock): HacpError {
  return new HacpError({
    code: ErrorCode.LOCKED,
    message: `Lock ${name} is held by ${current.holder} until ${current.expiresAt}.`,
    actions: [
      'Wait for that operation to finish, then retry.',
      `If it is no longer running, the lock frees itself at ${current.expiresAt}.`,
    ],
    details: { lock: name, holder: current.holder, expiresAt: current.expiresAt },
  });
}

function lost(name: string, current: StoredLock | undefined): HacpError {
  return new HacpError({
    code: ErrorCode.LOCKED,
    message: current
      ? `Lock ${name} was lost: it expired and ${current.holder} holds it now.`
      : `Lock ${name} was lost: it is no longer held.`,
    actions: ['Stop the operation: its state may have changed. Run it again to continue.'],
    details: { lock: name, ...(current ? { holder: current.holder, expiresAt: current.expiresAt } : {}) },
    retryable: false,
  });
}

/** The lock file at `path`; STATE_CORRUPT when it is not one. */
async function readLock(files: JsonFiles, path: string): Promise<StoredLock | undefined> {
  const body = await files.read<Partial<StoredLock>>(path);
  if (body === undefined) return undefined;
  if (
    typeof body.token !== 'string' ||
    typeof body.holder !== 'string' ||
    typeof body.expiresAt !== 'string' ||
    Number.isNaN(Date.parse(body.expiresAt))
  ) {
    throw stateCorrupt(path, 'it is not a lock file');
  }
  return body as StoredLock;
}

/** The handle of a lock just taken: it renews and releases only while the file is still its own. */
function heldLock(
  taken: { name: string; holder: string; ttlMs: number; path: string; token: string; expiresAt: string },
  { mutex, files }: { mutex: FileMutex; files: JsonFiles },
): StateLock {
  const { name, path, token, ttlMs } = taken;
  const read = () => readLock(files, path);
  let expiresAt = new Date(taken.expiresAt);
  return {
    name,
    holder: taken.holder,
    get expiresAt() {
      return expiresAt;
    },
    async renew() {
      await mutex.run(async () => {
        const current = await read();
        // Expired but taken by no one is still ours; taken by another holder, it is lost.
        if (current?.token !== token) throw lost(name, current);
        const next = new Date(Date.now() + ttlMs);
        await files.write(path, { ...current, expiresAt: next.toISOString() });
        expiresAt = next;
      });
    },
    async release() {
      await mutex.run(async () => {
        const current = await read().catch(() => undefined);
        if (current?.token === token) await rm(path, { force: true });
      });
    },
  };
}

/** The JSON a value is stored as, or INVALID_ARGUMENT. */
function jsonOf(key: string, value: unknown): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw invalidArgument({ field: 'value', message: `The value for ${key} is not JSON: ${String(error)}` });
  }
  if (json === undefined) {
    throw invalidArgument({ field: 'value', message: `The value for ${key} cannot be stored as JSON.` });
  }
  // A copy taken now: the caller's object is theirs to change after put returns.
  return JSON.parse(json) as unknown;
}

/**
 * A StateStore in a folder: one JSON file per record (0600, in 0700 folders), replaced atomically,
 * with a version for compare-and-swap, and one file per lock naming its holder, its process and its
 * expiry. Every read-modify-write runs under `mutex`, so two processes never both win. A lock is
 * LOCKED while it has not expired and its process still runs; a file that cannot be read is
 * STATE_CORRUPT and is never overwritten.
 *
 * @example
 * const files = jsonFiles({ writer: 'hacp' });
 * const state = createFileStateStore({
 *   recordsDir: '/tmp/state/records', locksDir: '/tmp/state/locks',
 *   mutex: new FileMutex('/tmp/state/.mutex'), files, logger: noopLogger,
 * });
 * await state.put('cluster', { replicas: 1 }, { requestId: 'r1', expectedVersion: 0 });
 */
export function createFileStateStore(settings: FileStateStoreSettings): StateStore {
  const { recordsDir, locksDir, mutex, files, logger } = settings;

  async function readRecord(key: string): Promise<StoredRecord | undefined> {
    const path = join(recordsDir, fileNameOf(key));
    const body = await files.read<Partial<StoredRecord>>(path);
    if (body === undefined) return undefined;
    if (
      body.key !== key ||
      !Number.isInteger(body.version) ||
      (body.version as number) < 1 ||
      !('value' in body)
    ) {
      throw stateCorrupt(path, `it is not the state record of ${key} (its key, version or value is wrong)`);
    }
    return body as StoredRecord;
  }

  const toRecord = <T>(stored: StoredRecord): StateRecord<T> => ({
    key: stored.key,
    version: stored.version,
    value: structuredClone(stored.value) as T,
  });

  async function take(
    name: string,
    holder: string,
    ttlMs: number,
  ): Promise<{ path: string; stored: StoredLock }> {
    const path = join(locksDir, fileNameOf(name));
    const stored = await mutex.run(async () => {
      const current = await readLock(files, path);
      const now = Date.now();
      if (current !== undefined && Date.parse(current.expiresAt) > now) {
        // Refused to its own holder name too: two processes may share a holder name.
        if (current.process === undefined || isAlive(current.process)) throw locked(name, current);
        logger.warn('taking over a lock whose holder process has exited', {
          lock: name,
          holder: current.holder,
          pid: current.process.pid,
        });
      }
      const next: StoredLock = {
        name,
        holder,
        token: randomBytes(12).toString('hex'),
        process: selfRecord(),
        acquiredAt: new Date(now).toISOString(),
        expiresAt: new Date(now + ttlMs).toISOString(),
      };
      await files.write(path, next);
      return next;
    });
    return { path, stored };
  }

  return {
    async get<T>(key: string, options?: ReadOptions) {
      throwIfAborted(options?.signal);
      assertStateKey('key', key);
      const stored = await readRecord(key);
      return stored === undefined ? undefined : toRecord<T>(stored);
    },

    async put<T>(key: string, value: T, mutation: MutationOptions & { expectedVersion: number }) {
      throwIfAborted(mutation.signal);
      assertStateKey('key', key);
      assertExpectedVersion(mutation.expectedVersion);
      const written = jsonOf(key, value);
      await ensureDir(recordsDir);
      return mutex.run(async () => {
        const current = await readRecord(key);
        const nextVersion = mutation.expectedVersion + 1;
        // The same request retried after it succeeded (a crash before the caller saw the answer).
        if (
          current !== undefined &&
          current.version === nextVersion &&
          current.requestId === mutation.requestId &&
          isDeepStrictEqual(current.value, written)
        ) {
          return toRecord<T>(current);
        }
        const actual = current?.version ?? 0;
        if (actual !== mutation.expectedVersion) throw conflict(key, mutation.expectedVersion, actual);
        const stored: StoredRecord = {
          key,
          version: nextVersion,
          value: written,
          requestId: mutation.requestId,
          updatedAt: new Date().toISOString(),
        };
        await files.write(join(recordsDir, fileNameOf(key)), stored);
        return toRecord<T>(stored);
      });
    },

    async delete(key: string, mutation: MutationOptions & { expectedVersion: number }) {
      throwIfAborted(mutation.signal);
      assertStateKey('key', key);
      assertExpectedVersion(mutation.expectedVersion);
      await ensureDir(recordsDir);
      await mutex.run(async () => {
        const current = await readRecord(key);
        if (current === undefined) return;
        if (current.version !== mutation.expectedVersion) {
          throw conflict(key, mutation.expectedVersion, current.version);
        }
        await rm(join(recordsDir, fileNameOf(key)), { force: true });
      });
    },

    async list(prefix: string, options?: ReadOptions) {
      throwIfAborted(options?.signal);
      assertStateKey('prefix', prefix, { allowEmpty: true });
      const keys: string[] = [];
      for (const name of await listFolder(recordsDir)) {
        if (!name.endsWith('.json')) continue;
        if (name.startsWith('k-')) {
          keys.push(decodeURIComponent(name.slice(2, -'.json'.length)));
        } else if (name.startsWith('h-')) {
          // A long key is only in the file: read it (a corrupt one is STATE_CORRUPT, as in get).
          const path = join(recordsDir, name);
          const body = await files.read<Partial<StoredRecord>>(path);
          if (typeof body?.key !== 'string') throw stateCorrupt(path, 'it names no key');
          keys.push(body.key);
        }
      }
      // Code-unit order, the same on every machine (localeCompare depends on the locale).
      return keys.filter((key) => key.startsWith(prefix)).sort();
    },

    async lock(name: string, options: { holder: string; ttlMs: number; signal?: AbortSignal }) {
      throwIfAborted(options?.signal);
      assertLockRequest(name, options?.holder, options?.ttlMs);
      const { holder, ttlMs } = options;
      await ensureDir(locksDir);
      const { path, stored } = await take(name, holder, ttlMs);
      return heldLock(
        { name, holder, ttlMs, path, token: stored.token, expiresAt: stored.expiresAt },
        { mutex, files },
      );
    },
  };
}
