import { createHash } from 'node:crypto';

/** The namespace of hacp's GCE request ids (a random UUID, fixed forever: changing it changes every id). */
const NAMESPACE = Buffer.from('4f0c7a52e1d94b8f9a6b2d3c5e7f8a91', 'hex');

/**
 * The GCE `requestId` of one API call: a UUID derived from the contract's request id (kept in the
 * SDK's journal) and what the call does to which resource, so that a resumed or retried step sends
 * the same id and GCE de-duplicates it, while two calls of one step get different ids. Built as a
 * UUID version 5 is, with SHA-256 in place of SHA-1 (the version nibble still says 5).
 *
 * @example
 * gceRequestId('replicate-7f3a/create', 'insert instance zones/europe-west1-b/instances/kubernetes-master-1a2')
 * // '…-…-5…-…-…', the same on every call
 */
export function gceRequestId(requestId: string, call: string): string {
  const hash = createHash('sha256').update(NAMESPACE).update(`${requestId}\n${call}`, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
