import { Flags } from '@oclif/core';
import { OperationCommand } from '../operation-command.js';

export default class Down extends OperationCommand<typeof Down> {
  static override summary = 'Delete the cluster (kube-down).';

  static override description =
    'Deletes every replica, the load balancer, the endpoint address, the firewall rules, the record and the PKI. It asks first on a terminal; without a terminal (or with --json) it runs only with --yes.';

  static override examples = [
    { description: 'Delete the default cluster after confirming.', command: '<%= config.bin %> down' },
    { description: 'In a script.', command: '<%= config.bin %> down --cluster prod --yes' },
  ];

  static override flags = {
    yes: Flags.boolean({ char: 'y', summary: 'Delete without asking.' }),
  };

  async run() {
    await this.confirmDown(this.flags.yes);
    return (await this.controlPlane()).down({ signal: this.signal });
  }
}
