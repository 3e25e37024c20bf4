import { invalidArgument } from '@hacp/core';
import type { ClusterPki } from './types.js';

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * The admin kubeconfig for `server` (normally `https://<endpoint address>:<port>`), with the
 * cluster CA, the admin client certificate and its key embedded. It holds a private key: write it
 * 0600 and never log it.
 *
 * @example
 * writeFileSync('admin.conf', adminKubeconfig(pki, { server: 'https://34.1.2.3' }), { mode: 0o600 });
 * @throws HacpError INVALID_ARGUMENT (field `server`) when `server` is not an https URL.
 */
export function adminKubeconfig(pki: ClusterPki, options: { server: string; contextName?: string }): string {
  let url: URL;
  try {
    url = new URL(options.server);
  } catch {
    throw invalidArgument({
      field: 'server',
      value: String(options.server),
      message: `server "${String(options.server)}" is not a URL.`,
    });
  }
  if (url.protocol !== 'https:') {
    throw invalidArgument({
      field: 'server',
      value: options.server,
      message: `server "${options.server}" must be an https URL: the apiserver only serves TLS.`,
    });
  }
  const cluster = pki.settings.clusterName;
  const user = `${cluster}-admin`;
  const context = options.contextName ?? cluster;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${base64(pki.ca.certPem)}`,
    `    server: ${url.origin}`,
    `  name: ${cluster}`,
    'contexts:',
    '- context:',
    `    cluster: ${cluster}`,
    `    user: ${user}`,
    `  name: ${context}`,
    `current-context: ${context}`,
    'preferences: {}',
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${base64(pki.admin.certPem)}`,
    `    client-key-data: ${base64(pki.admin.keyPem.reveal())}`,
    '',
  ].join('\n');
}
