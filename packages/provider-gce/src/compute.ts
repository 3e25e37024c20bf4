/**
 * The Compute API as the provider uses it: the clients (made once, lazily), every call retried
 * where retrying is safe (with the same GCE request id), every mutation waited for through its
 * zone, region or global operation, and every failure mapped once by ./errors.ts. Legacy HTTP
 * health checks, which target pools need and @google-cloud/compute 6.x no longer ships a client
 * for, go over REST through the same auth client.
 */

import compute, { type protos } from '@google-cloud/compute';
import { backoffDelay, ErrorCode, HacpError, type Logger, throwIfAborted } from '@hacp/core';
import { type AuthClient, GoogleAuth } from 'google-auth-library';
import { type CallContext, computeError, operationError } from './errors.js';
import { gceRequestId } from './request-id.js';

type Operation = protos.google.cloud.compute.v1.IOperation;

/** What the Compute clients are created with (besides `authClient`): endpoint, port, protocol, fallback, ... */
export interface ComputeClientOptions {
  /** The API's host: `compute.googleapis.com` by default, `127.0.0.1` for a test server. */
  apiEndpoint?: string;
  /** The same as `apiEndpoint`, gax's older name. */
  servicePath?: string;
  port?: number;
  /** `https` by default; `http` only for a local test server. */
  protocol?: string;
  /** REST (`true` or `'rest'`, the default here) or gRPC (`false`). */
  fallback?: boolean | 'rest' | 'proto';
  universeDomain?: string;
}

/** Retries of retryable failures (rate limits, 5xx, dropped connections). */
export interface RetrySettings {
  /** Attempts in all, the first included. Default 5. */
  attempts: number;
  /** The first delay; later ones double, with jitter, up to 32 times this. Default 500 ms. */
  baseDelayMs: number;
}

/** The Compute clients the provider uses, each made once. */
export interface ComputeClients {
  instances: InstanceType<typeof compute.InstancesClient>;
  disks: InstanceType<typeof compute.DisksClient>;
  addresses: InstanceType<typeof compute.AddressesClient>;
  targetPools: InstanceType<typeof compute.TargetPoolsClient>;
  forwardingRules: InstanceType<typeof compute.ForwardingRulesClient>;
  firewalls: InstanceType<typeof compute.FirewallsClient>;
  projects: InstanceType<typeof compute.ProjectsClient>;
  zones: InstanceType<typeof compute.ZonesClient>;
  zoneOperations: InstanceType<typeof compute.ZoneOperationsClient>;
  regionOperations: InstanceType<typeof compute.RegionOperationsClient>;
  globalOperations: InstanceType<typeof compute.GlobalOperationsClient>;
}

/** A legacy HTTP health check, the only kind a target pool takes. */
export interface HttpHealthCheckResource {
  name?: string;
  description?: string;
  port?: number;
  requestPath?: string;
  checkIntervalSec?: number;
  timeoutSec?: number;
  healthyThreshold?: number;
  unhealthyThreshold?: number;
  selfLink?: string;
}

/** Where an operation lives, so that it is waited for with the right client. */
export type OperationScope = { zone: string } | { region: string } | { global: true };

/** Per-call options: what to call it in errors and ids, and the caller's signal. */
export interface CallOptions {
  /** The purpose and resource: `insert instance zones/z/instances/n`. */
  call: string;
  signal?: AbortSignal | undefined;
  zone?: string;
  region?: string;
}

/** A mutation: a call that returns an operation, and the contract's request id it derives its GCE one from. */
export interface MutationCallOptions extends CallOptions {
  requestId: string;
  scope: OperationScope;
}

/** How a mutation went, for callers that must tell a new operation from a replayed one. */
export interface MutationResult {
  /**
   * The operation was DONE in the call's own answer. A new operation rarely is; one GCE replays for
   * a request id it saw before (within the hour) usually is, and may have made something a rollback
   * deleted since, so a caller that needs the resource checks that it exists.
   */
  doneOnArrival: boolean;
}

