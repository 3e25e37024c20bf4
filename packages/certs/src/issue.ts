import { randomBytes } from 'node:crypto';
import type { Logger } from '@hacp/core';
import {
  exportPrivateKey,
  generateKeyPair,
  importSigningKey,
  type KeyAlgorithm,
  signingAlgorithm,
  x509,
} from './keys.js';
import type { CertificateAndKey, IssuedLeaf, LeafProfile } from './types.js';

const DAY_MS = 86_400_000;
/** Certificates start five minutes in the past, so a replica whose clock is a little behind accepts them. */
const BACKDATE_MS = 5 * 60_000;

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive, as RFC 5280 requires
  bytes[0] = (bytes[0] ?? 0) | 0x01; // and without a leading zero byte
  return bytes.toString('hex');
}

function distinguishedName(commonName: string, organizations: readonly string[]): string {
  const escapeValue = (value: string) => value.replace(/([,+"\\<>;=])/g, '\\$1');
  return [...organizations.map((o) => `O=${escapeValue(o)}`), `CN=${escapeValue(commonName)}`].join(', ');
}

function validity(now: Date, days: number): { notBefore: Date; notAfter: Date } {
  return {
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + days * DAY_MS),
  };
}

/** A self-signed CA, valid for `days`. */
export async function createCa(options: {
  commonName: string;
  algorithm: KeyAlgorithm;
  days: number;
  now: Date;
  logger: Logger;
}): Promise<CertificateAndKey> {
  const keys = await generateKeyPair(options.algorithm);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: distinguishedName(options.commonName, []),
    ...validity(options.now, options.days),
    signingAlgorithm: signingAlgorithm(options.algorithm),
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  options.logger.debug('created certificate authority', {
    commonName: options.commonName,
    notAfter: cert.notAfter.toISOString(),
  });
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKey(keys.privateKey) };
}

/** A leaf certificate for `profile`, signed by `issuer`, with a new key. */
export async function issueLeaf(options: {
  profile: LeafProfile;
  issuer: CertificateAndKey;
  algorithm: KeyAlgorithm;
  days: number;
  now: Date;
  logger: Logger;
}): Promise<IssuedLeaf> {
  const { profile, algorithm } = options;
  const issuerCert = new x509.X509Certificate(options.issuer.certPem);
  const [keys, signingKey] = await Promise.all([
    generateKeyPair(algorithm),
    importSigningKey(options.issuer.keyPem),
  ]);
  const isRsa = algorithm !== 'ecdsa-p256';
  const usages =
    profile.usage === 'server'
      ? [x509.ExtendedKeyUsage.serverAuth]
      : profile.usage === 'client'
        ? [x509.ExtendedKeyUsage.clientAuth]
        : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const names = [
    ...profile.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...profile.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | (isRsa ? x509.KeyUsageFlags.keyEncipherment : 0),
      true,
    ),
    new x509.ExtendedKeyUsageExtension(usages),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuerCert),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: distinguishedName(profile.commonName, profile.organizations),
    issuer: issuerCert.subject,
    ...validity(options.now, options.days),
    signingAlgorithm: signingAlgorithm(algorithm),
    publicKey: keys.publicKey,
    signingKey,
    extensions,
  });
  options.logger.debug('issued certificate', {
    commonName: profile.commonName,
    issuer: profile.issuer,
    notAfter: cert.notAfter.toISOString(),
  });
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKey(keys.privateKey), profile };
}
