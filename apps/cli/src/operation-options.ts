/**
 * The flags of the operations and how they become the SDK's options, with kube-up's variables as
 * defaults. `up`, `replicate`, `remove`, `replace` and `plan <operation>` share them.
 */
import type {
  PlanRequest,
  RemoveOptions,
  ReplaceOptions,
  ReplicateOptions,
  ScaleOptions,
  UpOptions,
} from '@hacp/sdk';
import { Flags } from '@oclif/core';
import {
  type Environment,
  readBooleanVariable,
  readKubernetesVariables,
  readQuorumReads,
  readStringVariable,
} from './env.js';
import { ErrorCode, HacpError } from './errors.js';

/** The key algorithms of the cluster PKI (`@hacp/certs`' KEY_ALGORITHMS). */
export const KEY_ALGORITHMS = ['ecdsa-p256', 'rsa-2048', 'rsa-4096'] as const satisfies readonly NonNullable<
  UpOptions['keyAlgorithm']
>[];

/** The CAs `certs rotate-ca --ca` names (`@hacp/topology`'s CA_NAMES). */
export const CA_NAMES = ['etcd', 'cluster', 'front-proxy'] as const;

export const operationFlags = {
  zone: Flags.string({
    summary: 'The zone (KUBE_GCE_ZONE).',
    description: 'Default: $KUBE_GCE_ZONE.',
    helpValue: '<zone>',
  }),
  multizone: Flags.boolean({
    summary: 'Allow replicas in other zones of the region (MULTIZONE).',
    description: 'Default: $MULTIZONE (exactly true or false), else false. --no-multizone overrides it.',
    allowNo: true,
  }),
  'quorum-reads': Flags.boolean({
    summary: 'Record that kube-apiserver reads through quorum (ENABLE_ETCD_QUORUM_READ).',
    description:
      'Default: $ENABLE_ETCD_QUORUM_READ, or its misspelling $ENABLE_ETCD_QUORUM_READS (exactly true or false), else false.',
    allowNo: true,
  }),
  'key-algorithm': Flags.option({
    options: KEY_ALGORITHMS,
    summary: "The cluster PKI's key algorithm.",
    description: 'Default: ecdsa-p256.',
  })(),
  'kubernetes-version': Flags.string({
    summary: 'The Kubernetes version every replica runs: v1.23.16, 1.23, stable-1.23, latest-1.32.',
    description:
      'Default: $HACP_KUBERNETES_VERSION, else the version of the binaries HACP_KUBE_BIN_DIR (or KUBE_APISERVER, ...) names, else stable-1.32. A spec is resolved through the release location ($HACP_KUBE_RELEASE_URL); the exact version is recorded and every replica inherits it.',
    helpValue: '<version>',
  }),
  kubernetes: Flags.boolean({
    summary: 'Run the Kubernetes control plane on every replica; --no-kubernetes for etcd only.',
    description: 'Default: $HACP_KUBERNETES (exactly true or false), else true.',
    allowNo: true,
  }),
  name: Flags.string({
    summary: "The new replica's name.",
    description: 'Default: a fresh <cluster>-master-<3 hex>.',
    helpValue: '<replica>',
  }),
  replica: Flags.string({
    summary: 'The replica (KUBE_REPLICA_NAME).',
    helpValue: '<replica>',
  }),
  ca: Flags.option({
    options: CA_NAMES,
    summary: 'The CA to replace.',
    description:
      "`etcd` (etcd peer, server and client certificates), `cluster` (the apiserver serving certificates and every Kubernetes client certificate and kubeconfig), or `front-proxy` (the aggregation layer's client certificate).",
  })(),
  'max-surge': Flags.option({
    options: ['0', '1'] as const,
    summary:
      'Replicas a rollout may add beyond the count: 1, new before old (default), or 0, old before new.',
    description:
      "1 (Cluster API's default): each replica's replacement joins before it leaves, so the cluster never runs on fewer voters than it had. 0: each replica leaves before its replacement comes, so there is never one more machine; only with three replicas or more.",
  })(),
  replicas: Flags.integer({
    summary: 'The replica count to reach: 1, 3, 5 or 7.',
    description: 'An even count needs --allow-even, more than 7 needs --force.',
    helpValue: '<count>',
  }),
  zones: Flags.string({
    summary: 'The zones new replicas may go to, comma-separated (default: every allowed zone).',
    description: 'Replicas outside them are the first removed.',
    helpValue: '<zone,zone,...>',
  }),
  'allow-even': Flags.boolean({
    summary: 'Allow an even count (it tolerates no more failures than one fewer).',
  }),
  force: Flags.boolean({
    summary: "Allow more than 7 replicas (etcd's recommended largest cluster).",
  }),
  'keep-data': Flags.boolean({
    summary: "Keep the replica's etcd member and data (member migration); --no-keep-data for a new member.",
    description:
      'With --keep-data the instance is recreated under the same name on its surviving data disk and its etcd member keeps its id and data (the peer URL updated where it changed), so the leader streams nothing; refused where the provider does not report the disk intact (a plugin that cannot hand a disk over), where the others would not keep quorum while the member is down, where the endpoint address is attached to it, or where it has no voter. With --no-keep-data a new member is added and the data streamed to it. Default: a broken replica whose data disk the provider reports intact is migrated, where that is safe; the plan says so.',
    allowNo: true,
  }),
};

