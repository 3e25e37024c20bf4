/**
 * What the GCE provider's tests give instances to run: the conformance kit's files and an etcd
 * process, since a GCE replica runs only programs it has a container image of (etcd and the
 * Kubernetes components, by name) and its health endpoint needs etcd's metrics listener. `etcd --version` prints and exits, so replicas
 * booted by the Compute API server's VM runtime never compete for etcd's ports.
 */
import type { NodeConfig } from '@hacp/core';
import { defaultNodeConfig } from '@hacp/provider-conformance';

/** A NodeConfig the startup module renders: the kit's two files and a short-lived etcd. */
export function replicaNodeConfig(instanceName: string): NodeConfig {
  return {
    files: defaultNodeConfig(instanceName).files,
    processes: [
      {
        name: 'etcd',
        command: 'etcd',
        args: ['--version', '--listen-metrics-urls=http://127.0.0.1:2381'],
        ports: { metrics: 2381 },
      },
    ],
  };
}
