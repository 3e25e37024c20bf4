/**
 * What each replica actually serves, read over TLS on its etcd client and peer ports and its
 * kube-apiserver port (reached through the provider, as status reaches them), set beside the
 * operator's copy of the same certificate: `certs check` reports it, and `certs renew` skips a
 * replica that serves its copy already.
 */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import type { ClusterPki, ReplicaCerts } from '@hacp/certs';
import type { Instance, ProviderV1 } from '@hacp/core';
import { REPLICA_PORTS } from './render.js';
import type { ServedCertificate, ServedPort } from './types.js';

/** Each port a replica serves TLS on, with the operator's certificate it should serve there. */
const SERVED_PORTS: readonly {
  port: ServedPort;
  number: number;
  leaf: keyof Omit<ReplicaCerts, 'identity'>;
}[] = [
  { port: 'etcd-client', number: REPLICA_PORTS.etcdClient, leaf: 'etcdServer' },
  { port: 'etcd-peer', number: REPLICA_PORTS.etcdPeer, leaf: 'etcdPeer' },
  { port: 'apiserver', number: REPLICA_PORTS.apiserver, leaf: 'apiserver' },
];

const LEAF_NAMES: Record<string, string> = {
  etcdServer: 'etcd-server',
  etcdPeer: 'etcd-peer',
  apiserver: 'apiserver',
};

/** A certificate as the tools around it name it: its serial (upper-case hex) and its end. */
export function certificateIdentity(certPem: string | Buffer): { serial: string; notAfter: string } {
  const cert = new X509Certificate(certPem);
  return { serial: cert.serialNumber.toUpperCase(), notAfter: new Date(cert.validTo).toISOString() };
}

/**
 * The certificate a TLS server presents at `host:port`. The etcd ports ask for a client
 * certificate (`--client-cert-auth`, `--peer-client-cert-auth`): the operator's etcd client
 * certificate is offered. Nothing is trusted from the answer: it is only read.
 * @throws Error when nothing answers TLS there within `timeoutMs`.
 */
export function readServedCertificate(options: {
  host: string;
  port: number;
  client?: { certPem: string; keyPem: string };
  timeoutMs?: number;
  signal?: AbortSignal;
}): Promise<{ serial: string; notAfter: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: options.host,
      port: options.port,
      rejectUnauthorized: false,
      ...(options.client === undefined ? {} : { cert: options.client.certPem, key: options.client.keyPem }),
    });
    const finish = (error: Error | undefined, value?: { serial: string; notAfter: string }) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error !== undefined) reject(error);
      else if (value !== undefined) resolve(value);
    };
    const onAbort = () => finish(new Error('aborted'));
    const timer = setTimeout(
      () => finish(new Error(`no TLS answer within ${options.timeoutMs ?? 3000} ms`)),
      options.timeoutMs ?? 3000,
    );
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw;
      if (raw === undefined) finish(new Error('the server presented no certificate'));
      else finish(undefined, certificateIdentity(raw));
    });
    socket.once('error', (error) => finish(error));
  });
}

/**
 * What one replica serves on each of its TLS ports (kube-apiserver's only where it runs), beside
 * the operator's copy; a port that cannot be read says why in `error`.
 */
export async function servedByReplica(options: {
  provider: ProviderV1;
  pki: ClusterPki;
  instance: Instance;
  kubernetes: boolean;
  signal?: AbortSignal;
}): Promise<ServedCertificate[]> {
  const { provider, pki, instance } = options;
  const copy = pki.replicas[instance.name];
  const client = { certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem.reveal() };
  const ports = SERVED_PORTS.filter((entry) => options.kubernetes || entry.port !== 'apiserver');
  return Promise.all(
    ports.map(async (entry): Promise<ServedCertificate> => {
      const expected = copy === undefined ? undefined : certificateIdentity(copy[entry.leaf].certPem);
      const base = {
        replica: instance.name,
        zone: instance.zone,
        port: entry.port,
        certificate: `${instance.name}/${LEAF_NAMES[entry.leaf]}`,
        ...(expected === undefined ? {} : { operatorSerial: expected.serial }),
      };
      if (instance.status !== 'running')
        return { ...base, matches: false, error: `instance ${instance.status}` };
      try {
        const reach = await provider.reach(instance, entry.number, { signal: options.signal });
        try {
          const served = await readServedCertificate({
            host: reach.host,
            port: reach.port,
            ...(entry.port === 'apiserver' ? {} : { client }),
            ...(options.signal ? { signal: options.signal } : {}),
          });
          return { ...base, ...served, matches: served.serial === expected?.serial };
        } finally {
          await reach.close().catch(() => undefined);
        }
      } catch (error) {
        return { ...base, matches: false, error: (error as Error).message };
      }
    }),
  );
}

/** What every replica serves, in replica then port order. */
export async function servedCertificates(options: {
  provider: ProviderV1;
  pki: ClusterPki;
  instances: readonly Instance[];
  kubernetes: boolean;
  signal?: AbortSignal;
}): Promise<ServedCertificate[]> {
  const served: ServedCertificate[] = [];
  for (const instance of [...options.instances].sort((a, b) => a.name.localeCompare(b.name)))
    served.push(...(await servedByReplica({ ...options, instance })));
  return served;
}
