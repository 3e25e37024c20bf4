/**
 * What only the GCE provider does, read back from the testkit's Compute API server (not through
 * the provider): kube-up's resource names, the order of the calls that move the endpoint between
 * a VM and the load balancer, moves interrupted after every API call and resumed, the error
 * mapping with retries, and the project-metadata state store under concurrent writers.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import compute from '@google-cloud/compute';
import { ErrorCode, isHacpError } from '@hacp/core';
import { type ComputeApiServer, createRecordingLogger, startComputeApiServer } from '@hacp/testkit';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGceProvider, type GceProvider, type GceProviderSettings } from './provider.js';
import { HEALTH_ENDPOINT_PENDING } from './startup/index.js';
import {
  ids,
  moveToLoadBalancer,
  moveToVm,
  newCluster,
  REGION,
  replicaNodeConfig,
  type TwoReplicas,
  twoReplicas,
  ZONE_B,
} from './test-support.js';

const PROJECT = 'hacp-test';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const READS = /\.(get|list|aggregatedList|wait|getHealth|getSerialPortOutput)$/;

const logger = createRecordingLogger();
let server: ComputeApiServer;
const providers: GceProvider[] = [];

beforeAll(async () => {
  server = await startComputeApiServer({ projects: [PROJECT], operationDelayMs: 2 });
});

afterAll(async () => {
  try {
    for (const provider of providers) await provider.close();
    // Every mutating request of every test carried a UUID request id, and none left loopback.
    const mutating = server.requests.filter(
      (request) => request.method !== undefined && !READS.test(request.method),
    );
    expect(mutating.length).toBeGreaterThan(50);
    for (const request of mutating)
      expect(request.requestId, `${request.method} ${request.path}`).toMatch(UUID);
    expect(server.requests.every((request) => request.remoteAddress?.startsWith('127.'))).toBe(true);
  } finally {
    await server?.close();
  }
});

function gce(settings: Partial<GceProviderSettings> = {}): GceProvider {
  const provider = createGceProvider({
    project: PROJECT,
    clientOptions: server.clientOptions,
    authClient: new PassThroughClient(),
    reach: 'direct',
    logger,
    retry: { attempts: 5, baseDelayMs: 5 },
    ...settings,
  });
  providers.push(provider);
  return provider;
}

/** What createGceProvider threw for these settings (undefined: it made a provider). */
function creationError(settings: Partial<GceProviderSettings>): unknown {
  try {
    gce(settings);
  } catch (caught) {
    return caught;
  }
  return undefined;
}

type Json = Record<string, unknown>;
const project = () => server.state()[PROJECT] as unknown as Record<string, Json[]>;
const named = (kind: string, name: string) => project()[kind]?.find((resource) => resource.name === name);
/** The project's common instance metadata items, as the server holds them. */
function metadataItems(): { key: string; value: string }[] {
  const metadata = (server.state()[PROJECT]?.project as Json | undefined)?.commonInstanceMetadata as
    | Json
    | undefined;
  return (metadata?.items as { key: string; value: string }[] | undefined) ?? [];
}
const tail = (url: unknown) =>
  String(url ?? '')
    .split('/')
    .slice(-2)
    .join('/');

/** The changes (not reads) the server accepted since request number `from`. */
function changesSince(from: number): string[] {
  return server.requests
    .slice(from)
    .filter(
      (request) => request.method !== undefined && !READS.test(request.method) && request.status === 200,
    )
    .map((request) => request.method as string);
}

/** Everything of a cluster that the moves touch, without what differs run to run (ids, times, ephemeral IPs). */
function clusterState(cluster: string): unknown {
  const state = project();
  const ours = (kind: string) =>
    (state[kind] ?? [])
      .filter((resource) => String(resource.name).startsWith(cluster))
      .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const staticIps = new Set(ours('addresses').map((address) => address.address));
  return {
    instances: ours('instances').map((instance) => ({
      name: instance.name,
      status: instance.status,
      access: ((instance.networkInterfaces as Json[])[0]?.accessConfigs as Json[] | undefined)?.map(
        (config) => ({
          name: config.name,
          natIP: staticIps.has(config.natIP) ? config.natIP : 'ephemeral',
        }),
      ),
    })),
    addresses: ours('addresses').map((address) => ({
      name: address.name,
      address: address.address,
      status: address.status,
      users: ((address.users as string[] | undefined) ?? []).map(tail),
    })),
    targetPools: ours('targetPools').map((pool) => ({
      name: pool.name,
      instances: ((pool.instances as string[] | undefined) ?? []).map(tail).sort(),
      healthChecks: ((pool.healthChecks as string[] | undefined) ?? []).map(tail),
    })),
    forwardingRules: ours('forwardingRules').map((rule) => ({
      name: rule.name,
      IPAddress: rule.IPAddress,
      portRange: rule.portRange,
      target: tail(rule.target),
    })),
    httpHealthChecks: ours('httpHealthChecks').map((check) => ({
      name: check.name,
      port: check.port,
      requestPath: check.requestPath,
    })),
    firewalls: ours('firewalls').map((rule) => ({
      name: rule.name,
      allowed: rule.allowed,
      sourceRanges: rule.sourceRanges,
      sourceTags: rule.sourceTags,
      targetTags: rule.targetTags,
    })),
  };
}

