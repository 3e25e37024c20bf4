/**
 * The environment variables hacp reads, in one place: kube-up's (`KUBE_GCE_ZONE`, `MULTIZONE`,
 * `ENABLE_ETCD_QUORUM_READ(S)`, `KUBE_REPLICATE_EXISTING_MASTER`, `KUBE_REPLICA_NAME`,
 * `KUBE_DELETE_NODES`) and hacp's own (`HACP_CLUSTER`, `HACP_STATE_DIR`, `HACP_KUBERNETES`,
 * `HACP_KUBERNETES_VERSION`, `HACP_BACKUP_KEEP_LAST`, `HACP_BACKUP_KEEP_WITHIN`). The ordinary
 * commands take them as flag defaults; `kube-up` and
 * `kube-down` read only them. (The Kubernetes binaries' variables, `HACP_KUBE_BIN_DIR` and the
 * like, are read by the SDK's `kubernetesBinarySourceFromEnv`.)
 *
 * Every function here is pure: it reads the `env` object it is given and throws a HacpError
 * INVALID_ARGUMENT for a malformed value, before anything is touched.
 */
import { join } from 'node:path';
import { ErrorCode, HacpError } from './errors.js';

/** The environment as hacp reads it; `process.env` in the CLI. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The boolean variables: kube-up/kube-down's and `HACP_KUBERNETES`. They accept exactly `true` or `false`. */
export const BOOLEAN_VARIABLES = [
  'MULTIZONE',
  'ENABLE_ETCD_QUORUM_READ',
  'ENABLE_ETCD_QUORUM_READS',
  'KUBE_REPLICATE_EXISTING_MASTER',
  'KUBE_DELETE_NODES',
  'HACP_KUBERNETES',
] as const;

export type BooleanVariable = (typeof BOOLEAN_VARIABLES)[number];

/** The default cluster name, kube-up's `INSTANCE_PREFIX`. */
export const DEFAULT_CLUSTER = 'kubernetes';

/**
 * A string variable: its value, or undefined when it is unset or empty (kube-up's `${VAR:-default}`
 * treats both alike).
 */
export function readStringVariable(env: Environment, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * A kube-up boolean: `true` or `false` exactly (case-sensitive, as kube-up compares them), undefined
 * when unset or empty.
 *
 * @example readBooleanVariable({ MULTIZONE: 'true' }, 'MULTIZONE') // true
 * @throws HacpError INVALID_ARGUMENT naming the variable and the accepted values, for any other value
 *   (`MULTIZONE=maybe`, `MULTIZONE=TRUE`, `MULTIZONE=1`).
 */
export function readBooleanVariable(env: Environment, name: BooleanVariable): boolean | undefined {
  const value = readStringVariable(env, name);
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `${name}=${JSON.stringify(value)} is not a boolean: ${name} accepts exactly true or false (or empty for unset).`,
    actions: [`Set ${name}=true or ${name}=false, or unset it.`],
    details: { field: name, value },
  });
}

/**
 * Quorum reads from `ENABLE_ETCD_QUORUM_READ`, or from `ENABLE_ETCD_QUORUM_READS`, the spelling of
 * the HA guide's sample command that kube-up never read. Both set to different values is an error.
 *
 * @throws HacpError INVALID_ARGUMENT for a malformed value or two values that disagree.
 */
export function readQuorumReads(env: Environment): boolean | undefined {
  const read = readBooleanVariable(env, 'ENABLE_ETCD_QUORUM_READ');
  const reads = readBooleanVariable(env, 'ENABLE_ETCD_QUORUM_READS');
  if (read !== undefined && reads !== undefined && read !== reads) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `ENABLE_ETCD_QUORUM_READ=${read} and ENABLE_ETCD_QUORUM_READS=${reads} disagree; they are two spellings of one setting.`,
      actions: ['Unset ENABLE_ETCD_QUORUM_READS and keep ENABLE_ETCD_QUORUM_READ only.'],
      details: { field: 'ENABLE_ETCD_QUORUM_READ', value: String(read) },
    });
  }
  return read ?? reads;
}

