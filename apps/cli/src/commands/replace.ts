import { OperationCommand } from '../operation-command.js';
import { describedFlag, operationFlags, replaceOptions } from '../operation-options.js';

export default class Replace extends OperationCommand<typeof Replace> {
  static override summary = 'Replace a broken replica with a new one in its zone.';

  static override description =
    "Removes the broken replica (also when its instance is unreachable, or was deleted outside hacp while its etcd member is still listed) and adds one in the same zone. Where the broken replica's data disk is intact, its etcd member moves onto the new instance instead (etcd member migration), so no data is streamed.";

  static override examples = [
    {
      description: 'Replace a replica that lost its zone.',
      command: '<%= config.bin %> replace --replica kubernetes-master-1f3',
    },
  ];

  static override flags = {
    replica: describedFlag(operationFlags.replica, { summary: 'The broken replica; required.' }),
  };

  async run() {
    const options = replaceOptions(this.flags);
    return (await this.controlPlane()).replace({ ...options, signal: this.signal });
  }
}
