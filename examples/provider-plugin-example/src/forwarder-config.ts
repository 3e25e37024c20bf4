/**
 * The files the provider and its endpoint forwarder (`forwarder.ts`, a process of its own) talk
 * through: the provider writes a ForwarderConfig and signals the forwarder (SIGHUP); the forwarder
 * applies it and answers with a ForwarderStatus naming the config's digest. Types only, so that the
 * forwarder's bundle stays free of anything but Node's built-ins.
 */

/** Where a listener sends a connection: a replica's internal IP and port. */
export interface ForwarderBackend {
  /** `<zone>/<instance>`: the key of the backend's health in ForwarderStatus. */
  key: string;
  host: string;
  port: number;
}

/** One port of the endpoint address, forwarded to the same backends' port. */
export interface ForwarderListener {
  name: string;
  host: string;
  port: number;
  backends: ForwarderBackend[];
}

/** A load balancer's health check as the forwarder runs it; without one, every backend is used. */
export interface ForwarderHealthCheck {
  protocol: 'http' | 'https' | 'tcp';
  port: number;
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** What is probed: each backend key with its internal IP. */
  targets: { key: string; host: string }[];
}

/** What the forwarder serves. */
export interface ForwarderConfig {
  format: 1;
  /** A digest of the listeners and the health check: what is served. */
  digest: string;
  /** New on every write, echoed in the status once this write is applied. */
  generation: string;
  /** Where the forwarder writes its ForwarderStatus. */
  statusFile: string;
  listeners: ForwarderListener[];
  healthCheck?: ForwarderHealthCheck;
}

/** What the forwarder reports after each (re)load and each health-check round. */
export interface ForwarderStatus {
  format: 1;
  pid: number;
  /** The digest and generation of the config applied. */
  digest: string;
  generation: string;
  updatedAt: string;
  /** `host:port` of each listener bound. */
  listening: string[];
  /** Backend key to healthy; only with a health check. */
  health: Record<string, boolean>;
  /** Why a listener could not be bound, when one could not. */
  error?: string;
}
