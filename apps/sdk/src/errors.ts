/**
 * The error and warning API of hacp, for tools that use the SDK: the one `HacpError` class with its
 * closed set of codes and exit codes, the type guard that works across duplicate package copies, and
 * the warning codes. A subpath of its own (`@hacp/sdk/errors`) so that it loads without the engine.
 *
 * @example
 * import { isHacpError } from '@hacp/sdk/errors';
 * try { await controlPlane.replicate({ zone }); } catch (error) {
 *   if (isHacpError(error, 'QUORUM_AT_RISK')) console.error(error.message, error.actions);
 * }
 */
export {
  assertClusterName,
  ErrorCode,
  ExitCode,
  exitCodeFor,
  HacpError,
  isHacpError,
  isProviderName,
  isWarningCode,
  PROVIDER_PACKAGE_PREFIX,
  PROVIDER_PLUGIN_HOOK,
  redactText,
  type Warning,
  WarningCode,
} from '@hacp/core';