/** Whether (and which) Kubernetes a new cluster runs, as `HACP_KUBERNETES` and `HACP_KUBERNETES_VERSION` say. */
export interface KubernetesVariables {
  /** `HACP_KUBERNETES`: false for an etcd-only cluster. */
  kubernetes?: boolean;
  /** `HACP_KUBERNETES_VERSION`: a version or spec (`v1.23.16`, `1.23`, `stable-1.23`, `latest-1.32`). */
  kubernetesVersion?: string;
}

/**
 * `HACP_KUBERNETES` (exactly true or false) and `HACP_KUBERNETES_VERSION` (checked by the SDK when
 * it resolves it).
 *
 * @example readKubernetesVariables({ HACP_KUBERNETES_VERSION: '1.23' }) // { kubernetesVersion: '1.23' }
 * @throws HacpError INVALID_ARGUMENT for a malformed `HACP_KUBERNETES`, or `HACP_KUBERNETES=false`
 *   with a version: an etcd-only cluster runs no version.
 */
export function readKubernetesVariables(env: Environment): KubernetesVariables {
  const kubernetes = readBooleanVariable(env, 'HACP_KUBERNETES');
  const kubernetesVersion = readStringVariable(env, 'HACP_KUBERNETES_VERSION');
  if (kubernetes === false && kubernetesVersion !== undefined) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `HACP_KUBERNETES=false and HACP_KUBERNETES_VERSION=${kubernetesVersion} disagree: an etcd-only cluster runs no Kubernetes version.`,
      actions: [
        'Unset HACP_KUBERNETES_VERSION for an etcd-only cluster, or unset HACP_KUBERNETES to run that version.',
      ],
      details: { field: 'HACP_KUBERNETES_VERSION', value: kubernetesVersion },
    });
  }
  const variables: KubernetesVariables = {};
  if (kubernetes !== undefined) variables.kubernetes = kubernetes;
  if (kubernetesVersion !== undefined) variables.kubernetesVersion = kubernetesVersion;
  return variables;
}

/** The cluster: `HACP_CLUSTER`, else `kubernetes`. */
export function defaultCluster(env: Environment): string {
  return readStringVariable(env, 'HACP_CLUSTER') ?? DEFAULT_CLUSTER;
}

/** The provider: `HACP_PROVIDER`, else the local one. */
export function defaultProvider(env: Environment): string {
  return readStringVariable(env, 'HACP_PROVIDER') ?? 'local';
}

/**
 * The state folder: `HACP_STATE_DIR`, else `$XDG_STATE_HOME/hacp`, else `~/.local/state/hacp` (the
 * local provider's own default).
 */
export function defaultStateDir(env: Environment, home: string): string {
  const explicit = readStringVariable(env, 'HACP_STATE_DIR');
  if (explicit !== undefined) return explicit;
  return join(readStringVariable(env, 'XDG_STATE_HOME') ?? join(home, '.local', 'state'), 'hacp');
}

/** The backup retention in force, as `HACP_BACKUP_KEEP_LAST` and `HACP_BACKUP_KEEP_WITHIN` set it. */
export interface BackupRetentionVariables {
  /** `HACP_BACKUP_KEEP_LAST`: keep the newest N backups. */
  keepLast?: number;
  /** `HACP_BACKUP_KEEP_WITHIN`: keep every backup of this last while (`90m`, `36h`, `7d`), checked by the SDK. */
  keepWithin?: string;
}

/**
 * The retention applied after each new backup: undefined when neither variable is set (the SDK's
 * default, the last 10 and everything within 7 days); else exactly the rules they set.
 *
 * @example readBackupRetentionVariables({ HACP_BACKUP_KEEP_LAST: '3' }) // { keepLast: 3 }
 * @throws HacpError INVALID_ARGUMENT for a `HACP_BACKUP_KEEP_LAST` that is not a whole number of at least 1.
 */
export function readBackupRetentionVariables(env: Environment): BackupRetentionVariables | undefined {
  const keepLast = readStringVariable(env, 'HACP_BACKUP_KEEP_LAST');
  const keepWithin = readStringVariable(env, 'HACP_BACKUP_KEEP_WITHIN');
  if (keepLast === undefined && keepWithin === undefined) return undefined;
  return {
    ...(keepLast === undefined ? {} : { keepLast: parseKeepLast(keepLast, 'HACP_BACKUP_KEEP_LAST') }),
    ...(keepWithin === undefined ? {} : { keepWithin }),
  };
}

