import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import compute from '@google-cloud/compute';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGuestServer, TEST_STARTUP_SCRIPT, until } from './compute-api/guest.test-support.js';
import { probeHttp } from './compute-api/vm-runtime.js';
import { canCreateVpc } from './compute-api/vpc.js';
import type { ComputeApiServer } from './compute-api-server.js';

// biome-ignore lint/suspicious/noExplicitAny: API resources are asserted by value, read by path
type Json = any;

const PROJECT = 'hacp-test';
const ZONE = 'europe-west1-c';
const REGION = 'europe-west1';

let dir: string;
let server: ComputeApiServer;
let clients: {
  instances: compute.InstancesClient;
  forwardingRules: compute.ForwardingRulesClient;
  addresses: compute.AddressesClient;
  targetPools: compute.TargetPoolsClient;
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

const PORT = 8081;

beforeAll(async () => {
  if (!canCreateVpc()) return;
  dir = await mkdtemp(join(tmpdir(), 'hacp-compute-vms-'));
  server = await startTestGuestServer(dir);
  const options = { ...server.clientOptions, authClient: new PassThroughClient() };
  clients = {
    instances: new compute.InstancesClient(options),
    forwardingRules: new compute.ForwardingRulesClient(options),
    addresses: new compute.AddressesClient(options),
    targetPools: new compute.TargetPoolsClient(options),
    zoneOperations: new compute.ZoneOperationsClient(options),
    regionOperations: new compute.RegionOperationsClient(options),
    globalOperations: new compute.GlobalOperationsClient(options),
  };
});

afterAll(async () => {
  for (const client of Object.values(clients ?? {})) await client.close();
  // close() stops every VM process by pid and deletes the VPC.
  await server?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function reserve(name: string, addressType: 'INTERNAL' | 'EXTERNAL'): Promise<string> {
  await settle(
    clients.addresses.insert({
      project: PROJECT,
      region: REGION,
      requestId: randomUUID(),
      addressResource: { name, addressType },
    }),
  );
  const [address] = await clients.addresses.get({ project: PROJECT, region: REGION, address: name });
  return String(address.address);
}

/** A VM booted by the test startup script; its kubelet listens on `bind` (0.0.0.0 or its internal IP). */
async function insertVm(
  name: string,
  bind: 'any' | 'internal',
  natIP?: string,
): Promise<{ ip: string; link: string }> {
  const ip = await reserve(`${name}-internal`, 'INTERNAL');
  await settle(
    clients.instances.insert({
      project: PROJECT,
      zone: ZONE,
      requestId: randomUUID(),
      instanceResource: {
        name,
        machineType: `zones/${ZONE}/machineTypes/e2-standard-2`,
        disks: [
          {
            boot: true,
            autoDelete: true,
            initializeParams: { sourceImage: 'projects/cos-cloud/global/images/family/cos-stable' },
          },
          {
            boot: false,
            autoDelete: true,
            deviceName: 'master-pd',
            initializeParams: { diskName: `${name}-pd`, diskSizeGb: '20' },
          },
        ],
        networkInterfaces: [
          {
            networkIP: ip,
            ...(natIP === undefined
              ? {}
              : { accessConfigs: [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT', natIP }] }),
          },
        ],
        metadata: {
          items: [
            { key: 'hacp-cluster', value: 'c1' },
            { key: 'test-port', value: String(PORT) },
            { key: 'test-bind', value: bind === 'any' ? '0.0.0.0' : ip },
            { key: 'startup-script', value: TEST_STARTUP_SCRIPT },
          ],
        },
      },
    }),
  );
  await until(`${name} to answer`, async () =>
    (await probeHttp(`http://${ip}:${PORT}/healthz`, 500)) ? true : undefined,
  );
  const [instance] = await clients.instances.get({ project: PROJECT, zone: ZONE, instance: name });
  return { ip, link: String(instance.selfLink) };
}

/** Who answers at `ip` (its instance name), or undefined when nobody does. */
async function whoAnswers(ip: string): Promise<string | undefined> {
  try {
    const response = await fetch(`http://${ip}:${PORT}/env`, { signal: AbortSignal.timeout(2000) });
    return ((await response.json()) as { name: string }).name;
  } catch {
    return undefined;
  }
}

describe.skipIf(!canCreateVpc())(
  'instances booted on this machine, behind a load balancer with a data path',
  { timeout: 180_000 },
  () => {
    it("translates an access config's external IP to the instance, whatever it binds", async () => {
      const natIP = await reserve('vm-nat-ip', 'EXTERNAL');
      await insertVm('vm-nat', 'internal', natIP);
      expect(await until('the external IP to answer', () => whoAnswers(natIP))).toBe('vm-nat');
      // The serial console holds what the startup script printed.
      const [serial] = await clients.instances.getSerialPortOutput({
        project: PROJECT,
        zone: ZONE,
        instance: 'vm-nat',
      });
      expect(serial.contents).toContain('test-boot: done');
      expect(serial.contents).toContain('Started kubelet.service');
      await settle(
        clients.instances.stop({ project: PROJECT, zone: ZONE, instance: 'vm-nat', requestId: randomUUID() }),
      );
      expect(await whoAnswers(natIP)).toBeUndefined();
      await settle(
        clients.instances.delete({
          project: PROJECT,
          zone: ZONE,
          instance: 'vm-nat',
          requestId: randomUUID(),
        }),
      );
      // Its data disk was auto-deleted with it, data included: a new disk of that name starts empty.
      expect(existsSync(join(dir, 'runtime', 'disks', ZONE, 'vm-nat-pd'))).toBe(false);
    });

    it("checks health at the forwarding rule's IP and sends its packets to the healthy targets only", async () => {
      const a = await insertVm('vm-a', 'any');
      const b = await insertVm('vm-b', 'internal');
      // A legacy HTTP health check (the Node client has no class for them): the REST call, then its operation.
      const response = await fetch(`${server.url}/compute/v1/projects/${PROJECT}/global/httpHealthChecks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'vm-hc',
          port: PORT,
          requestPath: '/healthz',
          checkIntervalSec: 2,
          timeoutSec: 1,
          healthyThreshold: 1,
          unhealthyThreshold: 1,
        }),
      });
      expect(response.status).toBe(200);
      const created = (await response.json()) as { name: string };
      await clients.globalOperations.wait({ project: PROJECT, operation: created.name });
      await settle(
        clients.targetPools.insert({
          project: PROJECT,
          region: REGION,
          requestId: randomUUID(),
          targetPoolResource: {
            name: 'vm-pool',
            instances: [a.link, b.link],
            healthChecks: ['global/httpHealthChecks/vm-hc'],
          },
        }),
      );
      const lbIp = await reserve('vm-lb-ip', 'EXTERNAL');
      await settle(
        clients.forwardingRules.insert({
          project: PROJECT,
          region: REGION,
          requestId: randomUUID(),
          forwardingRuleResource: {
            name: 'vm-rule',
            IPAddress: lbIp,
            IPProtocol: 'TCP',
            portRange: `${PORT}-${PORT}`,
            target: `regions/${REGION}/targetPools/vm-pool`,
          },
        }),
      );
      const health = async () => {
        const states: Record<string, string> = {};
        for (const [name, link] of [
          ['vm-a', a.link],
          ['vm-b', b.link],
        ] as const) {
          const [result] = await clients.targetPools.getHealth({
            project: PROJECT,
            region: REGION,
            targetPool: 'vm-pool',
            instanceReferenceResource: { instance: link },
          });
          states[name] = String(result.healthStatus?.[0]?.healthState);
        }
        return states;
      };
      // vm-b's process listens on its internal IP only: the checks, sent to the rule's IP, fail there.
      await until('vm-a healthy', async () => ((await health())['vm-a'] === 'HEALTHY' ? true : undefined));
      expect(await health()).toEqual({ 'vm-a': 'HEALTHY', 'vm-b': 'UNHEALTHY' });
      expect(await until('the load balancer to answer', () => whoAnswers(lbIp))).toBe('vm-a');
      for (let i = 0; i < 3; i += 1) expect(await whoAnswers(lbIp)).toBe('vm-a');

      // vm-a stops: no target is healthy, so packets go to every running target (vm-b), which refuses them.
      await settle(
        clients.instances.stop({ project: PROJECT, zone: ZONE, instance: 'vm-a', requestId: randomUUID() }),
      );
      await until('vm-a unhealthy', async () =>
        (await health())['vm-a'] === 'UNHEALTHY' ? true : undefined,
      );
      expect(await whoAnswers(lbIp)).toBeUndefined();
      await settle(
        clients.instances.start({ project: PROJECT, zone: ZONE, instance: 'vm-a', requestId: randomUUID() }),
      );
      expect(await until('the load balancer to answer again', () => whoAnswers(lbIp))).toBe('vm-a');
      expect(server.runtimeErrors).toEqual([]);
    });

    it('stops every VM it booted and deletes its namespaces when the server closes', async () => {
      const own = await startTestGuestServer(dir, 'closing');
      const options = { ...own.clientOptions, authClient: new PassThroughClient() };
      const instances = new compute.InstancesClient(options);
      const operations = new compute.ZoneOperationsClient(options);
      let ip = '';
      let pids: number[] = [];
      try {
        const [insert] = await instances.insert({
          project: PROJECT,
          zone: ZONE,
          requestId: randomUUID(),
          instanceResource: {
            name: 'vm-2',
            machineType: `zones/${ZONE}/machineTypes/e2-standard-2`,
            disks: [
              { boot: true, initializeParams: {} },
              { boot: false, deviceName: 'master-pd', initializeParams: { diskName: 'vm-2-pd' } },
            ],
            networkInterfaces: [{}],
            metadata: {
              items: [
                { key: 'hacp-cluster', value: 'c1' },
                { key: 'test-port', value: String(PORT) },
                { key: 'test-bind', value: '0.0.0.0' },
                { key: 'startup-script', value: TEST_STARTUP_SCRIPT },
              ],
            },
          },
        });
        await operations.wait({ project: PROJECT, zone: ZONE, operation: insert.latestResponse.name });
        const [instance] = await instances.get({ project: PROJECT, zone: ZONE, instance: 'vm-2' });
        ip = String(instance.networkInterfaces?.[0]?.networkIP);
        await until('vm-2 to answer', async () =>
          (await probeHttp(`http://${ip}:${PORT}/healthz`, 500)) ? true : undefined,
        );
        pids = own.runtime?.pids() ?? [];
        expect(pids.length).toBeGreaterThan(0);
      } finally {
        for (const client of [instances, operations]) await client.close();
        await own.close();
      }
      expect(ip).not.toBe('');
      expect(await probeHttp(`http://${ip}:${PORT}/healthz`, 500)).toBe(false);
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    });
  },
);
