import { Args, Flags } from '@oclif/core';
import { OperationCommand } from '../../operation-command.js';

export default class BackupRestore extends OperationCommand<typeof BackupRestore> {
  static override summary = "Restore one of this cluster's backups (recover from a chosen backup).";

  static override description =
    "`hacp recover` from the backup you name (its id in `hacp backup list`): the first replica gets the backup's data on a fresh disk and serves as a one-member cluster, the others are deleted with their data and come back one at a time in their zones. Every write made after the backup was taken is lost: it says so and asks first (or runs with --yes). Only this cluster's backups that verify are restored, never an earlier cluster's of the same name.";

  static override examples = [
    {
      description: 'Restore a backup after confirming.',
      command: '<%= config.bin %> backup restore 20261207-211530-4f2a',
    },
    {
      description: 'In a script.',
      command: '<%= config.bin %> backup restore 20261207-211530-4f2a --yes --json',
    },
  ];

  static override args = {
    id: Args.string({
      description: 'The backup to restore (`hacp backup list` shows the ids).',
      required: true,
    }),
  };

  static override flags = {
    yes: Flags.boolean({ char: 'y', summary: 'Restore without asking.' }),
  };

  async run() {
    await this.confirmRecovery({ backup: this.args.id }, this.flags.yes);
    return (await this.controlPlane()).recover({ backup: this.args.id, signal: this.signal });
  }
}
