/**
 * Where things live on a GCE replica and how its boot is described in instance metadata. The
 * startup script, the static pods and the metadata renderer share these, so they cannot drift.
 */

/**
 * The data disk's mount point and the NodeConfig's `rootDir`: certificates and etcd's data live on
 * the persistent disk, so a replacement VM that gets the disk back keeps its member (kube-up's
 * `/mnt/disks/master-pd`, reference §3.5).
 */
export const REPLICA_ROOT_DIR = '/mnt/disks/master-pd';

/** The data disk's device name: it appears as `/dev/disk/by-id/google-master-pd`, as in kube-up. */
export const DATA_DISK_DEVICE_NAME = 'master-pd';

/**
 * The replica's health endpoint, which the target pool's HTTP health check asks. 200 only while the
 * local kube-apiserver is ready (or, without one, while the local etcd member is healthy).
 *
 * Port 8081 clashes with nothing a replica runs: kube-up's ports (reference §3.2: 443, 2379–2382,
 * 4001, 4002, 8132), hacp's (2379–2381, 6443), the kubelet's (10248, 10250, 10255) and the other
 * control-plane components' (10257, 10259). It also avoids 8080, kube-apiserver's historical
 * insecure port, which old tooling still probes.
 */
export const HEALTH_ENDPOINT = { port: 8081, path: '/healthz' } as const;

/** Where the startup script asks the health endpoint, on the VM itself. */
export const HEALTH_URL = `http://127.0.0.1:${HEALTH_ENDPOINT.port}${HEALTH_ENDPOINT.path}`;

/**
 * The startup script's own lines on the serial console that the provider reads (bootProblems): each
 * line is `prefix` and a text, an error line `errorPrefix` and the reason. The script and the provider
 * share these, so they cannot drift.
 */
export const STARTUP_LOG = {
  prefix: 'hacp-startup: ',
  errorPrefix: 'hacp-startup: error: ',
  /** The script's first line of a boot, followed by the cluster's name. */
  booting: 'booting a replica of cluster',
  /** Printed after the kubelet started, and again about every 60 s while the health endpoint is silent. */
  healthWaiting: 'waiting for the health endpoint to answer',
  /** The boot is done: the health endpoint answered 200. */
  healthAnswers: 'the health endpoint answers',
  /** The error when the health endpoint stayed silent for HACP_HEALTH_WAIT_SECONDS, followed by `N s`. */
  healthSilent: 'the health endpoint did not answer within',
} as const;

/** The instance metadata keys a replica's boot reads. */
export const METADATA_KEYS = {
  cluster: 'hacp-cluster',
  kubernetesVersion: 'hacp-kubernetes-version',
  files: 'hacp-files',
  manifests: 'hacp-manifests',
  containerdConfig: 'hacp-containerd-config',
  registryHosts: 'hacp-registry-hosts',
  /** `handed-over` (InstanceSpec.dataDiskHandedOver: the disk another instance wrote is this one's now) or `own`. */
  dataDisk: 'hacp-data-disk',
  startupScript: 'startup-script',
} as const;

/** GCE's limits on instance metadata: one value, and all keys plus values together. */
export const METADATA_LIMITS = { valueBytes: 256 * 1024, totalBytes: 512 * 1024 } as const;

/** The health endpoint's HAProxy configuration, relative to REPLICA_ROOT_DIR. */
export const HEALTH_CONFIG_PATH = 'health/haproxy.cfg';

/** The kubelet's static pod folder on the VM. */
export const MANIFESTS_DIR = '/etc/kubernetes/manifests';

/** Where the startup script installs binaries: /usr is read-only on COS (kube-up's configure.sh). */
export const BIN_DIR = '/home/kubernetes/bin';

/** Where kubernetes release binaries are downloaded from (kube-up's configure.sh). */
export const RELEASE_URL = 'https://dl.k8s.io/release';

/**
 * The file on the data disk naming the instance that wrote it (GCE's instance id): a disk another
 * instance wrote has what it left moved aside at boot (startup-script.ts, step 1b), unless the
 * instance's `hacp-data-disk` metadata says it was handed over.
 */
export const DISK_OWNER_FILE = '.hacp-instance-id';

/** The GCE metadata server's folder of this instance's custom metadata. */
export const METADATA_URL = 'http://metadata.google.internal/computeMetadata/v1/instance/attributes';
