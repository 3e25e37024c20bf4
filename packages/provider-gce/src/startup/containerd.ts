/**
 * The container runtime's side of a replica's boot: containerd's configuration (the systemd cgroup
 * driver the kubelet is given, the pause image of the Kubernetes version) and its registry mirrors
 * (`hosts.toml` files, containerd's own mirror model, which kube-up's configure-helper and kops'
 * `containerd.registryMirrors` write too). Which boot images have a runtime at all is here as well.
 */
import { invalidArgument } from '@hacp/core';

/** containerd's configuration on the VM. */
export const CONTAINERD_CONFIG_PATH = '/etc/containerd/config.toml';
/** containerd's registry hosts folder on the VM: `<registry>/hosts.toml` (its `config_path`). */
export const CONTAINERD_CERTS_DIR = '/etc/containerd/certs.d';

/** The first line of every `hosts.toml` hacp writes: the startup script removes only those. */
export const REGISTRY_HOSTS_MARKER = '# Written by hacp.';

/** Registry host → its mirrors (URLs, tried in order before the registry itself). */
export type RegistryMirrors = Readonly<Record<string, readonly string[]>>;

/**
 * kube-up's default: Docker Hub through Google's pull-through cache (configure-helper's
 * `docker.io` → `mirror.gcr.io`), so the health endpoint's HAProxy image is not subject to Docker
 * Hub's pull limits. registry.k8s.io needs none.
 */
export const DEFAULT_REGISTRY_MIRRORS: RegistryMirrors = { 'docker.io': ['https://mirror.gcr.io'] };

/** kubeadm's pause image for each Kubernetes minor (`constants.PauseVersion` of its release). */
const PAUSE_VERSIONS: readonly [minor: number, pause: string][] = [
  [34, '3.10.1'],
  [31, '3.10'],
  [26, '3.9'],
  [25, '3.8'],
  [24, '3.7'],
  [23, '3.6'],
  [22, '3.5'],
  [21, '3.4.1'],
  [0, '3.2'],
];

/**
 * The sandbox (pause) image kubeadm uses for a Kubernetes version, such as
 * `registry.k8s.io/pause:3.10` for 1.31: the kubelet and containerd then agree on it, and
 * containerd never garbage-collects it.
 */
export function pauseImage(kubernetesVersion: string): string {
  const minor = Number(/^v?1\.(\d+)\./.exec(kubernetesVersion)?.[1] ?? Number.NaN);
  const pause = PAUSE_VERSIONS.find(([from]) => minor >= from)?.[1] ?? '3.10.1';
  return `registry.k8s.io/pause:${pause}`;
}

