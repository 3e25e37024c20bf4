import {
  createProcessInstances,
  type EndpointHooks,
  findProgram,
  type ProcessInstances,
} from '@hacp/core/provider-kit';
import type { LocalContext } from './context.js';
import type { FailedZones } from './zones.js';

/**
 * The local provider's instances: the kit's process instances, where the program `etcd` is the
 * etcd binary found, an absolute command runs as it is, and any other name comes from PATH (the SDK
 * renders the Kubernetes programs as absolute paths of binaries it found). Each replica runs under
 * its own hostname where the OS allows it, and nothing starts in a failed zone.
 */
export function createLocalInstances(
  context: LocalContext,
  options: { endpoints: EndpointHooks; zones: FailedZones },
): ProcessInstances {
  const { binaries, env } = context;
  return createProcessInstances(context.cloud, {
    networks: context.networks,
    endpoints: options.endpoints,
    resolveProgram: (command, root) =>
      command === 'etcd' ? binaries.etcd : findProgram(command, { cwd: root, path: env.PATH ?? '' }),
    ...(context.hostnameSupport ? { ownHostnames: context.hostnameSupport } : {}),
    startCheckMs: context.startGraceMs,
    stopGraceMs: context.stopGraceMs,
    assertZoneUp: (zone) => options.zones.assertUp(zone),
  });
}
