import { invalidArgument } from '@hacp/core';
import { trustedCaPem } from './cas.js';
import type { ClusterPki } from './types.js';

/** The clients hacp renders a kubeconfig for, each with its cluster-wide client certificate. */
export const KUBECONFIG_CLIENTS = ['admin', 'controllerManager', 'scheduler', 'addonManager'] as const;
export type KubeconfigClient = (typeof KUBECONFIG_CLIENTS)[number];

/** The user name in each client's kubeconfig: kubeadm's, which is the certificate's CN for the components. */
function userName(client: KubeconfigClient, clusterName: string): string {
  switch (client) {
    case 'admin':
      return `${clusterName}-admin`;
    case 'controllerManager':
      return 'system:kube-controller-manager';
    case 'scheduler':
      return 'system:kube-scheduler';
    case 'addonManager':
      return 'system:addon-manager';
  }
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** YAML 1.1 reads these plain words as booleans or null, which client-go refuses as a string field. */
const YAML_WORDS = /^(y|yes|n|no|true|false|on|off|null)$/i;
const PLAIN = /^[A-Za-z]([A-Za-z0-9@:._-]*[A-Za-z0-9@._-])?$/;

/** A YAML scalar for a name: plain when it reads back as that string, else double-quoted (JSON is valid there). */
function yamlScalar(value: string): string {
  return PLAIN.test(value) && !YAML_WORDS.test(value) ? value : JSON.stringify(value);
}

/**
 * The origin of an https URL, as kubeconfigs name a server.
 *
 * @throws HacpError INVALID_ARGUMENT naming `field` when `value` is not an https URL.
 */
export function httpsOrigin(field: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidArgument({
      field,
      value: String(value),
      message: `${field} "${String(value)}" is not a URL.`,
    });
  }
  if (url.protocol !== 'https:') {
    throw invalidArgument({
      field,
      value,
      message: `${field} "${value}" must be an https URL: the apiserver only serves TLS.`,
    });
  }
  return url.origin;
}

/** What `clientKubeconfig` takes. */
export interface ClientKubeconfigOptions {
  /** The apiserver, `https://<address>:<port>`; only the URL's origin is kept. */
  server: string;
  /** Whose certificate it carries. */
  client: KubeconfigClient;
  /**
   * Default: the cluster name for `admin`; `<user>@<cluster>` for the components, as kubeadm names
   * them (`system:kube-scheduler@kubernetes`).
   */
  contextName?: string;
}

/**
 * A kubeconfig for one of the cluster's clients, in kubeadm's shape: the cluster (named after the
 * cluster) at `server` with the cluster CA embedded, and one user with that client's certificate and
 * key embedded (`admin` → `<cluster>-admin`, `controllerManager` → `system:kube-controller-manager`,
 * `scheduler` → `system:kube-scheduler`, `addonManager` → `system:addon-manager`). It holds a
 * private key: write it 0600 and never log it.
 *
 * @example
 * const conf = clientKubeconfig(pki, { server: 'https://10.128.0.2:6443', client: 'scheduler' });
 * writeFileSync('/etc/kubernetes/scheduler.conf', conf, { mode: 0o600 });
 * @throws HacpError INVALID_ARGUMENT: field `server` when it is not an https URL, `client` when it
 *   is none of KUBECONFIG_CLIENTS.
 */
export function clientKubeconfig(pki: ClusterPki, options: ClientKubeconfigOptions): string {
  const server = httpsOrigin('server', options.server);
  if (!(KUBECONFIG_CLIENTS as readonly string[]).includes(options.client)) {
    throw invalidArgument({
      field: 'client',
      value: String(options.client),
      message: `client "${String(options.client)}" is not one of ${KUBECONFIG_CLIENTS.join(', ')}.`,
    });
  }
  const cluster = pki.settings.clusterName;
  const user = userName(options.client, cluster);
  const context = options.contextName ?? (options.client === 'admin' ? cluster : `${user}@${cluster}`);
  const leaf = pki[options.client];
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    // During a cluster CA rotation both CAs, so that either one's serving certificate is trusted.
    `    certificate-authority-data: ${base64(trustedCaPem(pki, 'ca'))}`,
    `    server: ${server}`,
    `  name: ${yamlScalar(cluster)}`,
    'contexts:',
    '- context:',
    `    cluster: ${yamlScalar(cluster)}`,
    `    user: ${yamlScalar(user)}`,
    `  name: ${yamlScalar(context)}`,
    `current-context: ${yamlScalar(context)}`,
    'preferences: {}',
    'users:',
    `- name: ${yamlScalar(user)}`,
    '  user:',
    `    client-certificate-data: ${base64(leaf.certPem)}`,
    `    client-key-data: ${base64(leaf.keyPem.reveal())}`,
    '',
  ].join('\n');
}

/**
 * The admin kubeconfig for `server` (normally `https://<endpoint address>:<port>`): the
 * `clientKubeconfig` of the admin client (O=system:masters). It holds a private key: write it 0600
 * and never log it.
 *
 * @example
 * writeFileSync('admin.conf', adminKubeconfig(pki, { server: 'https://34.1.2.3' }), { mode: 0o600 });
 * @throws HacpError INVALID_ARGUMENT (field `server`) when `server` is not an https URL.
 */
export function adminKubeconfig(pki: ClusterPki, options: { server: string; contextName?: string }): string {
  return clientKubeconfig(pki, { ...options, client: 'admin' });
}
