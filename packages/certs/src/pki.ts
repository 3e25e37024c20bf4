import { isIP } from 'node:net';
import { assertClusterName, invalidArgument, type Logger, resolveLogger } from '@hacp/core';
import { CA_KEY_LIST, CAS, nextCaKey, previousCaKey } from './cas.js';
import {
  CLUSTER_LEAF_NAMES,
  CLUSTER_LEAVES,
  clusterLeafProfile,
  forEachClusterLeaf,
} from './cluster-leaves.js';
import { createCa, issueLeaf } from './issue.js';
import {
  assertKeyAlgorithm,
  exportPrivateKey,
  exportPublicKey,
  generateKeyPair,
  type KeyAlgorithm,
  x509,
} from './keys.js';
import { assertDnsName, assertIp, firstServiceIp, isCertificateIp, isDnsName } from './net.js';
import type {
  CaKey,
  ClusterPki,
  ClusterPkiSettings,
  IssuedLeaf,
  LeafProfile,
  ReplicaCerts,
  ReplicaIdentity,
} from './types.js';

const DAY_MS = 86_400_000;

/** What `createClusterPki` takes. Only `clusterName` and `endpointAddress` are required. */
export interface CreateClusterPkiOptions {
  clusterName: string;
  /** The stable endpoint address (the reserved IP), or a DNS name that resolves to it. */
  endpointAddress: string;
  /** Default `10.0.0.0/16`, kube-up's `SERVICE_CLUSTER_IP_RANGE`. */
  serviceCidr?: string;
  /** Default `cluster.local`. */
  dnsDomain?: string;
  /** Default `ecdsa-p256`. */
  keyAlgorithm?: KeyAlgorithm;
  /** Default 3650 (ten years), as kubeadm. */
  caValidityDays?: number;
  /** Default 365, as kubeadm. */
  leafValidityDays?: number;
  /** The time certificates start from. Default now. */
  now?: Date;
  logger?: Logger;
}

function assertDays(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 36_500) {
    throw invalidArgument({
      field,
      value,
      message: `${field} must be a whole number of days from 1 to 36500.`,
    });
  }
}

function assertName(field: string, value: string): void {
  if (typeof value !== 'string' || value.trim().length === 0) {
    throw invalidArgument({ field, message: `${field} must not be empty.` });
  }
}

function unique(values: readonly (string | undefined)[]): string[] {
  return [...new Set(values.filter((value): value is string => value !== undefined && value !== ''))];
}

function replicaLeafProfiles(
  settings: ClusterPkiSettings,
  identity: ReplicaIdentity,
): Record<'etcdPeer' | 'etcdServer' | 'apiserver' | 'apiserverEtcdClient', LeafProfile> {
  const { hostname, internalIp, externalIp } = identity;
  const endpointIsIp = isIP(settings.endpointAddress) !== 0;
  const etcdMember: Omit<LeafProfile, 'issuer'> = {
    commonName: hostname,
    organizations: [],
    usage: 'server-and-client',
    dnsNames: unique([hostname, 'localhost']),
    ipAddresses: unique([internalIp, '127.0.0.1', '::1']),
  };
  return {
    etcdPeer: { issuer: 'etcdCa', ...etcdMember },
    // Clients may reach etcd through the cluster endpoint (the local provider forwards 2379 there), so
    // the serving cert also names the endpoint address; peers always dial each other directly.
    etcdServer: {
      issuer: 'etcdCa',
      ...etcdMember,
      dnsNames: unique([...etcdMember.dnsNames, endpointIsIp ? undefined : settings.endpointAddress]),
      ipAddresses: unique([...etcdMember.ipAddresses, endpointIsIp ? settings.endpointAddress : undefined]),
    },
    apiserver: {
      issuer: 'ca',
      commonName: 'kube-apiserver',
      organizations: [],
      usage: 'server',
      dnsNames: unique([
        hostname,
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        `kubernetes.default.svc.${settings.dnsDomain}`,
        'localhost',
        endpointIsIp ? undefined : settings.endpointAddress,
      ]),
      ipAddresses: unique([
        endpointIsIp ? settings.endpointAddress : undefined,
        internalIp,
        externalIp,
        settings.firstServiceIp,
        '127.0.0.1',
      ]),
    },
    apiserverEtcdClient: {
      issuer: 'etcdCa',
      commonName: 'kube-apiserver-etcd-client',
      organizations: [],
      usage: 'client',
      dnsNames: [],
      ipAddresses: [],
    },
  };
}

