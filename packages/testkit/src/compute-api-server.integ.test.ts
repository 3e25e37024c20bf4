import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import compute from '@google-cloud/compute';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operationDone } from './compute-api/operation-done.js';
import { type ComputeApiServer, startComputeApiServer } from './compute-api-server.js';

// biome-ignore lint/suspicious/noExplicitAny: API resources and error bodies are asserted by value, read by path
type Json = any;

const PROJECT = 'hacp-test';
const ZONE = 'europe-west1-b';
const REGION = 'europe-west1';
const API = `https://www.googleapis.com/compute/v1/projects/${PROJECT}`;

/** Every client of the library, pointed at one server. */
function clientsFor(server: ComputeApiServer) {
  const options = { ...server.clientOptions, authClient: new PassThroughClient() };
  return {
    instances: new compute.InstancesClient(options),
    disks: new compute.DisksClient(options),
    addresses: new compute.AddressesClient(options),
    targetPools: new compute.TargetPoolsClient(options),
    healthChecks: new compute.HealthChecksClient(options),
    forwardingRules: new compute.ForwardingRulesClient(options),
    firewalls: new compute.FirewallsClient(options),
    projects: new compute.ProjectsClient(options),
    zones: new compute.ZonesClient(options),
    regions: new compute.RegionsClient(options),
    zoneOperations: new compute.ZoneOperationsClient(options),
    regionOperations: new compute.RegionOperationsClient(options),
    globalOperations: new compute.GlobalOperationsClient(options),
  };
}
type Clients = ReturnType<typeof clientsFor>;

let server: ComputeApiServer;
let api: Clients;

/** What an `insert`/`delete`/... call resolves to: `[LROperation]` with the Operation as `latestResponse`. */
type Started = [{ latestResponse: Json }, ...unknown[]];

/** Waits for the operation a mutating call started until DONE (`operationDone`); returns it. */
const done = (call: Promise<unknown>, clients: Clients = api): Promise<Json> =>
  operationDone(call, { clients, project: PROJECT });

/** Like `done`, and the operation must have succeeded. */
async function succeeded(call: Promise<unknown>, clients: Clients = api): Promise<Json> {
  const operation = await done(call, clients);
  expect(operation.status).toBe('DONE');
  expect(operation.error ?? undefined).toBeUndefined();
  return operation;
}

/**
 * The error a client call is refused with. In 6.15 (REST fallback) it is a GaxiosError with the numeric
 * HTTP status in `code` and `status`; the fallback reads the body as a stream, so `response.data` is
 * empty and GCE's JSON body is the error's `message`.
 */
async function refusal(
  call: Promise<unknown>,
): Promise<{ name: string; code: unknown; status: unknown; body: Json }> {
  try {
    await call;
  } catch (error) {
    const e = error as Json;
    return {
      name: e.constructor?.name,
      code: e.code,
      status: e.status,
      body: e.response?.data ?? JSON.parse(e.message),
    };
  }
  throw new Error('expected the call to be refused');
}

const id = () => randomUUID();

/** A minimal valid instance body. */
function instanceBody(name: string, extra: Json = {}, zone = ZONE): Json {
  return {
    name,
    machineType: `zones/${zone}/machineTypes/e2-standard-2`,
    disks: [
      {
        boot: true,
        autoDelete: true,
        initializeParams: {
          sourceImage: 'projects/cos-cloud/global/images/family/cos-stable',
          diskSizeGb: '10',
        },
      },
    ],
    networkInterfaces: [{ accessConfigs: [{ name: 'external-nat', type: 'ONE_TO_ONE_NAT' }] }],
    ...extra,
  };
}

async function createInstance(name: string, extra: Json = {}, zone = ZONE): Promise<Json> {
  await succeeded(
    api.instances.insert({
      project: PROJECT,
      zone,
      requestId: id(),
      instanceResource: instanceBody(name, extra, zone),
    }),
  );
  const [instance] = await api.instances.get({ project: PROJECT, zone, instance: name });
  return instance;
}

