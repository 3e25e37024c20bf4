import { readFileSync } from 'node:fs';

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
 * The TCP ports something listens on at `ip`, from /proc/net/tcp (empty where it cannot be read).
 * Used to pick loopback addresses that nobody on this machine uses.
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

/** Where Example Cloud's addresses come from: 127.a.b.c with `a` from 1 to 63. */
export const LOOPBACK_RANGE = { firstA: 1, lastA: 63 } as const;

/**
 * A loopback address for an instance or an endpoint: 127.a.b.c with `a` in 1..63 (the local
 * provider takes 64..250, and Debian puts the host name in 127.0.x.x), not in `taken`, and with
 * nothing listening on it. Random, so that state folders that know nothing of each other (two
 * users, two test runs) do not collide; /proc/net/tcp catches the rest.
 *
 * @throws Error when 1000 random picks all failed (the range holds four million addresses).
 */
export function pickLoopbackIp(taken: ReadonlySet<string>, random: () => number = Math.random): string {
  const span = LOOPBACK_RANGE.lastA - LOOPBACK_RANGE.firstA + 1;
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const a = LOOPBACK_RANGE.firstA + Math.floor(random() * span);
    const b = Math.floor(random() * 256);
    const c = 1 + Math.floor(random() * 254);
    const ip = `127.${a}.${b}.${c}`;
    if (!taken.has(ip) && listeningPorts(ip).length === 0) return ip;
  }
  throw new Error('No free loopback address after 1000 attempts.');
}
