import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import compute from '@google-cloud/compute';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeHttp } from './compute-api/vm-runtime.js';
import { type ComputeApiServer, startComputeApiServer } from './compute-api-server.js';
import { freePort } from './ports.js';

// biome-ignore lint/suspicious/noExplicitAny: API resources are asserted by value, read by path
type Json = any;

const PROJECT = 'hacp-test';
const ZONE = 'europe-west1-c';
const REGION = 'europe-west1';

/** A VM process: an HTTP server on the instance's own internal IP, answering 200 on /healthz. */
const HEALTH_SERVER = `
const [ip, port] = process.argv.slice(1);
require('node:http').createServer((request, response) => {
  response.statusCode = request.url === '/healthz' ? 200 : 404;
  response.end('ok');
}).listen(Number(port), ip);
process.on('SIGTERM', () => process.exit(0));
`;

let dir: string;
let server: ComputeApiServer;
let clients: {
  instances: compute.InstancesClient;
  addresses: compute.AddressesClient;
  targetPools: compute.TargetPoolsClient;
  healthChecks: compute.HealthChecksClient;
  zoneOperations: compute.ZoneOperationsClient;
  regionOperations: compute.RegionOperationsClient;
  globalOperations: compute.GlobalOperationsClient;
};

async function settle(call: Promise<unknown>): Promise<Json> {
  const [started] = (await call) as [{ latestResponse: Json }];
  let operation = started.latestResponse;
  const scope = (link: unknown) => String(link).split('/').pop();
  while (operation.status !== 'DONE') {
    if (operation.zone) {
      [operation] = await clients.zoneOperations.wait({
        project: PROJECT,
        zone: scope(operation.zone),
        operation: operation.name,
      });
    } else if (operation.region) {
      [operation] = await clients.regionOperations.wait({
        project: PROJECT,
        region: scope(operation.region),
        operation: operation.name,
      });
    } else {
      [operation] = await clients.globalOperations.wait({ project: PROJECT, operation: operation.name });
    }
  }
  expect(operation.error ?? undefined).toBeUndefined();
  return operation;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hacp-compute-vms-'));
  server = await startComputeApiServer({ runtime: { dir: join(dir, 'runtime') } });
  const options = { ...server.clientOptions, authClient: new PassThroughClient() };
  clients = {
    instances: new compute.InstancesClient(options),
    addresses: new compute.AddressesClient(options),
    targetPools: new compute.TargetPoolsClient(options),
    healthChecks: new compute.HealthChecksClient(options),
    zoneOperations: new compute.ZoneOperationsClient(options),
    regionOperations: new compute.RegionOperationsClient(options),
    globalOperations: new compute.GlobalOperationsClient(options),
  };
});

