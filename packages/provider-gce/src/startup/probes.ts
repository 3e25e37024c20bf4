/**
 * kubeadm's probes for each program of a replica, with kubeadm's thresholds, aimed at the
 * listeners the process's own flags give (endpoints.ts): the provider never invents a flag.
 */
import type { NodeProcess } from '@hacp/core';
import { etcdMetricsEndpoint, type LocalEndpoint, SECURE_PORTS, secureEndpoint } from './endpoints.js';
import type { ReplicaProgram } from './images.js';

function httpGet(endpoint: LocalEndpoint, path: string) {
  return { host: endpoint.host, port: endpoint.port, path, scheme: endpoint.scheme.toUpperCase() };
}

/** kubeadm's liveness thresholds, the same for every control-plane component. */
const LIVENESS = { initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 15, failureThreshold: 8 };
/** kubeadm's startup thresholds: 4 minutes before the liveness probe takes over. */
const STARTUP = { initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 15, failureThreshold: 24 };

function etcdProbes(process: NodeProcess) {
  const metrics = etcdMetricsEndpoint(process);
  return {
    // Serializable: answered from the member's own data, so a member that lost its peers is not
    // restarted in a loop (that would not bring them back).
    livenessProbe: { httpGet: httpGet(metrics, '/health?exclude=NOSPACE&serializable=true'), ...LIVENESS },
    // kubeadm's startup probe asks for a linearizable read; here it is serializable as well, so a
    // member that starts while its peers are down (a whole zone rebooting) is not killed after 4
    // minutes without quorum.
    startupProbe: { httpGet: httpGet(metrics, '/health?serializable=true'), ...STARTUP },
  };
}

function apiserverProbes(process: NodeProcess) {
  const secure = secureEndpoint(process, SECURE_PORTS['kube-apiserver']);
  return {
    livenessProbe: { httpGet: httpGet(secure, '/livez'), ...LIVENESS },
    readinessProbe: {
      httpGet: httpGet(secure, '/readyz'),
      periodSeconds: 1,
      timeoutSeconds: 15,
      failureThreshold: 3,
    },
    startupProbe: { httpGet: httpGet(secure, '/livez'), ...STARTUP },
  };
}

/** The controller-manager's and the scheduler's: `/healthz`, which they serve without credentials. */
function componentProbes(process: NodeProcess, defaultPort: number) {
  const secure = secureEndpoint(process, defaultPort);
  return {
    livenessProbe: { httpGet: httpGet(secure, '/healthz'), ...LIVENESS },
    startupProbe: { httpGet: httpGet(secure, '/healthz'), ...STARTUP },
  };
}

/**
 * The probes of a program's container. The add-on manager has none (kube-up gives it none): it
 * serves nothing, and a failing apply is retried by its own loop.
 *
 * @throws HacpError INVALID_ARGUMENT when the flags do not give a listener the probes can reach.
 */
export function probesOf(program: ReplicaProgram, process: NodeProcess): object {
  switch (program) {
    case 'etcd':
      return etcdProbes(process);
    case 'kube-apiserver':
      return apiserverProbes(process);
    case 'kube-controller-manager':
    case 'kube-scheduler':
      return componentProbes(process, SECURE_PORTS[program]);
    case 'kube-addon-manager':
      return {};
  }
}
