import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ErrorCode, HacpError, invalidArgument, type NodeFile, Secret } from '@hacp/core';
import { publicKeyDerOf, x509 } from './keys.js';
import type {
  CertificateAndKey,
  ClusterPki,
  ClusterPkiSettings,
  IssuedLeaf,
  LeafProfile,
  ReplicaCerts,
} from './types.js';

const CERT_MODE = 0o644;
const KEY_MODE = 0o600;
const DIR_MODE = 0o700;
const METADATA = 'pki.json';
const REPLICAS_DIR = 'replicas';

/** kubeadm's file names for the CAs and cluster-wide files, relative to `pki/`. */
const CLUSTER_FILES = {
  ca: 'ca',
  etcdCa: 'etcd/ca',
  frontProxyCa: 'front-proxy-ca',
  frontProxyClient: 'front-proxy-client',
  admin: 'admin',
  etcdClient: 'etcd/healthcheck-client',
} as const;

/** kubeadm's file names for a replica's leaves, relative to `pki/`. */
const REPLICA_FILES = {
  apiserver: 'apiserver',
  apiserverEtcdClient: 'apiserver-etcd-client',
  etcdServer: 'etcd/server',
  etcdPeer: 'etcd/peer',
} as const;

type ReplicaLeafName = keyof typeof REPLICA_FILES;
const REPLICA_LEAVES = Object.keys(REPLICA_FILES) as ReplicaLeafName[];

interface PkiMetadata {
  formatVersion: 1;
  settings: ClusterPkiSettings;
  leaves: Record<'admin' | 'frontProxyClient' | 'etcdClient', LeafProfile>;
  replicas: Record<
    string,
    { identity: ReplicaCerts['identity']; leaves: Record<ReplicaLeafName, LeafProfile> }
  >;
}

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
    leaves: {
      admin: pki.admin.profile,
      frontProxyClient: pki.frontProxyClient.profile,
      etcdClient: pki.etcdClient.profile,
    },
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
  };
  const files: NodeFile[] = [
    { path: METADATA, mode: CERT_MODE, contents: `${JSON.stringify(metadata, null, 2)}\n` },
    ...(Object.keys(CLUSTER_FILES) as (keyof typeof CLUSTER_FILES)[]).flatMap((name) =>
      pair(`pki/${CLUSTER_FILES[name]}`, pki[name]),
    ),
    { path: 'pki/sa.key', mode: KEY_MODE, contents: pki.serviceAccount.privateKeyPem },
    { path: 'pki/sa.pub', mode: CERT_MODE, contents: pki.serviceAccount.publicKeyPem },
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
 * kube-controller-manager), the front-proxy client pair, and the replica's own leaves. The etcd and
 * front-proxy CA keys stay off the replicas: nothing there signs with them.
 *
 * @throws HacpError REPLICA_NOT_FOUND when the PKI has no certificates for that replica.
 */
