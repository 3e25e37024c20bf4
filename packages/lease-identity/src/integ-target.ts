/**
 * Where the integration tests run: the testkit's Lease API server over real HTTPS always, and a real
 * cluster as well when HACP_TEST_KUBECONFIG names a kubeconfig. The same tests run on both; what only
 * the test server can do (a forbidden token, hooks inside the server) is marked where it is used.
 * Test support, not exported from the package.
 */
import { randomBytes } from 'node:crypto';
import { type LeaseApiServer, startLeaseApiServer } from '@hacp/testkit';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { LeaseApi } from './lease-store.js';

const REAL_KUBECONFIG = process.env.HACP_TEST_KUBECONFIG;

/** A running target, with a fresh namespace of its own for the test file. */
export interface TargetEnv {
  /** A KubeConfig with full access to leases. */
  kubeConfig(): KubeConfig;
  api(): CoordinationV1Api;
  /** A namespace created for this run; deleted (on a cluster) at the end. */
  namespace: string;
  /** The test server, when that is the target: its request log, hooks and forbidden token. */
  server: LeaseApiServer | undefined;
  /** A name no other run uses: `<prefix>-<random>`. */
  unique(prefix: string): string;
  stop(): Promise<void>;
}

export interface Target {
  title: string;
  skip: boolean;
  /** The test server: its hooks, request log and forbidden token are there. */
  testServer: boolean;
  start(): Promise<TargetEnv>;
}

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

async function startTestServer(): Promise<TargetEnv> {
  const server = await startLeaseApiServer();
  const namespace = unique('hacp-test');
  server.createNamespace(namespace);
  const kubeConfig = () => {
    const config = new KubeConfig();
    config.loadFromString(server.kubeconfig());
    return config;
  };
  return {
    kubeConfig,
    api: () => kubeConfig().makeApiClient(CoordinationV1Api),
    namespace,
    server,
    unique,
    stop: () => server.stop(),
  };
}

async function startRealCluster(): Promise<TargetEnv> {
  const kubeConfig = () => {
    const config = new KubeConfig();
    config.loadFromFile(REAL_KUBECONFIG ?? '');
    return config;
  };
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const namespace = unique('hacp-test');
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  return {
    kubeConfig,
    api: () => kubeConfig().makeApiClient(CoordinationV1Api),
    namespace,
    server: undefined,
    unique,
    stop: async () => {
      await core.deleteNamespace({ name: namespace });
    },
  };
}

/** Every target; the real cluster is skipped, with a title that says how to enable it, unless configured. */
export const TARGETS: readonly Target[] = [
  { title: 'against the Lease API test server', skip: false, testServer: true, start: startTestServer },
  {
    title: 'against a real cluster (set HACP_TEST_KUBECONFIG)',
    skip: REAL_KUBECONFIG === undefined || REAL_KUBECONFIG === '',
    testServer: false,
    start: startRealCluster,
  },
];

type LeaseMethod = keyof LeaseApi;

/**
 * The lease API with `before` run ahead of every call: how a test changes the world between two calls
 * the code makes, on the test server and on a real cluster alike.
 */
export function interceptedApi(
  api: LeaseApi,
  before: (method: LeaseMethod, name: string | undefined) => void | Promise<void>,
): LeaseApi {
  return {
    readNamespacedLease: async (param, options) => {
      await before('readNamespacedLease', param.name);
      return api.readNamespacedLease(param, options);
    },
    createNamespacedLease: async (param, options) => {
      await before('createNamespacedLease', param.body.metadata?.name);
      return api.createNamespacedLease(param, options);
    },
    replaceNamespacedLease: async (param, options) => {
      await before('replaceNamespacedLease', param.name);
      return api.replaceNamespacedLease(param, options);
    },
    listNamespacedLease: async (param, options) => {
      await before('listNamespacedLease', undefined);
      return api.listNamespacedLease(param, options);
    },
    deleteNamespacedLease: async (param, options) => {
      await before('deleteNamespacedLease', param.name);
      return api.deleteNamespacedLease(param, options);
    },
  };
}

/**
 * The lease API with each call timed: a bound on what the code does between two API calls (a
 * takeover, a renewal) holds on a loaded machine only with the API's own latency added, so tests add
 * the slowest round trip they saw instead of a fixed allowance.
 */
export function timedApi(api: LeaseApi): {
  api: LeaseApi;
  slowestMs(): number;
  busyMsBefore(at: number): number;
} {
  let slowest = 0;
  const calls: { from: number; to: number }[] = [];
  const timed =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const startedAt = performance.now();
      try {
        return await call(...args);
      } finally {
        const endedAt = performance.now();
        slowest = Math.max(slowest, endedAt - startedAt);
        calls.push({ from: startedAt, to: endedAt });
      }
    };
  return {
    api: {
      readNamespacedLease: timed((param, options) => api.readNamespacedLease(param, options)),
      createNamespacedLease: timed((param, options) => api.createNamespacedLease(param, options)),
      replaceNamespacedLease: timed((param, options) => api.replaceNamespacedLease(param, options)),
      listNamespacedLease: timed((param, options) => api.listNamespacedLease(param, options)),
      deleteNamespacedLease: timed((param, options) => api.deleteNamespacedLease(param, options)),
    },
    slowestMs: () => slowest,
    // One candidate's calls follow one another: their sum is the time it waited on the API.
    busyMsBefore: (at) =>
      calls
        .filter((call) => call.from < at)
        .reduce((sum, call) => sum + Math.min(call.to, at) - call.from, 0),
  };
}

/** The lease API with every call failing as an unreachable server does: a network partition. */
export function partitionableApi(api: LeaseApi): { api: LeaseApi; cut(): void; heal(): void } {
  let cut = false;
  return {
    api: interceptedApi(api, () => {
      if (cut)
        throw Object.assign(new Error('connect ECONNREFUSED (partitioned by the test)'), {
          code: 'ECONNREFUSED',
        });
    }),
    cut: () => {
      cut = true;
    },
    heal: () => {
      cut = false;
    },
  };
}

/** Resolves after `ms` of real time (ref'd: a test waits for it). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (performance.now() > deadline) return false;
    await pause(10);
  }
}
