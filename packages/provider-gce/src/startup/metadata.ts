import { assertClusterName, assertNodeConfig, invalidArgument, isSecret, type NodeFile } from '@hacp/core';
import { DEFAULT_REGISTRY_MIRRORS, renderContainerdConfig, renderRegistryHosts } from './containerd.js';
import { renderHealthEndpointConfig } from './health-endpoint.js';
import { HEALTH_CONFIG_PATH, METADATA_KEYS, METADATA_LIMITS } from './layout.js';
import { renderStartupScript } from './startup-script.js';
import { type ReplicaMetadataOptions, renderStaticPods, replicaKubernetesVersion } from './static-pods.js';

/** One instance metadata item. */
export interface MetadataItem {
  key: string;
  value: string;
}

const REPLICA_NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** The one place a Secret's contents are unwrapped: into the `hacp-files` metadata value. */
function fileLine(file: NodeFile): string {
  const contents = isSecret(file.contents) ? file.contents.reveal() : file.contents;
  return `${file.mode.toString(8).padStart(4, '0')} ${file.path} ${base64(contents)}`;
}

function assertWithinLimits(replica: string, items: readonly MetadataItem[]): void {
  let total = 0;
  for (const item of items) {
    const bytes = Buffer.byteLength(item.value, 'utf8');
    total += Buffer.byteLength(item.key, 'utf8') + bytes;
    if (bytes > METADATA_LIMITS.valueBytes) {
      throw invalidArgument({
        field: `metadata.${item.key}`,
        value: bytes,
        message: `Replica ${replica}'s metadata item ${item.key} would be ${bytes} bytes; GCE allows ${METADATA_LIMITS.valueBytes} per value.`,
        actions: ['Make the NodeConfig smaller: fewer or smaller files and arguments.'],
      });
    }
  }
  if (total > METADATA_LIMITS.totalBytes) {
    throw invalidArgument({
      field: 'metadata',
      value: total,
      message: `Replica ${replica}'s metadata would be ${total} bytes; GCE allows ${METADATA_LIMITS.totalBytes} per instance.`,
      actions: ['Make the NodeConfig smaller: fewer or smaller files and arguments.'],
    });
  }
}

/**
 * The instance metadata that boots a replica: the startup script (the same on every replica) and
 * what it reads. Formats:
 * - `hacp-cluster`: the cluster name;
 * - `hacp-kubernetes-version`: the kubelet's version, without `v` (`NodeConfig.kubernetesVersion`,
 *   else `kubernetesVersion`; a build such as `1.32.0-beta.0.0+cd13ec4ae44e` keeps its `+`);
 * - `hacp-files`: a line per file, `<4-digit octal mode> <path relative to REPLICA_ROOT_DIR>
 *   <base64 contents>`, the NodeConfig's files plus the health endpoint's `health/haproxy.cfg`;
 * - `hacp-manifests`: a line per static pod, `<file name> <base64 JSON>`;
 * - `hacp-containerd-config`: containerd's `config.toml` (renderContainerdConfig of the version);
 * - `hacp-registry-hosts`: a line per mirrored registry, `<registry> <base64 hosts.toml>` (empty
 *   without mirrors);
 * - `startup-script`: renderStartupScript().
 *
 * `hacp-files` holds the private keys in clear (base64): anyone who may read the instance can read
 * them, as with kube-up's `kube-master-certs`.
 *
 * @throws HacpError INVALID_ARGUMENT when the NodeConfig fails assertNodeConfig or renderStaticPods
 *   refuses it (a process without an image, ...), the cluster, replica or version is malformed, or
 *   an item would exceed GCE's limits (256 KiB a value, 512 KiB in all).
 * @example
 * const metadata = renderReplicaMetadata({
 *   cluster: 'prod', replica: 'prod-master', nodeConfig, kubernetesVersion: '1.31.2',
 * });
 * await instances.insert({ ..., instanceResource: { ..., metadata: { items: metadata } } });
 */
export function renderReplicaMetadata(options: ReplicaMetadataOptions): MetadataItem[] {
  assertClusterName(options.cluster);
  if (typeof options.replica !== 'string' || !REPLICA_NAME.test(options.replica)) {
    throw invalidArgument({
      field: 'replica',
      value: String(options.replica),
      message: `"${String(options.replica)}" is not an instance name (lowercase letters, digits and dashes, at most 63).`,
    });
  }
  const config = options.nodeConfig;
  assertNodeConfig(config);
  if (config.files.some((file) => file.path === HEALTH_CONFIG_PATH)) {
    throw invalidArgument({
      field: 'nodeConfig.files',
      value: HEALTH_CONFIG_PATH,
      message: `File ${HEALTH_CONFIG_PATH} is the health endpoint's; the NodeConfig may not write it.`,
    });
  }
  const version = replicaKubernetesVersion(options);
  const pods = renderStaticPods(options);
  const healthFile: NodeFile = {
    path: HEALTH_CONFIG_PATH,
    mode: 0o644,
    contents: renderHealthEndpointConfig(config),
  };
  const items: MetadataItem[] = [
    { key: METADATA_KEYS.cluster, value: options.cluster },
    { key: METADATA_KEYS.kubernetesVersion, value: version },
    { key: METADATA_KEYS.files, value: [...config.files, healthFile].map(fileLine).join('\n') },
    {
      key: METADATA_KEYS.manifests,
      value: pods.map((pod) => `${pod.name} ${base64(JSON.stringify(pod.manifest))}`).join('\n'),
    },
    { key: METADATA_KEYS.containerdConfig, value: renderContainerdConfig(version) },
    { key: METADATA_KEYS.dataDisk, value: options.dataDiskHandedOver === true ? 'handed-over' : 'own' },
    {
      key: METADATA_KEYS.registryHosts,
      value: Object.entries(options.registryMirrors ?? DEFAULT_REGISTRY_MIRRORS)
        .map(([registry, mirrors]) => `${registry} ${base64(renderRegistryHosts(registry, mirrors))}`)
        .join('\n'),
    },
    { key: METADATA_KEYS.startupScript, value: renderStartupScript() },
  ];
  assertWithinLimits(options.replica, items);
  return items;
}
