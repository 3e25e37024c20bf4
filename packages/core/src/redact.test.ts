import { generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { HacpError } from './errors.js';
import { isSecret, redact, redactText, Secret } from './redact.js';

function pkcs8PrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

function ecPrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ format: 'pem', type: 'sec1' }).toString();
}

function rsaPrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
}

/** The base64 body of a PEM block, which must never survive redaction. */
function pemBody(pem: string): string {
  return pem.split('\n').slice(1, -2).join('\n');
}

// Certificate-shaped: whether a PEM block is removed depends on its label alone.
const CERTIFICATE = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBkTCB+wIJAKHHIG...fakebodyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=',
  '-----END CERTIFICATE-----',
].join('\n');

describe('Secret', () => {
  const secret = new Secret('hunter2');

  it('prints as [redacted] everywhere', () => {
    expect(String(secret)).toBe('[redacted]');
    expect(`${secret}`).toBe('[redacted]');
    expect(JSON.stringify(secret)).toBe('"[redacted]"');
    expect(JSON.stringify({ password: secret })).toBe('{"password":"[redacted]"}');
    expect(inspect(secret)).toBe('Secret([redacted])');
    expect(inspect({ nested: { secret } }, { depth: 5 })).not.toContain('hunter2');
  });

  it('does not expose the value as a property', () => {
    expect(Object.keys(secret)).toEqual([]);
    expect(Object.values({ ...secret })).toEqual([]);
  });

  it('gives the value through reveal()', () => {
    expect(secret.reveal()).toBe('hunter2');
  });

  it('is recognised by isSecret, also as a look-alike from another copy', () => {
    const foreign = { reveal: () => 'x', toJSON: () => '[redacted]' };

    expect(isSecret(secret)).toBe(true);
    expect(isSecret(foreign)).toBe(true);
    expect(isSecret({ reveal: () => 'x' })).toBe(false);
    expect(isSecret('[redacted]')).toBe(false);
    expect(isSecret(null)).toBe(false);
  });
});

describe('redactText', () => {
  it.each([
    ['PKCS8 "PRIVATE KEY"', pkcs8PrivateKeyPem(), 'PRIVATE KEY'],
    ['SEC1 "EC PRIVATE KEY"', ecPrivateKeyPem(), 'EC PRIVATE KEY'],
    ['PKCS1 "RSA PRIVATE KEY"', rsaPrivateKeyPem(), 'RSA PRIVATE KEY'],
  ])('removes a full %s PEM block', (_name, pem, label) => {
    expect(pem).toContain(`-----BEGIN ${label}-----`);
    const text = `writing key:\n${pem}done`;

    const out = redactText(text);

    expect(out).not.toContain(pemBody(pem));
    expect(out).toBe(`writing key:\n-----BEGIN ${label}-----[redacted]-----END ${label}-----\ndone`);
  });

  it('removes a truncated private key (BEGIN without END) to the end of the text', () => {
    const pem = pkcs8PrivateKeyPem();
    const truncated = pem.slice(0, Math.floor(pem.length / 2));

    const out = redactText(`log tail: ${truncated}`);

    expect(out).toBe('log tail: -----BEGIN PRIVATE KEY-----[redacted]-----END PRIVATE KEY-----');
  });

  it('removes every key when there are several', () => {
    const first = pkcs8PrivateKeyPem();
    const second = ecPrivateKeyPem();

    const out = redactText(`${first}between\n${second}`);

    expect(out).not.toContain(pemBody(first));
    expect(out).not.toContain(pemBody(second));
    expect(out).toContain('between');
  });

  it('removes bearer and basic credentials', () => {
    expect(redactText('Authorization: Bearer abc.def')).toBe('Authorization: Bearer [redacted]');
    expect(redactText('Authorization: Basic dXNlcjpwYXNz')).toBe('Authorization: Basic [redacted]');
  });

  it('removes password=, token: and similar pairs, keeping the key', () => {
    expect(redactText('login with password=hunter2 now')).toBe('login with password=[redacted] now');
    expect(redactText('token: xyz')).toBe('token: [redacted]');
    expect(redactText('secret="two words", next')).toBe('secret=[redacted], next');
    expect(redactText('client-key-data: LS0tLS1CRUdJTg==')).toBe('client-key-data: [redacted]');
  });

  it('removes pairs whose key ends in a secret word (access_token, DB_PASSWORD)', () => {
    expect(redactText('access_token=ya29.abc&x=1')).toBe('access_token=[redacted]&x=1');
    expect(redactText('DB_PASSWORD=hunter2')).toBe('DB_PASSWORD=[redacted]');
    expect(redactText('client_secret: s3cr3t')).toBe('client_secret: [redacted]');
  });

  it('removes pairs written as JSON', () => {
    const out = redactText('body {"token":"xyz","user":"ann"}');

    expect(out).not.toContain('xyz');
    expect(out).toContain('"user":"ann"');
  });

  it('leaves certificates alone', () => {
    expect(redactText(CERTIFICATE)).toBe(CERTIFICATE);
  });

  it('leaves ordinary text alone', () => {
    const text = 'Created replica kubernetes-master-a1f in europe-west1-b: 3 voters, leader etcd-1 (term 4).';
    expect(redactText(text)).toBe(text);
    expect(redactText('')).toBe('');
  });
});

