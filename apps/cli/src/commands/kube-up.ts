import { ignoredVariables, kubeUpDispatch } from '../env.js';
import { OperationCommand } from '../operation-command.js';

export default class KubeUp extends OperationCommand<typeof KubeUp> {
  static override summary = 'Do what kube-up.sh does, from its environment variables.';

  static override description = `Reads exactly the HA guide's variables and runs the matching command:
  KUBE_REPLICATE_EXISTING_MASTER=true  -> hacp replicate --zone $KUBE_GCE_ZONE (MULTIZONE and quorum reads are inherited from the cluster)
  otherwise                            -> hacp up --zone $KUBE_GCE_ZONE with MULTIZONE and ENABLE_ETCD_QUORUM_READ (or ENABLE_ETCD_QUORUM_READS)
hacp's HACP_KUBERNETES_VERSION (the Kubernetes version) and HACP_KUBERNETES (false: etcd only) apply to a new cluster; a replica inherits the cluster's.
Booleans accept exactly true or false (empty is unset); anything else fails with exit 2 before anything is touched.`;

  static override examples = [
    {
      description: "The HA guide's first command.",
      command: 'MULTIZONE=true KUBE_GCE_ZONE=local-a ENABLE_ETCD_QUORUM_READS=true <%= config.bin %> kube-up',
    },
    {
      description: 'A new cluster running Kubernetes 1.23.',
      command: 'KUBE_GCE_ZONE=local-a HACP_KUBERNETES_VERSION=1.23 <%= config.bin %> kube-up',
    },
    {
      description: 'Add a replica.',
      command: 'KUBE_GCE_ZONE=local-b KUBE_REPLICATE_EXISTING_MASTER=true <%= config.bin %> kube-up',
    },
  ];

  async run() {
    const env = this.io.env;
    const dispatch = kubeUpDispatch(env);
    for (const { reason } of ignoredVariables(env, dispatch)) {
      this.addWarning({ code: 'VARIABLE_IGNORED', message: reason });
    }
    if (dispatch.command === 'replicate') {
      return (await this.controlPlane()).replicate({
        ...(dispatch.zone === undefined ? {} : { zone: dispatch.zone }),
        signal: this.signal,
      });
    }
    return (await this.controlPlane()).up({
      zone: dispatch.zone,
      multizone: dispatch.multizone,
      quorumReads: dispatch.quorumReads,
      kubernetes: dispatch.kubernetes,
      ...(dispatch.kubernetesVersion === undefined ? {} : { kubernetesVersion: dispatch.kubernetesVersion }),
      signal: this.signal,
    });
  }
}
