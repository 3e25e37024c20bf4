import { Flags } from '@oclif/core';
import { HacpCommand } from '../../base-command.js';
import { CA_NAMES } from '../../operation-options.js';
import { type RotateCaResult, renderRotated } from '../../render.js';

export default class CertsRotateCa extends HacpCommand<typeof CertsRotateCa, RotateCaResult> {
  static override summary = 'Replace a CA in the safe order: trust both, reissue, drop the old.';

  static override description =
    "Replaces the cluster's etcd CA in three phases, each rolled onto the replicas one at a time as `hacp certs renew` rolls (each replica leaves the load balancer, hands etcd leadership on, gets the new files and restarts, and is healthy and back before the next): (1) a new etcd CA is made and every replica trusts both; (2) every certificate the etcd CA signs (etcd peer and server certificates, kube-apiserver's etcd client certificate, hacp's own etcd client certificate) is reissued from the new CA; (3) the old CA is dropped, so that a client certificate it signed is refused, and the cluster record names the new one. The etcd CA only for now: `--ca cluster` and `--ca front-proxy` are refused. Refused, with nothing changed, while a replica or etcd member is unhealthy, and on a provider that cannot rewrite a running replica's files (GCE). An interrupted rotation continues with `hacp resume` or by running it again.";

  static override examples = [
    {
      description: 'Rotate the etcd CA, then check what every replica serves.',
      command: '<%= config.bin %> certs rotate-ca --ca etcd && <%= config.bin %> certs check',
    },
    { description: 'The same, as JSON.', command: '<%= config.bin %> certs rotate-ca --ca etcd --json' },
    {
      description: 'Its steps, without running them.',
      command: '<%= config.bin %> plan rotate-ca --ca etcd',
    },
  ];

  static override flags = {
    ca: Flags.option({
      options: CA_NAMES,
      summary: 'The CA to replace.',
      description: 'Only `etcd` is supported yet; `cluster` and `front-proxy` are refused.',
      required: true,
    })(),
  };

  protected override readonly resumable: boolean = true;

  async run() {
    return (await this.controlPlane()).certs.rotateCa({ ca: this.flags.ca, signal: this.signal });
  }

  protected override renderText(result: RotateCaResult): string {
    return renderRotated(result);
  }
}
