import { HacpCommand } from '../../base-command.js';
import { type RenewResult, renderRenewed } from '../../render.js';

export default class CertsRenew extends HacpCommand<typeof CertsRenew, RenewResult> {
  static override summary =
    'Reissue every leaf certificate from the same CAs and roll them onto the replicas.';

  static override description =
    "Reissues the replicas' etcd peer and server certificates, the apiserver serving and etcd client certificates and the cluster's client certificates from the cluster's CAs, writes them to the PKI folder, then rolls them onto the replicas one at a time: each replica leaves the load balancer, hands etcd leadership on, gets the new files and restarts its processes, and is healthy and back behind the load balancer before the next one starts. Refused, with nothing changed, while a replica or etcd member is unhealthy. An interrupted renew continues with `hacp resume` or by running it again. The CAs stay. A provider that cannot rewrite a running replica's files (GCE) is refused: replace each replica instead (`hacp replace --replica <name>`).";

  static override examples = [
    {
      description: 'Renew and roll, then check what every replica serves.',
      command: '<%= config.bin %> certs renew && <%= config.bin %> certs check',
    },
    { description: 'The same, as JSON.', command: '<%= config.bin %> certs renew --json' },
  ];

  protected override readonly resumable: boolean = true;

  async run() {
    return (await this.controlPlane()).certs.renew({ signal: this.signal });
  }

  protected override renderText(result: RenewResult): string {
    return renderRenewed(result);
  }
}
