import { isAbsolute } from 'node:path';
import { invalidArgument } from '@hacp/core';
import { assertMemberName, normalizeEtcdUrl } from './urls.js';

/** The certificate files one etcd member reads (kubeadm's layout puts them under /etc/kubernetes/pki/etcd). */
export interface EtcdPkiPaths {
  /** The etcd CA, trusted for clients (and for peers unless `peerTrustedCaFile` is given). */
  trustedCaFile: string;
  /** The member's serving certificate and key for its client port. */
  certFile: string;
  keyFile: string;
  /** The member's peer certificate and key (server and client auth). */
  peerCertFile: string;
  peerKeyFile: string;
  /** The CA trusted for peers. Default `trustedCaFile`. */
  peerTrustedCaFile?: string;
}

/** One `name=peerUrl` entry of `--initial-cluster`. */
export interface InitialClusterEntry {
  name: string;
  peerUrl: string;
}

export interface MemberFlagsOptions {
  /** `--name`; for hacp, the replica name. */
  name: string;
  /** Advertised client URLs (`--advertise-client-urls`). */
  clientUrls: readonly string[];
  /** Advertised peer URLs (`--initial-advertise-peer-urls`). */
  peerUrls: readonly string[];
  /** Where to listen for clients. Default `clientUrls`. */
  listenClientUrls?: readonly string[];
  /** Where to listen for peers. Default `peerUrls`. */
  listenPeerUrls?: readonly string[];
  pkiPaths: EtcdPkiPaths;
  /** `--initial-cluster`: the value `addLearner` returns, or the entries to join. Must include this member. */
  initialCluster: string | readonly InitialClusterEntry[];
  /** `new` for the first member of a cluster (or a restored one), `existing` to join. */
  state: 'new' | 'existing';
  /** `--initial-cluster-token`, unique per cluster: member ids derive from it. */
  token: string;
  /**
   * `--force-new-cluster`: the member starts on its data dir as a one-member cluster, forgetting the
   * others (disaster recovery from a lost quorum). Only for one start: a member restarted with it
   * later would drop the members added since.
   */
  forceNewCluster?: boolean;
  /** An absolute path. */
  dataDir: string;
  /** `--quota-backend-bytes`. Default 4 GiB, kube-up's value. */
  quotaBackendBytes?: number;
  /** `--snapshot-count`. Default 10000, kube-up's and kubeadm's value. */
  snapshotCount?: number;
  /** `--heartbeat-interval` and `--election-timeout` in ms. Default etcd's (100 and 1000). */
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  /** `--listen-metrics-urls` (plain http is fine here: metrics only). */
  listenMetricsUrls?: readonly string[];
}

/** Renders `--initial-cluster` from its entries, in the order given. */
export function formatInitialCluster(entries: readonly InitialClusterEntry[]): string {
  return entries.map((entry) => `${entry.name}=${entry.peerUrl}`).join(',');
}

/**
 * Parses `--initial-cluster` back into entries.
 *
 * @throws HacpError INVALID_ARGUMENT (field `initialCluster`) for a malformed value.
 */
export function parseInitialCluster(value: string): InitialClusterEntry[] {
  if (value.trim() === '') {
    throw invalidArgument({ field: 'initialCluster', message: 'initialCluster is empty.' });
  }
  return value.split(',').map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) {
      throw invalidArgument({
        field: 'initialCluster',
        value,
        message: `initialCluster entry ${JSON.stringify(pair)} is not name=https://host:port.`,
      });
    }
    const name = pair.slice(0, at);
    assertMemberName(name, 'initialCluster');
    return { name, peerUrl: normalizeEtcdUrl(pair.slice(at + 1), 'initialCluster') };
  });
}

function urlList(urls: readonly string[] | undefined, field: string): string[] {
  if (urls === undefined || urls.length === 0) {
    throw invalidArgument({ field, message: `${field} needs at least one https:// URL.` });
  }
  return urls.map((url) => normalizeEtcdUrl(url, field));
}

function positiveInteger(value: number | undefined, field: string, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen <= 0) {
    throw invalidArgument({ field, value: chosen, message: `${field} must be a positive whole number.` });
  }
  return chosen;
}

function filePath(value: unknown, field: string): string {
  if (typeof value !== 'string' || !isAbsolute(value)) {
    throw invalidArgument({
      field,
      value: String(value),
      message: `${field} must be an absolute path, not ${JSON.stringify(value)}.`,
    });
  }
  return value;
}

/**
 * The etcd command line of one member, without the binary: the one renderer every provider uses
 * (the local provider runs it; the GCE provider writes it into the static pod manifest). Peer and
 * client TLS are always on with client certificate auth on both (a peer or client certified by
 * another CA is refused); strict reconfiguration checks stay on.
 *
 * @example
 * const args = memberFlags({
 *   name: 'kubernetes-master',
 *   clientUrls: ['https://10.0.0.2:2379'],
 *   peerUrls: ['https://10.0.0.2:2380'],
 *   listenClientUrls: ['https://10.0.0.2:2379', 'https://127.0.0.1:2379'],
 *   pkiPaths: {
 *     trustedCaFile: '/etc/kubernetes/pki/etcd/ca.crt',
 *     certFile: '/etc/kubernetes/pki/etcd/server.crt',
 *     keyFile: '/etc/kubernetes/pki/etcd/server.key',
 *     peerCertFile: '/etc/kubernetes/pki/etcd/peer.crt',
 *     peerKeyFile: '/etc/kubernetes/pki/etcd/peer.key',
 *   },
 *   initialCluster: 'kubernetes-master=https://10.0.0.2:2380',
 *   state: 'new',
 *   token: 'hacp-kubernetes-5f2c',
 *   dataDir: '/var/lib/etcd',
 * });
 * // ['--name=kubernetes-master', '--data-dir=/var/lib/etcd', ...]
 * @throws HacpError INVALID_ARGUMENT naming the field: a name etcd would misparse, a URL that is not
 *   `https://host:port`, an initial cluster that does not contain this member at its peer URLs, a
 *   relative path, an empty token.
 */
