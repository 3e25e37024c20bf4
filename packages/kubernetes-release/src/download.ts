import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { ErrorCode, HacpError, invalidArgument, isHacpError } from '@hacp/core';
import { abortedError, displayUrl, locationActions } from './errors.js';

/** An open download: its size when the location says, and its bytes, read once. */
export interface Download {
  /** Where the bytes come from (after redirects). */
  url: URL;
  totalBytes?: number;
  /**
   * The bytes. Iterating throws UNAVAILABLE when the transfer ends early or fails, ABORTED when the
   * signal aborts. Stopping early frees the connection.
   */
  body: AsyncIterable<Buffer>;
}

export interface DownloadOptions {
  /** The release location, for the actions of errors. */
  releaseUrl: string;
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 5;
/** A connection silent this long is given up: a stalled mirror, not a slow one. */
const IDLE_TIMEOUT_MS = 60_000;
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Opens `url` (https, http or file) for reading.
 *
 * @throws HacpError NOT_FOUND (404, 410 or a missing file), PERMISSION_DENIED (401, 403),
 *   UNAVAILABLE (unreachable, another status, too many redirects, https redirected to http),
 *   ABORTED.
 */
export async function openDownload(url: URL, options: DownloadOptions): Promise<Download> {
  if (options.signal?.aborted) throw abortedError(options.signal, `Downloading ${displayUrl(url)}`);
  return url.protocol === 'file:' ? openFile(url, options) : openHttp(url, options);
}

/**
 * The whole of a small text file (a `.sha256` or a version marker).
 *
 * @throws HacpError as `openDownload`; INVALID_ARGUMENT (field `releaseUrl`) when it is larger than
 *   `limitBytes`, so not the file the location should have there.
 */
export async function readSmallText(
  url: URL,
  options: DownloadOptions & { limitBytes?: number },
): Promise<string> {
  const limit = options.limitBytes ?? 4096;
  const download = await openDownload(url, options);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of download.body) {
    size += chunk.length;
    if (size > limit) {
      throw invalidArgument({
        field: 'releaseUrl',
        value: displayUrl(options.releaseUrl),
        message: `${displayUrl(url)} is larger than ${limit} bytes: it is not the small text file a release location has there.`,
        actions: locationActions(options.releaseUrl),
      });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function openFile(url: URL, options: DownloadOptions): Promise<Download> {
  const path = fileURLToPath(url);
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw unreachable(url, error, options);
  });
  if (info === undefined || !info.isFile()) throw notFound(url, 'there is no such file', options);
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  // An error before the body is read (the file removed meanwhile) surfaces when it is read.
  stream.on('error', () => undefined);
  return { url, totalBytes: info.size, body: guardedBody(stream, url, info.size, options) };
}

async function openHttp(start: URL, options: DownloadOptions): Promise<Download> {
  let url = start;
  for (let redirects = 0; ; redirects++) {
    const response = await request(url, options);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status >= 300 && status < 400 && location !== undefined) {
      response.resume();
      const next = new URL(location, url);
      if (redirects >= MAX_REDIRECTS || (url.protocol === 'https:' && next.protocol !== 'https:')) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message:
            redirects >= MAX_REDIRECTS
              ? `${displayUrl(start)} redirected more than ${MAX_REDIRECTS} times.`
              : `${displayUrl(url)} redirected to ${displayUrl(next)}, which is not https; refused.`,
          actions: locationActions(options.releaseUrl),
          retryable: false,
          details: { url: displayUrl(start) },
        });
      }
      url = next;
      continue;
    }
    if (status !== 200) {
      response.resume();
      throw statusError(url, status, options);
    }
    // An error before the body is read (the connection reset) surfaces when it is read.
    response.on('error', () => undefined);
    const length = Number(response.headers['content-length']);
    const totalBytes = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
    return {
      url,
      ...(totalBytes === undefined ? {} : { totalBytes }),
      body: guardedBody(response, url, totalBytes, options),
    };
  }
}

function request(url: URL, options: DownloadOptions): Promise<IncomingMessage> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = client.get(
      url,
      {
        // The digest is of the bytes as published: never let a server compress them on the way.
        headers: { 'accept-encoding': 'identity', 'user-agent': 'hacp' },
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      resolve,
    );
    outgoing.setTimeout(IDLE_TIMEOUT_MS, () =>
      outgoing.destroy(
        Object.assign(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' }),
      ),
    );
    // After the response started, errors reach its body too; this keeps them from being unhandled.
    outgoing.on('error', (error) => reject(failure(url, error, options)));
  });
}

/** The bytes of `stream`, with a short transfer and any stream failure turned into HacpErrors. */
async function* guardedBody(
  stream: AsyncIterable<Buffer> & { destroy(): void },
  url: URL,
  totalBytes: number | undefined,
  options: DownloadOptions,
): AsyncGenerator<Buffer> {
  let received = 0;
  const onAbort = () => stream.destroy();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      if (options.signal?.aborted) throw abortedError(options.signal, `Downloading ${displayUrl(url)}`);
      received += chunk.length;
      yield chunk;
    }
  } catch (error) {
    throw failure(url, error, options);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    stream.destroy();
  }
  if (options.signal?.aborted) throw abortedError(options.signal, `Downloading ${displayUrl(url)}`);
  if (totalBytes !== undefined && received !== totalBytes) {
    throw new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `The transfer of ${displayUrl(url)} ended after ${received} of ${totalBytes} bytes.`,
      actions: ['Run the command again: nothing of the partial file was kept.'],
      details: { url: displayUrl(url), receivedBytes: received, totalBytes },
    });
  }
}

function failure(url: URL, error: unknown, options: DownloadOptions): HacpError {
  if (isHacpError(error)) return error;
  if (options.signal?.aborted) return abortedError(options.signal, `Downloading ${displayUrl(url)}`);
  return unreachable(url, error as NodeJS.ErrnoException, options);
}

function unreachable(url: URL, error: NodeJS.ErrnoException, options: DownloadOptions): HacpError {
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `Could not download ${displayUrl(url)}: ${error.message}.`,
    actions: [
      'Check that the release location can be reached from this machine, then run the command again.',
      `Check HACP_KUBE_RELEASE_URL (now ${displayUrl(options.releaseUrl)}).`,
    ],
    details: { url: displayUrl(url), ...(error.code === undefined ? {} : { cause: error.code }) },
    cause: error,
  });
}

function notFound(url: URL, reason: string, options: DownloadOptions): HacpError {
  return new HacpError({
    code: ErrorCode.NOT_FOUND,
    message: `${displayUrl(url)} does not exist (${reason}).`,
    actions: locationActions(options.releaseUrl),
    details: { url: displayUrl(url) },
  });
}

function statusError(url: URL, status: number, options: DownloadOptions): HacpError {
  if (status === 404 || status === 410) return notFound(url, `HTTP ${status}`, options);
  if (status === 401 || status === 403) {
    return new HacpError({
      code: ErrorCode.PERMISSION_DENIED,
      message: `${displayUrl(url)} refused the download (HTTP ${status}).`,
      actions: [
        `Check that HACP_KUBE_RELEASE_URL (now ${displayUrl(options.releaseUrl)}) is a location anyone may read.`,
      ],
      details: { url: displayUrl(url), status },
    });
  }
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `${displayUrl(url)} answered HTTP ${status}.`,
    actions: TRANSIENT_STATUS.has(status)
      ? ['Run the command again in a moment.']
      : locationActions(options.releaseUrl),
    retryable: TRANSIENT_STATUS.has(status),
    details: { url: displayUrl(url), status },
  });
}