describe('kube-up’s resources, without its bugs', () => {
  it('makes the address, firewall, PD, tag, label, pool, check and forwarding rule kube-up names', async () => {
    const provider = gce({ reach: 'iap', gcloud: '/nonexistent/gcloud' });
    const world = await twoReplicas(provider);
    const { cluster, first } = world;

    const vm = named('instances', first.name) as Json;
    expect((vm.tags as Json).items).toEqual([`${cluster}-master`]);
    expect(vm.labels).toEqual({ 'hacp-cluster': cluster });
    const disks = vm.disks as Json[];
    expect(disks.find((disk) => disk.boot === true)).toMatchObject({ autoDelete: true });
    expect(disks.find((disk) => disk.boot !== true)).toMatchObject({
      deviceName: 'master-pd',
      autoDelete: false,
      source: expect.stringMatching(new RegExp(`/zones/${ZONE_B}/disks/${first.name}-pd$`)),
    });
    expect(named('disks', `${first.name}-pd`)).toMatchObject({
      sizeGb: '20',
      type: expect.stringMatching(/\/diskTypes\/pd-ssd$/),
    });
    const nic = (vm.networkInterfaces as Json[])[0] as Json;
    const internal = named('addresses', `${first.name}-internal`) as Json;
    expect(internal).toMatchObject({ addressType: 'INTERNAL' });
    expect(nic.networkIP).toBe(internal.address);
    expect((named('addresses', `${cluster}-master-ip`) as Json).addressType).toBe('EXTERNAL');
    const metadataKeys = ((vm.metadata as Json).items as Json[]).map((item) => item.key);
    expect(metadataKeys).toEqual(expect.arrayContaining(['startup-script', 'hacp-files', 'hacp-manifests']));
    expect(metadataKeys).not.toContain('hacp-node-config');
    expect(named('firewalls', `${cluster}-master-etcd`)).toMatchObject({
      sourceTags: [`${cluster}-master`],
      targetTags: [`${cluster}-master`],
      allowed: [{ IPProtocol: 'tcp', ports: ['2379-2381'] }],
    });
    // With IAP reach, the replicas-only rule has a companion from IAP's range.
    expect(named('firewalls', `${cluster}-master-etcd-iap`)).toMatchObject({
      sourceRanges: ['35.235.240.0/20'],
      targetTags: [`${cluster}-master`],
    });

    await moveToLoadBalancer(provider, world, `${cluster}-lb`);
    expect(named('targetPools', `${cluster}-master`)).toMatchObject({
      healthChecks: [expect.stringMatching(new RegExp(`/global/httpHealthChecks/${cluster}-master-hc$`))],
    });
    const hc = named('httpHealthChecks', `${cluster}-master-hc`) as Json;
    // A tcp check on 443 cannot be a legacy HTTP check: it becomes the replica's health endpoint.
    expect(hc).toMatchObject({ port: 8081, requestPath: '/healthz' });
    expect(named('firewalls', `${cluster}-master-health`)).toMatchObject({
      sourceRanges: ['35.191.0.0/16', '209.85.152.0/22', '209.85.204.0/22'],
      allowed: [{ IPProtocol: 'tcp', ports: ['8081'] }],
      targetTags: [`${cluster}-master`],
    });
    const ip = (named('addresses', `${cluster}-master-ip`) as Json).address;
    expect(named('forwardingRules', `${cluster}-master`)).toMatchObject({
      IPAddress: ip,
      IPProtocol: 'TCP',
      portRange: '443-443',
      target: expect.stringMatching(new RegExp(`/regions/${REGION}/targetPools/${cluster}-master$`)),
    });
    expect(await provider.loadBalancers.get({ name: `${cluster}-master`, region: REGION })).toMatchObject({
      address: `${cluster}-master-ip`,
      port: 443,
      healthCheck: { protocol: 'tcp', port: 443 },
      targets: [first],
    });

    // Down: nothing of the cluster is left, the PDs and internal addresses included.
    const next = ids(`${cluster}-down`);
    await provider.loadBalancers.delete({ name: `${cluster}-master`, region: REGION }, next());
    for (const ref of [world.first, world.second]) await provider.instances.delete(ref, next());
    await provider.firewalls.delete(`${cluster}-master-etcd`, next());
    await provider.addresses.release(world.address, next());
    expect(clusterState(cluster)).toEqual({
      instances: [],
      addresses: [],
      targetPools: [],
      forwardingRules: [],
      httpHealthChecks: [],
      firewalls: [],
    });
    expect(project().disks?.filter((disk) => String(disk.name).startsWith(cluster))).toEqual([]);
  });

  it('hands a PD kept by delete to the next instance of the name, saying so in its metadata (member migration)', async () => {
    const provider = gce();
    const cluster = newCluster();
    const next = ids(`${cluster}-handover`);
    const ref = { name: `${cluster}-master`, zone: ZONE_B };
    const spec = { ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) };
    const dataDisk = (vm: Json) =>
      ((vm.metadata as Json).items as { key: string; value: string }[]).find(
        (item) => item.key === 'hacp-data-disk',
      )?.value;
    const created = await provider.instances.create(spec, next());
    expect(created.dataDiskIntact).toBe(true);
    expect(dataDisk(named('instances', ref.name) as Json)).toBe('own');
    const disk = named('disks', `${ref.name}-pd`) as Json;

    await provider.instances.delete(ref, { ...next(), keepDisk: true });
    expect(await provider.instances.get(ref)).toBeUndefined();
    const kept = named('disks', `${ref.name}-pd`) as Json;
    expect(kept.id).toBe(disk.id);
    expect(kept.users ?? []).toEqual([]);

    const again = await provider.instances.create({ ...spec, dataDiskHandedOver: true }, next());
    expect(again.dataDiskIntact).toBe(true);
    const vm = named('instances', ref.name) as Json;
    expect(dataDisk(vm)).toBe('handed-over');
    // The same disk, not a new one: the startup script keeps what it holds.
    expect(named('disks', `${ref.name}-pd`)).toMatchObject({ id: disk.id });
    expect((vm.disks as Json[]).find((d) => d.boot !== true)).toMatchObject({
      source: expect.stringMatching(new RegExp(`/disks/${ref.name}-pd$`)),
    });

    await provider.instances.delete(ref, next());
    expect(named('disks', `${ref.name}-pd`)).toBeUndefined();
  });

  it('moves the address VM → load balancer with only the detach and the forwarding rule in the gap, and back', async () => {
    const provider = gce();
    const world = await twoReplicas(provider);
    const before = clusterState(world.cluster);

    let from = server.requests.length;
    await moveToLoadBalancer(provider, world, `${world.cluster}-grow`);
    const grow = changesSince(from);
    // The firewall and the check side by side, then the pool; the address's gap; the VM's way out.
    expect(grow.slice(0, 2).sort()).toEqual(['compute.firewalls.insert', 'compute.httpHealthChecks.insert']);
    expect(grow.slice(2)).toEqual([
      'compute.targetPools.insert',
      'compute.instances.deleteAccessConfig',
      'compute.forwardingRules.insert',
      'compute.instances.addAccessConfig',
    ]);
    const address = await provider.addresses.get(world.address);
    expect(address?.holder).toEqual({ kind: 'load-balancer', name: world.spec.name });

    from = server.requests.length;
    const balanced = await provider.loadBalancers.setTargets(
      { name: world.spec.name, region: REGION },
      [world.first, world.second],
      { requestId: `${world.cluster}-targets` },
    );
    expect(changesSince(from)).toEqual(['compute.targetPools.addInstance']);
    expect(balanced.targets).toEqual([world.first, world.second]);
    expect(balanced.targetHealth.map((entry) => entry.instance)).toEqual([world.first, world.second]);

    await provider.loadBalancers.setTargets({ name: world.spec.name, region: REGION }, [world.first], {
      requestId: `${world.cluster}-shrink`,
    });
    from = server.requests.length;
    await moveToVm(provider, world, `${world.cluster}-shrink`);
    const shrink = changesSince(from);
    // The last target's ephemeral config goes while the rule still serves: the gap is the rule's
    // delete and the static config's add. Then the rest, the firewall beside the pool and check.
    expect(shrink.slice(0, 3)).toEqual([
      'compute.instances.deleteAccessConfig',
      'compute.forwardingRules.delete',
      'compute.instances.addAccessConfig',
    ]);
    expect(shrink.slice(3).filter((method) => method !== 'compute.firewalls.delete')).toEqual([
      'compute.targetPools.delete',
      'compute.httpHealthChecks.delete',
    ]);
    expect(shrink.slice(3)).toContain('compute.firewalls.delete');
    expect(shrink).toHaveLength(6);
    expect(clusterState(world.cluster)).toEqual(before);
  });

  it('refuses a zone outside the region before any API call, and one not offered before any mutating call', async () => {
    const provider = gce({ region: REGION });
    const cluster = newCluster();
    const stateBefore = JSON.stringify(server.state());
    const from = server.requests.length;
    const outside = await provider.instances
      .create(
        { name: `${cluster}-master`, zone: 'us-central1-a', cluster, nodeConfig: replicaNodeConfig('x') },
        { requestId: 'z1' },
      )
      .catch((error: unknown) => error);
    expect(isHacpError(outside, ErrorCode.ZONE_NOT_IN_REGION)).toBe(true);
    // The region is the provider's setting: another region's zone is refused before any API call.
    expect(server.requests.length).toBe(from);
    const unknown = await provider.instances
      .allocateNetwork({ name: `${cluster}-master`, zone: 'europe-west1-z', cluster }, { requestId: 'z2' })
      .catch((error: unknown) => error);
    expect(isHacpError(unknown, ErrorCode.ZONE_INVALID)).toBe(true);
    expect((await provider.zones.list()).map((zone) => zone.name)).toEqual([
      'europe-west1-b',
      'europe-west1-c',
      'europe-west1-d',
    ]);
    expect(changesSince(from)).toEqual([]);
    expect(JSON.stringify(server.state())).toBe(stateBefore);
  });
});

