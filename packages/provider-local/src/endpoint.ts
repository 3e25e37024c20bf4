import { dependencyMissing, type EndpointDriver, type EndpointPlan } from '@hacp/core/provider-kit';
import {
  applyEndpoint,
  type EndpointConfig,
  endpointRunning,
  endpointServerStates,
  markServerDown,
  stopEndpoint,
} from './haproxy.js';

/** HAProxy's configuration for an endpoint plan: the plan's listeners and servers as they are. */
export function endpointConfigOf(plan: EndpointPlan): EndpointConfig {
  return {
    listeners: plan.listeners.map((listener) => ({
      name: listener.name,
      bindHost: listener.bindHost,
      bindPort: listener.bindPort,
      servers: listener.servers.map((server) => ({
        name: server.name,
        host: server.host,
        port: server.port,
        ...(server.checkPort === undefined ? {} : { checkPort: server.checkPort }),
      })),
    })),
    ...(plan.healthCheck ? { healthCheck: plan.healthCheck } : {}),
  };
}

/**
 * The local provider's endpoints: HAProxy 2.6 in master-worker mode, one per address in its folder
 * (haproxy.ts). A target's health is that of its `apiserver` listener.
 */
export function haproxyEndpointDriver(binary: string | undefined): EndpointDriver {
  const requireBinary = (): string => {
    if (binary === undefined) throw dependencyMissing('haproxy');
    return binary;
  };
  return {
    assertAvailable() {
      requireBinary();
    },
    async apply({ dir, plan, signal }) {
      await applyEndpoint({
        binary: requireBinary(),
        dir,
        config: endpointConfigOf(plan),
        ...(signal ? { signal } : {}),
      });
    },
    stop: (dir) => stopEndpoint({ dir }),
    running: (dir) => endpointRunning({ dir }),
    async health(dir) {
      const states = await endpointServerStates({ dir });
      return new Map(
        states.filter((state) => state.listener === 'apiserver').map((state) => [state.server, state.up]),
      );
    },
    markDown: (dir, server) => markServerDown({ dir, server }),
  };
}
