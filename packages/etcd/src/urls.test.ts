import { ErrorCode, isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { assertMemberId, hexId, normalizeEtcdUrl } from './urls.js';

describe('member ids', () => {
  it('accepts etcd ids as decimal uint64 strings and prints them as etcdctl does', () => {
    expect(() => assertMemberId('18446744073709551615')).not.toThrow();
    expect(hexId('10501334649042878790')).toBe('91bc3c398fb3c146');
  });

  it.each(['', '0', '-5', '01', 'ff', '18446744073709551616', ' 1'])('refuses %j', (id) => {
    try {
      assertMemberId(id);
      throw new Error('accepted');
    } catch (error) {
      expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
    }
  });
});

describe('etcd URLs', () => {
  it('normalises https URLs with a port', () => {
    expect(normalizeEtcdUrl('https://10.0.0.2:2380/', 'peerUrl')).toBe('https://10.0.0.2:2380');
    expect(normalizeEtcdUrl('https://[fd00::1]:2380', 'peerUrl')).toBe('https://[fd00::1]:2380');
    expect(normalizeEtcdUrl('https://etcd-1.internal:443', 'peerUrl')).toBe('https://etcd-1.internal:443');
  });

  it.each([
    ['http://10.0.0.2:2380', /https/],
    ['https://10.0.0.2', /port/],
    ['https://u:p@10.0.0.2:2380', /credentials/],
    ['https://10.0.0.2:2380/path', /path/],
    ['https://10.0.0.2:99999', /parse|range/],
    ['10.0.0.2:2380', /https|parse/],
  ])('refuses %s', (url, why) => {
    expect(() => normalizeEtcdUrl(url, 'peerUrl')).toThrow(why);
  });
});