describe('settings', () => {
  it('takes the endpoint as a URL, and needs no auth client for a plain-http one', async () => {
    // Without an auth client, a plain-http endpoint gets none (ADC would look for credentials).
    const provider = gce({ clientOptions: undefined, authClient: undefined, apiEndpoint: server.url });
    const from = server.requests.length;
    const zones = await provider.zones.list();
    expect(zones.map((zone) => zone.name)).toContain(ZONE_B);
    expect(server.requests.slice(from).map((request) => request.method)).toEqual(['compute.zones.list']);
  });

  it('runs Kubernetes programs from images, and refuses a malformed version or image before any call', () => {
    const provider = gce({ kubernetesVersion: 'v1.30.4', images: { kubeScheduler: 'mirror.example/ks:1' } });
    expect(provider.kubernetes).toEqual({ programs: 'images' });
    expect(provider.settings.kubernetesVersion).toBe('1.30.4');
    expect(provider.settings.images).toEqual({ kubeScheduler: 'mirror.example/ks:1' });
    const from = server.requests.length;
    for (const [settings, field] of [
      [{ kubernetesVersion: 'latest' }, 'kubernetesVersion'],
      [{ images: { kubeScheduler: 'ks 1' } }, 'images.kubeScheduler'],
      [{ images: { kubelet: 'mirror.example/kubelet:1' } }, 'images.kubelet'],
    ] as const) {
      const error = creationError(settings as Partial<GceProviderSettings>);
      expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT), field).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe(field);
    }
    expect(server.requests.length).toBe(from);
  });
});