/** The whole session with the Compute API of one project. */
export interface ComputeSession {
  readonly project: string;
  /** The clients, made on first use. */
  clients(): ComputeClients;
  /** A read, retried while retryable. @throws HacpError as ./errors.ts maps it */
  read<T>(options: CallOptions, send: () => Promise<T>): Promise<T>;
  /** A read where NOT_FOUND means undefined. */
  find<T>(options: CallOptions, send: () => Promise<T>): Promise<T | undefined>;
  /**
   * A mutation: sends it with its GCE request id (the same on every retry), then waits for its
   * operation to finish. @throws HacpError for the call's or the operation's error
   */
  mutate(
    options: MutationCallOptions,
    send: (gceRequestId: string) => Promise<readonly unknown[] | unknown>,
  ): Promise<MutationResult>;
  /** A mutation whose NOT_FOUND means "nothing to do" (deletes). */
  mutateIfFound(
    options: MutationCallOptions,
    send: (gceRequestId: string) => Promise<readonly unknown[] | unknown>,
  ): Promise<boolean>;
  /** Legacy HTTP health checks over REST (global). */
  httpHealthChecks: {
    get(name: string, options: Omit<CallOptions, 'call'>): Promise<HttpHealthCheckResource | undefined>;
    insert(
      resource: HttpHealthCheckResource,
      options: Omit<MutationCallOptions, 'call' | 'scope'>,
    ): Promise<MutationResult>;
    patch(
      name: string,
      resource: HttpHealthCheckResource,
      options: Omit<MutationCallOptions, 'call' | 'scope'>,
    ): Promise<MutationResult>;
    delete(name: string, options: Omit<MutationCallOptions, 'call' | 'scope'>): Promise<boolean>;
  };
  /** Closes the clients that were made. */
  close(): Promise<void>;
}

/** Options that make gax leave retrying to us: one attempt per call, so faults are counted exactly. */
export const NO_GAX_RETRY = { retry: null } as const;
/**
 * The same for the `*Async` list iterators, which page on demand: without `autoPaginate: false`
 * google-gax prints an AutopaginateTrueWarning on the user's terminal.
 */
export const PAGED_NO_GAX_RETRY = { retry: null, autoPaginate: false } as const;

function isDone(status: unknown): boolean {
  // Enums come back as names over REST and as numbers over gRPC (Operation.Status.DONE = 2104194).
  return status === 'DONE' || status === 2104194;
}

/** The Operation in a client's LRO answer: `[LROperation, ...]` with `latestResponse`, or the Operation itself. */
function operationOf(answer: unknown): Operation {
  const first = Array.isArray(answer) ? answer[0] : answer;
  const record = (first ?? {}) as { latestResponse?: Operation } & Operation;
  return record.latestResponse ?? record;
}

function abortedError(signal: AbortSignal, call: string): HacpError {
  return new HacpError({
    code: ErrorCode.ABORTED,
    message: `Stopped during Compute API call "${call}": the operation was aborted.`,
    actions: ['Run the same command again, or `hacp resume`, to continue.'],
    details: { call },
    cause: signal.reason,
  });
}

/** Rejects with ABORTED as soon as the signal aborts; the call itself carries on unobserved. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, call: string): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortedError(signal, call));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal, call));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function sleep(ms: number, signal: AbortSignal | undefined, call: string): Promise<void> {
  return raceAbort(
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => clearTimeout(timer), { once: true });
    }),
    signal,
    call,
  );
}

/** The REST base of the Compute API for the client options: `https://compute.googleapis.com/compute/v1`. */
export function restBase(options: ComputeClientOptions): string {
  const protocol = String(options.protocol ?? 'https').replace(/:$/, '');
  const host = String(options.apiEndpoint ?? options.servicePath ?? 'compute.googleapis.com');
  const port = typeof options.port === 'number' ? options.port : undefined;
  const defaultPort = protocol === 'http' ? 80 : 443;
  const hostPort = port === undefined || port === defaultPort ? host : `${host}:${port}`;
  return `${protocol}://${hostPort}/compute/v1`;
}

/**
 * Opens a session with the Compute API of `project`.
 *
 * @example
 * const session = createComputeSession({ project, clientOptions: { fallback: true }, authClient, retry, logger });
 * const [instance] = await session.read({ call: 'get instance ...' }, () => session.clients().instances.get(request));
 */