function issuerOf(pki: ClusterPki, profile: LeafProfile) {
  return pki[profile.issuer];
}

/**
 * Creates a cluster's whole PKI: the cluster, etcd and front-proxy CAs, the service-account key
 * pair, and the cluster-wide client certificates: admin, front-proxy client, hacp's etcd client,
 * kube-apiserver's kubelet client, kube-controller-manager, kube-scheduler and the add-on manager.
 * Replicas are added with
 * `issueReplicaCerts` and `withReplica`. Every input is checked before any key is made.
 *
 * @example
 * const pki = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '34.1.2.3' });
 * const certs = await issueReplicaCerts(pki, {
 *   replicaName: 'kubernetes-master', hostname: 'kubernetes-master', internalIp: '10.128.0.2',
 * });
 * await writePki('/var/lib/hacp/kubernetes', withReplica(pki, certs));
 * @throws HacpError INVALID_ARGUMENT naming the field: an empty or invalid cluster name, an endpoint
 *   that is neither an IP nor a DNS name, a malformed or roomless service CIDR, an invalid DNS domain,
 *   an unknown key algorithm, or validity days out of range.
 */
export async function createClusterPki(options: CreateClusterPkiOptions): Promise<ClusterPki> {
  const logger = resolveLogger(options.logger);
  assertName('clusterName', options.clusterName);
  try {
    assertClusterName(options.clusterName);
  } catch {
    throw invalidArgument({
      field: 'clusterName',
      value: options.clusterName,
      message: `clusterName "${options.clusterName}" is invalid: use 1-40 lowercase letters, digits and dashes, starting with a letter.`,
    });
  }
  assertName('endpointAddress', options.endpointAddress);
  if (!isCertificateIp(options.endpointAddress) && !isDnsName(options.endpointAddress)) {
    throw invalidArgument({
      field: 'endpointAddress',
      value: options.endpointAddress,
      message: `endpointAddress "${options.endpointAddress}" is neither an IP address nor a DNS name.`,
    });
  }
  const serviceCidr = options.serviceCidr ?? '10.0.0.0/16';
  const serviceIp = firstServiceIp(serviceCidr);
  const dnsDomain = options.dnsDomain ?? 'cluster.local';
  assertDnsName('dnsDomain', dnsDomain);
  const keyAlgorithm = options.keyAlgorithm ?? 'ecdsa-p256';
  assertKeyAlgorithm(keyAlgorithm);
  const caValidityDays = options.caValidityDays ?? 3650;
  const leafValidityDays = options.leafValidityDays ?? 365;
  assertDays('caValidityDays', caValidityDays);
  assertDays('leafValidityDays', leafValidityDays);
  if (leafValidityDays > caValidityDays) {
    throw invalidArgument({
      field: 'leafValidityDays',
      value: leafValidityDays,
      message: `leafValidityDays (${leafValidityDays}) must not exceed caValidityDays (${caValidityDays}).`,
    });
  }
  const now = options.now ?? new Date();
  const settings: ClusterPkiSettings = {
    clusterName: options.clusterName,
    endpointAddress: options.endpointAddress,
    serviceCidr,
    firstServiceIp: serviceIp,
    dnsDomain,
    keyAlgorithm,
    caValidityDays,
    leafValidityDays,
  };

  const caOptions = { algorithm: keyAlgorithm, days: caValidityDays, now, logger };
  const [ca, etcdCa, frontProxyCa, serviceAccountKeys] = await Promise.all([
    createCa({ ...caOptions, commonName: CAS.ca.commonName }),
    createCa({ ...caOptions, commonName: CAS.etcdCa.commonName }),
    createCa({ ...caOptions, commonName: CAS.frontProxyCa.commonName }),
    generateKeyPair(keyAlgorithm),
  ]);
  const serviceAccount = {
    publicKeyPem: await exportPublicKey(serviceAccountKeys.publicKey),
    privateKeyPem: await exportPrivateKey(serviceAccountKeys.privateKey),
  };
  const issuers = { ca, etcdCa, frontProxyCa };
  const leaves = await forEachClusterLeaf((name) => {
    const profile = clusterLeafProfile(name);
    return issueLeaf({
      profile,
      issuer: issuers[profile.issuer],
      algorithm: keyAlgorithm,
      days: leafValidityDays,
      now,
      logger,
    });
  });
  logger.info('created cluster PKI', { cluster: settings.clusterName, keyAlgorithm });
  return {
    formatVersion: 1,
    settings,
    ca,
    etcdCa,
    frontProxyCa,
    serviceAccount,
    ...leaves,
    replicas: {},
  };
}