afterAll(async () => {
  for (const client of Object.values(clients ?? {})) await client.close();
  // close() stops every VM process by pid, through the runtime.
  await server?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('instances booted on this machine', () => {
  it('boots the processes of the node configuration, stops, starts and removes them with the instance', async () => {
    await settle(
      clients.addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: randomUUID(),
        addressResource: { name: 'vm-1-internal', addressType: 'INTERNAL' },
      }),
    );
    const [address] = await clients.addresses.get({
      project: PROJECT,
      region: REGION,
      address: 'vm-1-internal',
    });
    const ip = String(address.address);
    const port = await freePort();
    const nodeConfig = {
      format: 1,
      rootDir: '/mnt/disks/master-pd',
      processes: [
        { name: 'health', command: process.execPath, args: ['-e', HEALTH_SERVER, ip, String(port)] },
      ],
    };
    await settle(
      clients.instances.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: randomUUID(),
        instanceResource: {
          name: 'vm-1',
          machineType: `zones/${ZONE}/machineTypes/e2-standard-2`,
          disks: [
            {
              boot: true,
              autoDelete: true,
              initializeParams: { sourceImage: 'projects/cos-cloud/global/images/family/cos-stable' },
            },
          ],
          networkInterfaces: [{ networkIP: ip }],
          metadata: { items: [{ key: 'hacp-node-config', value: JSON.stringify(nodeConfig) }] },
        },
      }),
    );
    const url = `http://${ip}:${port}/healthz`;
    const until = async (healthy: boolean) => {
      const deadline = Date.now() + 10_000;
      while ((await probeHttp(url, 500)) !== healthy) {
        if (Date.now() > deadline)
          throw new Error(`${url} did not become ${healthy ? 'healthy' : 'unhealthy'}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await until(true);

    await settle(
      clients.healthChecks.insert({
        project: PROJECT,
        requestId: randomUUID(),
        healthCheckResource: {
          name: 'vm-hc',
          type: 'HTTP',
          httpHealthCheck: { port, requestPath: '/healthz' },
        },
      }),
    );
    const [instance] = await clients.instances.get({ project: PROJECT, zone: ZONE, instance: 'vm-1' });
    await settle(
      clients.targetPools.insert({
        project: PROJECT,
        region: REGION,
        requestId: randomUUID(),
        targetPoolResource: {
          name: 'vm-pool',
          instances: [String(instance.selfLink)],
          healthChecks: ['global/healthChecks/vm-hc'],
        },
      }),
    );
    const health = async () => {
      const [result] = await clients.targetPools.getHealth({
        project: PROJECT,
        region: REGION,
        targetPool: 'vm-pool',
        instanceReferenceResource: { instance: instance.selfLink },
      });
      return result.healthStatus?.[0]?.healthState;
    };
    expect(await health()).toBe('HEALTHY');

    await settle(
      clients.instances.stop({ project: PROJECT, zone: ZONE, instance: 'vm-1', requestId: randomUUID() }),
    );
    expect(await probeHttp(url, 500)).toBe(false);
    expect(await health()).toBe('UNHEALTHY');

    await settle(
      clients.instances.start({ project: PROJECT, zone: ZONE, instance: 'vm-1', requestId: randomUUID() }),
    );
    await until(true);
    expect(await health()).toBe('HEALTHY');

    await settle(
      clients.instances.delete({ project: PROJECT, zone: ZONE, instance: 'vm-1', requestId: randomUUID() }),
    );
    expect(await probeHttp(url, 500)).toBe(false);
    expect(server.runtimeErrors).toEqual([]);
  });

  it('stops every VM it booted when the server closes', async () => {
    const own = await startComputeApiServer({ runtime: { dir: join(dir, 'closing') } });
    const options = { ...own.clientOptions, authClient: new PassThroughClient() };
    const instances = new compute.InstancesClient(options);
    const operations = new compute.ZoneOperationsClient(options);
    const addresses = new compute.AddressesClient(options);
    const regionOperations = new compute.RegionOperationsClient(options);
    let url = '';
    try {
      const [reserve] = await addresses.insert({
        project: PROJECT,
        region: REGION,
        requestId: randomUUID(),
        addressResource: { name: 'vm-2-internal', addressType: 'INTERNAL' },
      });
      await regionOperations.wait({
        project: PROJECT,
        region: REGION,
        operation: reserve.latestResponse.name,
      });
      const [address] = await addresses.get({ project: PROJECT, region: REGION, address: 'vm-2-internal' });
      const ip = String(address.address);
      const port = await freePort();
      const nodeConfig = {
        format: 1,
        rootDir: '/mnt/disks/master-pd',
        processes: [
          { name: 'health', command: process.execPath, args: ['-e', HEALTH_SERVER, ip, String(port)] },
        ],
      };
      const [insert] = await instances.insert({
        project: PROJECT,
        zone: ZONE,
        requestId: randomUUID(),
        instanceResource: {
          name: 'vm-2',
          machineType: `zones/${ZONE}/machineTypes/e2-standard-2`,
          disks: [{ boot: true, initializeParams: {} }],
          networkInterfaces: [{ networkIP: ip }],
          metadata: { items: [{ key: 'hacp-node-config', value: JSON.stringify(nodeConfig) }] },
        },
      });
      const [operation] = await operations.wait({
        project: PROJECT,
        zone: ZONE,
        operation: insert.latestResponse.name,
      });
      expect(operation.status).toBe('DONE');
      url = `http://${ip}:${port}/healthz`;
      const deadline = Date.now() + 10_000;
      while (!(await probeHttp(url, 500))) {
        if (Date.now() > deadline) throw new Error(`${url} never answered`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      for (const client of [instances, operations, addresses, regionOperations]) await client.close();
      await own.close();
    }
    expect(url).not.toBe('');
    expect(await probeHttp(url, 500)).toBe(false);
  });
});
