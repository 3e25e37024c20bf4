/**
 * The five lease calls everything here makes, behind one small interface: the client-backed store
 * below in production, an in-memory one with a controllable clock in the property tests.
 */
import { invalidArgument } from '@hacp/core';
import {
  type ConfigurationOptions,
  CoordinationV1Api,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
} from '@kubernetes/client-node';
import { type LeaseCall, type LeaseVerb, leaseApiError } from './api-errors.js';

/** The CoordinationV1Api methods this package calls; a CoordinationV1Api, or a wrapper of one, has them. */
export type LeaseApi = Pick<
  CoordinationV1Api,
  | 'readNamespacedLease'
  | 'createNamespacedLease'
  | 'replaceNamespacedLease'
  | 'listNamespacedLease'
  | 'deleteNamespacedLease'
>;

/** How to reach the Lease API: a loaded KubeConfig, or a CoordinationV1Api (or anything with its lease methods). */
export type LeaseClient = KubeConfig | LeaseApi;

/**
 * Lease reads and writes. Every method throws only HacpErrors: NOT_FOUND, CONFLICT, ALREADY_EXISTS,
 * PERMISSION_DENIED, UNAUTHENTICATED, INVALID_ARGUMENT, UNAVAILABLE, or the signal's reason.
 */
export interface LeaseStore {
  read(options: { namespace: string; name: string; signal?: AbortSignal }): Promise<V1Lease>;
  create(options: { namespace: string; lease: V1Lease; signal?: AbortSignal }): Promise<V1Lease>;
  /** A PUT of the whole object; `lease.metadata.resourceVersion` is the precondition. */
  replace(options: { namespace: string; lease: V1Lease; signal?: AbortSignal }): Promise<V1Lease>;
  list(options: { namespace: string; labelSelector: string; signal?: AbortSignal }): Promise<V1Lease[]>;
  /** Deletes only while the lease is still at `resourceVersion`, when given. */
  remove(options: {
    namespace: string;
    name: string;
    resourceVersion?: string;
    signal?: AbortSignal;
  }): Promise<void>;
}

/** Who is calling, for error messages and RBAC suggestions. */
export interface LeaseStoreUse {
  purpose: string;
  verbs: readonly LeaseVerb[];
}

function isLeaseApi(client: unknown): client is LeaseApi {
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof (client as LeaseApi).readNamespacedLease === 'function' &&
    typeof (client as LeaseApi).replaceNamespacedLease === 'function'
  );
}

/**
 * The CoordinationV1Api behind `client`.
 *
 * @throws HacpError INVALID_ARGUMENT when `client` is neither a KubeConfig nor a lease API, or the
 *   KubeConfig has no current cluster.
 */
export function leaseApiOf(client: unknown): LeaseApi {
  if (client instanceof KubeConfig) {
    if (!client.getCurrentCluster()) {
      throw invalidArgument({
        field: 'client',
        message: 'The KubeConfig has no current cluster: load one (loadFromDefault, loadFromFile) first.',
      });
    }
    return client.makeApiClient(CoordinationV1Api);
  }
  if (isLeaseApi(client)) return client;
  throw invalidArgument({
    field: 'client',
    message:
      'client must be a KubeConfig or a CoordinationV1Api (kubeConfig.makeApiClient(CoordinationV1Api)).',
  });
}

/**
 * Per-call options that hand `signal` to the HTTP request, so an abort or a timeout closes the request
 * instead of leaving it running. The object-parameter API runs per-call middleware on its Observable
 * stub, so the middleware answers with client-node's Observable.
 */
function withSignal(signal: AbortSignal | undefined): ConfigurationOptions | undefined {
  if (signal === undefined) return undefined;
  const middleware: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** The page size of list calls; identity leases number one per apiserver, so one page is the norm. */
const LIST_PAGE = 500;

/** A LeaseStore over client-node: every error mapped once, here. */
export function leaseStoreFor(client: LeaseClient, use: LeaseStoreUse): LeaseStore {
  const api = leaseApiOf(client);
  async function call<T>(
    verb: LeaseVerb,
    where: { namespace: string; name?: string },
    signal: AbortSignal | undefined,
    run: (options: ConfigurationOptions | undefined) => Promise<T>,
  ): Promise<T> {
    const context: LeaseCall = { verb, ...where, purpose: use.purpose, verbs: use.verbs };
    try {
      return await run(withSignal(signal));
    } catch (error) {
      // An abort surfaces as node-fetch's AbortError; what matters is why the signal fired.
      if (signal?.aborted) throw signal.reason;
      throw leaseApiError(error, context);
    }
  }
  return {
    read: ({ namespace, name, signal }) =>
      call('get', { namespace, name }, signal, (options) =>
        api.readNamespacedLease({ namespace, name }, options),
      ),
    create: ({ namespace, lease, signal }) =>
      call('create', { namespace, name: lease.metadata?.name }, signal, (options) =>
        api.createNamespacedLease({ namespace, body: lease }, options),
      ),
    replace: ({ namespace, lease, signal }) => {
      const name = lease.metadata?.name ?? '';
      return call('update', { namespace, name }, signal, (options) =>
        api.replaceNamespacedLease({ namespace, name, body: lease }, options),
      );
    },
    list: ({ namespace, labelSelector, signal }) =>
      call('list', { namespace }, signal, async (options) => {
        const items: V1Lease[] = [];
        let continueToken: string | undefined;
        do {
          const page = await api.listNamespacedLease(
            {
              namespace,
              labelSelector,
              limit: LIST_PAGE,
              ...(continueToken ? { _continue: continueToken } : {}),
            },
            options,
          );
          items.push(...page.items);
          continueToken = page.metadata?._continue || undefined;
        } while (continueToken);
        return items;
      }),
    remove: ({ namespace, name, resourceVersion, signal }) =>
      call('delete', { namespace, name }, signal, async (options) => {
        await api.deleteNamespacedLease(
          {
            namespace,
            name,
            ...(resourceVersion === undefined ? {} : { body: { preconditions: { resourceVersion } } }),
          },
          options,
        );
      }),
  };
}
