/**
 * Example Cloud's endpoint: a detached process per endpoint address that listens on the address's
 * IP and forwards TCP to the replica holding it, or, behind a load balancer, to its healthy targets
 * (round robin). Run as `node forwarder.js <config.json>`; SIGHUP re-reads the config (listeners
 * kept, added or closed, connections in flight untouched), SIGTERM stops it. It exits by itself
 * once its config file is gone, so a deleted state folder leaves no forwarder behind.
 *
 * Node built-ins only: it starts in a few tens of milliseconds and outlives the CLI.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type {
  ForwarderBackend,
  ForwarderConfig,
  ForwarderHealthCheck,
  ForwarderListener,
  ForwarderStatus,
} from './forwarder-config.js';

/** How often the forwarder checks that its config still exists when it has no health check to run. */
const IDLE_TICK_MS = 1_000;
/** How long a connection to a backend may take before the next backend is tried. */
const CONNECT_TIMEOUT_MS = 2_000;

interface ListenerState {
  config: ForwarderListener;
  server: net.Server;
  sockets: Set<net.Socket>;
  next: number;
}

interface HealthState {
  healthy: boolean | undefined;
  /** Consecutive probe results that disagree with `healthy`. */
  streak: number;
}

const configPath = process.argv[2];
const listeners = new Map<string, ListenerState>();
const health = new Map<string, HealthState>();
let config: ForwarderConfig | undefined;
let loadError: string | undefined;
let tickTimer: NodeJS.Timeout | undefined;
let chain: Promise<void> = Promise.resolve();

/** Runs reloads and health rounds one at a time. */
function serially(work: () => Promise<void>): void {
  chain = chain.then(work).catch((error: unknown) => {
    console.error(`forwarder: ${error instanceof Error ? error.message : String(error)}`);
  });
}

function shutdown(code: number): void {
  if (tickTimer) clearTimeout(tickTimer);
  for (const state of listeners.values()) {
    state.server.close();
    for (const socket of state.sockets) socket.destroy();
  }
  process.exit(code);
}

// First of all, so that a SIGHUP right after the start never meets the default action (exit).
process.on('SIGHUP', () => serially(reload));
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

function eligible(backends: readonly ForwarderBackend[]): ForwarderBackend[] {
  if (config?.healthCheck === undefined) return [...backends];
  return backends.filter((backend) => health.get(backend.key)?.healthy === true);
}

/** Connects `client` to the first backend that answers, starting at the listener's round-robin turn. */
function forward(state: ListenerState, client: net.Socket): void {
  state.sockets.add(client);
  client.on('close', () => state.sockets.delete(client));
  client.on('error', () => client.destroy());
  const backends = eligible(state.config.backends);
  const start = state.next++;
  const ordered = backends.map((_, index) => backends[(start + index) % backends.length] as ForwarderBackend);
  const attempt = (index: number): void => {
    const backend = ordered[index];
    if (backend === undefined || client.destroyed) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: backend.host, port: backend.port, allowHalfOpen: true });
    state.sockets.add(upstream);
    upstream.setTimeout(CONNECT_TIMEOUT_MS);
    const giveUp = () => {
      upstream.destroy();
      state.sockets.delete(upstream);
      attempt(index + 1);
    };
    upstream.once('error', giveUp);
    upstream.once('timeout', giveUp);
    upstream.once('connect', () => {
      upstream.removeListener('error', giveUp);
      upstream.removeListener('timeout', giveUp);
      upstream.setTimeout(0);
      if (client.destroyed) {
        upstream.destroy();
        state.sockets.delete(upstream);
        return;
      }
      upstream.on('error', () => upstream.destroy());
      upstream.on('close', (hadError) => {
        state.sockets.delete(upstream);
        // A clean close has already passed its end on through the pipe: let the client drain.
        if (hadError) client.destroy();
        else client.end();
      });
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
  };
  attempt(0);
}

function listen(listener: ForwarderListener): Promise<ListenerState> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const state: ListenerState = { config: listener, server, sockets: new Set(), next: 0 };
  server.on('connection', (client) => forward(state, client));
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen({ host: listener.host, port: listener.port }, () => {
      server.removeListener('error', fail);
      server.on('error', (error) => console.error(`forwarder: ${listener.name}: ${error.message}`));
      done(state);
    });
  });
}

