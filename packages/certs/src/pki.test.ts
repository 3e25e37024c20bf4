import { createPrivateKey, createPublicKey, X509Certificate as NodeCertificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { isHacpError, isSecret } from '@hacp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePki } from './files.js';
import { type KeyAlgorithm, x509 } from './keys.js';
import {
  type CreateClusterPkiOptions,
  certificatesOf,
  checkExpiry,
  createClusterPki,
  issueReplicaCerts,
  renewLeaves,
  withoutReplica,
  withReplica,
} from './pki.js';
import {
  canonicalIp,
  DAY_MS,
  keyBodyLines,
  leavesOf,
  printedExtensions,
  privateKeysOf,
  recordingLogger,
  subjectAltNames,
  subjectOf,
  verifyEveryCertificate,
} from './test-support.js';
import type { ClusterPki, ReplicaIdentity } from './types.js';

// A whole second: certificates keep seconds only, so daysLeft comes out exact.
const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const at = (days: number) => new Date(now.getTime() + days * DAY_MS);
const log = recordingLogger();

const MASTER: ReplicaIdentity = {
  replicaName: 'demo-master',
  hostname: 'demo-master',
  internalIp: '10.128.0.2',
  externalIp: '35.1.1.1',
};
const SECOND: ReplicaIdentity = {
  replicaName: 'demo-master-a1b',
  hostname: 'demo-master-a1b',
  internalIp: '10.128.0.3',
};

let bare: ClusterPki;
let pki: ClusterPki;
/** A DNS-name endpoint, kubeadm's 10.96.0.0/12 service range and a custom DNS domain. */
let dnsPki: ClusterPki;
/** IPv6 throughout. */
let v6Pki: ClusterPki;

beforeAll(async () => {
  bare = await createClusterPki({ clusterName: 'demo', endpointAddress: '34.1.2.3', now, logger: log });
  const [master, second] = await Promise.all([
    issueReplicaCerts(bare, MASTER, { now, logger: log }),
    issueReplicaCerts(bare, SECOND, { now, logger: log }),
  ]);
  pki = withReplica(withReplica(bare, master), second);

  const corp = await createClusterPki({
    clusterName: 'corp',
    endpointAddress: 'api.corp.example',
    serviceCidr: '10.96.0.0/12',
    dnsDomain: 'corp.internal',
    now,
  });
  dnsPki = withReplica(
    corp,
    await issueReplicaCerts(corp, {
      replicaName: 'corp-master',
      hostname: 'corp-master',
      internalIp: '10.0.5.7',
    }),
  );

  const six = await createClusterPki({
    clusterName: 'six',
    endpointAddress: 'fd00::100',
    serviceCidr: 'fd00:10:96::/108',
    now,
  });
  v6Pki = withReplica(
    six,
    await issueReplicaCerts(six, {
      replicaName: 'six-master',
      hostname: 'six-master',
      internalIp: 'fd00:1::2',
      externalIp: '2001:db8::7',
    }),
  );
});

const CLIENT = ['TLS Web Client Authentication'];
const SERVER = ['TLS Web Server Authentication'];
const SERVER_AND_CLIENT = ['TLS Web Server Authentication', 'TLS Web Client Authentication'];

function issuedBy(certPem: string, caPem: string): boolean {
  const cert = new NodeCertificate(certPem);
  const ca = new NodeCertificate(caPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

describe('createClusterPki', () => {
  it('fills in kube-up and kubeadm defaults', () => {
    expect(pki.settings).toEqual({
      clusterName: 'demo',
      endpointAddress: '34.1.2.3',
      serviceCidr: '10.0.0.0/16',
      firstServiceIp: '10.0.0.1',
      dnsDomain: 'cluster.local',
      keyAlgorithm: 'ecdsa-p256',
      caValidityDays: 3650,
      leafValidityDays: 365,
    });
    expect(pki.formatVersion).toBe(1);
    expect(bare.replicas).toEqual({});
  });

  it('makes every key and certificate ECDSA P-256', () => {
    const keys = privateKeysOf(pki).map((key) => createPrivateKey(key.reveal()));
    expect(keys).toHaveLength(11 + 2 * 4);
    for (const key of keys) {
      expect(key.asymmetricKeyType).toBe('ec');
      expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    }
    for (const { certPem } of certificatesOf(pki)) {
      expect(new NodeCertificate(certPem).publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    }
    expect(createPublicKey(pki.serviceAccount.publicKeyPem).asymmetricKeyDetails?.namedCurve).toBe(
      'prime256v1',
    );
  });

  it('pairs the service-account public key with its private key', () => {
    const spki = { type: 'spki', format: 'der' } as const;
    const derived = createPublicKey(createPrivateKey(pki.serviceAccount.privateKeyPem.reveal())).export(spki);
    expect(derived.equals(createPublicKey(pki.serviceAccount.publicKeyPem).export(spki))).toBe(true);
    expect(derived.equals(createPublicKey(pki.admin.keyPem.reveal()).export(spki))).toBe(false);
  });

  it('makes self-signed CAs: CA:TRUE critical, keyCertSign, valid ten years', () => {
    const cas = [
      [pki.ca, 'CN=kubernetes'],
      [pki.etcdCa, 'CN=etcd-ca'],
      [pki.frontProxyCa, 'CN=front-proxy-ca'],
    ] as const;
    for (const [ca, subject] of cas) {
      const extensions = printedExtensions(ca.certPem);
      expect(extensions.basicConstraints).toEqual({ critical: true, values: ['CA:TRUE'] });
      expect(extensions.keyUsage?.critical).toBe(true);
      expect(extensions.keyUsage?.values).toContain('Certificate Sign');
      expect(extensions.extendedKeyUsage).toBeUndefined();
      expect(subjectOf(ca.certPem)).toBe(subject);
      expect(issuedBy(ca.certPem, ca.certPem)).toBe(true);
      const cert = new NodeCertificate(ca.certPem);
      expect(Date.parse(cert.validTo) - now.getTime()).toBeGreaterThan(3649 * DAY_MS);
      expect(Date.parse(cert.validFrom)).toBeLessThanOrEqual(now.getTime());
    }
  });

  it('makes leaves CA:FALSE with digitalSignature only (no keyEncipherment for ECDSA), valid one year', () => {
    for (const [name, leaf] of Object.entries(leavesOf(pki))) {
      const extensions = printedExtensions(leaf.certPem);
      expect(extensions.basicConstraints, name).toEqual({ critical: true, values: ['CA:FALSE'] });
      expect(extensions.keyUsage, name).toEqual({ critical: true, values: ['Digital Signature'] });
      const cert = new NodeCertificate(leaf.certPem);
      expect(Math.round((Date.parse(cert.validTo) - now.getTime()) / DAY_MS), name).toBe(365);
    }
  });

  it('issues the admin cert to O=system:masters, CN=kubernetes-admin, client auth only, from the cluster CA', () => {
    expect(subjectOf(pki.admin.certPem)).toBe('CN=kubernetes-admin,O=system:masters');
    expect(printedExtensions(pki.admin.certPem).extendedKeyUsage?.values).toEqual(CLIENT);
    expect(printedExtensions(pki.admin.certPem).subjectAltName).toBeUndefined();
    expect(issuedBy(pki.admin.certPem, pki.ca.certPem)).toBe(true);
    expect(issuedBy(pki.admin.certPem, pki.etcdCa.certPem)).toBe(false);
  });

  it('issues the front-proxy client from the front-proxy CA and the healthcheck client from the etcd CA', () => {
    expect(subjectOf(pki.frontProxyClient.certPem)).toBe('CN=front-proxy-client');
    expect(printedExtensions(pki.frontProxyClient.certPem).extendedKeyUsage?.values).toEqual(CLIENT);
    expect(issuedBy(pki.frontProxyClient.certPem, pki.frontProxyCa.certPem)).toBe(true);
    expect(issuedBy(pki.frontProxyClient.certPem, pki.ca.certPem)).toBe(false);

    expect(printedExtensions(pki.etcdClient.certPem).extendedKeyUsage?.values).toEqual(CLIENT);
    expect(issuedBy(pki.etcdClient.certPem, pki.etcdCa.certPem)).toBe(true);
    expect(issuedBy(pki.etcdClient.certPem, pki.ca.certPem)).toBe(false);
  });
});

describe('the control-plane client certificates', () => {
  const expected = {
    apiserverKubeletClient: { cn: 'kube-apiserver-kubelet-client', o: ['system:masters'] },
    controllerManager: { cn: 'system:kube-controller-manager', o: [] },
    scheduler: { cn: 'system:kube-scheduler', o: [] },
    addonManager: { cn: 'system:addon-manager', o: ['system:masters'] },
  } as const;

  it.each(Object.entries(expected))(
    'issues %s with its CN and O, client auth only, no SANs',
    (field, names) => {
      const leaf = pki[field as keyof typeof expected];
      const cert = new x509.X509Certificate(leaf.certPem);
      expect(cert.subjectName.getField('CN')).toEqual([names.cn]);
      expect(cert.subjectName.getField('O')).toEqual([...names.o]);
      expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
        x509.ExtendedKeyUsage.clientAuth,
      ]);
      expect(cert.getExtension(x509.SubjectAlternativeNameExtension)).toBeNull();
      expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
      expect(printedExtensions(leaf.certPem).extendedKeyUsage?.values).toEqual(CLIENT);
      expect(leaf.profile).toEqual({
        issuer: 'ca',
        commonName: names.cn,
        organizations: [...names.o],
        usage: 'client',
        dnsNames: [],
        ipAddresses: [],
      });
    },
  );

  it.each(Object.keys(expected))('signs %s with the cluster CA, not the etcd or front-proxy CA', (field) => {
    const { certPem } = pki[field as keyof typeof expected];
    const cert = new x509.X509Certificate(certPem);
    expect(cert.issuer).toBe(new x509.X509Certificate(pki.ca.certPem).subject);
    expect(issuedBy(certPem, pki.ca.certPem)).toBe(true);
    expect(issuedBy(certPem, pki.etcdCa.certPem)).toBe(false);
    expect(issuedBy(certPem, pki.frontProxyCa.certPem)).toBe(false);
  });

  it('is one set for the cluster: adding replicas does not reissue them', () => {
    for (const field of Object.keys(expected) as (keyof typeof expected)[]) {
      expect(pki[field], field).toBe(bare[field]);
    }
  });
});

describe('issueReplicaCerts', () => {
  it('puts every SAN DESIGN.md lists in the apiserver cert, serverAuth only', () => {
    const apiserver = pki.replicas['demo-master']!.apiserver.certPem;
    expect(subjectAltNames(apiserver)).toEqual({
      dns: [
        'demo-master',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
        'localhost',
      ].sort(),
      // endpoint, internal IP, external IP, first service IP, loopback
      ip: ['34.1.2.3', '10.128.0.2', '35.1.1.1', '10.0.0.1', '127.0.0.1'].sort(),
    });
    expect(printedExtensions(apiserver).extendedKeyUsage?.values).toEqual(SERVER);
    expect(subjectOf(apiserver)).toBe('CN=kube-apiserver');
    expect(issuedBy(apiserver, pki.ca.certPem)).toBe(true);
  });

  it("names only the replica's own IPs, and no external IP when it has none", () => {
    const { ip } = subjectAltNames(pki.replicas['demo-master-a1b']!.apiserver.certPem);
    expect(ip).toContain('10.128.0.3');
    expect(ip).not.toContain('10.128.0.2');
    expect(ip).not.toContain('35.1.1.1');
    expect(pki.replicas['demo-master-a1b']!.identity).toEqual(SECOND);
  });

  it('names a DNS endpoint as a DNS SAN, with the custom domain and the first IP of 10.96.0.0/12', () => {
    expect(dnsPki.settings.firstServiceIp).toBe('10.96.0.1');
    const { dns, ip } = subjectAltNames(dnsPki.replicas['corp-master']!.apiserver.certPem);
    expect(dns).toContain('api.corp.example');
    expect(dns).toContain('kubernetes.default.svc.corp.internal');
    expect(dns).not.toContain('kubernetes.default.svc.cluster.local');
    expect(ip).toEqual(['10.0.5.7', '10.96.0.1', '127.0.0.1'].sort());
  });

  it('works with an IPv6 service CIDR, endpoint and replica addresses', () => {
    expect(v6Pki.settings.firstServiceIp).toBe('fd00:10:96::1');
    const { ip } = subjectAltNames(v6Pki.replicas['six-master']!.apiserver.certPem);
    expect(ip).toEqual(
      ['fd00:10:96::1', 'fd00::100', 'fd00:1::2', '2001:db8::7', '127.0.0.1'].map(canonicalIp).sort(),
    );
    const peer = subjectAltNames(v6Pki.replicas['six-master']!.etcdPeer.certPem);
    expect(peer.ip).toEqual(['fd00:1::2', '127.0.0.1', '::1'].map(canonicalIp).sort());
  });

  it('gives etcd peer and server certs the hostname, localhost, internal IP, 127.0.0.1 and ::1 (the server cert also the endpoint address), server and client auth', () => {
    const certs = pki.replicas['demo-master']!;
    expect(subjectAltNames(certs.etcdPeer.certPem)).toEqual({
      dns: ['demo-master', 'localhost'],
      ip: ['10.128.0.2', '127.0.0.1', canonicalIp('::1')].sort(),
    });
    expect(subjectAltNames(certs.etcdServer.certPem)).toEqual({
      dns: ['demo-master', 'localhost'],
      ip: ['10.128.0.2', '127.0.0.1', canonicalIp('::1'), '34.1.2.3'].sort(),
    });
    for (const leaf of [certs.etcdPeer, certs.etcdServer]) {
      expect(printedExtensions(leaf.certPem).extendedKeyUsage?.values).toEqual(SERVER_AND_CLIENT);
      expect(subjectOf(leaf.certPem)).toBe('CN=demo-master');
      expect(issuedBy(leaf.certPem, pki.etcdCa.certPem)).toBe(true);
      expect(issuedBy(leaf.certPem, pki.ca.certPem)).toBe(false);
    }
  });

  it("gives the apiserver's etcd client cert client auth only, from the etcd CA", () => {
    const client = pki.replicas['demo-master']!.apiserverEtcdClient.certPem;
    expect(printedExtensions(client).extendedKeyUsage?.values).toEqual(CLIENT);
    expect(printedExtensions(client).subjectAltName).toBeUndefined();
    expect(subjectOf(client)).toBe('CN=kube-apiserver-etcd-client');
    expect(issuedBy(client, pki.etcdCa.certPem)).toBe(true);
  });

  it('gives every leaf its own key', () => {
    const keys = privateKeysOf(pki).map((key) => key.reveal());
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('withReplica, withoutReplica, certificatesOf', () => {
  it('adds, replaces and removes a replica without changing the PKI given', () => {
    const master = pki.replicas['demo-master']!;
    const once = withReplica(bare, master);
    expect(Object.keys(once.replicas)).toEqual(['demo-master']);
    expect(bare.replicas).toEqual({});

    const replaced = withReplica(pki, { ...pki.replicas['demo-master-a1b']!, identity: MASTER });
    expect(replaced.replicas['demo-master']!.apiserver).toBe(pki.replicas['demo-master-a1b']!.apiserver);
    expect(Object.keys(replaced.replicas)).toHaveLength(2);

    const removed = withoutReplica(pki, 'demo-master');
    expect(Object.keys(removed.replicas)).toEqual(['demo-master-a1b']);
    expect(Object.keys(pki.replicas).sort()).toEqual(['demo-master', 'demo-master-a1b']);
    expect(removed.ca).toBe(pki.ca);
  });

  it('lists every certificate once, CAs first, replicas sorted', () => {
    const list = certificatesOf(pki);
    expect(list.map((entry) => entry.name)).toEqual([
      'ca',
      'etcd-ca',
      'front-proxy-ca',
      'admin',
      'front-proxy-client',
      'etcd-client',
      'apiserver-kubelet-client',
      'controller-manager',
      'scheduler',
      'addon-manager',
      'demo-master/etcd-peer',
      'demo-master/etcd-server',
      'demo-master/apiserver',
      'demo-master/apiserver-etcd-client',
      'demo-master-a1b/etcd-peer',
      'demo-master-a1b/etcd-server',
      'demo-master-a1b/apiserver',
      'demo-master-a1b/apiserver-etcd-client',
    ]);
    expect(list.filter((entry) => entry.isCa).map((entry) => entry.name)).toEqual([
      'ca',
      'etcd-ca',
      'front-proxy-ca',
    ]);
    expect(new Set(list.map((entry) => entry.certPem)).size).toBe(list.length);
  });
});

function expectInvalid(error: unknown, field: string): void {
  expect(isHacpError(error, 'INVALID_ARGUMENT'), String(error)).toBe(true);
  expect((error as { details: { field: string } }).details.field).toBe(field);
}

describe('bad input', () => {
  const base: CreateClusterPkiOptions = { clusterName: 'demo', endpointAddress: '34.1.2.3' };

  it.each<[string, Partial<CreateClusterPkiOptions>, string]>([
    ['an empty cluster name', { clusterName: '' }, 'clusterName'],
    ['an invalid cluster name', { clusterName: 'Demo_1' }, 'clusterName'],
    ['an endpoint that is no address', { endpointAddress: 'not an address!' }, 'endpointAddress'],
    ['an empty endpoint', { endpointAddress: '' }, 'endpointAddress'],
    ['an IPv4-mapped endpoint', { endpointAddress: '::ffff:34.1.2.3' }, 'endpointAddress'],
    ['a /31 service CIDR', { serviceCidr: '10.0.0.0/31' }, 'serviceCidr'],
    ['a /32 service CIDR', { serviceCidr: '10.0.0.0/32' }, 'serviceCidr'],
    ['a service CIDR without prefix', { serviceCidr: '10.0.0.0' }, 'serviceCidr'],
    ['a /33 service CIDR', { serviceCidr: '10.0.0.0/33' }, 'serviceCidr'],
    ['a service CIDR that is no address', { serviceCidr: 'x/16' }, 'serviceCidr'],
    ['a service CIDR with host bits', { serviceCidr: '10.0.0.5/16' }, 'serviceCidr'],
    ['a /8 service CIDR', { serviceCidr: '10.0.0.0/8' }, 'serviceCidr'],
    ['an unknown key algorithm', { keyAlgorithm: 'dsa' as KeyAlgorithm }, 'keyAlgorithm'],
    ['an invalid DNS domain', { dnsDomain: 'Cluster_Local' }, 'dnsDomain'],
    ['an empty DNS domain', { dnsDomain: '' }, 'dnsDomain'],
    ['zero CA days', { caValidityDays: 0 }, 'caValidityDays'],
    ['fractional leaf days', { leafValidityDays: 1.5 }, 'leafValidityDays'],
    ['leaves outliving the CA', { caValidityDays: 365, leafValidityDays: 366 }, 'leafValidityDays'],
  ])(
    'createClusterPki refuses %s, naming the field, before making any key',
    async (_case, override, field) => {
      const logger = recordingLogger();
      const error = await createClusterPki({ ...base, ...override, logger }).catch(
        (caught: unknown) => caught,
      );
      expectInvalid(error, field);
      expect(logger.lines).toEqual([]);
    },
  );

  it('points at the network address for a service CIDR with host bits', async () => {
    const error = await createClusterPki({ ...base, serviceCidr: '10.0.0.5/16' }).catch(
      (caught: unknown) => caught,
    );
    expect((error as { actions: string[] }).actions.join(' ')).toContain('10.0.0.0/16');
  });

  it.each<[string, Partial<ReplicaIdentity>, string]>([
    ['an invalid internal IP', { internalIp: '10.0.0.300' }, 'internalIp'],
    ['an IPv4-mapped internal IP', { internalIp: '::ffff:10.1.2.3' }, 'internalIp'],
    ['an invalid external IP', { externalIp: 'abc' }, 'externalIp'],
    ['an empty replica name', { replicaName: '' }, 'replicaName'],
    ['a blank replica name', { replicaName: '   ' }, 'replicaName'],
    ['an empty hostname', { hostname: '' }, 'hostname'],
    ['an invalid hostname', { hostname: 'Demo Master' }, 'hostname'],
  ])(
    'issueReplicaCerts refuses %s, naming the field, without a key in the error',
    async (_case, override, field) => {
      const logger = recordingLogger();
      const error = await issueReplicaCerts(bare, { ...MASTER, ...override }, { logger }).catch(
        (caught: unknown) => caught,
      );
      expectInvalid(error, field);
      expect(logger.lines).toEqual([]);
      const shown = [String(error), JSON.stringify(error), inspect(error, { depth: 10 })].join('\n');
      expect(shown).not.toContain('PRIVATE KEY');
      for (const line of keyBodyLines(pki)) expect(shown).not.toContain(line);
    },
  );
});

describe('secrets', () => {
  it('keeps every private key a Secret', () => {
    const keys = privateKeysOf(pki);
    expect(keys.every((key) => isSecret(key))).toBe(true);
    expect(keys.every((key) => key.reveal().startsWith('-----BEGIN PRIVATE KEY-----'))).toBe(true);
  });

  it('serialises and inspects the PKI without key material', () => {
    for (const shown of [JSON.stringify(pki), inspect(pki, { depth: 10 })]) {
      expect(shown).toContain(pki.ca.certPem.split('\n')[1]); // the certificates are there
      expect(shown).toContain('[redacted]');
      expect(shown).not.toContain('PRIVATE KEY');
      for (const line of keyBodyLines(pki)) expect(shown).not.toContain(line);
    }
  });

  it('logs what it does and never a private key', async () => {
    const renewed = await renewLeaves(pki, { now, logger: log });
    const text = log.lines.join('\n');
    expect(text).toContain('created cluster PKI');
    expect(text).toContain('issued certificate');
    expect(text).toContain('renewed leaf certificates');
    expect(log.lines.length).toBeGreaterThan(20);
    expect(text).not.toContain('PRIVATE KEY');
    for (const line of [...keyBodyLines(pki), ...keyBodyLines(renewed)]) expect(text).not.toContain(line);
  });
});

describe('checkExpiry', () => {
  it('reports every certificate ok now, with its name and common name', () => {
    const report = checkExpiry(pki, now);
    expect(report.map((entry) => entry.name)).toEqual(certificatesOf(pki).map((entry) => entry.name));
    expect(report.every((entry) => entry.status === 'ok')).toBe(true);
    expect(report.find((entry) => entry.name === 'admin')?.commonName).toBe('kubernetes-admin');
    expect(report.find((entry) => entry.name === 'demo-master/apiserver')).toMatchObject({
      commonName: 'kube-apiserver',
      isCa: false,
      daysLeft: 365,
    });
    expect(report.find((entry) => entry.name === 'ca')).toMatchObject({ isCa: true, daysLeft: 3650 });
  });

  it('reports the control-plane client certificates by name and common name', () => {
    const byName = new Map(checkExpiry(pki, at(350)).map((entry) => [entry.name, entry]));
    const clients = {
      'apiserver-kubelet-client': 'kube-apiserver-kubelet-client',
      'controller-manager': 'system:kube-controller-manager',
      scheduler: 'system:kube-scheduler',
      'addon-manager': 'system:addon-manager',
    };
    for (const [name, commonName] of Object.entries(clients)) {
      expect(byName.get(name), name).toMatchObject({
        commonName,
        isCa: false,
        status: 'expiring',
        daysLeft: 15,
      });
    }
  });

  it('reports leaves expiring within 30 days, and ok with a shorter warning', () => {
    const report = checkExpiry(pki, at(350));
    for (const entry of report) {
      expect(entry.status, entry.name).toBe(entry.isCa ? 'ok' : 'expiring');
      expect(entry.daysLeft, entry.name).toBe(entry.isCa ? 3300 : 15);
    }
    expect(report.map((entry) => entry.name)).toContain('demo-master/apiserver');
    expect(checkExpiry(pki, at(350), { warnWithinDays: 10 }).every((entry) => entry.status === 'ok')).toBe(
      true,
    );
  });

  it('reports leaves expired after a year and the CAs still ok', () => {
    const report = checkExpiry(pki, at(400));
    for (const entry of report) {
      expect(entry.status, entry.name).toBe(entry.isCa ? 'ok' : 'expired');
      expect(entry.daysLeft, entry.name).toBe(entry.isCa ? 3250 : -35);
    }
  });

  it('reports certificates not yet valid before they start', () => {
    expect(checkExpiry(pki, at(-1)).every((entry) => entry.status === 'not-yet-valid')).toBe(true);
  });
});

describe('renewLeaves', () => {
  let renewed: ClusterPki;
  let dir: string;

  beforeAll(async () => {
    renewed = await renewLeaves(pki, { now: at(400) });
    dir = mkdtempSync(join(tmpdir(), 'hacp-certs-renew-'));
    await writePki(dir, renewed);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the CAs, the service-account keys and the settings', () => {
    for (const ca of ['ca', 'etcdCa', 'frontProxyCa'] as const) {
      expect(renewed[ca].certPem).toBe(pki[ca].certPem);
      expect(renewed[ca].keyPem.reveal()).toBe(pki[ca].keyPem.reveal());
    }
    expect(renewed.serviceAccount.publicKeyPem).toBe(pki.serviceAccount.publicKeyPem);
    expect(renewed.serviceAccount.privateKeyPem.reveal()).toBe(pki.serviceAccount.privateKeyPem.reveal());
    expect(renewed.settings).toEqual(pki.settings);
  });

  it('gives every leaf a new certificate and key with the same subject, SANs, usages and identity', () => {
    const before = leavesOf(pki);
    const after = leavesOf(renewed);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const [name, leaf] of Object.entries(after)) {
      const old = before[name]!;
      expect(leaf.certPem, name).not.toBe(old.certPem);
      expect(leaf.keyPem.reveal(), name).not.toBe(old.keyPem.reveal());
      expect(subjectOf(leaf.certPem), name).toBe(subjectOf(old.certPem));
      expect(printedExtensions(leaf.certPem), name).toEqual(printedExtensions(old.certPem));
      expect(leaf.profile, name).toEqual(old.profile);
    }
    expect(renewed.replicas['demo-master']!.identity).toEqual(MASTER);
  });

  it('reissues the control-plane client certificates too', () => {
    for (const field of [
      'apiserverKubeletClient',
      'controllerManager',
      'scheduler',
      'addonManager',
    ] as const) {
      expect(renewed[field].certPem, field).not.toBe(pki[field].certPem);
      expect(renewed[field].keyPem.reveal(), field).not.toBe(pki[field].keyPem.reveal());
      expect(subjectOf(renewed[field].certPem), field).toBe(subjectOf(pki[field].certPem));
      expect(issuedBy(renewed[field].certPem, pki.ca.certPem), field).toBe(true);
      expect(new x509.X509Certificate(renewed[field].certPem).notBefore.getTime(), field).toBeGreaterThan(
        at(399).getTime(),
      );
    }
  });

  it('issues from the same CAs: openssl verifies every renewed certificate, and not the old ones, at +400 days', async () => {
    const later = at(401);
    const result = verifyEveryCertificate(dir, Object.keys(renewed.replicas), later);
    expect(result.files).toEqual(result.expected);
    expect(result.failures).toEqual([]);

    const old = mkdtempSync(join(tmpdir(), 'hacp-certs-old-'));
    try {
      await writePki(old, pki);
      const stale = verifyEveryCertificate(old, Object.keys(pki.replicas), later);
      // Every leaf of the old PKI has expired by then; only the three CAs still verify.
      expect(stale.failures).toHaveLength(stale.expected.length - 3);
      expect(stale.failures.every((failure) => failure.includes('certificate has expired'))).toBe(true);
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });

  it('makes checkExpiry at that time report everything ok', () => {
    const report = checkExpiry(renewed, at(400));
    expect(report).toHaveLength(18);
    expect(report.filter((entry) => entry.status !== 'ok')).toEqual([]);
    expect(report.find((entry) => entry.name === 'demo-master/apiserver')?.daysLeft).toBe(365);
  });
});
