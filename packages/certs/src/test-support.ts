// What the certs tests share: openssl as an independent judge of the certificates, a recording
// logger, and the key material to look for where it must not be. Not exported from the package.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Logger, Secret } from '@hacp/core';
import type { ClusterPki, IssuedLeaf } from './types.js';

/** Runs openssl; throws with its output when it exits non-zero. */
export function openssl(args: readonly string[], input?: string): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** One extension as `openssl x509 -ext` prints it. */
export interface PrintedExtension {
  critical: boolean;
  values: string[];
}

const EXTENSION_NAMES: Record<string, string> = {
  'X509v3 Basic Constraints': 'basicConstraints',
  'X509v3 Key Usage': 'keyUsage',
  'X509v3 Extended Key Usage': 'extendedKeyUsage',
  'X509v3 Subject Alternative Name': 'subjectAltName',
};

/** basicConstraints, keyUsage, extendedKeyUsage and subjectAltName of a certificate, parsed by openssl. */
export function printedExtensions(certPem: string): Record<string, PrintedExtension> {
  const text = openssl(
    ['x509', '-noout', '-ext', 'subjectAltName,keyUsage,extendedKeyUsage,basicConstraints'],
    certPem,
  );
  const extensions: Record<string, PrintedExtension> = {};
  let current: PrintedExtension | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (/^\s/.test(line)) {
      current?.values.push(...line.trim().split(/,\s*/));
      continue;
    }
    const [header = '', flag = ''] = line.split(':').map((part) => part.trim());
    const name = EXTENSION_NAMES[header];
    if (name === undefined) throw new Error(`unexpected openssl line: ${line}`);
    current = { critical: flag === 'critical', values: [] };
    extensions[name] = current;
  }
  return extensions;
}

/** An IP as openssl prints it: IPv6 in eight groups without leading zeros, lowercased. */
export function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::');
  const parts = (text: string) => (text === '' ? [] : text.split(':'));
  const groups =
    tail === undefined
      ? parts(head)
      : [...parts(head), ...Array(8 - parts(head).length - parts(tail).length).fill('0'), ...parts(tail)];
  return groups.map((group) => Number.parseInt(group, 16).toString(16)).join(':');
}

/** The DNS and IP subject alternative names of a certificate, as openssl reads them, sorted. */
export function subjectAltNames(certPem: string): { dns: string[]; ip: string[] } {
  const values = printedExtensions(certPem).subjectAltName?.values ?? [];
  return {
    dns: values.flatMap((value) => (value.startsWith('DNS:') ? [value.slice(4)] : [])).sort(),
    ip: values
      .flatMap((value) => (value.startsWith('IP Address:') ? [canonicalIp(value.slice(11))] : []))
      .sort(),
  };
}

/** The subject as openssl prints it in RFC 2253 form, such as `CN=kubernetes-admin,O=system:masters`. */
export function subjectOf(certPem: string): string {
  return openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], certPem)
    .replace(/^subject=/, '')
    .trim();
}

