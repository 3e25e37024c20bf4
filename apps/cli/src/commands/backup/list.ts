import type { BackupListResult } from '@hacp/sdk';
import { Flags } from '@oclif/core';
import { HacpCommand } from '../../base-command.js';
import { renderBackupList } from '../../render-backups.js';

export default class BackupList extends HacpCommand<typeof BackupList, BackupListResult> {
  static override summary = "List the cluster's etcd backups, newest first, and whether each verifies.";

  static override description =
    "Each backup with its time, size, etcd revision, the operation that took it and whether it verifies now (its sha256 trailer and bbolt header, as `etcdctl snapshot status` checks them, and the sha256 recorded when it was taken). Only this cluster's backups by default: a cluster of the same name made earlier is another cluster; --all adds its backups, and those of unknown identity (taken before hacp kept sidecars). With no cluster of this name (after `hacp down`), every backup left is listed.";

  static override examples = [
    { description: "This cluster's backups.", command: '<%= config.bin %> backup list' },
    {
      description: 'Every backup in the folder, as JSON.',
      command: '<%= config.bin %> backup list --all --json',
    },
  ];

  static override flags = {
    all: Flags.boolean({
      summary: 'Also list the backups of earlier clusters of this name and of unknown identity.',
    }),
  };

  async run(): Promise<BackupListResult> {
    return (await this.controlPlane()).backups.list({ all: this.flags.all === true, signal: this.signal });
  }

  protected override renderText(result: BackupListResult): string {
    return renderBackupList(result);
  }
}
