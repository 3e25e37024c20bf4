/**
 * The backup catalogue: the etcd snapshots in `<dataDir>/backups`, each `<id>.db` with a JSON
 * sidecar `<id>.json` beside it that ties it to the cluster's identity (the record's `uid`) and says
 * where it came from (etcd cluster ID, member, revision), when, how big, its sha256, and which
 * operation and step took it. Two clusters of the same name one after the other never mix: the
 * catalogue tells them apart by identity, and retention only ever touches the current cluster's.
 * A `.db` without a sidecar (written before hacp kept them) is of unknown identity and never
 * deleted by retention.
 *
 * For other modules (restore, recover): {@link listBackups} gives this cluster's backups newest
 * first, each with whether it verifies:
 *
 * @example
 * const { backups } = await listBackups(context, { verify: true });
 * const usable = backups.find((backup) => backup.verified);
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, HacpError, isHacpError, type Logger, type ProviderV1 } from '@hacp/core';
import { verifySnapshot } from '@hacp/etcd';
import { newestFirst, type RetentionRules, retentionRules, selectRetained } from './backup-retention.js';
import { type ClusterContext, notFound } from './cluster-context.js';
import type { EtcdPort } from './engine/etcd-port.js';
import { type ClusterRecord, clusterIdentity, readRecord } from './record.js';
import type {
  Backup,
  BackupCreateResult,
  BackupListResult,
  BackupPruneResult,
  BackupRetention,
} from './types.js';

const SIDECAR_FORMAT = 1;

/** What a sidecar holds: every field of a {@link Backup} that does not change once it is taken. */
export interface BackupSidecar {
  formatVersion: 1;
  id: string;
  cluster: string;
  clusterUid: string;
  etcdClusterId: string;
  memberId: string;
  memberName?: string;
  revision: string;
  createdAt: string;
  sizeBytes: number;
  sha256: string;
  operation: string;
  operationId?: string;
  step?: string;
}

/** What reading the catalogue needs: a cluster context has it all. */
export interface BackupCatalogueContext {
  provider: ProviderV1;
  cluster: string;
  dataDir: string;
  logger?: Logger;
}

/** The catalogue's folder. */
export const backupsDir = (dataDir: string) => join(dataDir, 'backups');
const snapshotFile = (dir: string, id: string) => join(dir, `${id}.db`);
const sidecarFile = (dir: string, id: string) => join(dir, `${id}.json`);

