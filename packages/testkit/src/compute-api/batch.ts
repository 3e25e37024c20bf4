import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { badRequest } from './errors.js';

/**
 * Google's batch format (`POST /batch/compute/v1`, what gcloud sends for calls across several scopes):
 * a `multipart/mixed` body whose parts are `application/http` requests (`GET /compute/v1/... HTTP/1.1`,
 * headers, body), answered with a `multipart/mixed` body of the sub-responses (`HTTP/1.1 200 OK`,
 * headers, body) in the same order, each part's `Content-ID: <x>` answered as `<response-x>`. Python's
 * email generator (apitools, googleapiclient) writes bare LF line breaks; CRLF is read too.
 */

/** The path gcloud derives from the endpoint: `<scheme>://<host>/batch/compute/<version>`. */
export const BATCH_PATH = '/batch/compute/v1';

/** One request inside a batch. */
export interface BatchPart {
  /** The part's `Content-ID` without its angle brackets; undefined when the part has none. */
  contentId: string | undefined;
  httpMethod: string;
  /** The request target: a path with its query (`/compute/v1/projects/p/zones/z/instances?alt=json`). */
  target: string;
  body: string;
}

/** One sub-response to write back. */
export interface BatchAnswer {
  contentId: string | undefined;
  status: number;
  body: unknown;
}

const LINE_BREAK = /\r?\n/;

/** Splits `headers CRLF CRLF body` (or with LFs); headers as lowercase names. */
function splitEntity(text: string): { headers: Map<string, string>; body: string } {
  const match = /\r?\n\r?\n/.exec(text);
  const head = match === null ? text : text.slice(0, match.index);
  const body = match === null ? '' : text.slice(match.index + match[0].length);
  const headers = new Map<string, string>();
  for (const line of head.split(LINE_BREAK)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** The `boundary` parameter of a `multipart/mixed` Content-Type, quoted or not. */
function boundaryOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^\s*multipart\/mixed\s*(;|$)/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

/**
 * The requests of a batch body.
 *
 * @throws ComputeApiError 400 for a body that is not `multipart/mixed` with a boundary, or a part that
 *   holds no HTTP request.
 */
export function parseBatch(contentType: string | undefined, text: string): BatchPart[] {
  const boundary = boundaryOf(contentType);
  if (boundary === undefined) {
    throw badRequest(
      'Failed to parse batch request: the Content-Type must be multipart/mixed with a boundary.',
    );
  }
  const escaped = boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // A delimiter starts a line; the line break before it belongs to the delimiter, not to the part.
  const chunks = text.split(new RegExp(`(?:^|\\r?\\n)--${escaped}`));
  const parts: BatchPart[] = [];
  for (const chunk of chunks.slice(1)) {
    if (chunk.startsWith('--')) break;
    const part = splitEntity(chunk.replace(/^[ \t]*\r?\n/, ''));
    const request = part.body;
    const lineEnd = LINE_BREAK.exec(request);
    const requestLine = lineEnd === null ? request : request.slice(0, lineEnd.index);
    const match = /^([A-Z]+) (\S+)(?: HTTP\/\d\.\d)?$/.exec(requestLine.trim());
    if (match === null) {
      throw badRequest(`Failed to parse batch request: part ${parts.length + 1} holds no HTTP request.`);
    }
    const inner = splitEntity(lineEnd === null ? '' : request.slice(lineEnd.index + lineEnd[0].length));
    const contentId = part.headers.get('content-id');
    parts.push({
      contentId: contentId?.replace(/^<(.*)>$/, '$1'),
      httpMethod: match[1] as string,
      target: match[2] as string,
      body: inner.body,
    });
  }
  if (parts.length === 0) throw badRequest('Failed to parse batch request: it holds no requests.');
  return parts;
}

/** The batch response: its Content-Type (with a fresh boundary) and its body. */
export function formatBatch(answers: readonly BatchAnswer[]): { contentType: string; body: string } {
  const boundary = `batch_${randomBytes(12).toString('base64url')}`;
  const sections = answers.map((answer) => {
    const json = JSON.stringify(answer.body);
    return [
      `--${boundary}`,
      'Content-Type: application/http',
      ...(answer.contentId === undefined ? [] : [`Content-ID: <response-${answer.contentId}>`]),
      '',
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}`.trimEnd(),
      'Content-Type: application/json; charset=UTF-8',
      `Content-Length: ${Buffer.byteLength(json)}`,
      '',
      json,
    ].join('\r\n');
  });
  return {
    contentType: `multipart/mixed; boundary=${boundary}`,
    body: `${sections.join('\r\n')}\r\n--${boundary}--\r\n`,
  };
}
