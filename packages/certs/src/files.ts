import { createHash, createPrivateKey, type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  ErrorCode,
  HacpError,
  invalidArgument,
  isHacpError,
  type Logger,
  type NodeFile,
  resolveLogger,
  Secret,
} from '@hacp/core';
import { CA_KEY_LIST, CAS, nextCaKey, previousCaKey, rotatingCas, trustedCaPem } from './cas.js';
import {
  CLUSTER_LEAF_NAMES,
  CLUSTER_LEAVES,
  type ClusterLeafName,
  clusterLeafProfile,
  forEachClusterLeaf,
} from './cluster-leaves.js';
import { issueLeaf } from './issue.js';
import { clientKubeconfig, httpsOrigin, type KubeconfigClient } from './kubeconfig.js';
import type {
  CaKey,
  CertificateAndKey,
  ClusterPki,
  ClusterPkiSettings,
  IssuedLeaf,
  LeafProfile,
  ReplicaCerts,
} from './types.js';

const CERT_MODE = 0o644;

/**
 * On a replica, the cluster CA certificate that signs now, alone (`--cluster-signing-cert-file`):
 * `pki/ca.crt` is the trust bundle, which holds two CAs during a rotation.
 */
export const CLUSTER_SIGNING_CA_FILE = 'pki/cluster-signing-ca.crt';
const KEY_MODE = 0o600;
const DIR_MODE = 0o700;
const METADATA = 'pki.json';
const REPLICAS_DIR = 'replicas';

/** The kubeconfigs a replica's components read, at its root, as kubeadm names them. */
const COMPONENT_KUBECONFIGS = {
  controllerManager: 'controller-manager.conf',
  scheduler: 'scheduler.conf',
  addonManager: 'addon-manager.conf',
} as const satisfies Partial<Record<KubeconfigClient, string>>;

/** kubeadm's file names for a replica's leaves, relative to `pki/`. */
const REPLICA_FILES = {
  apiserver: 'apiserver',
  apiserverEtcdClient: 'apiserver-etcd-client',
  etcdServer: 'etcd/server',
  etcdPeer: 'etcd/peer',
} as const;

/** The CAs of a rotation in flight (`certs rotate-ca`), relative to the PKI folder. */
const rotationFiles = (key: CaKey) => ({
  next: `pki/${CAS[key].file}-next`,
  previous: `pki/${CAS[key].file}-previous.crt`,
});

/** The field of `pki.json` that says which CAs of a rotation in flight the folder holds. */
const rotationField = <K extends CaKey>(key: K) => `${key}Rotation` as const;

type ReplicaLeafName = keyof typeof REPLICA_FILES;
const REPLICA_LEAVES = Object.keys(REPLICA_FILES) as ReplicaLeafName[];

interface PkiMetadata extends RotationMetadata {
  formatVersion: 1;
  settings: ClusterPkiSettings;
  /** A folder written before a leaf was added to hacp lacks its profile (see `addedLater`). */
  leaves: Partial<Record<ClusterLeafName, LeafProfile>>;
  replicas: Record<
    string,
    { identity: ReplicaCerts['identity']; leaves: Record<ReplicaLeafName, LeafProfile> }
  >;
}

/** Which CAs of a rotation in flight the folder holds, per CA (`etcdCaRotation`; absent: none). */
type RotationMetadata = Partial<Record<`${CaKey}Rotation`, { next: boolean; previous: boolean }>>;

function pair(base: string, value: CertificateAndKey): NodeFile[] {
  return [
    { path: `${base}.crt`, mode: CERT_MODE, contents: value.certPem },
    { path: `${base}.key`, mode: KEY_MODE, contents: value.keyPem },
  ];
}

function replicaPki(certs: ReplicaCerts, prefix: string): NodeFile[] {
  return REPLICA_LEAVES.flatMap((leaf) => pair(`${prefix}${REPLICA_FILES[leaf]}`, certs[leaf]));
}