/**
 * Issues one replica's leaves from the cluster's CAs: etcd peer and server certs (hostname,
 * internal IP, localhost, 127.0.0.1, ::1), the apiserver serving cert (the endpoint, internal and
 * external IPs, the first service IP, `kubernetes`, `kubernetes.default`, `kubernetes.default.svc`,
 * `kubernetes.default.svc.<domain>`, `localhost`, the hostname, 127.0.0.1) and the apiserver's etcd
 * client cert. The PKI is not changed: add the result with `withReplica`.
 *
 * @throws HacpError INVALID_ARGUMENT naming the field: an empty replica name or hostname, an invalid
 *   hostname, an internal or external IP that is not an IP.
 */
export async function issueReplicaCerts(
  pki: ClusterPki,
  identity: ReplicaIdentity,
  options: { now?: Date; logger?: Logger } = {},
): Promise<ReplicaCerts> {
  assertName('replicaName', identity.replicaName);
  assertName('hostname', identity.hostname);
  assertDnsName('hostname', identity.hostname);
  assertIp('internalIp', identity.internalIp);
  if (identity.externalIp !== undefined) assertIp('externalIp', identity.externalIp);
  const logger = resolveLogger(options.logger);
  const now = options.now ?? new Date();
  const clean: ReplicaIdentity = {
    replicaName: identity.replicaName,
    hostname: identity.hostname,
    internalIp: identity.internalIp,
    ...(identity.externalIp === undefined ? {} : { externalIp: identity.externalIp }),
  };
  const profiles = replicaLeafProfiles(pki.settings, clean);
  const leaf = (profile: LeafProfile) =>
    issueLeaf({
      profile,
      issuer: issuerOf(pki, profile),
      algorithm: pki.settings.keyAlgorithm,
      days: pki.settings.leafValidityDays,
      now,
      logger,
    });
  const [etcdPeer, etcdServer, apiserver, apiserverEtcdClient] = await Promise.all([
    leaf(profiles.etcdPeer),
    leaf(profiles.etcdServer),
    leaf(profiles.apiserver),
    leaf(profiles.apiserverEtcdClient),
  ]);
  return { identity: clean, etcdPeer, etcdServer, apiserver, apiserverEtcdClient };
}

/** A copy of the PKI with the replica's certificates added (or replaced). */
export function withReplica(pki: ClusterPki, certs: ReplicaCerts): ClusterPki {
  return { ...pki, replicas: { ...pki.replicas, [certs.identity.replicaName]: certs } };
}

/** A copy of the PKI without that replica's certificates. */
export function withoutReplica(pki: ClusterPki, replicaName: string): ClusterPki {
  const { [replicaName]: _removed, ...replicas } = pki.replicas;
  return { ...pki, replicas };
}

/**
 * Reissues every leaf (the cluster-wide client certs and every replica's certs) from the same CAs, with the same names and new keys, valid for `leafValidityDays` from `now`. The CAs
 * and the service-account keys are kept, so nothing that trusts them needs to change.
 */
export async function renewLeaves(
  pki: ClusterPki,
  options: { now?: Date; logger?: Logger } = {},
): Promise<ClusterPki> {
  const renewed = await reissueLeaves(pki, options);
  resolveLogger(options.logger).info('renewed leaf certificates', {
    cluster: pki.settings.clusterName,
    replicas: Object.keys(renewed.replicas),
  });
  return renewed;
}

/**
 * Reissues the leaves `issuer` signs (every leaf without it) from the PKI's CA of that kind, with the
 * same profiles and new keys; the others are kept as they are. `renewLeaves` and a CA rotation's
 * second phase are this.
 */
