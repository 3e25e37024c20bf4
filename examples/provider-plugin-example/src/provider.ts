import { resolve } from 'node:path';
import {
  invalidArgument,
  type Logger,
  type ProviderBaseSettings,
  type ProviderV1,
  resolveLogger,
} from '@hacp/core';
import {
  createNetworkAllocations,
  createProcessCloud,
  createProcessProvider,
  findProgram,
  fixedZones,
  forwarderEndpointDriver,
  loopbackAddressPool,
  type ProcessInstanceApi,
  type ProcessLoadBalancerApi,
} from '@hacp/core/provider-kit';
import { assertExampleRegion, assertExampleZone, EXAMPLE_ZONES } from './zones.js';

/** Settings of createExampleProvider. */
export interface ExampleProviderSettings extends ProviderBaseSettings {
  /** The folder that holds everything: state, instances, logs, pid files. Made 0700 when missing. */
  stateDir: string;
  logger?: Logger;
  /** How long a stopping process gets between SIGTERM and SIGKILL. Default 5000 ms. */
  stopGraceMs?: number;
  /** How long a started process must stay up to count as started. Default 1500 ms. */
  startCheckMs?: number;
  /**
   * The environment replica processes start with (a process's own `env` goes on top), and whose
   * PATH finds bare commands such as `etcd`. Default `process.env`.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Example Cloud as a ProviderV1, with every optional instance member and `loadBalancers.health`. */
export interface ExampleProvider extends ProviderV1 {
  readonly name: 'example';
  /** The state folder in use, absolute. */
  readonly stateDir: string;
  readonly instances: ProcessInstanceApi;
  readonly loadBalancers: ProcessLoadBalancerApi;
}

/** Where Example Cloud's addresses come from: 127.a.b.c with `a` in 1..63 (the local provider takes 64..250). */
export const EXAMPLE_LOOPBACK_RANGE = { firstA: 1, lastA: 63 } as const;

function milliseconds(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw invalidArgument({
      field,
      value,
      message: `${field} must be a whole number of milliseconds, 0 or more.`,
    });
  }
  return value;
}

/**
 * Creates Example Cloud: each instance is a set of detached processes on this machine with its own
 * loopback IP (127.a.b.c, `a` in 1..63), each endpoint address a detached TCP forwarder on another,
 * and the state a 0700 folder of JSON files. It is `@hacp/core/provider-kit`'s process cloud, with
 * the kit's forwarder as its endpoint program, and its own zones. What it starts outlives the
 * process that created it, until deleted; `close()` stops nothing.
 *
 * @example
 * import { createExampleProvider } from 'hacp-provider-example';
 *
 * const provider = createExampleProvider({ stateDir: '/tmp/example-cloud' });
 * const zones = await provider.zones.list(); // moon-east-a, moon-east-b, ...
 * @throws HacpError INVALID_ARGUMENT for a missing stateDir or a negative duration.
 */
export function createExampleProvider(settings: ExampleProviderSettings): ExampleProvider {
  if (typeof settings?.stateDir !== 'string' || settings.stateDir.length === 0) {
    throw invalidArgument({
      field: 'stateDir',
      message: 'Example Cloud needs a stateDir, a folder for its state.',
    });
  }
  const logger = resolveLogger(settings.logger);
  const env = settings.env ?? process.env;
  const stopGraceMs = milliseconds('stopGraceMs', settings.stopGraceMs, 5_000);
  const startCheckMs = milliseconds('startCheckMs', settings.startCheckMs, 1_500);
  const cloud = createProcessCloud({
    // Absolute, because processes run in their own root folder and take absolute paths in flags.
    stateDir: resolve(settings.stateDir),
    writer: 'hacp-provider-example',
    logger,
    assertZone: assertExampleZone,
    assertRegion: assertExampleRegion,
  });
  const networks = createNetworkAllocations(cloud, {
    pool: loopbackAddressPool(EXAMPLE_LOOPBACK_RANGE),
    // Only a name, for certificates: every instance runs under this machine's hostname.
    hostnameOf: (ref) => `${ref.name}.${ref.zone}.example.internal`,
  });
  const { groups } = createProcessProvider({
    cloud,
    networks,
    endpoint: forwarderEndpointDriver(cloud),
    resolveProgram: (command, root) => findProgram(command, { cwd: root, path: env.PATH ?? '' }),
    env,
    startCheckMs,
    stopGraceMs,
  });
  return {
    specificationVersion: 'v1',
    name: 'example',
    stateDir: cloud.stateDir,
    zones: fixedZones(EXAMPLE_ZONES),
    ...groups,
    async close() {
      // Nothing to close: replicas and forwarders are detached and outlive this process on purpose.
    },
  };
}
