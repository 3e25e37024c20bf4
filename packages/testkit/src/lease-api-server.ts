import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createClusterPki, issueReplicaCerts } from '@hacp/certs';
import { ErrorCode, HacpError, invalidArgument, type Logger, resolveLogger } from '@hacp/core';
import { type HandlerResult, LeaseHandlers, type Query } from './lease-api/lease-handlers.js';
import { LeaseStore } from './lease-api/lease-store.js';
import { dns1123LabelProblems } from './lease-api/selectors.js';
import {
  ApiStatusError,
  internalError,
  LEASE_GROUP,
  LEASE_QUALIFIED,
  LEASE_RESOURCE,
  namespaceNotFound,
} from './lease-api/status.js';

/** The Kubernetes verb a lease request maps to (what RBAC would check). */
export type LeaseVerb =
  | 'get'
  | 'list'
  | 'watch'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'deletecollection';

/** One request the lease server received, as `LeaseApiServer.requests` records it. */
export interface LeaseApiRequest {
  readonly method: string;
  /** The URL path, without the query. */
  readonly path: string;
  /** Query parameters (the first value of each). */
  readonly query: Readonly<Record<string, string>>;
  /** The bearer token sent, or undefined when none was. */
  readonly token: string | undefined;
  /** The HTTP status answered; undefined while the request is still being handled (e.g. in a hook). */
  readonly status: number | undefined;
  /** When the request arrived. */
  readonly time: Date;
  /** The verb, for requests on the lease resource. */
  readonly verb: LeaseVerb | undefined;
  /** The namespace in the path, if any. */
  readonly namespace: string | undefined;
  /** The lease name in the path, if any. */
  readonly name: string | undefined;
  /** The request body parsed as JSON (undefined when empty or not JSON). */
  readonly body: unknown;
}

/**
 * A running Kubernetes API double for `coordination.k8s.io/v1` Leases, over HTTPS on 127.0.0.1.
 *
 * @example
 * // Another holder renews between our list and our delete: the delete's precondition must fail.
 * const unsubscribe = server.beforeRequest((request) => {
 *   if (request.verb !== 'delete') return;
 *   server.writeLease('kube-system', { metadata: { name: 'cp-leader' }, spec: { holderIdentity: 'cp-2' } });
 * });
 * try {
 *   await expect(deleteIfStale(api)).rejects.toMatchObject({ code: 409 });
 * } finally {
 *   unsubscribe();
 * }
 * expect(server.requests.map((r) => r.status)).toEqual([200, 409]);
 */
export interface LeaseApiServer {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** PEM of the CA that signed the server's certificate (SANs 127.0.0.1, localhost). */
  readonly caPem: string;
  /** A bearer token with full access. */
  readonly token: string;
  /** A bearer token the server knows but answers 403 Forbidden for, on every lease request. */
  readonly forbiddenToken: string;
  /**
   * A kubeconfig (YAML text) for this server: cluster with certificate-authority-data, user with the
   * token (default `token`), context namespace (default kube-system). Loadable with
   * `KubeConfig.loadFromString`.
   *
   * @throws HacpError INVALID_ARGUMENT when `namespace` is not a DNS-1123 label or `token` is empty.
   */
  kubeconfig(options?: { token?: string; namespace?: string }): string;
  /**
   * Makes a namespace exist (a no-op when it does); `kube-system` and `default` exist at start.
   *
   * @throws HacpError INVALID_ARGUMENT when `name` is not a DNS-1123 label.
   */
  createNamespace(name: string): void;
  /** Every request handled, in order of arrival: method, path, query (parsed), token, status answered, time. */
  readonly requests: readonly LeaseApiRequest[];
  /**
   * Runs `hook` before each request is handled (after authentication and authorization), awaited; lets a
   * test change state between two client calls (e.g. renew a lease between a list and a delete). The
   * store is read only after every hook has returned, so what a hook writes is what the request sees.
   * A hook that throws makes the request answer 500. Returns an unsubscribe function.
   */
  beforeRequest(hook: (request: LeaseApiRequest) => void | Promise<void>): () => void;
  /** Direct reads of the store for assertions (a deep copy of the stored JSON object or undefined). */
  lease(namespace: string, name: string): Record<string, unknown> | undefined;
  /**
   * Writes a lease straight into the store, as another client would with an unconditional PUT: it is
   * created (uid, creationTimestamp) when missing, replaced otherwise, and gets a new resourceVersion.
   * `lease` is the JSON a client would send (`metadata.name` required; MicroTimes with six fractional
   * digits). Returns the stored copy. Meant for hooks and test setup; it bypasses auth and the request log.
   *
   * @throws HacpError INVALID_ARGUMENT when the API would refuse the body (the message is the API's),
   *   NOT_FOUND when the namespace does not exist.
   */
  writeLease(namespace: string, lease: Record<string, unknown>): Record<string, unknown>;
  /** Deletes a lease straight from the store (a new revision); false when there was none. */
  deleteLease(namespace: string, name: string): boolean;
  /** The newest resourceVersion of the store (every write bumps it; namespaces count as writes). */
  readonly resourceVersion: string;
  /**
   * Compacts the store's history to the newest revision now, as etcd compaction does: continue tokens
   * and `resourceVersionMatch=Exact` lists at older revisions answer 410 Expired afterwards.
   */
  compact(): void;
  /** Closes the port and every open connection. Idempotent. */
  stop(): Promise<void>;
}

