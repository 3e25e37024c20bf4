/**
 * What the SDK's GCE suites share: a world of the testkit's Compute API server (the real
 * `@google-cloud/compute` client on loopback, every inserted VM booted the way GCE boots it: its own
 * network namespace, the real startup script, the kubelet stand-in running the static pods with real
 * etcd and real Kubernetes binaries; a load balancer with a data path), the GCE provider and the SDK;
 * what hacp made, read from the server; and the check that nothing went past loopback or the VPC.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGceProvider } from '@hacp/provider-gce';
import { type ComputeApiServer, startComputeApiServer } from '@hacp/testkit';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { createControlPlane } from './control-plane.js';
import { addonManagerProgram } from './kubernetes/components.js';
import { etcdctlAt, etcdOnlyByDefault, expectMembersMatchReplicas } from './test-support.js';
import type { ControlPlane } from './types.js';

export const PROJECT = 'hacp-test';
export const CLUSTER = 'kubernetes';
export const REGION = 'europe-west1';
export const ZONES = ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'] as const;

export interface GceWorld {
  server: ComputeApiServer;
  provider: ReturnType<typeof createGceProvider>;
  controlPlane: ControlPlane;
  dataDir: string;
  etcdctl(args: string[]): Promise<string>;
  cleanup(): Promise<void>;
}

// Every socket this process opens (the Google client's included) and every name it looks up, so
// the suite can show that nothing went past loopback: no token fetch, no metadata server, no API.
const connections: string[] = [];
const lookups: string[] = [];
const onSocket = (message: unknown) => {
  const { socket } = message as { socket: import('node:net').Socket };
  socket.once('connect', () => connections.push(socket.remoteAddress ?? '?'));
  socket.once('lookup', (_error: unknown, _address: unknown, _family: unknown, host: string) =>
    lookups.push(host),
  );
};

/** The CIDRs of every VPC a test server of this file made. */
const vpcCidrs: string[] = [];
const toNumber = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
function inVpc(address: string): boolean {
  return vpcCidrs.some((cidr) => {
    const [base = '', bits = '32'] = cidr.split('/');
    const size = 2 ** (32 - Number(bits));
    return Math.floor(toNumber(address) / size) === Math.floor(toNumber(base) / size);
  });
}

/** What a GCE world is made with. */
export interface GceWorldOptions {
  /** The default mode (Kubernetes on every replica); else etcd-only. */
  kubernetes?: boolean;
  /** `timeouts.healthy`. */
  healthyMs?: number;
  /** More HACP_* overrides for every VM's startup script (the VM runtime's `startupEnv`). */
  startupEnv?: Readonly<Record<string, string>>;
}

