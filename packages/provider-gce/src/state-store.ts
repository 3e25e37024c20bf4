/**
 * The state store in project metadata (where kube-up kept its settings, in instance metadata):
 * one item `hacp-<cluster>` per cluster, holding a JSON document with every record and lock of
 * that cluster. Writes are compare-and-swap twice over: the entry's own version, and the
 * metadata's fingerprint, which GCE checks (412 when anyone changed any item since the read).
 */
import { randomUUID } from 'node:crypto';
import type { protos } from '@google-cloud/compute';
import {
  assertExpectedVersion,
  assertLockRequest,
  assertStateKey,
  backoffDelay,
  ErrorCode,
  HacpError,
  invalidArgument,
  type Logger,
  type StateLock,
  type StateRecord,
  type StateStore,
  throwIfAborted,
} from '@hacp/core';
import { type ComputeSession, NO_GAX_RETRY } from './compute.js';
import { STATE_ITEM_PREFIX, stateItemOf } from './names.js';

type MetadataItem = protos.google.cloud.compute.v1.IItems;

/** The format of the document in each item; a newer one is refused, never overwritten. */
export const STATE_FORMAT = 1;

/** GCE's limit on one metadata value. */
export const MAX_STATE_ITEM_BYTES = 256 * 1024;

/** How many times a write re-reads after someone else changed the project metadata. */
const MAX_WRITE_ATTEMPTS = 40;

/** The document in one `hacp-*` item. */
export interface StateDocument {
  format: number;
  entries: Record<string, { version: number; value: unknown }>;
  locks: Record<string, { holder: string; expiresAt: string; token: string }>;
}

interface Snapshot {
  fingerprint: string;
  items: MetadataItem[];
}

function emptyDocument(): StateDocument {
  return { format: STATE_FORMAT, entries: {}, locks: {} };
}

function corrupt(item: string, reason: string): HacpError {
  return new HacpError({
    code: ErrorCode.STATE_CORRUPT,
    message: `Project metadata item ${item} cannot be read as hacp state: ${reason}. It was left untouched.`,
    actions: [
      `Look at it: gcloud compute project-info describe --format="value(commonInstanceMetadata.items.${item})"`,
      'Upgrade hacp if a newer version wrote it; otherwise restore it from a backup.',
    ],
    details: { item },
  });
}

/**
 * Parses one item's value. @throws HacpError STATE_CORRUPT for anything that is not a document
 * of a format this version knows.
 */
export function parseStateDocument(item: string, value: string | null | undefined): StateDocument {
  if (value === undefined || value === null) return emptyDocument();
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw corrupt(item, `it is not JSON (${(error as Error).message})`);
  }
  const document = parsed as Partial<StateDocument> | null;
  if (typeof document !== 'object' || document === null || typeof document.format !== 'number') {
    throw corrupt(item, 'it has no format');
  }
  if (document.format > STATE_FORMAT) {
    throw corrupt(
      item,
      `it was written in format ${document.format}, newer than this hacp's ${STATE_FORMAT}`,
    );
  }
  if (typeof document.entries !== 'object' || document.entries === null)
    throw corrupt(item, 'it has no entries');
  return {
    format: STATE_FORMAT,
    entries: document.entries,
    locks: typeof document.locks === 'object' && document.locks !== null ? document.locks : {},
  };
}

function serialise(item: string, document: StateDocument): string {
  const text = JSON.stringify(document);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_STATE_ITEM_BYTES) {
    throw invalidArgument({
      field: 'value',
      message: `The state of ${item} would take ${bytes} bytes, over GCE's limit of ${MAX_STATE_ITEM_BYTES} bytes for one project metadata value; nothing was written.`,
      actions: [
        'Store less under this key (prune the journal), or delete records that are no longer needed.',
      ],
    });
  }
  return text;
}

function toJson(value: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw invalidArgument({
      field: 'value',
      message: `The value cannot be stored as JSON: ${String(error)}`,
    });
  }
  if (text === undefined)
    throw invalidArgument({ field: 'value', message: 'The value cannot be stored as JSON.' });
  return JSON.parse(text);
}

