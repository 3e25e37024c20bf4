/**
 * The kit's endpoint program (forwarderEndpointDriver runs it): a detached process per endpoint
 * address that listens on the address's IP and forwards TCP to the servers of its plan, round robin
 * over those its health check finds healthy (all of them without one). Run as
 * `node forwarder.js <config.json>`; SIGHUP re-reads the config (listeners kept, added or closed,
 * connections in flight untouched), SIGTERM stops it. It exits by itself once its config file is
 * gone, so a deleted state folder leaves no forwarder behind.
 *
 * Node built-ins only (it imports types alone): it starts in a few tens of milliseconds.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { HealthCheck } from '../provider.js';
import type { EndpointListener, EndpointServer } from './endpoints.js';
import type { ForwarderConfig, ForwarderStatus } from './forwarder-endpoint.js';

/** How often the forwarder checks that its config still exists when it has no health check to run. */
const IDLE_TICK_MS = 1_000;
/** How long a connection to a server may take before the next server is tried. */
const CONNECT_TIMEOUT_MS = 2_000;

interface ListenerState {
  listener: EndpointListener;
  server: net.Server;
  sockets: Set<net.Socket>;
  next: number;
}

const configPath = process.argv[2];
const listeners = new Map<string, ListenerState>();
/** Each checked server's health by name, and how many probes in a row disagreed with it. */
const health = new Map<string, { healthy: boolean; streak: number }>();
let config: ForwarderConfig | undefined;
let loadError: string | undefined;
let tickTimer: NodeJS.Timeout | undefined;
let chain: Promise<void> = Promise.resolve();

/** A line in the forwarder's log (its stderr), which the driver quotes when an apply fails. */
function logLine(text: string): void {
  process.stderr.write(`forwarder: ${text}\n`);
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Runs reloads and health rounds one at a time. */
function serially(work: () => Promise<void>): void {
  chain = chain.then(work).catch((error: unknown) => logLine(messageOf(error)));
}

function close(state: ListenerState): void {
  state.server.close();
  for (const socket of state.sockets) socket.destroy();
}

function shutdown(code: number): void {
  if (tickTimer) clearTimeout(tickTimer);
  for (const state of listeners.values()) close(state);
  process.exit(code);
}

// First of all, so that a SIGHUP right after the start never meets the default action (exit).
process.on('SIGHUP', () => serially(reload));
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

/** Connects `client` to the first server that answers, starting at the listener's round-robin turn. */
function forward(state: ListenerState, client: net.Socket): void {
  state.sockets.add(client);
  client.on('close', () => state.sockets.delete(client));
  client.on('error', () => client.destroy());
  const servers = state.listener.servers.filter(
    (server) => config?.plan.healthCheck === undefined || health.get(server.name)?.healthy === true,
  );
  const start = state.next++;
  const attempt = (index: number): void => {
    const server = servers[(start + index) % servers.length];
    if (index >= servers.length || server === undefined || client.destroyed) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: server.host, port: server.port, allowHalfOpen: true });
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

function listen(listener: EndpointListener): Promise<ListenerState> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const state: ListenerState = { listener, server, sockets: new Set(), next: 0 };
  server.on('connection', (client) => forward(state, client));
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen({ host: listener.bindHost, port: listener.bindPort }, () => {
      server.removeListener('error', fail);
      server.on('error', (error) => logLine(`${listener.name}: ${error.message}`));
      done(state);
    });
  });
}

/** Whether `server` passes `check` within `timeoutMs`: it accepts a connection (tcp), or answers 200. */
function probe(check: HealthCheck, server: EndpointServer, timeoutMs: number): Promise<boolean> {
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
    const timer = setTimeout(() => finish(false), timeoutMs);
    const port = server.checkPort ?? check.port;
    if (check.protocol === 'tcp') {
      const socket = net.connect({ host: server.host, port });
      socket.once('connect', () => finish(true));
      socket.once('error', () => finish(false));
      cleanup = () => socket.destroy();
      return;
    }
    const options = {
      host: server.host,
      port,
      path: check.path ?? '/',
      method: 'GET',
      agent: false as const,
    };
    const onResponse = (response: http.IncomingMessage) => {
      response.resume();
      finish(response.statusCode === 200);
    };
    // A server's certificate is for its own names, not for this probe: as a cloud's health checker
    // does, accept it unverified.
    const request =
      check.protocol === 'https'
        ? https.request({ ...options, rejectUnauthorized: false }, onResponse)
        : http.request(options, onResponse);
    request.once('error', () => finish(false));
    request.end();
    cleanup = () => request.destroy();
  });
}