export function memberFlags(options: MemberFlagsOptions): string[] {
  assertMemberName(options.name);
  const clientUrls = urlList(options.clientUrls, 'clientUrls');
  const peerUrls = urlList(options.peerUrls, 'peerUrls');
  const listenClientUrls = urlList(options.listenClientUrls ?? clientUrls, 'listenClientUrls');
  const listenPeerUrls = urlList(options.listenPeerUrls ?? peerUrls, 'listenPeerUrls');
  if (options.state !== 'new' && options.state !== 'existing') {
    throw invalidArgument({
      field: 'state',
      value: String(options.state),
      message: `state must be 'new' (first member) or 'existing' (joining), not ${JSON.stringify(options.state)}.`,
    });
  }
  if (typeof options.token !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(options.token)) {
    throw invalidArgument({
      field: 'token',
      message: 'token must be 1 to 128 letters, digits, ".", "_" or "-", unique to the cluster.',
    });
  }
  const dataDir = filePath(options.dataDir, 'dataDir');
  const pki = options.pkiPaths;
  if (typeof pki !== 'object' || pki === null) {
    throw invalidArgument({ field: 'pkiPaths', message: 'pkiPaths is required: etcd always runs with TLS.' });
  }
  const trustedCa = filePath(pki.trustedCaFile, 'pkiPaths.trustedCaFile');
  const entries =
    typeof options.initialCluster === 'string'
      ? parseInitialCluster(options.initialCluster)
      : options.initialCluster.map((entry) => {
          assertMemberName(entry.name, 'initialCluster');
          return { name: entry.name, peerUrl: normalizeEtcdUrl(entry.peerUrl, 'initialCluster') };
        });
  const own = entries.filter((entry) => entry.name === options.name).map((entry) => entry.peerUrl);
  if (own.length !== peerUrls.length || !peerUrls.every((url) => own.includes(url))) {
    throw invalidArgument({
      field: 'initialCluster',
      message: `initialCluster must list ${options.name} with exactly its peer URLs (${peerUrls.join(', ')}); it lists ${own.length === 0 ? 'none' : own.join(', ')}.`,
      actions: ['Use the initialCluster value addLearner returned for this member.'],
    });
  }
  const urls = entries.map((entry) => entry.peerUrl);
  if (new Set(urls).size !== urls.length) {
    throw invalidArgument({ field: 'initialCluster', message: 'initialCluster lists a peer URL twice.' });
  }

  const args = [
    `--name=${options.name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${listenClientUrls.join(',')}`,
    `--advertise-client-urls=${clientUrls.join(',')}`,
    `--listen-peer-urls=${listenPeerUrls.join(',')}`,
    `--initial-advertise-peer-urls=${peerUrls.join(',')}`,
    `--initial-cluster=${formatInitialCluster(entries)}`,
    `--initial-cluster-state=${options.state}`,
    `--initial-cluster-token=${options.token}`,
    `--cert-file=${filePath(pki.certFile, 'pkiPaths.certFile')}`,
    `--key-file=${filePath(pki.keyFile, 'pkiPaths.keyFile')}`,
    '--client-cert-auth=true',
    `--trusted-ca-file=${trustedCa}`,
    `--peer-cert-file=${filePath(pki.peerCertFile, 'pkiPaths.peerCertFile')}`,
    `--peer-key-file=${filePath(pki.peerKeyFile, 'pkiPaths.peerKeyFile')}`,
    '--peer-client-cert-auth=true',
    `--peer-trusted-ca-file=${pki.peerTrustedCaFile === undefined ? trustedCa : filePath(pki.peerTrustedCaFile, 'pkiPaths.peerTrustedCaFile')}`,
    '--strict-reconfig-check=true',
    `--snapshot-count=${positiveInteger(options.snapshotCount, 'snapshotCount', 10_000)}`,
    `--quota-backend-bytes=${positiveInteger(options.quotaBackendBytes, 'quotaBackendBytes', 4 * 1024 ** 3)}`,
  ];
  if (options.forceNewCluster === true) args.push('--force-new-cluster=true');
  if (options.heartbeatIntervalMs !== undefined || options.electionTimeoutMs !== undefined) {
    const heartbeat = positiveInteger(options.heartbeatIntervalMs, 'heartbeatIntervalMs', 100);
    const election = positiveInteger(options.electionTimeoutMs, 'electionTimeoutMs', 1000);
    if (election < 5 * heartbeat) {
      throw invalidArgument({
        field: 'electionTimeoutMs',
        value: election,
        message: `electionTimeoutMs (${election}) must be at least 5 times heartbeatIntervalMs (${heartbeat}); etcd refuses to start otherwise.`,
      });
    }
    args.push(`--heartbeat-interval=${heartbeat}`, `--election-timeout=${election}`);
  }
  if (options.listenMetricsUrls !== undefined && options.listenMetricsUrls.length > 0) {
    for (const url of options.listenMetricsUrls) {
      if (!/^https?:\/\/[^/]+:\d+$/.test(url)) {
        throw invalidArgument({
          field: 'listenMetricsUrls',
          value: url,
          message: `listenMetricsUrls entry ${JSON.stringify(url)} is not http(s)://host:port.`,
        });
      }
    }
    args.push(`--listen-metrics-urls=${options.listenMetricsUrls.join(',')}`);
  }
  // zap to stderr: structured lines the providers keep as the member's log.
  args.push('--logger=zap', '--log-outputs=stderr');
  return args;
}
