/**
 * The JSON schemas of `--json` output (`schemas/<command>.json`, `schemas/error.json`, their shared
 * `schemas/definitions.json`) and a validator for tests. Not part of the CLI's runtime: it needs
 * ajv, a development dependency.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';

/** `apps/cli/schemas`, found from this file (src/ or dist/). */
export const SCHEMA_DIR = fileURLToPath(new URL('../schemas/', import.meta.url));

/** The commands with a `--json` schema, by schema name (`zone fail` is `zone-fail`). */
export const ENVELOPE_SCHEMAS = [
  'up',
  'replicate',
  'remove',
  'replace',
  'repair',
  'down',
  'resume',
  'kube-up',
  'kube-down',
  'status',
  'plan',
  'zone-fail',
  'zone-restore',
  'certs-check',
  'certs-renew',
  'certs-rotate-ca',
  'leases',
  'providers',
  'kubeconfig',
  'binaries-list',
  'binaries-fetch',
  'addons',
  'addons-apply',
  'backup-create',
  'backup-list',
  'backup-prune',
  'backup-restore',
  'recover',
  'rollout-restart',
  'upgrade',
  'scale',
  'watch',
] as const;

/** Commands typed another way than their schema is named: `addons list` is `addons`. */
const SCHEMA_ALIASES: Readonly<Record<string, EnvelopeSchema>> = { 'addons-list': 'addons' };

export type EnvelopeSchema = (typeof ENVELOPE_SCHEMAS)[number] | 'error';

/** What {@link validateEnvelope} reports. */
export interface EnvelopeValidation {
  valid: boolean;
  /** The schema used: the command's, or `error` for a failure envelope. */
  schema: EnvelopeSchema;
  /** One line per problem: `/result/replicas/0 must have required property 'zone'`. */
  errors: string[];
}

/** A schema name from a command as typed (`zone fail`), its oclif id (`zone:fail`) or the name itself. */
export function schemaName(command: string): EnvelopeSchema {
  const typed = command.trim().replace(/[\s:]+/g, '-');
  const name = SCHEMA_ALIASES[typed] ?? typed;
  if (name === 'error' || (ENVELOPE_SCHEMAS as readonly string[]).includes(name))
    return name as EnvelopeSchema;
  throw new Error(`No --json schema for "${command}"; known: ${[...ENVELOPE_SCHEMAS, 'error'].join(', ')}.`);
}

function describe(error: ErrorObject): string {
  const where = error.instancePath === '' ? '/' : error.instancePath;
  const extra =
    error.keyword === 'additionalProperties'
      ? ` (${JSON.stringify((error.params as { additionalProperty: string }).additionalProperty)})`
      : error.keyword === 'enum' || error.keyword === 'const'
        ? ` (${JSON.stringify(error.params)})`
        : '';
  return `${where} ${error.message ?? error.keyword}${extra}`;
}

/** A validator over the schema files of a folder. */
export interface EnvelopeValidator {
  validate(command: string, value: unknown): EnvelopeValidation;
  /** The parsed schema file, by name (`status`, `error`, `definitions`). */
  schema(name: EnvelopeSchema | 'definitions'): Record<string, unknown>;
}

/** Compiles every schema in `dir` (default {@link SCHEMA_DIR}). */
export function createEnvelopeValidator(dir: string = SCHEMA_DIR): EnvelopeValidator {
  const ajv = new Ajv2020({ allErrors: true, strict: true, discriminator: true });
  const files = new Map<string, Record<string, unknown>>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json'))) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    files.set(file.replace(/\.json$/, ''), schema);
    ajv.addSchema(schema);
  }
  const idOf = (name: string): string => {
    const id = files.get(name)?.$id;
    if (typeof id !== 'string') throw new Error(`schemas/${name}.json is missing or has no $id.`);
    return id;
  };
  return {
    validate(command, value) {
      const isFailure =
        typeof value === 'object' && value !== null && (value as { status?: unknown }).status !== 0;
      const schema = isFailure ? 'error' : schemaName(command);
      const check = ajv.getSchema(idOf(schema));
      if (check === undefined) throw new Error(`schemas/${schema}.json did not compile.`);
      const valid = check(value) === true;
      return { valid, schema, errors: valid ? [] : (check.errors ?? []).map(describe) };
    },
    schema(name) {
      const schema = files.get(name);
      if (schema === undefined) throw new Error(`There is no schemas/${name}.json.`);
      return schema;
    },
  };
}

let defaultValidator: EnvelopeValidator | undefined;

/**
 * Checks one `--json` envelope printed by `hacp <command>` against `schemas/<command>.json`, or
 * against `schemas/error.json` when its `status` is not 0.
 *
 * @example
 * const { stdout } = await execa('hacp', ['status', '--json']);
 * expect(validateEnvelope('status', JSON.parse(stdout)).errors).toEqual([]);
 */
export function validateEnvelope(command: string, value: unknown): EnvelopeValidation {
  defaultValidator ??= createEnvelopeValidator();
  return defaultValidator.validate(command, value);
}

/**
 * Like {@link validateEnvelope}, but throws an Error listing the problems.
 *
 * @throws Error when the envelope does not match its schema.
 */
export function assertEnvelope(command: string, value: unknown): void {
  const result = validateEnvelope(command, value);
  if (!result.valid) {
    throw new Error(
      `The --json output of ${command} does not match schemas/${result.schema}.json:\n${result.errors.join('\n')}`,
    );
  }
}
