/**
 * The SDK's lifecycle through the GCE provider, against the testkit's Compute API server: the real
 * `@google-cloud/compute` client on loopback, every inserted VM booted the way GCE boots it (its own
 * network namespace, the real startup script, the kubelet stand-in running the static pods with real
 * etcd and real Kubernetes binaries), and a load balancer with a data path, so membership, health
 * checks, the endpoint and data are real.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHacpError } from '@hacp/core';
import { createGceProvider } from '@hacp/provider-gce';
import { type ComputeApiServer, startComputeApiServer, testKubernetesBinaries } from '@hacp/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createControlPlane } from './control-plane.js';
import { addonManagerProgram } from './kubernetes/components.js';
import { kubeApi, readyz } from './kubernetes.test-support.js';
import { journalKey } from './record.js';
import { etcdctlAt, etcdOnlyByDefault, membersMatchReplicas } from './test-support.js';
import type { ControlPlane } from './types.js';

const PROJECT = 'hacp-test';
const CLUSTER = 'kubernetes';
const ZONES = ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'] as const;

interface GceWorld {
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
beforeAll(() => subscribe('net.client.socket', onSocket));
afterAll(() => {
  unsubscribe('net.client.socket', onSocket);
  expect(connections.length).toBeGreaterThan(0);
  // Loopback, or the test server's VPC: addresses inside network namespaces the server made.
  expect(connections.filter((address) => !address.startsWith('127.') && !inVpc(address))).toEqual([]);
  expect(lookups.filter((host) => host !== 'localhost')).toEqual([]);
});

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

let world: GceWorld | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

async function gceWorld(options: { kubernetes?: boolean; healthyMs?: number } = {}): Promise<GceWorld> {
  const root = await mkdtemp(join(process.env.HACP_LOCAL_TEST_ROOT ?? tmpdir(), 'hacp-sdk-gce-'));
  const server = await startComputeApiServer({
    projects: [PROJECT],
    // The add-on manager image runs hacp's add-on manager; the Kubernetes images the release mirror's binaries.
    runtime: {
      dir: join(root, 'compute'),
      images: { addonManager: [process.execPath, addonManagerProgram()] },
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
function resources(server: ComputeApiServer) {
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
const NOTHING = {
  instances: [],
  disks: [],
  addresses: [],
  targetPools: [],
  forwardingRules: [],
  httpHealthChecks: [],
  firewalls: [],
};

async function expectConsistent(w: GceWorld, count: number) {
  const status = await w.controlPlane.status();
  const view = membersMatchReplicas(status);
  expect(view.members).toEqual(view.replicas);
  expect(view.replicas).toHaveLength(count);
  expect(view.voters).toBe(true);
  expect(view.healthy).toBe(true);
  const made = resources(w.server);
  expect(made.instances).toEqual(view.replicas);
  // One data disk per replica, kube-up's `<vm>-pd`.
  expect(made.disks.filter((disk) => disk.endsWith('-pd'))).toEqual(
    view.replicas.map((name) => `${name}-pd`).sort(),
  );
  if (count === 1) {
    expect(status.endpoint).toMatchObject({ mode: 'attached', attachedTo: status.replicas[0]?.name });
    expect(made.forwardingRules).toEqual([]);
    expect(made.targetPools).toEqual([]);
  } else {
    expect(status.endpoint.mode).toBe('load-balanced');
    expect(status.endpoint.targets.map((t) => t.replica).sort()).toEqual(view.replicas);
    expect(status.endpoint.targets.every((t) => t.healthy)).toBe(true);
    expect(made.forwardingRules).toEqual([`${CLUSTER}-master`]);
    expect(made.targetPools).toEqual([`${CLUSTER}-master`]);
  }
  return status;
}

/** Calls that change something: not reads, operation waits or health queries (POSTs that change nothing). */
const mutating = (server: ComputeApiServer) =>
  server.requests.filter(
    (request) =>
      request.httpMethod !== 'GET' &&
      !request.path.endsWith('/wait') &&
      request.method !== 'compute.targetPools.getHealth',
  );

