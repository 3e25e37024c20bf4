import { redact, redactText } from './redact.js';

/** Structured facts attached to a log line. */
export type LogFields = Record<string, unknown>;

/**
 * Where library code writes what it does. Library code never prints: it logs to the logger it was
 * given, and the CLI decides what reaches the terminal.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger that drops everything: the default wherever a logger is optional. */
export const noopLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/**
 * Wraps a logger so that no secret reaches it: PEM private keys, bearer tokens, `password=`-style
 * pairs, secret-named fields and Secret values are replaced by `[redacted]`, in the message and in
 * every field.
 *
 * @example
 * const logger = redactingLogger(cliLogger);
 * logger.info('wrote key', { path, key: pem }); // key -> '[redacted]'
 */
export function redactingLogger(inner: Logger): Logger {
  const wrap =
    (level: keyof Logger) =>
    (message: string, fields?: LogFields): void => {
      const clean = fields === undefined ? undefined : (redact(fields) as LogFields);
      inner[level](redactText(message), clean);
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}

/** The logger to use: the one given, made safe, or the no-op one. */
export function resolveLogger(logger: Logger | undefined): Logger {
  return logger === undefined ? noopLogger : redactingLogger(logger);
}
