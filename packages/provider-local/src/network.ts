import { readFileSync } from 'node:fs';

/** The ports a replica and the endpoint use, before any offset (kube-up's and kubeadm's). */
export const STANDARD_PORTS = {
  etcdClient: 2379,
  etcdPeer: 2380,
  etcdMetrics: 2381,
  apiserver: 6443,
} as const;

/** The first port offset used where every replica shares 127.0.0.1, and the step between two. */
export const FIRST_PORT_OFFSET = 20_000;
export const PORT_OFFSET_STEP = 10;
const MAX_OFFSET_SLOTS = 3_000;

/** An IPv4 address as /proc/net/tcp writes it: the 32-bit value in host (little-endian) order, hex. */
function procHexOf(ip: string): string {
  const bytes = ip.split('.').map(Number);
  return bytes
    .reverse()
    .map((byte) => byte.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/**
 * TCP sockets listening on `ip` (any port), read from /proc/net/tcp; empty where /proc does not
 * exist. Used to pick loopback addresses nobody on this machine uses, and by tests to prove that
 * nothing is left bound.
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
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    if (local === undefined || state !== '0A') continue;
    const [hexIp, hexPort] = local.split(':');
    if (hexIp === wanted && hexPort !== undefined) ports.push(Number.parseInt(hexPort, 16));
  }
  return ports;
}

/**
 * A loopback address for a new replica or endpoint: 127.a.b.c with `a` from 64 to 250 (away from
 * 127.0.x.x, where Debian puts the host name), not in `taken` and with nothing listening on it.
 * Random, so that state folders that know nothing of each other (two users, two test runs) do not
 * collide; /proc/net/tcp catches the rest.
 */
export function pickLoopbackIp(taken: ReadonlySet<string>, random: () => number = Math.random): string {
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const a = 64 + Math.floor(random() * 187);
    const b = Math.floor(random() * 256);
    const c = 1 + Math.floor(random() * 254);
    const ip = `127.${a}.${b}.${c}`;
    if (!taken.has(ip) && listeningPorts(ip).length === 0) return ip;
  }
  throw new Error('no free loopback address after 1000 attempts');
}

/**
 * A port offset where every replica shares 127.0.0.1: the smallest unused slot whose shifted
 * standard ports nobody listens on. Offsets are multiples of 10 apart, and the standard ports differ
 * by amounts that are not multiples of 10, so two slots never share a port.
 */
export function pickPortOffset(taken: ReadonlySet<number>): number {
  const listening = new Set(listeningPorts('127.0.0.1'));
  for (let slot = 0; slot < MAX_OFFSET_SLOTS; slot++) {
    const offset = FIRST_PORT_OFFSET + slot * PORT_OFFSET_STEP;
    if (taken.has(offset)) continue;
    if (Object.values(STANDARD_PORTS).some((port) => listening.has(port + offset))) continue;
    return offset;
  }
  throw new Error(`no free port offset among ${MAX_OFFSET_SLOTS} slots`);
}