/**
 * How many backups to keep, as typed in `field` (a variable or a flag).
 * @throws HacpError INVALID_ARGUMENT for anything but a whole number of at least 1.
 */
export function parseKeepLast(value: string, field: string): number {
  if (/^[1-9][0-9]{0,8}$/.test(value)) return Number(value);
  throw new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `${field}=${JSON.stringify(value)} is not valid: it is how many backups to keep, a whole number of at least 1.`,
    actions: [`Give ${field} a whole number such as 10.`],
    details: { field, value },
  });
}

/** What kube-up reads, validated. */
export interface KubeUpVariables {
  /** `KUBE_GCE_ZONE`. */
  zone?: string;
  /** `MULTIZONE`. */
  multizone?: boolean;
  /** `ENABLE_ETCD_QUORUM_READ`, or its misspelling `ENABLE_ETCD_QUORUM_READS`. */
  quorumReads?: boolean;
  /** `KUBE_REPLICATE_EXISTING_MASTER`. */
  replicateExistingMaster?: boolean;
  /** `HACP_KUBERNETES`. */
  kubernetes?: boolean;
  /** `HACP_KUBERNETES_VERSION`. */
  kubernetesVersion?: string;
}

/**
 * Reads and validates every variable kube-up reads (kube-up's own, and hacp's `HACP_KUBERNETES` and
 * `HACP_KUBERNETES_VERSION`).
 *
 * @throws HacpError INVALID_ARGUMENT for any malformed boolean, or variables that disagree.
 */
export function readKubeUpVariables(env: Environment): KubeUpVariables {
  const variables: KubeUpVariables = {};
  const zone = readStringVariable(env, 'KUBE_GCE_ZONE');
  const multizone = readBooleanVariable(env, 'MULTIZONE');
  const quorumReads = readQuorumReads(env);
  const replicateExistingMaster = readBooleanVariable(env, 'KUBE_REPLICATE_EXISTING_MASTER');
  if (zone !== undefined) variables.zone = zone;
  if (multizone !== undefined) variables.multizone = multizone;
  if (quorumReads !== undefined) variables.quorumReads = quorumReads;
  if (replicateExistingMaster !== undefined) variables.replicateExistingMaster = replicateExistingMaster;
  return { ...variables, ...readKubernetesVariables(env) };
}

/** What kube-down reads, validated. */
export interface KubeDownVariables {
  /** `KUBE_GCE_ZONE`. */
  zone?: string;
  /** `KUBE_REPLICA_NAME`. */
  replicaName?: string;
  /** `KUBE_DELETE_NODES`; kube-down's default is true. */
  deleteNodes?: boolean;
}

/**
 * Reads and validates every variable kube-down reads.
 *
 * @throws HacpError INVALID_ARGUMENT for a malformed `KUBE_DELETE_NODES`.
 */
export function readKubeDownVariables(env: Environment): KubeDownVariables {
  const variables: KubeDownVariables = {};
  const zone = readStringVariable(env, 'KUBE_GCE_ZONE');
  const replicaName = readStringVariable(env, 'KUBE_REPLICA_NAME');
  const deleteNodes = readBooleanVariable(env, 'KUBE_DELETE_NODES');
  if (zone !== undefined) variables.zone = zone;
  if (replicaName !== undefined) variables.replicaName = replicaName;
  if (deleteNodes !== undefined) variables.deleteNodes = deleteNodes;
  return variables;
}

/** What `hacp kube-up` runs. */
export type KubeUpDispatch =
  | {
      command: 'up';
      zone: string;
      multizone: boolean;
      quorumReads: boolean;
      kubernetes: boolean;
      kubernetesVersion?: string;
    }
  | { command: 'replicate'; zone?: string };

