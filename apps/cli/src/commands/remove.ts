import { OperationCommand } from '../operation-command.js';
import { describedFlag, operationFlags, removeOptions } from '../operation-options.js';

export default class Remove extends OperationCommand<typeof Remove> {
  static override summary = 'Remove one replica (kube-down with KUBE_DELETE_NODES=false).';

  static override description =
    `Chooses the replica (the named one; else, in the zone, an unhealthy one, then a non-leader, then the newest), refuses when the remaining healthy voters would lose quorum or when it is the last replica (that is \`hacp down\`), moves etcd leadership away from it, takes it out of the load balancer, removes its member through a remaining member, deletes the instance and its identity lease, and going from two replicas to one moves the address back to the last replica.

The zone defaults to KUBE_GCE_ZONE and the replica to KUBE_REPLICA_NAME. Ending at two replicas is allowed but warned about.`;

  static override examples = [
    { description: 'Remove a replica in zone local-c.', command: '<%= config.bin %> remove --zone local-c' },
    {
      description: 'Remove a named replica.',
      command: '<%= config.bin %> remove --replica kubernetes-master-1f3',
    },
    {
      description: "kube-down's variables.",
      command: 'KUBE_GCE_ZONE=local-b KUBE_REPLICA_NAME=kubernetes-master-1f3 <%= config.bin %> remove',
    },
  ];

  static override flags = {
    zone: describedFlag(operationFlags.zone, {
      summary: 'The zone to remove a replica from (KUBE_GCE_ZONE).',
    }),
    replica: describedFlag(operationFlags.replica, {
      summary: 'The replica to remove (KUBE_REPLICA_NAME).',
      description: 'Default: $KUBE_REPLICA_NAME, else hacp chooses in the zone.',
    }),
  };

  async run() {
    const options = removeOptions(this.flags, this.io.env);
    return (await this.controlPlane()).remove({ ...options, signal: this.signal });
  }
}
