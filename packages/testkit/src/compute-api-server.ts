import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertZone, ErrorCode, HacpError, invalidArgument, type Logger, resolveLogger } from '@hacp/core';
import {
  BATCH_PATH,
  type BatchAnswer,
  type BatchPart,
  formatBatch,
  parseBatch,
} from './compute-api/batch.js';
import { type DataPath, startDataPath } from './compute-api/data-path.js';
import {
  ComputeApiError,
  injectedHttpError,
  injectedOperationError,
  invalidField,
  invalidFields,
  notFound,
  parseError,
  unknownPath,
} from './compute-api/errors.js';
import { type ComputeFaultEffect, type ComputeFaults, FaultRegistry } from './compute-api/faults.js';
import { IpPool } from './compute-api/ip-pool.js';
import type { MethodDefinition } from './compute-api/methods.js';
import { type Json, ProjectState, regionOf, type ServerContext } from './compute-api/model.js';
import { OperationRunner } from './compute-api/operations.js';
import { projectJson } from './compute-api/project-methods.js';
import { matchRoute, type RouteMatch } from './compute-api/routes.js';
import type { Call } from './compute-api/rules.js';
import { validateBody } from './compute-api/schema.js';
import { createVmRuntime, type VmRuntime, type VmRuntimeOptions } from './compute-api/vm-runtime.js';

export type {
  ComputeFault,
  ComputeFaultEffect,
  ComputeFaultMatch,
  ComputeFaultRule,
  ComputeFaults,
} from './compute-api/faults.js';

/** The zones a server offers unless told otherwise (regions europe-west1 and us-central1). */
export const DEFAULT_COMPUTE_ZONES: readonly string[] = [
  'europe-west1-b',
  'europe-west1-c',
  'europe-west1-d',
  'us-central1-a',
  'us-central1-b',
  'us-central1-c',
  'us-central1-f',
];

/** One request the server received, as `ComputeApiServer.requests` records it. */
export interface ComputeApiRequest {
  /** The discovery method id (`compute.instances.insert`); undefined for a path the API does not serve. */
  readonly method: string | undefined;
  readonly httpMethod: string;
  /** The URL path, without the query. */
  readonly path: string;
  /** Query parameters (the first value of each). */
  readonly query: Readonly<Record<string, string>>;
  /** The body parsed as JSON; undefined when empty (the client sends `""` for "no body"). */
  readonly body: unknown;
  /** The `requestId` query parameter, if any. */
  readonly requestId: string | undefined;
  /** The HTTP status answered; undefined while still being handled or when the connection was dropped. */
  readonly status: number | undefined;
  /** True when a `drop` fault closed the connection instead of answering. */
  readonly dropped: boolean;
  /** The client's address (always loopback: the server listens on 127.0.0.1 only). */
  readonly remoteAddress: string | undefined;
  /** When the request arrived. */
  readonly time: Date;
  /** When it was answered or dropped (after any injected latency); undefined while in flight. */
  readonly answeredAt: Date | undefined;
}

/** The resources of one project, as `state()` returns them (copies, JSON as the API returns it). */
export interface ComputeProjectSnapshot {
  project: Json;
  instances: Json[];
  disks: Json[];
  addresses: Json[];
  targetPools: Json[];
  httpHealthChecks: Json[];
  healthChecks: Json[];
  forwardingRules: Json[];
  firewalls: Json[];
  /** Every operation of every scope, oldest first. */
  operations: Json[];
}

/** Options of `startComputeApiServer`. */
export interface StartComputeApiServerOptions {
  /** The port to listen on; default 0 (the OS picks one). */
  port?: number;
  /** The address to listen on; a loopback address, default 127.0.0.1. */
  host?: string;
  /** Projects that exist; default `['hacp-test']`. Any other project is 404, as on GCE. */
  projects?: readonly string[];
  /** Zones offered; default `DEFAULT_COMPUTE_ZONES`. Regions are derived (zone minus its last `-x`). */
  zones?: readonly string[];
  /** How long an operation runs before its change applies and it is DONE; default 20 ms. */
  operationDelayMs?: number;
  /** How long `operations.wait` holds before answering with a not-yet-DONE operation; default 120 s, as GCE. */
  waitTimeoutMs?: number;
  /** Added to every request before it is handled; default 0 (the benchmark uses 200). */
  latencyMs?: number;
  /**
   * Boot inserted instances on this machine with the VM runtime, its files under `dir`: each VM in a
   * network namespace of its own, booted by its startup script; the load balancers get a data path.
   * Needs root, iproute2 and nftables (scripts/setup.sh).
   */
  runtime?: Omit<VmRuntimeOptions, 'logger'>;
  logger?: Logger;
}