function conflict(key: string, version: number, expectedVersion: number): HacpError {
  return new HacpError({
    code: ErrorCode.CONFLICT,
    message: `State key ${key} is at version ${version}, not ${expectedVersion}: read it again.`,
    actions: ['Read the record again and retry the change.'],
    details: { key, version, expectedVersion },
  });
}

function lockedError(name: string, lock: { holder: string; expiresAt: string } | undefined): HacpError {
  if (lock === undefined) {
    return new HacpError({
      code: ErrorCode.LOCKED,
      message: `Lock ${name} was lost: it expired and was released or taken.`,
      actions: ['Take it again before going on.'],
      details: { lock: name },
    });
  }
  return new HacpError({
    code: ErrorCode.LOCKED,
    message: `Lock ${name} is held by ${lock.holder} until ${lock.expiresAt}.`,
    actions: ['Wait for the other operation to finish, or for the lock to expire.'],
    details: { lock: name, holder: lock.holder, expiresAt: lock.expiresAt },
  });
}

/**
 * The state store over a project's common instance metadata.
 *
 * @example
 * const state = createMetadataStateStore({ session, logger });
 * await state.put('hacp/clusters/prod/record', record, { requestId, expectedVersion: 0 });
 */
export function createMetadataStateStore(options: { session: ComputeSession; logger: Logger }): StateStore {
  const { session, logger } = options;
  const project = session.project;

  async function snapshot(signal: AbortSignal | undefined): Promise<Snapshot> {
    const [answer] = await session.read({ call: `get project ${project}`, signal }, () =>
      session.clients().projects.get({ project }, NO_GAX_RETRY),
    );
    const metadata = answer.commonInstanceMetadata ?? {};
    return { fingerprint: metadata.fingerprint ?? '', items: [...(metadata.items ?? [])] };
  }

  function documentIn(state: Snapshot, item: string): StateDocument {
    return parseStateDocument(item, state.items.find((entry) => entry.key === item)?.value);
  }

  /**
   * Reads the item, lets `change` decide (it throws to refuse, returns undefined to leave it),
   * and writes it with the read's fingerprint; on 412 (any item changed) reads and decides again.
   */
  async function update<T>(request: {
    item: string;
    requestId: string;
    signal?: AbortSignal | undefined;
    change: (document: StateDocument) => { document: StateDocument; result: T } | { result: T };
  }): Promise<T> {
    const { item, requestId, signal } = request;
    for (let attempt = 0; ; attempt++) {
      const state = await snapshot(signal);
      const decision = request.change(structuredClone(documentIn(state, item)));
      if (!('document' in decision)) return decision.result;
      const empty =
        Object.keys(decision.document.entries).length === 0 &&
        Object.keys(decision.document.locks).length === 0;
      const items = state.items.filter((entry) => entry.key !== item);
      if (!empty) items.push({ key: item, value: serialise(item, decision.document) });
      try {
        // The fingerprint is part of the GCE request id: a resumed write from the same read is the
        // same request (GCE de-duplicates it), a write after a new read is a new one.
        await session.mutate(
          {
            call: `setCommonInstanceMetadata projects/${project} item ${item} fingerprint ${state.fingerprint}`,
            requestId,
            scope: { global: true },
            signal,
          },
          (gceRequestId) =>
            session.clients().projects.setCommonInstanceMetadata(
              {
                project,
                requestId: gceRequestId,
                metadataResource: { fingerprint: state.fingerprint, items },
              },
              NO_GAX_RETRY,
            ),
        );
        return decision.result;
      } catch (error) {
        if (
          !(error instanceof HacpError) ||
          error.code !== ErrorCode.CONFLICT ||
          attempt + 1 >= MAX_WRITE_ATTEMPTS
        ) {
          throw error;
        }
        logger.debug('project metadata changed under a write; reading it again', {
          item,
          attempt: attempt + 1,
        });
        await new Promise((resolve) =>
          setTimeout(resolve, backoffDelay({ attempt, minDelayMs: 20, maxDelayMs: 500 })),
        );
        throwIfAborted(signal);
      }
    }
  }

  function makeLock(
    name: string,
    holder: string,
    ttlMs: number,
    entry: { expiresAt: string; token: string },
  ) {
    const item = stateItemOf(name);
    let token = entry.token;
    const lock: StateLock = {
      name,
      holder,
      expiresAt: new Date(entry.expiresAt),
      async renew() {
        const expiresAt = await update({
          item,
          requestId: `lock ${name} renew ${token} ${randomUUID()}`,
          change: (document) => {
            const current = document.locks[name];
            // Expired but taken by no one is still ours; taken by anyone else, it is lost.
            if (current?.token !== token) throw lockedError(name, current);
            const next = new Date(Date.now() + ttlMs).toISOString();
            document.locks[name] = { ...current, expiresAt: next };
            return { document, result: next };
          },
        });
        lock.expiresAt = new Date(expiresAt);
      },
      async release() {
        await update({
          item,
          requestId: `lock ${name} release ${token}`,
          change: (document) => {
            if (document.locks[name]?.token !== token) return { result: undefined };
            delete document.locks[name];
            return { document, result: undefined };
          },
        });
        token = `released-${token}`;
      },
    };
    return lock;
  }

  return {
    async get<T>(key: string, readOptions?: { signal?: AbortSignal }) {
      assertStateKey('key', key);
      throwIfAborted(readOptions?.signal);
      const item = stateItemOf(key);
      const entry = documentIn(await snapshot(readOptions?.signal), item).entries[key];
      if (entry === undefined) return undefined;
      return {
        key,
        version: entry.version,
        value: structuredClone(entry.value) as T,
      } satisfies StateRecord<T>;
    },

    async put<T>(
      key: string,
      value: T,
      putOptions: { requestId: string; expectedVersion: number; signal?: AbortSignal },
    ) {
      assertStateKey('key', key);
      assertExpectedVersion(putOptions.expectedVersion);
      const stored = toJson(value);
      throwIfAborted(putOptions.signal);
      const item = stateItemOf(key);
      const version = await update({
        item,
        requestId: `${putOptions.requestId} put ${key} ${putOptions.expectedVersion}`,
        signal: putOptions.signal,
        change: (document) => {
          const current = document.entries[key]?.version ?? 0;
          if (current !== putOptions.expectedVersion)
            throw conflict(key, current, putOptions.expectedVersion);
          document.entries[key] = { version: current + 1, value: stored };
          return { document, result: current + 1 };
        },
      });
      return { key, version, value: structuredClone(stored) as T };
    },

    async delete(key, deleteOptions) {
      assertStateKey('key', key);
      assertExpectedVersion(deleteOptions.expectedVersion);
      throwIfAborted(deleteOptions.signal);
      await update({
        item: stateItemOf(key),
        requestId: `${deleteOptions.requestId} delete ${key} ${deleteOptions.expectedVersion}`,
        signal: deleteOptions.signal,
        change: (document) => {
          const current = document.entries[key];
          if (current === undefined) return { result: undefined };
          if (current.version !== deleteOptions.expectedVersion) {
            throw conflict(key, current.version, deleteOptions.expectedVersion);
          }
          delete document.entries[key];
          return { document, result: undefined };
        },
      });
    },

    async list(prefix, listOptions) {
      assertStateKey('prefix', prefix, { allowEmpty: true });
      throwIfAborted(listOptions?.signal);
      const state = await snapshot(listOptions?.signal);
      const keys: string[] = [];
      for (const entry of state.items) {
        if (!entry.key?.startsWith(STATE_ITEM_PREFIX)) continue;
        const document = parseStateDocument(entry.key, entry.value);
        keys.push(...Object.keys(document.entries).filter((key) => key.startsWith(prefix)));
      }
      return keys.sort();
    },

    async lock(name, { holder, ttlMs, signal }) {
      assertLockRequest(name, holder, ttlMs);
      throwIfAborted(signal);
      const token = randomUUID();
      const entry = await update({
        item: stateItemOf(name),
        requestId: `lock ${name} take ${token}`,
        signal,
        change: (document) => {
          const current = document.locks[name];
          // A live lock is refused to its own holder too: two processes may share a holder name.
          if (current !== undefined && Date.parse(current.expiresAt) > Date.now())
            throw lockedError(name, current);
          const taken = { holder, expiresAt: new Date(Date.now() + ttlMs).toISOString(), token };
          document.locks[name] = taken;
          return { document, result: taken };
        },
      });
      logger.debug('took lock', { lock: name, holder, expiresAt: entry.expiresAt });
      return makeLock(name, holder, ttlMs, entry);
    },
  };
}
