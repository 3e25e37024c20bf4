import { OperationCommand } from '../operation-command.js';
import { describedFlag, operationFlags, replaceOptions } from '../operation-options.js';

export default class Replace extends OperationCommand<typeof Replace> {
  static override summary = 'Replace a broken replica with a new one in its zone.';

  static override description =
    "Removes the broken replica (also when its instance is unreachable, or was deleted outside hacp while its etcd member is still listed) and adds one in the same zone. Where the broken replica's data disk is intact (--keep-data, or on its own where the provider reports it), its etcd member moves onto the new instance instead (etcd member migration): it keeps its id and data, so no data is streamed.";

  static override examples = [
    {
      description: 'Replace a replica that lost its zone.',
      command: '<%= config.bin %> replace --replica kubernetes-master-1f3',
    },
    {
      description:
        'Replace a replica whose processes died but whose data disk survived, keeping its etcd member.',
      command: '<%= config.bin %> replace --replica kubernetes-master-1f3 --keep-data',
    },
  ];

  static override flags = {
    replica: describedFlag(operationFlags.replica, { summary: 'The broken replica; required.' }),
    'keep-data': operationFlags['keep-data'],
  };

  async run() {
    const options = replaceOptions(this.flags);
    return (await this.controlPlane()).replace({ ...options, signal: this.signal });
  }
}