/** What `clientOptions` holds: spread it into any `@google-cloud/compute` client, with an `authClient`. */
export interface ComputeClientOptions {
  apiEndpoint: string;
  port: number;
  protocol: 'http';
  fallback: true;
}

/**
 * A running double of the Compute Engine v1 REST API on loopback, for the real `@google-cloud/compute`
 * clients (REST fallback).
 */
export interface ComputeApiServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /**
   * Options for every Compute client: `new InstancesClient({ ...server.clientOptions, authClient: new
   * PassThroughClient() })` (never GoogleAuth with credentials: it would call Google).
   */
  readonly clientOptions: ComputeClientOptions;
  readonly projects: readonly string[];
  readonly zones: readonly string[];
  /** Every request, in order of arrival. */
  readonly requests: readonly ComputeApiRequest[];
  /** Fault injection: `faults.add({ match, after?, times?, effect })`, `faults.clear()`. */
  readonly faults: ComputeFaults;
  /** Latency added to every request, in ms; writable. */
  latencyMs: number;
  /** The VM runtime (its VPC, serial consoles, pod status), when instances boot. */
  readonly runtime: VmRuntime | undefined;
  /** Failures of the VM runtime (boot, stop, start, remove); the API reports none of them, as GCE would not. */
  readonly runtimeErrors: readonly { instance: string; action: string; error: string }[];
  /** A snapshot of every project's resources and operations (deep copies; JSON-able). */
  state(): Record<string, ComputeProjectSnapshot>;
  /** Stops every VM (through the runtime), releases waiting callers, closes the port. Idempotent. */
  close(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
/** Bodies beyond this are refused (GCE's own limit is larger than anything hacp sends). */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

class BodyTooLargeError extends Error {}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The parsed body; undefined for none (the REST fallback sends the JSON string `""` for "no body"). */
function parseBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw parseError(error instanceof Error ? error.message : String(error));
  }
  return parsed === '' ? undefined : parsed;
}

function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === 'localhost';
}

/** The body checked against the method's message type (the client library's protos). */
function bodyProblems(definition: MethodDefinition, body: unknown): { field: string; message: string }[] {
  return definition.bodyType === undefined ? [] : validateBody(definition.bodyType, body ?? {});
}

/**
 * Starts a double of the Compute Engine v1 REST API on http://127.0.0.1 for the real
 * `@google-cloud/compute` 6.15 clients in REST fallback mode. It keeps zones, regions, instances, disks,
 * addresses, target pools, legacy HTTP health checks (and HTTP health checks), forwarding rules, firewalls
 * and project metadata in memory per project; every mutating call returns an Operation that completes
 * after `operationDelayMs` and only then applies its change (until then the new resource is 404, as GCE
 * can be right after an insert); `requestId`s must be UUIDs and a repeated one returns the original
 * operation; errors are GCE's bodies; `faults` inject latency, HTTP refusals, failed operations and
 * dropped connections. With `runtime`, inserted instances really boot on this machine (their internal IPs
 * are 127.x addresses) and target-pool health is probed over HTTP.
 *
 * @example
 * import compute from '@google-cloud/compute';
 * import { PassThroughClient } from 'google-auth-library';
 * import { startComputeApiServer } from '@hacp/testkit';
 *
 * const server = await startComputeApiServer();
 * try {
 *   const options = { ...server.clientOptions, authClient: new PassThroughClient() };
 *   const addresses = new compute.AddressesClient(options);
 *   const [operation] = await addresses.insert({
 *     project: 'hacp-test', region: 'europe-west1', requestId: crypto.randomUUID(),
 *     addressResource: { name: 'kubernetes-master-ip' },
 *   });
 *   await new compute.RegionOperationsClient(options).wait({
 *     project: 'hacp-test', region: 'europe-west1', operation: operation.latestResponse.name,
 *   });
 *   const [address] = await addresses.get({ project: 'hacp-test', region: 'europe-west1', address: 'kubernetes-master-ip' });
 *   console.log(address.address, address.status); // 127.17x.y.z RESERVED
 * } finally {
 *   await server.close();
 * }
 * @throws HacpError INVALID_ARGUMENT for a port out of range, a host that is not loopback, a bad
 *   project name or zone, or a negative delay; UNAVAILABLE when the port cannot be bound.
 */
