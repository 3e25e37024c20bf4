/**
 * The backups `recover` may restore: one of this cluster's (never an earlier cluster's of the same
 * name) that verifies, by its id, or the newest such.
 */
import { ErrorCode, HacpError } from '@hacp/core';
import { type BackupCatalogueContext, listBackups } from './backups.js';
import type { Backup } from './types.js';

/**
 * This cluster's backup `id`, checked as `etcdctl snapshot restore` will check it.
 * @throws HacpError NOT_FOUND when this cluster has none of that id; CONFLICT for an earlier
 *   cluster's; STATE_CORRUPT when it does not verify.
 */
export async function restorableBackup(context: BackupCatalogueContext, id: string): Promise<Backup> {
  const { backups, directory } = await listBackups(context, { verify: true, all: true });
  const backup = backups.find((entry) => entry.id === id);
  if (backup === undefined) {
    throw new HacpError({
      code: ErrorCode.NOT_FOUND,
      message: `There is no backup ${id} of cluster ${context.cluster} in ${directory}.`,
      actions: ['List the backups with `hacp backup list`.'],
      details: { field: 'backup', backup: id },
    });
  }
  if (backup.identity === 'earlier') {
    throw new HacpError({
      code: ErrorCode.CONFLICT,
      message: `Backup ${id} was taken from an earlier cluster named ${context.cluster}, not from this one: restoring it would mix two clusters.`,
      actions: ["Pick one of this cluster's backups (`hacp backup list`)."],
      details: { field: 'backup', backup: id, clusterUid: backup.clusterUid },
      retryable: false,
    });
  }
  if (backup.verified !== true) {
    throw new HacpError({
      code: ErrorCode.STATE_CORRUPT,
      message: `Backup ${id} does not verify: ${backup.problem ?? 'it is damaged'}.`,
      actions: ['Pick another backup (`hacp backup list` shows which verify).'],
      details: { field: 'backup', backup: id },
    });
  }
  return backup;
}

/** This cluster's newest backup that verifies, or undefined. */
export async function newestRestorableBackup(context: BackupCatalogueContext): Promise<Backup | undefined> {
  const { backups } = await listBackups(context, { verify: true });
  return backups.find((backup) => backup.identity === 'current' && backup.verified === true);
}

/** When and at what revision a backup was taken, for what its restore loses. */
export function describeBackup(backup: Backup): string {
  const revision = backup.revision === undefined ? '' : `, revision ${backup.revision}`;
  return `${backup.id} (taken ${backup.createdAt}${revision})`;
}