/** A shared flag with the summary (and description) one command gives it. */
export function describedFlag<F extends { summary?: string; description?: string }>(
  flag: F,
  text: { summary: string; description?: string },
): F {
  return { ...flag, ...text };
}

/** The operation flags as parsed; every one may be absent. */
export interface OperationFlagValues {
  zone?: string | undefined;
  multizone?: boolean | undefined;
  'quorum-reads'?: boolean | undefined;
  'key-algorithm'?: (typeof KEY_ALGORITHMS)[number] | undefined;
  'kubernetes-version'?: string | undefined;
  kubernetes?: boolean | undefined;
  name?: string | undefined;
  replica?: string | undefined;
  'keep-data'?: boolean | undefined;
  ca?: (typeof CA_NAMES)[number] | undefined;
  replicas?: number | undefined;
  zones?: string | undefined;
  'allow-even'?: boolean | undefined;
  force?: boolean | undefined;
}

function missing(flag: string, variable: string | undefined, operation: string): HacpError {
  const from = variable === undefined ? `--${flag}` : `--${flag} (or ${variable})`;
  return new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `${operation} needs ${from}.`,
    actions: [
      variable === undefined
        ? `Pass --${flag} <value>.`
        : `Pass --${flag} <value>, or set ${variable} in the environment.`,
    ],
    details: { field: flag },
  });
}

/** Whether a new cluster runs Kubernetes, and which version when one was asked for. */
export type KubernetesOptions = Pick<UpOptions, 'kubernetes' | 'kubernetesVersion'>;

/**
 * `--kubernetes-version` and `--[no-]kubernetes`, else HACP_KUBERNETES_VERSION and HACP_KUBERNETES.
 * A flag wins over both variables: `--kubernetes-version` implies Kubernetes, `--no-kubernetes`
 * leaves HACP_KUBERNETES_VERSION unread.
 *
 * @example kubernetesOptions({ kubernetes: false }, {}) // { kubernetes: false }
 * @throws HacpError INVALID_ARGUMENT for `--no-kubernetes` with `--kubernetes-version` (or the same
 *   pair of variables), or a malformed HACP_KUBERNETES.
 */
export function kubernetesOptions(flags: OperationFlagValues, env: Environment): KubernetesOptions {
  const version = flags['kubernetes-version'];
  if (flags.kubernetes === false && version !== undefined) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `--no-kubernetes and --kubernetes-version ${version} contradict each other: an etcd-only cluster runs no Kubernetes version.`,
      actions: [
        'Pass --no-kubernetes for an etcd-only cluster, or --kubernetes-version to run that version.',
      ],
      details: { field: 'kubernetes-version', value: version },
    });
  }
  if (flags.kubernetes === false) return { kubernetes: false };
  if (version !== undefined) return { kubernetes: true, kubernetesVersion: version };
  if (flags.kubernetes === true) {
    const fromEnv = readStringVariable(env, 'HACP_KUBERNETES_VERSION');
    return { kubernetes: true, ...(fromEnv === undefined ? {} : { kubernetesVersion: fromEnv }) };
  }
  const variables = readKubernetesVariables(env);
  return {
    kubernetes: variables.kubernetes ?? true,
    ...(variables.kubernetesVersion === undefined ? {} : { kubernetesVersion: variables.kubernetesVersion }),
  };
}

/**
 * `up`'s options: `--zone` or KUBE_GCE_ZONE (required), `--multizone` or MULTIZONE,
 * `--quorum-reads` or ENABLE_ETCD_QUORUM_READ(S), `--key-algorithm`, and the Kubernetes choice of
 * {@link kubernetesOptions}. A flag wins over its variable, and a variable is read (and validated)
 * only when its flag is absent.
 *
 * @throws HacpError INVALID_ARGUMENT without a zone, for a malformed boolean variable, or for
 *   `--no-kubernetes` with a version.
 */
export function upOptions(flags: OperationFlagValues, env: Environment): Omit<UpOptions, 'signal'> {
  const zone = flags.zone ?? readStringVariable(env, 'KUBE_GCE_ZONE');
  if (zone === undefined) throw missing('zone', 'KUBE_GCE_ZONE', 'up');
  const options: Omit<UpOptions, 'signal'> = {
    zone,
    multizone: flags.multizone ?? readBooleanVariable(env, 'MULTIZONE') ?? false,
    quorumReads: flags['quorum-reads'] ?? readQuorumReads(env) ?? false,
    ...kubernetesOptions(flags, env),
  };
  if (flags['key-algorithm'] !== undefined) options.keyAlgorithm = flags['key-algorithm'];
  return options;
}

