/**
 * The names and labels of kube-apiserver identity leases, in the three forms real clusters have run
 * (kube-up-behaviour.md §7). The names are pure functions of the hostname from 1.26 on, so a restarted
 * apiserver finds its own lease again and anyone can tell which replica a lease belongs to.
 */
import { createHash, randomUUID } from 'node:crypto';
import { invalidArgument } from '@hacp/core';

/**
 * The apiserver identity lease formats: `'1.20'` (1.20–1.25, random UUID names), `'1.26'` (names
 * hashed from the hostname) and `'1.27'` (1.27 and later: hashed with the component name, new label).
 */
export type ApiServerIdentityGeneration = '1.20' | '1.26' | '1.27';

/** Every generation, oldest first. */
export const API_SERVER_IDENTITY_GENERATIONS: readonly ApiServerIdentityGeneration[] = Object.freeze([
  '1.20',
  '1.26',
  '1.27',
]);

/** The label 1.20–1.26 apiservers put on their identity leases (`k8s.io/component=kube-apiserver`). */
export const LEGACY_IDENTITY_LABEL = Object.freeze({ key: 'k8s.io/component', value: 'kube-apiserver' });

/** The label 1.27+ apiservers put on their identity leases (`apiserver.kubernetes.io/identity=kube-apiserver`). */
export const IDENTITY_LABEL = Object.freeze({
  key: 'apiserver.kubernetes.io/identity',
  value: 'kube-apiserver',
});

/** The label naming the host an identity lease belongs to (1.26 and later). */
export const HOSTNAME_LABEL_KEY = 'kubernetes.io/hostname';

/** Both label selectors an identity-lease GC must cover while clusters of both ages exist. */
export const IDENTITY_LABEL_SELECTORS: readonly string[] = Object.freeze([
  `${IDENTITY_LABEL.key}=${IDENTITY_LABEL.value}`,
  `${LEGACY_IDENTITY_LABEL.key}=${LEGACY_IDENTITY_LABEL.value}`,
]);

/** Where apiserver identity leases live. */
export const IDENTITY_NAMESPACE = 'kube-system';

const COMPONENT = 'kube-apiserver';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
// A Kubernetes label value: at most 63 characters, alphanumerics at both ends, `-_.` inside.
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
// os.Hostname() on Linux is at most 64 bytes; a DNS name at most 253. Anything longer is not a hostname.
const MAX_HOSTNAME_LENGTH = 253;

