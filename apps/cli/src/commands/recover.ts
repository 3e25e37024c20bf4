import { Flags } from '@oclif/core';
import { OperationCommand } from '../operation-command.js';

export default class Recover extends OperationCommand<typeof Recover> {
  static override summary = 'Bring back a cluster that lost etcd quorum (or every replica).';

  static override description =
    "Picks the best source: the surviving etcd member with the highest applied index (its data, through etcd's --force-new-cluster), or, when none survives, this cluster's newest backup that verifies. It says which, and what is lost, and asks first (or runs with --yes). Then that replica serves as a one-member cluster, the other replicas are deleted with their data and come back one at a time in their zones as learners, and the endpoint follows. It refuses a cluster that has quorum (`hacp repair` is for that) and one with replicas in a zone that is down (`hacp zone restore` brings them back with nothing lost). An interrupted recover continues with `hacp resume`, or the same command again.";

  static override examples = [
    {
      description: 'See the source, the loss and the steps, then confirm.',
      command: '<%= config.bin %> recover',
    },
    {
      description: 'In a script, after reading `hacp plan recover`.',
      command: '<%= config.bin %> recover --yes',
    },
  ];

  static override flags = {
    yes: Flags.boolean({ char: 'y', summary: 'Recover without asking.' }),
  };

  async run() {
    await this.confirmRecovery({}, this.flags.yes);
    return (await this.controlPlane()).recover({ signal: this.signal });
  }
}
