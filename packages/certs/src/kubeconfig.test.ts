import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHacpError } from '@hacp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKubeconfig, clientKubeconfig, type KubeconfigClient } from './kubeconfig.js';
import { createClusterPki } from './pki.js';
import {
  decode,
  type Kubeconfig,
  keyBodyLines,
  openssl,
  opensslVerify,
  parseYaml,
  subjectOf,
} from './test-support.js';
import type { ClusterPki } from './types.js';

let pki: ClusterPki;
let dir: string;

beforeAll(async () => {
  pki = await createClusterPki({ clusterName: 'demo', endpointAddress: '34.1.2.3' });
  dir = mkdtempSync(join(tmpdir(), 'hacp-certs-kubeconfig-'));
});

const kubeconfig = (options: { server: string; contextName?: string }) =>
  parseYaml(adminKubeconfig(pki, options)) as unknown as Kubeconfig;

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('adminKubeconfig', () => {
  it('is a kubeconfig with one cluster, user and context for the server given', () => {
    const config = kubeconfig({ server: 'https://34.1.2.3:6443' });
    expect(config.apiVersion).toBe('v1');
    expect(config.kind).toBe('Config');
    expect(config.clusters).toHaveLength(1);
    expect(config.clusters[0]!.name).toBe('demo');
    expect(config.clusters[0]!.cluster.server).toBe('https://34.1.2.3:6443');
    expect(config.users).toHaveLength(1);
    expect(config.users[0]!.name).toBe('demo-admin');
    expect(config.contexts).toEqual([{ context: { cluster: 'demo', user: 'demo-admin' }, name: 'demo' }]);
    expect(config['current-context']).toBe('demo');
    expect(config.preferences).toEqual({});
  });

  it('embeds the cluster CA and the admin certificate and key', () => {
    const config = kubeconfig({ server: 'https://34.1.2.3:6443' });
    expect(decode(config.clusters[0]!.cluster['certificate-authority-data'])).toBe(pki.ca.certPem);
    expect(decode(config.users[0]!.user['client-certificate-data'])).toBe(pki.admin.certPem);
    expect(decode(config.users[0]!.user['client-key-data'])).toBe(pki.admin.keyPem.reveal());
  });

  it('holds a client certificate that openssl verifies against the embedded CA, for system:masters', () => {
    const config = kubeconfig({ server: 'https://34.1.2.3:6443' });
    const caFile = join(dir, 'ca.crt');
    const certFile = join(dir, 'admin.crt');
    const cert = decode(config.users[0]!.user['client-certificate-data']);
    writeFileSync(caFile, decode(config.clusters[0]!.cluster['certificate-authority-data']));
    writeFileSync(certFile, cert);
    const result = opensslVerify({ caFile, certFile, purpose: 'sslclient' });
    expect(result.output).toContain(': OK');
    expect(subjectOf(cert)).toBe('CN=kubernetes-admin,O=system:masters');
    // The embedded key is the certificate's.
    const key = decode(config.users[0]!.user['client-key-data']);
    expect(openssl(['pkey', '-pubout'], key)).toBe(openssl(['x509', '-noout', '-pubkey'], cert));
  });

  it('keeps the origin of the server URL and names the context as asked', () => {
    const config = kubeconfig({ server: 'https://api.demo.example:6443/', contextName: 'demo-prod' });
    expect(config.clusters[0]!.cluster.server).toBe('https://api.demo.example:6443');
    expect(config.contexts[0]!.name).toBe('demo-prod');
    expect(config['current-context']).toBe('demo-prod');
  });

  it.each(['http://x', 'not a url', '', 'ftp://34.1.2.3'])(
    'refuses server %j with INVALID_ARGUMENT on server, without the key in the error',
    (server) => {
      let error: unknown;
      try {
        adminKubeconfig(pki, { server });
      } catch (caught) {
        error = caught;
      }
      expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe('server');
      const shown = `${String(error)} ${JSON.stringify(error)}`;
      for (const line of keyBodyLines(pki)) expect(shown).not.toContain(line);
    },
  );
});

describe('clientKubeconfig', () => {
  const render = (client: KubeconfigClient, contextName?: string) =>
    parseYaml(
      clientKubeconfig(pki, {
        server: 'https://10.128.0.2:6443',
        client,
        ...(contextName === undefined ? {} : { contextName }),
      }),
    ) as unknown as Kubeconfig;

  it.each<[KubeconfigClient, string, string]>([
    ['controllerManager', 'system:kube-controller-manager', 'CN=system:kube-controller-manager'],
    ['scheduler', 'system:kube-scheduler', 'CN=system:kube-scheduler'],
    ['addonManager', 'system:addon-manager', 'CN=system:addon-manager,O=system:masters'],
  ])('renders %s as kubeadm does: user %s, the cluster named after the cluster', (client, user, subject) => {
    const config = render(client);
    expect(config.clusters).toHaveLength(1);
    expect(config.clusters[0]!.name).toBe('demo');
    expect(config.clusters[0]!.cluster.server).toBe('https://10.128.0.2:6443');
    expect(decode(config.clusters[0]!.cluster['certificate-authority-data'])).toBe(pki.ca.certPem);
    expect(config.users.map((entry) => entry.name)).toEqual([user]);
    expect(config.contexts).toEqual([{ context: { cluster: 'demo', user }, name: `${user}@demo` }]);
    expect(config['current-context']).toBe(`${user}@demo`);
    const cert = decode(config.users[0]!.user['client-certificate-data']);
    expect(cert).toBe(pki[client].certPem);
    expect(decode(config.users[0]!.user['client-key-data'])).toBe(pki[client].keyPem.reveal());
    expect(subjectOf(cert)).toBe(subject);
  });

  it('gives each client its own certificate', () => {
    const certs = (['admin', 'controllerManager', 'scheduler', 'addonManager'] as const).map(
      (client) => render(client).users[0]!.user['client-certificate-data'],
    );
    expect(new Set(certs).size).toBe(4);
  });

  it('renders admin exactly as adminKubeconfig does', () => {
    const options = { server: 'https://34.1.2.3:6443', contextName: 'prod' };
    expect(clientKubeconfig(pki, { ...options, client: 'admin' })).toBe(adminKubeconfig(pki, options));
    expect(render('admin').users[0]!.name).toBe('demo-admin');
    expect(render('admin')['current-context']).toBe('demo');
  });

  it.each(['true', 'no', 'null', 'my context', 'a: b', '#1', '1.5', 'prod:'])(
    'quotes context name %j so that it reads back as that string',
    (contextName) => {
      const config = render('scheduler', contextName);
      expect(config.contexts[0]!.name).toBe(contextName);
      expect(config['current-context']).toBe(contextName);
    },
  );

  it('refuses a client it has no certificate for with INVALID_ARGUMENT on client', () => {
    let error: unknown;
    try {
      clientKubeconfig(pki, { server: 'https://10.128.0.2:6443', client: 'kubelet' as KubeconfigClient });
    } catch (caught) {
      error = caught;
    }
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as { details: { field: string } }).details.field).toBe('client');
  });

  it.each(['http://10.128.0.2:6443', '10.128.0.2:6443', ''])(
    'refuses server %j with INVALID_ARGUMENT on server',
    (server) => {
      let error: unknown;
      try {
        clientKubeconfig(pki, { server, client: 'scheduler' });
      } catch (caught) {
        error = caught;
      }
      expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe('server');
      const shown = `${String(error)} ${JSON.stringify(error)}`;
      for (const line of keyBodyLines(pki)) expect(shown).not.toContain(line);
    },
  );
});
