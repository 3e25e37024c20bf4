import type { BackupPruneResult, BackupRetention } from '@hacp/sdk';
import { Flags } from '@oclif/core';
import { HacpCommand } from '../../base-command.js';
import { parseKeepLast } from '../../env.js';
import { renderBackupPrune } from '../../render-backups.js';

export default class BackupPrune extends HacpCommand<typeof BackupPrune, BackupPruneResult> {
  static override summary = "Delete this cluster's backups that no retention rule keeps.";

  static override description =
    "A backup is kept when any rule given keeps it (restic's semantics), and the newest is always kept. Only this cluster's backups are considered: those of earlier clusters of the same name and those of unknown identity are never deleted. Without a rule, the retention in force applies (HACP_BACKUP_KEEP_LAST, HACP_BACKUP_KEEP_WITHIN; default: the last 10 and everything within 7 days). A bad value is refused before anything is deleted.";

  static override examples = [
    { description: 'Keep the newest 5.', command: '<%= config.bin %> backup prune --keep-last 5' },
    {
      description: 'See what keeping 36 hours and at least 3 would delete.',
      command: '<%= config.bin %> backup prune --keep-within 36h --keep-last 3 --dry-run',
    },
  ];

  static override flags = {
    'keep-last': Flags.string({
      summary: 'Keep the newest N backups.',
      description: 'A whole number, at least 1.',
      helpValue: '<n>',
    }),
    'keep-within': Flags.string({
      summary: 'Keep every backup taken within this duration of now.',
      description: 'Whole numbers with a unit: s, m, h, d or w (90m, 36h, 7d, 1d12h).',
      helpValue: '<duration>',
    }),
    'dry-run': Flags.boolean({ summary: 'Show what would be deleted, and delete nothing.' }),
  };

  async run(): Promise<BackupPruneResult> {
    const retention = await this.retentionFlags();
    return (await this.controlPlane()).backups.prune({
      ...retention,
      dryRun: this.flags['dry-run'] === true,
      signal: this.signal,
    });
  }

  /**
   * The rules of the flags, checked before anything is read (oclif's integer flag would say less).
   * @throws HacpError INVALID_ARGUMENT naming the flag.
   */
  private async retentionFlags(): Promise<BackupRetention> {
    const keepLast = this.flags['keep-last'];
    const keepWithin = this.flags['keep-within'];
    const retention: BackupRetention = {
      ...(keepLast === undefined ? {} : { keepLast: parseKeepLast(keepLast, '--keep-last') }),
      ...(keepWithin === undefined ? {} : { keepWithin }),
    };
    const { checkBackupRetention } = await import('@hacp/sdk');
    checkBackupRetention(retention, { keepLast: '--keep-last', keepWithin: '--keep-within' });
    return retention;
  }

  protected override renderText(result: BackupPruneResult): string {
    return renderBackupPrune(result);
  }
}