describe('the boot image and its container runtime', () => {
  it('refuses an image without a container runtime and a malformed mirror, before any call, making nothing', () => {
    const from = server.requests.length;
    const stateBefore = JSON.stringify(server.state());
    for (const [settings, field, says] of [
      [
        { image: 'projects/debian-cloud/global/images/family/debian-12' },
        'image',
        'debian-12 (Debian) has no container runtime',
      ],
      [
        { image: 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts' },
        'image',
        "ubuntu-2204-lts (Ubuntu's plain images) has no container runtime",
      ],
      [
        { registryMirrors: { 'docker.io': ['ftp://mirror.example.com'] } },
        'registryMirrors["docker.io"][0]',
        'not a registry mirror',
      ],
    ] as const) {
      const error = creationError(settings as Partial<GceProviderSettings>);
      expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT), field).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe(field);
      expect((error as Error).message).toContain(says);
    }
    expect(server.requests.length).toBe(from);
    expect(JSON.stringify(server.state())).toBe(stateBefore);
  });

  it("gives replicas kube-up's Docker Hub mirror by default, and the mirrors it is given", async () => {
    expect(gce().settings.registryMirrors).toEqual({ 'docker.io': ['https://mirror.gcr.io'] });
    const provider = gce({ registryMirrors: { 'docker.io': ['mirror.example.com:5000'] } });
    expect(provider.settings.registryMirrors).toEqual({ 'docker.io': ['https://mirror.example.com:5000'] });
    const cluster = newCluster();
    const ref = { name: `${cluster}-master`, zone: ZONE_B };
    const next = ids(cluster);
    await provider.instances.create({ ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) }, next());
    const items = ((named('instances', ref.name) as Json).metadata as Json).items as {
      key: string;
      value: string;
    }[];
    const hosts = items.find((item) => item.key === 'hacp-registry-hosts')?.value ?? '';
    const [registry, data] = hosts.split(' ');
    expect(registry).toBe('docker.io');
    expect(Buffer.from(data ?? '', 'base64').toString()).toContain(
      '[host."https://mirror.example.com:5000"]',
    );
    expect(items.find((item) => item.key === 'hacp-containerd-config')?.value).toContain(
      'SystemdCgroup = true',
    );
    await provider.instances.delete(ref, next());
  });
});

