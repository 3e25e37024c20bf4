/**
 * The local addresses kubelet's probes and the health endpoint use, read from a process's own
 * arguments and ports: the provider never invents flags, it only looks at the ones the SDK rendered.
 */
import { isIPv4 } from 'node:net';
import { invalidArgument, type NodeProcess } from '@hacp/core';

/** One local HTTP(S) endpoint of a replica process. */
export interface LocalEndpoint {
  scheme: 'http' | 'https';
  /** An IPv4 literal the process listens on. */
  host: string;
  port: number;
}

/** The default `--secure-port` of each Kubernetes program. */
export const SECURE_PORTS = {
  'kube-apiserver': 6443,
  'kube-controller-manager': 10257,
  'kube-scheduler': 10259,
} as const;
const LOOPBACK = '127.0.0.1';

/**
 * The value of a flag, as `--name=value`, `--name value`, `-name=value` or `-name value` (etcd and
 * the Kubernetes components accept all four); the last occurrence wins, as with their parsers.
 */
export function flagValue(args: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    for (const prefix of [`--${name}`, `-${name}`]) {
      if (arg === prefix && i + 1 < args.length) value = args[i + 1];
      else if (arg.startsWith(`${prefix}=`)) value = arg.slice(prefix.length + 1);
    }
  }
  return value;
}

/** A host the process listens on, as an address to connect to: a wildcard means loopback. */
function connectHost(host: string): string {
  return host === '0.0.0.0' || host === '' ? LOOPBACK : host;
}

function checkedPort(process: NodeProcess, role: string, fromArgs: number | undefined): number {
  const declared = process.ports?.[role];
  const port = declared ?? fromArgs;
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw invalidArgument({
      field: `processes.${process.name}.ports.${role}`,
      message: `Process "${process.name}" needs ports.${role} (a port from 1 to 65535) for its health checks.`,
    });
  }
  if (fromArgs !== undefined && fromArgs !== port) {
    // A probe on the declared port would never reach the process: on GCE each replica has its own
    // address, so the SDK renders standard ports without an offset.
    throw invalidArgument({
      field: `processes.${process.name}.ports.${role}`,
      value: port,
      message: `Process "${process.name}" declares ports.${role}=${port} but its arguments listen on ${fromArgs}.`,
      actions: ['Render the NodeConfig with a port offset of 0: every GCE replica has its own address.'],
    });
  }
  return port;
}

/**
 * etcd's metrics listener, where `/health` answers without client certificates: the first URL of
 * `--listen-metrics-urls`, on `ports.metrics`.
 *
 * @throws HacpError INVALID_ARGUMENT when the flag is missing, not an http URL on an IPv4 address, or
 *   its port differs from `ports.metrics`.
 */
export function etcdMetricsEndpoint(process: NodeProcess): LocalEndpoint {
  const urls = flagValue(process.args, 'listen-metrics-urls');
  const first = urls?.split(',')[0]?.trim();
  let url: URL | undefined;
  try {
    url = first ? new URL(first) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || url.protocol !== 'http:' || !isIPv4(url.hostname)) {
    throw invalidArgument({
      field: `processes.${process.name}.args`,
      message: `Process "${process.name}" needs --listen-metrics-urls with an http://<IPv4>:<port> URL: kubelet's probe and the health endpoint ask its /health there.`,
    });
  }
  const port = checkedPort(process, 'metrics', url.port === '' ? 80 : Number(url.port));
  return { scheme: 'http', host: connectHost(url.hostname), port };
}

/**
 * The secure (https) listener of kube-apiserver, kube-controller-manager or kube-scheduler:
 * `--bind-address` (loopback when absent or a wildcard), on `ports.secure` (or `--secure-port`, or
 * the program's default).
 *
 * @throws HacpError INVALID_ARGUMENT when `--bind-address` is not IPv4, the ports disagree, or the
 *   port is not one a probe can reach (`--secure-port=0` turns the listener off).
 */
export function secureEndpoint(process: NodeProcess, defaultPort: number): LocalEndpoint {
  const bind = flagValue(process.args, 'bind-address');
  if (bind !== undefined && !isIPv4(bind)) {
    throw invalidArgument({
      field: `processes.${process.name}.args`,
      value: bind,
      message: `Process "${process.name}" has --bind-address=${bind}; hacp's probes need an IPv4 address.`,
    });
  }
  const securePort = flagValue(process.args, 'secure-port');
  const fromArgs = securePort === undefined ? undefined : Number(securePort);
  const port =
    fromArgs === undefined && process.ports?.secure === undefined
      ? defaultPort
      : checkedPort(process, 'secure', fromArgs);
  return { scheme: 'https', host: connectHost(bind ?? ''), port };
}

/**
 * kube-apiserver's secure listener (secureEndpoint with its default port, 6443).
 *
 * @throws HacpError INVALID_ARGUMENT as secureEndpoint.
 */
export function apiserverEndpoint(process: NodeProcess): LocalEndpoint {
  return secureEndpoint(process, SECURE_PORTS['kube-apiserver']);
}
