/**
 * Replacing a CA in the safe order (kops' `promote keypair` / `distrust keypair`, k3s'
 * `certificate rotate-ca`): a new CA trusted beside the old, every leaf it signs reissued from the
 * new one, the old one dropped. Each phase is a PKI the replicas can be rolled onto one at a time.
 * One set of rules for every CA: each is named by its field in `ClusterPki` (`CaKey`), and the
 * rotation's extra CAs sit beside it as `<key>Next` and `<key>Previous`.
 */
import { invalidArgument, type Logger, resolveLogger } from '@hacp/core';
import { CAS, nextCaKey, previousCaKey } from './cas.js';
import { createCa } from './issue.js';
import { reissueLeaves } from './pki.js';
import type { CaKey, ClusterPki } from './types.js';

/** Which CA a rotation's phase is for, and when and with what logger its certificates are made. */
export interface RotationOptions {
  ca: CaKey;
  now?: Date;
  logger?: Logger;
}

/**
 * Phase 1: a new CA kept beside the current one (`<key>Next`); no leaf changes. A PKI that already
 * has one is returned unchanged, so that a resumed rotation does not make a second.
 */
export async function withNextCa(pki: ClusterPki, options: RotationOptions): Promise<ClusterPki> {
  const key = options.ca;
  if (pki[nextCaKey(key)] !== undefined) return pki;
  const now = options.now ?? new Date();
  const next = await createCa({
    // Another subject than the old CA's: both sit in one trust bundle, looked up by subject.
    commonName: `${CAS[key].commonName}-${Math.floor(now.getTime() / 1000)}`,
    algorithm: pki.settings.keyAlgorithm,
    days: pki.settings.caValidityDays,
    now,
    logger: resolveLogger(options.logger),
  });
  return { ...pki, [nextCaKey(key)]: next };
}

/**
 * Phase 2: the next CA signs from now on (`<key>`), the old one's certificate stays trusted
 * (`<key>Previous`), and every leaf that CA signs is reissued from the new one: for the etcd CA
 * hacp's etcd client and each replica's etcd peer, server and kube-apiserver etcd client certs; for
 * the cluster CA the admin, kubelet-client, controller-manager, scheduler and add-on manager client
 * certs and each replica's apiserver serving cert; for the front-proxy CA the front-proxy client.
 *
 * @throws HacpError INVALID_ARGUMENT (field `pki`) when it has no next CA (`withNextCa` first).
 */
export async function promoteNextCa(pki: ClusterPki, options: RotationOptions): Promise<ClusterPki> {
  const key = options.ca;
  const next = pki[nextCaKey(key)];
  if (next === undefined)
    throw invalidArgument({
      field: 'pki',
      message: `The PKI has no next ${CAS[key].name} to promote: add one first.`,
    });
  const { [nextCaKey(key)]: _promoted, ...rest } = pki;
  const promoted: ClusterPki = { ...rest, [key]: next, [previousCaKey(key)]: pki[key].certPem };
  return reissueLeaves(promoted, {
    issuer: key,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}

/** Phase 3: the old CA is no longer trusted. */
export function withoutPreviousCa(pki: ClusterPki, key: CaKey): ClusterPki {
  const { [previousCaKey(key)]: _dropped, ...rest } = pki;
  return rest;
}