/** The servers of `current`'s plan, once each by name. */
function checkedServers(current: ForwarderConfig): EndpointServer[] {
  const byName = new Map<string, EndpointServer>();
  for (const listener of current.plan.listeners) {
    for (const server of listener.servers) if (!byName.has(server.name)) byName.set(server.name, server);
  }
  return [...byName.values()];
}

async function healthRound(current: ForwarderConfig, check: HealthCheck): Promise<void> {
  const servers = checkedServers(current);
  const results = await Promise.all(servers.map((server) => probe(check, server, current.timeoutMs)));
  servers.forEach((server, index) => {
    const healthy = results[index] === true;
    const state = health.get(server.name);
    if (state === undefined) {
      // The first probe decides, so a new load balancer reports health right away.
      health.set(server.name, { healthy, streak: 0 });
    } else if (state.healthy === healthy) {
      state.streak = 0;
    } else if (++state.streak >= ((healthy ? check.healthyThreshold : check.unhealthyThreshold) ?? 1)) {
      health.set(server.name, { healthy, streak: 0 });
    }
  });
}

function writeStatus(): void {
  if (config === undefined) return;
  const status: ForwarderStatus = {
    pid: process.pid,
    generation: config.generation,
    updatedAt: new Date().toISOString(),
    listening: [...listeners.keys()],
    health: Object.fromEntries([...health.entries()].map(([name, state]) => [name, state.healthy])),
    ...(loadError === undefined ? {} : { error: loadError }),
  };
  const temporary = `${config.statusFile}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(status)}\n`, { mode: 0o600 });
  renameSync(temporary, config.statusFile);
}

function scheduleTick(): void {
  if (tickTimer) clearTimeout(tickTimer);
  const interval = config?.plan.healthCheck === undefined ? IDLE_TICK_MS : config.intervalMs;
  tickTimer = setTimeout(() => serially(tick), Math.min(interval, IDLE_TICK_MS * 5));
}

async function tick(): Promise<void> {
  if (configPath === undefined || !existsSync(configPath)) shutdown(0);
  const check = config?.plan.healthCheck;
  if (config !== undefined && check !== undefined) {
    await healthRound(config, check);
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
    // Keep serving the last config; the driver sees no answer for its generation and says so.
    loadError = `cannot read ${configPath}: ${messageOf(error)}`;
    logLine(loadError);
    if (config === undefined) shutdown(1);
    return;
  }
  const errors: string[] = [];
  const wanted = new Map(
    next.plan.listeners.map((listener) => [`${listener.bindHost}:${listener.bindPort}`, listener]),
  );
  for (const [id, state] of listeners) {
    if (wanted.has(id)) continue;
    close(state);
    listeners.delete(id);
  }
  for (const [id, listener] of wanted) {
    const existing = listeners.get(id);
    if (existing !== undefined) {
      existing.listener = listener;
      continue;
    }
    try {
      listeners.set(id, await listen(listener));
    } catch (error) {
      errors.push(`cannot listen on ${id}: ${messageOf(error)}`);
    }
  }
  const checked = next.plan.healthCheck === undefined ? [] : checkedServers(next);
  const names = new Set(checked.map((server) => server.name));
  for (const name of [...health.keys()]) if (!names.has(name)) health.delete(name);
  config = next;
  loadError = errors.length > 0 ? errors.join('; ') : undefined;
  if (next.plan.healthCheck !== undefined) await healthRound(next, next.plan.healthCheck);
  writeStatus();
  scheduleTick();
}

process.on('uncaughtException', (error) => {
  logLine(error.stack ?? error.message);
  shutdown(1);
});

serially(reload);
