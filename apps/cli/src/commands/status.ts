import type { ClusterStatus } from '@hacp/sdk';
import { HacpCommand } from '../base-command.js';
import { renderStatus } from '../render.js';

export default class Status extends HacpCommand<typeof Status, ClusterStatus> {
  static override summary = 'Show the replicas, etcd, Kubernetes, the endpoint and the fault tolerance.';

  static override description =
    "Draws the topology as a tree: replicas by zone with their IP, health, etcd role and, in a cluster running Kubernetes, their components' health (kube-apiserver's /readyz, kube-controller-manager's and kube-scheduler's /healthz: ok, failing or unreachable); etcd members without a replica; the Kubernetes version and which replica holds the kube-controller-manager and kube-scheduler leases; the endpoint and its load balancer's targets; then how many failures and which zone losses the control plane survives, and any interrupted operation. Warnings follow on stderr.";

  static override examples = [
    { description: 'The default cluster.', command: '<%= config.bin %> status' },
    {
      description: 'As JSON (schemas/status.json).',
      command: '<%= config.bin %> status --cluster prod --json',
    },
  ];

  async run() {
    return (await this.controlPlane()).status({ signal: this.signal });
  }

  protected override renderText(result: ClusterStatus): string {
    return renderStatus(result);
  }
}