/** Raw HTTP to the server (for the legacy httpHealthChecks, which the 6.x library no longer has a client for). */
async function raw(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const response = await fetch(`${server.url}/compute/v1/projects/${PROJECT}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}

async function rawDone(operation: Json): Promise<Json> {
  const [result] = await api.globalOperations.wait({ project: PROJECT, operation: operation.name });
  return result;
}

beforeAll(async () => {
  server = await startComputeApiServer();
  api = clientsFor(server);
});

afterAll(async () => {
  for (const client of Object.values(api ?? {})) await client.close();
  await server?.close();
});

describe('zones, regions and projects', () => {
  it('lists the configured zones and their regions with full URLs', async () => {
    const [zones] = await api.zones.list({ project: PROJECT });
    expect(zones.map((zone) => zone.name)).toEqual([
      'europe-west1-b',
      'europe-west1-c',
      'europe-west1-d',
      'us-central1-a',
      'us-central1-b',
      'us-central1-c',
      'us-central1-f',
    ]);
    const [zone] = await api.zones.get({ project: PROJECT, zone: 'us-central1-f' });
    expect(zone).toMatchObject({
      status: 'UP',
      region: `${API}/regions/us-central1`,
      selfLink: `${API}/zones/us-central1-f`,
    });
    const [regions] = await api.regions.list({ project: PROJECT });
    expect(regions.map((region) => region.name)).toEqual(['europe-west1', 'us-central1']);
    const [region] = await api.regions.get({ project: PROJECT, region: REGION });
    expect(region.zones).toEqual([
      `${API}/zones/europe-west1-b`,
      `${API}/zones/europe-west1-c`,
      `${API}/zones/europe-west1-d`,
    ]);
  });

  it('answers 404 for a zone it does not offer and for a project that does not exist', async () => {
    const zone = await refusal(api.zones.get({ project: PROJECT, zone: 'mars-north1-a' }));
    expect(zone.code).toBe(404);
    expect(zone.body.error.message).toBe(
      `The resource 'projects/${PROJECT}/zones/mars-north1-a' was not found`,
    );
    const project = await refusal(api.projects.get({ project: 'someone-else' }));
    expect(project).toMatchObject({ code: 404, status: 404 });
    expect(project.body).toEqual({
      error: {
        code: 404,
        message: "The resource 'projects/someone-else' was not found",
        errors: [
          {
            message: "The resource 'projects/someone-else' was not found",
            domain: 'global',
            reason: 'notFound',
          },
        ],
      },
    });
  });
});

describe('instances, disks and addresses', () => {
  it('inserts an instance with a kept data disk, a reserved internal IP and a reserved NAT IP, and deletes it', async () => {
    await succeeded(
      api.disks.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: id(),
        diskResource: { name: 'life-pd', sizeGb: '20', type: `zones/${ZONE}/diskTypes/pd-ssd` },
      }),
    );
    await succeeded(
      api.addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        addressResource: {
          name: 'life-internal',
          addressType: 'INTERNAL',
          subnetwork: `regions/${REGION}/subnetworks/default`,
        },
      }),
    );
    await succeeded(
      api.addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        addressResource: { name: 'life-ip' },
      }),
    );
    const [internal] = await api.addresses.get({
      project: PROJECT,
      region: REGION,
      address: 'life-internal',
    });
    const [external] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'life-ip' });
    expect(internal).toMatchObject({ status: 'RESERVED', addressType: 'INTERNAL', purpose: 'GCE_ENDPOINT' });
    expect(external).toMatchObject({ status: 'RESERVED', addressType: 'EXTERNAL', networkTier: 'PREMIUM' });
    expect(internal.address).toMatch(/^127\.(1[0-5]\d)\.\d+\.\d+$/);
    expect(external.address).toMatch(/^127\.(1[6-9]\d)\.\d+\.\d+$/);

    const operation = await succeeded(
      api.instances.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: id(),
        instanceResource: instanceBody('life-1', {
          disks: [
            {
              boot: true,
              autoDelete: true,
              initializeParams: { sourceImage: 'projects/cos-cloud/global/images/family/cos-stable' },
            },
            { source: `zones/${ZONE}/disks/life-pd`, deviceName: 'master-pd', autoDelete: false },
          ],
          networkInterfaces: [
            {
              networkIP: internal.address,
              accessConfigs: [{ name: 'external-nat', type: 'ONE_TO_ONE_NAT', natIP: external.address }],
            },
          ],
          labels: { 'hacp-cluster': 'life' },
          tags: { items: ['life-master'] },
          metadata: { items: [{ key: 'hacp-cluster', value: 'life' }] },
        }),
      }),
    );
    expect(operation).toMatchObject({
      kind: 'compute#operation',
      operationType: 'insert',
      status: 'DONE',
      progress: 100,
      targetLink: `${API}/zones/${ZONE}/instances/life-1`,
      zone: `${API}/zones/${ZONE}`,
    });
    expect(operation.name).toMatch(/^operation-\d{13}-[0-9a-f]{13}-[0-9a-f]{8}-[0-9a-f]{8}$/);
    expect(operation.id).toMatch(/^\d{19}$/);
    for (const field of ['insertTime', 'startTime', 'endTime']) {
      expect(operation[field]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-07:00$/);
    }

    const [instance] = await api.instances.get({ project: PROJECT, zone: ZONE, instance: 'life-1' });
    expect(instance).toMatchObject({
      name: 'life-1',
      status: 'RUNNING',
      selfLink: `${API}/zones/${ZONE}/instances/life-1`,
      zone: `${API}/zones/${ZONE}`,
      machineType: `${API}/zones/${ZONE}/machineTypes/e2-standard-2`,
      labels: { 'hacp-cluster': 'life' },
      tags: { items: ['life-master'] },
      metadata: { items: [{ key: 'hacp-cluster', value: 'life' }] },
    });
    expect(instance.id).toBe(operation.targetId);
    expect(instance.networkInterfaces?.[0]).toMatchObject({
      name: 'nic0',
      networkIP: internal.address,
      network: `${API}/global/networks/default`,
      subnetwork: `${API}/regions/${REGION}/subnetworks/default`,
      accessConfigs: [{ name: 'external-nat', natIP: external.address }],
    });
    expect(instance.disks?.map((disk) => [disk.deviceName, disk.boot, disk.autoDelete, disk.source])).toEqual(
      [
        ['persistent-disk-0', true, true, `${API}/zones/${ZONE}/disks/life-1`],
        ['master-pd', false, false, `${API}/zones/${ZONE}/disks/life-pd`],
      ],
    );
    const [bootDisk] = await api.disks.get({ project: PROJECT, zone: ZONE, disk: 'life-1' });
    const [dataDisk] = await api.disks.get({ project: PROJECT, zone: ZONE, disk: 'life-pd' });
    expect(bootDisk.users).toEqual([instance.selfLink]);
    expect(dataDisk).toMatchObject({
      users: [instance.selfLink],
      sizeGb: '20',
      type: `${API}/zones/${ZONE}/diskTypes/pd-ssd`,
    });
    const [internalInUse] = await api.addresses.get({
      project: PROJECT,
      region: REGION,
      address: 'life-internal',
    });
    const [externalInUse] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'life-ip' });
    expect(internalInUse).toMatchObject({ status: 'IN_USE', users: [instance.selfLink] });
    expect(externalInUse).toMatchObject({ status: 'IN_USE', users: [instance.selfLink] });

    // In use: neither the address nor the attached disk can go, with GCE's words.
    const addressInUse = await refusal(
      api.addresses.delete({ project: PROJECT, region: REGION, address: 'life-ip', requestId: id() }),
    );
    expect(addressInUse.code).toBe(400);
    expect(addressInUse.body.error.errors[0]).toEqual({
      message: `The address resource 'projects/${PROJECT}/regions/${REGION}/addresses/life-ip' is already being used by 'projects/${PROJECT}/zones/${ZONE}/instances/life-1'`,
      domain: 'global',
      reason: 'resourceInUseByAnotherResource',
    });
    const diskInUse = await refusal(
      api.disks.delete({ project: PROJECT, zone: ZONE, disk: 'life-pd', requestId: id() }),
    );
    expect(diskInUse.code).toBe(400);
    expect(diskInUse.body.error.message).toBe(
      `The disk resource 'projects/${PROJECT}/zones/${ZONE}/disks/life-pd' is already being used by 'projects/${PROJECT}/zones/${ZONE}/instances/life-1'`,
    );
    // A second instance cannot take the attached disk, nor the IPs in use.
    const diskTaken = await refusal(
      api.instances.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: id(),
        instanceResource: instanceBody('life-2', {
          disks: [{ boot: true, source: `zones/${ZONE}/disks/life-pd` }],
        }),
      }),
    );
    expect(diskTaken.code).toBe(400);
    expect(diskTaken.body.error.errors[0].reason).toBe('resourceInUseByAnotherResource');
    const natTaken = await refusal(
      api.instances.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: id(),
        instanceResource: instanceBody('life-2', {
          networkInterfaces: [{ accessConfigs: [{ name: 'external-nat', natIP: external.address }] }],
        }),
      }),
    );
    expect(natTaken.code).toBe(400);
    expect(natTaken.body.error.message).toBe(
      `Invalid value for field 'resource.networkInterfaces[0].accessConfigs[0].natIP': '${external.address}'. Specified IP address is in-use and would result in a conflict.`,
    );

    const deletion = await succeeded(
      api.instances.delete({ project: PROJECT, zone: ZONE, instance: 'life-1', requestId: id() }),
    );
    expect(deletion).toMatchObject({ operationType: 'delete', targetId: instance.id });
    expect(
      (await refusal(api.instances.get({ project: PROJECT, zone: ZONE, instance: 'life-1' }))).code,
    ).toBe(404);
    expect((await refusal(api.disks.get({ project: PROJECT, zone: ZONE, disk: 'life-1' }))).code).toBe(404);
    const [keptDisk] = await api.disks.get({ project: PROJECT, zone: ZONE, disk: 'life-pd' });
    expect(keptDisk.users ?? []).toEqual([]);
    const [released] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'life-ip' });
    expect(released.status).toBe('RESERVED');
    expect(released.users ?? []).toEqual([]);
    await succeeded(
      api.addresses.delete({ project: PROJECT, region: REGION, address: 'life-ip', requestId: id() }),
    );
    await succeeded(
      api.addresses.delete({ project: PROJECT, region: REGION, address: 'life-internal', requestId: id() }),
    );
    await succeeded(api.disks.delete({ project: PROJECT, zone: ZONE, disk: 'life-pd', requestId: id() }));
    expect(server.state()[PROJECT]?.disks.map((disk) => disk.name)).not.toContain('life-pd');
  });

  it('refuses a disk from another zone or one that does not exist', async () => {
    await succeeded(
      api.disks.insert({
        project: PROJECT,
        zone: 'europe-west1-c',
        requestId: id(),
        diskResource: { name: 'zone-c-pd' },
      }),
    );
    const otherZone = await refusal(
      api.instances.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: id(),
        instanceResource: instanceBody('zone-b-vm', {
          disks: [{ boot: true, source: 'zones/europe-west1-c/disks/zone-c-pd' }],
        }),
      }),
    );
    expect(otherZone.code).toBe(400);
    expect(otherZone.body.error.errors[0].reason).toBe('invalid');
    const missing = await refusal(
      api.instances.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: id(),
        instanceResource: instanceBody('zone-b-vm', {
          disks: [{ boot: true, source: `zones/${ZONE}/disks/nope` }],
        }),
      }),
    );
    expect(missing.code).toBe(400);
    expect(missing.body.error.message).toContain("'resource.disks[0].source'");
  });

  it('gives ephemeral IPs from 127/8, releases the NAT IP on stop and takes a new one on start', async () => {
    const instance = await createInstance('cycle-1');
    const nic = instance.networkInterfaces[0];
    expect(nic.networkIP).toMatch(/^127\.(1[0-5]\d)\.\d+\.\d+$/);
    const natIP = nic.accessConfigs[0].natIP;
    expect(natIP).toMatch(/^127\.(1[6-9]\d)\.\d+\.\d+$/);
    const stop = await succeeded(
      api.instances.stop({ project: PROJECT, zone: ZONE, instance: 'cycle-1', requestId: id() }),
    );
    expect(stop.operationType).toBe('stop');
    const [stopped] = await api.instances.get({ project: PROJECT, zone: ZONE, instance: 'cycle-1' });
    expect(stopped.status).toBe('TERMINATED');
    expect(stopped.networkInterfaces?.[0]?.networkIP).toBe(nic.networkIP);
    expect(stopped.networkInterfaces?.[0]?.accessConfigs?.[0]?.natIP ?? undefined).toBeUndefined();
    await succeeded(
      api.instances.start({ project: PROJECT, zone: ZONE, instance: 'cycle-1', requestId: id() }),
    );
    const [started] = await api.instances.get({ project: PROJECT, zone: ZONE, instance: 'cycle-1' });
    expect(started.status).toBe('RUNNING');
    const newNat = started.networkInterfaces?.[0]?.accessConfigs?.[0]?.natIP;
    expect(newNat).toMatch(/^127\.(1[6-9]\d)\.\d+\.\d+$/);
    expect(newNat).not.toBe(natIP);
  });

  it('swaps an access config for one on a reserved address and back', async () => {
    await createInstance('swap-1');
    await succeeded(
      api.addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        addressResource: { name: 'swap-ip' },
      }),
    );
    const [address] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'swap-ip' });
    const second = await refusal(
      api.instances.addAccessConfig({
        project: PROJECT,
        zone: ZONE,
        instance: 'swap-1',
        networkInterface: 'nic0',
        requestId: id(),
        accessConfigResource: { name: 'external-nat', natIP: address.address },
      }),
    );
    expect(second.code).toBe(400);
    expect(second.body.error.message).toBe('At most one access config currently supported.');
    const removal = await succeeded(
      api.instances.deleteAccessConfig({
        project: PROJECT,
        zone: ZONE,
        instance: 'swap-1',
        networkInterface: 'nic0',
        accessConfig: 'external-nat',
        requestId: id(),
      }),
    );
    expect(removal.operationType).toBe('deleteAccessConfig');
    await succeeded(
      api.instances.addAccessConfig({
        project: PROJECT,
        zone: ZONE,
        instance: 'swap-1',
        networkInterface: 'nic0',
        requestId: id(),
        accessConfigResource: { name: 'external-nat', type: 'ONE_TO_ONE_NAT', natIP: address.address },
      }),
    );
    const [instance] = await api.instances.get({ project: PROJECT, zone: ZONE, instance: 'swap-1' });
    expect(instance.networkInterfaces?.[0]?.accessConfigs).toMatchObject([
      { name: 'external-nat', natIP: address.address },
    ]);
    const [inUse] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'swap-ip' });
    expect(inUse).toMatchObject({ status: 'IN_USE', users: [instance.selfLink] });
    await succeeded(
      api.instances.deleteAccessConfig({
        project: PROJECT,
        zone: ZONE,
        instance: 'swap-1',
        networkInterface: 'nic0',
        accessConfig: 'external-nat',
        requestId: id(),
      }),
    );
    const [free] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'swap-ip' });
    expect(free.status).toBe('RESERVED');
  });

  it('sets labels and metadata only with the current fingerprint', async () => {
    const instance = await createInstance('labels-1', { labels: { a: 'b' } });
    const stale = await refusal(
      api.instances.setLabels({
        project: PROJECT,
        zone: ZONE,
        instance: 'labels-1',
        requestId: id(),
        instancesSetLabelsRequestResource: { labels: { a: 'c' }, labelFingerprint: 'c3RhbGUhIQ==' },
      }),
    );
    expect(stale.code).toBe(412);
    expect(stale.body.error.errors[0].reason).toBe('conditionNotMet');
    await succeeded(
      api.instances.setLabels({
        project: PROJECT,
        zone: ZONE,
        instance: 'labels-1',
        requestId: id(),
        instancesSetLabelsRequestResource: {
          labels: { a: 'c', 'hacp-cluster': 'x' },
          labelFingerprint: instance.labelFingerprint,
        },
      }),
    );
    const noFingerprint = await refusal(
      api.instances.setMetadata({
        project: PROJECT,
        zone: ZONE,
        instance: 'labels-1',
        requestId: id(),
        metadataResource: { items: [{ key: 'k', value: 'v' }] },
      }),
    );
    expect(noFingerprint.code).toBe(412);
    expect(noFingerprint.body.error.message).toBe(
      'Supplied fingerprint does not match current metadata fingerprint.',
    );
    await succeeded(
      api.instances.setMetadata({
        project: PROJECT,
        zone: ZONE,
        instance: 'labels-1',
        requestId: id(),
        metadataResource: { items: [{ key: 'k', value: 'v' }], fingerprint: instance.metadata.fingerprint },
      }),
    );
    const [changed] = await api.instances.get({ project: PROJECT, zone: ZONE, instance: 'labels-1' });
    expect(changed.labels).toEqual({ a: 'c', 'hacp-cluster': 'x' });
    expect(changed.labelFingerprint).not.toBe(instance.labelFingerprint);
    expect(changed.metadata?.items).toMatchObject([{ key: 'k', value: 'v' }]);
    expect(changed.metadata?.fingerprint).not.toBe(instance.metadata.fingerprint);
  });

  it('lists by zone and across zones with label and name filters, in pages', async () => {
    await createInstance('filter-a', { labels: { 'hacp-cluster': 'blue' } });
    await createInstance('filter-b', { labels: { 'hacp-cluster': 'green' } }, 'us-central1-a');
    await createInstance('filter-c', { labels: { 'hacp-cluster': 'blue' } }, 'us-central1-f');
    const names = async (filter: string) => {
      const found: string[] = [];
      const pages = api.instances.aggregatedListAsync({ project: PROJECT, filter }, { autoPaginate: false });
      for await (const [, scoped] of pages) {
        for (const instance of scoped.instances ?? []) found.push(String(instance.name));
      }
      return found.sort();
    };
    expect(await names('labels.hacp-cluster = "blue"')).toEqual(['filter-a', 'filter-c']);
    expect(await names('labels.hacp-cluster=green')).toEqual(['filter-b']);
    expect(await names('name = "filter-b"')).toEqual(['filter-b']);
    expect(await names('(labels.hacp-cluster = "blue") (name != "filter-a")')).toEqual(['filter-c']);
    const [inZone] = await api.instances.list({
      project: PROJECT,
      zone: ZONE,
      filter: 'labels.hacp-cluster = "blue"',
    });
    expect(inZone.map((instance) => instance.name)).toEqual(['filter-a']);
    // maxResults 1: the library follows nextPageToken and gets every instance of the zone.
    const [paged] = await api.instances.list({ project: PROJECT, zone: ZONE, maxResults: 1 });
    const [whole] = await api.instances.list({ project: PROJECT, zone: ZONE });
    expect(whole.length).toBeGreaterThan(1);
    expect(paged.map((instance) => instance.name)).toEqual(whole.map((instance) => instance.name));
    const pages = server.requests.filter(
      (r) => r.method === 'compute.instances.list' && r.query.maxResults === '1',
    );
    expect(pages.length).toBe(whole.length);
    const bad = await refusal(api.instances.list({ project: PROJECT, zone: ZONE, filter: 'labels.x = ' }));
    expect(bad.code).toBe(400);
    expect(bad.body.error.message).toBe(
      "Invalid value for field 'filter': 'labels.x = '. Invalid list filter expression.",
    );
  });

  it('serves serial port output: empty text without a VM runtime, 404 for an unknown instance, 400 for a port beyond 1-4', async () => {
    await createInstance('serial-1');
    const [output] = await api.instances.getSerialPortOutput({
      project: PROJECT,
      zone: ZONE,
      instance: 'serial-1',
      port: 1,
    });
    expect(output).toMatchObject({
      kind: 'compute#serialPortOutput',
      contents: '',
      start: '0',
      next: '0',
      selfLink: `${API}/zones/${ZONE}/instances/serial-1/serialPort`,
    });
    const missing = await refusal(
      api.instances.getSerialPortOutput({ project: PROJECT, zone: ZONE, instance: 'no-such-vm' }),
    );
    expect(missing.code).toBe(404);
    expect(missing.body.error.message).toBe(
      `The resource 'projects/${PROJECT}/zones/${ZONE}/instances/no-such-vm' was not found`,
    );
    const badPort = await raw('GET', `/zones/${ZONE}/instances/serial-1/serialPort?port=5`);
    expect(badPort.status).toBe(400);
    expect(badPort.json.error.errors[0]).toMatchObject({
      reason: 'invalid',
      message: "Invalid value for field 'port': '5'. Must be between 1 and 4.",
    });
  });

  it('aggregates every collection gcloud lists without a scope, keyed by scope, with a warning for each empty scope', async () => {
    const small = await startComputeApiServer({
      zones: ['europe-west1-b', 'europe-west1-c', 'us-central1-a'],
    });
    const clients = clientsFor(small);
    try {
      const aggregated = async (collection: string, query = '') => {
        const response = await fetch(
          `${small.url}/compute/v1/projects/${PROJECT}/aggregated/${collection}${query}`,
        );
        return { status: response.status, json: (await response.json()) as Json };
      };
      const empty = (scope: string) => ({
        warning: {
          code: 'NO_RESULTS_ON_PAGE',
          message: `There are no results for scope '${scope}' on this page.`,
          data: [{ key: 'scope', value: scope }],
        },
      });
      await succeeded(
        clients.disks.insert({
          project: PROJECT,
          zone: ZONE,
          requestId: id(),
          diskResource: { name: 'agg-d' },
        }),
        clients,
      );
      for (const name of ['agg-a1', 'agg-a2']) {
        await succeeded(
          clients.addresses.insert({
            project: PROJECT,
            region: REGION,
            requestId: id(),
            addressResource: { name },
          }),
          clients,
        );
      }
      await succeeded(
        clients.targetPools.insert({
          project: PROJECT,
          region: REGION,
          requestId: id(),
          targetPoolResource: { name: 'agg-pool' },
        }),
        clients,
      );
      await succeeded(
        clients.forwardingRules.insert({
          project: PROJECT,
          region: REGION,
          requestId: id(),
          forwardingRuleResource: { name: 'agg-rule', target: `regions/${REGION}/targetPools/agg-pool` },
        }),
        clients,
      );

      const disks = await aggregated('disks', '?returnPartialSuccess=True');
      expect(disks.status).toBe(200);
      expect(disks.json).toEqual({
        kind: 'compute#diskAggregatedList',
        id: `projects/${PROJECT}/aggregated/disks`,
        items: {
          'zones/europe-west1-b': {
            disks: [expect.objectContaining({ name: 'agg-d', kind: 'compute#disk' })],
          },
          'zones/europe-west1-c': empty('zones/europe-west1-c'),
          'zones/us-central1-a': empty('zones/us-central1-a'),
        },
        selfLink: `${API}/aggregated/disks`,
      });
      // Addresses and forwarding rules are regional or global; includeAllScopes adds every scope kind.
      const addresses = await aggregated('addresses');
      expect(Object.keys(addresses.json.items)).toEqual([
        'global',
        'regions/europe-west1',
        'regions/us-central1',
      ]);
      expect(addresses.json.items['regions/europe-west1'].addresses.map((a: Json) => a.name)).toEqual([
        'agg-a1',
        'agg-a2',
      ]);
      const allScopes = await aggregated('disks', '?includeAllScopes=true');
      expect(Object.keys(allScopes.json.items)).toEqual([
        'global',
        'regions/europe-west1',
        'regions/us-central1',
        'zones/europe-west1-b',
        'zones/europe-west1-c',
        'zones/us-central1-a',
      ]);
      // One per page: the second address on the next page, the first one's scope then empty.
      const first = await aggregated('addresses', '?maxResults=1');
      expect(first.json.items['regions/europe-west1'].addresses.map((a: Json) => a.name)).toEqual(['agg-a1']);
      const second = await aggregated('addresses', `?maxResults=1&pageToken=${first.json.nextPageToken}`);
      expect(second.json.items['regions/europe-west1'].addresses.map((a: Json) => a.name)).toEqual([
        'agg-a2',
      ]);
      expect(second.json.nextPageToken).toBeUndefined();
      const filtered = await aggregated('addresses', `?filter=${encodeURIComponent('name = "agg-a2"')}`);
      expect(filtered.json.items['regions/europe-west1'].addresses.map((a: Json) => a.name)).toEqual([
        'agg-a2',
      ]);
      expect((await aggregated('targetPools')).json.items['regions/europe-west1'].targetPools[0].name).toBe(
        'agg-pool',
      );
      const rules = await aggregated('forwardingRules');
      expect(rules.json.kind).toBe('compute#forwardingRuleAggregatedList');
      expect(rules.json.items['regions/europe-west1'].forwardingRules[0].name).toBe('agg-rule');
      expect(rules.json.items.global).toEqual(empty('global'));

      const operations = await aggregated('operations');
      expect(operations.json.kind).toBe('compute#operationAggregatedList');
      const types = (scope: string) =>
        (operations.json.items[scope].operations ?? []).map(
          (o: Json) => `${o.operationType} ${o.targetLink}`,
        );
      expect(types(`zones/${ZONE}`)).toEqual([`insert ${API}/zones/${ZONE}/disks/agg-d`]);
      expect(types(`regions/${REGION}`)).toEqual([
        `insert ${API}/regions/${REGION}/addresses/agg-a1`,
        `insert ${API}/regions/${REGION}/addresses/agg-a2`,
        `insert ${API}/regions/${REGION}/targetPools/agg-pool`,
        `insert ${API}/regions/${REGION}/forwardingRules/agg-rule`,
      ]);
      expect(operations.json.items.global).toEqual(empty('global'));
      const bad = await aggregated('disks', '?includeAllScopes=maybe');
      expect(bad.status).toBe(400);
      expect(bad.json.error.errors[0].reason).toBe('invalid');
    } finally {
      for (const client of Object.values(clients)) await client.close();
      await small.close();
    }
  });
});

describe('project metadata: the compare-and-swap hacp keeps its state in', () => {
  const setMetadata = (items: { key: string; value: string }[], fingerprint: string | undefined) =>
    api.projects.setCommonInstanceMetadata({
      project: PROJECT,
      requestId: id(),
      metadataResource: { items, ...(fingerprint === undefined ? {} : { fingerprint }) },
    });

  it('replaces the items and the fingerprint, and lets exactly one of two writers with the same fingerprint win', async () => {
    const [before] = await api.projects.get({ project: PROJECT });
    const fingerprint = String(before.commonInstanceMetadata?.fingerprint);
    expect(Buffer.from(fingerprint, 'base64')).toHaveLength(8);
    const results = await Promise.allSettled([
      done(setMetadata([{ key: 'hacp-a', value: 'from a' }], fingerprint)),
      done(setMetadata([{ key: 'hacp-b', value: 'from b' }], fingerprint)),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const conflict = await refusal(Promise.reject(lost[0]?.reason));
    expect(conflict).toMatchObject({ code: 412, status: 412 });
    expect(conflict.body).toEqual({
      error: {
        code: 412,
        message: 'Supplied fingerprint does not match current metadata fingerprint.',
        errors: [
          {
            message: 'Supplied fingerprint does not match current metadata fingerprint.',
            domain: 'global',
            reason: 'conditionNotMet',
          },
        ],
      },
    });
    const operation = (won[0] as PromiseFulfilledResult<Json>).value;
    expect(operation).toMatchObject({
      operationType: 'compute.projects.setCommonInstanceMetadata',
      targetLink: API,
      status: 'DONE',
    });
    expect(operation.zone ?? undefined).toBeUndefined();
    const [after] = await api.projects.get({ project: PROJECT });
    expect(after.commonInstanceMetadata?.items).toHaveLength(1);
    expect(after.commonInstanceMetadata?.fingerprint).not.toBe(fingerprint);
    // The loser re-reads and writes on top.
    await succeeded(
      setMetadata(
        [
          ...(after.commonInstanceMetadata?.items ?? []).map((i) => ({
            key: String(i.key),
            value: String(i.value),
          })),
          { key: 'hacp-c', value: 'c' },
        ],
        String(after.commonInstanceMetadata?.fingerprint),
      ),
    );
    const [final] = await api.projects.get({ project: PROJECT });
    expect(final.commonInstanceMetadata?.items?.map((i) => i.key)).toHaveLength(2);
    expect(server.state()[PROJECT]?.project.commonInstanceMetadata).toEqual({
      kind: 'compute#metadata',
      fingerprint: final.commonInstanceMetadata?.fingerprint,
      items: final.commonInstanceMetadata?.items?.map((i) => ({ key: i.key, value: i.value })),
    });
  });

  it('refuses a write without a fingerprint, and keys and sizes beyond GCE limits', async () => {
    expect((await refusal(setMetadata([{ key: 'x', value: 'y' }], undefined))).code).toBe(412);
    const [project] = await api.projects.get({ project: PROJECT });
    const fingerprint = String(project.commonInstanceMetadata?.fingerprint);
    const badKey = await refusal(setMetadata([{ key: 'no spaces', value: 'y' }], fingerprint));
    expect(badKey.code).toBe(400);
    expect(badKey.body.error.message).toBe(
      "Invalid value for field 'resource.items[0].key': 'no spaces'. Must be a match of regex '[a-zA-Z0-9-_]{1,128}'",
    );
    const big = await refusal(setMetadata([{ key: 'big', value: 'x'.repeat(256 * 1024 + 1) }], fingerprint));
    expect(big.code).toBe(413);
    expect(big.body.error.message).toBe(
      "Value for field 'resource.items[0].value' is too large: maximum size 262144 character(s); actual size 262145.",
    );
    const total = await refusal(
      setMetadata(
        [0, 1, 2].map((i) => ({ key: `part-${i}`, value: 'x'.repeat(200 * 1024) })),
        fingerprint,
      ),
    );
    expect(total.code).toBe(413);
    const [unchanged] = await api.projects.get({ project: PROJECT });
    expect(unchanged.commonInstanceMetadata?.fingerprint).toBe(fingerprint);
  });
});

describe('load balancing: health checks, target pools, forwarding rules', () => {
  let listener: Server | undefined;

  afterAll(async () => {
    if (listener?.listening) await new Promise<void>((resolve) => listener?.close(() => resolve()));
  });

  it('builds the kube-up load balancer and reports real health from the instance IP', async () => {
    const check = await raw('POST', `/global/httpHealthChecks?requestId=${id()}`, {
      name: 'lb-hc',
      port: 0,
      requestPath: '/healthz',
    });
    expect(check.status).toBe(200);
    expect(check.json).toMatchObject({
      kind: 'compute#operation',
      operationType: 'insert',
      status: 'PENDING',
    });
    await rawDone(check.json);
    const instance = await createInstance('lb-1');
    const ip = instance.networkInterfaces[0].networkIP as string;
    // A real listener on the instance's internal IP stands in for its health endpoint.
    listener = createServer((request, response) => {
      response.statusCode = request.url === '/healthz' ? 200 : 404;
      response.end('ok');
    });
    await new Promise<void>((resolve) => listener?.listen(0, ip, resolve));
    const port = (listener.address() as AddressInfo).port;
    const patched = await raw('PATCH', `/global/httpHealthChecks/lb-hc?requestId=${id()}`, { port });
    expect(patched.status).toBe(200);
    await rawDone(patched.json);
    const legacy = await raw('GET', '/global/httpHealthChecks/lb-hc');
    expect(legacy.json).toMatchObject({
      kind: 'compute#httpHealthCheck',
      port,
      requestPath: '/healthz',
      checkIntervalSec: 5,
      timeoutSec: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
      selfLink: `${API}/global/httpHealthChecks/lb-hc`,
    });

    await succeeded(
      api.targetPools.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        targetPoolResource: {
          name: 'lb',
          healthChecks: ['global/httpHealthChecks/lb-hc'],
          sessionAffinity: 'NONE',
        },
      }),
    );
    const add = await succeeded(
      api.targetPools.addInstance({
        project: PROJECT,
        region: REGION,
        targetPool: 'lb',
        requestId: id(),
        targetPoolsAddInstanceRequestResource: { instances: [{ instance: `zones/${ZONE}/instances/lb-1` }] },
      }),
    );
    expect(add).toMatchObject({ operationType: 'addInstance', region: `${API}/regions/${REGION}` });
    await succeeded(
      api.addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        addressResource: { name: 'lb-ip' },
      }),
    );
    const [address] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'lb-ip' });
    await succeeded(
      api.forwardingRules.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        forwardingRuleResource: {
          name: 'lb',
          IPAddress: address.address,
          IPProtocol: 'TCP',
          loadBalancingScheme: 'EXTERNAL',
          portRange: '6443',
          target: `regions/${REGION}/targetPools/lb`,
        },
      }),
    );
    const [rule] = await api.forwardingRules.get({ project: PROJECT, region: REGION, forwardingRule: 'lb' });
    expect(rule).toMatchObject({
      IPAddress: address.address,
      portRange: '6443-6443',
      target: `${API}/regions/${REGION}/targetPools/lb`,
    });
    const [inUse] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'lb-ip' });
    expect(inUse).toMatchObject({ status: 'IN_USE', users: [rule.selfLink] });
    const [pool] = await api.targetPools.get({ project: PROJECT, region: REGION, targetPool: 'lb' });
    expect(pool).toMatchObject({
      instances: [instance.selfLink],
      healthChecks: [`${API}/global/httpHealthChecks/lb-hc`],
    });

    const health = async () => {
      const [result] = await api.targetPools.getHealth({
        project: PROJECT,
        region: REGION,
        targetPool: 'lb',
        instanceReferenceResource: { instance: instance.selfLink },
      });
      return result.healthStatus ?? [];
    };
    expect(await health()).toMatchObject([
      { instance: instance.selfLink, ipAddress: address.address, healthState: 'HEALTHY' },
    ]);
    await new Promise<void>((resolve) => listener?.close(() => resolve()));
    expect(await health()).toMatchObject([{ instance: instance.selfLink, healthState: 'UNHEALTHY' }]);

    // What uses something cannot go: the pool under a rule, the check under a pool.
    const poolInUse = await refusal(
      api.targetPools.delete({ project: PROJECT, region: REGION, targetPool: 'lb', requestId: id() }),
    );
    expect(poolInUse.body.error.message).toBe(
      `The target_pool resource 'projects/${PROJECT}/regions/${REGION}/targetPools/lb' is already being used by 'projects/${PROJECT}/regions/${REGION}/forwardingRules/lb'`,
    );
    const checkInUse = await raw('DELETE', `/global/httpHealthChecks/lb-hc?requestId=${id()}`);
    expect(checkInUse.status).toBe(400);
    expect(checkInUse.json.error.errors[0].reason).toBe('resourceInUseByAnotherResource');

    // Taking it apart in kube-down's order.
    await succeeded(
      api.forwardingRules.delete({ project: PROJECT, region: REGION, forwardingRule: 'lb', requestId: id() }),
    );
    const [free] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'lb-ip' });
    expect(free.status).toBe('RESERVED');
    await succeeded(
      api.targetPools.removeInstance({
        project: PROJECT,
        region: REGION,
        targetPool: 'lb',
        requestId: id(),
        targetPoolsRemoveInstanceRequestResource: { instances: [{ instance: instance.selfLink }] },
      }),
    );
    await succeeded(
      api.targetPools.removeHealthCheck({
        project: PROJECT,
        region: REGION,
        targetPool: 'lb',
        requestId: id(),
        targetPoolsRemoveHealthCheckRequestResource: {
          healthChecks: [{ healthCheck: 'global/httpHealthChecks/lb-hc' }],
        },
      }),
    );
    const [emptied] = await api.targetPools.get({ project: PROJECT, region: REGION, targetPool: 'lb' });
    expect(emptied.instances ?? []).toEqual([]);
    expect(emptied.healthChecks ?? []).toEqual([]);
    await succeeded(
      api.targetPools.delete({ project: PROJECT, region: REGION, targetPool: 'lb', requestId: id() }),
    );
    const deleted = await raw('DELETE', `/global/httpHealthChecks/lb-hc?requestId=${id()}`);
    expect((await rawDone(deleted.json)).error).toBeUndefined();
    expect(server.state()[PROJECT]?.httpHealthChecks).toEqual([]);
  });

  it('serves health checks through HealthChecksClient, and a pool without a check is healthy while running', async () => {
    await succeeded(
      api.healthChecks.insert({
        project: PROJECT,
        requestId: id(),
        healthCheckResource: {
          name: 'hc-new',
          type: 'HTTP',
          httpHealthCheck: { port: 8080, requestPath: '/ready' },
        },
      }),
    );
    const [check] = await api.healthChecks.get({ project: PROJECT, healthCheck: 'hc-new' });
    expect(check).toMatchObject({
      type: 'HTTP',
      httpHealthCheck: { port: 8080, requestPath: '/ready' },
      checkIntervalSec: 5,
    });
    const instance = await createInstance('pool-plain');
    await succeeded(
      api.targetPools.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        targetPoolResource: { name: 'plain', instances: [instance.selfLink as string] },
      }),
    );
    const [result] = await api.targetPools.getHealth({
      project: PROJECT,
      region: REGION,
      targetPool: 'plain',
      instanceReferenceResource: { instance: instance.selfLink },
    });
    expect(result.healthStatus).toMatchObject([
      {
        instance: instance.selfLink,
        ipAddress: instance.networkInterfaces[0].networkIP,
        healthState: 'HEALTHY',
      },
    ]);
    await succeeded(
      api.instances.stop({ project: PROJECT, zone: ZONE, instance: 'pool-plain', requestId: id() }),
    );
    const [stopped] = await api.targetPools.getHealth({
      project: PROJECT,
      region: REGION,
      targetPool: 'plain',
      instanceReferenceResource: { instance: instance.selfLink },
    });
    expect(stopped.healthStatus?.[0]?.healthState).toBe('UNHEALTHY');
    await succeeded(
      api.targetPools.addHealthCheck({
        project: PROJECT,
        region: REGION,
        targetPool: 'plain',
        requestId: id(),
        targetPoolsAddHealthCheckRequestResource: { healthChecks: [{ healthCheck: check.selfLink }] },
      }),
    );
    const [withCheck] = await api.targetPools.get({ project: PROJECT, region: REGION, targetPool: 'plain' });
    expect(withCheck.healthChecks).toEqual([check.selfLink]);
  });

  it('takes a forwarding rule IP by address name or URL, or an ephemeral one, and promotes an ephemeral IP', async () => {
    await succeeded(
      api.targetPools.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        targetPoolResource: { name: 'fr-pool' },
      }),
    );
    await succeeded(
      api.addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        addressResource: { name: 'fr-ip' },
      }),
    );
    const [address] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'fr-ip' });
    const rule = (name: string, IPAddress?: string) =>
      api.forwardingRules.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        forwardingRuleResource: {
          name,
          ...(IPAddress === undefined ? {} : { IPAddress }),
          portRange: '443-443',
          target: `${API}/regions/${REGION}/targetPools/fr-pool`,
        },
      });
    await succeeded(rule('fr-by-name', 'fr-ip'));
    const [byName] = await api.forwardingRules.get({
      project: PROJECT,
      region: REGION,
      forwardingRule: 'fr-by-name',
    });
    expect(byName.IPAddress).toBe(address.address);
    const taken = await refusal(rule('fr-by-url', String(address.selfLink)));
    expect(taken.code).toBe(400);
    expect(taken.body.error.message).toContain(
      'Specified IP address is in-use and would result in a conflict.',
    );
    const missing = await refusal(rule('fr-missing', 'no-such-ip'));
    expect(missing.code).toBe(404);
    await succeeded(rule('fr-ephemeral'));
    const [ephemeral] = await api.forwardingRules.get({
      project: PROJECT,
      region: REGION,
      forwardingRule: 'fr-ephemeral',
    });
    expect(ephemeral.IPAddress).toMatch(/^127\.(1[6-9]\d)\.\d+\.\d+$/);
    // Reserving the IP a rule already has: the new address is born IN_USE by it.
    await succeeded(
      api.addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        addressResource: { name: 'fr-promoted', address: String(ephemeral.IPAddress) },
      }),
    );
    const [promoted] = await api.addresses.get({ project: PROJECT, region: REGION, address: 'fr-promoted' });
    expect(promoted).toMatchObject({
      status: 'IN_USE',
      users: [ephemeral.selfLink],
      address: ephemeral.IPAddress,
    });
  });

  it("accepts references rooted at the server's own URL, and refuses to remove an instance the pool does not hold", async () => {
    const own = `${server.url}/compute/v1/projects/${PROJECT}`;
    const member = await createInstance('own-root-1', {
      machineType: `${own}/zones/${ZONE}/machineTypes/e2-small`,
    });
    expect(member.machineType).toBe(`${API}/zones/${ZONE}/machineTypes/e2-small`);
    const outsider = await createInstance('own-root-2');
    await succeeded(
      api.targetPools.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        targetPoolResource: { name: 'own-root', instances: [`${own}/zones/${ZONE}/instances/own-root-1`] },
      }),
    );
    await succeeded(
      api.forwardingRules.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        forwardingRuleResource: {
          name: 'own-root',
          portRange: '6443',
          target: `${own}/regions/${REGION}/targetPools/own-root`,
        },
      }),
    );
    const [rule] = await api.forwardingRules.get({
      project: PROJECT,
      region: REGION,
      forwardingRule: 'own-root',
    });
    expect(rule.target).toBe(`${API}/regions/${REGION}/targetPools/own-root`);

    const outsiderUrl = `${own}/zones/${ZONE}/instances/own-root-2`;
    const refused = await refusal(
      api.targetPools.removeInstance({
        project: PROJECT,
        region: REGION,
        targetPool: 'own-root',
        requestId: id(),
        targetPoolsRemoveInstanceRequestResource: { instances: [{ instance: outsiderUrl }] },
      }),
    );
    const message = `Invalid value for field 'resource.instance': '${outsiderUrl}'. Instance is not currently attached to this target pool.`;
    expect(refused.code).toBe(400);
    expect(refused.body.error).toEqual({
      code: 400,
      message,
      errors: [{ message, domain: 'global', reason: 'invalid' }],
    });
    await succeeded(
      api.targetPools.removeInstance({
        project: PROJECT,
        region: REGION,
        targetPool: 'own-root',
        requestId: id(),
        targetPoolsRemoveInstanceRequestResource: {
          instances: [{ instance: `${own}/zones/${ZONE}/instances/own-root-1` }],
        },
      }),
    );
    const [pool] = await api.targetPools.get({ project: PROJECT, region: REGION, targetPool: 'own-root' });
    expect(pool.instances ?? []).toEqual([]);
    expect(outsider.selfLink).toBe(`${API}/zones/${ZONE}/instances/own-root-2`);
  });
});

describe('firewalls', () => {
  it('inserts with GCE defaults, patches, updates and deletes', async () => {
    await succeeded(
      api.firewalls.insert({
        project: PROJECT,
        requestId: id(),
        firewallResource: {
          name: 'fw-etcd',
          allowed: [{ IPProtocol: 'tcp', ports: ['2379-2381'] }],
          sourceTags: ['c-master'],
          targetTags: ['c-master'],
        },
      }),
    );
    const [created] = await api.firewalls.get({ project: PROJECT, firewall: 'fw-etcd' });
    expect(created).toMatchObject({
      kind: 'compute#firewall',
      network: `${API}/global/networks/default`,
      priority: 1000,
      direction: 'INGRESS',
      disabled: false,
      sourceTags: ['c-master'],
      allowed: [{ IPProtocol: 'tcp', ports: ['2379-2381'] }],
    });
    const patch = await succeeded(
      api.firewalls.patch({
        project: PROJECT,
        firewall: 'fw-etcd',
        requestId: id(),
        firewallResource: { allowed: [{ IPProtocol: 'tcp', ports: ['2379-2380'] }] },
      }),
    );
    expect(patch.operationType).toBe('patch');
    const [patched] = await api.firewalls.get({ project: PROJECT, firewall: 'fw-etcd' });
    expect(patched).toMatchObject({
      id: created.id,
      sourceTags: ['c-master'],
      allowed: [{ ports: ['2379-2380'] }],
    });
    await succeeded(
      api.firewalls.update({
        project: PROJECT,
        firewall: 'fw-etcd',
        requestId: id(),
        firewallResource: { name: 'fw-etcd', allowed: [{ IPProtocol: 'udp' }], sourceRanges: ['10.0.0.0/8'] },
      }),
    );
    const [updated] = await api.firewalls.get({ project: PROJECT, firewall: 'fw-etcd' });
    expect(updated.sourceTags ?? []).toEqual([]);
    expect(updated).toMatchObject({
      id: created.id,
      sourceRanges: ['10.0.0.0/8'],
      allowed: [{ IPProtocol: 'udp' }],
    });
    const [listed] = await api.firewalls.list({ project: PROJECT });
    expect(listed.map((rule) => rule.name)).toContain('fw-etcd');
    await succeeded(api.firewalls.delete({ project: PROJECT, firewall: 'fw-etcd', requestId: id() }));
    expect((await refusal(api.firewalls.get({ project: PROJECT, firewall: 'fw-etcd' }))).code).toBe(404);
  });
});

describe('operations', () => {
  let slow: ComputeApiServer;
  let slowApi: Clients;

  beforeAll(async () => {
    slow = await startComputeApiServer({ operationDelayMs: 600, waitTimeoutMs: 100 });
    slowApi = clientsFor(slow);
  });

  afterAll(async () => {
    for (const client of Object.values(slowApi ?? {})) await client.close();
    await slow?.close();
  });

  it('runs PENDING → RUNNING → DONE, applies the change only when DONE, and wait answers early when told to', async () => {
    const [started] = (await slowApi.disks.insert({
      project: PROJECT,
      zone: ZONE,
      requestId: id(),
      diskResource: { name: 'slow-pd' },
    })) as Started;
    const operation = started.latestResponse;
    expect(operation.status).toBe('PENDING');
    // Until the operation is done, the disk does not exist yet (GCE can answer 404 right after an insert).
    expect((await refusal(slowApi.disks.get({ project: PROJECT, zone: ZONE, disk: 'slow-pd' }))).code).toBe(
      404,
    );
    const early = Date.now();
    const [waited] = await slowApi.zoneOperations.wait({
      project: PROJECT,
      zone: ZONE,
      operation: operation.name,
    });
    expect(Date.now() - early).toBeLessThan(500);
    expect(['PENDING', 'RUNNING']).toContain(waited.status);
    let [current] = await slowApi.zoneOperations.get({
      project: PROJECT,
      zone: ZONE,
      operation: operation.name,
    });
    while (current.status !== 'DONE') {
      [current] = await slowApi.zoneOperations.wait({
        project: PROJECT,
        zone: ZONE,
        operation: operation.name,
      });
    }
    expect(current).toMatchObject({ progress: 100, targetId: operation.targetId });
    const [disk] = await slowApi.disks.get({ project: PROJECT, zone: ZONE, disk: 'slow-pd' });
    expect(disk.id).toBe(operation.targetId);
    const seen = slow.requests.filter((r) => r.method === 'compute.zoneOperations.wait').length;
    expect(seen).toBeGreaterThan(1);
  });

  it('lists, gets and deletes operations per scope; a second delete of a busy resource is resourceNotReady', async () => {
    await succeeded(
      api.addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        addressResource: { name: 'ops-ip' },
      }),
    );
    const [regional] = await api.regionOperations.list({ project: PROJECT, region: REGION });
    const insert = regional.find(
      (operation) => operation.targetLink === `${API}/regions/${REGION}/addresses/ops-ip`,
    );
    expect(insert).toMatchObject({
      operationType: 'insert',
      status: 'DONE',
      region: `${API}/regions/${REGION}`,
    });
    await api.regionOperations.delete({ project: PROJECT, region: REGION, operation: String(insert?.name) });
    const gone = await refusal(
      api.regionOperations.get({ project: PROJECT, region: REGION, operation: String(insert?.name) }),
    );
    expect(gone.code).toBe(404);
    expect(gone.body.error.message).toBe(
      `The resource 'projects/${PROJECT}/regions/${REGION}/operations/${insert?.name}' was not found`,
    );

    const [first] = (await slowApi.addresses.insert({
      project: PROJECT,
      region: REGION,
      requestId: id(),
      addressResource: { name: 'busy-ip' },
    })) as Started;
    const duplicate = await refusal(
      slowApi.addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: id(),
        addressResource: { name: 'busy-ip' },
      }),
    );
    expect(duplicate.code).toBe(409);
    expect(duplicate.body.error.errors[0]).toEqual({
      message: `The resource 'projects/${PROJECT}/regions/${REGION}/addresses/busy-ip' already exists`,
      domain: 'global',
      reason: 'alreadyExists',
    });
    await done(Promise.resolve([first]), slowApi);
    await slowApi.addresses.delete({ project: PROJECT, region: REGION, address: 'busy-ip', requestId: id() });
    const notReady = await refusal(
      slowApi.addresses.delete({ project: PROJECT, region: REGION, address: 'busy-ip', requestId: id() }),
    );
    expect(notReady.code).toBe(400);
    expect(notReady.body.error.errors[0].reason).toBe('resourceNotReady');
  });
});

describe('requestId', () => {
  it('must be a UUID', async () => {
    const bad = await refusal(
      api.disks.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: 'not-a-uuid',
        diskResource: { name: 'rid-pd' },
      }),
    );
    expect(bad.code).toBe(400);
    expect(bad.body.error.errors[0].reason).toBe('invalid');
    expect(bad.body.error.message).toMatch(/^Invalid value for field 'requestId': 'not-a-uuid'\. /);
    expect(server.state()[PROJECT]?.disks.map((disk) => disk.name)).not.toContain('rid-pd');
  });

  it('returns the original operation for a repeat and changes nothing, also when the operation failed', async () => {
    const requestId = id();
    const first = await succeeded(
      api.disks.insert({ project: PROJECT, zone: ZONE, requestId, diskResource: { name: 'rid-pd' } }),
    );
    const [again] = (await api.disks.insert({
      project: PROJECT,
      zone: ZONE,
      requestId,
      diskResource: { name: 'rid-pd' },
    })) as Started;
    expect(again.latestResponse).toMatchObject({ name: first.name, id: first.id, status: 'DONE' });
    expect(server.state()[PROJECT]?.disks.filter((disk) => disk.name === 'rid-pd')).toHaveLength(1);

    server.faults.add({
      match: { method: 'compute.disks.insert' },
      effect: { kind: 'operation-error', code: 'QUOTA_EXCEEDED' },
    });
    const failedId = id();
    const failed = await done(
      api.disks.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: failedId,
        diskResource: { name: 'rid-q' },
      }),
    );
    expect(failed.error.errors[0].code).toBe('QUOTA_EXCEEDED');
    const repeat = await done(
      api.disks.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: failedId,
        diskResource: { name: 'rid-q' },
      }),
    );
    expect(repeat).toMatchObject({ name: failed.name, httpErrorStatusCode: 403 });
    expect((await refusal(api.disks.get({ project: PROJECT, zone: ZONE, disk: 'rid-q' }))).code).toBe(404);
  });
});

describe('errors as GCE writes them, as the client surfaces them', () => {
  const countOf = (method: string) => server.requests.filter((r) => r.method === method).length;

  it('404 notFound and 409 alreadyExists', async () => {
    const missing = await refusal(api.instances.get({ project: PROJECT, zone: ZONE, instance: 'nobody' }));
    expect(missing.name).toBe('GaxiosError');
    expect(missing).toMatchObject({ code: 404, status: 404 });
    expect(missing.body).toEqual({
      error: {
        code: 404,
        message: `The resource 'projects/${PROJECT}/zones/${ZONE}/instances/nobody' was not found`,
        errors: [
          {
            message: `The resource 'projects/${PROJECT}/zones/${ZONE}/instances/nobody' was not found`,
            domain: 'global',
            reason: 'notFound',
          },
        ],
      },
    });
    await succeeded(
      api.disks.insert({ project: PROJECT, zone: ZONE, requestId: id(), diskResource: { name: 'twice-pd' } }),
    );
    const twice = await refusal(
      api.disks.insert({ project: PROJECT, zone: ZONE, requestId: id(), diskResource: { name: 'twice-pd' } }),
    );
    expect(twice).toMatchObject({ code: 409, status: 409 });
    expect(twice.body.error.message).toBe(
      `The resource 'projects/${PROJECT}/zones/${ZONE}/disks/twice-pd' already exists`,
    );
    expect(twice.body.error.errors[0].reason).toBe('alreadyExists');
  });

  it('400 for a misspelled field, a missing name and a bad name, with nothing changed', async () => {
    const misspelled = await raw('POST', `/zones/${ZONE}/instances?requestId=${id()}`, {
      ...instanceBody('typo-1'),
      networkInterfaces: [{ acessConfigs: [{ name: 'external-nat' }] }],
    });
    expect(misspelled.status).toBe(400);
    expect(misspelled.json.error.errors[0]).toMatchObject({
      domain: 'global',
      reason: 'invalid',
      message: expect.stringContaining("'resource.networkInterfaces[0].acessConfigs'"),
    });
    const wrongType = await raw('POST', `/zones/${ZONE}/disks?requestId=${id()}`, {
      name: 'typo-pd',
      sizeGb: true,
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.error.message).toContain("'resource.sizeGb'");
    const noName = await refusal(
      api.disks.insert({ project: PROJECT, zone: ZONE, requestId: id(), diskResource: {} }),
    );
    expect(noName.code).toBe(400);
    expect(noName.body.error.errors[0]).toEqual({
      message: "Required field 'resource.name' not specified",
      domain: 'global',
      reason: 'required',
    });
    const badName = await refusal(
      api.disks.insert({ project: PROJECT, zone: ZONE, requestId: id(), diskResource: { name: 'Bad_Name' } }),
    );
    expect(badName.body.error.message).toBe(
      "Invalid value for field 'resource.name': 'Bad_Name'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
    );
    const names = server.state()[PROJECT]?.instances.map((instance) => instance.name);
    expect(names).not.toContain('typo-1');
    expect(
      server.requests
        .filter((r) => r.path.endsWith('/disks') && r.status === 400)
        .every((r) => r.method === 'compute.disks.insert'),
    ).toBe(true);
  });

  it('429 and 403 rate limits, 401, 500 and 503 from injected faults, each once and not retried by the client', async () => {
    const cases = [
      { status: 429 as const, reason: 'rateLimitExceeded', domain: 'global', rpc: 'RESOURCE_EXHAUSTED' },
      {
        status: 403 as const,
        reason: 'rateLimitExceeded',
        domain: 'usageLimits',
        message: 'Rate Limit Exceeded',
      },
      {
        status: 403 as const,
        reason: 'userRateLimitExceeded',
        domain: 'usageLimits',
        message: 'User Rate Limit Exceeded',
      },
      { status: 403 as const, reason: 'forbidden', domain: 'global' },
      { status: 401 as const, reason: 'authError', domain: 'global', rpc: 'UNAUTHENTICATED' },
      { status: 500 as const, reason: 'backendError', domain: 'global' },
      { status: 503 as const, reason: 'backendError', domain: 'global' },
    ];
    for (const expected of cases) {
      const before = countOf('compute.instances.get');
      server.faults.add({
        match: { method: 'compute.instances.get' },
        effect: { kind: 'http', status: expected.status, reason: expected.reason },
      });
      const refused = await refusal(api.instances.get({ project: PROJECT, zone: ZONE, instance: 'nobody' }));
      expect(refused).toMatchObject({ name: 'GaxiosError', code: expected.status, status: expected.status });
      expect(refused.body.error.code).toBe(expected.status);
      expect(refused.body.error.errors[0]).toMatchObject({
        reason: expected.reason,
        domain: expected.domain,
      });
      if (expected.message !== undefined) expect(refused.body.error.message).toBe(expected.message);
      if (expected.rpc !== undefined) expect(refused.body.error.status).toBe(expected.rpc);
      expect(countOf('compute.instances.get')).toBe(before + 1);
    }
    const backend = server.requests.filter((r) => r.method === 'compute.instances.get' && r.status === 503);
    expect(backend).toHaveLength(1);
    expect(
      (await refusal(api.instances.get({ project: PROJECT, zone: ZONE, instance: 'nobody' }))).code,
    ).toBe(404);
  });

  it('QUOTA_EXCEEDED as an operation error: 403 FORBIDDEN, GCE message, nothing created', async () => {
    server.faults.add({
      match: { method: 'compute.instances.insert' },
      effect: { kind: 'operation-error', code: 'QUOTA_EXCEEDED' },
    });
    const operation = await done(
      api.instances.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: id(),
        instanceResource: instanceBody('quota-1'),
      }),
    );
    expect(operation).toMatchObject({
      status: 'DONE',
      httpErrorStatusCode: 403,
      httpErrorMessage: 'FORBIDDEN',
      error: {
        errors: [
          {
            code: 'QUOTA_EXCEEDED',
            message: `Quota 'CPUS' exceeded.  Limit: 24.0 in region ${REGION}.`,
            errorDetails: [
              {
                quotaInfo: {
                  metricName: 'compute.googleapis.com/cpus',
                  limitName: 'CPUS-per-project-region',
                  limit: 24,
                },
              },
            ],
          },
        ],
      },
    });
    expect(
      (await refusal(api.instances.get({ project: PROJECT, zone: ZONE, instance: 'quota-1' }))).code,
    ).toBe(404);
    expect((await refusal(api.disks.get({ project: PROJECT, zone: ZONE, disk: 'quota-1' }))).code).toBe(404);
    // The name is free again: the same insert goes through now.
    await createInstance('quota-1');
  });
});

describe('faults', () => {
  it('latency holds a matching request; the global latency holds every request', async () => {
    const held = server.faults.add({
      match: { method: 'compute.zones.get' },
      effect: { kind: 'latency', ms: 250 },
    });
    let start = Date.now();
    await api.zones.get({ project: PROJECT, zone: ZONE });
    expect(Date.now() - start).toBeGreaterThanOrEqual(240);
    start = Date.now();
    await api.zones.get({ project: PROJECT, zone: ZONE });
    expect(Date.now() - start).toBeLessThan(250);
    expect(held).toMatchObject({ seen: 2, fired: 1 });
    server.latencyMs = 150;
    try {
      start = Date.now();
      await api.regions.get({ project: PROJECT, region: REGION });
      expect(Date.now() - start).toBeGreaterThanOrEqual(140);
    } finally {
      server.latencyMs = 0;
    }
  });

  it('after and times pick which matching calls fail; path and httpMethod match too', async () => {
    const fault = server.faults.add({
      match: { path: new RegExp(`/regions/${REGION}$`), httpMethod: 'GET' },
      after: 1,
      times: 2,
      effect: { kind: 'http', status: 503 },
    });
    const outcomes: unknown[] = [];
    for (let i = 0; i < 4; i += 1) {
      outcomes.push(
        await api.regions.get({ project: PROJECT, region: REGION }).then(
          () => 'ok',
          (error) => (error as Json).code,
        ),
      );
    }
    expect(outcomes).toEqual(['ok', 503, 503, 'ok']);
    expect(fault).toMatchObject({ seen: 4, fired: 2 });
    expect(server.faults.active.map((active) => active.rule)).toContain(fault.rule);
    fault.remove();
    expect(server.faults.active.map((active) => active.rule)).not.toContain(fault.rule);
    server.faults.clear();
    expect(server.faults.active).toEqual([]);
  });

  it('drop closes the connection before the change; with afterChange the retry gets the original operation', async () => {
    server.faults.add({ match: { method: 'compute.disks.insert' }, effect: { kind: 'drop' } });
    const lost = await api.disks
      .insert({ project: PROJECT, zone: ZONE, requestId: id(), diskResource: { name: 'drop-pd' } })
      .then(
        () => undefined,
        (error: Json) => error,
      );
    expect(lost).toBeInstanceOf(Error);
    expect(
      lost.code === 'ECONNRESET' ||
        /socket hang up|ECONNRESET|fetch failed|terminated/i.test(String(lost.message)),
    ).toBe(true);
    expect(server.state()[PROJECT]?.disks.map((disk) => disk.name)).not.toContain('drop-pd');
    expect(server.requests.at(-1)).toMatchObject({
      method: 'compute.disks.insert',
      dropped: true,
      status: undefined,
    });

    server.faults.add({
      match: { method: 'compute.disks.insert' },
      effect: { kind: 'drop', afterChange: true },
    });
    const requestId = id();
    const afterLoss = await api.disks
      .insert({ project: PROJECT, zone: ZONE, requestId, diskResource: { name: 'drop-pd' } })
      .then(
        () => undefined,
        (error: Json) => error,
      );
    expect(afterLoss).toBeInstanceOf(Error);
    const retried = await succeeded(
      api.disks.insert({ project: PROJECT, zone: ZONE, requestId, diskResource: { name: 'drop-pd' } }),
    );
    const operations = server
      .state()
      [PROJECT]?.operations.filter(
        (operation) => operation.targetLink === `${API}/zones/${ZONE}/disks/drop-pd`,
      );
    expect(operations?.map((operation) => operation.name)).toEqual([retried.name]);
    expect(server.state()[PROJECT]?.disks.filter((disk) => disk.name === 'drop-pd')).toHaveLength(1);
  });

  it('rejects malformed rules', () => {
    server.faults.clear();
    expect(() => server.faults.add({ match: {}, effect: { kind: 'http', status: 418 as 429 } })).toThrow(
      RangeError,
    );
    expect(() => server.faults.add({ match: {}, times: -1, effect: { kind: 'latency', ms: 1 } })).toThrow(
      RangeError,
    );
    expect(server.faults.active).toEqual([]);
  });
});

describe('batch', () => {
  it('answers POST /batch/compute/v1 part by part through the normal routing, in order, with response Content-IDs', async () => {
    const part = (contentId: string, request: string) =>
      ['--b0', 'Content-Type: application/http', `Content-ID: <${contentId}>`, '', request].join('\n');
    const base = `/compute/v1/projects/${PROJECT}`;
    const diskRequest = id();
    const body = [
      part('x+0', `GET ${base}/zones/${ZONE}/instances?alt=json HTTP/1.1\nHost: h\n\n`),
      part('x+1', `GET ${base}/zones/${ZONE}/instances/no-such-vm?alt=json HTTP/1.1\n\n`),
      part(
        'x+2',
        `POST ${base}/zones/${ZONE}/disks?requestId=${diskRequest} HTTP/1.1\nContent-Type: application/json\n\n{"name": "batch-d"}`,
      ),
      '--b0--',
      '',
    ].join('\n');
    const response = await fetch(`${server.url}/batch/compute/v1`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/mixed; boundary="b0"' },
      body,
    });
    expect(response.status).toBe(200);
    const boundary = /boundary=(\S+)/.exec(response.headers.get('content-type') ?? '')?.[1];
    const parts = (await response.text())
      .split(`--${boundary}`)
      .slice(1, -1)
      .map((text) => {
        const [, contentId] = /Content-ID: <(.*)>/.exec(text) ?? [];
        const [, status] = /HTTP\/1\.1 (\d+) /.exec(text) ?? [];
        const json = JSON.parse(text.slice(text.indexOf('{')));
        return { contentId, status: Number(status), json };
      });
    expect(parts.map(({ contentId, status }) => [contentId, status])).toEqual([
      ['response-x+0', 200],
      ['response-x+1', 404],
      ['response-x+2', 200],
    ]);
    expect(parts[0]?.json.kind).toBe('compute#instanceList');
    expect(parts[1]?.json.error.message).toBe(
      `The resource 'projects/${PROJECT}/zones/${ZONE}/instances/no-such-vm' was not found`,
    );
    const operation = parts[2]?.json;
    expect(operation).toMatchObject({ kind: 'compute#operation', operationType: 'insert' });
    await api.zoneOperations.wait({ project: PROJECT, zone: ZONE, operation: operation.name });
    const [disk] = await api.disks.get({ project: PROJECT, zone: ZONE, disk: 'batch-d' });
    expect(disk.name).toBe('batch-d');
    // The log has the batch and each part as a request of its own.
    const batchAt = server.requests.findLastIndex((r) => r.path === '/batch/compute/v1');
    expect(
      server.requests.slice(batchAt, batchAt + 4).map((r) => [r.method, r.httpMethod, r.status, r.requestId]),
    ).toEqual([
      [undefined, 'POST', 200, undefined],
      ['compute.instances.list', 'GET', 200, undefined],
      ['compute.instances.get', 'GET', 404, undefined],
      ['compute.disks.insert', 'POST', 200, diskRequest],
    ]);

    const notMultipart = await fetch(`${server.url}/batch/compute/v1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(notMultipart.status).toBe(400);
    expect(((await notMultipart.json()) as Json).error.errors[0].reason).toBe('badRequest');
  });
});

describe('the request log', () => {
  it('recorded every request from loopback, and every mutating call this suite made carried a UUID requestId', () => {
    expect(server.requests.length).toBeGreaterThan(100);
    expect(server.requests.every((r) => r.remoteAddress === '127.0.0.1')).toBe(true);
    const mutating = server.requests.filter(
      (r) =>
        r.httpMethod !== 'GET' &&
        r.method !== undefined &&
        !/Operations\.(wait|delete)$|getHealth$/.test(r.method),
    );
    expect(mutating.length).toBeGreaterThan(50);
    const withoutId = mutating.filter((r) => r.requestId === undefined);
    expect(withoutId).toEqual([]);
    expect(
      mutating.filter((r) => r.status === 200).every((r) => /^[0-9a-f-]{36}$/.test(String(r.requestId))),
    ).toBe(true);
  });
});
