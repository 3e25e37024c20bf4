import { Flags } from '@oclif/core';
import { HacpCommand } from '../../base-command.js';
import { CA_NAMES } from '../../operation-options.js';
import { type RotateCaResult, renderRotated } from '../../render.js';

export default class CertsRotateCa extends HacpCommand<typeof CertsRotateCa, RotateCaResult> {
  static override summary = 'Replace a CA in the safe order: trust both, reissue, drop the old.';

  static override description =
    `Replaces one of the cluster's CAs in three phases, each rolled onto the replicas one at a time as \`hacp certs renew\` rolls (each replica leaves the load balancer, hands etcd leadership on, gets the new files and restarts, and is healthy and back before the next): (1) a new CA is made and every replica trusts both; (2) every certificate that CA signs is reissued from the new CA; (3) the old CA is dropped, so that a client certificate it signed is refused, and the cluster record names the new one.

--ca etcd: the etcd peer and server certificates, kube-apiserver's etcd client certificate and hacp's own etcd client certificate; replicas trust pki/etcd/ca.crt.
--ca cluster: each kube-apiserver's serving and kubelet-client certificates, and the admin, controller-manager, scheduler and add-on manager client certificates inside their kubeconfigs; replicas trust pki/ca.crt (--client-ca-file, --root-ca-file, the kubeconfigs' certificate-authority-data) and kube-controller-manager signs with the new CA from phase 2. The admin kubeconfig in the state folder (what \`hacp kubeconfig\` writes) is rewritten at every phase, so it keeps working; copies made elsewhere before the rotation stop working at phase 2: write them again with \`hacp kubeconfig --output <file>\`.
--ca front-proxy: the aggregation layer's client certificate; replicas trust pki/front-proxy-ca.crt (--requestheader-client-ca-file).

A cluster without Kubernetes (etcd only) rotates the cluster and front-proxy CAs all the same: its PKI and the files on its replicas change, so that a Kubernetes added later finds them consistent. One CA at a time: refused (CONFLICT, nothing changed) while another CA's rotation is unfinished. Refused, with nothing changed, while a replica or etcd member is unhealthy, and on a provider that cannot rewrite a running replica's files (GCE). An interrupted rotation continues with \`hacp resume\` or by running it again.`;

  static override examples = [
    {
      description: 'Rotate the etcd CA, then check what every replica serves.',
      command: '<%= config.bin %> certs rotate-ca --ca etcd && <%= config.bin %> certs check',
    },
    { description: 'The same, as JSON.', command: '<%= config.bin %> certs rotate-ca --ca etcd --json' },
    {
      description: 'Rotate the cluster CA, then write the new admin kubeconfig where kubectl reads it.',
      command:
        '<%= config.bin %> certs rotate-ca --ca cluster && <%= config.bin %> kubeconfig --output ~/.kube/hacp',
    },
    {
      description: 'Its steps, without running them.',
      command: '<%= config.bin %> plan rotate-ca --ca front-proxy',
    },
  ];

  static override flags = {
    ca: Flags.option({
      options: CA_NAMES,
      summary: 'The CA to replace: etcd, cluster or front-proxy.',
      description: 'What each one signs is listed above.',
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
