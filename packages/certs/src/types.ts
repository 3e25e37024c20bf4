import type { Secret } from '@hacp/core';
import type { KeyAlgorithm } from './keys.js';

/** A certificate and its private key. The key is a Secret: it logs and serialises as `[redacted]`. */
export interface CertificateAndKey {
  /** PEM, `-----BEGIN CERTIFICATE-----`. */
  certPem: string;
  /** PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`. */
  keyPem: Secret;
}

/** A CA of the cluster, by its field in `ClusterPki`: the cluster CA, the etcd CA, the front-proxy CA. */
export type CaKey = 'ca' | 'etcdCa' | 'frontProxyCa';

/** How a leaf is issued, kept with it so that `renewLeaves` reissues the same certificate. */
export interface LeafProfile {
  /** Which CA signs it. */
  issuer: CaKey;
  commonName: string;
  organizations: readonly string[];
  usage: 'server' | 'client' | 'server-and-client';
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
}

/** A leaf certificate with the profile it was issued from. */
export interface IssuedLeaf extends CertificateAndKey {
  profile: LeafProfile;
}

/** The settings every certificate of the cluster derives from. */
export interface ClusterPkiSettings {
  clusterName: string;
  /** The stable endpoint (the reserved address, an IP or a DNS name) in the apiserver cert. */
  endpointAddress: string;
  serviceCidr: string;
  /** The first service IP (`kubernetes.default`'s cluster IP), derived from `serviceCidr`. */
  firstServiceIp: string;
  dnsDomain: string;
  keyAlgorithm: KeyAlgorithm;
  caValidityDays: number;
  leafValidityDays: number;
}

/** Who a replica is, as its certificates name it. */
export interface ReplicaIdentity {
  replicaName: string;
  hostname: string;
  internalIp: string;
  externalIp?: string;
}

/** One replica's certificates (kubeadm's file names in brackets). */
export interface ReplicaCerts {
  identity: ReplicaIdentity;
  /** etcd peer cert (`etcd/peer.crt`), signed by the etcd CA, server and client auth. */
  etcdPeer: IssuedLeaf;
  /** etcd client-port serving cert (`etcd/server.crt`), signed by the etcd CA, server and client auth. */
  etcdServer: IssuedLeaf;
  /** kube-apiserver serving cert (`apiserver.crt`), signed by the cluster CA. */
  apiserver: IssuedLeaf;
  /** kube-apiserver's client cert to its etcd (`apiserver-etcd-client.crt`), signed by the etcd CA. */
  apiserverEtcdClient: IssuedLeaf;
}

/** The whole PKI of a cluster: its CAs, cluster-wide leaves and every replica's leaves. */
export interface ClusterPki {
  formatVersion: 1;
  settings: ClusterPkiSettings;
  /** The cluster CA (`ca.crt`): signs the apiserver serving cert and client certs. */
  ca: CertificateAndKey;
  /** The etcd CA (`etcd/ca.crt`): signs every etcd peer, server and client cert. */
  etcdCa: CertificateAndKey;
  /** The front-proxy CA (`front-proxy-ca.crt`): signs the aggregation layer's client cert. */
  frontProxyCa: CertificateAndKey;
  /** The service-account signing key pair (`sa.key`, `sa.pub`). */
  serviceAccount: { publicKeyPem: string; privateKeyPem: Secret };
  /** The aggregation layer's client cert (`front-proxy-client.crt`). */
  frontProxyClient: IssuedLeaf;
  /** The admin client cert (O=system:masters) behind the admin kubeconfig. */
  admin: IssuedLeaf;
  /** hacp's own etcd client cert (`etcd/healthcheck-client.crt`), for membership operations. */
  etcdClient: IssuedLeaf;
  /**
   * kube-apiserver's client cert to the kubelets (`apiserver-kubelet-client.crt`, O=system:masters),
   * shared by every replica.
   */
  apiserverKubeletClient: IssuedLeaf;
  /** kube-controller-manager's client cert (CN=system:kube-controller-manager), inside `controller-manager.conf`. */
  controllerManager: IssuedLeaf;
  /** kube-scheduler's client cert (CN=system:kube-scheduler), inside `scheduler.conf`. */
  scheduler: IssuedLeaf;
  /** The add-on manager's client cert (CN=system:addon-manager, O=system:masters), inside `addon-manager.conf`. */
  addonManager: IssuedLeaf;
  /** Each replica's leaves, by replica name. */
  replicas: Readonly<Record<string, ReplicaCerts>>;
  /**
   * The etcd CA that `certs rotate-ca --ca etcd` made and replicas trust beside `etcdCa`, before
   * any leaf is issued from it (`pki/etcd/ca-next.*`). Absent outside a rotation; so are the five below.
   */
  etcdCaNext?: CertificateAndKey;
  /**
   * The certificate of the etcd CA being replaced, still trusted beside `etcdCa` while leaves it
   * signed may be served (`pki/etcd/ca-previous.crt`).
   */
  etcdCaPrevious?: string;
  /** The next cluster CA of `certs rotate-ca --ca cluster` (`pki/ca-next.*`). */
  caNext?: CertificateAndKey;
  /** The cluster CA being replaced (`pki/ca-previous.crt`). */
  caPrevious?: string;
  /** The next front-proxy CA of `certs rotate-ca --ca front-proxy` (`pki/front-proxy-ca-next.*`). */
  frontProxyCaNext?: CertificateAndKey;
  /** The front-proxy CA being replaced (`pki/front-proxy-ca-previous.crt`). */
  frontProxyCaPrevious?: string;
}
