import { createHash, randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
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
import { ensureDir, readJsonFile, writeJsonFile } from './files.js';
import { selfRecord, withMutex } from './mutex.js';
import { isAlive, type ProcessRecord } from './processes.js';

/** The folders of a state store inside the state folder. */
export interface StateStorePaths {
  records: string;
  locks: string;
  mutex: string;
}

interface StoredRecord extends Record<string, unknown> {
  key: string;
  version: number;
  value: unknown;
  requestId?: string;
  updatedAt: string;
}

interface StoredLock extends Record<string, unknown> {
  name: string;
  holder: string;
  token: string;
  process: ProcessRecord;
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
    actions: ['Read it again and retry the change on the new version.'],
    details: { key, expectedVersion, actualVersion },
  });
}

function checkRecordShape(path: string, body: Record<string, unknown>): StoredRecord {
  if (typeof body.key !== 'string' || !Number.isInteger(body.version) || (body.version as number) < 1) {
    throw new HacpError({
      code: ErrorCode.STATE_CORRUPT,
      message: `${path} is not a state record (it lacks a key or a version). It was left untouched.`,
      actions: [`Look at ${path}: restore it from a backup, or move it away if you know it is not needed.`],
      details: { path },
    });
  }
  return body as StoredRecord;
}

/**
 * The state store of the local provider: one JSON file per record in a 0700 folder, written
 * atomically (temporary file, fsync, rename), each with a version for compare-and-swap, and lock
 * files naming their holder's pid and expiry. Read-modify-write runs under a cross-process mutex,
 * so two hacp processes on this machine never both win.
 */
export function createFolderStateStore(options: { paths: StateStorePaths; logger: Logger }): StateStore {
  const { paths, logger } = options;

  async function readRecord(key: string): Promise<StoredRecord | undefined> {
    const path = join(paths.records, fileNameOf(key));
    const body = await readJsonFile(path);
    return body === undefined ? undefined : checkRecordShape(path, body);
  }

  function toRecord<T>(stored: StoredRecord): StateRecord<T> {
    return { key: stored.key, version: stored.version, value: structuredClone(stored.value) as T };
  }

  async function readLock(path: string): Promise<StoredLock | undefined> {
    const body = await readJsonFile(path);
    if (body === undefined) return undefined;
    if (typeof body.token !== 'string' || typeof body.expiresAt !== 'string') {
      throw new HacpError({
        code: ErrorCode.STATE_CORRUPT,
        message: `${path} is not a lock file. It was left untouched.`,
        actions: [`Look at ${path}; remove it only if no hacp operation is running.`],
        details: { path },
      });
    }
    return body as StoredLock;
  }

  return {
    async get<T>(key: string, readOptions?: ReadOptions) {
      assertStateKey('key', key);
      throwIfAborted(readOptions?.signal);
      const stored = await readRecord(key);
      return stored === undefined ? undefined : toRecord<T>(stored);
    },

    async put<T>(key: string, value: T, mutation: MutationOptions & { expectedVersion: number }) {
      assertStateKey('key', key);
      assertExpectedVersion(mutation.expectedVersion);
      const json = JSON.stringify(value);
      if (json === undefined) {
        throw invalidArgument({ field: 'value', message: `The value for ${key} cannot be stored as JSON.` });
      }
      throwIfAborted(mutation.signal);
      await ensureDir(paths.records);
      return withMutex(paths.mutex, async () => {
        const current = await readRecord(key);
        const nextVersion = mutation.expectedVersion + 1;
        // The same request retried after it succeeded (a crash before the caller saw the answer).
        if (
          current !== undefined &&
          current.version === nextVersion &&
          current.requestId === mutation.requestId &&
          isDeepStrictEqual(current.value, JSON.parse(json))
        ) {
          return toRecord<T>(current);
        }
        const actual = current?.version ?? 0;
        if (actual !== mutation.expectedVersion) throw conflict(key, mutation.expectedVersion, actual);
        const stored: StoredRecord = {
          key,
          version: nextVersion,
          value: JSON.parse(json) as unknown,
          requestId: mutation.requestId,
          updatedAt: new Date().toISOString(),
        };
        await writeJsonFile(join(paths.records, fileNameOf(key)), stored);
        return toRecord<T>(stored);
      });
    },

    async delete(key: string, mutation: MutationOptions & { expectedVersion: number }) {
      assertStateKey('key', key);
      assertExpectedVersion(mutation.expectedVersion);
      throwIfAborted(mutation.signal);
      await ensureDir(paths.records);
      await withMutex(paths.mutex, async () => {
        const current = await readRecord(key);
        if (current === undefined) return;
        if (current.version !== mutation.expectedVersion) {
          throw conflict(key, mutation.expectedVersion, current.version);
        }
        await rm(join(paths.records, fileNameOf(key)), { force: true });
      });
    },

    async list(prefix: string, readOptions?: ReadOptions) {
      assertStateKey('prefix', prefix, { allowEmpty: true });
      throwIfAborted(readOptions?.signal);
      let names: string[];
      try {
        names = await readdir(paths.records);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      const keys: string[] = [];
      for (const name of names) {
        if (name.startsWith('k-') && name.endsWith('.json')) {
          keys.push(decodeURIComponent(name.slice(2, -'.json'.length)));
        } else if (name.startsWith('h-') && name.endsWith('.json')) {
          const path = join(paths.records, name);
          const body = await readJsonFile(path);
          if (body !== undefined) keys.push(checkRecordShape(path, body).key);
        }
      }
      return keys.filter((key) => key.startsWith(prefix)).sort();
    },

    async lock(name: string, lockOptions: { holder: string; ttlMs: number; signal?: AbortSignal }) {
      assertLockRequest(name, lockOptions.holder, lockOptions.ttlMs);
      const { ttlMs, holder } = lockOptions;
      throwIfAborted(lockOptions.signal);
      await ensureDir(paths.locks);
      const path = join(paths.locks, fileNameOf(name));
      const token = randomBytes(12).toString('hex');
      const taken = await withMutex(paths.mutex, async () => {
        const current = await readLock(path);
        const now = Date.now();
        if (current !== undefined && Date.parse(current.expiresAt) > now) {
          if (isAlive(current.process)) {
            throw new HacpError({
              code: ErrorCode.LOCKED,
              message: `Lock ${name} is held by ${current.holder} until ${current.expiresAt}.`,
              actions: [
                'Wait for that operation to finish, then retry.',
                `If it is no longer running, the lock frees itself at ${current.expiresAt}.`,
              ],
              details: { lock: name, holder: current.holder, expiresAt: current.expiresAt },
            });
          }
          logger.warn('taking over a lock whose holder process has exited', {
            lock: name,
            holder: current.holder,
            pid: current.process.pid,
          });
        }
        const stored: StoredLock = {
          name,
          holder,
          token,
          process: selfRecord(),
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
          await withMutex(paths.mutex, async () => {
            const current = await readLock(path);
            if (current?.token !== token) {
              throw new HacpError({
                code: ErrorCode.LOCKED,
                message: current
                  ? `Lock ${name} was lost: it expired and ${current.holder} holds it now.`
                  : `Lock ${name} was lost: it is no longer held.`,
                actions: ['Stop the operation; its state may have changed. Run it again to continue.'],
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
          await withMutex(paths.mutex, async () => {
            const current = await readLock(path);
            if (current?.token === token) await rm(path, { force: true });
          });
        },
      };
      return lock;
    },
  };
}
