/**
 * Where a cluster's backups are, for `recover`: a backup by its id, and the newest one that
 * verifies. (The catalogue with identities, listing and retention is `backups.ts`.)
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, HacpError, isHacpError } from '@hacp/core';
import { verifySnapshot } from '@hacp/etcd';

/** A backup `recover` can restore. */
export interface RestorableBackup {
  id: string;
  file: string;
  createdAt: string;
}

export const backupsDir = (dataDir: string) => join(dataDir, 'backups');

/** The file of the backup `id`. @throws HacpError NOT_FOUND when there is none. */
export async function backupFile(dataDir: string, id: string): Promise<string> {
  const file = join(backupsDir(dataDir), `${id}.db`);
  if (
    !/^[A-Za-z0-9._-]+$/.test(id) ||
    !(await stat(file).then(
      (info) => info.isFile(),
      () => false,
    ))
  ) {
    throw new HacpError({
      code: ErrorCode.NOT_FOUND,
      message: `There is no backup ${id} of this cluster in ${backupsDir(dataDir)}.`,
      actions: ['List the backups with `hacp backup list`.'],
      details: { field: 'backup', backup: id },
    });
  }
  return file;
}

/** The backups newest first, each checked as `etcdctl snapshot restore` will; the newest that verifies. */
export async function newestVerifiedBackup(dataDir: string): Promise<RestorableBackup | undefined> {
  const names = await readdir(backupsDir(dataDir)).catch(() => [] as string[]);
  const backups = await Promise.all(
    names
      .filter((name) => name.endsWith('.db'))
      .map(async (name) => {
        const file = join(backupsDir(dataDir), name);
        return { id: name.slice(0, -3), file, createdAt: (await stat(file)).mtime.toISOString() };
      }),
  );
  backups.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  for (const backup of backups) {
    try {
      await verifySnapshot(backup.file);
      return backup;
    } catch (error) {
      if (!isHacpError(error)) throw error;
    }
  }
  return undefined;
}