function assertReplicaName(name: string): void {
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(name)) {
    throw invalidArgument({
      field: 'replicaName',
      value: name,
      message: `Replica name "${name}" cannot be a folder name: use lowercase letters, digits, dots and dashes.`,
    });
  }
}

/**
 * The files of a cluster's PKI folder, as `writePki` writes them: `pki.json` (settings, no
 * secrets), kubeadm's names under `pki/` for the CAs and cluster-wide leaves, and each replica's
 * leaves under `replicas/<name>/pki/`. Keys 0600, certificates 0644.
 */
export function pkiFiles(pki: ClusterPki): NodeFile[] {
  const metadata: PkiMetadata = {
    formatVersion: 1,
    settings: pki.settings,
    leaves: Object.fromEntries(CLUSTER_LEAF_NAMES.map((name) => [name, pki[name].profile])),
    replicas: Object.fromEntries(
      Object.entries(pki.replicas).map(([name, certs]) => [
        name,
        {
          identity: certs.identity,
          leaves: Object.fromEntries(REPLICA_LEAVES.map((leaf) => [leaf, certs[leaf].profile])) as Record<
            ReplicaLeafName,
            LeafProfile
          >,
        },
      ]),
    ),
    ...Object.fromEntries(
      rotatingCas(pki).map((key) => [
        rotationField(key),
        { next: pki[nextCaKey(key)] !== undefined, previous: pki[previousCaKey(key)] !== undefined },
      ]),
    ),
  };
  const files: NodeFile[] = [
    { path: METADATA, mode: CERT_MODE, contents: `${JSON.stringify(metadata, null, 2)}\n` },
    ...CA_KEY_LIST.flatMap((key) => pair(`pki/${CAS[key].file}`, pki[key])),
    ...CLUSTER_LEAF_NAMES.flatMap((name) => pair(`pki/${CLUSTER_LEAVES[name].file}`, pki[name])),
    { path: 'pki/sa.key', mode: KEY_MODE, contents: pki.serviceAccount.privateKeyPem },
    { path: 'pki/sa.pub', mode: CERT_MODE, contents: pki.serviceAccount.publicKeyPem },
    ...CA_KEY_LIST.flatMap((key) => {
      const next = pki[nextCaKey(key)];
      const previous = pki[previousCaKey(key)];
      const paths = rotationFiles(key);
      return [
        ...(next === undefined ? [] : pair(paths.next, next)),
        ...(previous === undefined ? [] : [{ path: paths.previous, mode: CERT_MODE, contents: previous }]),
      ];
    }),
  ];
  for (const name of Object.keys(pki.replicas).sort()) {
    assertReplicaName(name);
    files.push(...replicaPki(pki.replicas[name] as ReplicaCerts, `${REPLICAS_DIR}/${name}/pki/`));
  }
  return files;
}

/**
 * The PKI files one replica needs on its machine, in kubeadm's layout relative to
 * `/etc/kubernetes`: the CA certificates, the cluster CA key and the service-account keys (for
 * kube-controller-manager), the front-proxy and kubelet client pairs (for kube-apiserver), and the
 * replica's own leaves. With `apiserverUrl` (the replica's own apiserver, `https://<internal
 * ip>:<port>`) also `controller-manager.conf`, `scheduler.conf` and `addon-manager.conf` at the root,
 * 0600, each with the cluster CA and its client's certificate and key embedded. The etcd and
 * front-proxy CA keys stay off the replicas: nothing there signs with them.
 *
 * @example
 * const files = replicaNodeFiles(pki, 'kubernetes-master', { apiserverUrl: 'https://10.128.0.2:6443' });
 * @throws HacpError REPLICA_NOT_FOUND when the PKI has no certificates for that replica;
 *   INVALID_ARGUMENT (field `apiserverUrl`) when it is not an https URL.
 */
