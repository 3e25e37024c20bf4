/**
 * The flags of the operations and how they become the SDK's options, with kube-up's variables as
 * defaults. `up`, `replicate`, `remove`, `replace` and `plan <operation>` share them.
 */
import type { PlanRequest, RemoveOptions, ReplaceOptions, ReplicateOptions, UpOptions } from '@hacp/sdk';
import { Flags } from '@oclif/core';
import { type Environment, readBooleanVariable, readQuorumReads, readStringVariable } from './env.js';
import { ErrorCode, HacpError } from './errors.js';

/** The key algorithms of the cluster PKI (`@hacp/certs`' KEY_ALGORITHMS). */
export const KEY_ALGORITHMS = ['ecdsa-p256', 'rsa-2048', 'rsa-4096'] as const satisfies readonly NonNullable<
  UpOptions['keyAlgorithm']
>[];

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
  name: Flags.string({
    summary: "The new replica's name.",
    description: 'Default: a fresh <cluster>-master-<3 hex>.',
    helpValue: '<replica>',
  }),
  replica: Flags.string({
    summary: 'The replica (KUBE_REPLICA_NAME).',
    helpValue: '<replica>',
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
  name?: string | undefined;
  replica?: string | undefined;
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

/**
 * `up`'s options: `--zone` or KUBE_GCE_ZONE (required), `--multizone` or MULTIZONE,
 * `--quorum-reads` or ENABLE_ETCD_QUORUM_READ(S), `--key-algorithm`. A flag wins over its variable,
 * and a variable is read (and validated) only when its flag is absent.
 *
 * @throws HacpError INVALID_ARGUMENT without a zone, or for a malformed boolean variable.
 */
export function upOptions(flags: OperationFlagValues, env: Environment): Omit<UpOptions, 'signal'> {
  const zone = flags.zone ?? readStringVariable(env, 'KUBE_GCE_ZONE');
  if (zone === undefined) throw missing('zone', 'KUBE_GCE_ZONE', 'up');
  const options: Omit<UpOptions, 'signal'> = {
    zone,
    multizone: flags.multizone ?? readBooleanVariable(env, 'MULTIZONE') ?? false,
    quorumReads: flags['quorum-reads'] ?? readQuorumReads(env) ?? false,
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

/** `replace`'s options: `--replica` (required). */
export function replaceOptions(flags: OperationFlagValues): Omit<ReplaceOptions, 'signal'> {
  if (flags.replica === undefined) throw missing('replica', undefined, 'replace');
  return { name: flags.replica };
}

/** The operations `hacp plan` plans. */
export const PLANNED_OPERATIONS = ['up', 'replicate', 'remove', 'replace', 'repair', 'down'] as const;
export type PlannedOperation = (typeof PLANNED_OPERATIONS)[number];

/** Which operation flags each operation takes. */
export const FLAGS_OF_OPERATION: Record<PlannedOperation, readonly (keyof OperationFlagValues)[]> = {
  up: ['zone', 'multizone', 'quorum-reads', 'key-algorithm'],
  replicate: ['zone', 'name'],
  remove: ['zone', 'replica'],
  replace: ['replica'],
  repair: [],
  down: [],
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
    default:
      return { operation };
  }
}
