import { dependencyMissing, type EndpointDriver } from '@hacp/core/provider-kit';
import {
  applyEndpoint,
  endpointRunning,
  endpointServerStates,
  markServerDown,
  stopEndpoint,
} from './haproxy.js';

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
      // A plan is an EndpointConfig as it is: HAProxy does not read the servers' zones.
      await applyEndpoint({ binary: requireBinary(), dir, config: plan, ...(signal ? { signal } : {}) });
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
