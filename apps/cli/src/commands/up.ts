import { OperationCommand } from '../operation-command.js';
import { describedFlag, operationFlags, upOptions } from '../operation-options.js';

export default class Up extends OperationCommand<typeof Up> {
  static override summary = 'Create a cluster with one replica (kube-up).';

  static override description =
    `Reserves the endpoint address, opens etcd's ports between replicas only, creates the cluster PKI and its record, starts the first replica (<cluster>-master, etcd "new") and attaches the address to it. Grow it afterwards with \`hacp replicate\`.

Every replica runs the whole Kubernetes control plane (kube-apiserver, kube-controller-manager and kube-scheduler on leader-election leases, the add-on manager) of one version, chosen here and recorded: --kubernetes-version, else the version of the binaries HACP_KUBE_BIN_DIR names, else stable-1.32; binaries are downloaded into hacp's cache when needed (see \`hacp binaries\`). Without a version asked for and no binaries to be had, the cluster runs etcd only, with a warning. --no-kubernetes makes an etcd-only cluster. The admin kubeconfig is written to <state-dir>/clusters/<cluster>/admin.conf.

kube-up's variables are the defaults: KUBE_GCE_ZONE, MULTIZONE and ENABLE_ETCD_QUORUM_READ (or its misspelling ENABLE_ETCD_QUORUM_READS); and hacp's HACP_KUBERNETES_VERSION and HACP_KUBERNETES. Booleans accept exactly true or false. Interrupted, it continues with \`hacp resume\` or the same command.`;

  static override examples = [
    {
      description: 'A cluster whose replicas may spread over the zones of region local.',
      command: '<%= config.bin %> up --zone local-a --multizone',
    },
    {
      description: "The same with kube-up's variables.",
      command: 'MULTIZONE=true KUBE_GCE_ZONE=local-a <%= config.bin %> up',
    },
    {
      description: 'Kubernetes 1.23 (the newest patch the release location publishes).',
      command: '<%= config.bin %> up --zone local-a --kubernetes-version 1.23',
    },
    {
      description: 'An etcd-only cluster.',
      command: '<%= config.bin %> up --zone local-a --no-kubernetes',
    },
    {
      description: 'RSA keys, a named cluster, JSON output.',
      command: '<%= config.bin %> up --cluster prod --zone local-a --key-algorithm rsa-2048 --json',
    },
  ];

  static override flags = {
    zone: describedFlag(operationFlags.zone, {
      summary: 'The zone of the first replica (KUBE_GCE_ZONE); required.',
    }),
    multizone: operationFlags.multizone,
    'quorum-reads': operationFlags['quorum-reads'],
    'key-algorithm': operationFlags['key-algorithm'],
    'kubernetes-version': operationFlags['kubernetes-version'],
    kubernetes: operationFlags.kubernetes,
  };

  async run() {
    const options = upOptions(this.flags, this.io.env);
    return (await this.controlPlane()).up({ ...options, signal: this.signal });
  }
}
