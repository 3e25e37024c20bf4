import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  assertExpectedVersion,
  assertLockRequest,
  assertStateKey,
  ErrorCode,
  HacpError,
  invalidArgument,
  type Logger,
  type MutationOptions,
  type ReadOptions,
  type StateLock,
  type StateRecord,
  type StateStore,
  throwIfAborted,
} from '@hacp/core';
import { ensureDir, listFolder, readJsonFile, stateCorrupt, writeJsonFile } from './files.js';
import type { FileMutex } from './mutex.js';

interface StoredRecord {
  key: string;
  version: number;
  value: unknown;
  /** The put that wrote it, so that the same put retried after a lost answer succeeds again. */
  requestId: string;
  updatedAt: string;
}

interface StoredLock {
  name: string;
  holder: string;
  token: string;
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

/**
 * Example Cloud's state store: one JSON file per record (0600, in 0700 folders), replaced
 * atomically, with a version for compare-and-swap; one file per lock naming its holder and expiry.
 * Every read-modify-write runs under the state folder's cross-process mutex, so two hacp processes
 * never both win a race. A file that cannot be read is STATE_CORRUPT and is never overwritten.
 */
export function createFileStateStore(options: {
  recordsDir: string;
  locksDir: string;
  mutex: FileMutex;
  logger: Logger;
}): StateStore {
  const { recordsDir, locksDir, mutex, logger } = options;

  async function readRecord(key: string): Promise<StoredRecord | undefined> {
    const path = join(recordsDir, fileNameOf(key));
    const body = await readJsonFile<Partial<StoredRecord>>(path);
    if (body === undefined) return undefined;
    if (
      body.key !== key ||
      typeof body.version !== 'number' ||
      !Number.isInteger(body.version) ||
      body.version < 1 ||
      !('value' in body)
    ) {
      throw stateCorrupt(path, `it is not the state record of ${key} (its key, version or value is wrong)`);
    }
    return body as StoredRecord;
  }

  async function readLock(path: string): Promise<StoredLock | undefined> {
    const body = await readJsonFile<Partial<StoredLock>>(path);
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

  const toRecord = <T>(stored: StoredRecord): StateRecord<T> => ({
    key: stored.key,
    version: stored.version,
    value: structuredClone(stored.value) as T,
  });

  return {
    async get<T>(key: string, readOptions?: ReadOptions) {
      throwIfAborted(readOptions?.signal);
      assertStateKey('key', key);
      const stored = await readRecord(key);
      return stored === undefined ? undefined : toRecord<T>(stored);
    },

    async put<T>(key: string, value: T, mutation: MutationOptions & { expectedVersion: number }) {
      throwIfAborted(mutation.signal);
      assertStateKey('key', key);
      assertExpectedVersion(mutation.expectedVersion);
      let json: string | undefined;
      try {
        json = JSON.stringify(value);
      } catch (error) {
        throw invalidArgument({
          field: 'value',
          message: `The value for ${key} is not JSON: ${String(error)}`,
        });
      }
      if (json === undefined) {
        throw invalidArgument({ field: 'value', message: `The value for ${key} cannot be stored as JSON.` });
      }
      // A copy taken now: the caller's object is theirs to change after put returns.
      const written = JSON.parse(json) as unknown;
      await ensureDir(recordsDir);
      return mutex.run(async () => {
        const current = await readRecord(key);
        const nextVersion = mutation.expectedVersion + 1;
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
        await writeJsonFile(join(recordsDir, fileNameOf(key)), stored);
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

    async list(prefix: string, readOptions?: ReadOptions) {
      throwIfAborted(readOptions?.signal);
      assertStateKey('prefix', prefix, { allowEmpty: true });
      const keys: string[] = [];
      for (const name of await listFolder(recordsDir)) {
        if (!name.endsWith('.json')) continue;
        if (name.startsWith('k-')) {
          keys.push(decodeURIComponent(name.slice(2, -'.json'.length)));
        } else if (name.startsWith('h-')) {
          // A long key is only in the file: read it (a corrupt one is STATE_CORRUPT, as in get).
          const path = join(recordsDir, name);
          const body = await readJsonFile<Partial<StoredRecord>>(path);
          if (typeof body?.key !== 'string') throw stateCorrupt(path, 'it names no key');
          keys.push(body.key);
        }
      }
      // Code-unit order, the same on every machine (localeCompare depends on the locale).
      return keys.filter((key) => key.startsWith(prefix)).sort();
    },

    async lock(name: string, lockOptions: { holder: string; ttlMs: number; signal?: AbortSignal }) {
      throwIfAborted(lockOptions?.signal);
      assertLockRequest(name, lockOptions?.holder, lockOptions?.ttlMs);
      const { holder, ttlMs } = lockOptions;
      await ensureDir(locksDir);
      const path = join(locksDir, fileNameOf(name));
      const token = randomBytes(12).toString('hex');
      const taken = await mutex.run(async () => {
        const current = await readLock(path);
        const now = Date.now();
        // A live lock is refused to its own holder too: two processes may share a holder name.
        if (current !== undefined && Date.parse(current.expiresAt) > now) throw locked(name, current);
        if (current !== undefined) {
          logger.info('taking over an expired lock', { lock: name, holder: current.holder });
        }
        const stored: StoredLock = {
          name,
          holder,
          token,
          acquiredAt: new Date(now).toISOString(),
          expiresAt: new Date(now + ttlMs).toISOString(),
        };
        await writeJsonFile(path, stored);
        return stored;
      });

      let expiresAt = new Date(taken.expiresAt);
      const lock: StateLock = {
        name,
        holder,
        get expiresAt() {
          return expiresAt;
        },
        async renew() {
          await mutex.run(async () => {
            const current = await readLock(path);
            // Expired but taken by no one is still ours; taken by another holder, it is lost.
            if (current?.token !== token) {
              throw new HacpError({
                code: ErrorCode.LOCKED,
                message: current
                  ? `Lock ${name} was lost: it expired and ${current.holder} holds it now.`
                  : `Lock ${name} was lost: it is no longer held.`,
                actions: ['Stop the operation: its state may have changed. Run it again to continue.'],
                details: {
                  lock: name,
                  ...(current ? { holder: current.holder, expiresAt: current.expiresAt } : {}),
                },
                retryable: false,
              });
            }
            const next = new Date(Date.now() + ttlMs);
            await writeJsonFile(path, { ...current, expiresAt: next.toISOString() });
            expiresAt = next;
          });
        },
        async release() {
          await mutex.run(async () => {
            const current = await readLock(path).catch(() => undefined);
            if (current?.token === token) await rm(path, { force: true });
          });
        },
      };
      return lock;
    },
  };
}
