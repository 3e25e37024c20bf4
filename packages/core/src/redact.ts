import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A secret value (a private key, a token, a password). It prints, logs and serialises as
 * `[redacted]`; only `reveal()` gives the value, at the one place that writes it where it belongs.
 *
 * @example
 * const key = new Secret(pem);
 * JSON.stringify({ key }); // '{"key":"[redacted]"}'
 * fs.writeFileSync(path, key.reveal(), { mode: 0o600 });
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself. Call it only where the value is written to its destination. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}

/** True for a Secret, also one made by another copy of this package. */
export function isSecret(value: unknown): value is Secret {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Secret).reveal === 'function' &&
    (value as Secret).toJSON?.() === REDACTED
  );
}

const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----[\s\S]*?(?:-----END \1-----|$)/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
// No leading \b: `_` is a word character, so \b would miss `access_token=` and `DB_PASSWORD=`.
// The optional quote before the separator catches JSON (`"token":"..."`).
const KEY_VALUE =
  /(password|passwd|passphrase|token|secret|client-key-data|private[-_]?key|api[-_]?key)(["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi;
const SENSITIVE_FIELD =
  /^pass$|passw(or)?d|passphrase|token|secret|private[-_]?key|^key$|key[-_]?pem|key[-_]?data|credential|api[-_]?key/i;

/**
 * Removes secrets from a string: PEM private keys (also a truncated one), bearer and basic
 * credentials, and `password=`/`token:`-style pairs.
 */
export function redactText(text: string): string {
  return text
    .replace(PEM_PRIVATE_KEY, `-----BEGIN $1-----${REDACTED}-----END $1-----`)
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(KEY_VALUE, `$1$2${REDACTED}`);
}

/**
 * A deep copy of `value` with every secret replaced by `[redacted]`: Secret instances, fields whose
 * name says secret (`password`, `token`, `privateKey`, `key`, ...) and secrets inside strings.
 * Errors become `{ name, message, code? }` with their messages redacted.
 */
export function redact(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value !== 'object' || value === null) return value;
  if (isSecret(value)) return REDACTED;
  if (seen.has(value)) return '[circular]';
  // `seen` holds the objects on the path from the root only, so an object referenced twice
  // without a cycle is copied twice rather than reported as circular.
  seen.add(value);
  try {
    return redactObject(value, seen);
  } finally {
    seen.delete(value);
  }
}

function redactObject(value: object, seen: WeakSet<object>): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return {
      name: value.name,
      message: redactText(value.message),
      ...(code === undefined ? {} : { code }),
    };
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((item) => redact(item, seen));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      SENSITIVE_FIELD.test(key) && item !== undefined && item !== null ? REDACTED : redact(item, seen);
  }
  return out;
}
