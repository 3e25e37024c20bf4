import { invalidArgument } from '@hacp/core';
import { addressChecks } from './checks/addresses.js';
import { abortChecks, badInputChecks } from './checks/bad-input.js';
import { firewallChecks } from './checks/firewalls.js';
import { instanceChecks } from './checks/instances.js';
import { loadBalancerChecks } from './checks/load-balancers.js';
import { lockChecks } from './checks/lock.js';
import { reachChecks } from './checks/reach.js';
import { shapeChecks, zoneChecks } from './checks/shape.js';
import { stateChecks } from './checks/state.js';
import { stopProcessesChecks } from './checks/stop-processes.js';
import { syncFilesChecks } from './checks/sync-files.js';
import { type CheckRegistry, runInSandbox } from './sandbox.js';
import type { ConformanceOptions } from './types.js';

/** The groups of the kit, in the order they run; each is one `describe`. */
const GROUPS: readonly [name: string, define: (registry: CheckRegistry) => void][] = [
  ['shape', shapeChecks],
  ['zones and regions', zoneChecks],
  ['state store', stateChecks],
  ['lock', lockChecks],
  ['instances', instanceChecks],
  ['stop processes', stopProcessesChecks],
  ['sync files', syncFilesChecks],
  ['addresses', addressChecks],
  ['load balancer', loadBalancerChecks],
  ['firewall', firewallChecks],
  ['reach', reachChecks],
  ['bad input', badInputChecks],
  ['abort', abortChecks],
];

/**
 * Registers the ProviderV1 conformance tests with the caller's test runner. Each test makes its own
 * provider with `create`, uses names no other test uses (cluster `conf-<6 hex>`), deletes all it
 * made whatever its outcome, and closes the provider. Assertions are `node:assert`'s, so any runner
 * whose `it` takes a timeout as its third argument works.
 *
 * @example
 * import { describe, it } from 'vitest';
 * import { providerConformance } from '@hacp/provider-conformance';
 * import { createMyProvider } from './index.js';
 *
 * providerConformance({
 *   describe,
 *   it,
 *   create: () => createMyProvider({ root: tmpdir() }),
 *   capabilities: { stopStart: true, failedStartRollsBack: true },
 * });
 * @throws HacpError INVALID_ARGUMENT when `describe`, `it` or `create` is not a function.
 */
export function providerConformance(options: ConformanceOptions): void {
  for (const field of ['describe', 'it', 'create'] as const) {
    if (typeof options?.[field] !== 'function') {
      throw invalidArgument({
        field,
        message: `providerConformance needs ${field} to be a function; it is ${typeof options?.[field]}.`,
        actions: ["Pass your test runner's describe and it, and a factory that makes your provider."],
      });
    }
  }
  const capabilities = options.capabilities ?? {};
  const timeoutMs = capabilities.timeoutMs ?? 60_000;
  const registry: CheckRegistry = {
    capabilities,
    check: (name, body) =>
      options.it(
        name,
        // `function`, for mocha's `this`; rest parameters, so that jest sees no done callback.
        function (this: unknown, ...runnerContext: unknown[]) {
          return runInSandbox(options, body, { self: this, context: runnerContext[0] });
        },
        timeoutMs,
      ),
  };
  options.describe(options.name ?? 'ProviderV1 conformance', () => {
    for (const [name, define] of GROUPS) options.describe(name, () => define(registry));
  });
}
