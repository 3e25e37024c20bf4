import { readFileSync } from 'node:fs';

/** The ports a replica and the endpoint use, before any offset (kube-up's and kubeadm's). */
export const STANDARD_PORTS = Object.freeze({
  etcdClient: 2379,
  etcdPeer: 2380,
  etcdMetrics: 2381,
  apiserver: 6443,
} as const);

/** An IPv4 address as /proc/net/tcp writes it: the 32-bit value in host (little-endian) order, hex. */
function procHexOf(ip: string): string {
  return ip
    .split('.')
    .map((part) => Number(part).toString(16).padStart(2, '0'))
    .reverse()
    .join('')
    .toUpperCase();
}

/**
 * The TCP ports something listens on at `ip`, from /proc/net/tcp; empty where it cannot be read.
 * Used to pick loopback addresses nobody on this machine uses, and by tests to prove that nothing is
 * left bound.
 *
 * @example
 * listeningPorts('127.0.0.1'); // [2379, 22, ...]
 */
export function listeningPorts(ip: string): number[] {
  let table: string;
  try {
    table = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return [];
  }
  const wanted = procHexOf(ip);
  const ports: number[] = [];
  for (const line of table.split('\n').slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    // 0A is TCP_LISTEN.
    if (local === undefined || state !== '0A') continue;
    const [hexIp, hexPort] = local.split(':');
    if (hexIp === wanted && hexPort !== undefined) ports.push(Number.parseInt(hexPort, 16));
  }
  return ports;
}

/**
 * Where a provider's loopback addresses come from: 127.a.b.c with `a` from `firstA` to `lastA`.
 * Providers on one machine take ranges that do not overlap (the local provider 64..250, the example
 * plugin 1..63), and keep away from 127.0.x.x, where Debian puts the host name.
 */
export interface LoopbackRange {
  firstA: number;
  lastA: number;
}

/**
 * A loopback address for an instance or an endpoint: 127.a.b.c in `range`, not in `taken`, and with
 * nothing listening on it. Random, so that state folders that know nothing of each other (two
 * users, two test runs) do not collide; /proc/net/tcp catches the rest.
 *
 * @example
 * pickLoopbackIp(new Set(['127.64.0.1']), { firstA: 64, lastA: 250 }); // '127.131.7.42'
 * @throws Error when 1000 random picks all failed (a range holds millions of addresses).
 */
export function pickLoopbackIp(
  taken: ReadonlySet<string>,
  range: LoopbackRange,
  random: () => number = Math.random,
): string {
  const span = range.lastA - range.firstA + 1;
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const a = range.firstA + Math.floor(random() * span);
    const b = Math.floor(random() * 256);
    const c = 1 + Math.floor(random() * 254);
    const ip = `127.${a}.${b}.${c}`;
    if (!taken.has(ip) && listeningPorts(ip).length === 0) return ip;
  }
  throw new Error('No free loopback address after 1000 attempts.');
}

/** The first port offset where every replica shares 127.0.0.1, and the step between two. */
export const FIRST_PORT_OFFSET = 20_000;
export const PORT_OFFSET_STEP = 10;
const MAX_OFFSET_SLOTS = 3_000;

/**
 * A port offset where every replica shares 127.0.0.1: the smallest unused slot whose shifted
 * standard ports nobody listens on. Offsets are 10 apart, and the standard ports differ by amounts
 * that are not multiples of 10, so two slots never share a port.
 *
 * @throws Error when all 3000 slots are taken.
 */
export function pickPortOffset(taken: ReadonlySet<number>): number {
  const listening = new Set(listeningPorts('127.0.0.1'));
  for (let slot = 0; slot < MAX_OFFSET_SLOTS; slot++) {
    const offset = FIRST_PORT_OFFSET + slot * PORT_OFFSET_STEP;
    if (taken.has(offset)) continue;
    if (Object.values(STANDARD_PORTS).some((port) => listening.has(port + offset))) continue;
    return offset;
  }
  throw new Error(`No free port offset among ${MAX_OFFSET_SLOTS} slots.`);
}
