import 'reflect-metadata';
import { createHash, createPrivateKey, webcrypto } from 'node:crypto';
import { invalidArgument, Secret } from '@hacp/core';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** The key algorithms hacp issues: ECDSA P-256 (default), RSA 2048 or 4096. */
export const KEY_ALGORITHMS = ['ecdsa-p256', 'rsa-2048', 'rsa-4096'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

type SigningAlgorithm = (EcKeyGenParams & { hash: string }) | RsaHashedKeyGenParams;

/** @throws HacpError INVALID_ARGUMENT (field `keyAlgorithm`) for an algorithm hacp does not issue. */
export function assertKeyAlgorithm(value: string): asserts value is KeyAlgorithm {
  if (!(KEY_ALGORITHMS as readonly string[]).includes(value)) {
    throw invalidArgument({
      field: 'keyAlgorithm',
      value: String(value),
      message: `keyAlgorithm "${String(value)}" is not supported; use one of ${KEY_ALGORITHMS.join(', ')}.`,
    });
  }
}

export function signingAlgorithm(algorithm: KeyAlgorithm): SigningAlgorithm {
  switch (algorithm) {
    case 'ecdsa-p256':
      return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    case 'rsa-2048':
    case 'rsa-4096':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        hash: 'SHA-256',
        publicExponent: new Uint8Array([1, 0, 1]),
        modulusLength: algorithm === 'rsa-2048' ? 2048 : 4096,
      };
  }
}

/** A freshly generated key pair, extractable so it can be written. */
export async function generateKeyPair(algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(signingAlgorithm(algorithm), true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
}

/** PKCS#8 PEM of a private key, wrapped as a Secret. */
export async function exportPrivateKey(key: CryptoKey): Promise<Secret> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey);
  return new Secret(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

/** SPKI PEM of a public key. */
export async function exportPublicKey(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('spki', key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PUBLIC KEY');
}

/**
 * Imported CA keys, by a digest of their PEM (no key text is kept as a key of the map): issuing a PKI
 * signs dozens of leaves with the same three CA keys, each load of a PKI folder makes new Secrets of
 * the same keys, and parsing the PEM each time cost about 30% of the ECDSA issuing time.
 */
const signingKeys = new Map<string, Promise<CryptoKey>>();
const SIGNING_KEYS_LIMIT = 256;

/** Imports a PKCS#8 PEM private key for signing (any algorithm hacp issues, detected from the key). */
export function importSigningKey(keyPem: Secret): Promise<CryptoKey> {
  const digest = createHash('sha256').update(keyPem.reveal()).digest('base64');
  let key = signingKeys.get(digest);
  if (key === undefined) {
    if (signingKeys.size >= SIGNING_KEYS_LIMIT) signingKeys.clear();
    key = importSigningKeyUncached(keyPem);
    signingKeys.set(digest, key);
    key.catch(() => signingKeys.delete(digest));
  }
  return key;
}

async function importSigningKeyUncached(keyPem: Secret): Promise<CryptoKey> {
  const keyObject = createPrivateKey(keyPem.reveal());
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const algorithm =
    keyObject.asymmetricKeyType === 'ec'
      ? { name: 'ECDSA', namedCurve: 'P-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return (await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign'])) as CryptoKey;
}

/** The key algorithm of a private key. */
export function keyAlgorithmOf(keyPem: Secret): KeyAlgorithm | undefined {
  const key = createPrivateKey(keyPem.reveal());
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'ecdsa-p256';
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (bits === 2048) return 'rsa-2048';
    if (bits === 4096) return 'rsa-4096';
  }
  return undefined;
}

export { x509 };
