import { describe, expect, it } from 'vitest';
import { IpPool, inPool } from './ip-pool.js';

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