/** Options of `startLeaseApiServer`. */
export interface StartLeaseApiServerOptions {
  /** Namespaces that exist at start, besides `kube-system` and `default`. */
  namespaces?: readonly string[];
  /** The port on 127.0.0.1; default 0 (the OS picks one). */
  port?: number;
  logger?: Logger;
  /**
   * How often history is compacted (to the revision seen one interval earlier, as kube-apiserver's
   * 5-minute etcd compaction does). Default 5 minutes.
   */
  compactionIntervalMs?: number;
}

const HOST = '127.0.0.1';
const API_PREFIX = ['apis', LEASE_GROUP, 'v1'];
/** kube-apiserver's default `--max-request-body-bytes` for a write (3 MiB). */
const MAX_BODY_BYTES = 3 * 1024 * 1024;
const ADMIN_USER = 'system:serviceaccount:kube-system:hacp-lease-admin';
const FORBIDDEN_USER = 'system:serviceaccount:kube-system:hacp-lease-forbidden';

type Route =
  | { kind: 'lease'; verb: LeaseVerb; namespace: string | undefined; name: string | undefined }
  | { kind: 'discovery' }
  | { kind: 'core-versions' }
  | { kind: 'core-resources' }
  | { kind: 'namespace'; name: string | undefined }
  | { kind: 'groups' }
  | { kind: 'health' }
  | { kind: 'version' }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed' }
  | { kind: 'watch' };

