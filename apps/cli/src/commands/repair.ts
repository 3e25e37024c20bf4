import { OperationCommand } from '../operation-command.js';

export default class Repair extends OperationCommand<typeof Repair> {
  static override summary = 'Fix stuck learners, orphan members or instances and unhealthy replicas.';

  static override description =
    'Finds etcd members without an instance and instances without a member, learners that never caught up, and unhealthy replicas, and fixes them one at a time while quorum allows. It also undoes what was changed outside hacp, each with the least change: an instance stopped by hand, or whose processes died, is started again with its disk and etcd member before any replacement is considered, a load-balancer target whose instance is gone is dropped, a healthy replica missing from the targets is added back, and a load balancer that lost its address (GCE: its forwarding rule deleted) takes it back. Nothing in a zone that is down is deleted, replaced or started: its replicas are left as they are, with a ZONE_DOWN warning naming `hacp zone restore <zone>`. What it cannot fix safely now is reported as a REPAIR_DEFERRED warning; run it again after a recovery.';

  static override examples = [
    { description: 'Repair the default cluster.', command: '<%= config.bin %> repair' },
    {
      description: 'In a zone outage: repair leaves the zone alone; restore it, and all is healthy again.',
      command:
        '<%= config.bin %> repair && <%= config.bin %> zone restore local-c && <%= config.bin %> status',
    },
    {
      description: 'Repair and read the result as JSON.',
      command: '<%= config.bin %> repair --cluster prod --json',
    },
  ];

  async run() {
    return (await this.controlPlane()).repair({ signal: this.signal });
  }
}
