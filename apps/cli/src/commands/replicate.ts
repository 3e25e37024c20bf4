import { OperationCommand } from '../operation-command.js';
import { describedFlag, operationFlags, replicateOptions } from '../operation-options.js';

export default class Replicate extends OperationCommand<typeof Replicate> {
  static override summary = 'Add one replica (kube-up with KUBE_REPLICATE_EXISTING_MASTER=true).';

  static override description =
    `Checks that every member is started and healthy and no learner is present, takes an etcd snapshot, issues the new replica's certificates, adds its member as a learner through a healthy member, starts it (etcd "existing"), promotes it once it has caught up, and puts it behind the endpoint (going from one replica to two, the address moves from the first replica to a load balancer). A failure before promotion removes the learner and the instance again.

The zone defaults to KUBE_GCE_ZONE, else the allowed zone with the fewest replicas. Without multizone every replica stays in the first replica's zone.`;

  static override examples = [
    { description: 'A replica in zone local-b.', command: '<%= config.bin %> replicate --zone local-b' },
    {
      description: "kube-up's way.",
      command: 'KUBE_GCE_ZONE=local-c <%= config.bin %> replicate',
    },
    {
      description: 'Let hacp pick the zone with the fewest replicas, and name the replica.',
      command: '<%= config.bin %> replicate --name kubernetes-master-a1b',
    },
  ];

  static override flags = {
    zone: describedFlag(operationFlags.zone, { summary: "The new replica's zone (KUBE_GCE_ZONE)." }),
    name: operationFlags.name,
  };

  async run() {
    const options = replicateOptions(this.flags, this.io.env);
    return (await this.controlPlane()).replicate({ ...options, signal: this.signal });
  }
}
