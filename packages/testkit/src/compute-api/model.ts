import { randomBytes } from 'node:crypto';
import type { Logger } from '@hacp/core';
import type { DataPath } from './data-path.js';
import type { IpPool } from './ip-pool.js';
import type { VmRuntime } from './vm-runtime.js';

/** A resource or message as JSON, the way the API writes it. */
export type Json = Record<string, unknown>;

/** `Metadata` as GCE returns it; `items` is left out when there are none. */
export interface MetadataJson {
  kind: 'compute#metadata';
  fingerprint: string;
  items?: { key: string; value: string }[];
}

/** Where an operation lives: `zones/<z>`, `regions/<r>` or `global`. */
export type OperationScope =
  | { kind: 'zone'; zone: string }
  | { kind: 'region'; region: string }
  | { kind: 'global' };

/** The path of a scope's collection prefix: `zones/z`, `regions/r`, `global`. */
export function scopePath(scope: OperationScope): string {
  if (scope.kind === 'zone') return `zones/${scope.zone}`;
  if (scope.kind === 'region') return `regions/${scope.region}`;
  return 'global';
}

/** One operation: its JSON (mutated as it runs) and who waits for it. */
export interface OperationRecord {
  json: Json;
  scope: OperationScope;
  done: boolean;
  waiters: Set<() => void>;
}

/** Everything the double keeps for one project. */
export class ProjectState {
  readonly id: string;
  readonly creationTimestamp: string;
  commonMetadata: MetadataJson;
  /**
   * The fingerprint of the newest accepted `setCommonInstanceMetadata`, applied or not: a write is
   * checked against it, so two writers holding the same fingerprint cannot both be accepted.
   */
  acceptedMetadataFingerprint: string;
  /** Every resource, by its path in the project (`zones/z/instances/n`, `global/firewalls/f`). */
  readonly resources = new Map<string, Json>();
  /** Paths of resources whose insert was accepted and has not completed: a second insert is 409. */
  readonly pendingInserts = new Set<string>();
  /** Paths of resources with a delete in flight: anything else on them is 400 resourceNotReady. */
  readonly pendingDeletes = new Set<string>();
  /** Accepted, unapplied fingerprints by resource path and kind (`metadata`, `labels`), as for the project. */
  readonly acceptedFingerprints = new Map<string, string>();
  /** Operations by scope path (`zones/z`, `regions/r`, `global`), then by name. */
  readonly operations = new Map<string, Map<string, OperationRecord>>();
  /** The operation each requestId started. */
  readonly byRequestId = new Map<string, OperationRecord>();

  constructor(readonly name: string) {
    this.id = newNumericId();
    this.creationTimestamp = gceTimestamp(new Date());
    const fingerprint = newFingerprint();
    this.commonMetadata = { kind: 'compute#metadata', fingerprint };
    this.acceptedMetadataFingerprint = fingerprint;
  }

  /** The resources directly in a collection (`zones/z/instances`), by name. */
  list(collection: string): Json[] {
    const prefix = `${collection}/`;
    return [...this.resources.entries()]
      .filter(([path]) => path.startsWith(prefix) && !path.slice(prefix.length).includes('/'))
      .map(([, resource]) => resource)
      .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  }

  /** Every resource of a collection name in any scope (`instances` → all zones' instances). */
  listAll(collection: string): { path: string; resource: Json }[] {
    return [...this.resources.entries()]
      .filter(([path]) => {
        const parts = path.split('/');
        return parts.length >= 3 && parts[parts.length - 2] === collection;
      })
      .map(([path, resource]) => ({ path, resource }))
      .sort((a, b) => a.path.localeCompare(b.path));
  }
}

/** What every handler may use besides the project: the server's zones, pools, runtime and clock. */
export interface ServerContext {
  readonly zones: readonly string[];
  readonly regions: readonly string[];
  /** The URL roots this server answers at (`http://127.0.0.1:<port>/compute/v1/`), accepted in references. */
  readonly ownRoots: readonly string[];
  readonly ips: IpPool;
  readonly runtime: VmRuntime | undefined;
  /** The load balancers' health checks and routes, when VMs run. */
  dataPath: DataPath | undefined;
  readonly logger: Logger;
  /** Failures of the VM runtime (boot, stop, start, remove), which GCE would not report either. */
  readonly runtimeErrors: { instance: string; action: string; error: string }[];
  /** Every project, to check whether an IP is used anywhere. */
  readonly projects: ReadonlyMap<string, ProjectState>;
}

/** A fresh resource or operation id: a random uint64 as a decimal string, as GCE's ids are. */
export function newNumericId(): string {
  // 19 digits, never a leading zero: like the ids GCE hands out.
  const value = randomBytes(8).readBigUInt64BE() % 9_000_000_000_000_000_000n;
  return String(1_000_000_000_000_000_000n + value);
}

/** A fingerprint: 8 random bytes in base64, as GCE's. */
export function newFingerprint(): string {
  return randomBytes(8).toString('base64');
}

/** RFC 3339 with milliseconds in Pacific time (-07:00), the form of GCE's timestamps. */
export function gceTimestamp(date: Date): string {
  const shifted = new Date(date.getTime() - 7 * 3600_000);
  return `${shifted.toISOString().slice(0, 23)}-07:00`;
}

/** The region of a zone: the zone minus its last `-x`. */
export function regionOf(zone: string): string {
  return zone.slice(0, zone.lastIndexOf('-'));
}