export function replicaNodeFiles(pki: ClusterPki, replicaName: string): NodeFile[] {
  const certs = Object.hasOwn(pki.replicas, replicaName) ? pki.replicas[replicaName] : undefined;
  if (certs === undefined) {
    throw new HacpError({
      code: ErrorCode.REPLICA_NOT_FOUND,
      message: `The PKI has no certificates for replica ${replicaName}.`,
      actions: ['Issue them with issueReplicaCerts and add them with withReplica first.'],
      details: { replica: replicaName, replicas: Object.keys(pki.replicas) },
    });
  }
  return [
    ...pair('pki/ca', pki.ca),
    { path: 'pki/etcd/ca.crt', mode: CERT_MODE, contents: pki.etcdCa.certPem },
    { path: 'pki/front-proxy-ca.crt', mode: CERT_MODE, contents: pki.frontProxyCa.certPem },
    ...pair('pki/front-proxy-client', pki.frontProxyClient),
    { path: 'pki/sa.key', mode: KEY_MODE, contents: pki.serviceAccount.privateKeyPem },
    { path: 'pki/sa.pub', mode: CERT_MODE, contents: pki.serviceAccount.publicKeyPem },
    ...replicaPki(certs, 'pki/'),
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
 * Writes the PKI to `dir` (see `pkiFiles` for the layout): every folder 0700, keys 0600,
 * certificates 0644, each file replaced atomically. Folders of replicas no longer in the PKI are
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
  for (const file of [...rest, metadata as NodeFile]) {
    const contents = typeof file.contents === 'string' ? file.contents : file.contents.reveal();
    await writeAtomically(join(dir, file.path), contents, file.mode);
  }
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
 * Reads a PKI written by `writePki` and checks it: every certificate parses, every key matches its
 * certificate, every leaf is signed by its CA. Nothing is changed.
 *
 * @throws HacpError NOT_FOUND when `dir` holds no PKI; STATE_CORRUPT when a file is missing or
 *   unreadable, a key does not match, a leaf was not signed by its CA, or the format is newer.
 */
export async function loadPki(dir: string): Promise<ClusterPki> {
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

  const read = async (path: string): Promise<string> => {
    try {
      return await readFile(join(dir, path), 'utf8');
    } catch (error) {
      throw corrupt(dir, `${path} cannot be read.`, error);
    }
  };
  const readPair = async (base: string): Promise<CertificateAndKey> => {
    const [certPem, keyText] = await Promise.all([read(`${base}.crt`), read(`${base}.key`)]);
    const keyPem = new Secret(keyText);
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(certPem);
    } catch (error) {
      throw corrupt(dir, `${base}.crt is not a certificate.`, error);
    }
    let keyDer: Buffer;
    try {
      keyDer = publicKeyDerOf(keyPem);
    } catch (error) {
      throw corrupt(dir, `${base}.key is not a private key.`, error);
    }
    if (!Buffer.from(cert.publicKey.rawData).equals(keyDer)) {
      throw corrupt(dir, `${base}.key does not belong to ${base}.crt.`);
    }
    return { certPem, keyPem };
  };

  const [ca, etcdCa, frontProxyCa] = await Promise.all([
    readPair(`pki/${CLUSTER_FILES.ca}`),
    readPair(`pki/${CLUSTER_FILES.etcdCa}`),
    readPair(`pki/${CLUSTER_FILES.frontProxyCa}`),
  ]);
  const cas = { ca, etcdCa, frontProxyCa };
  const readLeaf = async (base: string, profile: LeafProfile | undefined): Promise<IssuedLeaf> => {
    if (profile === undefined || !(profile.issuer in cas))
      throw corrupt(dir, `${METADATA} lacks the profile of ${base}.`);
    const value = await readPair(base);
    const issuer = new x509.X509Certificate(cas[profile.issuer].certPem);
    const signed = await new x509.X509Certificate(value.certPem).verify({
      publicKey: issuer.publicKey,
      signatureOnly: true,
    });
    if (!signed) throw corrupt(dir, `${base}.crt was not signed by its CA (${profile.issuer}).`);
    return { ...value, profile };
  };
  const [admin, frontProxyClient, etcdClient] = await Promise.all([
    readLeaf(`pki/${CLUSTER_FILES.admin}`, metadata.leaves.admin),
    readLeaf(`pki/${CLUSTER_FILES.frontProxyClient}`, metadata.leaves.frontProxyClient),
    readLeaf(`pki/${CLUSTER_FILES.etcdClient}`, metadata.leaves.etcdClient),
  ]);
  const [saPrivate, saPublic] = await Promise.all([read('pki/sa.key'), read('pki/sa.pub')]);
  const replicas: Record<string, ReplicaCerts> = {};
  for (const [name, entry] of Object.entries(metadata.replicas ?? {})) {
    assertReplicaName(name);
    const prefix = `${REPLICAS_DIR}/${name}/pki/`;
    const leaves = await Promise.all(
      REPLICA_LEAVES.map((leaf) => readLeaf(`${prefix}${REPLICA_FILES[leaf]}`, entry.leaves?.[leaf])),
    );
    const [apiserver, apiserverEtcdClient, etcdServer, etcdPeer] = leaves as [
      IssuedLeaf,
      IssuedLeaf,
      IssuedLeaf,
      IssuedLeaf,
    ];
    replicas[name] = { identity: entry.identity, apiserver, apiserverEtcdClient, etcdServer, etcdPeer };
  }
  return {
    formatVersion: 1,
    settings: metadata.settings,
    ca,
    etcdCa,
    frontProxyCa,
    serviceAccount: { publicKeyPem: saPublic, privateKeyPem: new Secret(saPrivate) },
    admin,
    frontProxyClient,
    etcdClient,
    replicas,
  };
}

/** Whether `dir` holds a PKI (a `pki.json`). */
export async function hasPki(dir: string): Promise<boolean> {
  return stat(join(dir, METADATA)).then(
    () => true,
    () => false,
  );
}
