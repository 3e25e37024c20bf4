/**
 * Replacing the etcd CA in the safe order (kops' `promote keypair` / `distrust keypair`, k3s'
 * `certificate rotate-ca`): a new CA trusted beside the old, every etcd leaf reissued from it, the
 * old one dropped. Each phase is a PKI the replicas can be rolled onto one at a time.
 */
import { invalidArgument, type Logger, resolveLogger } from '@hacp/core';
import { CLUSTER_LEAF_NAMES } from './cluster-leaves.js';
import { createCa, issueLeaf } from './issue.js';
import type { ClusterPki, IssuedLeaf, ReplicaCerts } from './types.js';

/**
 * The etcd CA certificates to trust now, as one PEM bundle: the signing CA, and during a rotation
 * the next or the previous one too. etcd, kube-apiserver and hacp's own client read this bundle.
 *
 * @example
 * writeFileSync('ca.crt', etcdTrustedCaPem(pki));
 */
export function etcdTrustedCaPem(pki: ClusterPki): string {
  // Outside a rotation, the CA certificate byte for byte, as before rotations existed.
  if (pki.etcdCaNext === undefined && pki.etcdCaPrevious === undefined) return pki.etcdCa.certPem;
  const pems = [pki.etcdCa.certPem, pki.etcdCaNext?.certPem, pki.etcdCaPrevious];
  return pems
    .filter((pem): pem is string => pem !== undefined)
    .map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`))
    .join('');
}

/**
 * Phase 1: a new etcd CA kept beside the current one (`etcdCaNext`); no leaf changes. A PKI that
 * already has one is returned unchanged, so that a resumed rotation does not make a second.
 */
export async function withNextEtcdCa(
  pki: ClusterPki,
  options: { now?: Date; logger?: Logger } = {},
): Promise<ClusterPki> {
  if (pki.etcdCaNext !== undefined) return pki;
  const now = options.now ?? new Date();
  const etcdCaNext = await createCa({
    // Another subject than the old CA's: both sit in one trust bundle, looked up by subject.
    commonName: `etcd-ca-${Math.floor(now.getTime() / 1000)}`,
    algorithm: pki.settings.keyAlgorithm,
    days: pki.settings.caValidityDays,
    now,
    logger: resolveLogger(options.logger),
  });
  return { ...pki, etcdCaNext };
}

/**
 * Phase 2: the next etcd CA signs from now on (`etcdCa`), the old one's certificate stays trusted
 * (`etcdCaPrevious`), and every leaf the etcd CA signs (hacp's etcd client, each replica's etcd
 * peer and server certs and kube-apiserver's etcd client cert) is reissued from the new CA.
 *
 * @throws HacpError INVALID_ARGUMENT (field `pki`) when it has no next etcd CA (`withNextEtcdCa` first).
 */
export async function promoteNextEtcdCa(
  pki: ClusterPki,
  options: { now?: Date; logger?: Logger } = {},
): Promise<ClusterPki> {
  const next = pki.etcdCaNext;
  if (next === undefined)
    throw invalidArgument({
      field: 'pki',
      message: 'The PKI has no next etcd CA to promote: add one first.',
    });
  const logger = resolveLogger(options.logger);
  const now = options.now ?? new Date();
  const reissue = (leaf: IssuedLeaf): Promise<IssuedLeaf> | IssuedLeaf =>
    leaf.profile.issuer !== 'etcdCa'
      ? leaf
      : issueLeaf({
          profile: leaf.profile,
          issuer: next,
          algorithm: pki.settings.keyAlgorithm,
          days: pki.settings.leafValidityDays,
          now,
          logger,
        });
  const leaves = Object.fromEntries(
    await Promise.all(CLUSTER_LEAF_NAMES.map(async (name) => [name, await reissue(pki[name])] as const)),
  );
  const replicas: Record<string, ReplicaCerts> = {};
  for (const [name, certs] of Object.entries(pki.replicas)) {
    const [etcdPeer, etcdServer, apiserverEtcdClient] = await Promise.all([
      reissue(certs.etcdPeer),
      reissue(certs.etcdServer),
      reissue(certs.apiserverEtcdClient),
    ]);
    replicas[name] = { ...certs, etcdPeer, etcdServer, apiserverEtcdClient };
  }
  const { etcdCaNext: _promoted, ...rest } = pki;
  logger.info('etcd leaves reissued from the new etcd CA', { cluster: pki.settings.clusterName });
  return { ...rest, ...leaves, replicas, etcdCa: next, etcdCaPrevious: pki.etcdCa.certPem };
}

/** Phase 3: the old etcd CA is no longer trusted. */
export function withoutPreviousEtcdCa(pki: ClusterPki): ClusterPki {
  const { etcdCaPrevious: _dropped, ...rest } = pki;
  return rest;
}
