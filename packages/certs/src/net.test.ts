import { isHacpError } from '@hacp/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertIp, firstServiceIp, isDnsName } from './net.js';

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

const dotted = (value: number) => [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');

describe('firstServiceIp', () => {
  it.each([
    ['10.0.0.0/16', '10.0.0.1'],
    ['10.96.0.0/12', '10.96.0.1'],
    ['192.168.255.0/24', '192.168.255.1'],
    ['10.0.0.252/30', '10.0.0.253'],
    ['fd00:10:96::/108', 'fd00:10:96::1'],
    ['2001:db8:0:0:1::/112', '2001:db8::1:0:0:1'],
  ])('gives the network address plus one: %s -> %s', (cidr, expected) => {
    expect(firstServiceIp(cidr)).toBe(expected);
  });

  it.each([
    ['10.0.0.0/31', 'no room'],
    ['10.0.0.0/32', 'no room'],
    ['fd00::/127', 'no room'],
    ['10.0.0.0', 'is not a CIDR'],
    ['10.0.0.0/33', 'longer than an IPv4 address'],
    ['fd00::/129', 'longer than an IPv6 address'],
    ['x/16', 'is not a CIDR'],
    ['10.0.0.300/16', 'is not a CIDR'],
    ['10.0.0.0/16/1', 'is not a CIDR'],
    ['10.0.0.0/-1', 'is not a CIDR'],
    ['', 'is not a CIDR'],
    ['10.0.0.0/8', 'larger than Kubernetes allows'],
    ['fd00::/64', 'larger than Kubernetes allows'],
    ['::ffff:10.0.0.0/112', 'is not a CIDR'],
    ['fe80::%eth0/112', 'is not a CIDR'],
  ])('rejects %s as INVALID_ARGUMENT on serviceCidr (%s)', (cidr, reason) => {
    const error = thrown(() => firstServiceIp(cidr));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as { details: { field: string } }).details.field).toBe('serviceCidr');
    expect((error as Error).message).toContain(reason);
  });

  it('suggests the network address when host bits are set', () => {
    const error = thrown(() => firstServiceIp('10.0.0.5/16'));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain('not a network address');
    expect((error as { actions: string[] }).actions.join(' ')).toContain('10.0.0.0/16');
  });

  it('for any IPv4 network a.b.c.d/p with p in [12, 30], is the network plus one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 12, max: 30 }),
        (address, prefix) => {
          const network = (address & ~((1 << (32 - prefix)) - 1)) >>> 0;
          expect(firstServiceIp(`${dotted(network)}/${prefix}`)).toBe(dotted(network + 1));
        },
      ),
    );
  });

  it('for any IPv4 address with host bits set, names the network it belongs to', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 12, max: 30 }),
        (address, prefix) => {
          const hostMask = (1 << (32 - prefix)) - 1;
          fc.pre((address & hostMask) !== 0);
          const error = thrown(() => firstServiceIp(`${dotted(address)}/${prefix}`));
          expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
          const network = (address & ~hostMask) >>> 0;
          expect((error as { actions: string[] }).actions).toEqual([
            `Did you mean ${dotted(network)}/${prefix}?`,
          ]);
        },
      ),
    );
  });
});

describe('assertIp', () => {
  it.each(['10.0.0.1', '::1', 'fd00:10:96::1'])('accepts %s', (ip) => {
    expect(() => assertIp('internalIp', ip)).not.toThrow();
  });

  it.each([
    '10.0.0.300',
    'abc',
    '',
    '10.0.0',
    // A SAN has no zone, and @peculiar/x509 encodes an embedded IPv4 tail wrongly.
    'fe80::1%eth0',
    '::ffff:10.1.2.3',
  ])('rejects %j naming the field', (ip) => {
    const error = thrown(() => assertIp('externalIp', ip));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as { details: { field: string } }).details.field).toBe('externalIp');
  });
});

describe('isDnsName', () => {
  it.each(['cluster.local', 'kubernetes-master', 'a', 'api.demo.example', `${'a'.repeat(63)}.b`])(
    'accepts %s',
    (name) => {
      expect(isDnsName(name)).toBe(true);
    },
  );

  it.each(['', 'Cluster.local', 'a..b', '-a', 'a-', 'a_b', 'not an address!', `${'a'.repeat(64)}.b`, '.a'])(
    'rejects %j',
    (name) => {
      expect(isDnsName(name)).toBe(false);
    },
  );
});
