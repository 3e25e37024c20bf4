/**
 * The `--json` output: exactly one envelope on stdout, `{ status: 0, result, warnings }` on success,
 * `{ status: <exit code>, error: { code, message, actions } }` on failure. Each command's result has
 * a JSON schema under `schemas/`.
 */
import { type ErrorBody, errorBody, exitCodeOf } from './errors.js';

/** A warning: it does not fail the command, and it says what to do. `code` is stable. */
export interface CliWarning {
  code: string;
  message: string;
}

export interface SuccessEnvelope<R> {
  status: 0;
  result: R;
  warnings: CliWarning[];
}

export interface ErrorEnvelope {
  status: number;
  error: ErrorBody;
}

export type Envelope<R> = SuccessEnvelope<R> | ErrorEnvelope;

/** The success envelope of a result, with its warnings. */
export function successEnvelope<R>(result: R, warnings: readonly CliWarning[]): SuccessEnvelope<R> {
  return { status: 0, result, warnings: warnings.map(({ code, message }) => ({ code, message })) };
}

/** The error envelope of any thrown value; `status` is the exit code. */
export function errorEnvelope(error: unknown): ErrorEnvelope {
  return { status: exitCodeOf(error), error: errorBody(error) };
}

/** An envelope as printed: indented JSON and one newline. */
export function formatEnvelope(envelope: Envelope<unknown>, options: { lines?: boolean } = {}): string {
  return `${options.lines ? JSON.stringify(envelope) : JSON.stringify(envelope, null, 2)}\n`;
}

/** Warnings in the order they came, each once (the SDK reports some both as events and in results). */
export class WarningList {
  readonly #warnings = new Map<string, CliWarning>();

  /** Adds a warning; false when the same code and message were added before. */
  add(warning: CliWarning): boolean {
    const key = `${warning.code}\u0000${warning.message}`;
    if (this.#warnings.has(key)) return false;
    this.#warnings.set(key, { code: warning.code, message: warning.message });
    return true;
  }

  has(warning: CliWarning): boolean {
    return this.#warnings.has(`${warning.code}\u0000${warning.message}`);
  }

  all(): CliWarning[] {
    return [...this.#warnings.values()];
  }
}