export async function reissueLeaves(
  pki: ClusterPki,
  options: { issuer?: CaKey; now?: Date; logger?: Logger } = {},
): Promise<ClusterPki> {
  const logger = resolveLogger(options.logger);
  const now = options.now ?? new Date();
  const reissue = async (leaf: IssuedLeaf): Promise<IssuedLeaf> =>
    options.issuer !== undefined && leaf.profile.issuer !== options.issuer
      ? leaf
      : issueLeaf({
          profile: leaf.profile,
          issuer: issuerOf(pki, leaf.profile),
          algorithm: pki.settings.keyAlgorithm,
          days: pki.settings.leafValidityDays,
          now,
          logger,
        });
  const leaves = await forEachClusterLeaf((name) => reissue(pki[name]));
  const replicas: Record<string, ReplicaCerts> = {};
  for (const [name, certs] of Object.entries(pki.replicas)) {
    const [etcdPeer, etcdServer, apiserver, apiserverEtcdClient] = await Promise.all([
      reissue(certs.etcdPeer),
      reissue(certs.etcdServer),
      reissue(certs.apiserver),
      reissue(certs.apiserverEtcdClient),
    ]);
    replicas[name] = { identity: certs.identity, etcdPeer, etcdServer, apiserver, apiserverEtcdClient };
  }
  return { ...pki, ...leaves, replicas };
}

/** One certificate's expiry, as `hacp certs check` reports it. */
export interface CertificateExpiry {
  /**
   * `ca`, `etcd-ca`, `front-proxy-ca`, `admin`, `front-proxy-client`, `etcd-client`,
   * `apiserver-kubelet-client`, `controller-manager`, `scheduler`, `addon-manager`, `<replica>/<cert>`.
   */
  name: string;
  commonName: string;
  isCa: boolean;
  notBefore: Date;
  notAfter: Date;
  /** Whole days left (negative once expired). */
  daysLeft: number;
  status: 'ok' | 'expiring' | 'expired' | 'not-yet-valid';
}

/** Every certificate of the PKI, by name, in a stable order. */
export function certificatesOf(pki: ClusterPki): { name: string; certPem: string; isCa: boolean }[] {
  const list = [
    ...CA_KEY_LIST.map((key) => ({ name: CAS[key].name, certPem: pki[key].certPem, isCa: true })),
    // A rotation in flight (`certs rotate-ca`): the CA to come, or the one being dropped.
    ...CA_KEY_LIST.flatMap((key) => {
      const next = pki[nextCaKey(key)];
      const previous = pki[previousCaKey(key)];
      return [
        ...(next === undefined ? [] : [{ name: `${CAS[key].name}-next`, certPem: next.certPem, isCa: true }]),
        ...(previous === undefined
          ? []
          : [{ name: `${CAS[key].name}-previous`, certPem: previous, isCa: true }]),
      ];
    }),
    ...CLUSTER_LEAF_NAMES.map((leaf) => ({
      name: CLUSTER_LEAVES[leaf].name,
      certPem: pki[leaf].certPem,
      isCa: false,
    })),
  ];
  for (const name of Object.keys(pki.replicas).sort()) {
    const certs = pki.replicas[name] as ReplicaCerts;
    list.push(
      { name: `${name}/etcd-peer`, certPem: certs.etcdPeer.certPem, isCa: false },
      { name: `${name}/etcd-server`, certPem: certs.etcdServer.certPem, isCa: false },
      { name: `${name}/apiserver`, certPem: certs.apiserver.certPem, isCa: false },
      { name: `${name}/apiserver-etcd-client`, certPem: certs.apiserverEtcdClient.certPem, isCa: false },
    );
  }
  return list;
}

/**
 * The expiry of every certificate at `now`: `expired` past notAfter, `expiring` within
 * `warnWithinDays` (default 30, as `kubeadm certs check-expiration` users expect), else `ok`.
 */
export function checkExpiry(
  pki: ClusterPki,
  now: Date = new Date(),
  options: { warnWithinDays?: number } = {},
): CertificateExpiry[] {
  const warnWithinDays = options.warnWithinDays ?? 30;
  return certificatesOf(pki).map(({ name, certPem, isCa }) => {
    const cert = new x509.X509Certificate(certPem);
    const msLeft = cert.notAfter.getTime() - now.getTime();
    const daysLeft = Math.floor(msLeft / DAY_MS);
    const status =
      now < cert.notBefore
        ? 'not-yet-valid'
        : msLeft <= 0
          ? 'expired'
          : msLeft <= warnWithinDays * DAY_MS
            ? 'expiring'
            : 'ok';
    const commonName = cert.subjectName.getField('CN')[0] ?? '';
    return { name, commonName, isCa, notBefore: cert.notBefore, notAfter: cert.notAfter, daysLeft, status };
  });
}