/** Maps a method and path to what the apiserver would do with it. */
function route(method: string, path: string, query: Query): Route {
  let segments: string[];
  try {
    segments = path
      .split('/')
      .filter((s, i) => !(i === 0 && s === ''))
      .map((s) => decodeURIComponent(s));
  } catch {
    return { kind: 'not-found' };
  }
  if (segments.length === 1 && ['healthz', 'livez', 'readyz'].includes(segments[0] ?? '')) {
    return method === 'GET' ? { kind: 'health' } : { kind: 'method-not-allowed' };
  }
  if (segments.length === 1 && segments[0] === 'version') {
    return method === 'GET' ? { kind: 'version' } : { kind: 'method-not-allowed' };
  }
  // Legacy discovery, enough for kubectl to find the lease resource.
  const discovery: Record<string, Route> = {
    api: { kind: 'core-versions' },
    'api/v1': { kind: 'core-resources' },
    apis: { kind: 'groups' },
  };
  const discovered = discovery[segments.join('/')];
  if (discovered !== undefined) return method === 'GET' ? discovered : { kind: 'method-not-allowed' };
  // Namespaces, read-only: kubectl reads one to word a NotFound.
  if (segments[0] === 'api' && segments[1] === 'v1' && segments[2] === 'namespaces' && segments.length <= 4) {
    if (method !== 'GET') return { kind: 'method-not-allowed' };
    return { kind: 'namespace', name: segments[3] === '' ? undefined : segments[3] };
  }
  if (!API_PREFIX.every((part, i) => segments[i] === part)) return { kind: 'not-found' };
  const rest = segments.slice(API_PREFIX.length);
  if (rest.length === 0) return method === 'GET' ? { kind: 'discovery' } : { kind: 'method-not-allowed' };
  if (rest[0] === 'watch') return { kind: 'watch' };
  const watching = query.watch === 'true' || query.watch === '1';
  if (rest.length === 1 && rest[0] === LEASE_RESOURCE) {
    if (method !== 'GET') return { kind: 'method-not-allowed' };
    return watching
      ? { kind: 'watch' }
      : { kind: 'lease', verb: 'list', namespace: undefined, name: undefined };
  }
  if (rest[0] !== 'namespaces' || rest[2] !== LEASE_RESOURCE || (rest[1] ?? '') === '')
    return { kind: 'not-found' };
  const namespace = rest[1];
  if (rest.length === 3) {
    if (method === 'GET')
      return watching ? { kind: 'watch' } : { kind: 'lease', verb: 'list', namespace, name: undefined };
    if (method === 'POST') return { kind: 'lease', verb: 'create', namespace, name: undefined };
    if (method === 'DELETE') return { kind: 'lease', verb: 'deletecollection', namespace, name: undefined };
    return { kind: 'method-not-allowed' };
  }
  if (rest.length === 4 && (rest[3] ?? '') !== '') {
    const name = rest[3];
    const verbs: Record<string, LeaseVerb> = { GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
    const verb = verbs[method];
    if (verb === undefined) return { kind: 'method-not-allowed' };
    if (verb === 'get' && watching) return { kind: 'watch' };
    return { kind: 'lease', verb, namespace, name };
  }
  return { kind: 'not-found' };
}

function status(
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
): HandlerResult {
  return {
    code,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details === undefined ? {} : { details }),
      code,
    },
    warnings: [],
  };
}

