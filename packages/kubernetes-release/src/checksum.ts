import { ErrorCode, HacpError, invalidArgument } from '@hacp/core';
import { type DownloadOptions, readSmallText } from './download.js';
import { displayUrl, locationActions } from './errors.js';

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * The digest a `.sha256` file publishes: the hex digest, possibly followed by whitespace and a file
 * name (`sha256sum`'s format).
 *
 * @throws HacpError INVALID_ARGUMENT (field `releaseUrl`) when the text does not start with one.
 */
export function parseSha256File(text: string, options: { url: URL; releaseUrl: string }): string {
  const digest = text.trim().split(/\s+/, 1)[0] ?? '';
  if (!SHA256_HEX.test(digest)) {
    throw invalidArgument({
      field: 'releaseUrl',
      value: displayUrl(options.releaseUrl),
      message: `${displayUrl(options.url)} does not hold a SHA-256 digest, so the download it describes cannot be checked.`,
      actions: locationActions(options.releaseUrl),
    });
  }
  return digest.toLowerCase();
}

/** Downloads and parses the `.sha256` beside `url`. */
export async function publishedDigest(url: URL, options: DownloadOptions): Promise<string> {
  const checksumUrl = new URL(url.href);
  checksumUrl.pathname = `${url.pathname}.sha256`;
  const text = await readSmallText(checksumUrl, options);
  return parseSha256File(text, { url: checksumUrl, releaseUrl: options.releaseUrl });
}

/**
 * CHECKSUM_MISMATCH for a download whose digest is not the published one.
 */
export function checksumMismatch(options: { url: URL; expected: string; actual: string }): HacpError {
  return new HacpError({
    code: ErrorCode.CHECKSUM_MISMATCH,
    message: `${displayUrl(options.url)} does not match its published SHA-256 (expected ${options.expected}, got ${options.actual}); nothing of it was kept.`,
    actions: [
      'Run the command again: a download damaged on the way will then match.',
      'If it fails again, the mirror serves a file other than the one its .sha256 describes: tell its owner.',
    ],
    details: { url: displayUrl(options.url), expected: options.expected, actual: options.actual },
  });
}
