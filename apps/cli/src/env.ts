/**
 * The environment variables hacp reads, in one place: kube-up's (`KUBE_GCE_ZONE`, `MULTIZONE`,
 * `ENABLE_ETCD_QUORUM_READ(S)`, `KUBE_REPLICATE_EXISTING_MASTER`, `KUBE_REPLICA_NAME`,
 * `KUBE_DELETE_NODES`) and hacp's own (`HACP_CLUSTER`, `HACP_STATE_DIR`, `KUBECONFIG`). The
 * ordinary commands take them as flag defaults; `kube-up` and `kube-down` read only them.
 *
 * Every function here is pure: it reads the `env` object it is given and throws a HacpError
 * INVALID_ARGUMENT for a malformed value, before anything is touched.
 */
import { join } from 'node:path';
import { ErrorCode, HacpError } from './errors.js';

/** The environment as hacp reads it; `process.env` in the CLI. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The boolean variables of kube-up/kube-down. They accept exactly `true` or `false`. */
export const BOOLEAN_VARIABLES = [
  'MULTIZONE',
  'ENABLE_ETCD_QUORUM_READ',
  'ENABLE_ETCD_QUORUM_READS',
  'KUBE_REPLICATE_EXISTING_MASTER',
  'KUBE_DELETE_NODES',
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

/** The cluster: `HACP_CLUSTER`, else `kubernetes`. */
export function defaultCluster(env: Environment): string {
  return readStringVariable(env, 'HACP_CLUSTER') ?? DEFAULT_CLUSTER;
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
}

/**
 * Reads and validates every variable kube-up reads.
 *
 * @throws HacpError INVALID_ARGUMENT for any malformed boolean.
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
  return variables;
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
  | { command: 'up'; zone: string; multizone: boolean; quorumReads: boolean }
  | { command: 'replicate'; zone?: string };

/**
 * kube-up's decision: `KUBE_REPLICATE_EXISTING_MASTER=true` adds a replica in `KUBE_GCE_ZONE` (the
 * cluster's own `MULTIZONE` and quorum reads are inherited, so those variables are ignored);
 * otherwise a new cluster in `KUBE_GCE_ZONE` with `MULTIZONE` and `ENABLE_ETCD_QUORUM_READ(S)`.
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

const QUORUM_READ_VARIABLES = ['MULTIZONE', 'ENABLE_ETCD_QUORUM_READ', 'ENABLE_ETCD_QUORUM_READS'] as const;

/**
 * The variables that are set and that a dispatch decision does not use, each with why: a replica
 * inherits the cluster's multizone and quorum reads; deleting the whole cluster ignores the zone
 * and replica name (a likely slip: `KUBE_DELETE_NODES=false` was forgotten).
 */
export function ignoredVariables(
  env: Environment,
  dispatch: KubeUpDispatch | KubeDownDispatch,
): { variable: string; reason: string }[] {
  if (dispatch.command === 'replicate') {
    return QUORUM_READ_VARIABLES.filter((name) => readStringVariable(env, name) !== undefined).map(
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