async function gceWorld(options: GceWorldOptions = {}): Promise<GceWorld> {
  const root = await mkdtemp(join(process.env.HACP_LOCAL_TEST_ROOT ?? tmpdir(), 'hacp-sdk-gce-'));
  const server = await startComputeApiServer({
    projects: [PROJECT],
    // The add-on manager image runs hacp's add-on manager; the Kubernetes images the release mirror's binaries.
    runtime: {
      dir: join(root, 'compute'),
      images: { addonManager: [process.execPath, addonManagerProgram()] },
      ...(options.startupEnv === undefined ? {} : { startupEnv: options.startupEnv }),
    },
  });
  vpcCidrs.push(...(server.runtime?.vpc.cidrs ?? []));
  const provider = createGceProvider({
    project: PROJECT,
    region: 'europe-west1',
    apiEndpoint: server.url,
    reach: 'direct',
    retry: { attempts: 4, baseDelayMs: 50 },
  });
  const dataDir = join(root, 'clusters', CLUSTER);
  const created = createControlPlane({
    provider,
    cluster: CLUSTER,
    dataDir,
    timeouts: { drain: 200, ...(options.healthyMs === undefined ? {} : { healthy: options.healthyMs }) },
  });
  const controlPlane = options.kubernetes === true ? created : etcdOnlyByDefault(created);
  const etcdctl = async (args: string[]) => {
    const instances = await provider.instances.list({ cluster: CLUSTER });
    const endpoints = instances.map((instance) => `https://${instance.internalIp}:2379`);
    return etcdctlAt({ dataDir, endpoints, args });
  };
  return {
    server,
    provider,
    controlPlane,
    dataDir,
    etcdctl,
    cleanup: async () => {
      server.faults.clear();
      await controlPlane.down().catch(() => undefined);
      await controlPlane.close();
      await provider.close?.();
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** What hacp made in the project, by kind, read from the server (not through the provider). */
export function resources(server: ComputeApiServer) {
  const project = server.state()[PROJECT];
  if (project === undefined) throw new Error(`the server has no project ${PROJECT}`);
  const names = (list: readonly unknown[]) =>
    list.map((resource) => (resource as { name: string }).name).sort();
  return {
    instances: names(project.instances),
    disks: names(project.disks),
    addresses: names(project.addresses),
    targetPools: names(project.targetPools),
    forwardingRules: names(project.forwardingRules),
    httpHealthChecks: names(project.httpHealthChecks),
    firewalls: names(project.firewalls),
  };
}

/** What `down` leaves in the project: nothing of any kind. */
export const NOTHING = {
  instances: [],
  disks: [],
  addresses: [],
  targetPools: [],
  forwardingRules: [],
  httpHealthChecks: [],
  firewalls: [],
};

export async function expectConsistent(w: GceWorld, count: number) {
  const status = await w.controlPlane.status();
  const replicas = expectMembersMatchReplicas(status, count);
  const made = resources(w.server);
  expect(made.instances).toEqual(replicas);
  // One data disk per replica, kube-up's `<vm>-pd`.
  expect(made.disks.filter((disk) => disk.endsWith('-pd'))).toEqual(
    replicas.map((name) => `${name}-pd`).sort(),
  );
  if (count === 1) {
    expect(status.endpoint).toMatchObject({ mode: 'attached', attachedTo: status.replicas[0]?.name });
    expect(made.forwardingRules).toEqual([]);
    expect(made.targetPools).toEqual([]);
  } else {
    expect(status.endpoint.mode).toBe('load-balanced');
    expect(status.endpoint.targets.map((t) => t.replica).sort()).toEqual(replicas);
    expect(status.endpoint.targets.every((t) => t.healthy)).toBe(true);
    expect(made.forwardingRules).toEqual([`${CLUSTER}-master`]);
    expect(made.targetPools).toEqual([`${CLUSTER}-master`]);
  }
  return status;
}

/** Calls that change something: not reads, operation waits or health queries (POSTs that change nothing). */
export const mutating = (server: ComputeApiServer) =>
  server.requests.filter(
    (request) =>
      request.httpMethod !== 'GET' &&
      !request.path.endsWith('/wait') &&
      request.method !== 'compute.targetPools.getHealth',
  );

/**
 * What `gcloud compute ...` sends: the Compute API's REST call, straight to the test server (not
 * through hacp's provider), and a wait on its operation.
 */
export async function gcloud(
  server: ComputeApiServer,
  method: 'POST' | 'DELETE',
  path: string,
  body?: unknown,
) {
  const base = `${server.url}/compute/v1/projects/${PROJECT}`;
  const response = await fetch(`${base}/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const operation = (await response.json()) as { name: string; zone?: string; region?: string };
  expect(response.status, `${method} ${path}: ${JSON.stringify(operation)}`).toBe(200);
  const last = (url: string) => url.slice(url.lastIndexOf('/') + 1);
  const scope = operation.zone
    ? `zones/${last(operation.zone)}`
    : operation.region
      ? `regions/${last(operation.region)}`
      : 'global';
  const waited = await fetch(`${base}/${scope}/operations/${operation.name}/wait`, { method: 'POST' });
  const done = (await waited.json()) as { status: string; error?: unknown };
  expect(done).toMatchObject({ status: 'DONE' });
  expect(done.error).toBeUndefined();
}

/**
 * Registers this file's hooks: every socket is watched (nothing may go past loopback or a test
 * server's VPC, no name looked up but localhost), and each test's world is cleaned up after it.
 * Returns `create`, which makes a world for the running test.
 */
export function useGceWorlds(): {
  create: (options?: GceWorldOptions) => Promise<GceWorld>;
} {
  let world: GceWorld | undefined;
  beforeAll(() => subscribe('net.client.socket', onSocket));
  afterAll(() => {
    unsubscribe('net.client.socket', onSocket);
    expect(connections.length).toBeGreaterThan(0);
    // Loopback, or the test server's VPC: addresses inside network namespaces the server made.
    expect(connections.filter((address) => !address.startsWith('127.') && !inVpc(address))).toEqual([]);
    expect(lookups.filter((host) => host !== 'localhost')).toEqual([]);
  });
  afterEach(async () => {
    await world?.cleanup();
    world = undefined;
  });
  return {
    create: async (options) => {
      world = await gceWorld(options);
      return world;
    },
  };
}
