import { type HacpError, isHacpError } from '@hacp/core';

/** The HacpError `run` throws; fails the test when it returns or throws anything else. */
export function thrown(run: () => unknown): HacpError {
  try {
    run();
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a HacpError, nothing was thrown');
}

/** The HacpError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejected(promise: Promise<unknown>): Promise<HacpError> {
  try {
    await promise;
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a HacpError, the promise resolved');
}

/** A logger that keeps what it was given, for asserting that failures are reported. */
export function recordingLogger(): {
  lines: { level: string; message: string; fields?: Record<string, unknown> }[];
  debug: (message: string, fields?: Record<string, unknown>) => void;
  info: (message: string, fields?: Record<string, unknown>) => void;
  warn: (message: string, fields?: Record<string, unknown>) => void;
  error: (message: string, fields?: Record<string, unknown>) => void;
} {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, ...(fields ? { fields } : {}) });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
