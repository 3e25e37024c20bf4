import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { ErrorCode, HacpError, invalidArgument } from '@hacp/core';
import { toHacpError } from './errors.js';

/** A snapshot on disk, verified. */
export interface SnapshotResult {
  file: string;
  sizeBytes: number;
  /** sha256 of the whole file, for the backup catalogue. */
  sha256: string;
  /** The member it came from, and the revision it held when the snapshot began. */
  memberId: string;
  revision: string;
  /** The etcd cluster ID from that member's response header: a restored cluster has another. */
  clusterId: string;
}

/** A verified snapshot file. */
export interface VerifiedSnapshot {
  sizeBytes: number;
  sha256: string;
}

const TRAILER = 32;
const BOLT_MAGIC = 0xed0cdaed;

function corrupt(file: string, why: string): HacpError {
  return new HacpError({
    code: ErrorCode.STATE_CORRUPT,
    message: `${file} is not an intact etcd snapshot: ${why}.`,
    actions: ['Use another snapshot, or take a new one from a healthy member.'],
    details: { file },
    retryable: false,
  });
}

/**
 * Checks an etcd snapshot as `etcdctl snapshot restore` will: the stream's sha256 trailer over the
 * database before it, and a bbolt database header. Reads the file once.
 *
 * @throws HacpError NOT_FOUND for a missing file; STATE_CORRUPT for a truncated or altered one.
 * @example
 * const { sizeBytes, sha256 } = await verifySnapshot('/var/backups/etcd/before-replicate.db');
 */
export async function verifySnapshot(file: string): Promise<VerifiedSnapshot> {
  const size = await stat(file).then(
    (info) => info.size,
    () => {
      throw new HacpError({
        code: ErrorCode.NOT_FOUND,
        message: `The snapshot ${file} does not exist.`,
        actions: ['Check the path (`hacp backup list` shows the kept snapshots).'],
        details: { file },
      });
    },
  );
  if (size < 4096 + TRAILER) throw corrupt(file, `it is only ${size} bytes`);
  const body = createHash('sha256');
  const whole = createHash('sha256');
  let tail = Buffer.alloc(0);
  let header: Buffer | undefined;
  for await (const chunk of createReadStream(file)) {
    const bytes = chunk as Buffer;
    whole.update(bytes);
    if (header === undefined) header = bytes.subarray(0, 24);
    // Everything but the last 32 bytes is the database; hold those back until the end.
    const joined = Buffer.concat([tail, bytes]);
    body.update(joined.subarray(0, Math.max(0, joined.length - TRAILER)));
    tail = joined.subarray(Math.max(0, joined.length - TRAILER));
  }
  if (header === undefined || header.length < 24 || header.readUInt32LE(16) !== BOLT_MAGIC) {
    throw corrupt(file, 'it does not start with a bbolt database header');
  }
  if (!body.digest().equals(tail)) throw corrupt(file, 'its sha256 trailer does not match its contents');
  return { sizeBytes: size, sha256: whole.digest('hex') };
}

/** An open snapshot stream and where it comes from. */
export interface SnapshotSource {
  stream: AsyncIterable<{ blob: Buffer }> & { cancel?: () => void; destroy?: (error?: Error) => void };
  memberId: string;
  revision: string;
  clusterId: string;
}

/**
 * Streams a snapshot into a temporary file beside `file` (0600), verifies it, then renames it into
 * place: `file` either holds an intact snapshot or does not exist.
 */
export async function streamSnapshot(options: {
  file: string;
  endpoint: string;
  signal?: AbortSignal;
  open: () => Promise<SnapshotSource>;
}): Promise<SnapshotResult> {
  const { file } = options;
  if (typeof file !== 'string' || !isAbsolute(file)) {
    throw invalidArgument({
      field: 'file',
      value: String(file),
      message: 'The snapshot file must be an absolute path.',
    });
  }
  const exists = await access(file).then(
    () => true,
    () => false,
  );
  if (exists) {
    throw new HacpError({
      code: ErrorCode.ALREADY_EXISTS,
      message: `${file} exists already; a snapshot never overwrites another.`,
      actions: ['Pick a new file name.'],
      details: { file },
    });
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}.part`);
  const handle = await open(temporary, 'wx', 0o600);
  let source: SnapshotSource | undefined;
  const onAbort = () => source?.stream.cancel?.();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    source = await options.open();
    try {
      for await (const chunk of source.stream) {
        if (options.signal?.aborted) break;
        await handle.write(chunk.blob);
      }
    } catch (error) {
      if (!options.signal?.aborted) {
        throw toHacpError(error, { operation: 'stream the snapshot', endpoint: options.endpoint });
      }
    }
    if (options.signal?.aborted) {
      throw new HacpError({
        code: ErrorCode.ABORTED,
        message: 'The snapshot was aborted; nothing was kept.',
        actions: ['Take the snapshot again.'],
      });
    }
    await handle.sync();
    await handle.close();
    const verified = await verifySnapshot(temporary);
    await rename(temporary, file);
    return {
      file,
      ...verified,
      memberId: source.memberId,
      revision: source.revision,
      clusterId: source.clusterId,
    };
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