const kube = await testKubernetesBinaries('latest-1.32');

/** The Kubernetes API through the endpoint address, whatever holds it: the VM's NAT IP or the load balancer. */
async function expectApiThroughEndpoint(kubeconfig: string | undefined, leases: Set<string>): Promise<void> {
  expect(kubeconfig).toBeDefined();
  const api = kubeApi(kubeconfig as string);
  expect(await readyz(api.config)).toBe('ok');
  // A write and a read through the endpoint: the lease of this step.
  const name = `step-${leases.size}`;
  await api.coordination.createNamespacedLease({
    namespace: 'default',
    body: { metadata: { name }, spec: { holderIdentity: 'gce-lifecycle-test' } },
  });
  leases.add(name);
  const listed = await api.coordination.listNamespacedLease({ namespace: 'default' });
  expect(
    new Set(listed.items.map((lease) => lease.metadata?.name).filter((n) => n?.startsWith('step-'))),
  ).toEqual(leases);
}

describe.skipIf(kube.skip !== undefined)(
  `the SDK on the GCE provider, default mode (${kube.skip ?? `Kubernetes ${kube.binaries?.version}`})`,
  () => {
    it('grows 1→3 across three zones and back to 1, the API answering through the endpoint at each step', async () => {
      world = await gceWorld({ kubernetes: true });
      const w = world;
      const leases = new Set<string>();
      const up = await w.controlPlane.up({
        zone: ZONES[0],
        multizone: true,
        kubernetesVersion: 'latest-1.32',
      });
      expect(up.kubernetesVersion).toBe(kube.binaries?.version);
      await expectConsistent(w, 1);
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      expect(resources(w.server).addresses).toContain(`${CLUSTER}-master-ip`);

      await w.controlPlane.replicate({ zone: ZONES[1] });
      await expectConsistent(w, 2);
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      await w.controlPlane.replicate({ zone: ZONES[2] });
      const three = await expectConsistent(w, 3);
      expect(new Set(three.replicas.map((replica) => replica.zone))).toEqual(new Set(ZONES));
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      // Every replica runs the whole control plane, each static pod started by the kubelet stand-in.
      for (const replica of three.replicas) {
        const pods = (w.server.runtime?.podStatus(replica.name, replica.zone) ?? { pods: [] }) as {
          pods: { name: string; containers: { state: string; ready: boolean }[] }[];
        };
        expect(pods.pods.map((pod) => pod.name).sort(), replica.name).toEqual(
          [
            'etcd',
            'hacp-health',
            'kube-addon-manager',
            'kube-apiserver',
            'kube-controller-manager',
            'kube-scheduler',
          ].map((name) => expect.stringContaining(name)),
        );
        expect(pods.pods.flatMap((pod) => pod.containers.map((c) => c.state))).not.toContain('waiting');
      }

      await w.controlPlane.remove({ zone: ZONES[2] });
      await expectConsistent(w, 2);
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      await w.controlPlane.remove({ zone: ZONES[1] });
      await expectConsistent(w, 1);
      await expectApiThroughEndpoint(up.kubeconfig, leases);
      expect(resources(w.server).httpHealthChecks).toEqual([]);

      // Every mutating call carried a GCE request id (a UUID), and the API was called on loopback only.
      for (const request of mutating(w.server)) {
        expect(request.requestId, `${request.httpMethod} ${request.path}`).toMatch(
          /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
        );
      }
      expect(w.server.requests.every((request) => (request.remoteAddress ?? '').startsWith('127.'))).toBe(
        true,
      );
      expect(w.server.runtimeErrors).toEqual([]);

      await w.controlPlane.down();
      expect(resources(w.server)).toEqual({
        instances: [],
        disks: [],
        addresses: [],
        targetPools: [],
        forwardingRules: [],
        httpHealthChecks: [],
        firewalls: [],
      });
    }, 600_000);
  },
);

