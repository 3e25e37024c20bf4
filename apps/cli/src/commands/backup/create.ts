import type { BackupCreateResult } from '@hacp/sdk';
import { HacpCommand } from '../../base-command.js';
import { renderBackupCreate } from '../../render-backups.js';

export default class BackupCreate extends HacpCommand<typeof BackupCreate, BackupCreateResult> {
  static override summary = 'Take an etcd backup now.';

  static override description =
    "Streams a snapshot from a healthy member into <state-dir>/clusters/<cluster>/backups/<id>.db (0600, verified before it is kept), with a sidecar <id>.json that ties it to this cluster's identity. It takes the cluster lock briefly, so it never races an operation. Then the retention in force (HACP_BACKUP_KEEP_LAST, HACP_BACKUP_KEEP_WITHIN; default: the last 10 and everything within 7 days) deletes this cluster's older backups it no longer keeps.";

  static override examples = [
    { description: 'A backup of the default cluster.', command: '<%= config.bin %> backup create' },
    {
      description: 'As JSON, keeping only the last 3.',
      command: 'HACP_BACKUP_KEEP_LAST=3 <%= config.bin %> backup create --cluster prod --json',
    },
  ];

  async run(): Promise<BackupCreateResult> {
    return (await this.controlPlane()).backups.create({ signal: this.signal });
  }

  protected override renderText(result: BackupCreateResult): string {
    return renderBackupCreate(result);
  }
}
