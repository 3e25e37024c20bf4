import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCode, HacpError, invalidArgument, type Logger, resolveLogger } from '@hacp/core';
import { formatInitialCluster } from './flags.js';
import { verifySnapshot } from './snapshot.js';
import { assertMemberName, normalizeEtcdUrl } from './urls.js';

const run = promisify(execFile);

export interface RestoreOptions {
  /** The restored member's name (its `--name`). */
  name: string;
  /** Its peer URL (`--initial-advertise-peer-urls`). */
  peerUrl: string;
  /** A new `--initial-cluster-token`: the restored cluster is a new cluster. */
  token: string;
  /** Default `ETCDCTL_BINARY` or `etcdctl` on PATH (etcd 3.4 has no etcdutl). */
  etcdctlBinary?: string;
  logger?: Logger;
}

/** What to start etcd with on the restored data dir (pass to `memberFlags`). */
export interface RestoredMember {
  dataDir: string;
  name: string;
  peerUrl: string;
  initialCluster: string;
  state: 'new';
  token: string;
}

function findBinary(binary: string): boolean {
  return binary.includes('/')
    ? existsSync(binary)
    : (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, binary)));
}

/**
 * Disaster recovery: restores a snapshot into a new data dir for a one-member cluster, with a new
 * cluster id (etcd's `snapshot restore`). Start etcd on it with `state: 'new'`, then grow the
 * cluster again with learners; a restored data dir can never seed a member joining another cluster
 * (toolchain notes §2), so this is never used for adds. The snapshot is verified first and an
 * existing data dir is never touched.
 *
 * @example
 * const restored = await restoreSingleMember('/backups/etcd.db', '/var/lib/etcd', {
 *   name: 'kubernetes-master', peerUrl: 'https://10.0.0.2:2380', token: 'hacp-kubernetes-restored-1',
 * });
 * @throws HacpError INVALID_ARGUMENT for a relative data dir, bad name, URL or token;
 *   ALREADY_EXISTS when the data dir holds anything; NOT_FOUND or STATE_CORRUPT for a missing or
 *   damaged snapshot; DEPENDENCY_MISSING without etcdctl.
 */
export async function restoreSingleMember(
  snapshot: string,
  dataDir: string,
  options: RestoreOptions,
): Promise<RestoredMember> {
  const logger = resolveLogger(options?.logger);
  if (typeof dataDir !== 'string' || !isAbsolute(dataDir)) {
    throw invalidArgument({
      field: 'dataDir',
      value: String(dataDir),
      message: 'dataDir must be an absolute path.',
    });
  }
  if (typeof snapshot !== 'string' || !isAbsolute(snapshot)) {
    throw invalidArgument({
      field: 'snapshot',
      value: String(snapshot),
      message: 'snapshot must be an absolute path.',
    });
  }
  assertMemberName(options?.name);
  const peerUrl = normalizeEtcdUrl(options.peerUrl, 'peerUrl');
  if (typeof options.token !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(options.token)) {
    throw invalidArgument({
      field: 'token',
      message:
        'token must be 1 to 128 letters, digits, ".", "_" or "-"; give the restored cluster a new one.',
    });
  }
  const contents = await readdir(dataDir).catch(() => undefined);
  if (contents !== undefined && contents.length > 0) {
    throw new HacpError({
      code: ErrorCode.ALREADY_EXISTS,
      message: `${dataDir} is not empty; restoring never overwrites a data dir.`,
      actions: ['Restore into a new, empty folder, or move the old data dir aside first.'],
      details: { dataDir },
    });
  }
  const etcdctl = options.etcdctlBinary ?? process.env.ETCDCTL_BINARY ?? 'etcdctl';
  if (!findBinary(etcdctl)) {
    throw new HacpError({
      code: ErrorCode.DEPENDENCY_MISSING,
      message: `${etcdctl} is not installed; it restores etcd snapshots.`,
      actions: ['Install the Debian package etcd-client (or run bash scripts/setup.sh).'],
      details: { binary: etcdctl, package: 'etcd-client' },
    });
  }
  await verifySnapshot(snapshot);
  await mkdir(dirname(dataDir), { recursive: true, mode: 0o700 });
  // etcdctl creates the dir itself and refuses an existing one, even empty.
  if (contents !== undefined) await rm(dataDir, { recursive: true, force: true });
  const initialCluster = formatInitialCluster([{ name: options.name, peerUrl }]);
  try {
    await run(
      etcdctl,
      [
        'snapshot',
        'restore',
        snapshot,
        `--data-dir=${dataDir}`,
        `--name=${options.name}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster-token=${options.token}`,
      ],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    );
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new HacpError({
      code: ErrorCode.STATE_CORRUPT,
      message: `etcdctl could not restore ${snapshot}: ${stderr.trim().split('\n').slice(-1)[0] ?? String(error)}`,
      actions: ['Check the snapshot with `etcdctl snapshot status`, or use another one.'],
      details: { snapshot, dataDir },
      cause: error,
    });
  }
  await chmod(dataDir, 0o700);
  logger.info('restored etcd snapshot', { snapshot, dataDir, name: options.name });
  return { dataDir, name: options.name, peerUrl, initialCluster, state: 'new', token: options.token };
}
