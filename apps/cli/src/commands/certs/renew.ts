import { HacpCommand } from '../../base-command.js';
import { type RenewResult, renderRenewed } from '../../render.js';

export default class CertsRenew extends HacpCommand<typeof CertsRenew, RenewResult> {
  static override summary = 'Reissue every leaf certificate from the same CAs.';

  static override description =
    "Reissues the replicas' etcd peer and server certificates, the apiserver serving and etcd client certificates and the admin client certificate from the cluster's CAs, under the cluster lock, and writes them to the PKI folder. The CAs stay.";

  static override examples = [
    {
      description: 'Renew, then check.',
      command: '<%= config.bin %> certs renew && <%= config.bin %> certs check',
    },
  ];

  async run() {
    return (await this.controlPlane()).certs.renew({ signal: this.signal });
  }

  protected override renderText(result: RenewResult): string {
    return renderRenewed(result);
  }
}
