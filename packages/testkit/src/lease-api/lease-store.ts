/**
 * The lease server's storage: an MVCC map like etcd's, keyed `namespace/name`, with one global
 * revision that every write bumps (a Lease's resourceVersion is the revision that last wrote it),
 * history kept for consistent paging and `resourceVersionMatch=Exact`, and periodic compaction.
 */
import { randomUUID } from 'node:crypto';
import { nowRfc3339 } from './go-time.js';
import { canonicalLease, type Lease } from './lease-codec.js';

interface Version {
  revision: number;
  /** `undefined` marks a deletion. */
  lease: Lease | undefined;
}

/** A core/v1 Namespace as the lease server serves it (always Active). */
export interface Namespace {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels: Record<string, string>;
  };
  spec: { finalizers: string[] };
  status: { phase: 'Active' };
}

/** A list read failed because the revision asked for was compacted away. */
export class RevisionCompactedError extends Error {}

/** `namespace/name`, which sorts as etcd sorts `/registry/leases/<namespace>/<name>`. */
export const storeKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** Byte order of ASCII keys, as etcd ranges them. */
const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class LeaseStore {
  #revision = 1;
  #compacted = 0;
  readonly #current = new Map<string, Lease>();
  readonly #history = new Map<string, Version[]>();
  readonly #namespaces = new Map<string, Namespace>();
  #lastCompactionAt: number;
  #revisionAtLastCompaction = 1;

  constructor(
    namespaces: Iterable<string>,
    private readonly compactionIntervalMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.#lastCompactionAt = clock();
    for (const namespace of namespaces) this.addNamespace(namespace);
  }

  /** The newest revision (what a list answers as its resourceVersion). */
  get revision(): number {
    return this.#revision;
  }

  /** The revision history was compacted to; snapshots older than it are gone. */
  get compactedRevision(): number {
    return this.#compacted;
  }

  hasNamespace(namespace: string): boolean {
    return this.#namespaces.has(namespace);
  }

  /** Adds a namespace (a write, as in etcd). No-op when it exists. */
  addNamespace(namespace: string): void {
    if (this.#namespaces.has(namespace)) return;
    this.#revision += 1;
    this.#namespaces.set(namespace, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespace,
        uid: randomUUID(),
        resourceVersion: String(this.#revision),
        creationTimestamp: nowRfc3339(this.clock()),
        labels: { 'kubernetes.io/metadata.name': namespace },
      },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  }

  /** A namespace object, or every one sorted by name. */
  namespace(name: string): Namespace | undefined {
    const found = this.#namespaces.get(name);
    return found === undefined ? undefined : structuredClone(found);
  }

  namespaces(): Namespace[] {
    return [...this.#namespaces.values()]
      .sort((a, b) => byKey(a.metadata.name, b.metadata.name))
      .map((n) => structuredClone(n));
  }

  get(namespace: string, name: string): Lease | undefined {
    return this.#current.get(storeKey(namespace, name));
  }

  /** Stores `lease` at a new revision and returns it with that resourceVersion. */
  put(lease: Lease): Lease {
    this.#maybeCompact();
    this.#revision += 1;
    // Re-ordered so that resourceVersion sits where Go's ObjectMeta puts it.
    const stored = canonicalLease(
      structuredClone({ ...lease, metadata: { ...lease.metadata, resourceVersion: String(this.#revision) } }),
    );
    const key = storeKey(stored.metadata.namespace ?? '', stored.metadata.name ?? '');
    this.#current.set(key, stored);
    this.#record(key, { revision: this.#revision, lease: stored });
    return structuredClone(stored);
  }

  /** Deletes the lease at a new revision; returns what was deleted, or undefined. */
  delete(namespace: string, name: string): Lease | undefined {
    const key = storeKey(namespace, name);
    const existing = this.#current.get(key);
    if (existing === undefined) return undefined;
    this.#maybeCompact();
    this.#revision += 1;
    this.#current.delete(key);
    this.#record(key, { revision: this.#revision, lease: undefined });
    return structuredClone(existing);
  }

  #record(key: string, version: Version): void {
    const versions = this.#history.get(key);
    if (versions === undefined) this.#history.set(key, [version]);
    else versions.push(version);
  }

  /**
   * The leases of `namespace` (all namespaces when undefined) at `revision` (default the newest),
   * sorted by key, starting at `startKey` (inclusive).
   *
   * @throws RevisionCompactedError when `revision` is older than the compacted revision.
   */
  list(options: {
    namespace?: string;
    revision?: number;
    startKey?: string;
  }): { key: string; lease: Lease }[] {
    const revision = options.revision ?? this.#revision;
    const prefix = options.namespace === undefined ? '' : `${options.namespace}/`;
    const out: { key: string; lease: Lease }[] = [];
    if (revision >= this.#revision) {
      for (const [key, lease] of this.#current) {
        if (key.startsWith(prefix)) out.push({ key, lease });
      }
    } else {
      if (revision < this.#compacted) throw new RevisionCompactedError(`revision ${revision} was compacted`);
      for (const [key, versions] of this.#history) {
        if (!key.startsWith(prefix)) continue;
        let found: Version | undefined;
        for (const version of versions) {
          if (version.revision <= revision) found = version;
          else break;
        }
        if (found?.lease !== undefined) out.push({ key, lease: found.lease });
      }
    }
    const sorted = out.sort((a, b) => byKey(a.key, b.key));
    const from = options.startKey;
    const items = from === undefined ? sorted : sorted.filter((item) => item.key >= from);
    return items.map((item) => ({ key: item.key, lease: structuredClone(item.lease) }));
  }

  /**
   * Drops history older than `revision` (default the newest), as the apiserver's periodic etcd
   * compaction does: older snapshots can no longer be listed.
   */
  compact(revision = this.#revision): void {
    const target = Math.min(revision, this.#revision);
    if (target <= this.#compacted) return;
    for (const [key, versions] of this.#history) {
      // Keep the newest version at or below the target: it is the state later snapshots start from.
      let keepFrom = 0;
      for (let i = 0; i < versions.length; i += 1) {
        if ((versions[i]?.revision ?? 0) <= target) keepFrom = i;
      }
      const kept = versions.slice(keepFrom);
      const first = kept[0];
      if (first !== undefined && first.revision <= target && first.lease === undefined) kept.shift();
      if (kept.length === 0) this.#history.delete(key);
      else this.#history.set(key, kept);
    }
    this.#compacted = target;
  }

  /** Every interval, compacts to the revision seen at the previous interval, as kube-apiserver does. */
  #maybeCompact(): void {
    const now = this.clock();
    if (now - this.#lastCompactionAt < this.compactionIntervalMs) return;
    this.compact(this.#revisionAtLastCompaction);
    this.#lastCompactionAt = now;
    this.#revisionAtLastCompaction = this.#revision;
  }
}
