/**
 * The `hacp:providers` hook of the `hacp` CLI (declared in package.json under `oclif.hooks`): it
 * contributes Example Cloud. oclif calls it with its own options, which it does not need, so it
 * does not import @oclif/core.
 */
import examplePlugin from './index.js';

/** Returns the providers this plugin contributes. */
export default async function providers() {
  return [examplePlugin];
}