/** `openssl verify -x509_strict` of one certificate file against one CA file. */
export function opensslVerify(options: {
  caFile: string;
  certFile: string;
  purpose?: 'sslserver' | 'sslclient';
  hostname?: string;
  ip?: string;
  at?: Date;
}): { ok: boolean; output: string } {
  const args = ['verify', '-x509_strict', '-CAfile', options.caFile];
  if (options.purpose !== undefined) args.push('-purpose', options.purpose);
  if (options.hostname !== undefined) args.push('-verify_hostname', options.hostname);
  if (options.ip !== undefined) args.push('-verify_ip', options.ip);
  if (options.at !== undefined) args.push('-attime', String(Math.floor(options.at.getTime() / 1000)));
  args.push(options.certFile);
  try {
    return { ok: true, output: openssl(args) };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

/** Every certificate file a written PKI should hold, with the CA file it must verify against. */
export function expectedIssuers(replicaNames: readonly string[]): Record<string, string> {
  const ca = 'pki/ca.crt';
  const etcdCa = 'pki/etcd/ca.crt';
  const frontProxyCa = 'pki/front-proxy-ca.crt';
  const issuers: Record<string, string> = {
    [ca]: ca,
    [etcdCa]: etcdCa,
    [frontProxyCa]: frontProxyCa,
    'pki/admin.crt': ca,
    'pki/front-proxy-client.crt': frontProxyCa,
    'pki/etcd/healthcheck-client.crt': etcdCa,
    'pki/apiserver-kubelet-client.crt': ca,
    'pki/controller-manager.crt': ca,
    'pki/scheduler.crt': ca,
    'pki/addon-manager.crt': ca,
  };
  for (const name of replicaNames) {
    issuers[`replicas/${name}/pki/apiserver.crt`] = ca;
    issuers[`replicas/${name}/pki/apiserver-etcd-client.crt`] = etcdCa;
    issuers[`replicas/${name}/pki/etcd/server.crt`] = etcdCa;
    issuers[`replicas/${name}/pki/etcd/peer.crt`] = etcdCa;
  }
  return issuers;
}

/**
 * `openssl verify` of every certificate file under `dir` against the CA `expectedIssuers` gives it.
 * `files` lists the `.crt` files found, so a caller can check none went unchecked.
 */
export function verifyEveryCertificate(
  dir: string,
  replicaNames: readonly string[],
  at?: Date,
): { files: string[]; expected: string[]; failures: string[] } {
  const issuers = expectedIssuers(replicaNames);
  const failures: string[] = [];
  for (const [cert, ca] of Object.entries(issuers)) {
    const result = opensslVerify({ caFile: join(dir, ca), certFile: join(dir, cert), ...(at ? { at } : {}) });
    if (!result.ok || !result.output.includes(': OK'))
      failures.push(`${cert} against ${ca}: ${result.output}`);
  }
  return { files: filesUnder(dir, '.crt'), expected: Object.keys(issuers).sort(), failures };
}

/** Every leaf of a PKI by the name `certificatesOf` gives it. */
export function leavesOf(pki: ClusterPki): Record<string, IssuedLeaf> {
  const leaves: Record<string, IssuedLeaf> = {
    admin: pki.admin,
    'front-proxy-client': pki.frontProxyClient,
    'etcd-client': pki.etcdClient,
    'apiserver-kubelet-client': pki.apiserverKubeletClient,
    'controller-manager': pki.controllerManager,
    scheduler: pki.scheduler,
    'addon-manager': pki.addonManager,
  };
  for (const [name, certs] of Object.entries(pki.replicas)) {
    leaves[`${name}/etcd-peer`] = certs.etcdPeer;
    leaves[`${name}/etcd-server`] = certs.etcdServer;
    leaves[`${name}/apiserver`] = certs.apiserver;
    leaves[`${name}/apiserver-etcd-client`] = certs.apiserverEtcdClient;
  }
  return leaves;
}

/** The files under `dir`, relative and sorted, with `/` separators. */
export function filesUnder(dir: string, suffix = ''): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

/** The folders under `dir` (not `dir` itself), relative and sorted. */
export function foldersUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

/** A logger that keeps every line, fields serialised as JSON, as a sink would store them. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const record =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    };
  return {
    lines,
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
}

/** Every private key of a PKI. */
export function privateKeysOf(pki: ClusterPki): Secret[] {
  const keys = [
    pki.ca.keyPem,
    pki.etcdCa.keyPem,
    pki.frontProxyCa.keyPem,
    pki.serviceAccount.privateKeyPem,
    pki.admin.keyPem,
    pki.frontProxyClient.keyPem,
    pki.etcdClient.keyPem,
    pki.apiserverKubeletClient.keyPem,
    pki.controllerManager.keyPem,
    pki.scheduler.keyPem,
    pki.addonManager.keyPem,
  ];
  for (const certs of Object.values(pki.replicas)) {
    keys.push(
      certs.etcdPeer.keyPem,
      certs.etcdServer.keyPem,
      certs.apiserver.keyPem,
      certs.apiserverEtcdClient.keyPem,
    );
  }
  return keys;
}

/** The base64 body lines of every private key of a PKI: none of them may show up in a log or an error. */
export function keyBodyLines(pki: ClusterPki): string[] {
  return privateKeysOf(pki).flatMap((key) =>
    key
      .reveal()
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('-----')),
  );
}

/** The PKI with every Secret revealed, for deep comparison. */
export function revealed(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (typeof (value as Secret).reveal === 'function') return { secret: (value as Secret).reveal() };
  if (Array.isArray(value)) return value.map(revealed);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, revealed(item)]));
}

export const DAY_MS = 86_400_000;

export type Yaml = string | Yaml[] | { [key: string]: Yaml };

/**
 * Parses the block YAML a kubeconfig uses: mappings, sequences of mappings (`- ` at the parent's
 * indent, as kubectl writes them), plain scalars, JSON-style double-quoted scalars and `{}`. Throws
 * on anything else, so a malformed document fails the test.
 */
export function parseYaml(text: string): Yaml {
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
        mapping[key] = value === '{}' ? {} : value.startsWith('"') ? (JSON.parse(value) as string) : value;
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
export interface Kubeconfig {
  apiVersion: string;
  kind: string;
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  'current-context': string;
  preferences: object;
  users: { name: string; user: { 'client-certificate-data': string; 'client-key-data': string } }[];
}

export const decode = (value: string) => Buffer.from(value, 'base64').toString('utf8');