describe('replicas that run the control plane from images', () => {
  /** One instance metadata value of a VM, as the server holds it. */
  function vmMetadata(name: string, key: string): string | undefined {
    const items = ((named('instances', name) as Json | undefined)?.metadata as Json | undefined)?.items as
      | { key: string; value: string }[]
      | undefined;
    return items?.find((item) => item.key === key)?.value;
  }

  it('allocates a network whose API server listens on every address (the forwarding rule delivers to the VM)', async () => {
    const provider = gce();
    const cluster = newCluster();
    const ref = { name: `${cluster}-master`, zone: ZONE_B, cluster };
    const network = await provider.instances.allocateNetwork(ref, { requestId: `${cluster}-a` });
    expect(network).toEqual({
      internalIp: (named('addresses', `${cluster}-master-internal`) as Json).address,
      hostname: `${cluster}-master.${ZONE_B}.c.${PROJECT}.internal`,
      portOffset: 0,
      rootDir: '/mnt/disks/master-pd',
      listenAddress: '0.0.0.0',
    });
    await provider.instances.delete(ref, { requestId: `${cluster}-d` });
  });

  it("boots a replica with its NodeConfig's version and the provider's images; refuses, changing nothing, a process without one", async () => {
    const provider = gce({ kubernetesVersion: '1.31.4', images: { etcd: 'mirror.example/etcd:3.5.15-0' } });
    const cluster = newCluster();
    const ref = { name: `${cluster}-master`, zone: ZONE_B };
    const next = ids(cluster);
    const nodeConfig = { ...replicaNodeConfig(ref.name), kubernetesVersion: 'v1.23.16' };
    await provider.instances.create({ ...ref, cluster, nodeConfig }, next());
    expect(vmMetadata(ref.name, 'hacp-kubernetes-version')).toBe('1.23.16');
    const manifests = new Map(
      (vmMetadata(ref.name, 'hacp-manifests') ?? '').split('\n').map((line) => {
        const [file, data] = line.split(' ');
        return [file, JSON.parse(Buffer.from(data ?? '', 'base64').toString())];
      }),
    );
    expect([...manifests.keys()]).toEqual(['hacp-etcd.json', 'hacp-health.json']);
    expect(manifests.get('hacp-etcd.json').spec.containers[0].image).toBe('mirror.example/etcd:3.5.15-0');
    await provider.instances.delete(ref, next());

    const from = server.requests.length;
    const stateBefore = JSON.stringify(server.state());
    const shell = { name: 'shell', command: 'bash', args: ['-c', 'true'] };
    const refused = await provider.instances
      .create(
        { ...ref, cluster, nodeConfig: { ...nodeConfig, processes: [...nodeConfig.processes, shell] } },
        next(),
      )
      .catch((error: unknown) => error);
    expect(isHacpError(refused, ErrorCode.INVALID_ARGUMENT)).toBe(true);
    expect((refused as { details: { field: string } }).details.field).toBe('processes.shell.name');
    expect(changesSince(from)).toEqual([]);
    expect(JSON.stringify(server.state())).toBe(stateBefore);
  });

  it('reads how the boot goes off the serial console: pending while it says nothing, NOT_FOUND without the instance', async () => {
    const provider = gce();
    const cluster = newCluster();
    const ref = { name: `${cluster}-master`, zone: ZONE_B };
    const next = ids(cluster);
    await provider.instances.create({ ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) }, next());
    // This server boots no VM: the console stays empty, so the health endpoint never said it answers.
    expect(await provider.instances.bootProgress(ref)).toEqual({ pending: [HEALTH_ENDPOINT_PENDING] });
    const serialReads = server.requests.filter((r) => r.method === 'compute.instances.getSerialPortOutput');
    expect(serialReads.at(-1)?.path).toContain(`/zones/${ZONE_B}/instances/${ref.name}/serialPort`);
    // Without the right to read the console, nothing is pending: the boot is not followed.
    server.faults.add({
      match: { method: 'compute.instances.getSerialPortOutput' },
      times: 1,
      effect: { kind: 'http', status: 403, reason: 'forbidden' },
    });
    expect(await provider.instances.bootProgress(ref)).toEqual({ pending: [] });
    // A console GCE will not hand out now (a 400) is not a failed boot: it is still to be seen.
    server.faults.add({
      match: { method: 'compute.instances.getSerialPortOutput' },
      times: 1,
      effect: { kind: 'http', status: 400, reason: 'resourceNotReady' },
    });
    expect(await provider.instances.bootProgress(ref)).toEqual({
      pending: ['its serial console to be readable'],
    });
    server.faults.clear();
    await provider.instances.delete(ref, next());
    const gone = await provider.instances.bootProgress(ref).catch((error: unknown) => error);
    expect(isHacpError(gone, ErrorCode.NOT_FOUND)).toBe(true);
  });
});

