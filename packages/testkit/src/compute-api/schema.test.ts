import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import compute from '@google-cloud/compute';
import { ErrorCode } from '@hacp/core';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateBody } from './schema.js';

const project = 'hacp-test';
const zone = 'europe-west1-b';
const region = 'europe-west1';
const instanceUrl = `zones/${zone}/instances/cp-1`;

/** Bodies the real client sent, keyed by the message type the server would check them as. */
const sent = new Map<string, unknown>();

/**
 * Records the body of every request the real client sends, by the type GCE parses it as, so the
 * tests check what the client really puts on the wire (field names, int64 as strings, added maps).
 */
async function captureClientBodies(): Promise<void> {
  const types: [RegExp, string][] = [
    [/\/instances$/, 'Instance'],
    [/\/setMetadata$/, 'Metadata'],
    [/\/addAccessConfig$/, 'AccessConfig'],
    [/\/setLabels$/, 'InstancesSetLabelsRequest'],
    [/\/addresses$/, 'Address'],
    [/\/targetPools$/, 'TargetPool'],
    [/\/addInstance$/, 'TargetPoolsAddInstanceRequest'],
    [/\/removeInstance$/, 'TargetPoolsRemoveInstanceRequest'],
    [/\/addHealthCheck$/, 'TargetPoolsAddHealthCheckRequest'],
    [/\/removeHealthCheck$/, 'TargetPoolsRemoveHealthCheckRequest'],
    [/\/getHealth$/, 'InstanceReference'],
    [/\/forwardingRules$/, 'ForwardingRule'],
    [/\/firewalls$/, 'Firewall'],
    [/\/disks$/, 'Disk'],
  ];
  const server: Server = createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      text += chunk;
    });
    request.on('end', () => {
      const path = (request.url ?? '').split('?')[0] ?? '';
      const type = types.find(([pattern]) => pattern.test(path))?.[1];
      if (type !== undefined) sent.set(type, JSON.parse(text));
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({ kind: 'compute#operation', id: '1', name: 'operation-1', status: 'DONE' }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const options = {
      apiEndpoint: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      protocol: 'http',
      fallback: true,
      authClient: new PassThroughClient(),
    };
    const instances = new compute.InstancesClient(options);
    const targetPools = new compute.TargetPoolsClient(options);
    await instances.insert({
      project,
      zone,
      instanceResource: {
        name: 'cp-1',
        machineType: `zones/${zone}/machineTypes/e2-standard-2`,
        labels: { 'hacp-cluster': 'c1' },
        tags: { items: ['hacp-c1'] },
        canIpForward: false,
        disks: [
          {
            boot: true,
            autoDelete: true,
            initializeParams: {
              sourceImage: 'projects/cos-cloud/global/images/family/cos-stable',
              diskSizeGb: 20,
              diskType: `zones/${zone}/diskTypes/pd-balanced`,
            },
          },
          { source: `zones/${zone}/disks/cp-1-pd`, deviceName: 'master-pd', boot: false, mode: 'READ_WRITE' },
        ],
        networkInterfaces: [
          {
            network: 'global/networks/default',
            networkIP: '10.0.0.2',
            accessConfigs: [
              { name: 'External NAT', type: 'ONE_TO_ONE_NAT', natIP: '34.1.2.3', networkTier: 'PREMIUM' },
            ],
          },
        ],
        metadata: { items: [{ key: 'hacp-cluster', value: 'kubernetes' }] },
        scheduling: { automaticRestart: true, onHostMaintenance: 'MIGRATE' },
        serviceAccounts: [{ email: 'default', scopes: ['https://www.googleapis.com/auth/compute'] }],
      },
    });
    await instances.setMetadata({
      project,
      zone,
      instance: 'cp-1',
      metadataResource: { fingerprint: 'abc=', items: [{ key: 'hacp-state', value: '{}' }] },
    });
    await instances.addAccessConfig({
      project,
      zone,
      instance: 'cp-1',
      networkInterface: 'nic0',
      accessConfigResource: { name: 'External NAT', type: 'ONE_TO_ONE_NAT', natIP: '34.1.2.3' },
    });
    await instances.setLabels({
      project,
      zone,
      instance: 'cp-1',
      instancesSetLabelsRequestResource: { labelFingerprint: 'xyz=', labels: { role: 'cp' } },
    });
    await new compute.AddressesClient(options).insert({
      project,
      region,
      addressResource: { name: 'cp-vip', addressType: 'EXTERNAL', networkTier: 'PREMIUM' },
    });
    await targetPools.insert({
      project,
      region,
      targetPoolResource: {
        name: 'cp-pool',
        instances: [instanceUrl],
        healthChecks: ['global/httpHealthChecks/cp-hc'],
        sessionAffinity: 'NONE',
      },
    });
    const pool = { project, region, targetPool: 'cp-pool' };
    const references = { instances: [{ instance: instanceUrl }] };
    const checks = { healthChecks: [{ healthCheck: 'global/httpHealthChecks/cp-hc' }] };
    await targetPools.addInstance({ ...pool, targetPoolsAddInstanceRequestResource: references });
    await targetPools.removeInstance({ ...pool, targetPoolsRemoveInstanceRequestResource: references });
    await targetPools.addHealthCheck({ ...pool, targetPoolsAddHealthCheckRequestResource: checks });
    await targetPools.removeHealthCheck({ ...pool, targetPoolsRemoveHealthCheckRequestResource: checks });
    await targetPools.getHealth({ ...pool, instanceReferenceResource: { instance: instanceUrl } });
    await new compute.ForwardingRulesClient(options).insert({
      project,
      region,
      forwardingRuleResource: {
        name: 'cp-fr',
        IPAddress: '34.1.2.4',
        IPProtocol: 'TCP',
        portRange: '6443-6443',
        loadBalancingScheme: 'EXTERNAL',
        target: `regions/${region}/targetPools/cp-pool`,
      },
    });
    await new compute.FirewallsClient(options).insert({
      project,
      firewallResource: {
        name: 'cp-etcd',
        network: 'global/networks/default',
        direction: 'INGRESS',
        priority: 1000,
        allowed: [{ IPProtocol: 'tcp', ports: ['6443', '2379-2381'] }],
        sourceTags: ['hacp-c1'],
        targetTags: ['hacp-c1'],
      },
    });
    await new compute.DisksClient(options).insert({
      project,
      zone,
      diskResource: { name: 'cp-1-pd', sizeGb: 10, type: `zones/${zone}/diskTypes/pd-balanced` },
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function sentBody(type: string): Record<string, unknown> {
  const body = sent.get(type);
  if (body === undefined) throw new Error(`the client sent no ${type} body`);
  return structuredClone(body) as Record<string, unknown>;
}

describe('validateBody', () => {
  beforeAll(captureClientBodies, 30_000);
  afterAll(() => sent.clear());

  it.each([
    'Instance',
    'Metadata',
    'AccessConfig',
    'InstancesSetLabelsRequest',
    'Address',
    'TargetPool',
    'TargetPoolsAddInstanceRequest',
    'TargetPoolsRemoveInstanceRequest',
    'TargetPoolsAddHealthCheckRequest',
    'TargetPoolsRemoveHealthCheckRequest',
    'InstanceReference',
    'ForwardingRule',
    'Firewall',
    'Disk',
  ])('accepts the %s body the client sends', (type) => {
    expect(validateBody(type, sentBody(type))).toEqual([]);
  });

  it('sees the client write int64 as strings, odd JSON names, and empty maps', () => {
    // What the rules below are calibrated on: if the client changes its wire format, this says so.
    const instance = sentBody('Instance') as {
      disks: { initializeParams?: Record<string, unknown> }[];
      networkInterfaces: { networkIP: string; accessConfigs: { natIP: string }[] }[];
    };
    expect(instance.disks[0]?.initializeParams).toMatchObject({ diskSizeGb: '20', labels: {} });
    expect(instance.networkInterfaces[0]?.accessConfigs[0]?.natIP).toBe('34.1.2.3');
    expect(sentBody('ForwardingRule')).toMatchObject({ IPAddress: '34.1.2.4', IPProtocol: 'TCP' });
    expect(sentBody('Disk')).toMatchObject({ sizeGb: '10', asyncSecondaryDisks: {} });
  });

  it('names a misspelled field', () => {
    const body = sentBody('Instance');
    body.machineTyp = body.machineType;
    delete body.machineType;
    expect(validateBody('Instance', body)).toEqual([
      { field: 'resource.machineTyp', message: 'unknown field' },
    ]);
  });

  it('names an unknown field nested in a list', () => {
    const body = sentBody('Instance') as { networkInterfaces: Record<string, unknown>[] };
    const nic = body.networkInterfaces[0] as Record<string, unknown>;
    nic.acessConfigs = nic.accessConfigs;
    delete nic.accessConfigs;
    expect(validateBody('Instance', body)).toEqual([
      { field: 'resource.networkInterfaces[0].acessConfigs', message: 'unknown field' },
    ]);
  });

  it('names an unknown field two messages deep', () => {
    const body = sentBody('Instance') as { disks: { initializeParams?: Record<string, unknown> }[] };
    (body.disks[0]?.initializeParams as Record<string, unknown>).diskSizeGB = '20';
    expect(validateBody('Instance', body)).toEqual([
      { field: 'resource.disks[0].initializeParams.diskSizeGB', message: 'unknown field' },
    ]);
  });

  it('wants the JSON names, with their casing', () => {
    expect(validateBody('ForwardingRule', { name: 'fr', ipAddress: '34.1.2.4' })).toEqual([
      { field: 'resource.ipAddress', message: 'unknown field' },
    ]);
    expect(validateBody('AccessConfig', { natIp: '34.1.2.3' })).toEqual([
      { field: 'resource.natIp', message: 'unknown field' },
    ]);
  });

  it('names a value of the wrong JSON type', () => {
    expect(validateBody('Firewall', { ...sentBody('Firewall'), priority: '1000' })).toEqual([
      { field: 'resource.priority', message: 'expected an integer, got string "1000"' },
    ]);
    expect(validateBody('Instance', { name: 7 })).toEqual([
      { field: 'resource.name', message: 'expected a string, got number 7' },
    ]);
    expect(validateBody('Instance', { canIpForward: 'false' })).toEqual([
      { field: 'resource.canIpForward', message: 'expected a boolean, got string "false"' },
    ]);
  });

  it('takes int64 as a decimal string or an integer, nothing else', () => {
    expect(validateBody('Disk', { sizeGb: '10' })).toEqual([]);
    expect(validateBody('Disk', { sizeGb: 10 })).toEqual([]);
    expect(validateBody('Disk', { sizeGb: '10GB' })).toEqual([
      {
        field: 'resource.sizeGb',
        message: 'expected a int64 as a decimal string or integer, got string "10GB"',
      },
    ]);
    expect(validateBody('Disk', { sizeGb: 1.5 })).toHaveLength(1);
  });

  it('checks int32 ranges', () => {
    expect(validateBody('Firewall', { priority: 2 ** 31 })).toEqual([
      { field: 'resource.priority', message: '2147483648 is out of range for int32' },
    ]);
  });

  it('names a value outside the field enum', () => {
    expect(validateBody('Address', { ...sentBody('Address'), networkTier: 'premium' })).toEqual([
      {
        field: 'resource.networkTier',
        message:
          'invalid value "premium"; expected one of FIXED_STANDARD, PREMIUM, STANDARD, STANDARD_OVERRIDES_FIXED_STANDARD',
      },
    ]);
  });

  it('checks the one enum named with an Enum suffix and leaves free-form protocols alone', () => {
    expect(validateBody('ForwardingRule', { IPProtocol: 'tcp' })).toMatchObject([
      {
        field: 'resource.IPProtocol',
        message: expect.stringMatching(/^invalid value "tcp"; expected one of /),
      },
    ]);
    // Firewall rules take protocol names and numbers, not an enum.
    expect(validateBody('Firewall', { allowed: [{ IPProtocol: 'tcp' }, { IPProtocol: '132' }] })).toEqual([]);
  });

  it('finds the enum of every field whose proto comment names one', () => {
    // The rule in enumOf is a naming convention; the proto source states the link in a comment
    // ("Check the NetworkTier enum for the list of possible values"). Check the two agree.
    const proto = readFileSync(
      createRequire(import.meta.url).resolve(
        '@google-cloud/compute/build/protos/google/cloud/compute/v1/compute.proto',
      ),
      'utf8',
    );
    let message = '';
    let namedEnum: string | undefined;
    const unchecked: string[] = [];
    let fields = 0;
    for (const line of proto.split('\n')) {
      const start = /^message (\w+) \{/.exec(line);
      const comment = /Check the (\w+) enum for/.exec(line);
      const field = /^\s+(optional |repeated )?[\w.]+ (\w+) = \d+;/.exec(line);
      if (start?.[1] !== undefined) [message, namedEnum] = [start[1], undefined];
      else if (comment?.[1] !== undefined) namedEnum = comment[1];
      else if (field?.[2] !== undefined && namedEnum !== undefined) {
        // protobufjs's JSON name: I_p_protocol -> IPProtocol, nat_i_p -> natIP.
        const name = field[2].replace(/_([a-zA-Z])/g, (_, c: string) => c.toUpperCase());
        const value = 'NOT_AN_ENUM_VALUE';
        const problems = validateBody(message, { [name]: field[1] === 'repeated ' ? [value] : value });
        if (problems.length !== 1 || !problems[0]?.message.startsWith('invalid value')) {
          unchecked.push(`${message}.${name} (${namedEnum})`);
        }
        fields++;
        namedEnum = undefined;
      }
    }
    expect(fields).toBeGreaterThan(500);
    expect(unchecked).toEqual([]);
  });

  it('refuses the generated UNDEFINED_ enum value, which the API does not have', () => {
    expect(validateBody('AccessConfig', { type: 'UNDEFINED_TYPE' })).toHaveLength(1);
  });

  it('checks enum values in nested messages', () => {
    const body = sentBody('Instance') as { scheduling: Record<string, unknown> };
    body.scheduling.onHostMaintenance = 'LIVE_MIGRATE';
    expect(validateBody('Instance', body)).toMatchObject([
      { field: 'resource.scheduling.onHostMaintenance', message: expect.stringContaining('"LIVE_MIGRATE"') },
    ]);
  });

  it('wants arrays for repeated fields and objects for messages and maps', () => {
    expect(validateBody('TargetPool', { instances: 'zones/z/instances/cp-1' })).toEqual([
      { field: 'resource.instances', message: 'expected an array, got string "zones/z/instances/cp-1"' },
    ]);
    expect(validateBody('Instance', { scheduling: [] })).toEqual([
      { field: 'resource.scheduling', message: 'expected an object, got an array' },
    ]);
    expect(validateBody('Instance', { labels: [['a', 'b']] })).toEqual([
      { field: 'resource.labels', message: 'expected an object (a map), got an array' },
    ]);
    expect(validateBody('InstanceReference', 'zones/z/instances/cp-1')).toEqual([
      { field: 'resource', message: 'expected an object, got string "zones/z/instances/cp-1"' },
    ]);
  });

  it('checks map values and list items against their type', () => {
    expect(validateBody('InstancesSetLabelsRequest', { labels: { role: 'cp', replicas: 3 } })).toEqual([
      { field: 'resource.labels.replicas', message: 'expected a string, got number 3' },
    ]);
    expect(validateBody('TargetPoolsAddInstanceRequest', { instances: [{ instance: 'a' }, 'b'] })).toEqual([
      { field: 'resource.instances[1]', message: 'expected an object, got string "b"' },
    ]);
    expect(
      validateBody('Disk', { asyncSecondaryDisks: { d: { asyncReplicationDisk: { disk: 1 } } } }),
    ).toEqual([
      {
        field: 'resource.asyncSecondaryDisks.d.asyncReplicationDisk.disk',
        message: 'expected a string, got number 1',
      },
    ]);
  });

  it('reports every problem, in body order', () => {
    expect(
      validateBody('Address', { nam: 'x', networkTier: 'GOLD', address: 1 }).map((p) => p.field),
    ).toEqual(['resource.nam', 'resource.networkTier', 'resource.address']);
  });

  it('treats null as not set, as proto3 JSON does', () => {
    expect(validateBody('Address', { name: 'cp-vip', description: null })).toEqual([]);
  });

  it('knows the legacy HttpHealthCheck the client no longer ships', () => {
    const legacy = {
      name: 'cp-hc',
      port: 8081,
      requestPath: '/healthz',
      checkIntervalSec: 2,
      timeoutSec: 1,
      healthyThreshold: 1,
      unhealthyThreshold: 2,
    };
    expect(validateBody('HttpHealthCheck', legacy)).toEqual([]);
    expect(validateBody('HttpHealthCheck', { ...legacy, port: '8081', portName: 'http' })).toEqual([
      { field: 'resource.port', message: 'expected an integer, got string "8081"' },
      { field: 'resource.portName', message: 'unknown field' },
    ]);
  });

  it('accepts fully qualified names and any other message of the package', () => {
    expect(validateBody('google.cloud.compute.v1.Tags', { items: ['a'], fingerprint: 'f' })).toEqual([]);
    expect(validateBody('Zone', { name: 'europe-west1-b', status: 'UP' })).toEqual([]);
  });

  it('throws INTERNAL for a type the package does not have', () => {
    expect(() => validateBody('Instanse', {})).toThrow(expect.objectContaining({ code: ErrorCode.INTERNAL }));
    // Enums and services are not message types either.
    expect(() => validateBody('Instances', {})).toThrow(
      expect.objectContaining({ code: ErrorCode.INTERNAL }),
    );
  });
});
