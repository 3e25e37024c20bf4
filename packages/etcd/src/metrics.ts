import { request } from 'node:https';
import { isIP } from 'node:net';
import type { EtcdTls } from './types.js';
import { hexId } from './urls.js';

/**
 * Reads a member's Prometheus metrics over its client URL (etcd serves /metrics there, behind the same
 * client-certificate check as the gRPC API).
 */
export function fetchMetrics(url: string, tls: EtcdTls, timeoutMs: number): Promise<string> {
  const target = new URL('/metrics', url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        ca: tls.caPem,
        cert: tls.certPem,
        key: typeof tls.keyPem === 'string' ? tls.keyPem : tls.keyPem.reveal(),
        servername: tls.serverName ?? (isIP(host) === 0 ? host : 'localhost'),
        timeout: timeoutMs,
        agent: false,
      },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`GET /metrics answered ${response.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET /metrics took over ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * How many database snapshots the leader is streaming to member `id` right now, from its
 * `etcd_network_snapshot_send_inflights_total{To="<hex id>"}` gauge; 0 when the metric is absent.
 */
export function snapshotsInFlightTo(metrics: string, id: string): number {
  const label = `To="${hexId(id)}"`;
  for (const line of metrics.split('\n')) {
    if (line.startsWith('etcd_network_snapshot_send_inflights_total{') && line.includes(label)) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      return Number.isFinite(value) ? value : 0;
    }
  }
  return 0;
}

/**
 * Whether this member has an active raft connection to member `id`, from its
 * `etcd_network_active_peers{Local="…",Remote="<hex id>"}` gauge (etcd 3.4+): the peer's process
 * runs and reached it. False when the metric is absent.
 */
export function activePeer(metrics: string, id: string): boolean {
  const label = `Remote="${hexId(id)}"`;
  return metrics
    .split('\n')
    .some(
      (line) =>
        line.startsWith('etcd_network_active_peers{') &&
        line.includes(label) &&
        Number(line.slice(line.lastIndexOf(' ') + 1)) > 0,
    );
}