export function replicaNodeFiles(
  pki: ClusterPki,
  replicaName: string,
  options: { apiserverUrl?: string } = {},
): NodeFile[] {
  const certs = Object.hasOwn(pki.replicas, replicaName) ? pki.replicas[replicaName] : undefined;
  if (certs === undefined) {
    throw new HacpError({
      code: ErrorCode.REPLICA_NOT_FOUND,
      message: `The PKI has no certificates for replica ${replicaName}.`,
      actions: ['Issue them with issueReplicaCerts and add them with withReplica first.'],
      details: { replica: replicaName, replicas: Object.keys(pki.replicas) },
    });
  }
  const server =
    options.apiserverUrl === undefined ? undefined : httpsOrigin('apiserverUrl', options.apiserverUrl);
  const kubeconfigs: NodeFile[] =
    server === undefined
      ? []
      : (Object.keys(COMPONENT_KUBECONFIGS) as (keyof typeof COMPONENT_KUBECONFIGS)[]).map((client) => ({
          path: COMPONENT_KUBECONFIGS[client],
          mode: KEY_MODE,
          contents: new Secret(clientKubeconfig(pki, { server, client })),
        }));
  return [
    // During a rotation each CA file is a bundle: the old and the new CA are both trusted.
    ...CA_KEY_LIST.map((key) => ({
      path: `pki/${CAS[key].file}.crt`,
      mode: CERT_MODE,
      contents: trustedCaPem(pki, key),
    })),
    // kube-controller-manager signs with the cluster CA: its certificate alone (a bundle is refused
    // there) beside its key.
    { path: CLUSTER_SIGNING_CA_FILE, mode: CERT_MODE, contents: pki.ca.certPem },
    { path: 'pki/ca.key', mode: KEY_MODE, contents: pki.ca.keyPem },
    ...pair(`pki/${CLUSTER_LEAVES.frontProxyClient.file}`, pki.frontProxyClient),
    ...pair(`pki/${CLUSTER_LEAVES.apiserverKubeletClient.file}`, pki.apiserverKubeletClient),
    { path: 'pki/sa.key', mode: KEY_MODE, contents: pki.serviceAccount.privateKeyPem },
    { path: 'pki/sa.pub', mode: CERT_MODE, contents: pki.serviceAccount.publicKeyPem },
    ...replicaPki(certs, 'pki/'),
    ...kubeconfigs,
  ];
}

async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: DIR_MODE });
  await chmod(path, DIR_MODE);
}