// A registry as containerd names it: a host name or IP, with an optional port.
const REGISTRY_HOST =
  /^(?=.{1,253}(:|$))[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/;

/** A mirror as a URL: `https://host[:port][/path]` (or http); a bare host name means https. */
function mirrorUrl(value: unknown, field: string): string {
  const text = typeof value === 'string' ? value : '';
  const candidate = /^[a-z]+:\/\//i.test(text) ? text : `https://${text}`;
  let url: URL | undefined;
  try {
    url = new URL(candidate);
  } catch {
    url = undefined;
  }
  const host = url === undefined ? '' : url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
  if (
    url === undefined ||
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    !REGISTRY_HOST.test(host) ||
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    /["\\\s]/.test(text)
  ) {
    throw invalidArgument({
      field,
      value: String(value),
      message: `${field} "${String(value)}" is not a registry mirror: a URL such as https://mirror.gcr.io or a host name such as mirror.example.com:5000.`,
    });
  }
  return `${url.protocol}//${host}${url.pathname.replace(/\/$/, '')}`;
}

/**
 * Checks `registryMirrors` and returns it with every mirror as a URL.
 *
 * @throws HacpError INVALID_ARGUMENT naming the field (`registryMirrors`, `registryMirrors["docker.io"]`,
 *   `registryMirrors["docker.io"][0]`) for a registry that is not a host name or a mirror that is
 *   neither a URL nor a host name.
 */
export function assertRegistryMirrors(mirrors: unknown): RegistryMirrors {
  if (typeof mirrors !== 'object' || mirrors === null || Array.isArray(mirrors)) {
    throw invalidArgument({
      field: 'registryMirrors',
      value: String(mirrors),
      message: 'registryMirrors must map registry host names to lists of mirror URLs.',
    });
  }
  const checked: Record<string, string[]> = {};
  for (const [registry, list] of Object.entries(mirrors)) {
    const field = `registryMirrors[${JSON.stringify(registry)}]`;
    if (!REGISTRY_HOST.test(registry)) {
      throw invalidArgument({
        field,
        value: registry,
        message: `${field}: "${registry}" is not a registry host name such as docker.io or registry.k8s.io.`,
      });
    }
    if (!Array.isArray(list) || list.length === 0) {
      throw invalidArgument({
        field,
        value: String(list),
        message: `${field} must be a non-empty list of mirrors.`,
      });
    }
    checked[registry] = list.map((mirror, index) => mirrorUrl(mirror, `${field}[${index}]`));
  }
  return checked;
}

/** The server containerd falls back to for a registry: Docker Hub's API host is not its name. */
const registryServer = (registry: string) =>
  registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`;

/**
 * `/etc/containerd/config.toml` (version 2, which containerd 1.6, 1.7 and 2.x read): the CRI
 * plugin with runc under the systemd cgroup driver (the kubelet's `cgroupDriver: systemd`; two
 * cgroup managers on one host is what kubeadm warns against), the pause image of the version, and
 * the registry hosts folder for the mirrors.
 */
export function renderContainerdConfig(kubernetesVersion: string): string {
  return `# Written by hacp: containerd for a replica's static pods.
version = 2
required_plugins = ["io.containerd.grpc.v1.cri"]

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage(kubernetesVersion)}"
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "${CONTAINERD_CERTS_DIR}"
`;
}

/** One registry's `hosts.toml`: its mirrors in order, then the registry itself. */
export function renderRegistryHosts(registry: string, mirrors: readonly string[]): string {
  const hosts = mirrors
    .map((mirror) => `\n[host."${mirror}"]\n  capabilities = ["pull", "resolve"]\n`)
    .join('');
  return `${REGISTRY_HOSTS_MARKER}\nserver = "${registryServer(registry)}"\n${hosts}`;
}

/** Public image projects and families without a container runtime, and what they are. */
const WITHOUT_RUNTIME: readonly [pattern: RegExp, what: string][] = [
  [/^debian-/, 'Debian'],
  [/^(centos|centos-stream)-/, 'CentOS'],
  [/^rocky-linux-/, 'Rocky Linux'],
  [/^(rhel|rhel-sap)-/, 'Red Hat Enterprise Linux'],
  [/^almalinux-/, 'AlmaLinux'],
  [/^oracle-linux-/, 'Oracle Linux'],
  [/^(sles|opensuse)-/, 'SUSE'],
  [/^ubuntu-(minimal-|pro-)?\d/, "Ubuntu's plain images"],
  [/^windows-/, 'Windows'],
];
const PROJECTS_WITHOUT_RUNTIME = new Set([
  'debian-cloud',
  'centos-cloud',
  'rocky-linux-cloud',
  'rhel-cloud',
  'rhel-sap-cloud',
  'almalinux-cloud',
  'oracle-linux-cloud',
  'suse-cloud',
  'suse-sap-cloud',
  'opensuse-cloud',
  'ubuntu-os-cloud',
  'ubuntu-os-pro-cloud',
  'windows-cloud',
]);

/**
 * Refuses a boot image that has no container runtime: a replica runs its control plane as static
 * pods under containerd, which Container-Optimized OS (`cos-cloud`, kube-up's default master
 * image) and GKE's Ubuntu images (`ubuntu-os-gke-cloud`, kube-up's other master distribution)
 * ship, and Debian, CentOS, Rocky, RHEL, SUSE, Windows and plain Ubuntu do not. An image of one's
 * own is accepted; its boot stops with a message when it has no containerd.
 *
 * @throws HacpError INVALID_ARGUMENT (`image`) naming the image and what to use instead.
 */
export function assertImageHasContainerRuntime(image: string): void {
  const path = image.replace(/^https:\/\/(www|compute)\.googleapis\.com\/compute\/(v1|beta|alpha)\//, '');
  const project = /^projects\/([^/]+)\//.exec(path)?.[1];
  const name = path.split('/').at(-1) ?? '';
  const family = WITHOUT_RUNTIME.find(([pattern]) => pattern.test(name))?.[1];
  if (family === undefined && (project === undefined || !PROJECTS_WITHOUT_RUNTIME.has(project))) return;
  throw invalidArgument({
    field: 'image',
    value: image,
    message: `Image ${image}${family === undefined ? '' : ` (${family})`} has no container runtime, and a replica runs its control plane as static pods under containerd.`,
    actions: [
      "Use Container-Optimized OS, the default and kube-up's master image: projects/cos-cloud/global/images/family/cos-stable (or a cos-<milestone>-lts family).",
      'Or a GKE Ubuntu image, which has containerd: an image of projects/ubuntu-os-gke-cloud.',
    ],
  });
}
