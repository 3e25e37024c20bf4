/**
 * The text output of `hacp backup create|list|prune`, as pure functions. What `--json` prints is
 * the SDK's result itself.
 */
import type {
  Backup,
  BackupCreateResult,
  BackupListResult,
  BackupPruneResult,
  BackupRetention,
} from '@hacp/sdk';
import { columns, plural } from './render.js';

/** `1.9 MB`, `512 KB`, `900 B`. */
export function byteSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

/** `2026-11-24 08:00:00Z`: to the second, in UTC. */
const taken = (createdAt: string) => `${createdAt.slice(0, 10)} ${createdAt.slice(11, 19)}Z`;

function verifiedText(backup: Backup): string {
  if (backup.verified === undefined) return '-';
  return backup.verified ? 'ok' : `NO: ${backup.problem ?? 'it does not verify'}`;
}

/** Backups as a table: id, time, size, revision, what took it, whether it verifies. */
function backupTable(backups: readonly Backup[]): string[] {
  const rows = [
    ['ID', 'TAKEN (UTC)', 'SIZE', 'REVISION', 'TAKEN BY', 'VERIFIED'],
    ...backups.map((backup) => [
      backup.id,
      taken(backup.createdAt),
      byteSize(backup.sizeBytes),
      backup.revision ?? '-',
      backup.operation ?? '-',
      verifiedText(backup),
    ]),
  ];
  return columns(rows).map((line) => `  ${line}`);
}

/** The heading of one identity's group. */
function groupTitle(list: BackupListResult, backup: Backup): string {
  if (backup.identity === 'unknown')
    return 'Of unknown identity (taken before hacp kept a sidecar beside each):';
  if (backup.identity === 'current') return `Cluster ${list.cluster} (uid ${backup.clusterUid}):`;
  return `An earlier cluster ${backup.cluster} (uid ${backup.clusterUid}):`;
}

/** The catalogue as tables, one per cluster identity, newest first, and where the files are. */
export function renderBackupList(list: BackupListResult): string {
  const lines: string[] = [];
  if (list.backups.length === 0) {
    lines.push(
      list.clusterUid === undefined
        ? `No backups of cluster ${list.cluster} in ${list.directory}.`
        : `No backups of cluster ${list.cluster} yet; \`hacp backup create\` takes one.`,
    );
  } else {
    const groups = new Map<string, Backup[]>();
    for (const backup of list.backups) {
      const key = backup.identity === 'unknown' ? 'unknown' : `uid:${backup.clusterUid}`;
      groups.set(key, [...(groups.get(key) ?? []), backup]);
    }
    const ordered = [...groups.values()].sort((a, b) => rank(a) - rank(b));
    for (const group of ordered) {
      lines.push(groupTitle(list, group[0] as Backup), ...backupTable(group), '');
    }
    lines.push(`Files: ${list.directory}/<id>.db, each with its sidecar <id>.json.`);
  }
  if (list.clusterUid === undefined) {
    lines.push(`Cluster ${list.cluster} does not exist now: every backup left is listed.`);
  }
  if (list.hidden > 0) {
    lines.push(
      `${plural(list.hidden, 'more backup')} of earlier clusters named ${list.cluster} or of unknown identity: \`hacp backup list --all\` shows them.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** This cluster first, then earlier ones, then the unknown. */
function rank(group: readonly Backup[]): number {
  const identity = group[0]?.identity;
  return identity === 'current' ? 0 : identity === 'earlier' ? 1 : 2;
}

function prunedLine(pruned: readonly Backup[]): string[] {
  if (pruned.length === 0) return [];
  return [
    `Deleted ${plural(pruned.length, 'older backup')} by retention: ${pruned.map((b) => b.id).join(', ')}`,
  ];
}

export function renderBackupCreate(result: BackupCreateResult): string {
  const { backup } = result;
  const from = backup.memberName ?? backup.memberId ?? 'a healthy member';
  return `${[
    `Took backup ${backup.id} from ${from} at revision ${backup.revision ?? '-'} (${byteSize(backup.sizeBytes)}).`,
    `Path: ${backup.path}`,
    ...prunedLine(result.pruned),
  ].join('\n')}\n`;
}

/** `--keep-last 10 --keep-within 7d`, or the words for no rule at all. */
export function retentionText(retention: BackupRetention): string {
  const parts = [
    ...(retention.keepLast === undefined ? [] : [`--keep-last ${retention.keepLast}`]),
    ...(retention.keepWithin === undefined ? [] : [`--keep-within ${retention.keepWithin}`]),
  ];
  return parts.length === 0 ? 'no rule (every backup is kept)' : parts.join(' ');
}

export function renderBackupPrune(result: BackupPruneResult): string {
  const lines = [`Retention: ${retentionText(result.retention)}; the newest backup is always kept.`];
  if (result.deleted.length === 0) {
    lines.push(`Nothing to delete: all ${plural(result.kept.length, 'backup')} of this cluster are kept.`);
  } else {
    lines.push(result.dryRun ? 'Would delete (dry run, nothing deleted):' : 'Deleted:');
    lines.push(...backupTable(result.deleted));
    lines.push(`Kept: ${plural(result.kept.length, 'backup')}.`);
  }
  return `${lines.join('\n')}\n`;
}