/** Writes a file atomically: a temporary file with the final mode, fsync, rename. */
async function writeAtomically(path: string, contents: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.chmod(mode);
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * Writes one file of a PKI folder unless it already holds these contents with this mode: adding a
 * replica changes a handful of its files, and each rewrite costs an fsync.
 */
async function writeIfChanged(dir: string, file: NodeFile): Promise<void> {
  const path = join(dir, file.path);
  const contents = typeof file.contents === 'string' ? file.contents : file.contents.reveal();
  const current = await Promise.all([readFile(path, 'utf8'), stat(path)]).catch(() => undefined);
  if (current !== undefined && current[0] === contents && (current[1].mode & 0o777) === file.mode) return;
  await writeAtomically(path, contents, file.mode);
}

/**
 * Writes the PKI to `dir` (see `pkiFiles` for the layout): every folder 0700, keys 0600,
 * certificates 0644, each changed file replaced atomically. Folders of replicas no longer in the PKI are
 * removed.
 *
 * @throws HacpError INVALID_ARGUMENT for an empty `dir` or a replica name that cannot be a folder;
 *   nothing is written then.
 */
export async function writePki(target: string, pki: ClusterPki): Promise<void> {
  if (typeof target !== 'string' || target.trim() === '') {
    throw invalidArgument({ field: 'dir', message: 'The PKI folder must not be empty.' });
  }
  // Normalised, so that `./out` or `a/../b` still prefix the joined file paths below.
  const dir = resolve(target);
  const files = pkiFiles(pki);
  await ensureDir(dir);
  const folders = new Set(files.map((file) => dirname(join(dir, file.path))));
  for (const folder of [...folders].sort()) {
    for (let current = folder; current.startsWith(dir) && current !== dir; current = dirname(current)) {
      await ensureDir(current);
    }
  }
  // The metadata goes last: a reader never sees new settings with old certificates.
  const [metadata, ...rest] = files;
  await Promise.all(rest.map((file) => writeIfChanged(dir, file)));
  await writeIfChanged(dir, metadata as NodeFile);
  // A rotation's CAs that the PKI no longer holds (after the metadata: it no longer names them).
  const stale = CA_KEY_LIST.flatMap((key) => {
    const paths = rotationFiles(key);
    return [
      ...(pki[nextCaKey(key)] === undefined ? [`${paths.next}.crt`, `${paths.next}.key`] : []),
      ...(pki[previousCaKey(key)] === undefined ? [paths.previous] : []),
    ];
  });
  await Promise.all(stale.map((path) => rm(join(dir, path), { force: true })));
  const replicasDir = join(dir, REPLICAS_DIR);
  const present = await readdir(replicasDir).catch(() => [] as string[]);
  for (const name of present) {
    if (!Object.hasOwn(pki.replicas, name))
      await rm(join(replicasDir, name), { recursive: true, force: true });
  }
}

function corrupt(dir: string, message: string, cause?: unknown): HacpError {
  return new HacpError({
    code: ErrorCode.STATE_CORRUPT,
    message: `The PKI in ${dir} is unusable: ${message}`,
    actions: [
      'Restore the folder from a backup, or renew the certificates from the CAs if those are intact.',
    ],
    details: { dir },
    cause,
  });
}

/**
 * What `loadPki` found sound in this process, by digest (no key is kept): a certificate with its key,
 * and a certificate with the CA certificate that signed it.
 */
const CHECKED = new Set<string>();
const CHECKED_LIMIT = 4096;

function digestOf(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('base64');
}

function remember(digest: string): void {
  if (CHECKED.size >= CHECKED_LIMIT) CHECKED.clear();
  CHECKED.add(digest);
}

/** Reads and checks the files of one PKI folder; every failure is a STATE_CORRUPT naming the file. */
function pkiReader(dir: string) {
  const read = async (path: string): Promise<string> => {
    try {
      return await readFile(join(dir, path), 'utf8');
    } catch (error) {
      throw corrupt(dir, `${path} cannot be read.`, error);
    }
  };
  // Node's own X509Certificate (OpenSSL) checks a folder's dozens of certificates in milliseconds,
  // where parsing each with @peculiar/x509 took 100–400 ms per load; what one load checked, the
  // next load in the same process (a watch, an SDK user) does not check again.
  const readPair = async (base: string): Promise<CertificateAndKey> => {
    const [certPem, keyText] = await Promise.all([read(`${base}.crt`), read(`${base}.key`)]);
    const keyPem = new Secret(keyText);
    const checked = digestOf(certPem, keyText);
    if (CHECKED.has(checked)) return { certPem, keyPem };
    const cert = parseCertificate(certPem, base);
    let key: KeyObject;
    try {
      key = createPrivateKey(keyText);
    } catch (error) {
      throw corrupt(dir, `${base}.key is not a private key.`, error);
    }
    if (!cert.checkPrivateKey(key)) throw corrupt(dir, `${base}.key does not belong to ${base}.crt.`);
    remember(checked);
    return { certPem, keyPem };
  };
  const parseCertificate = (certPem: string, base: string): X509Certificate => {
    try {
      return new X509Certificate(certPem);
    } catch (error) {
      throw corrupt(dir, `${base}.crt is not a certificate.`, error);
    }
  };
  const readLeaf = async (
    base: string,
    profile: LeafProfile | undefined,
    cas: Record<LeafProfile['issuer'], CertificateAndKey>,
  ): Promise<IssuedLeaf> => {
    if (profile === undefined || !Object.hasOwn(cas, profile.issuer))
      throw corrupt(dir, `${METADATA} lacks the profile of ${base}.`);
    const value = await readPair(base);
    const issuerPem = cas[profile.issuer].certPem;
    const signed = digestOf(value.certPem, issuerPem);
    if (CHECKED.has(signed)) return { ...value, profile };
    const issuer = new X509Certificate(issuerPem);
    if (!new X509Certificate(value.certPem).verify(issuer.publicKey))
      throw corrupt(dir, `${base}.crt was not signed by its CA (${profile.issuer}).`);
    remember(signed);
    return { ...value, profile };
  };
  const exists = (path: string) =>
    stat(join(dir, path)).then(
      () => true,
      () => false,
    );
  return { read, readPair, readLeaf, exists };
}

async function readMetadata(dir: string): Promise<PkiMetadata> {
  let metadataText: string;
  try {
    metadataText = await readFile(join(dir, METADATA), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new HacpError({
        code: ErrorCode.NOT_FOUND,
        message: `There is no PKI in ${dir} (no ${METADATA}).`,
        actions: ['Check the folder, or create a PKI with createClusterPki and writePki.'],
        details: { dir },
      });
    }
    throw corrupt(dir, `${METADATA} cannot be read.`, error);
  }
  let metadata: PkiMetadata;
  try {
    metadata = JSON.parse(metadataText) as PkiMetadata;
  } catch (error) {
    throw corrupt(dir, `${METADATA} is not valid JSON.`, error);
  }
  if (metadata?.formatVersion !== 1) {
    throw corrupt(
      dir,
      `${METADATA} has format version ${String(metadata?.formatVersion)}; this hacp reads version 1.`,
    );
  }
  if (typeof metadata.settings !== 'object' || typeof metadata.leaves !== 'object') {
    throw corrupt(dir, `${METADATA} lacks its settings or leaf profiles.`);
  }
  return metadata;
}

/**
 * A cluster-wide leaf from the folder, or, for one added to hacp after the folder was written (no
 * profile in pki.json, no files), issued now from its CA.
 */
async function readClusterLeaf(options: {
  name: ClusterLeafName;
  metadata: PkiMetadata;
  reader: ReturnType<typeof pkiReader>;
  cas: Record<LeafProfile['issuer'], CertificateAndKey>;
  now: Date;
  logger: Logger;
}): Promise<{ leaf: IssuedLeaf; issuedNow: boolean }> {
  const { name, metadata, reader, cas } = options;
  const base = `pki/${CLUSTER_LEAVES[name].file}`;
  const stored = metadata.leaves[name];
  if (stored !== undefined || !CLUSTER_LEAVES[name].addedLater) {
    return { leaf: await reader.readLeaf(base, stored, cas), issuedNow: false };
  }
  const profile = clusterLeafProfile(name);
  // Files without a profile are what a writePki cut short before its pki.json leaves: use them.
  const present = await Promise.all([reader.exists(`${base}.crt`), reader.exists(`${base}.key`)]);
  if (present.some(Boolean)) return { leaf: await reader.readLeaf(base, profile, cas), issuedNow: false };
  const leaf = await issueLeaf({
    profile,
    issuer: cas[profile.issuer],
    algorithm: metadata.settings.keyAlgorithm,
    days: metadata.settings.leafValidityDays,
    now: options.now,
    logger: options.logger,
  });
  return { leaf, issuedNow: true };
}

/**
 * Reads a PKI written by `writePki` and checks it: every certificate parses, every key matches its
 * certificate, every leaf is signed by its CA. Nothing on disk is changed. A folder written before a
 * cluster-wide leaf existed in hacp (kube-apiserver's kubelet client, kube-controller-manager,
 * kube-scheduler, the add-on manager) lacks it in `pki.json` and on disk: that leaf is issued in
 * memory from its CA, valid `leafValidityDays` from `now`, and the next `writePki` stores it.
 *
 * @example
 * const pki = await loadPki('/var/lib/hacp/kubernetes');
 * @throws HacpError NOT_FOUND when `dir` holds no PKI; STATE_CORRUPT when a file is missing or
 *   unreadable, a key does not match, a leaf was not signed by its CA, or the format is newer.
 */
export async function loadPki(
  dir: string,
  options: { now?: Date; logger?: Logger } = {},
): Promise<ClusterPki> {
  // A writePki running meanwhile (a CA rotation's phase while `hacp status` reads) replaces the
  // files one by one, pki.json last: what looks corrupt mid-way is read again a moment later.
  for (let attempt = 1; ; attempt++) {
    try {
      return await loadPkiOnce(dir, options);
    } catch (error) {
      if (attempt >= 5 || !isHacpError(error, ErrorCode.STATE_CORRUPT)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function loadPkiOnce(dir: string, options: { now?: Date; logger?: Logger }): Promise<ClusterPki> {
  const logger = resolveLogger(options.logger);
  const metadata = await readMetadata(dir);
  const { settings } = metadata;
  const reader = pkiReader(dir);
  const [ca, etcdCa, frontProxyCa] = await Promise.all([
    reader.readPair(`pki/${CAS.ca.file}`),
    reader.readPair(`pki/${CAS.etcdCa.file}`),
    reader.readPair(`pki/${CAS.frontProxyCa.file}`),
  ]);
  const cas = { ca, etcdCa, frontProxyCa };
  const now = options.now ?? new Date();
  const issued: string[] = [];
  const leaves = await forEachClusterLeaf(async (name) => {
    const leaf = await readClusterLeaf({ name, metadata, reader, cas, now, logger });
    if (leaf.issuedNow) issued.push(CLUSTER_LEAVES[name].name);
    return leaf.leaf;
  });
  if (issued.length > 0) {
    logger.info('issued certificates an older PKI folder lacks; writePki stores them', {
      dir,
      certificates: issued,
    });
  }
  const [saPrivate, saPublic] = await Promise.all([reader.read('pki/sa.key'), reader.read('pki/sa.pub')]);
  const rotation: Partial<ClusterPki> = {};
  for (const key of CA_KEY_LIST) {
    const held = metadata[rotationField(key)];
    const paths = rotationFiles(key);
    if (held?.next) rotation[nextCaKey(key)] = await reader.readPair(paths.next);
    if (held?.previous) rotation[previousCaKey(key)] = await reader.read(paths.previous);
  }
  const replicas: Record<string, ReplicaCerts> = {};
  for (const [name, entry] of Object.entries(metadata.replicas ?? {})) {
    assertReplicaName(name);
    const prefix = `${REPLICAS_DIR}/${name}/pki/`;
    const replicaLeaves = await Promise.all(
      REPLICA_LEAVES.map((leaf) =>
        reader.readLeaf(`${prefix}${REPLICA_FILES[leaf]}`, entry.leaves?.[leaf], cas),
      ),
    );
    const [apiserver, apiserverEtcdClient, etcdServer, etcdPeer] = replicaLeaves as [
      IssuedLeaf,
      IssuedLeaf,
      IssuedLeaf,
      IssuedLeaf,
    ];
    replicas[name] = { identity: entry.identity, apiserver, apiserverEtcdClient, etcdServer, etcdPeer };
  }
  return {
    formatVersion: 1,
    settings,
    ca,
    etcdCa,
    frontProxyCa,
    serviceAccount: { publicKeyPem: saPublic, privateKeyPem: new Secret(saPrivate) },
    ...leaves,
    replicas,
    ...rotation,
  };
}

/** Whether `dir` holds a PKI (a `pki.json`). */
export async function hasPki(dir: string): Promise<boolean> {
  return stat(join(dir, METADATA)).then(
    () => true,
    () => false,
  );
}