describe('the SDK on the GCE provider, a replica whose control plane cannot start', () => {
  it('up does not finish while kube-apiserver cannot start (its image cannot be pulled), and says which', async () => {
    // v1.31.2's images are not on this machine: the kubelet reports ErrImagePull for the three Kubernetes pods.
    world = await gceWorld({ kubernetes: true, healthyMs: 20_000 });
    const w = world;
    const error = await w.controlPlane
      .up({ zone: ZONES[0], multizone: true, kubernetesVersion: 'v1.31.2' })
      .catch((caught: unknown) => caught);
    expect(isHacpError(error, 'TIMEOUT')).toBe(true);
    expect((error as Error).message).toMatch(/kube-apiserver/);
    // The kubelet saw why: the pod's image could not be pulled.
    const [replica] = resources(w.server).instances;
    const pods = w.server.runtime?.podStatus(String(replica), ZONES[0]) as {
      pods: { name: string; containers: { reason?: string }[] }[];
    };
    const apiserver = pods.pods.find((pod) => pod.name.includes('kube-apiserver'));
    expect(apiserver?.containers[0]?.reason).toBe('ErrImagePull');
  }, 180_000);
});

describe('the SDK on the GCE provider (Compute API test server, etcd-only replicas)', () => {
  it('grows 1→3 and back to 1 keeping the data in etcd', async () => {
    world = await gceWorld();
    const w = world;
    await w.controlPlane.up({ zone: ZONES[0], multizone: true });
    await expectConsistent(w, 1);
    await w.etcdctl(['put', 'hacp/one', '1']);
    await w.controlPlane.replicate({ zone: ZONES[1] });
    await expectConsistent(w, 2);
    await w.etcdctl(['put', 'hacp/two', '2']);
    await w.controlPlane.replicate({ zone: ZONES[2] });
    await expectConsistent(w, 3);
    expect(resources(w.server).httpHealthChecks).toEqual([`${CLUSTER}-master-hc`]);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/one'])).toBe('1');
    await w.controlPlane.remove({ zone: ZONES[2] });
    await w.controlPlane.remove({ zone: ZONES[1] });
    await expectConsistent(w, 1);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/two'])).toBe('2');
    await w.controlPlane.down();
    expect(resources(w.server)).toEqual(NOTHING);
  }, 300_000);

  it('refuses a zone in another region before any mutating API call', async () => {
    world = await gceWorld();
    const w = world;
    await w.controlPlane.up({ zone: ZONES[0], multizone: true });
    const before = mutating(w.server).length;
    const stateBefore = JSON.stringify(w.server.state());
    const error = await w.controlPlane
      .replicate({ zone: 'us-central1-a' })
      .catch((caught: unknown) => caught);
    expect(isHacpError(error, 'ZONE_NOT_IN_REGION')).toBe(true);
    expect(mutating(w.server).length).toBe(before);
    expect(JSON.stringify(w.server.state())).toBe(stateBefore);
  }, 120_000);

  it('says why it cannot reach etcd (no gcloud for the IAP tunnel) instead of calling replicas unhealthy', async () => {
    world = await gceWorld();
    const w = world;
    await w.controlPlane.up({ zone: ZONES[0], multizone: true });
    const throughIap = createGceProvider({
      project: PROJECT,
      region: 'europe-west1',
      apiEndpoint: w.server.url,
      reach: 'iap',
      gcloud: '/nonexistent/hacp-test/gcloud',
    });
    const operator = createControlPlane({ provider: throughIap, cluster: CLUSTER, dataDir: w.dataDir });
    try {
      const error = await operator.status().catch((caught: unknown) => caught);
      expect(isHacpError(error, 'DEPENDENCY_MISSING')).toBe(true);
      expect((error as Error).message).toMatch(/cannot reach etcd on any replica/);
      expect((error as { actions: string[] }).actions.join(' ')).toMatch(/gcloud/);
    } finally {
      await operator.close();
      await throughIap.close();
    }
    // The cluster itself is fine.
    await expectConsistent(w, 1);
  }, 120_000);

  it('retries rate limits and server errors in the middle of replicate, with the same request ids', async () => {
    world = await gceWorld();
    const w = world;
    await w.controlPlane.up({ zone: ZONES[0], multizone: true });
    w.server.faults.add({
      match: { method: 'compute.instances.insert' },
      effect: { kind: 'http', status: 429 },
    });
    w.server.faults.add({
      match: { method: 'compute.forwardingRules.insert' },
      effect: { kind: 'http', status: 503 },
    });
    await w.controlPlane.replicate({ zone: ZONES[1] });
    await expectConsistent(w, 2);
    const inserts = w.server.requests.filter((request) => request.method === 'compute.instances.insert');
    expect(inserts.map((request) => request.status)).toEqual([200, 429, 200]);
    // The retried insert is the same GCE request as the refused one.
    expect(inserts[2]?.requestId).toBe(inserts[1]?.requestId);
  }, 180_000);

  // Faults that outlast the retries: before the promote step the replicate rolls back cleanly and
  // runs again; after it the journal stays, and `resume` finishes.
  it.each([
    ['compute.disks.insert', 'rolled back'],
    ['compute.instances.insert', 'rolled back'],
    ['compute.targetPools.insert', 'resumable'],
    ['compute.forwardingRules.insert', 'resumable'],
    ['compute.targetPools.addInstance', 'resumable'],
  ])(
    'replicate 1→2 with %s failing: %s, then finished',
    async (method, outcome) => {
      world = await gceWorld();
      const w = world;
      await w.controlPlane.up({ zone: ZONES[0], multizone: true });
      await w.etcdctl(['put', 'hacp/kept', 'yes']);
      const quota = method === 'compute.instances.insert';
      w.server.faults.add({
        match: { method },
        times: 10,
        effect: quota ? { kind: 'operation-error', code: 'QUOTA_EXCEEDED' } : { kind: 'http', status: 500 },
      });
      const error = await w.controlPlane.replicate({ zone: ZONES[1] }).catch((caught: unknown) => caught);
      expect(isHacpError(error)).toBe(true);
      if (quota) expect((error as { code: string }).code).toBe('QUOTA_EXCEEDED');
      w.server.faults.clear();
      const record = await w.provider.state.get(journalKey(CLUSTER));
      if (outcome === 'rolled back') {
        expect((error as { details: Record<string, unknown> }).details.rolledBack).toBe(true);
        expect(record).toBeUndefined();
        await expectConsistent(w, 1);
        await w.controlPlane.replicate({ zone: ZONES[1] });
      } else {
        expect(record).toBeDefined();
        await w.controlPlane.resume();
      }
      await expectConsistent(w, 2);
      expect(await w.etcdctl(['get', '--print-value-only', 'hacp/kept'])).toBe('yes');
    },
    180_000,
  );

  it.each([
    'compute.targetPools.removeInstance',
    'compute.forwardingRules.delete',
    'compute.instances.deleteAccessConfig',
    'compute.instances.delete',
  ])(
    'remove 2→1 with %s failing: the journal stays, and resume finishes',
    async (method) => {
      world = await gceWorld();
      const w = world;
      await w.controlPlane.up({ zone: ZONES[0], multizone: true });
      await w.controlPlane.replicate({ zone: ZONES[1] });
      await w.etcdctl(['put', 'hacp/kept', 'yes']);
      w.server.faults.add({ match: { method }, times: 10, effect: { kind: 'http', status: 500 } });
      const error = await w.controlPlane.remove({ zone: ZONES[1] }).catch((caught: unknown) => caught);
      expect(isHacpError(error)).toBe(true);
      expect(await w.provider.state.get(journalKey(CLUSTER))).toBeDefined();
      w.server.faults.clear();
      await w.controlPlane.resume();
      await expectConsistent(w, 1);
      expect(await w.etcdctl(['get', '--print-value-only', 'hacp/kept'])).toBe('yes');
    },
    180_000,
  );
});

