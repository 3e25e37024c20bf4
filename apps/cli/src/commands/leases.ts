import { Flags } from '@oclif/core';
import { HacpCommand } from '../base-command.js';
import { readStringVariable } from '../env.js';
import { type LeasesResult, renderLeases } from '../render.js';

export default class Leases extends HacpCommand<typeof Leases, LeasesResult> {
  static override summary = 'Show the apiserver identity leases and the leader leases.';

  static override description =
    "Reads kube-system's leases through the cluster's Kubernetes API: which replica each apiserver identity lease belongs to and whether it is stale, and who holds each leader lease (controller-manager, scheduler, ...). Needs a kubeconfig for the cluster.";

  static override examples = [
    { description: 'With the kubeconfig of KUBECONFIG.', command: '<%= config.bin %> leases' },
    {
      description: 'With a given kubeconfig, as JSON.',
      command: '<%= config.bin %> leases --kubeconfig ~/.kube/hacp-kubernetes --json',
    },
  ];

  static override flags = {
    kubeconfig: Flags.string({
      summary: "A kubeconfig for the cluster's Kubernetes API.",
      description: 'Default: $KUBECONFIG.',
      helpValue: '<file>',
    }),
  };

  async run() {
    const kubeconfig = this.flags.kubeconfig ?? readStringVariable(this.io.env, 'KUBECONFIG');
    const controlPlane = await this.controlPlane(kubeconfig === undefined ? {} : { kubeconfig });
    return controlPlane.leases({ signal: this.signal });
  }

  protected override renderText(result: LeasesResult): string {
    return renderLeases(result);
  }
}
