import { OperationCommand } from '../operation-command.js';

export default class Repair extends OperationCommand<typeof Repair> {
  static override summary = 'Fix stuck learners, orphan members or instances and unhealthy replicas.';

  static override description =
    'Finds etcd members without an instance and instances without a member, learners that never caught up, and unhealthy replicas, and fixes them one at a time while quorum allows. What it cannot fix safely now is reported as a REPAIR_DEFERRED warning; run it again after a recovery.';

  static override examples = [
    { description: 'Repair the default cluster.', command: '<%= config.bin %> repair' },
    {
      description: 'Repair and read the result as JSON.',
      command: '<%= config.bin %> repair --cluster prod --json',
    },
  ];

  async run() {
    return (await this.controlPlane()).repair({ signal: this.signal });
  }
}