export async function startComputeApiServer(
  options: StartComputeApiServerOptions = {},
): Promise<ComputeApiServer> {
  const logger = resolveLogger(options.logger);
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalidArgument({
      field: 'port',
      value: port,
      message: `port ${port} is not a TCP port (0-65535).`,
    });
  }
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw invalidArgument({
      field: 'host',
      value: host,
      message: `host ${host} is not a loopback address: the Compute API double listens on loopback only.`,
    });
  }
  const projectNames = [...(options.projects ?? ['hacp-test'])];
  for (const name of projectNames) {
    if (!/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/.test(name)) {
      throw invalidArgument({
        field: 'projects',
        value: name,
        message: `project id "${name}" is not a GCE project id (6-30 lowercase letters, digits and hyphens).`,
      });
    }
  }
  const zones = [...(options.zones ?? DEFAULT_COMPUTE_ZONES)];
  for (const zone of zones) assertZone(zone);
  const regions = [...new Set(zones.map(regionOf))];
  for (const [field, value] of [
    ['operationDelayMs', options.operationDelayMs],
    ['waitTimeoutMs', options.waitTimeoutMs],
    ['latencyMs', options.latencyMs],
  ] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw invalidArgument({ field, value, message: `${field} must be a number >= 0, got ${value}.` });
    }
  }

  const projects = new Map(projectNames.map((name) => [name, new ProjectState(name)]));
  const runtime: VmRuntime | undefined =
    options.runtime === undefined ? undefined : await createVmRuntime({ ...options.runtime, logger });
  const runtimeErrors: { instance: string; action: string; error: string }[] = [];
  // Filled once the port is bound: the roots gcloud builds references from when pointed at this server.
  const ownRoots: string[] = [];
  const context: ServerContext = {
    zones,
    regions,
    ownRoots,
    ips: new IpPool(runtime?.vpc.ranges),
    runtime,
    dataPath: undefined,
    logger,
    runtimeErrors,
    projects,
  };
  const dataPath: DataPath | undefined =
    runtime === undefined ? undefined : startDataPath({ server: context, runtime, logger });
  context.dataPath = dataPath;
  const operations = new OperationRunner({
    delayMs: options.operationDelayMs ?? 20,
    waitTimeoutMs: options.waitTimeoutMs ?? 120_000,
    logger,
    ...(dataPath === undefined ? {} : { onCommitted: () => dataPath.sync() }),
  });
  const faults = new FaultRegistry();
  const requests: ComputeApiRequest[] = [];
  let latencyMs = options.latencyMs ?? 0;

  /** What one API request gets: a status and a JSON body, or a connection closed without an answer. */
  type Outcome = { status: number; body: unknown } | { dropped: true };
  /** An outcome, or a body that is no JSON (a batch's multipart answer). */
  type Sendable = Outcome | { status: number; contentType: string; text: string };
  type Entry = { -readonly [K in keyof ComputeApiRequest]: ComputeApiRequest[K] };
  interface Received {
    entry: Entry;
    url: URL;
    query: Record<string, string>;
    route: RouteMatch | undefined;
  }

  /** Records a request on arrival (so `requests` keeps the order of arrival) and routes it. */
  const receive = (httpMethod: string, target: string, remoteAddress: string | undefined): Received => {
    const url = /^https?:\/\//i.test(target)
      ? new URL(target)
      : new URL(`http://${host}${target.startsWith('/') ? target : `/${target}`}`);
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) if (!Object.hasOwn(query, key)) query[key] = value;
    const route = matchRoute(httpMethod, url.pathname);
    const entry: Entry = {
      method: route?.definition.id,
      httpMethod,
      path: url.pathname,
      query,
      body: undefined,
      requestId: query.requestId,
      status: undefined,
      dropped: false,
      remoteAddress,
      time: new Date(),
      answeredAt: undefined,
    };
    requests.push(entry);
    return { entry, url, query, route };
  };

  /** Records how a request was answered (or dropped). */
  const settle = (entry: Entry, outcome: Outcome): Outcome => {
    entry.answeredAt = new Date();
    if ('dropped' in outcome) entry.dropped = true;
    else entry.status = outcome.status;
    logger.debug('compute api request', { method: entry.method, path: entry.path, status: entry.status });
    return outcome;
  };

  /** Writes an outcome, or closes the connection for a dropped one. */
  const send = (response: ServerResponse, outcome: Sendable) => {
    if ('dropped' in outcome) {
      response.socket?.destroy();
      return;
    }
    if (response.headersSent || response.destroyed) return;
    response.statusCode = outcome.status;
    if ('text' in outcome) {
      response.setHeader('Content-Type', outcome.contentType);
      response.end(outcome.text);
      return;
    }
    response.setHeader('Content-Type', 'application/json; charset=UTF-8');
    response.end(JSON.stringify(outcome.body));
  };

  const tooLarge: Outcome = {
    status: 413,
    body: {
      error: {
        code: 413,
        message: 'Request Entity Too Large',
        errors: [{ message: 'Request Entity Too Large', domain: 'global', reason: 'uploadTooLarge' }],
      },
    },
  };

  /** Handles one API request, alone or as a part of a batch: latency, faults, routing, the method. */
  const run = async (received: Received, text: string): Promise<Outcome> => {
    const { entry, url, query, route } = received;
    const { httpMethod } = entry;
    try {
      let body: unknown;
      let bodyError: ComputeApiError | undefined;
      try {
        body = parseBody(text);
        entry.body = body;
      } catch (error) {
        if (!(error instanceof ComputeApiError)) throw error;
        bodyError = error;
      }
      if (latencyMs > 0) await sleep(latencyMs);
      const effects = faults.take({
        method: route?.definition.id,
        path: url.pathname,
        httpMethod,
        mutating: route?.definition.kind === 'mutate',
      });
      for (const effect of effects) if (effect.kind === 'latency') await sleep(effect.ms);
      const decisive = effects.find((effect) => effect.kind !== 'latency');
      const projectName = route?.project ?? url.pathname.split('/')[4] ?? '';
      if (decisive?.kind === 'http') {
        throw injectedHttpError({
          status: decisive.status,
          reason: decisive.reason,
          project: projectName,
          method: route?.definition.id,
        });
      }
      if (decisive?.kind === 'drop' && decisive.afterChange !== true) return { dropped: true };
      if (route === undefined) throw unknownPath(url.pathname);
      const project = projects.get(route.project);
      if (project === undefined) throw notFound(`projects/${route.project}`);
      if (bodyError !== undefined) throw bodyError;
      const call: Call = { server: context, operations, project, params: route.params, query, body };
      const { definition } = route;
      if (definition.kind === 'read') {
        const problems = bodyProblems(definition, body);
        if (problems.length > 0) throw invalidFields(problems);
        return { status: 200, body: await definition.run(call) };
      }
      const requestId = query.requestId;
      if (requestId !== undefined) {
        if (!UUID.test(requestId) || requestId === ZERO_UUID) {
          throw invalidField(
            'requestId',
            requestId,
            `The request ID must be a valid UUID with the exception that zero UUID is not supported (${ZERO_UUID}).`,
          );
        }
        const original = project.byRequestId.get(requestId);
        if (original !== undefined) return { status: 200, body: structuredClone(original.json) };
      }
      const problems = bodyProblems(definition, body);
      if (problems.length > 0) throw invalidFields(problems);
      const mutation = definition.accept(call);
      try {
        mutation.prepare();
      } catch (error) {
        // Refused after all: what `accept` reserved (an accepted fingerprint) must not outlive the call.
        mutation.settle?.(false);
        throw error;
      }
      const failure =
        decisive?.kind === 'operation-error'
          ? operationFailure(decisive, mutation.scope, project.name)
          : undefined;
      const record = operations.start(project, mutation, { requestId, failure });
      if (decisive?.kind === 'drop') return { dropped: true };
      return { status: 200, body: structuredClone(record.json) };
    } catch (error) {
      if (error instanceof ComputeApiError) return { status: error.status, body: error.body() };
      logger.error('compute api request failed', {
        path: url.pathname,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      return {
        status: 500,
        body: {
          error: {
            code: 500,
            message: 'Internal error.',
            errors: [{ message: 'Internal error.', domain: 'global', reason: 'backendError' }],
          },
        },
      };
    }
  };

  /**
   * `POST /batch/compute/v1`: each part goes through `run` as if it came alone (its own entry in
   * `requests`, latency, faults); the parts run concurrently, as GCE runs them in no set order, and the
   * answer holds their responses in the parts' order. A part whose fault drops its answer drops the batch.
   */
  const runBatch = async (entry: Entry, request: IncomingMessage, text: string): Promise<Sendable> => {
    let parts: BatchPart[];
    try {
      parts = parseBatch(request.headers['content-type'], text);
    } catch (error) {
      if (!(error instanceof ComputeApiError)) throw error;
      return settle(entry, { status: error.status, body: error.body() });
    }
    const remoteAddress = request.socket.remoteAddress;
    const subRequests = parts.map((part) => ({
      part,
      received: receive(part.httpMethod, part.target, remoteAddress),
    }));
    const outcomes = await Promise.all(
      subRequests.map(async ({ part, received }) => ({
        contentId: part.contentId,
        outcome: settle(received.entry, await run(received, part.body)),
      })),
    );
    const answers: BatchAnswer[] = [];
    for (const { contentId, outcome } of outcomes) {
      if ('dropped' in outcome) return settle(entry, outcome);
      answers.push({ contentId, status: outcome.status, body: outcome.body });
    }
    settle(entry, { status: 200, body: undefined });
    const batch = formatBatch(answers);
    return { status: 200, contentType: batch.contentType, text: batch.body };
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const httpMethod = (request.method ?? 'GET').toUpperCase();
    const received = receive(httpMethod, request.url ?? '/', request.socket.remoteAddress);
    let text: string;
    try {
      text = await readBody(request);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      send(response, settle(received.entry, tooLarge));
      return;
    }
    if (httpMethod === 'POST' && received.url.pathname === BATCH_PATH) {
      send(response, await runBatch(received.entry, request, text));
      return;
    }
    send(response, settle(received.entry, await run(received, text)));
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger.error('compute api server failed a request', { error: String(error) });
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      reject(
        new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `The Compute API server could not listen on ${host}:${port}: ${error.message}`,
          actions: ['Pick another port, or pass port 0 to let the OS choose one.'],
          details: { host, port },
          cause: error,
        }),
      );
    });
    server.listen({ host, port }, () => resolve());
  });
  const boundPort = (server.address() as AddressInfo).port;
  const url = `http://${host}:${boundPort}`;
  ownRoots.push(`${url}/compute/v1/`, `http://localhost:${boundPort}/compute/v1/`);
  logger.info('compute api server listening', { url, projects: projectNames });

  let closing: Promise<void> | undefined;
  return {
    url,
    port: boundPort,
    clientOptions: { apiEndpoint: host, port: boundPort, protocol: 'http', fallback: true },
    projects: projectNames,
    zones,
    requests,
    faults,
    runtime,
    runtimeErrors,
    get latencyMs() {
      return latencyMs;
    },
    set latencyMs(value: number) {
      if (!(Number.isFinite(value) && value >= 0)) {
        throw invalidArgument({
          field: 'latencyMs',
          value,
          message: `latencyMs must be a number >= 0, got ${value}.`,
        });
      }
      latencyMs = value;
    },
    state() {
      const snapshot: Record<string, ComputeProjectSnapshot> = {};
      for (const project of projects.values()) {
        const all = (collection: string) =>
          project.listAll(collection).map(({ resource }) => structuredClone(resource));
        snapshot[project.name] = {
          project: projectJson(project),
          instances: all('instances'),
          disks: all('disks'),
          addresses: all('addresses'),
          targetPools: all('targetPools'),
          httpHealthChecks: all('httpHealthChecks'),
          healthChecks: all('healthChecks'),
          forwardingRules: all('forwardingRules'),
          firewalls: all('firewalls'),
          operations: [...project.operations.values()]
            .flatMap((scoped) => [...scoped.values()])
            .map((record) => structuredClone(record.json))
            .sort((a, b) => String(a.name).localeCompare(String(b.name))),
        };
      }
      return snapshot;
    },
    close() {
      closing ??= (async () => {
        operations.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        try {
          await dataPath?.close();
          await runtime?.close();
        } finally {
          await closed;
          logger.info('compute api server stopped', { url });
        }
      })();
      return closing;
    },
  };
}

/** The ComputeApiError an `operation-error` fault fails an operation with, worded for its scope. */
function operationFailure(
  effect: Extract<ComputeFaultEffect, { kind: 'operation-error' }>,
  scope: { kind: 'zone'; zone: string } | { kind: 'region'; region: string } | { kind: 'global' },
  project: string,
): ComputeApiError {
  const zone = scope.kind === 'zone' ? scope.zone : undefined;
  const region =
    scope.kind === 'zone' ? regionOf(scope.zone) : scope.kind === 'region' ? scope.region : 'global';
  return injectedOperationError({
    code: effect.code,
    message: effect.message,
    httpStatus: effect.httpStatus,
    region,
    zone,
    project,
  });
}
