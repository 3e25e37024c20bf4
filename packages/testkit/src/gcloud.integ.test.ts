import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import compute from '@google-cloud/compute';
import { waitUntil } from '@hacp/core';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGuestServer, TEST_STARTUP_SCRIPT } from './compute-api/guest.test-support.js';
import { operationDone } from './compute-api/operation-done.js';
import type { ComputeApiServer } from './compute-api-server.js';
import { freePort } from './ports.js';

// biome-ignore lint/suspicious/noExplicitAny: gcloud's JSON and API resources are asserted by value, read by path
type Json = any;

/**
 * The real gcloud CLI against the Compute API server: what an operator types to look at, or fix by hand,
 * what hacp made. gcloud takes 1-2 s to start, so the commands are few and run one at a time.
 */

const PROJECT = 'hacp-test';
const REGION = 'europe-west1';
const ZONE_B = 'europe-west1-b';
const ZONE_C = 'europe-west1-c';
const API = `https://www.googleapis.com/compute/v1/projects/${PROJECT}`;
/** A hung gcloud is killed (its process group, by pid) after this long. */
const COMMAND_TIMEOUT_MS = 120_000;

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((folder) => {
    try {
      accessSync(join(folder, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const GCLOUD_MISSING = onPath('gcloud') ? undefined : 'gcloud is not on PATH';

let dir: string;
let server: ComputeApiServer;
let clients: {
  instances: compute.InstancesClient;
  disks: compute.DisksClient;
  addresses: compute.AddressesClient;
  targetPools: compute.TargetPoolsClient;
  forwardingRules: compute.ForwardingRulesClient;
  firewalls: compute.FirewallsClient;
  zoneOperations: compute.ZoneOperationsClient;
  regionOperations: compute.RegionOperationsClient;
  globalOperations: compute.GlobalOperationsClient;
};
let healthPort: number;

interface GcloudResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs gcloud with this file's configuration folder; kills its process group if it hangs. */
function gcloud(args: string[]): Promise<GcloudResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('gcloud', [...args, '--format=json'], {
      env: {
        ...process.env,
        CLOUDSDK_CONFIG: join(dir, 'gcloud'),
        CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
        // Nothing but loopback: any other request would go to a proxy that is not there.
        HTTPS_PROXY: 'http://127.0.0.1:9',
        HTTP_PROXY: 'http://127.0.0.1:9',
        NO_PROXY: '127.0.0.1,localhost',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      // gcloud is a shell script running Python: the whole process group it leads goes.
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // It ended just now.
      }
    }, COMMAND_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** gcloud's JSON output of a command that must succeed. */
async function gcloudJson(args: string[]): Promise<Json> {
  const result = await gcloud(args);
  if (result.code !== 0) {
    throw new Error(`gcloud ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  }
  return JSON.parse(result.stdout === '' ? 'null' : result.stdout);
}

const names = (resources: Json[]) => resources.map((resource) => String(resource.name)).sort();

/** The server's own view of the project (what hacp would read back). */
const state = () => server.state()[PROJECT] as Json;

/** Waits for the operation a client call started; it must succeed. */
async function succeeded(call: Promise<unknown>): Promise<void> {
  const operation = await operationDone(call, { clients, project: PROJECT });
  expect(operation.error ?? undefined).toBeUndefined();
}

/** What hacp makes for two replicas: instances with their disks and IPs, the load balancer, a firewall rule. */
async function makeControlPlane(): Promise<void> {
  await succeeded(
    clients.addresses.insert({
      project: PROJECT,
      region: REGION,
      requestId: randomUUID(),
      addressResource: { name: 'cp-1-internal', addressType: 'INTERNAL' },
    }),
  );
  const [internal] = await clients.addresses.get({
    project: PROJECT,
    region: REGION,
    address: 'cp-1-internal',
  });
  const ip = String(internal.address);
  await succeeded(
    clients.disks.insert({
      project: PROJECT,
      zone: ZONE_B,
      requestId: randomUUID(),
      diskResource: { name: 'cp-1-pd', sizeGb: '20' },
    }),
  );
  for (const [name, zone] of [
    ['cp-1', ZONE_B],
    ['cp-2', ZONE_C],
  ] as const) {
    await succeeded(
      clients.instances.insert({
        project: PROJECT,
        zone,
        requestId: randomUUID(),
        instanceResource: {
          name,
          machineType: `zones/${zone}/machineTypes/e2-standard-2`,
          labels: { 'hacp-cluster': 'kubernetes' },
          disks: [
            {
              boot: true,
              autoDelete: true,
              initializeParams: { sourceImage: 'projects/cos-cloud/global/images/family/cos-stable' },
            },
            ...(name === 'cp-1' ? [{ source: `zones/${zone}/disks/cp-1-pd`, deviceName: 'master-pd' }] : []),
          ],
          networkInterfaces: [
            {
              ...(name === 'cp-1' ? { networkIP: ip } : {}),
              accessConfigs: [{ name: 'external-nat', type: 'ONE_TO_ONE_NAT' }],
            },
          ],
          // cp-1 boots the test guest, serving /healthz on every address (as hacp's health endpoint does).
          ...(name === 'cp-1'
            ? {
                metadata: {
                  items: [
                    { key: 'hacp-cluster', value: 'kubernetes' },
                    { key: 'test-port', value: String(healthPort) },
                    { key: 'test-bind', value: '0.0.0.0' },
                    { key: 'startup-script', value: TEST_STARTUP_SCRIPT },
                  ],
                },
              }
            : {}),
        },
      }),
    );
  }
  await succeeded(
    clients.addresses.insert({
      project: PROJECT,
      region: REGION,
      requestId: randomUUID(),
      addressResource: { name: 'kubernetes-master-ip' },
    }),
  );
  // Legacy HTTP health checks (what target pools take) have no client in the 6.x library: raw REST.
  const check = await fetch(
    `${server.url}/compute/v1/projects/${PROJECT}/global/httpHealthChecks?requestId=${randomUUID()}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'kubernetes-master-hc',
        port: healthPort,
        requestPath: '/healthz',
        checkIntervalSec: 1,
        timeoutSec: 1,
        healthyThreshold: 1,
      }),
    },
  );
  const checkOperation = (await check.json()) as Json;
  await clients.globalOperations.wait({ project: PROJECT, operation: checkOperation.name });
  await succeeded(
    clients.targetPools.insert({
      project: PROJECT,
      region: REGION,
      requestId: randomUUID(),
      targetPoolResource: {
        name: 'kubernetes-master-pool',
        instances: [`${API}/zones/${ZONE_B}/instances/cp-1`, `${API}/zones/${ZONE_C}/instances/cp-2`],
        healthChecks: ['global/httpHealthChecks/kubernetes-master-hc'],
      },
    }),
  );
  await succeeded(
    clients.forwardingRules.insert({
      project: PROJECT,
      region: REGION,
      requestId: randomUUID(),
      forwardingRuleResource: {
        name: 'kubernetes-master',
        IPAddress: 'kubernetes-master-ip',
        portRange: '443',
        target: `regions/${REGION}/targetPools/kubernetes-master-pool`,
      },
    }),
  );
  await succeeded(
    clients.firewalls.insert({
      project: PROJECT,
      requestId: randomUUID(),
      firewallResource: {
        name: 'kubernetes-master-https',
        allowed: [{ IPProtocol: 'tcp', ports: ['443'] }],
        targetTags: ['kubernetes-master'],
      },
    }),
  );
}

describe.skipIf(GCLOUD_MISSING !== undefined)(
  `the real gcloud CLI against the server${GCLOUD_MISSING ? ` (skipped: ${GCLOUD_MISSING})` : ''}`,
  () => {
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'hacp-gcloud-'));
      server = await startTestGuestServer(dir);
      const options = { ...server.clientOptions, authClient: new PassThroughClient() };
      clients = {
        instances: new compute.InstancesClient(options),
        disks: new compute.DisksClient(options),
        addresses: new compute.AddressesClient(options),
        targetPools: new compute.TargetPoolsClient(options),
        forwardingRules: new compute.ForwardingRulesClient(options),
        firewalls: new compute.FirewallsClient(options),
        zoneOperations: new compute.ZoneOperationsClient(options),
        regionOperations: new compute.RegionOperationsClient(options),
        globalOperations: new compute.GlobalOperationsClient(options),
      };
      healthPort = await freePort();
      // The configuration README.md gives operators, in a configuration folder of this file's own.
      for (const [property, value] of [
        ['api_endpoint_overrides/compute', `${server.url}/compute/v1/`],
        ['auth/disable_credentials', 'true'],
        ['core/project', PROJECT],
        ['core/disable_usage_reporting', 'true'],
        ['core/check_gce_metadata', 'false'],
        ['component_manager/disable_update_check', 'true'],
      ]) {
        await gcloudJson(['config', 'set', property as string, value as string]);
      }
      await makeControlPlane();
    }, 600_000);

    afterAll(async () => {
      for (const client of Object.values(clients ?? {})) await client.close();
      await server?.close();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    it('lists what was made without a scope (aggregated lists) and with --zones/--regions (batches)', async () => {
      const made = state();
      expect(names(await gcloudJson(['compute', 'instances', 'list']))).toEqual(['cp-1', 'cp-2']);
      expect(
        names(await gcloudJson(['compute', 'instances', 'list', '--zones', `${ZONE_B},${ZONE_C}`])),
      ).toEqual(['cp-1', 'cp-2']);
      expect(names(await gcloudJson(['compute', 'disks', 'list']))).toEqual(names(made.disks));
      expect(names(await gcloudJson(['compute', 'disks', 'list', '--zones', `${ZONE_B},${ZONE_C}`]))).toEqual(
        ['cp-1', 'cp-1-pd', 'cp-2'],
      );
      const addresses = await gcloudJson(['compute', 'addresses', 'list']);
      expect(addresses.map((a: Json) => [a.name, a.address, a.status]).sort()).toEqual(
        made.addresses.map((a: Json) => [a.name, a.address, 'IN_USE']).sort(),
      );
      expect(names(await gcloudJson(['compute', 'addresses', 'list', '--regions', REGION]))).toEqual(
        names(made.addresses),
      );
      const pools = await gcloudJson(['compute', 'target-pools', 'list']);
      expect(pools.map((p: Json) => [p.name, p.instances])).toEqual([
        [
          'kubernetes-master-pool',
          [`${API}/zones/${ZONE_B}/instances/cp-1`, `${API}/zones/${ZONE_C}/instances/cp-2`],
        ],
      ]);
      expect(names(await gcloudJson(['compute', 'target-pools', 'list', '--regions', REGION]))).toEqual([
        'kubernetes-master-pool',
      ]);
      const rules = await gcloudJson(['compute', 'forwarding-rules', 'list']);
      expect(rules.map((r: Json) => [r.name, r.IPAddress, r.portRange])).toEqual([
        ['kubernetes-master', made.forwardingRules[0].IPAddress, '443-443'],
      ]);
      expect(names(await gcloudJson(['compute', 'forwarding-rules', 'list', '--regions', REGION]))).toEqual([
        'kubernetes-master',
      ]);
      expect(names(await gcloudJson(['compute', 'http-health-checks', 'list']))).toEqual([
        'kubernetes-master-hc',
      ]);
      expect(names(await gcloudJson(['compute', 'firewall-rules', 'list']))).toEqual([
        'kubernetes-master-https',
      ]);
      const operations = await gcloudJson(['compute', 'operations', 'list']);
      expect(names(operations)).toEqual(names(state().operations));
      const regional = await gcloudJson(['compute', 'operations', 'list', '--regions', REGION]);
      expect(names(regional)).toEqual(
        names(state().operations.filter((o: Json) => o.region === `${API}/regions/${REGION}`)),
      );
      expect(regional.length).toBeGreaterThan(0);
    }, 600_000);

    it('describes each kind of resource as the server has it', async () => {
      const made = state();
      const byName = (list: Json[], name: string) => list.find((resource) => resource.name === name);
      const instance = await gcloudJson(['compute', 'instances', 'describe', 'cp-1', '--zone', ZONE_B]);
      expect(instance).toMatchObject({
        name: 'cp-1',
        status: 'RUNNING',
        labels: { 'hacp-cluster': 'kubernetes' },
        networkInterfaces: [{ networkIP: byName(made.instances, 'cp-1').networkInterfaces[0].networkIP }],
      });
      expect(await gcloudJson(['compute', 'disks', 'describe', 'cp-1-pd', '--zone', ZONE_B])).toMatchObject({
        sizeGb: '20',
        users: [`${API}/zones/${ZONE_B}/instances/cp-1`],
      });
      expect(
        await gcloudJson(['compute', 'addresses', 'describe', 'kubernetes-master-ip', '--region', REGION]),
      ).toMatchObject({ address: made.forwardingRules[0].IPAddress, status: 'IN_USE' });
      expect(
        await gcloudJson([
          'compute',
          'target-pools',
          'describe',
          'kubernetes-master-pool',
          '--region',
          REGION,
        ]),
      ).toMatchObject({ healthChecks: [`${API}/global/httpHealthChecks/kubernetes-master-hc`] });
      expect(
        await gcloudJson([
          'compute',
          'forwarding-rules',
          'describe',
          'kubernetes-master',
          '--region',
          REGION,
        ]),
      ).toMatchObject({ target: `${API}/regions/${REGION}/targetPools/kubernetes-master-pool` });
      expect(
        await gcloudJson(['compute', 'http-health-checks', 'describe', 'kubernetes-master-hc']),
      ).toMatchObject({ port: healthPort, requestPath: '/healthz' });
      expect(
        await gcloudJson(['compute', 'firewall-rules', 'describe', 'kubernetes-master-https']),
      ).toMatchObject({
        allowed: [{ IPProtocol: 'tcp', ports: ['443'] }],
        sourceRanges: ['0.0.0.0/0'],
      });
    }, 600_000);

    it('reports real health (get-health, a batch of getHealth) and the serial console of a booted VM', async () => {
      const ruleIp = state().forwardingRules[0].IPAddress;
      // cp-1's guest boots, then the checks sent to the rule's IP find its /healthz.
      await waitUntil({
        description: 'cp-1 to be healthy',
        timeoutMs: 120_000,
        minDelayMs: 200,
        maxDelayMs: 1000,
        check: async () => {
          const [result] = await clients.targetPools.getHealth({
            project: PROJECT,
            region: REGION,
            targetPool: 'kubernetes-master-pool',
            instanceReferenceResource: { instance: `${API}/zones/${ZONE_B}/instances/cp-1` },
          });
          return result.healthStatus?.[0]?.healthState === 'HEALTHY'
            ? { done: true, value: true }
            : { done: false };
        },
      });
      const health = await gcloudJson([
        'compute',
        'target-pools',
        'get-health',
        'kubernetes-master-pool',
        '--region',
        REGION,
      ]);
      expect(
        health.flatMap((entry: Json) =>
          entry.healthStatus.map((s: Json) => [s.instance, s.healthState, s.ipAddress]),
        ),
      ).toEqual([
        // cp-1 runs the health server the check probes; cp-2 booted with nothing on it.
        [`${API}/zones/${ZONE_B}/instances/cp-1`, 'HEALTHY', ruleIp],
        [`${API}/zones/${ZONE_C}/instances/cp-2`, 'UNHEALTHY', ruleIp],
      ]);
      const serial = await gcloud([
        'compute',
        'instances',
        'get-serial-port-output',
        'cp-1',
        '--zone',
        ZONE_B,
      ]);
      expect(serial.code).toBe(0);
      // The startup script's own output, as the guest agent writes it to the serial console.
      expect(serial.stdout).toContain('test-boot: cluster kubernetes');
      expect(serial.stdout).toContain('startup-script exit status 0');
    }, 600_000);

    it('takes the fixes an operator makes by hand, with GCE refusals where GCE refuses', async () => {
      const pool = ['compute', 'target-pools'];
      const cp2 = ['--instances', 'cp-2', '--instances-zone', ZONE_C, '--region', REGION];
      const members = () => state().targetPools[0].instances ?? [];

      await gcloudJson([...pool, 'remove-instances', 'kubernetes-master-pool', ...cp2]);
      expect(members()).toEqual([`${API}/zones/${ZONE_B}/instances/cp-1`]);
      const again = await gcloud([...pool, 'remove-instances', 'kubernetes-master-pool', ...cp2]);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain('Instance is not currently attached to this target pool.');
      expect(server.requests.at(-1)).toMatchObject({
        method: 'compute.targetPools.removeInstance',
        status: 400,
      });
      await gcloudJson([...pool, 'add-instances', 'kubernetes-master-pool', ...cp2]);
      expect(members()).toEqual([
        `${API}/zones/${ZONE_B}/instances/cp-1`,
        `${API}/zones/${ZONE_C}/instances/cp-2`,
      ]);

      await gcloudJson([
        'compute',
        'forwarding-rules',
        'delete',
        'kubernetes-master',
        '--region',
        REGION,
        '--quiet',
      ]);
      expect(state().forwardingRules).toEqual([]);
      const reserved = state().addresses.find((a: Json) => a.name === 'kubernetes-master-ip');
      expect(reserved.status).toBe('RESERVED');
      await gcloudJson([
        'compute',
        'forwarding-rules',
        'create',
        'kubernetes-master',
        '--region',
        REGION,
        '--target-pool',
        'kubernetes-master-pool',
        '--address',
        'kubernetes-master-ip',
        '--ports',
        '443',
      ]);
      expect(state().forwardingRules).toMatchObject([
        {
          name: 'kubernetes-master',
          IPAddress: reserved.address,
          portRange: '443-443',
          target: `${API}/regions/${REGION}/targetPools/kubernetes-master-pool`,
        },
      ]);
      expect(state().addresses.find((a: Json) => a.name === 'kubernetes-master-ip').status).toBe('IN_USE');

      const status = () => state().instances.find((i: Json) => i.name === 'cp-2')?.status;
      await gcloudJson(['compute', 'instances', 'stop', 'cp-2', '--zone', ZONE_C]);
      expect(status()).toBe('TERMINATED');
      await gcloudJson(['compute', 'instances', 'start', 'cp-2', '--zone', ZONE_C]);
      expect(status()).toBe('RUNNING');
      await gcloudJson(['compute', 'instances', 'delete', 'cp-2', '--zone', ZONE_C, '--quiet']);
      expect(status()).toBeUndefined();
      expect(names(state().disks)).toEqual(['cp-1', 'cp-1-pd']);
      // Every request gcloud made came from loopback.
      expect(server.requests.every((request) => request.remoteAddress === '127.0.0.1')).toBe(true);
    }, 600_000);
  },
);