/**
 * What `gcloud compute ...` sends: the Compute API's REST call, straight to the test server (not
 * through hacp's provider), and a wait on its operation.
 */
async function gcloud(server: ComputeApiServer, method: 'POST' | 'DELETE', path: string, body?: unknown) {
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

const REGION = 'europe-west1';
const POOL = `regions/${REGION}/targetPools/${CLUSTER}-master`;
const codesOf = (warnings: readonly { code: string }[]) => warnings.map((warning) => warning.code);
const stepIdsOf = (plan: { steps: readonly { id: string }[] }) => plan.steps.map((step) => step.id);

/** A cluster of `count` replicas, one per zone. */
async function grown(count: number): Promise<GceWorld> {
  world = await gceWorld();
  await world.controlPlane.up({ zone: ZONES[0], multizone: true });
  for (const zone of ZONES.slice(1, count)) await world.controlPlane.replicate({ zone });
  await expectConsistent(world, count);
  return world;
}

/** The replica in a zone, by the server's instances. */
async function replicaIn(w: GceWorld, zone: string): Promise<string> {
  const status = await w.controlPlane.status();
  const replica = status.replicas.find((r) => r.zone === zone);
  if (replica === undefined) throw new Error(`no replica in ${zone}`);
  return replica.name;
}

/** After a repair: one more replica, then down, which leaves nothing in the project. */
async function replicateAndDown(w: GceWorld, count: number, zone: string): Promise<void> {
  await w.controlPlane.replicate({ zone });
  await expectConsistent(w, count + 1);
  await w.controlPlane.down();
  expect(resources(w.server)).toEqual(NOTHING);
}

describe('changes made outside hacp, as gcloud makes them (issue 19)', () => {
  it('`instances stop` of a replica: status says so, repair starts it (same instance and disk), replicate and down work', async () => {
    const w = await grown(2);
    await w.etcdctl(['put', 'hacp/kept', 'yes']);
    const name = await replicaIn(w, ZONES[1]);
    const before = resources(w.server);
    await gcloud(w.server, 'POST', `zones/${ZONES[1]}/instances/${name}/stop`);
    const status = await w.controlPlane.status();
    expect(status.replicas.find((r) => r.name === name)?.state).toBe('stopped');
    expect(status.warnings.find((warning) => warning.code === 'REPLICA_STOPPED')?.message).toContain(name);
    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(stepIdsOf(plan)).toEqual([`start-instance:${name}`, `wait-healthy:${name}`]);
    await w.controlPlane.repair();
    await expectConsistent(w, 2);
    // Started, not replaced: the same instances and disks.
    expect(resources(w.server)).toEqual(before);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/kept'])).toBe('yes');
    await replicateAndDown(w, 2, ZONES[2]);
  }, 300_000);

  it('`target-pools remove-instances` of a healthy replica: status warns, repair adds it back', async () => {
    const w = await grown(2);
    const name = await replicaIn(w, ZONES[1]);
    await gcloud(w.server, 'POST', `${POOL}/removeInstance`, {
      instances: [{ instance: `projects/${PROJECT}/zones/${ZONES[1]}/instances/${name}` }],
    });
    const status = await w.controlPlane.status();
    expect(status.endpoint.targets.map((target) => target.replica)).not.toContain(name);
    expect(status.warnings.find((warning) => warning.code === 'TARGET_MISSING')?.message).toContain(name);
    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(stepIdsOf(plan)).toEqual([`add-target:${name}`]);
    await w.controlPlane.repair();
    await expectConsistent(w, 2);
    expect(codesOf((await w.controlPlane.status()).warnings)).not.toContain('TARGET_MISSING');
    await replicateAndDown(w, 2, ZONES[2]);
  }, 300_000);

  it('`instances delete` of a replica: status warns, repair removes its target and member, replicate and down leave nothing', async () => {
    const w = await grown(3);
    const name = await replicaIn(w, ZONES[2]);
    await gcloud(w.server, 'DELETE', `zones/${ZONES[2]}/instances/${name}`);
    const status = await w.controlPlane.status();
    expect(codesOf(status.warnings)).toEqual(
      expect.arrayContaining(['INSTANCE_MISSING', 'TARGET_WITHOUT_INSTANCE']),
    );
    // gcloud kept its data disk and internal address.
    expect(resources(w.server).disks).toContain(`${name}-pd`);
    // A replicate now is refused before it changes anything (its member is down): the project's
    // resources stay, and the only writes are the lock's, in project metadata.
    const before = resources(w.server);
    const calls = mutating(w.server).length;
    const refused = await w.controlPlane.replicate({ zone: ZONES[2] }).catch((caught: unknown) => caught);
    expect(isHacpError(refused, 'QUORUM_AT_RISK')).toBe(true);
    expect(resources(w.server)).toEqual(before);
    expect(
      mutating(w.server)
        .slice(calls)
        .filter((request) => request.method !== 'compute.projects.setCommonInstanceMetadata'),
    ).toEqual([]);
    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(stepIdsOf(plan)).toEqual([
      `drop-target:${name}`,
      `remove-member:${name}`,
      `delete-instance:${name}`,
    ]);
    await w.controlPlane.repair();
    await expectConsistent(w, 2);
    expect(resources(w.server).disks).not.toContain(`${name}-pd`);
    expect(resources(w.server).addresses).not.toContain(`${name}-internal`);
    // The next replica gets the same name again (names come from the replicas and members, which
    // are as they were before it), so it goes to another zone: the test server's VM runtime keeps
    // a deleted disk's files and would boot a new disk of that name on the old member's data.
    await replicateAndDown(w, 2, ZONES[0]);
  }, 360_000);

  it('`instances delete` of a replica, then `replace --replica` it: a new replica in its zone', async () => {
    const w = await grown(3);
    const name = await replicaIn(w, ZONES[2]);
    await gcloud(w.server, 'DELETE', `zones/${ZONES[2]}/instances/${name}`);
    const before = resources(w.server);
    await w.controlPlane.replace({ name });
    // What the deleted instance left went with its member: its disk and internal address.
    expect(before.disks).toContain(`${name}-pd`);
    const status = await expectConsistent(w, 3);
    expect(status.replicas.map((r) => r.name)).not.toContain(name);
    expect(status.replicas.filter((r) => r.zone === ZONES[2])).toHaveLength(1);
    await w.controlPlane.down();
    expect(resources(w.server)).toEqual(NOTHING);
  }, 360_000);

  it('`forwarding-rules delete`: status says the endpoint is detached with no operation, repair makes the rule again', async () => {
    const w = await grown(2);
    const address = (await w.controlPlane.status()).endpoint.address;
    await gcloud(w.server, 'DELETE', `regions/${REGION}/forwardingRules/${CLUSTER}-master`);
    const status = await w.controlPlane.status();
    expect(status.endpoint.mode).toBe('detached');
    expect(status.operation).toBeUndefined();
    expect(status.warnings.find((warning) => warning.code === 'ENDPOINT_DETACHED')?.message).toContain(
      'hacp repair',
    );
    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(stepIdsOf(plan)).toEqual(['restore-endpoint']);
    await w.controlPlane.repair();
    const after = await expectConsistent(w, 2);
    expect(after.endpoint.address).toBe(address);
    expect(codesOf(after.warnings)).not.toContain('ENDPOINT_DETACHED');
    await replicateAndDown(w, 2, ZONES[2]);
  }, 300_000);
});