/** `replicate`'s options: `--zone` or KUBE_GCE_ZONE, `--name`; both optional. */
export function replicateOptions(
  flags: OperationFlagValues,
  env: Environment,
): Omit<ReplicateOptions, 'signal'> {
  const options: Omit<ReplicateOptions, 'signal'> = {};
  const zone = flags.zone ?? readStringVariable(env, 'KUBE_GCE_ZONE');
  if (zone !== undefined) options.zone = zone;
  if (flags.name !== undefined) options.name = flags.name;
  return options;
}

/** `remove`'s options: `--zone` or KUBE_GCE_ZONE, `--replica` or KUBE_REPLICA_NAME; both optional. */
export function removeOptions(flags: OperationFlagValues, env: Environment): Omit<RemoveOptions, 'signal'> {
  const options: Omit<RemoveOptions, 'signal'> = {};
  const zone = flags.zone ?? readStringVariable(env, 'KUBE_GCE_ZONE');
  const name = flags.replica ?? readStringVariable(env, 'KUBE_REPLICA_NAME');
  if (zone !== undefined) options.zone = zone;
  if (name !== undefined) options.name = name;
  return options;
}

/** `replace`'s options: `--replica` (required), `--[no-]keep-data`. */
export function replaceOptions(flags: OperationFlagValues): Omit<ReplaceOptions, 'signal'> {
  if (flags.replica === undefined) throw missing('replica', undefined, 'replace');
  const keepData = flags['keep-data'];
  return { name: flags.replica, ...(keepData === undefined ? {} : { keepData }) };
}

/**
 * `scale`'s options: `--replicas` (required), `--zones a,b,c`, `--allow-even`, `--force`.
 * @throws HacpError INVALID_ARGUMENT without --replicas, or for an empty zone in --zones.
 */
export function scaleOptions(flags: OperationFlagValues): Omit<ScaleOptions, 'signal'> {
  if (flags.replicas === undefined) throw missing('replicas', undefined, 'scale');
  const options: Omit<ScaleOptions, 'signal'> = { replicas: flags.replicas };
  if (flags.zones !== undefined) {
    const zones = flags.zones.split(',').map((zone) => zone.trim());
    if (zones.some((zone) => zone === '')) {
      throw new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `--zones "${flags.zones}" has an empty zone: give zones separated by commas, such as local-a,local-b,local-c.`,
        actions: ['Pass --zones a,b,c without empty entries.'],
        details: { field: 'zones', value: flags.zones },
      });
    }
    options.zones = zones;
  }
  if (flags['allow-even'] === true) options.allowEven = true;
  if (flags.force === true) options.force = true;
  return options;
}

/** The operations `hacp plan` plans. */
export const PLANNED_OPERATIONS = [
  'up',
  'replicate',
  'remove',
  'replace',
  'repair',
  'down',
  'recover',
  'renew-certs',
  'rotate-ca',
  'scale',
] as const;
export type PlannedOperation = (typeof PLANNED_OPERATIONS)[number];

/** Which operation flags each operation takes. */
export const FLAGS_OF_OPERATION: Record<PlannedOperation, readonly (keyof OperationFlagValues)[]> = {
  up: ['zone', 'multizone', 'quorum-reads', 'key-algorithm', 'kubernetes-version', 'kubernetes'],
  replicate: ['zone', 'name'],
  remove: ['zone', 'replica'],
  replace: ['replica', 'keep-data'],
  repair: [],
  down: [],
  recover: [],
  'renew-certs': [],
  'rotate-ca': ['ca'],
  scale: ['replicas', 'zones', 'allow-even', 'force'],
};

/**
 * The SDK's plan request for `hacp plan <operation>`, from the same flags and variables as the
 * operation itself.
 *
 * @throws HacpError INVALID_ARGUMENT for a flag the operation does not take, or as the operation would.
 */
export function planRequest(
  operation: PlannedOperation,
  flags: OperationFlagValues,
  env: Environment,
): PlanRequest {
  const allowed = FLAGS_OF_OPERATION[operation];
  const stray = (Object.keys(flags) as (keyof OperationFlagValues)[]).filter(
    (flag) => flag in operationFlags && flags[flag] !== undefined && !allowed.includes(flag),
  );
  if (stray.length > 0) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `${stray.map((flag) => `--${flag}`).join(', ')} ${stray.length === 1 ? 'does' : 'do'} not apply to ${operation}.`,
      actions: [
        allowed.length === 0
          ? `Run \`hacp plan ${operation}\` without operation flags.`
          : `${operation} takes ${allowed.map((flag) => `--${flag}`).join(', ')}.`,
      ],
      details: { field: stray[0] },
    });
  }
  switch (operation) {
    case 'up':
      return { operation, ...upOptions(flags, env) };
    case 'replicate':
      return { operation, ...replicateOptions(flags, env) };
    case 'remove':
      return { operation, ...removeOptions(flags, env) };
    case 'replace':
      return { operation, ...replaceOptions(flags) };
    case 'rotate-ca':
      if (flags.ca === undefined) throw missing('ca', undefined, 'rotate-ca');
      return { operation, ca: flags.ca };
    case 'scale':
      return { operation, ...scaleOptions(flags) };
    default:
      return { operation };
  }
}
