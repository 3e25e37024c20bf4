/** One member of a tar archive. */
export interface TarEntry {
  /** Its path in the archive, without a leading `./`. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  size: number;
  mode: number;
}

/** A malformed archive: a bad header checksum, a truncated member, an unreadable number. */
export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

const BLOCK = 512;
const EMPTY = Buffer.alloc(0);

/** Pulls exact byte counts out of a stream of chunks of any size. */
class ByteReader {
  readonly #chunks: AsyncIterator<Buffer>;
  #pending: Buffer = EMPTY;
  #ended = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.#chunks = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#ended) return false;
    const next = await this.#chunks.next();
    if (next.done) {
      this.#ended = true;
      return false;
    }
    this.#pending = this.#pending.length === 0 ? next.value : Buffer.concat([this.#pending, next.value]);
    return true;
  }

  /** Discards the next `count` bytes. */
  async skip(count: number): Promise<void> {
    for await (const piece of this.take(count)) void piece;
  }

  /** Exactly `count` bytes; undefined when the stream ended before the first of them. */
  async exactly(count: number): Promise<Buffer | undefined> {
    while (this.#pending.length < count) {
      if (!(await this.#fill())) {
        if (this.#pending.length === 0) return undefined;
        throw new TarFormatError(`the archive ends inside a ${count}-byte block`);
      }
    }
    const bytes = this.#pending.subarray(0, count);
    this.#pending = this.#pending.subarray(count);
    return bytes;
  }

  /** The next `count` bytes, in the pieces they arrive in. */
  async *take(count: number): AsyncGenerator<Buffer> {
    let left = count;
    while (left > 0) {
      if (this.#pending.length === 0 && !(await this.#fill())) {
        throw new TarFormatError(`the archive ends ${left} bytes before the end of a member`);
      }
      const piece = this.#pending.subarray(0, Math.min(left, this.#pending.length));
      this.#pending = this.#pending.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

function number(block: Buffer, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length);
  if ((field[0] ?? 0) & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte marks the encoding.
    let value = (field[0] ?? 0) & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw new TarFormatError(`the ${what} field is too large`);
    return value;
  }
  const digits = text(block, start, length).trim();
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw new TarFormatError(`the ${what} field "${digits}" is not octal`);
  return Number.parseInt(digits, 8);
}

function checksumMatches(block: Buffer): boolean {
  const recorded = number(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return recorded === unsigned || recorded === signed;
}

const TYPES: Readonly<Record<string, TarEntry['type']>> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '5': 'directory',
};

/** The `key=value` records of a pax extended header (`<length> <key>=<value>\n`). */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    const length = Number.parseInt(data.subarray(offset, space).toString('ascii'), 10);
    if (space === -1 || !(length > 0)) throw new TarFormatError('a pax header record is malformed');
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/**
 * Reads a tar archive (ustar, GNU long names, pax paths and sizes) as it streams. Each entry comes
 * with its body; read it before asking for the next entry, or it is skipped. Ends at the archive's
 * end marker; the rest of `source` is left unread.
 *
 * @throws TarFormatError for a header whose checksum does not match or an archive that ends early.
 */
export async function* readTar(
  source: AsyncIterable<Buffer>,
): AsyncGenerator<TarEntry & { body: AsyncIterable<Buffer> }> {
  const reader = new ByteReader(source);
  let longPath: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    const header = await reader.exactly(BLOCK);
    if (header === undefined || header.every((byte) => byte === 0)) return;
    if (!checksumMatches(header)) throw new TarFormatError('a header checksum does not match');
    const flag = String.fromCharCode(header[156] as number);
    const size = pax.has('size') ? Number(pax.get('size')) : number(header, 124, 12, 'size');
    if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError('a member size is invalid');
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'L' || flag === 'x' || flag === 'g' || flag === 'K') {
      const data = (await collect(reader.take(padded))).subarray(0, size);
      if (flag === 'L') longPath = text(data, 0, data.length);
      if (flag === 'x') pax = paxRecords(data);
      continue;
    }
    const posix = header.subarray(257, 263).toString('latin1') === 'ustar\0';
    const prefix = posix ? text(header, 345, 155) : '';
    const name =
      longPath ?? pax.get('path') ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    longPath = undefined;
    pax = new Map();
    let unread = size;
    let opened = false;
    async function* body(): AsyncGenerator<Buffer> {
      if (opened) throw new TarFormatError('a member body can be read once');
      opened = true;
      for await (const piece of reader.take(unread)) {
        unread -= piece.length;
        yield piece;
      }
    }
    yield {
      path: name.replace(/^(\.\/)+/, ''),
      type: TYPES[flag] ?? 'other',
      size,
      mode: number(header, 100, 8, 'mode'),
      body: { [Symbol.asyncIterator]: body },
    };
    // Whatever the caller left unread, then the padding to the next block.
    await reader.skip(unread + padded - size);
  }
}
