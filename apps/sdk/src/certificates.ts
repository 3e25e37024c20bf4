/**
 * `certs check`, `certs served` and `certs renew`: every certificate's expiry in the operator's
 * PKI, what each replica actually serves (read over TLS), and the leaves reissued from the same CAs
 * and rolled onto the replicas (the `renew-certs` operation, run by the engine).
 */
import { X509Certificate } from 'node:crypto';
import { CA_KEYS, CAS, certificatesOf, checkExpiry } from '@hacp/certs';
import type { CaName } from '@hacp/topology';
import type { ClusterContext } from './cluster-context.js';
import { certificateIdentity, servedCertificates } from './served-certs.js';
import type {
  CertificateStatus,
  OperationResult,
  RenewResult,
  RotateCaResult,
  ServedCertificate,
  SignalOptions,
} from './types.js';

export async function checkCertificates(
  context: ClusterContext,
  options: { warnWithinDays?: number; now?: Date } = {},
): Promise<CertificateStatus[]> {
  const { value: record } = await context.requireRecord();
  const pki = await context.pkiStore.load(record);
  const serials = new Map(
    certificatesOf(pki).map((entry) => [entry.name, certificateIdentity(entry.certPem).serial]),
  );
  return checkExpiry(pki, options.now ?? new Date(), {
    warnWithinDays: options.warnWithinDays ?? 30,
  }).map((entry) => ({
    name: entry.name,
    commonName: entry.commonName,
    isCa: entry.isCa,
    notAfter: entry.notAfter.toISOString(),
    daysLeft: entry.daysLeft,
    status: entry.status,
    serial: serials.get(entry.name) ?? '',
  }));
}

/** What each replica serves on its TLS ports, beside the operator's copy. */
export async function servedByReplicas(
  context: ClusterContext,
  options: SignalOptions = {},
): Promise<ServedCertificate[]> {
  context.pkiStore.forget();
  const { value: record } = await context.requireRecord(options.signal);
  const pki = await context.pkiStore.load(record);
  const instances = await context.provider.instances.list(
    { cluster: context.cluster },
    options.signal ? { signal: options.signal } : {},
  );
  return servedCertificates({
    provider: context.provider,
    pki,
    instances,
    kubernetes: record.kubernetesVersion !== undefined,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** The leaves `renew-certs` reissued, with the operation's result. */
export async function renewedResult(context: ClusterContext, result: OperationResult): Promise<RenewResult> {
  context.pkiStore.forget();
  const pki = await context.pkiStore.load();
  return {
    ...result,
    renewed: checkExpiry(pki)
      .filter((entry) => !entry.isCa)
      .map((entry) => entry.name),
  };
}

/** The CA `rotate-ca` put in place and the leaves it signed, with the operation's result. */
export async function rotatedResult(
  context: ClusterContext,
  result: OperationResult,
  name: string,
): Promise<RotateCaResult> {
  // The operation ran, so its plan took the name as one of CA_NAMES.
  const ca = name as CaName;
  context.pkiStore.forget();
  const pki = await context.pkiStore.load();
  const key = CA_KEYS[ca];
  const signer = new X509Certificate(pki[key].certPem);
  const reported = checkExpiry(pki).find((entry) => entry.name === CAS[key].name);
  return {
    ...result,
    ca,
    newCa: {
      commonName: reported?.commonName ?? '',
      serial: certificateIdentity(pki[key].certPem).serial,
      notAfter: reported?.notAfter.toISOString() ?? '',
    },
    reissued: certificatesOf(pki)
      .filter((entry) => !entry.isCa && new X509Certificate(entry.certPem).verify(signer.publicKey))
      .map((entry) => entry.name),
  };
}
