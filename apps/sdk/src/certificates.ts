/**
 * `certs check` and `certs renew`: every certificate's expiry, and new leaves from the same CAs
 * written to the operator's PKI folder under the cluster lock.
 */
import { checkExpiry, renewLeaves } from '@hacp/certs';
import type { ClusterContext } from './cluster-context.js';
import type { CertificateStatus, SignalOptions } from './types.js';

export async function checkCertificates(
  context: ClusterContext,
  options: { warnWithinDays?: number; now?: Date } = {},
): Promise<CertificateStatus[]> {
  const { value: record } = await context.requireRecord();
  const pki = await context.pkiStore.load(record);
  return checkExpiry(pki, options.now ?? new Date(), {
    warnWithinDays: options.warnWithinDays ?? 30,
  }).map((entry) => ({
    name: entry.name,
    commonName: entry.commonName,
    isCa: entry.isCa,
    notAfter: entry.notAfter.toISOString(),
    daysLeft: entry.daysLeft,
    status: entry.status,
  }));
}

export async function renewCertificates(
  context: ClusterContext,
  options: SignalOptions = {},
): Promise<{ renewed: string[] }> {
  const { value: record } = await context.requireRecord(options.signal);
  const lock = await context.takeLock(options.signal);
  try {
    const renewed = await renewLeaves(await context.pkiStore.load(record), { logger: context.logger });
    await context.pkiStore.save(renewed);
    return {
      renewed: checkExpiry(renewed)
        .filter((entry) => !entry.isCa)
        .map((entry) => entry.name),
    };
  } finally {
    await lock.release().catch(() => undefined);
  }
}