/**
 * kube-up's decision: `KUBE_REPLICATE_EXISTING_MASTER=true` adds a replica in `KUBE_GCE_ZONE` (the
 * cluster's own `MULTIZONE`, quorum reads and Kubernetes version are inherited, so those variables
 * are ignored); otherwise a new cluster in `KUBE_GCE_ZONE` with `MULTIZONE`,
 * `ENABLE_ETCD_QUORUM_READ(S)`, `HACP_KUBERNETES` and `HACP_KUBERNETES_VERSION`.
 *
 * @example kubeUpDispatch({ KUBE_REPLICATE_EXISTING_MASTER: 'true', KUBE_GCE_ZONE: 'local-b' })
 * // { command: 'replicate', zone: 'local-b' }
 * @throws HacpError INVALID_ARGUMENT for a malformed boolean, or a new cluster without `KUBE_GCE_ZONE`.
 */
export function kubeUpDispatch(env: Environment): KubeUpDispatch {
  const variables = readKubeUpVariables(env);
  if (variables.replicateExistingMaster === true) {
    return variables.zone === undefined
      ? { command: 'replicate' }
      : { command: 'replicate', zone: variables.zone };
  }
  if (variables.zone === undefined) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: 'KUBE_GCE_ZONE is not set: kube-up needs the zone of the first replica.',
      actions: ['Set KUBE_GCE_ZONE, for example KUBE_GCE_ZONE=local-a hacp kube-up.'],
      details: { field: 'KUBE_GCE_ZONE' },
    });
  }
  return {
    command: 'up',
    zone: variables.zone,
    multizone: variables.multizone ?? false,
    quorumReads: variables.quorumReads ?? false,
    kubernetes: variables.kubernetes ?? true,
    ...(variables.kubernetesVersion === undefined ? {} : { kubernetesVersion: variables.kubernetesVersion }),
  };
}

/** What `hacp kube-down` runs. */
export type KubeDownDispatch = { command: 'remove'; zone?: string; name?: string } | { command: 'down' };

/**
 * kube-down's decision: `KUBE_DELETE_NODES=false` removes one replica (in `KUBE_GCE_ZONE`, the one
 * named by `KUBE_REPLICA_NAME` if set); otherwise the whole cluster goes.
 *
 * @example kubeDownDispatch({ KUBE_DELETE_NODES: 'false', KUBE_GCE_ZONE: 'local-b' })
 * // { command: 'remove', zone: 'local-b' }
 * @throws HacpError INVALID_ARGUMENT for a malformed `KUBE_DELETE_NODES`.
 */
export function kubeDownDispatch(env: Environment): KubeDownDispatch {
  const variables = readKubeDownVariables(env);
  if (variables.deleteNodes !== false) return { command: 'down' };
  const dispatch: KubeDownDispatch = { command: 'remove' };
  if (variables.zone !== undefined) dispatch.zone = variables.zone;
  if (variables.replicaName !== undefined) dispatch.name = variables.replicaName;
  return dispatch;
}

/** What a new replica inherits from its cluster rather than from the environment. */
const INHERITED_VARIABLES = [
  'MULTIZONE',
  'ENABLE_ETCD_QUORUM_READ',
  'ENABLE_ETCD_QUORUM_READS',
  'HACP_KUBERNETES',
  'HACP_KUBERNETES_VERSION',
] as const;

/**
 * The variables that are set and that a dispatch decision does not use, each with why: a replica
 * inherits the cluster's multizone, quorum reads and Kubernetes version; deleting the whole cluster ignores the zone
 * and replica name (a likely slip: `KUBE_DELETE_NODES=false` was forgotten).
 */
export function ignoredVariables(
  env: Environment,
  dispatch: KubeUpDispatch | KubeDownDispatch,
): { variable: string; reason: string }[] {
  if (dispatch.command === 'replicate') {
    return INHERITED_VARIABLES.filter((name) => readStringVariable(env, name) !== undefined).map(
      (variable) => ({
        variable,
        reason: `${variable} is ignored when adding a replica: the replica inherits the cluster's setting.`,
      }),
    );
  }
  if (dispatch.command === 'down') {
    return (['KUBE_GCE_ZONE', 'KUBE_REPLICA_NAME'] as const)
      .filter((name) => readStringVariable(env, name) !== undefined)
      .map((variable) => ({
        variable,
        reason: `${variable} is ignored: without KUBE_DELETE_NODES=false, kube-down deletes the whole cluster. Set KUBE_DELETE_NODES=false to remove one replica.`,
      }));
  }
  return [];
}
