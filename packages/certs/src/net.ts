import { isIP } from 'node:net';
import { invalidArgument } from '@hacp/core';

/**
 * Whether `value` is an IP address a certificate can name. IPv6 with a zone (`fe80::1%eth0`) or an
 * embedded IPv4 tail (`::ffff:10.0.0.1`) is refused: @peculiar/x509 encodes the tail wrongly and a
 * SAN has no zone.
 */
export function isCertificateIp(value: string): boolean {
  const version = typeof value === 'string' ? isIP(value) : 0;
  return version === 4 || (version === 6 && !/[.%]/.test(value));
}

/** Checks an IP address (v4 or v6). @throws HacpError INVALID_ARGUMENT naming `field`. */
export function assertIp(field: string, value: string): void {
  if (!isCertificateIp(value)) {
    throw invalidArgument({
      field,
      value: String(value),
      message: `${field} "${String(value)}" is not an IP address.`,
      actions: [`Give ${field} as an IPv4 or IPv6 address, such as 10.128.0.2.`],
    });
  }
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Whether `value` is a DNS name: dot-separated lowercase labels of 1-63 characters. */
export function isDnsName(value: string): boolean {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= 253 &&
    value.split('.').every((label) => DNS_LABEL.test(label))
  );
}

/** Checks a DNS name. @throws HacpError INVALID_ARGUMENT naming `field`. */
export function assertDnsName(field: string, value: string): void {
  if (!isDnsName(value)) {
    throw invalidArgument({
      field,
      value: String(value),
      message: `${field} "${String(value)}" is not a DNS name: use lowercase letters, digits, dashes and dots.`,
    });
  }
}

function ipToBigInt(ip: string): { value: bigint; bits: 32 | 128 } {
  if (isIP(ip) === 4) {
    return { value: ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n), bits: 32 };
  }
  const [head = '', tail] = ip.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':'));
  const headGroups = parse(head);
  const tailGroups = tail === undefined ? [] : parse(tail);
  const groups = [
    ...headGroups,
    ...Array(8 - headGroups.length - tailGroups.length).fill('0'),
    ...tailGroups,
  ];
  return {
    value: groups.reduce((acc, group) => (acc << 16n) | BigInt(Number.parseInt(group, 16)), 0n),
    bits: 128,
  };
}

function bigIntToIp(value: bigint, bits: 32 | 128): string {
  if (bits === 32) {
    return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join('.');
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 says.
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.length && j - i > 1) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start < 0) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}

/** Kubernetes' limits on a service range: at most 20 host bits, and room for more than two addresses. */
const SERVICE_HOST_BITS = { min: 2, max: 20 };

/**
 * The first service IP of a service CIDR (the `kubernetes` Service's cluster IP): the network
 * address plus one, as kube-apiserver allocates it.
 *
 * @example firstServiceIp('10.0.0.0/16') // '10.0.0.1'
 * @throws HacpError INVALID_ARGUMENT (field `serviceCidr`) when the CIDR is malformed, not a network
 *   address, too small to hold the service IP, or larger than Kubernetes allows (20 host bits).
 */
export function firstServiceIp(serviceCidr: string): string {
  const field = 'serviceCidr';
  const [address = '', prefixText, ...rest] = String(serviceCidr).split('/');
  const prefix = Number(prefixText);
  if (rest.length > 0 || !isCertificateIp(address) || !/^\d{1,3}$/.test(prefixText ?? '')) {
    throw invalidArgument({
      field,
      value: String(serviceCidr),
      message: `serviceCidr "${String(serviceCidr)}" is not a CIDR such as 10.0.0.0/16.`,
    });
  }
  const { value, bits } = ipToBigInt(address);
  if (prefix > bits) {
    throw invalidArgument({
      field,
      value: serviceCidr,
      message: `serviceCidr "${serviceCidr}" has prefix /${prefix}, longer than an IPv${bits === 32 ? 4 : 6} address.`,
    });
  }
  const hostBits = bits - prefix;
  if (hostBits < SERVICE_HOST_BITS.min) {
    throw invalidArgument({
      field,
      value: serviceCidr,
      message: `serviceCidr "${serviceCidr}" has no room for services: it holds ${2 ** hostBits} address(es).`,
      actions: [`Use a larger range, such as /${bits === 32 ? 16 : 112}.`],
    });
  }
  if (hostBits > SERVICE_HOST_BITS.max) {
    throw invalidArgument({
      field,
      value: serviceCidr,
      message: `serviceCidr "${serviceCidr}" is larger than Kubernetes allows (at most 20 host bits).`,
      actions: [`Use /${bits - SERVICE_HOST_BITS.max} or a smaller range.`],
    });
  }
  const hostMask = (1n << BigInt(hostBits)) - 1n;
  if ((value & hostMask) !== 0n) {
    const network = bigIntToIp(value & ~hostMask, bits);
    throw invalidArgument({
      field,
      value: serviceCidr,
      message: `serviceCidr "${serviceCidr}" is not a network address.`,
      actions: [`Did you mean ${network}/${prefix}?`],
    });
  }
  return bigIntToIp(value + 1n, bits);
}
