import { randomInt } from 'node:crypto';

/**
 * Where the double's addresses come from: all of 127.0.0.0/8, so that a VM booted on this machine can
 * really listen on its internal IP (every 127/8 address is local on Linux). Internal (VPC) addresses are
 * `127.<100-159>.x.y`, external ones `127.<160-199>.x.y`; 127.0.x.y (127.0.0.1 and friends) is never used.
 */
export type AddressKind = 'INTERNAL' | 'EXTERNAL';

const RANGES: Readonly<Record<AddressKind, { first: number; last: number }>> = {
  INTERNAL: { first: 100, last: 159 },
  EXTERNAL: { first: 160, last: 199 },
};

/** Whether `ip` is a dotted IPv4 address in the pool of `kind`. */
export function inPool(kind: AddressKind, ip: string): boolean {
  const match = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (match === null) return false;
  const [second, third, fourth] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const range = RANGES[kind];
  return second >= range.first && second <= range.last && third <= 255 && fourth >= 1 && fourth <= 254;
}

/**
 * Hands out random addresses from the two pools, never the same one twice in the life of a server (so
 * a released IP that a test still probes cannot be somebody else's), and never one that `inUse` reports.
 */
export class IpPool {
  private readonly handedOut = new Set<string>();

  /** A fresh address of `kind` that `inUse` does not report. */
  allocate(kind: AddressKind, inUse: (ip: string) => boolean): string {
    const range = RANGES[kind];
    // The pools hold ~2.4 M addresses each: a random pick collides rarely; bound the loop all the same.
    for (let attempt = 0; attempt < 10_000; attempt += 1) {
      const ip = `127.${randomInt(range.first, range.last + 1)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
      if (this.handedOut.has(ip) || inUse(ip)) continue;
      this.handedOut.add(ip);
      return ip;
    }
    throw new Error(`the ${kind} address pool is exhausted`);
  }

  /** Marks an address a caller chose itself (a reserved `address`) as handed out. */
  claim(ip: string): void {
    this.handedOut.add(ip);
  }
}
