import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHacpError } from '@hacp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKubeconfig } from './kubeconfig.js';
import { createClusterPki } from './pki.js';
import { keyBodyLines, openssl, opensslVerify, subjectOf } from './test-support.js';
import type { ClusterPki } from './types.js';

type Yaml = string | Yaml[] | { [key: string]: Yaml };

/**
 * Parses the block YAML a kubeconfig uses: mappings, sequences of mappings (`- ` at the parent's
 * indent, as kubectl writes them), plain scalars and `{}`. Throws on anything else, so a malformed
 * document fails the test.
 */
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => ({ indent: line.length - line.trimStart().length, text: line.trim() }));
  let index = 0;
  const block = (indent: number): Yaml => {
    if (lines[index]?.text.startsWith('- ')) {
      const items: Yaml[] = [];
      while (lines[index]?.indent === indent && lines[index]?.text.startsWith('- ')) {
        const line = lines[index]!;
        lines[index] = { indent: indent + 2, text: line.text.slice(2) };
        items.push(block(indent + 2));
      }
      return items;
    }
    const mapping: Record<string, Yaml> = {};
    while (lines[index]?.indent === indent && !lines[index]?.text.startsWith('- ')) {
      const match = /^([A-Za-z0-9_-]+):(?: (.+))?$/.exec(lines[index]!.text);
      if (!match) throw new Error(`not a mapping entry: ${lines[index]!.text}`);
      const [, key = '', value] = match;
      if (key in mapping) throw new Error(`duplicate key ${key}`);
      index++;
      if (value !== undefined) {
        mapping[key] = value === '{}' ? {} : value;
        continue;
      }
      const next = lines[index];
      const nested = next && (next.indent > indent || (next.indent === indent && next.text.startsWith('- ')));
      if (!nested) throw new Error(`no value for ${key}`);
      mapping[key] = block(next.indent);
    }
    return mapping;
  };
  const document = block(0);
  if (index !== lines.length) throw new Error(`unparsed line: ${lines[index]!.text}`);
  return document;
}

/** The shape kubectl reads, as far as these tests look. */
interface Kubeconfig {
  apiVersion: string;
  kind: string;
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  'current-context': string;
  preferences: object;
  users: { name: string; user: { 'client-certificate-data': string; 'client-key-data': string } }[];
}

const decode = (value: string) => Buffer.from(value, 'base64').toString('utf8');

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
