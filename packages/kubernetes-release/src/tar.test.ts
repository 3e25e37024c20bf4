import { describe, expect, it } from 'vitest';
import { readTar, TarFormatError } from './tar.js';

interface Member {
  name: string;
  data?: string | Buffer;
  type?: string;
  /** ustar's prefix field (POSIX magic only). */
  prefix?: string;
  gnu?: boolean;
  base256Size?: boolean;
  badChecksum?: boolean;
}

function field(block: Buffer, offset: number, length: number, value: string): void {
  block.write(value, offset, length, 'latin1');
}

function header(member: Member, size: number): Buffer {
  const block = Buffer.alloc(512);
  field(block, 0, 100, member.name);
  field(block, 100, 8, '0000755\0');
  field(block, 108, 8, '0000000\0');
  field(block, 116, 8, '0000000\0');
  if (member.base256Size) {
    block[124] = 0x80;
    block.writeUIntBE(size, 136 - 6, 6);
  } else {
    field(block, 124, 12, `${size.toString(8).padStart(11, '0')}\0`);
  }
  field(block, 136, 12, '00000000000\0');
  block[156] = (member.type ?? '0').charCodeAt(0);
  if (member.gnu) field(block, 257, 8, 'ustar  \0');
  else field(block, 257, 8, 'ustar\x0000');
  if (member.prefix !== undefined) field(block, 345, 155, member.prefix);
  field(block, 148, 8, '        ');
  let sum = 0;
  for (const byte of block) sum += byte;
  if (member.badChecksum) sum += 1;
  field(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

function archive(members: readonly Member[]): Buffer {
  const parts: Buffer[] = [];
  for (const member of members) {
    const data = Buffer.from(member.data ?? '');
    parts.push(header(member, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

async function readAll(
  bytes: Buffer,
  chunkSize = 10_000,
): Promise<{ path: string; type: string; body: string }[]> {
  const entries: { path: string; type: string; body: string }[] = [];
  for await (const entry of readTar(chunked(bytes, chunkSize))) {
    const parts: Buffer[] = [];
    for await (const piece of entry.body) parts.push(piece);
    entries.push({ path: entry.path, type: entry.type, body: Buffer.concat(parts).toString() });
  }
  return entries;
}

async function failure(bytes: Buffer): Promise<unknown> {
  try {
    await readAll(bytes);
  } catch (error) {
    return error;
  }
  throw new Error('expected readTar to fail');
}

const sample: Member[] = [
  { name: './kubernetes/', type: '5' },
  { name: './kubernetes/server/bin/kube-apiserver', data: 'A'.repeat(1300) },
  { name: 'kubernetes/empty', data: '' },
  { name: 'kubernetes/exact', data: 'E'.repeat(512) },
];

describe('readTar', () => {
  it('reads members, their types and bodies, with the leading ./ dropped', async () => {
    expect(await readAll(archive(sample))).toEqual([
      { path: 'kubernetes/', type: 'directory', body: '' },
      { path: 'kubernetes/server/bin/kube-apiserver', type: 'file', body: 'A'.repeat(1300) },
      { path: 'kubernetes/empty', type: 'file', body: '' },
      { path: 'kubernetes/exact', type: 'file', body: 'E'.repeat(512) },
    ]);
  });

  it.each([1, 7, 511, 513, 4096])('gives the same result in %i-byte chunks', async (size) => {
    expect(await readAll(archive(sample), size)).toEqual(await readAll(archive(sample)));
  });

  it('skips bodies left unread, in whole or in part', async () => {
    const seen: string[] = [];
    for await (const entry of readTar(chunked(archive(sample), 100))) {
      seen.push(entry.path);
      if (entry.path.endsWith('kube-apiserver')) {
        for await (const piece of entry.body) {
          expect(piece.length).toBeGreaterThan(0);
          break;
        }
      }
    }
    expect(seen).toEqual([
      'kubernetes/',
      'kubernetes/server/bin/kube-apiserver',
      'kubernetes/empty',
      'kubernetes/exact',
    ]);
  });

  it('joins the POSIX prefix, and reads GNU long names and pax paths and sizes', async () => {
    const long = `kubernetes/${'d'.repeat(120)}/kube-scheduler`;
    const entries = await readAll(
      archive([
        { name: 'kube-proxy', prefix: 'kubernetes/server/bin', data: 'p' },
        { name: '././@LongLink', type: 'L', data: `${long}\0`, gnu: true },
        { name: long.slice(0, 99), data: 's', gnu: true },
        {
          name: 'PaxHeaders/x',
          type: 'x',
          data: paxRecord('path', 'kubernetes/pax name') + paxRecord('size', '3'),
        },
        { name: 'truncated-name', data: 'pax' },
        { name: 'big', data: 'b'.repeat(700), base256Size: true },
      ]),
    );
    expect(entries).toEqual([
      { path: 'kubernetes/server/bin/kube-proxy', type: 'file', body: 'p' },
      { path: long, type: 'file', body: 's' },
      { path: 'kubernetes/pax name', type: 'file', body: 'pax' },
      { path: 'big', type: 'file', body: 'b'.repeat(700) },
    ]);
  });

  it('refuses a header whose checksum does not match', async () => {
    const error = await failure(archive([{ name: 'x', data: 'x', badChecksum: true }]));
    expect(error).toBeInstanceOf(TarFormatError);
    expect((error as Error).message).toContain('checksum');
  });

  it('refuses an archive that ends inside a member', async () => {
    const bytes = archive([{ name: 'kube-apiserver', data: 'A'.repeat(2000) }]).subarray(0, 512 + 1000);
    const error = await failure(bytes);
    expect(error).toBeInstanceOf(TarFormatError);
    expect((error as Error).message).toContain('ends');
  });

  it('ends at the end marker, or at the end of a stream without one', async () => {
    const withoutMarker = archive([{ name: 'a', data: 'a' }]).subarray(0, 1024);
    expect(await readAll(withoutMarker)).toEqual([{ path: 'a', type: 'file', body: 'a' }]);
    const trailing = Buffer.concat([archive([{ name: 'a', data: 'a' }]), Buffer.from('junk after the end')]);
    expect((await readAll(trailing)).map((entry) => entry.path)).toEqual(['a']);
  });
});

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length = `${length}${body}`.length;
  return `${length}${body}`;
}
