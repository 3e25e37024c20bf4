/**
 * The step of `recover` that has no other use: a backup restored onto the data disk of the replica
 * that serves the recovered cluster first, before its instance is created.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, HacpError } from '@hacp/core';
import { restoreSingleMember } from '@hacp/etcd';
import { restorableBackup } from '../../backup-files.js';
import { ETCD_DATA_DIR, etcdPeerUrl } from '../../render.js';
import { networkOf, requireRecord, type StepHandler } from '../context.js';

const restoreBackup: StepHandler<'restore-backup'> = async (context, action) => {
  const { provider, signal } = context;
  const ref = { name: action.replica, zone: action.zone };
  const existing = await provider.instances.get(ref, { signal });
  if (existing !== undefined && existing.status !== 'terminated') return 'skipped';
  const seed = provider.instances.seedData;
  if (seed === undefined) throw cannotSeed(provider.name);
  const record = await requireRecord(context);
  const network = await networkOf(context, action.replica);
  const work = join(context.dataDir, 'restore', context.journal.id);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true, mode: 0o700 });
  try {
    const backup = await restorableBackup(context, action.backup);
    const restored = await restoreSingleMember(backup.path, join(work, ETCD_DATA_DIR), {
      name: action.replica,
      peerUrl: etcdPeerUrl(network),
      // A restored cluster is a new etcd cluster: its own token, from this operation.
      token: `${record.etcdToken}-${context.journal.id}`.slice(0, 128),
      logger: context.logger,
    });
    await seed.call(
      provider.instances,
      ref,
      { path: ETCD_DATA_DIR, from: restored.dataDir },
      { requestId: context.requestId(), signal },
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return 'done';
};

/** A provider without `seedData`: no backup can reach a replica's disk. */
export function cannotSeed(provider: string): HacpError {
  return new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `Provider ${provider} cannot put a backup's data on a replica's disk, so hacp cannot restore a backup there.`,
    actions: [
      'Recover from a surviving member instead (`hacp recover` picks one when a member still answers).',
      "Or restore by hand: `etcdctl snapshot restore` onto the first replica's data disk, then `hacp repair`.",
    ],
    details: { provider, field: 'backup' },
  });
}

export const recoverHandlers = { 'restore-backup': restoreBackup };
