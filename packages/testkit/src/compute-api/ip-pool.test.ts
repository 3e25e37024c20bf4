import { describe, expect, it } from 'vitest';
import { IpPool, LOOPBACK_RANGES } from './ip-pool.js';

const loopback = new IpPool();
const inPool = (kind: 'INTERNAL' | 'EXTERNAL', ip: string) => loopback.inPool(kind, ip);

describe('IpPool', () => {
  it('hands out internal and external addresses from their 127/8 ranges, never twice', () => {
    const pool = new IpPool();
    const internal = Array.from({ length: 500 }, () => pool.allocate('INTERNAL', () => false));
    const external = Array.from({ length: 500 }, () => pool.allocate('EXTERNAL', () => false));
    expect(internal.every((ip) => inPool('INTERNAL', ip) && !inPool('EXTERNAL', ip))).toBe(true);
    expect(external.every((ip) => inPool('EXTERNAL', ip) && !inPool('INTERNAL', ip))).toBe(true);
    expect(new Set([...internal, ...external]).size).toBe(1000);
  });

  it('skips what the caller reports in use and what was claimed', () => {
    const pool = new IpPool();
    const taken = new Set<string>();
    for (let i = 0; i < 200; i += 1) taken.add(pool.allocate('EXTERNAL', () => false));
    const fresh = new IpPool();
    for (const ip of taken) fresh.claim(ip);
    for (let i = 0; i < 200; i += 1)
      expect(taken.has(fresh.allocate('EXTERNAL', (ip) => taken.has(ip)))).toBe(false);
  });

  it('hands out only the ranges it is given', () => {
    const base = (100 << 24) | (64 << 16);
    const pool = new IpPool({
      INTERNAL: { first: base + 2, last: base + 1022 },
      EXTERNAL: { first: base + 1025, last: base + 2046 },
    });
    const internal = Array.from({ length: 300 }, () => pool.allocate('INTERNAL', () => false));
    expect(internal.every((ip) => /^100\.64\.[0-3]\.\d+$/.test(ip) && pool.inPool('INTERNAL', ip))).toBe(
      true,
    );
    expect(internal.some((ip) => ip.endsWith('.0') || ip.endsWith('.255'))).toBe(false);
    expect(
      pool.inPool(
        'EXTERNAL',
        pool.allocate('EXTERNAL', () => false),
      ),
    ).toBe(true);
    expect(pool.inPool('INTERNAL', '127.100.0.1')).toBe(false);
    expect(LOOPBACK_RANGES.INTERNAL.first).toBeLessThan(LOOPBACK_RANGES.EXTERNAL.first);
  });

  it('knows its ranges', () => {
    expect(inPool('INTERNAL', '127.100.0.1')).toBe(true);
    expect(inPool('INTERNAL', '127.159.255.254')).toBe(true);
    expect(inPool('INTERNAL', '127.160.0.1')).toBe(false);
    expect(inPool('EXTERNAL', '127.199.3.4')).toBe(true);
    expect(inPool('EXTERNAL', '127.0.0.1')).toBe(false);
    expect(inPool('EXTERNAL', '127.170.0.0')).toBe(false);
    expect(inPool('INTERNAL', '10.0.0.1')).toBe(false);
  });
});
