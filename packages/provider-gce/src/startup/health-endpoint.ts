import { isIPv4 } from 'node:net';
import { assertNodeConfig, invalidArgument, type NodeConfig, type NodeProcess } from '@hacp/core';
import { apiserverEndpoint, etcdMetricsEndpoint, type LocalEndpoint } from './endpoints.js';
import { HEALTH_ENDPOINT } from './layout.js';

/** What the health endpoint reports on: one local check of the replica's main process. */
export interface HealthTarget extends LocalEndpoint {
  /** The process it checks (`kube-apiserver`, else `etcd`). */
  process: string;
  path: string;
}

/** Where the health endpoint listens; tests bind a loopback address instead of every address. */
export interface HealthEndpointBind {
  /** An IPv4 literal, or `*` for every address (the default). */
  address?: string;
  /** Defaults to HEALTH_ENDPOINT.port. */
  port?: number;
}

/** By name, as the static pods choose their programs. */
const findByName = (config: NodeConfig, name: string): NodeProcess | undefined =>
  config.processes.find((process) => process.name === name);

/**
 * What a replica's health endpoint checks: kube-apiserver's `/readyz` over https where the
 * NodeConfig runs it (a process of that name), else etcd's `/health` on its metrics listener (http), which fails while the
 * member has no leader.
 *
 * @throws HacpError INVALID_ARGUMENT when the NodeConfig runs neither, or their listeners cannot be
 *   read from their arguments.
 */
export function healthTarget(config: NodeConfig): HealthTarget {
  const apiserver = findByName(config, 'kube-apiserver');
  if (apiserver !== undefined)
    return { process: apiserver.name, path: '/readyz', ...apiserverEndpoint(apiserver) };
  const etcd = findByName(config, 'etcd');
  if (etcd !== undefined) return { process: etcd.name, path: '/health', ...etcdMetricsEndpoint(etcd) };
  throw invalidArgument({
    field: 'nodeConfig.processes',
    message: 'The NodeConfig runs neither kube-apiserver nor etcd: the health endpoint has nothing to check.',
  });
}

/**
 * The HAProxy configuration of a replica's health endpoint: `GET /healthz` on `*:8081` answers 200
 * while its one backend, the local kube-apiserver's `/readyz` (https, certificate not verified: it
 * is this machine's own process) or else etcd's `/health`, passes its checks every second, and 503
 * otherwise. Nothing is proxied: any other path gets 404.
 *
 * HAProxy reports each check as it comes (`rise 1 fall 1`): GCE's health check applies its own
 * healthy and unhealthy thresholds, and two sets of thresholds would only add up to a slower
 * failover.
 *
 * @throws HacpError INVALID_ARGUMENT for a NodeConfig without kube-apiserver or etcd, or a bad bind.
 * @example
 * renderHealthEndpointConfig(nodeConfig); // 'bind *:8081', backend 10.0.0.5:6443 /readyz
 * renderHealthEndpointConfig(nodeConfig, { address: '127.88.0.1', port: 18081 }); // in a test
 */
export function renderHealthEndpointConfig(config: NodeConfig, bind: HealthEndpointBind = {}): string {
  assertNodeConfig(config);
  const address = bind.address ?? '*';
  const port = bind.port ?? HEALTH_ENDPOINT.port;
  if (address !== '*' && !isIPv4(address)) {
    throw invalidArgument({
      field: 'bind.address',
      value: address,
      message: `The health endpoint binds "*" or an IPv4 address (got ${address}).`,
    });
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw invalidArgument({
      field: 'bind.port',
      value: port,
      message: `The health endpoint's port must be from 1 to 65535 (got ${port}).`,
    });
  }
  const target = healthTarget(config);
  const tls = target.scheme === 'https' ? ' check-ssl verify none' : '';
  return [
    `# Written by hacp: the health endpoint of this replica (${target.process} ${target.path}).`,
    'global',
    '  maxconn 256',
    '',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout check 2s',
    '  timeout client 5s',
    '  timeout server 5s',
    '  timeout http-request 5s',
    '',
    'frontend health',
    // Every address: GCE's target-pool checks arrive for the forwarding rule's address.
    `  bind ${address}:${port}`,
    `  monitor-uri ${HEALTH_ENDPOINT.path}`,
    '  monitor fail if { nbsrv(replica) lt 1 }',
    '  http-request return status 404',
    '',
    'backend replica',
    `  option httpchk GET ${target.path}`,
    '  http-check expect status 200',
    `  server ${target.process} ${target.host}:${target.port} check${tls} inter 1s rise 1 fall 1`,
    '',
  ].join('\n');
}