describe('interrupted moves, resumed by calling again', () => {
  /**
   * Fails the request number `n` of a move (a 500, not retried: one attempt), resumes it with the
   * same request ids, and returns the state it ends in.
   */
  let fragile: GceProvider;
  let steady: GceProvider;
  beforeAll(() => {
    // One attempt per call, so the injected 500 interrupts the move; and a provider to resume with.
    fragile = gce({ retry: { attempts: 1, baseDelayMs: 1 } });
    steady = gce();
  });

  async function interruptedAt(
    n: number,
    world: TwoReplicas,
    move: (provider: GceProvider, world: TwoReplicas, prefix: string) => Promise<void>,
    prefix: string,
  ): Promise<{ failed: boolean; state: unknown }> {
    server.faults.add({ match: {}, after: n, times: 1, effect: { kind: 'http', status: 500 } });
    let failed = false;
    try {
      await move(fragile, world, prefix);
    } catch (error) {
      expect(isHacpError(error), String(error)).toBe(true);
      failed = true;
    } finally {
      server.faults.clear();
    }
    await move(steady, world, prefix);
    return { failed, state: clusterState(world.cluster) };
  }

  it('VM → load balancer and back, interrupted after each API call, end where uninterrupted moves end', async () => {
    const provider = gce();
    const world = await twoReplicas(provider);
    const onVm = clusterState(world.cluster);
    let from = server.requests.length;
    await moveToLoadBalancer(provider, world, 'reference-grow');
    const growCalls = server.requests.length - from;
    const onLoadBalancer = clusterState(world.cluster);
    from = server.requests.length;
    await moveToVm(provider, world, 'reference-shrink');
    const shrinkCalls = server.requests.length - from;
    expect(clusterState(world.cluster)).toEqual(onVm);
    // Six changes each way, the waits for their operations, and reads.
    expect(growCalls).toBeGreaterThan(12);
    expect(shrinkCalls).toBeGreaterThan(12);

    for (let n = 0; n < growCalls; n++) {
      const grow = await interruptedAt(n, world, moveToLoadBalancer, `grow-${n}`);
      expect(grow.failed, `the move should have failed at call ${n}`).toBe(true);
      expect(grow.state, `after a failure at call ${n} of the move to the load balancer`).toEqual(
        onLoadBalancer,
      );
      await moveToVm(provider, world, `reset-${n}`);
    }
    await moveToLoadBalancer(provider, world, 'again');
    for (let n = 0; n < shrinkCalls; n++) {
      const shrink = await interruptedAt(n, world, moveToVm, `shrink-${n}`);
      expect(shrink.failed, `the move should have failed at call ${n}`).toBe(true);
      expect(shrink.state, `after a failure at call ${n} of the move back to the VM`).toEqual(onVm);
      await moveToLoadBalancer(provider, world, `regrow-${n}`);
    }
    // About 60 moves against the test server: a guard against a hang, not a speed budget.
  }, 240_000);
});

describe('API errors, mapped and retried', () => {
  it('retries 429 and 403 rateLimitExceeded with the same GCE request id', async () => {
    const provider = gce();
    const cluster = newCluster();
    server.faults.add({
      match: { method: 'compute.instances.insert' },
      effect: { kind: 'http', status: 429 },
    });
    server.faults.add({
      match: { method: 'compute.addresses.insert' },
      effect: { kind: 'http', status: 403, reason: 'rateLimitExceeded' },
    });
    const from = server.requests.length;
    await provider.addresses.reserve(
      { name: `${cluster}-master-ip`, region: REGION },
      { requestId: 'rate-1' },
    );
    const ref = { name: `${cluster}-master`, zone: ZONE_B };
    const instance = await provider.instances.create(
      { ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) },
      { requestId: 'rate-2' },
    );
    expect(instance.name).toBe(ref.name);
    for (const method of ['compute.instances.insert', 'compute.addresses.insert']) {
      const sent = server.requests.slice(from).filter((request) => request.method === method);
      expect(sent.map((request) => request.status).slice(0, 2)).toEqual([
        method.includes('instances') ? 429 : 403,
        200,
      ]);
      expect(sent[1]?.requestId).toBe(sent[0]?.requestId);
    }
    await provider.instances.delete(ref, { requestId: 'rate-3' });
  });

  it('a QUOTA_EXCEEDED operation fails create with QUOTA_EXCEEDED and leaves nothing behind', async () => {
    const provider = gce();
    const cluster = newCluster();
    const ref = { name: `${cluster}-master`, zone: ZONE_B };
    server.faults.add({
      match: { method: 'compute.instances.insert' },
      effect: {
        kind: 'operation-error',
        code: 'QUOTA_EXCEEDED',
        message: "Quota 'CPUS' exceeded. Limit: 8.0 in region europe-west1.",
      },
    });
    const error = await provider.instances
      .create({ ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) }, { requestId: 'quota-1' })
      .catch((caught: unknown) => caught);
    expect(isHacpError(error, ErrorCode.QUOTA_EXCEEDED)).toBe(true);
    expect((error as Error).message).toContain("Quota 'CPUS' exceeded");
    expect((error as { actions: string[] }).actions.join(' ')).toContain(
      'gcloud compute regions describe europe-west1',
    );
    expect(named('instances', ref.name)).toBeUndefined();
    expect(named('disks', `${ref.name}-pd`)).toBeUndefined();
    expect(named('addresses', `${ref.name}-internal`)).toBeUndefined();
    expect(await provider.instances.get(ref)).toBeUndefined();
  });

  it('gives up on a 500 after the configured attempts, each with the same request id, and rolls back', async () => {
    const provider = gce({ retry: { attempts: 3, baseDelayMs: 1 } });
    const cluster = newCluster();
    const ref = { name: `${cluster}-master`, zone: ZONE_B };
    server.faults.add({
      match: { method: 'compute.disks.insert' },
      times: Number.POSITIVE_INFINITY,
      effect: { kind: 'http', status: 500 },
    });
    const from = server.requests.length;
    const error = await provider.instances
      .create({ ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) }, { requestId: 'flaky-1' })
      .catch((caught: unknown) => caught);
    server.faults.clear();
    expect(isHacpError(error, ErrorCode.UNAVAILABLE)).toBe(true);
    const inserts = server.requests
      .slice(from)
      .filter((request) => request.method === 'compute.disks.insert');
    expect(inserts.map((request) => request.status)).toEqual([500, 500, 500]);
    expect(new Set(inserts.map((request) => request.requestId)).size).toBe(1);
    expect(named('addresses', `${ref.name}-internal`)).toBeUndefined();
    // Resumed with the same request id, it completes.
    const instance = await provider.instances.create(
      { ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) },
      { requestId: 'flaky-1' },
    );
    expect(instance.status).toBe('running');
    await provider.instances.delete(ref, { requestId: 'flaky-2' });
  });

  it.each([
    [403, 'forbidden', ErrorCode.PERMISSION_DENIED, 'roles/compute.admin'],
    [401, undefined, ErrorCode.UNAUTHENTICATED, 'gcloud auth application-default login'],
  ] as const)('maps %s %s to %s at once, without retrying', async (status, reason, code, action) => {
    const provider = gce();
    const name = `${newCluster()}-master-etcd`;
    server.faults.add({
      match: { method: 'compute.firewalls.insert' },
      effect: { kind: 'http', status, ...(reason ? { reason } : {}) },
    });
    const from = server.requests.length;
    const error = await provider.firewalls
      .ensure(
        { name, cluster: 'kubernetes', protocol: 'tcp', ports: ['2379-2381'], from: 'replicas' },
        { requestId: 'denied' },
      )
      .catch((caught: unknown) => caught);
    server.faults.clear();
    expect(isHacpError(error, code)).toBe(true);
    expect((error as { actions: string[] }).actions.join(' ')).toContain(action);
    expect(
      server.requests.slice(from).filter((request) => request.method === 'compute.firewalls.insert'),
    ).toHaveLength(1);
    expect(named('firewalls', name)).toBeUndefined();
  });
});