describe('redact', () => {
  it('redacts secret-named fields at any depth', () => {
    const input = {
      password: 'hunter2',
      token: 'abc',
      privateKey: 'k',
      key: 'k',
      keyPem: 'k',
      secret: 's',
      nested: { list: [{ token: 't', name: 'kept' }] },
      name: 'kubernetes',
      keys: 3,
    };

    expect(redact(input)).toEqual({
      password: '[redacted]',
      token: '[redacted]',
      privateKey: '[redacted]',
      key: '[redacted]',
      keyPem: '[redacted]',
      secret: '[redacted]',
      nested: { list: [{ token: '[redacted]', name: 'kept' }] },
      name: 'kubernetes',
      keys: 3,
    });
  });

  it('keeps secret-named fields that hold nothing', () => {
    expect(redact({ password: undefined, token: null })).toEqual({ password: undefined, token: null });
  });

  it('redacts Secret values under any name, also in arrays', () => {
    const secret = new Secret('hunter2');

    const out = redact({ contents: secret, list: [secret, 'plain'] });

    expect(out).toEqual({ contents: '[redacted]', list: ['[redacted]', 'plain'] });
    expect(JSON.stringify(out)).not.toContain('hunter2');
  });

  it('redacts secrets inside strings', () => {
    const pem = pkcs8PrivateKeyPem();

    const out = redact({ stdout: `wrote ${pem}`, header: 'Bearer abc.def' }) as Record<string, string>;

    expect(out.stdout).not.toContain(pemBody(pem));
    expect(out.header).toBe('Bearer [redacted]');
  });

  it('turns errors into { name, message, code? } with the message redacted', () => {
    const hacpError = new HacpError({ code: 'UNAVAILABLE', message: 'etcd said password=hunter2' });

    expect(redact({ error: hacpError })).toEqual({
      error: { name: 'HacpError', message: 'etcd said password=[redacted]', code: 'UNAVAILABLE' },
    });
    expect(redact(new TypeError('bad'))).toEqual({ name: 'TypeError', message: 'bad' });
  });

  it('returns primitives as they are and Dates as ISO strings', () => {
    expect(redact(42)).toBe(42);
    expect(redact(true)).toBe(true);
    expect(redact(null)).toBe(null);
    expect(redact(undefined)).toBe(undefined);
    expect(redact(new Date('2024-01-02T03:04:05.000Z'))).toBe('2024-01-02T03:04:05.000Z');
  });

  it('does not throw on an invalid Date', () => {
    expect(redact({ at: new Date(Number.NaN) })).toEqual({ at: 'Invalid Date' });
  });

  it('summarises binary data by size', () => {
    expect(redact({ body: Buffer.from('secret bytes') })).toEqual({ body: '[12 bytes]' });
    expect(redact(new Uint8Array(4))).toBe('[4 bytes]');
  });

  it('marks cycles instead of recursing forever', () => {
    const node: Record<string, unknown> = { name: 'a' };
    node.self = node;
    const list: unknown[] = [1];
    list.push(list);

    expect(redact(node)).toEqual({ name: 'a', self: '[circular]' });
    expect(redact(list)).toEqual([1, '[circular]']);
  });

  it('copies an object that is referenced twice without a cycle', () => {
    const ref = { name: 'kubernetes-master', zone: 'europe-west1-b' };

    expect(redact({ from: ref, to: ref, all: [ref, ref] })).toEqual({
      from: ref,
      to: ref,
      all: [ref, ref],
    });
  });

  it('returns a copy and leaves the input unchanged', () => {
    const input = { password: 'hunter2', nested: { token: 't', list: ['Bearer abc'] } };
    const before = structuredClone(input);

    const out = redact(input) as typeof input;

    expect(input).toEqual(before);
    expect(out).not.toBe(input);
    expect(out.nested).not.toBe(input.nested);
    expect(out.nested.list).not.toBe(input.nested.list);
  });
});

describe('secret-named fields, precisely', () => {
  it('redacts apiKey and api_key, and leaves passive or compass alone', () => {
    expect(redact({ apiKey: 'k1', api_key: 'k2', passive: true, compass: 'north', pass: 'p' })).toEqual({
      apiKey: '[redacted]',
      api_key: '[redacted]',
      passive: true,
      compass: 'north',
      pass: '[redacted]',
    });
    expect(redactText('API_KEY=abc123 passphrase: hunter2')).toBe(
      'API_KEY=[redacted] passphrase: [redacted]',
    );
  });
});
