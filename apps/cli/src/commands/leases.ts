import { Flags } from '@oclif/core';
import { HacpCommand } from '../base-command.js';
import { type LeasesResult, renderLeases } from '../render.js';

export default class Leases extends HacpCommand<typeof Leases, LeasesResult> {
  static override summary = 'Show the apiserver identity leases and the leader leases.';

  static override description =
    "Reads kube-system's leases through the cluster's Kubernetes API, with the cluster's own admin credentials through its endpoint: which replica each apiserver identity lease belongs to and whether it is stale, and who holds each leader lease (kube-controller-manager, kube-scheduler, ...) and on which replica. --kubeconfig reads another API instead; $KUBECONFIG is not read, as it usually names another cluster. An etcd-only cluster has no leases: it needs --kubeconfig.";

  static override examples = [
    { description: "With the cluster's own credentials.", command: '<%= config.bin %> leases' },
    {
      description: 'Through a given kubeconfig, as JSON.',
      command: '<%= config.bin %> leases --kubeconfig ~/.kube/hacp-kubernetes --json',
    },
  ];

  static override flags = {
    kubeconfig: Flags.string({
      summary: "A kubeconfig for the Kubernetes API to read, instead of the cluster's own.",
      description: "Default: the cluster's admin credentials, through its endpoint.",
      helpValue: '<file>',
    }),
  };

  async run() {
    const kubeconfig = this.flags.kubeconfig;
    const controlPlane = await this.controlPlane(kubeconfig === undefined ? {} : { kubeconfig });
    return controlPlane.leases({ signal: this.signal });
  }

  protected override renderText(result: LeasesResult): string {
    return renderLeases(result);
  }
}
