import { isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { checksumMismatch, parseSha256File } from './checksum.js';

const digest = '98be78dee2d5b042ead2ce9177a9e19f79bcce6b3b8874b7eec713db42435bfc';
const where = {
  url: new URL('https://mirror.example/release/v1.23.16/x.tar.gz.sha256'),
  releaseUrl: 'https://mirror.example/release',
};

describe('parseSha256File', () => {
  it.each([
    ['the digest alone', digest],
    ['with a newline', `${digest}\n`],
    ['in upper case', digest.toUpperCase()],
    ["sha256sum's format", `${digest}  kubernetes-server-linux-amd64.tar.gz\n`],
    ['a binary-mode name', `${digest} *kube-apiserver`],
  ])('reads %s', (_, text) => {
    expect(parseSha256File(text, where)).toBe(digest);
  });

  it.each(['', 'not a digest', digest.slice(0, 63), `${digest}0`, '<html>404</html>'])(
    'refuses %j',
    (text) => {
      let error: unknown;
      try {
        parseSha256File(text, where);
      } catch (caught) {
        error = caught;
      }
      expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toContain(where.url.href);
    },
  );
});

describe('checksumMismatch', () => {
  it('names the URL and both digests, and says nothing was kept', () => {
    const error = checksumMismatch({
      url: new URL('https://op:pw@m.example/r/x'),
      expected: digest,
      actual: 'ab'.repeat(32),
    });
    expect(error.code).toBe('CHECKSUM_MISMATCH');
    expect(error.message).toContain('https://m.example/r/x');
    expect(error.message).not.toContain('pw');
    expect(error.message).toContain(digest);
    expect(error.message).toContain('nothing of it was kept');
    expect(error.details).toMatchObject({ expected: digest, actual: 'ab'.repeat(32) });
  });
});
