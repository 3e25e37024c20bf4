// The cluster's CAs, listed once: creating, reporting, writing, loading and rotating walk this
// table, and the extra CAs a rotation keeps beside each are named after it.
import type { CaKey, ClusterPki } from './types.js';

export const CAS = {
  ca: { name: 'ca', file: 'ca', commonName: 'kubernetes' },
  etcdCa: { name: 'etcd-ca', file: 'etcd/ca', commonName: 'etcd-ca' },
  frontProxyCa: { name: 'front-proxy-ca', file: 'front-proxy-ca', commonName: 'front-proxy-ca' },
} as const satisfies Record<
  CaKey,
  {
    /** Its name in `certificatesOf` and `checkExpiry` (`-next`, `-previous` added mid-rotation). */
    name: string;
    /** kubeadm's file name, relative to `pki/`, without `.crt`/`.key` (`-next`, `-previous` likewise). */
    file: string;
    /** The subject `createClusterPki` gives it; a rotation's next CA adds the time it was made. */
    commonName: string;
  }
>;

/** Every CA key, in the order `certificatesOf` reports them. */
export const CA_KEY_LIST = Object.keys(CAS) as CaKey[];

/** The CAs as `certs rotate-ca --ca` names them, and the field of `ClusterPki` each one is. */
export const CA_KEYS = {
  etcd: 'etcdCa',
  cluster: 'ca',
  'front-proxy': 'frontProxyCa',
} as const satisfies Record<string, CaKey>;

/** The field of a CA being introduced by a rotation (`etcdCaNext`, `caNext`, `frontProxyCaNext`). */
export const nextCaKey = <K extends CaKey>(key: K) => `${key}Next` as const;
/** The field of a CA being dropped by a rotation (`etcdCaPrevious`, `caPrevious`, `frontProxyCaPrevious`). */
export const previousCaKey = <K extends CaKey>(key: K) => `${key}Previous` as const;

/** The CAs of the PKI that are mid-way through a rotation (a next or a previous CA is kept). */
export function rotatingCas(pki: ClusterPki): CaKey[] {
  return CA_KEY_LIST.filter(
    (key) => pki[nextCaKey(key)] !== undefined || pki[previousCaKey(key)] !== undefined,
  );
}

/**
 * A CA's certificates to trust now, as one PEM bundle: the signing CA first, and during a rotation
 * the next or the previous one too. This is what the replicas trust (`pki/ca.crt`,
 * `pki/etcd/ca.crt`, `pki/front-proxy-ca.crt`) and what kubeconfigs embed for the cluster CA.
 *
 * @example
 * writeFileSync('ca.crt', trustedCaPem(pki, 'etcdCa'));
 */
export function trustedCaPem(pki: ClusterPki, key: CaKey): string {
  const next = pki[nextCaKey(key)];
  const previous = pki[previousCaKey(key)];
  // Outside a rotation, the CA certificate byte for byte, as before rotations existed.
  if (next === undefined && previous === undefined) return pki[key].certPem;
  return [pki[key].certPem, next?.certPem, previous]
    .filter((pem): pem is string => pem !== undefined)
    .map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`))
    .join('');
}
