/**
 * The error vocabulary the CLI shares with the SDK, and how an error becomes an exit code, a line of
 * text or a `--json` envelope.
 */
// @hacp/sdk does not re-export these (yet); they come from @hacp/core through this one module.
import {
  assertClusterName,
  ErrorCode,
  ExitCode,
  exitCodeFor,
  HacpError,
  isHacpError,
  redactText,
} from '@hacp/sdk/errors';

export { assertClusterName, ErrorCode, ExitCode, exitCodeFor, HacpError, isHacpError };

/** The error part of the `--json` envelope. */
export interface ErrorBody {
  code: string;
  message: string;
  actions: string[];
}

/**
 * Any thrown value as a HacpError: a HacpError as it is (also one from another copy of the
 * package); anything else INTERNAL, exit 1, with its message stripped of secrets.
 */
export function toHacpError(error: unknown): HacpError {
  if (isHacpError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new HacpError({
    code: ErrorCode.INTERNAL,
    message: `Unexpected error: ${redactText(message)}`,
    actions: ['This is a bug in hacp: report it with the command you ran and this message.'],
    cause: error,
  });
}

/** The exit code for any thrown value: 1 failed, 2 bad input, 3 refused by a safety rule, 4 interrupted. */
export function exitCodeOf(error: unknown): number {
  return exitCodeFor(toHacpError(error).code);
}

/** The envelope's `error`: code, message and actions only (no details, stack or cause). */
export function errorBody(error: unknown): ErrorBody {
  const hacpError = toHacpError(error);
  return {
    code: hacpError.code,
    message: redactText(hacpError.message),
    actions: hacpError.actions.map((action) => redactText(action)),
  };
}

/**
 * The text the CLI prints to stderr for an error:
 *
 * ```
 * Error (QUORUM_AT_RISK): Removing kubernetes-master-1f3 would leave 1 of 3 voters healthy.
 *   → Repair or replace the unhealthy replica first.
 * ```
 */
export function renderError(error: unknown): string {
  const body = errorBody(error);
  // Continuation lines of a message (oclif's parse errors have some) are indented under the first.
  const message = body.message.split('\n').join('\n  ');
  const lines = [`Error (${body.code}): ${message}`, ...body.actions.map((action) => `  → ${action}`)];
  return `${lines.join('\n')}\n`;
}