/** RFC 4648 base32, lowercase, without padding: Go's `base32.StdEncoding.WithPadding(NoPadding)` lowered. */
export function base32Lower(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** A uint16 big-endian length prefix and the bytes, as Go's cryptobyte `AddUint16LengthPrefixed` writes them. */
function lengthPrefixed(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(bytes.length);
  return Buffer.concat([prefix, bytes]);
}

function hashSuffix(data: Buffer): string {
  return base32Lower(createHash('sha256').update(data).digest().subarray(0, 16));
}

/**
 * Throws INVALID_ARGUMENT unless `generation` is one of the three known ones.
 *
 * @throws HacpError INVALID_ARGUMENT naming the generations that exist.
 */
export function assertGeneration(generation: unknown): asserts generation is ApiServerIdentityGeneration {
  if (!API_SERVER_IDENTITY_GENERATIONS.includes(generation as ApiServerIdentityGeneration)) {
    throw invalidArgument({
      field: 'generation',
      message: `Unknown apiserver identity generation ${JSON.stringify(generation)}: use '1.20' (1.20–1.25), '1.26' or '1.27' (1.27 and later).`,
      actions: ["Pass the generation of the apiservers you run, e.g. '1.27' for any current release."],
      ...(typeof generation === 'string' ? { value: generation } : {}),
    });
  }
}

/**
 * Throws INVALID_ARGUMENT unless `hostname` could be what `os.Hostname()` returns on an apiserver.
 *
 * @throws HacpError INVALID_ARGUMENT for a non-string, empty, too long, or whitespace-bearing hostname.
 */
export function assertHostname(hostname: unknown): asserts hostname is string {
  if (typeof hostname !== 'string' || hostname.length === 0) {
    throw invalidArgument({
      field: 'hostname',
      message:
        'The hostname is empty: an identity lease is named after the hostname of the apiserver it belongs to.',
      actions: [
        'Pass the apiserver VM\'s hostname (what `hostname` prints on it), e.g. "kubernetes-master".',
      ],
    });
  }
  if (hostname.length > MAX_HOSTNAME_LENGTH || /[\s\p{Cc}]/u.test(hostname)) {
    throw invalidArgument({
      field: 'hostname',
      message: `${JSON.stringify(hostname.slice(0, 80))} is not a hostname: it has whitespace or control characters, or more than ${MAX_HOSTNAME_LENGTH} characters.`,
      value: hostname.slice(0, 80),
    });
  }
}

/** Throws INVALID_ARGUMENT unless `hostname` can be the value of the `kubernetes.io/hostname` label. */
function assertHostnameLabel(hostname: string): void {
  if (!LABEL_VALUE.test(hostname)) {
    throw invalidArgument({
      field: 'hostname',
      message: `Hostname ${JSON.stringify(hostname)} cannot be the value of the ${HOSTNAME_LABEL_KEY} label that 1.26+ identity leases carry: a label value has at most 63 characters, letters or digits at both ends and only '-', '_' or '.' inside.`,
      value: hostname,
    });
  }
}

/** What {@link apiServerIdentityName} and {@link apiServerIdentityLabels} take. */
export interface ApiServerIdentityOptions {
  /** The apiserver's hostname, as `os.Hostname()` returns it on that VM. */
  hostname: string;
  generation: ApiServerIdentityGeneration;
  /**
   * Only for `'1.20'`, whose names are random: the UUID to use (lowercase, hyphenated). A fresh one
   * by default, as each 1.20–1.25 apiserver process made.
   */
  uuid?: string;
}

/**
 * The name of an apiserver's identity lease in `kube-system`:
 *
 * - `'1.20'`: `kube-apiserver-<uuid>`, a new UUID per process;
 * - `'1.26'`: `kube-apiserver-` + lowercase unpadded base32 of the first 16 bytes of sha256(hostname);
 * - `'1.27'`: `apiserver-` + the same encoding of sha256(uint16 length ‖ hostname ‖ uint16 length ‖
 *   "kube-apiserver").
 *
 * @example
 * apiServerIdentityName({ hostname: 'master-1', generation: '1.27' }); // 'apiserver-wj467rbl25eeviqacfhvg2yvnm'
 * apiServerIdentityName({ hostname: 'vm', generation: '1.26' }); // 'kube-apiserver-lphjr5z7h3imqn7sokpnsue3ha'
 * @throws HacpError INVALID_ARGUMENT for an empty or malformed hostname, an unknown generation, or a
 *   malformed `uuid`.
 */
export function apiServerIdentityName(options: ApiServerIdentityOptions): string {
  const { hostname, generation } = options;
  assertGeneration(generation);
  assertHostname(hostname);
  switch (generation) {
    case '1.20': {
      const uuid = options.uuid ?? randomUUID();
      if (!UUID.test(uuid)) {
        throw invalidArgument({
          field: 'uuid',
          message: `${JSON.stringify(uuid)} is not a lowercase hyphenated UUID.`,
          value: uuid,
        });
      }
      return `${COMPONENT}-${uuid}`;
    }
    case '1.26':
      return `${COMPONENT}-${hashSuffix(Buffer.from(hostname, 'utf8'))}`;
    case '1.27':
      return `apiserver-${hashSuffix(Buffer.concat([lengthPrefixed(hostname), lengthPrefixed(COMPONENT)]))}`;
  }
}

/**
 * The labels an apiserver of that generation puts on its identity lease: `k8s.io/component` for
 * 1.20, plus `kubernetes.io/hostname` for 1.26; `apiserver.kubernetes.io/identity` and
 * `kubernetes.io/hostname` for 1.27.
 *
 * @example
 * apiServerIdentityLabels({ hostname: 'master-1', generation: '1.27' });
 * // { 'apiserver.kubernetes.io/identity': 'kube-apiserver', 'kubernetes.io/hostname': 'master-1' }
 * @throws HacpError INVALID_ARGUMENT for an unknown generation, or a hostname that is not a valid
 *   label value where the generation labels it.
 */
export function apiServerIdentityLabels(options: ApiServerIdentityOptions): Record<string, string> {
  const { hostname, generation } = options;
  assertGeneration(generation);
  assertHostname(hostname);
  if (generation === '1.20') return { [LEGACY_IDENTITY_LABEL.key]: LEGACY_IDENTITY_LABEL.value };
  assertHostnameLabel(hostname);
  if (generation === '1.26') {
    return { [LEGACY_IDENTITY_LABEL.key]: LEGACY_IDENTITY_LABEL.value, [HOSTNAME_LABEL_KEY]: hostname };
  }
  return { [IDENTITY_LABEL.key]: IDENTITY_LABEL.value, [HOSTNAME_LABEL_KEY]: hostname };
}

/**
 * Which generation wrote an identity lease, from its labels and name; undefined when the lease has
 * neither identity label. A legacy-labelled lease whose name has neither known shape is `'unknown'`.
 */
export function identityGenerationOf(lease: {
  name: string;
  labels: Readonly<Record<string, string>>;
}): ApiServerIdentityGeneration | 'unknown' | undefined {
  const { name, labels } = lease;
  if (labels[IDENTITY_LABEL.key] === IDENTITY_LABEL.value) return '1.27';
  if (labels[LEGACY_IDENTITY_LABEL.key] !== LEGACY_IDENTITY_LABEL.value) return undefined;
  const suffix = name.startsWith(`${COMPONENT}-`) ? name.slice(COMPONENT.length + 1) : undefined;
  if (suffix !== undefined && UUID.test(suffix)) return '1.20';
  if (suffix !== undefined && /^[a-z2-7]{26}$/.test(suffix)) return '1.26';
  return 'unknown';
}

/** True when `labels` carry either identity label: the only leases the GC and the listing touch. */
export function hasIdentityLabel(labels: Readonly<Record<string, string>> | undefined): boolean {
  return (
    labels !== undefined &&
    (labels[IDENTITY_LABEL.key] === IDENTITY_LABEL.value ||
      labels[LEGACY_IDENTITY_LABEL.key] === LEGACY_IDENTITY_LABEL.value)
  );
}
