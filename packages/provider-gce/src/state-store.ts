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
  isHacpError,
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

/** A change waiting for the next metadata write, and how to answer its caller. */
interface PendingChange {
  item: string;
  requestId: string;
  signal?: AbortSignal | undefined;
  change: (document: StateDocument) => { document: StateDocument; result: unknown } | { result: unknown };
  settle(outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void;
}

/** What a change decided on a read: write its document, keep the item as it is, or refuse. */
type Outcome =
  | { kind: 'write'; value: unknown }
  | { kind: 'keep'; value: unknown }
  | { kind: 'refuse'; error: unknown };

function abortedWrite(change: PendingChange): HacpError {
  return new HacpError({
    code: ErrorCode.ABORTED,
    message: `Stopped before writing project metadata item ${change.item}: the operation was aborted.`,
    actions: ['Run the same command again, or `hacp resume`, to continue.'],
    details: { item: change.item },
    cause: change.signal?.reason,
  });
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
  /**
   * The newest read of the metadata whose fingerprint no write of this store has used since: the
   * next write starts from it instead of reading again. GCE's fingerprint check makes that safe (a
   * stale one is a 412, then a new read); a refusal or a no-op decided on it is decided again on a
   * new read, since only a write is checked.
   */
  let latest: Snapshot | undefined;
  let writesInFlight = 0;
  /** Bumped by every write this store sends: a read that a write overtook is not `latest`. */
  let generation = 0;
  let queue: PendingChange[] = [];
  let scheduled = false;
  let flushing = false;

  /** A read of the metadata; `forWrite` is a write's own read, which that write uses up. */
  async function snapshot(signal: AbortSignal | undefined, forWrite = false): Promise<Snapshot> {
    const sentAt = generation;
    const storable = !forWrite && writesInFlight === 0;
    const [answer] = await session.read({ call: `get project ${project}`, signal }, () =>
      session.clients().projects.get({ project }, NO_GAX_RETRY),
    );
    const metadata = answer.commonInstanceMetadata ?? {};
    const read = { fingerprint: metadata.fingerprint ?? '', items: [...(metadata.items ?? [])] };
    if (storable && generation === sentAt) latest = read;
    return read;
  }

  /** Callers of `get` and `list` waiting for the read they share, issued at the end of this turn. */
  let readers: { signal: AbortSignal | undefined; settle: (read: Promise<Snapshot>) => void }[] | undefined;

  /**
   * A read for `get` and `list`: the ones issued in the same turn of the event loop (a record and
   * a journal read side by side) share one `projects.get`, as if read at the same moment.
   */
  function sharedSnapshot(signal: AbortSignal | undefined): Promise<Snapshot> {
    return new Promise<Snapshot>((resolve, reject) => {
      if (readers === undefined) {
        readers = [];
        setImmediate(() => {
          const waiting = readers ?? [];
          readers = undefined;
          // One caller's signal may stop its own read; a shared read finishes for the others.
          const read = snapshot(waiting.length === 1 ? waiting[0]?.signal : undefined);
          for (const reader of waiting) reader.settle(read);
        });
      }
      readers.push({
        signal,
        settle: (read) =>
          read
            .then((state) => {
              throwIfAborted(signal);
              return state;
            })
            .then(resolve, reject),
      });
    });
  }

  function documentIn(state: Snapshot, item: string): StateDocument {
    return parseStateDocument(item, state.items.find((entry) => entry.key === item)?.value);
  }

  /**
   * Queues a change of one item: it reads the item's document and decides (throws to refuse,
   * returns no document to leave it). Changes queued in the same turn of the event loop (a lock
   * renewal and a journal put, a finished journal and the unlock) share one metadata write; a
   * write from this store waits for the one in flight, which would only make it a 412.
   */
  function update<T>(request: {
    item: string;
    requestId: string;
    signal?: AbortSignal | undefined;
    change: (document: StateDocument) => { document: StateDocument; result: T } | { result: T };
  }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queue.push({
        ...request,
        settle: (outcome) => (outcome.ok ? resolve(outcome.value as T) : reject(outcome.error)),
      });
      schedule();
    });
  }

  function schedule(): void {
    if (scheduled || flushing || queue.length === 0) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void flush();
    });
  }

  async function flush(): Promise<void> {
    flushing = true;
    const batch = queue;
    queue = [];
    try {
      await writeBatch(batch);
    } catch (error) {
      for (const change of batch) change.settle({ ok: false, error });
    } finally {
      flushing = false;
      schedule();
    }
  }

  /** Reads (or reuses `latest`), decides every change, writes once; on 412 reads and decides again. */
  async function writeBatch(batch: PendingChange[]): Promise<void> {
    let changes = batch;
    for (let attempt = 0; ; attempt++) {
      changes = changes.filter((change) => {
        if (!change.signal?.aborted) return true;
        change.settle({ ok: false, error: abortedWrite(change) });
        return false;
      });
      if (changes.length === 0) return;
      const signal = changes.length === 1 ? changes[0]?.signal : undefined;
      const reused = latest;
      latest = undefined;
      const state = reused ?? (await snapshot(signal, true));
      const decided = decide(state, changes);
      if (reused !== undefined && decided.outcomes.some((outcome) => outcome.kind !== 'write')) continue;
      if (decided.items.size === 0) {
        settleAll(changes, decided.outcomes);
        return;
      }
      try {
        await writeItems(state, decided.items, changes, decided.outcomes, signal);
        settleAll(changes, decided.outcomes);
        return;
      } catch (error) {
        const raced = isHacpError(error, ErrorCode.CONFLICT) && attempt + 1 < MAX_WRITE_ATTEMPTS;
        if (!raced) {
          settleAll(changes, decided.outcomes, error);
          return;
        }
        logger.debug('project metadata changed under a write; reading it again', {
          items: [...decided.items.keys()],
          attempt: attempt + 1,
        });
        // A reused read that was stale is read again at once; a race with another writer backs off.
        if (reused === undefined) {
          await new Promise((resolve) =>
            setTimeout(resolve, backoffDelay({ attempt, minDelayMs: 20, maxDelayMs: 500 })),
          );
        }
      }
    }
  }

  /** Each change's decision on `state`, later changes of an item seeing what earlier ones made. */
  function decide(state: Snapshot, changes: readonly PendingChange[]) {
    const items = new Map<string, StateDocument>();
    const outcomes = changes.map((change): Outcome => {
      try {
        const base = items.get(change.item) ?? documentIn(state, change.item);
        const decision = change.change(structuredClone(base));
        if (!('document' in decision)) return { kind: 'keep', value: decision.result };
        serialise(change.item, decision.document);
        items.set(change.item, decision.document);
        return { kind: 'write', value: decision.result };
      } catch (error) {
        return { kind: 'refuse', error };
      }
    });
    return { items, outcomes };
  }

  /**
   * One `setCommonInstanceMetadata` with the read's fingerprint. The fingerprint is part of the GCE
   * request id: a resumed write from the same read is the same request (GCE de-duplicates it), a
   * write after a new read is a new one.
   */
  async function writeItems(
    state: Snapshot,
    documents: ReadonlyMap<string, StateDocument>,
    changes: readonly PendingChange[],
    outcomes: readonly Outcome[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const items = state.items.filter((entry) => !documents.has(entry.key ?? ''));
    for (const [item, document] of documents) {
      const empty = Object.keys(document.entries).length === 0 && Object.keys(document.locks).length === 0;
      if (!empty) items.push({ key: item, value: serialise(item, document) });
    }
    const writers = changes.filter((_, index) => outcomes[index]?.kind === 'write');
    generation += 1;
    writesInFlight += 1;
    try {
      await session.mutate(
        {
          call: `setCommonInstanceMetadata projects/${project} item ${[...documents.keys()].join(' ')} fingerprint ${state.fingerprint}`,
          requestId: writers.map((change) => change.requestId).join(' + '),
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
    } finally {
      writesInFlight -= 1;
    }
  }

  /** Settles each change as decided; `failed` is the write's error, for the changes that wrote. */
  function settleAll(changes: readonly PendingChange[], outcomes: readonly Outcome[], failed?: unknown) {
    changes.forEach((change, index) => {
      const outcome = outcomes[index] as Outcome;
      if (outcome.kind === 'refuse') change.settle({ ok: false, error: outcome.error });
      else if (outcome.kind === 'write' && failed !== undefined) change.settle({ ok: false, error: failed });
      else change.settle({ ok: true, value: outcome.value });
    });
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
      const entry = documentIn(await sharedSnapshot(readOptions?.signal), item).entries[key];
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
      const state = await sharedSnapshot(listOptions?.signal);
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
