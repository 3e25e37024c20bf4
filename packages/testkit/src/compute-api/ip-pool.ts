import { randomInt } from 'node:crypto';

/** An instance's or forwarding rule's address kind: inside the VPC, or external. */
export type AddressKind = 'INTERNAL' | 'EXTERNAL';

/** Inclusive ranges of IPv4 addresses (as 32-bit numbers) the pools hand out, by kind. */
export type AddressRanges = Readonly<Record<AddressKind, { readonly first: number; readonly last: number }>>;

const toNumber = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

/**
 * The ranges of a server whose VMs do not run, or run on this machine's loopback: all of 127.0.0.0/8,
 * where every address is local on Linux. Internal (VPC) addresses are `127.<100-159>.x.y`, external
 * ones `127.<160-199>.x.y`; 127.0.x.y (127.0.0.1 and friends) is never used.
 */
export const LOOPBACK_RANGES: AddressRanges = {
  INTERNAL: { first: toNumber(127, 100, 0, 1), last: toNumber(127, 159, 255, 254) },
  EXTERNAL: { first: toNumber(127, 160, 0, 1), last: toNumber(127, 199, 255, 254) },
};

function parse(ip: string): number | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (match === null) return undefined;
  const parts = match.slice(1).map(Number);
  if (parts.some((part) => part > 255)) return undefined;
  return toNumber(parts[0] as number, parts[1] as number, parts[2] as number, parts[3] as number);
}

const format = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** Host addresses only: never the .0 or .255 of a /24, which some tools treat as network or broadcast. */
const isHost = (n: number) => (n & 255) !== 0 && (n & 255) !== 255;

/**
 * Hands out random addresses from the two ranges, never the same one twice in the life of a server (so
 * a released IP that a test still probes cannot be somebody else's), and never one that `inUse` reports.
 */
export class IpPool {
  private readonly handedOut = new Set<string>();

  constructor(readonly ranges: AddressRanges = LOOPBACK_RANGES) {}

  /** Whether `ip` is a dotted IPv4 host address in the range of `kind`. */
  inPool(kind: AddressKind, ip: string): boolean {
    const n = parse(ip);
    const range = this.ranges[kind];
    return n !== undefined && n >= range.first && n <= range.last && isHost(n);
  }

  /** A fresh address of `kind` that `inUse` does not report. */
  allocate(kind: AddressKind, inUse: (ip: string) => boolean): string {
    const range = this.ranges[kind];
    // A random pick collides rarely in ranges of thousands or millions; bound the loop all the same.
    for (let attempt = 0; attempt < 10_000; attempt += 1) {
      const n = randomInt(range.first, range.last + 1);
      if (!isHost(n)) continue;
      const ip = format(n);
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