describe('the state store in project metadata', () => {
  const metadataWrites = (from: number) =>
    server.requests
      .slice(from)
      .filter((request) => request.method === 'compute.projects.setCommonInstanceMetadata');

  it('keeps each cluster in its item hacp-<cluster>, as a versioned JSON document', async () => {
    const provider = gce();
    const cluster = newCluster();
    const key = `hacp/clusters/${cluster}/record`;
    await provider.state.put(key, { zones: [ZONE_B] }, { requestId: 's1', expectedVersion: 0 });
    const lock = await provider.state.lock(`hacp-cluster-${cluster}`, { holder: 'cli-1', ttlMs: 60_000 });
    const items = metadataItems().filter((item) => item.key === `hacp-${cluster}`);
    expect(items).toHaveLength(1);
    expect(JSON.parse(items[0]?.value ?? '')).toEqual({
      format: 1,
      entries: { [key]: { version: 1, value: { zones: [ZONE_B] } } },
      locks: {
        [`hacp-cluster-${cluster}`]: {
          holder: 'cli-1',
          expiresAt: lock.expiresAt.toISOString(),
          token: expect.any(String),
        },
      },
    });
    const refused = await provider.state
      .lock(`hacp-cluster-${cluster}`, { holder: 'cli-2', ttlMs: 60_000 })
      .catch((error: unknown) => error);
    expect(isHacpError(refused, ErrorCode.LOCKED)).toBe(true);
    expect((refused as { details: unknown }).details).toEqual({
      lock: `hacp-cluster-${cluster}`,
      holder: 'cli-1',
      expiresAt: lock.expiresAt.toISOString(),
    });
    await lock.release();
    await provider.state.delete(key, { requestId: 's2', expectedVersion: 1 });
    const left = metadataItems();
    expect(left.some((item) => item.key === `hacp-${cluster}`)).toBe(false);
  });

  it('writers of different clusters race on the fingerprint: the loser re-reads (412) and succeeds', async () => {
    const [a, b] = [gce(), gce()];
    const [one, two] = [newCluster(), newCluster()];
    // Hold the first writer's metadata write while the second writes (on two busy cores the second
    // may still come later: then it is the one that loses, which the checks below allow).
    server.faults.add({
      match: { method: 'compute.projects.setCommonInstanceMetadata' },
      times: 1,
      effect: { kind: 'latency', ms: 1000 },
    });
    const from = server.requests.length;
    const slow = a.state.put(
      `hacp/clusters/${one}/record`,
      { n: 1 },
      { requestId: 'race-a', expectedVersion: 0 },
    );
    while (metadataWrites(from).length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const fast = await b.state.put(
      `hacp/clusters/${two}/record`,
      { n: 2 },
      { requestId: 'race-b', expectedVersion: 0 },
    );
    const late = await slow;
    expect([late.version, fast.version]).toEqual([1, 1]);
    // In order of arrival, as a rule: A's write (held, then refused: B wrote in the meantime), B's, A's
    // after re-reading. Whichever lost, one write was refused on the fingerprint and retried after it.
    const statuses = metadataWrites(from).map((request) => request.status);
    expect([...statuses].sort()).toEqual([200, 200, 412]);
    expect(statuses.at(-1)).toBe(200);
    expect((await b.state.get(`hacp/clusters/${one}/record`))?.value).toEqual({ n: 1 });
    expect((await a.state.get(`hacp/clusters/${two}/record`))?.value).toEqual({ n: 2 });
  });

  it('writers of the same key: exactly one wins, the others get CONFLICT', async () => {
    const writers = [gce(), gce(), gce()];
    const key = `hacp/clusters/${newCluster()}/record`;
    const results = await Promise.allSettled(
      writers.map((writer, index) =>
        writer.state.put(key, { writer: index }, { requestId: `same-${index}`, expectedVersion: 0 }),
      ),
    );
    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.filter((result) => result.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const result of lost)
      expect(isHacpError((result as PromiseRejectedResult).reason, ErrorCode.CONFLICT)).toBe(true);
    const record = await writers[0]?.state.get(key);
    expect(record?.value).toEqual((won[0] as PromiseFulfilledResult<{ value: unknown }>).value.value);
  });

  it('refuses an unreadable or newer item as STATE_CORRUPT and leaves it untouched; refuses items over 256 KiB', async () => {
    const provider = gce();
    const cluster = newCluster();
    const projects = new compute.ProjectsClient({
      ...server.clientOptions,
      authClient: new PassThroughClient(),
    });
    const operations = new compute.GlobalOperationsClient({
      ...server.clientOptions,
      authClient: new PassThroughClient(),
    });
    try {
      const [current] = await projects.get({ project: PROJECT });
      const metadata = current.commonInstanceMetadata ?? {};
      const [operation] = await projects.setCommonInstanceMetadata({
        project: PROJECT,
        requestId: randomUUID(),
        metadataResource: {
          fingerprint: metadata.fingerprint,
          items: [...(metadata.items ?? []), { key: `hacp-${cluster}`, value: '{"format":2,"entries":{}}' }],
        },
      });
      await operations.wait({ project: PROJECT, operation: operation.latestResponse.name });
    } finally {
      await projects.close();
      await operations.close();
    }
    const key = `hacp/clusters/${cluster}/record`;
    for (const call of [
      () => provider.state.get(key),
      () => provider.state.put(key, {}, { requestId: 'corrupt', expectedVersion: 0 }),
      () => provider.state.list(''),
    ]) {
      expect(isHacpError(await call().catch((error: unknown) => error), ErrorCode.STATE_CORRUPT)).toBe(true);
    }
    const item = metadataItems().find((entry) => entry.key === `hacp-${cluster}`);
    expect(item?.value).toBe('{"format":2,"entries":{}}');

    const other = `hacp/clusters/${newCluster()}/journal`;
    const from = server.requests.length;
    const tooBig = await provider.state
      .put(other, { text: 'x'.repeat(300 * 1024) }, { requestId: 'big', expectedVersion: 0 })
      .catch((error: unknown) => error);
    expect(isHacpError(tooBig, ErrorCode.INVALID_ARGUMENT)).toBe(true);
    expect((tooBig as Error).message).toContain('262144 bytes');
    expect(metadataWrites(from)).toEqual([]);

    // Put the project back as it was for the other tests: drop the item written by hand.
    const restore = new compute.ProjectsClient({
      ...server.clientOptions,
      authClient: new PassThroughClient(),
    });
    const wait = new compute.GlobalOperationsClient({
      ...server.clientOptions,
      authClient: new PassThroughClient(),
    });
    try {
      const [current] = await restore.get({ project: PROJECT });
      const metadata = current.commonInstanceMetadata ?? {};
      const [operation] = await restore.setCommonInstanceMetadata({
        project: PROJECT,
        requestId: randomUUID(),
        metadataResource: {
          fingerprint: metadata.fingerprint,
          items: (metadata.items ?? []).filter((entry) => entry.key !== `hacp-${cluster}`),
        },
      });
      await wait.wait({ project: PROJECT, operation: operation.latestResponse.name });
    } finally {
      await restore.close();
      await wait.close();
    }
  });
});

describe('reach through IAP', () => {
  it('checks gcloud first, then that the instance exists, then tunnels to it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hacp-gce-iap-'));
    try {
      const gcloud = join(dir, 'gcloud');
      copyFileSync(new URL('./fake-gcloud.fixture.mjs', import.meta.url), gcloud);
      chmodSync(gcloud, 0o755);
      writeFileSync(join(dir, 'target.json'), JSON.stringify({ host: '127.0.0.1', port: server.port }));
      const provider = gce({ reach: 'iap', gcloud });
      const cluster = newCluster();
      const missing = await provider
        .reach({ name: `${cluster}-master`, zone: ZONE_B }, 2379)
        .catch((error: unknown) => error);
      expect(isHacpError(missing, ErrorCode.NOT_FOUND)).toBe(true);

      const ref = { name: `${cluster}-master`, zone: ZONE_B };
      await provider.instances.create(
        { ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) },
        { requestId: 'iap-1' },
      );
      const reach = await provider.reach(ref, 2379);
      // The fake tunnel forwards to the API server: an HTTP request through it is answered.
      const answer = await fetch(`http://127.0.0.1:${reach.port}/compute/v1/projects/${PROJECT}`);
      expect(answer.status).toBe(200);
      await provider.close();
      const refused = await fetch(`http://127.0.0.1:${reach.port}/`).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(Error);
      await gce().instances.delete(ref, { requestId: 'iap-2' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