/** A new id for a backup taken outside an operation: `backup-<UTC yyyymmddhhmmss>-<6 hex>`. */
export function newBackupId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14);
  return `backup-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** The id of the backup an operation's snapshot step takes: the journal id and the step id. */
export const stepBackupId = (operationId: string, stepId: string) =>
  `${operationId}-${stepId.replace(/[^a-z0-9-]/gi, '_')}`;

function isSidecar(value: unknown, id: string): value is BackupSidecar {
  const sidecar = value as Partial<BackupSidecar> | undefined;
  return (
    typeof sidecar === 'object' &&
    sidecar !== null &&
    sidecar.formatVersion === SIDECAR_FORMAT &&
    sidecar.id === id &&
    typeof sidecar.clusterUid === 'string' &&
    typeof sidecar.createdAt === 'string' &&
    !Number.isNaN(Date.parse(sidecar.createdAt))
  );
}

/** The sidecar of `id`, or undefined when there is none or it cannot be read as one. */
async function readSidecar(dir: string, id: string, logger?: Logger): Promise<BackupSidecar | undefined> {
  let text: string;
  try {
    text = await readFile(sidecarFile(dir, id), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (isSidecar(value, id)) return value;
  } catch {
    // Treated as no sidecar: the backup is of unknown identity, and never deleted by retention.
  }
  logger?.warn('unreadable backup sidecar', { file: sidecarFile(dir, id) });
  return undefined;
}

/** Every `.db` in the folder, with its sidecar where it has one; newest first. No verification. */
async function readCatalogue(
  dir: string,
  cluster: string,
  currentUid: string | undefined,
  logger?: Logger,
): Promise<Backup[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const backups: Backup[] = [];
  // Temporary files of a snapshot being written start with a dot.
  for (const name of names.filter((n) => n.endsWith('.db') && !n.startsWith('.')).sort()) {
    const id = name.slice(0, -'.db'.length);
    const path = snapshotFile(dir, id);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined || !info.isFile()) continue;
    const sidecar = await readSidecar(dir, id, logger);
    if (sidecar === undefined) {
      backups.push({
        id,
        path,
        identity: 'unknown',
        cluster,
        createdAt: info.mtime.toISOString(),
        sizeBytes: info.size,
      });
      continue;
    }
    backups.push(backupOf(sidecar, path, sidecar.clusterUid === currentUid, info.size));
  }
  return backups.sort(newestFirst);
}

/** A catalogue entry from its sidecar; its size is the file's as it is now. */
function backupOf(sidecar: BackupSidecar, path: string, current: boolean, sizeBytes: number): Backup {
  const { formatVersion: _format, sizeBytes: _recorded, ...fields } = sidecar;
  return { ...fields, path, identity: current ? 'current' : 'earlier', sizeBytes };
}

/** Whether the file is an intact snapshot, and the one its sidecar describes. */
async function verified(backup: Backup): Promise<Backup> {
  try {
    const { sha256 } = await verifySnapshot(backup.path);
    if (backup.sha256 !== undefined && backup.sha256 !== '' && backup.sha256 !== sha256) {
      return {
        ...backup,
        verified: false,
        problem: 'its sha256 differs from the one recorded when it was taken',
      };
    }
    return { ...backup, verified: true };
  } catch (error) {
    const why = isHacpError(error) ? error.message : String(error);
    return { ...backup, verified: false, problem: why };
  }
}

/**
 * This cluster's backups, newest first, each with whether it verifies (`verify`, default true);
 * `all` adds the backups of earlier clusters of this name and of unknown identity. With no cluster
 * of this name (after `down`), every backup left is listed, each marked with its identity.
 */
export async function listBackups(
  context: BackupCatalogueContext,
  options: { verify?: boolean; all?: boolean; signal?: AbortSignal } = {},
): Promise<BackupListResult> {
  const record = (await readRecord(context.provider.state, context.cluster, options.signal))?.value;
  const clusterUid = record === undefined ? undefined : clusterIdentity(record);
  const directory = backupsDir(context.dataDir);
  const every = await readCatalogue(directory, context.cluster, clusterUid, context.logger);
  const shown =
    options.all === true || record === undefined
      ? every
      : every.filter((backup) => backup.identity === 'current');
  const backups =
    options.verify === false ? shown : await Promise.all(shown.map((backup) => verified(backup)));
  return {
    cluster: context.cluster,
    ...(clusterUid === undefined ? {} : { clusterUid }),
    directory,
    backups,
    hidden: every.length - shown.length,
  };
}

/** What taking a backup needs. */
export interface TakeBackupOptions {
  dataDir: string;
  cluster: string;
  /** The cluster's record: its identity goes into the sidecar. */
  record: ClusterRecord;
  etcd: Pick<EtcdPort, 'snapshot' | 'members'>;
  id: string;
  /** The replica whose member serves it (`recover`'s survivor); default a healthy voter. */
  from?: string;
  /** The operation's name, or `backup create`. */
  operation: string;
  operationId?: string;
  step?: string;
  signal?: AbortSignal;
}

/**
 * Streams a snapshot through a healthy member to `<id>.db` (0600, verified before it is kept),
 * then writes its sidecar (0600, written whole or not at all).
 * @throws HacpError ALREADY_EXISTS when `<id>.db` exists; UNAVAILABLE when no healthy member answers.
 */
export async function takeBackup(options: TakeBackupOptions): Promise<Backup> {
  const dir = backupsDir(options.dataDir);
  const path = snapshotFile(dir, options.id);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const taken = await options.etcd.snapshot(path, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.from === undefined ? {} : { replica: options.from }),
  });
  const memberName = await options.etcd
    .members(options.signal ? { signal: options.signal } : {})
    .then((members) => members.find((member) => member.id === taken.memberId)?.name)
    .catch(() => undefined);
  const sidecar: BackupSidecar = {
    formatVersion: SIDECAR_FORMAT,
    id: options.id,
    cluster: options.cluster,
    clusterUid: clusterIdentity(options.record),
    etcdClusterId: taken.clusterId,
    memberId: taken.memberId,
    ...(memberName ? { memberName } : {}),
    revision: taken.revision,
    createdAt: new Date().toISOString(),
    sizeBytes: taken.sizeBytes,
    sha256: taken.sha256,
    operation: options.operation,
    ...(options.operationId === undefined ? {} : { operationId: options.operationId }),
    ...(options.step === undefined ? {} : { step: options.step }),
  };
  const temporary = join(dir, `.${options.id}.json.${randomBytes(4).toString('hex')}.part`);
  await writeFile(temporary, `${JSON.stringify(sidecar, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await rename(temporary, sidecarFile(dir, options.id));
  return backupOf(sidecar, path, true, taken.sizeBytes);
}

/**
 * The backup `id` as the catalogue holds it, when both its file and its sidecar are there (a
 * snapshot step run again finds its backup taken); undefined otherwise.
 */
export async function readBackup(
  dataDir: string,
  id: string,
  record: ClusterRecord | undefined,
): Promise<Backup | undefined> {
  const dir = backupsDir(dataDir);
  const info = await stat(snapshotFile(dir, id)).catch(() => undefined);
  const sidecar = info === undefined ? undefined : await readSidecar(dir, id);
  if (info === undefined || sidecar === undefined) return undefined;
  const current = record !== undefined && clusterIdentity(record) === sidecar.clusterUid;
  return backupOf(sidecar, snapshotFile(dir, id), current, info.size);
}

/** Deletes a backup that has no sidecar (its writer stopped between the two files), to take it again. */
export async function discardIncompleteBackup(dataDir: string, id: string): Promise<void> {
  await rm(snapshotFile(backupsDir(dataDir), id), { force: true });
}

/**
 * Applies retention rules to the backups of one cluster identity: deletes (unless `dryRun`) what
 * no rule keeps. Backups of other identities and of unknown identity are never considered.
 */
export async function applyRetention(options: {
  dataDir: string;
  cluster: string;
  clusterUid: string;
  rules: RetentionRules;
  dryRun?: boolean;
  now?: Date;
  logger?: Logger;
}): Promise<{ kept: Backup[]; deleted: Backup[] }> {
  const dir = backupsDir(options.dataDir);
  const ours = (await readCatalogue(dir, options.cluster, options.clusterUid, options.logger)).filter(
    (backup) => backup.identity === 'current',
  );
  const { keep, remove } = selectRetained(ours, options.rules, options.now ?? new Date());
  if (options.dryRun !== true) {
    for (const backup of remove) {
      // The snapshot first: a sidecar left alone is ignored, a snapshot left alone would be unknown.
      await rm(backup.path, { force: true });
      await rm(sidecarFile(dir, backup.id), { force: true });
      options.logger?.info('deleted backup by retention', { id: backup.id });
    }
  }
  return { kept: keep, deleted: remove };
}

/** Takes a backup now, under the cluster lock, and applies the retention in force. */
export async function createBackup(
  context: ClusterContext,
  options: { signal?: AbortSignal } = {},
): Promise<BackupCreateResult> {
  const { signal } = options;
  const record = (await context.requireRecord(signal)).value;
  const lock = await context.takeLock(signal);
  const session = context.openSession(record);
  try {
    const etcd = await session.requireEtcd(signal);
    const backup = await takeBackup({
      dataDir: context.dataDir,
      cluster: context.cluster,
      record,
      etcd,
      id: newBackupId(),
      operation: 'backup create',
      ...(signal ? { signal } : {}),
    });
    const { deleted } = await applyRetention({
      dataDir: context.dataDir,
      cluster: context.cluster,
      clusterUid: clusterIdentity(record),
      rules: context.backupRetention,
      logger: context.logger,
    });
    return { backup, pruned: deleted };
  } finally {
    await session.close();
    await lock
      .release()
      .catch((error) => context.logger.warn('could not release the lock', { error: String(error) }));
  }
}

/**
 * Applies `retention` (the retention in force when it names no rule) to this cluster's backups.
 * @throws HacpError INVALID_ARGUMENT for a bad rule, before anything is read or deleted; NOT_FOUND
 *   when the cluster does not exist.
 */
export async function pruneBackups(
  context: ClusterContext,
  options: BackupRetention & { dryRun?: boolean; signal?: AbortSignal } = {},
): Promise<BackupPruneResult> {
  const given: BackupRetention = {
    ...(options.keepLast === undefined ? {} : { keepLast: options.keepLast }),
    ...(options.keepWithin === undefined ? {} : { keepWithin: options.keepWithin }),
  };
  const named = Object.keys(given).length > 0;
  const rules = named ? retentionRules(given) : context.backupRetention;
  const record = await readRecord(context.provider.state, context.cluster, options.signal);
  if (record === undefined) throw noClusterToPrune(context);
  const { kept, deleted } = await applyRetention({
    dataDir: context.dataDir,
    cluster: context.cluster,
    clusterUid: clusterIdentity(record.value),
    rules,
    dryRun: options.dryRun === true,
    logger: context.logger,
  });
  return {
    dryRun: options.dryRun === true,
    retention: named ? given : context.backupRetentionSetting,
    kept,
    deleted,
  };
}

function noClusterToPrune(context: ClusterContext): HacpError {
  const missing = notFound(context.cluster, context.provider.name);
  return new HacpError({
    code: ErrorCode.NOT_FOUND,
    message: `${missing.message} Retention applies to a cluster's own backups only; nothing was deleted.`,
    actions: [
      `\`hacp backup list --cluster ${context.cluster}\` shows the backups left in ${backupsDir(context.dataDir)}; delete what you no longer want by hand.`,
      ...missing.actions,
    ],
    details: missing.details,
  });
}
