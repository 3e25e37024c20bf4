import { Flags } from '@oclif/core';
import { ignoredVariables, kubeDownDispatch } from '../env.js';
import { OperationCommand } from '../operation-command.js';

export default class KubeDown extends OperationCommand<typeof KubeDown> {
  static override summary = 'Do what kube-down.sh does, from its environment variables.';

  static override description = `Reads exactly the HA guide's variables and runs the matching command:
  KUBE_DELETE_NODES=false  -> hacp remove --zone $KUBE_GCE_ZONE --replica $KUBE_REPLICA_NAME (both optional)
  otherwise                -> hacp down, which asks on a terminal and otherwise needs --yes
KUBE_DELETE_NODES accepts exactly true or false (empty is unset); anything else fails with exit 2 before anything is touched.`;

  static override examples = [
    {
      description: 'Remove a replica from zone local-c.',
      command: 'KUBE_DELETE_NODES=false KUBE_GCE_ZONE=local-c <%= config.bin %> kube-down',
    },
    {
      description: 'Remove a named replica.',
      command:
        'KUBE_DELETE_NODES=false KUBE_GCE_ZONE=local-b KUBE_REPLICA_NAME=kubernetes-master-1f3 <%= config.bin %> kube-down',
    },
    { description: 'Delete the whole cluster.', command: '<%= config.bin %> kube-down --yes' },
  ];

  static override flags = {
    yes: Flags.boolean({ char: 'y', summary: 'When deleting the whole cluster, do not ask.' }),
  };

  async run() {
    const env = this.io.env;
    const dispatch = kubeDownDispatch(env);
    for (const { reason } of ignoredVariables(env, dispatch)) {
      this.addWarning({ code: 'VARIABLE_IGNORED', message: reason });
    }
    if (dispatch.command === 'remove') {
      return (await this.controlPlane()).remove({
        ...(dispatch.zone === undefined ? {} : { zone: dispatch.zone }),
        ...(dispatch.name === undefined ? {} : { name: dispatch.name }),
        signal: this.signal,
      });
    }
    await this.confirmDown(this.flags.yes);
    return (await this.controlPlane()).down({ signal: this.signal });
  }
}