function probe(check: ForwarderHealthCheck, host: string): Promise<boolean> {
  return new Promise((done) => {
    let cleanup = () => {};
    let finished = false;
    const finish = (healthy: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      cleanup();
      done(healthy);
    };
    const timer = setTimeout(() => finish(false), check.timeoutMs);
    if (check.protocol === 'tcp') {
      const socket = net.connect({ host, port: check.port });
      socket.once('connect', () => finish(true));
      socket.once('error', () => finish(false));
      cleanup = () => socket.destroy();
      return;
    }
    const options = { host, port: check.port, path: check.path, method: 'GET', agent: false as const };
    const onResponse = (response: http.IncomingMessage) => {
      response.resume();
      finish(response.statusCode === 200);
    };
    // A replica's serving certificate is for its own names, not for this probe: as a cloud's
    // health checker does, accept it unverified.
    const request =
      check.protocol === 'https'
        ? https.request({ ...options, rejectUnauthorized: false }, onResponse)
        : http.request(options, onResponse);
    request.once('error', () => finish(false));
    request.end();
    cleanup = () => request.destroy();
  });
}

async function healthRound(check: ForwarderHealthCheck): Promise<void> {
  const results = await Promise.all(check.targets.map((target) => probe(check, target.host)));
  check.targets.forEach((target, index) => {
    const healthy = results[index] === true;
    const state = health.get(target.key) ?? { healthy: undefined, streak: 0 };
    health.set(target.key, state);
    if (state.healthy === undefined) {
      // The first probe decides, so a new load balancer reports health right away.
      state.healthy = healthy;
      state.streak = 0;
    } else if (state.healthy !== healthy) {
      state.streak += 1;
      if (state.streak >= (healthy ? check.healthyThreshold : check.unhealthyThreshold)) {
        state.healthy = healthy;
        state.streak = 0;
      }
    } else {
      state.streak = 0;
    }
  });
}

function writeStatus(): void {
  const statusFile = config?.statusFile;
  if (statusFile === undefined) return;
  const status: ForwarderStatus = {
    format: 1,
    pid: process.pid,
    digest: config?.digest ?? '',
    generation: config?.generation ?? '',
    updatedAt: new Date().toISOString(),
    listening: [...listeners.keys()],
    health: Object.fromEntries(
      [...health.entries()].map(([key, state]) => [key, state.healthy === true] as const),
    ),
    ...(loadError === undefined ? {} : { error: loadError }),
  };
  const temporary = `${statusFile}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(status)}\n`, { mode: 0o600 });
  renameSync(temporary, statusFile);
}

function scheduleTick(): void {
  if (tickTimer) clearTimeout(tickTimer);
  const interval = config?.healthCheck?.intervalMs ?? IDLE_TICK_MS;
  tickTimer = setTimeout(() => serially(tick), Math.min(interval, IDLE_TICK_MS * 5));
}

async function tick(): Promise<void> {
  if (configPath === undefined || !existsSync(configPath)) shutdown(0);
  const check = config?.healthCheck;
  if (check !== undefined) {
    await healthRound(check);
    writeStatus();
  }
  scheduleTick();
}

async function reload(): Promise<void> {
  if (configPath === undefined) throw new Error('usage: forwarder.js <config.json>');
  let next: ForwarderConfig;
  try {
    next = JSON.parse(readFileSync(configPath, 'utf8')) as ForwarderConfig;
  } catch (error) {
    // Keep serving the last config; the provider sees no answer for its digest and says so.
    loadError = `cannot read ${configPath}: ${error instanceof Error ? error.message : String(error)}`;
    console.error(`forwarder: ${loadError}`);
    if (config === undefined) shutdown(1);
    return;
  }
  const errors: string[] = [];
  const wanted = new Map(next.listeners.map((listener) => [`${listener.host}:${listener.port}`, listener]));
  for (const [id, state] of listeners) {
    if (wanted.has(id)) continue;
    state.server.close();
    for (const socket of state.sockets) socket.destroy();
    listeners.delete(id);
  }
  for (const [id, listener] of wanted) {
    const existing = listeners.get(id);
    if (existing !== undefined) {
      existing.config = listener;
      continue;
    }
    try {
      listeners.set(id, await listen(listener));
    } catch (error) {
      errors.push(`cannot listen on ${id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const keys = new Set(next.healthCheck?.targets.map((target) => target.key) ?? []);
  for (const key of [...health.keys()]) if (!keys.has(key)) health.delete(key);
  config = next;
  loadError = errors.length > 0 ? errors.join('; ') : undefined;
  if (next.healthCheck !== undefined) await healthRound(next.healthCheck);
  writeStatus();
  scheduleTick();
}

process.on('uncaughtException', (error) => {
  console.error(`forwarder: ${error.stack ?? error.message}`);
  shutdown(1);
});

serially(reload);
