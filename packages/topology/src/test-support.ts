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