/** The RBAC authorizer's refusal, as `errors.NewForbidden` words it. */
function forbidden(
  user: string,
  verb: LeaseVerb,
  namespace: string | undefined,
  name: string | undefined,
): HandlerResult {
  const scope = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
  const reason = `User "${user}" cannot ${verb} resource "${LEASE_RESOURCE}" in API group "${LEASE_GROUP}" ${scope}`;
  const subject = name === undefined ? LEASE_QUALIFIED : `${LEASE_QUALIFIED} "${name}"`;
  return status(403, 'Forbidden', `${subject} is forbidden: ${reason}`, {
    ...(name === undefined ? {} : { name }),
    group: LEASE_GROUP,
    kind: LEASE_RESOURCE,
  });
}

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** The YAML double-quoted form of a string (JSON's escaping is valid YAML). */
const yamlString = (value: string) => JSON.stringify(value);

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

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Starts a double of kube-apiserver for `coordination.k8s.io/v1` Leases on https://127.0.0.1, with a
 * certificate from a fresh CA, two bearer tokens (full access and forbidden) and an in-memory store
 * with one etcd-like revision counter. It answers with the apiserver's status codes and Status bodies
 * (reasons, messages, details), so code tested against it behaves the same against a real cluster.
 *
 * @example
 * import { CoordinationV1Api, KubeConfig, V1MicroTime } from '@kubernetes/client-node';
 * import { startLeaseApiServer } from '@hacp/testkit';
 *
 * const server = await startLeaseApiServer();
 * try {
 *   const kc = new KubeConfig();
 *   kc.loadFromString(server.kubeconfig());
 *   const api = kc.makeApiClient(CoordinationV1Api);
 *   await api.createNamespacedLease({
 *     namespace: 'kube-system',
 *     body: { metadata: { name: 'cp-leader' }, spec: { holderIdentity: 'cp-1', leaseDurationSeconds: 15, renewTime: new V1MicroTime() } },
 *   });
 *   server.lease('kube-system', 'cp-leader'); // { apiVersion, kind, metadata: { uid, resourceVersion, ... }, spec }
 * } finally {
 *   await server.stop();
 * }
 * @throws HacpError INVALID_ARGUMENT for a namespace that is not a DNS-1123 label or a port out of
 *   range; UNAVAILABLE when the port cannot be bound.
 */
export async function startLeaseApiServer(options: StartLeaseApiServerOptions = {}): Promise<LeaseApiServer> {
  const logger = resolveLogger(options.logger);
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalidArgument({
      field: 'port',
      value: port,
      message: `port ${port} is not a TCP port (0-65535).`,
    });
  }
  const namespaces = ['kube-system', 'default', ...(options.namespaces ?? [])];
  for (const namespace of namespaces) assertNamespaceName(namespace);

  const pki = await createClusterPki({ clusterName: 'lease-api', endpointAddress: HOST });
  const certs = await issueReplicaCerts(pki, {
    replicaName: 'lease-api',
    hostname: 'localhost',
    internalIp: HOST,
  });
  const store = new LeaseStore(namespaces, options.compactionIntervalMs ?? 5 * 60_000);
  const handlers = new LeaseHandlers(store);
  const token = randomBytes(24).toString('base64url');
  const forbiddenToken = randomBytes(24).toString('base64url');
  const users = new Map([
    [token, ADMIN_USER],
    [forbiddenToken, FORBIDDEN_USER],
  ]);
  let boundPort = port;
  const requests: LeaseApiRequest[] = [];
  const hooks = new Set<(request: LeaseApiRequest) => void | Promise<void>>();

  const answer = (response: ServerResponse, result: HandlerResult, entry: { status: number | undefined }) => {
    entry.status = result.code;
    if (response.headersSent || response.destroyed) return;
    const text = typeof result.body === 'string' ? result.body : JSON.stringify(result.body);
    response.statusCode = result.code;
    response.setHeader('Audit-Id', randomUUID());
    response.setHeader('Cache-Control', 'no-cache, private');
    response.setHeader(
      'Content-Type',
      typeof result.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    );
    if (result.warnings.length > 0) {
      response.setHeader(
        'Warning',
        result.warnings.map((w) => `299 - ${JSON.stringify(w)}`),
      );
    }
    response.end(text);
  };

  const dispatch = (
    target: Extract<Route, { kind: 'lease' }>,
    body: string,
    query: Query,
    contentType: string,
  ): HandlerResult => {
    const { namespace, name } = target;
    switch (target.verb) {
      case 'get':
        return handlers.get(namespace ?? '', name ?? '');
      case 'list':
        return handlers.list(namespace, query);
      case 'create':
        return handlers.create(namespace ?? '', body, query);
      case 'update':
        return handlers.update(namespace ?? '', name ?? '', body, query);
      case 'patch':
        return handlers.patch(namespace ?? '', name ?? '', body, contentType, query);
      case 'delete':
        return handlers.delete(namespace ?? '', name ?? '', body, query);
      case 'deletecollection':
        return handlers.deleteCollection(namespace ?? '', body, query);
      default:
        return status(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
          {},
        );
    }
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    // Concatenated, not resolved: a path like `//host/x` must stay a path.
    let url: URL;
    try {
      url = new URL(
        `https://${HOST}${(request.url ?? '/').startsWith('/') ? request.url : `/${request.url}`}`,
      );
    } catch {
      url = new URL(`https://${HOST}/`);
    }
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) if (!Object.hasOwn(query, key)) query[key] = value;
    const method = request.method ?? 'GET';
    const token = bearerToken(request.headers.authorization);
    const target = route(method, url.pathname, query);
    const entry = {
      method,
      path: url.pathname,
      query,
      token,
      status: undefined as number | undefined,
      time: new Date(),
      verb: target.kind === 'lease' ? target.verb : undefined,
      namespace: target.kind === 'lease' ? target.namespace : undefined,
      name: target.kind === 'lease' ? target.name : undefined,
      body: undefined as unknown,
    };
    requests.push(entry);
    let result: HandlerResult;
    try {
      let body: string;
      try {
        body = await readBody(request);
      } catch (error) {
        if (!(error instanceof BodyTooLargeError)) throw error;
        answer(
          response,
          status(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${MAX_BODY_BYTES}`),
          entry,
        );
        return;
      }
      entry.body = parseJson(body);
      const user = token === undefined ? undefined : users.get(token);
      const public_ = target.kind === 'health' || target.kind === 'version';
      if (user === undefined && !(public_ && token === undefined)) {
        result = status(401, 'Unauthorized', 'Unauthorized');
      } else if (target.kind === 'lease' && user === FORBIDDEN_USER) {
        result = forbidden(user, target.verb, target.namespace, target.name);
      } else {
        for (const hook of [...hooks]) await hook(entry);
        result = serve(target, body, query, request.headers['content-type'] ?? '');
      }
    } catch (error) {
      if (error instanceof ApiStatusError) result = { code: error.code, body: error.status, warnings: [] };
      else {
        logger.warn('lease api request failed', { method, path: url.pathname, error: String(error) });
        result = { code: 500, body: internalError(String(error)).status, warnings: [] };
      }
    }
    answer(response, result, entry);
    logger.debug('lease api request', { method, path: url.pathname, status: result.code });
  };

  const serve = (target: Route, body: string, query: Query, contentTypeHeader: string): HandlerResult => {
    switch (target.kind) {
      case 'health':
        return { code: 200, body: 'ok', warnings: [] };
      case 'version':
        return {
          code: 200,
          body: { major: '1', minor: '33', gitVersion: 'v1.33.0-hacp-lease-api', platform: 'linux/amd64' },
          warnings: [],
        };
      case 'core-versions':
        return {
          code: 200,
          body: {
            kind: 'APIVersions',
            versions: ['v1'],
            serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${HOST}:${boundPort}` }],
          },
          warnings: [],
        };
      case 'core-resources':
        return {
          code: 200,
          body: {
            kind: 'APIResourceList',
            groupVersion: 'v1',
            resources: [
              {
                name: 'namespaces',
                singularName: 'namespace',
                namespaced: false,
                kind: 'Namespace',
                verbs: ['get', 'list'],
                shortNames: ['ns'],
              },
            ],
          },
          warnings: [],
        };
      case 'namespace': {
        if (target.name === undefined) {
          return {
            code: 200,
            body: {
              kind: 'NamespaceList',
              apiVersion: 'v1',
              metadata: { resourceVersion: String(store.revision) },
              items: store.namespaces().map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
            },
            warnings: [],
          };
        }
        const namespace = store.namespace(target.name);
        if (namespace === undefined) throw namespaceNotFound(target.name);
        return { code: 200, body: namespace, warnings: [] };
      }
      case 'groups': {
        const version = { groupVersion: `${LEASE_GROUP}/v1`, version: 'v1' };
        return {
          code: 200,
          body: {
            kind: 'APIGroupList',
            apiVersion: 'v1',
            groups: [{ name: LEASE_GROUP, versions: [version], preferredVersion: version }],
          },
          warnings: [],
        };
      }
      case 'discovery':
        return {
          code: 200,
          body: {
            kind: 'APIResourceList',
            apiVersion: 'v1',
            groupVersion: `${LEASE_GROUP}/v1`,
            resources: [
              {
                name: LEASE_RESOURCE,
                singularName: 'lease',
                namespaced: true,
                kind: 'Lease',
                verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update'],
              },
            ],
          },
          warnings: [],
        };
      case 'watch':
        return status(405, 'MethodNotAllowed', 'watch is not implemented by the hacp lease test server', {});
      case 'method-not-allowed':
        return status(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
          {},
        );
      case 'not-found':
        return status(404, 'NotFound', 'the server could not find the requested resource', {});
      case 'lease': {
        const contentType = (contentTypeHeader.split(';')[0] ?? '').trim().toLowerCase();
        const writes = target.verb === 'create' || target.verb === 'update' || target.verb === 'patch';
        if (writes) {
          const accepted =
            target.verb === 'patch'
              ? [
                  'application/json-patch+json',
                  'application/merge-patch+json',
                  'application/strategic-merge-patch+json',
                ]
              : ['application/json', ''];
          if (!accepted.includes(contentType)) {
            return status(
              415,
              'UnsupportedMediaType',
              target.verb === 'patch'
                ? `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`
                : 'the body of the request was in an unknown format - accepted media types include: application/json',
              {},
            );
          }
        }
        return dispatch(target, body, query, contentType);
      }
    }
  };

  const server: Server = createServer(
    { cert: certs.apiserver.certPem, key: certs.apiserver.keyPem.reveal() },
    (request, response) => {
      handle(request, response).catch((error: unknown) => {
        logger.error('lease api server failed a request', { error: String(error) });
        if (!response.headersSent) response.writeHead(500).end();
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      reject(
        new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `The lease API server could not listen on ${HOST}:${port}: ${error.message}`,
          actions: ['Pick another port, or pass port 0 to let the OS choose one.'],
          details: { port },
          cause: error,
        }),
      );
    });
    server.listen({ host: HOST, port }, () => resolve());
  });
  boundPort = (server.address() as AddressInfo).port;
  const url = `https://${HOST}:${boundPort}`;
  logger.info('lease api server listening', { url });

  let stopping: Promise<void> | undefined;
  const api: LeaseApiServer = {
    url,
    caPem: pki.ca.certPem,
    token,
    forbiddenToken,
    requests,
    get resourceVersion() {
      return String(store.revision);
    },
    kubeconfig(kubeconfigOptions = {}) {
      const user = kubeconfigOptions.token ?? token;
      const namespace = kubeconfigOptions.namespace ?? 'kube-system';
      if (user === '') throw invalidArgument({ field: 'token', message: 'token must not be empty.' });
      assertNamespaceName(namespace);
      const ca = Buffer.from(pki.ca.certPem, 'utf8').toString('base64');
      return [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: lease-api',
        '  cluster:',
        `    server: ${url}`,
        `    certificate-authority-data: ${ca}`,
        'users:',
        '- name: lease-api-user',
        '  user:',
        `    token: ${yamlString(user)}`,
        'contexts:',
        '- name: lease-api',
        '  context:',
        '    cluster: lease-api',
        '    user: lease-api-user',
        `    namespace: ${yamlString(namespace)}`,
        'current-context: lease-api',
        '',
      ].join('\n');
    },
    createNamespace(name) {
      assertNamespaceName(name);
      store.addNamespace(name);
    },
    beforeRequest(hook) {
      // A wrapper, so that subscribing the same function twice gives two independent subscriptions.
      const subscription = (request: LeaseApiRequest) => hook(request);
      hooks.add(subscription);
      return () => {
        hooks.delete(subscription);
      };
    },
    lease(namespace, name) {
      const lease = store.get(namespace, name);
      return lease === undefined ? undefined : (structuredClone(lease) as unknown as Record<string, unknown>);
    },
    writeLease(namespace, lease) {
      const name = (lease.metadata as { name?: unknown } | undefined)?.name;
      if (typeof name !== 'string' || name === '') {
        throw invalidArgument({ field: 'metadata.name', message: 'writeLease needs lease.metadata.name.' });
      }
      const existing = store.get(namespace, name);
      const metadata = { ...(lease.metadata as Record<string, unknown>) };
      // Unconditional: take the current resourceVersion, as a client that just read it would.
      if (existing === undefined) delete metadata.resourceVersion;
      else metadata.resourceVersion = existing.metadata.resourceVersion;
      const body = JSON.stringify({ ...lease, metadata });
      try {
        const result = handlers.update(namespace, name, body, {});
        return structuredClone(result.body) as Record<string, unknown>;
      } catch (error) {
        if (!(error instanceof ApiStatusError)) throw error;
        throw new HacpError({
          code: error.code === 404 ? ErrorCode.NOT_FOUND : ErrorCode.INVALID_ARGUMENT,
          message: `The lease API would refuse this lease (${error.code}): ${error.message}`,
          details: { namespace, name, status: error.code },
          cause: error,
        });
      }
    },
    deleteLease(namespace, name) {
      return store.delete(namespace, name) !== undefined;
    },
    compact() {
      store.compact();
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        logger.info('lease api server stopped', { url });
      });
      return stopping;
    },
  };
  return api;
}

function assertNamespaceName(name: string): void {
  const problems = dns1123LabelProblems(name);
  if (problems.length > 0) {
    throw invalidArgument({
      field: 'namespace',
      value: name,
      message: `namespace "${name}" is not a valid namespace name: ${problems.join('; ')}.`,
    });
  }
}