export function createComputeSession(options: {
  project: string;
  clientOptions: ComputeClientOptions;
  authClient: AuthClient | GoogleAuth;
  retry: RetrySettings;
  logger: Logger;
}): ComputeSession {
  const { project, clientOptions, authClient, retry, logger } = options;
  let closed = false;

  // gax takes an AuthClient as `authClient` and a GoogleAuth (ADC) as `auth`.
  const credentials = authClient instanceof GoogleAuth ? { auth: authClient } : { authClient };
  const settings = { fallback: true, ...clientOptions, ...credentials };
  const constructors = {
    instances: compute.InstancesClient,
    disks: compute.DisksClient,
    addresses: compute.AddressesClient,
    targetPools: compute.TargetPoolsClient,
    forwardingRules: compute.ForwardingRulesClient,
    firewalls: compute.FirewallsClient,
    projects: compute.ProjectsClient,
    zones: compute.ZonesClient,
    zoneOperations: compute.ZoneOperationsClient,
    regionOperations: compute.RegionOperationsClient,
    globalOperations: compute.GlobalOperationsClient,
  } as const;
  const made = new Map<keyof ComputeClients, { close(): Promise<void> }>();
  // Each client is made on its first use (about 25 ms each), then kept for the provider's life.
  const lazyClients = Object.defineProperties(
    {},
    Object.fromEntries(
      Object.entries(constructors).map(([name, Client]) => [
        name,
        {
          enumerable: true,
          get() {
            const key = name as keyof ComputeClients;
            let client = made.get(key);
            if (client === undefined) {
              client = new Client(settings);
              made.set(key, client);
            }
            return client;
          },
        },
      ]),
    ),
  ) as ComputeClients;

  function clients(): ComputeClients {
    if (closed) {
      throw new HacpError({
        code: ErrorCode.INTERNAL,
        message: 'The GCE provider was closed; create a new one.',
      });
    }
    return lazyClients;
  }

  function context(call: CallOptions): CallContext {
    return {
      call: call.call,
      project,
      ...(call.zone === undefined ? {} : { zone: call.zone }),
      ...(call.region === undefined ? {} : { region: call.region }),
    };
  }

  // Application Default Credentials are looked up once, before any client asks for them: gax
  // starts one lookup per client and leaves the failures of all but the awaited one unhandled,
  // which ends the process. A failed lookup is UNAUTHENTICATED, said once, and tried again next call.
  let credentialCheck: Promise<void> | undefined;
  function credentialsReady(call: CallOptions): Promise<void> {
    if (!(authClient instanceof GoogleAuth)) return Promise.resolve();
    credentialCheck ??= authClient.getClient().then(
      () => undefined,
      (error: unknown) => {
        credentialCheck = undefined;
        throw new HacpError({
          code: ErrorCode.UNAUTHENTICATED,
          message: `No Google credentials for project ${project}: ${error instanceof Error ? error.message : String(error)}`,
          actions: [
            'Run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file.',
          ],
          details: { call: call.call, project },
          cause: error,
        });
      },
    );
    return credentialCheck;
  }

  async function withRetry<T>(call: CallOptions, send: () => Promise<T>): Promise<T> {
    await credentialsReady(call);
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(call.signal);
      try {
        return await raceAbort(send(), call.signal, call.call);
      } catch (caught) {
        const error = computeError(caught, context(call));
        // Only what did not reach a decision is sent again (rate limits, 5xx, dropped connections);
        // a CONFLICT is retryable for the caller, who must read again first.
        const transient = error.code === ErrorCode.UNAVAILABLE && error.retryable;
        if (!transient || attempt + 1 >= retry.attempts) throw error;
        const delay = backoffDelay({
          attempt,
          minDelayMs: retry.baseDelayMs,
          maxDelayMs: retry.baseDelayMs * 32,
        });
        logger.debug('retrying a Compute API call', {
          call: call.call,
          attempt: attempt + 1,
          code: error.code,
          delayMs: delay,
        });
        await sleep(delay, call.signal, call.call);
      }
    }
  }

  async function waitFor(operation: Operation, call: MutationCallOptions): Promise<void> {
    let current = operation;
    const name = current.name ?? '';
    while (!isDone(current.status)) {
      if (name === '') {
        throw new HacpError({
          code: ErrorCode.PROVIDER_ERROR,
          message: `Compute API call "${call.call}" returned an operation without a name.`,
          details: { call: call.call },
        });
      }
      const scope = call.scope;
      // `wait` returns when the operation is done or after about two minutes; loop until done.
      current = await withRetry({ ...call, call: `wait operation ${name} (${call.call})` }, async () => {
        const c = clients();
        const [answer] =
          'zone' in scope
            ? await c.zoneOperations.wait({ project, zone: scope.zone, operation: name }, NO_GAX_RETRY)
            : 'region' in scope
              ? await c.regionOperations.wait(
                  { project, region: scope.region, operation: name },
                  NO_GAX_RETRY,
                )
              : await c.globalOperations.wait({ project, operation: name }, NO_GAX_RETRY);
        return answer;
      });
    }
    const failed = operationError(current, context(call));
    if (failed !== undefined) throw failed;
  }

  async function mutate(
    call: MutationCallOptions,
    send: (gceRequestId: string) => Promise<readonly unknown[] | unknown>,
  ): Promise<MutationResult> {
    const id = gceRequestId(call.requestId, call.call);
    const operation = operationOf(await withRetry(call, () => send(id)));
    const doneOnArrival = isDone(operation.status);
    await waitFor(operation, call);
    return { doneOnArrival };
  }

  async function restCall<T>(request: {
    call: string;
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
    path: string;
    requestId?: string;
    body?: unknown;
    signal?: AbortSignal | undefined;
  }): Promise<T> {
    const url = `${restBase(clientOptions)}/projects/${encodeURIComponent(project)}/${request.path}`;
    const response = await authClient.request<T>({
      url,
      method: request.method,
      ...(request.requestId === undefined ? {} : { params: { requestId: request.requestId } }),
      ...(request.body === undefined ? {} : { data: request.body }),
      headers: { 'content-type': 'application/json' },
      responseType: 'json',
      retry: false,
    });
    return response.data;
  }

  const session: ComputeSession = {
    project,
    clients,
    read: withRetry,

    async find(call, send) {
      try {
        return await withRetry(call, send);
      } catch (error) {
        if (error instanceof HacpError && error.code === ErrorCode.NOT_FOUND) return undefined;
        throw error;
      }
    },

    mutate,

    async mutateIfFound(call, send) {
      try {
        await mutate(call, send);
        return true;
      } catch (error) {
        if (error instanceof HacpError && error.code === ErrorCode.NOT_FOUND) return false;
        throw error;
      }
    },

    httpHealthChecks: {
      get(name, call) {
        const callName = `get httpHealthCheck global/httpHealthChecks/${name}`;
        return session.find({ ...call, call: callName }, () =>
          restCall<HttpHealthCheckResource>({
            call: callName,
            method: 'GET',
            path: `global/httpHealthChecks/${encodeURIComponent(name)}`,
          }),
        );
      },
      insert(resource, call) {
        const callName = `insert httpHealthCheck global/httpHealthChecks/${resource.name}`;
        return mutate({ ...call, call: callName, scope: { global: true } }, (requestId) =>
          restCall<Operation>({
            call: callName,
            method: 'POST',
            path: 'global/httpHealthChecks',
            requestId,
            body: resource,
          }),
        );
      },
      patch(name, resource, call) {
        const callName = `patch httpHealthCheck global/httpHealthChecks/${name}`;
        return mutate({ ...call, call: callName, scope: { global: true } }, (requestId) =>
          restCall<Operation>({
            call: callName,
            method: 'PATCH',
            path: `global/httpHealthChecks/${encodeURIComponent(name)}`,
            requestId,
            body: resource,
          }),
        );
      },
      delete(name, call) {
        const callName = `delete httpHealthCheck global/httpHealthChecks/${name}`;
        return session.mutateIfFound({ ...call, call: callName, scope: { global: true } }, (requestId) =>
          restCall<Operation>({
            call: callName,
            method: 'DELETE',
            path: `global/httpHealthChecks/${encodeURIComponent(name)}`,
            requestId,
          }),
        );
      },
    },

    async close() {
      closed = true;
      const open = [...made.values()];
      made.clear();
      await Promise.all(open.map((client) => client.close()));
    },
  };
  return session;
}
