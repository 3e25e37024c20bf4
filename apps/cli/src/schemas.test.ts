import { readdirSync } from 'node:fs';
import type { Plan } from '@hacp/sdk';
import { describe, expect, it } from 'vitest';
import { errorEnvelope, successEnvelope } from './envelope.js';
import { ErrorCode, HacpError } from './errors.js';
import {
  createEnvelopeValidator,
  ENVELOPE_SCHEMAS,
  SCHEMA_DIR,
  schemaName,
  validateEnvelope,
} from './schemas.js';
import {
  sampleAddonFiles,
  sampleBackup,
  sampleBackupList,
  sampleCertificates,
  sampleKubernetesStatus,
  sampleLeases,
  sampleOperationResult,
  samplePlan,
  sampleRollout,
  sampleServed,
  sampleStatus,
} from './test-support.js';

const warnings = [{ code: 'TWO_REPLICAS', message: 'Two replicas are less available than one.' }];

/** A valid sample result for every command, built from the SDK's types. */
const samples: Record<(typeof ENVELOPE_SCHEMAS)[number], unknown> = {
  up: sampleOperationResult({
    operation: 'up',
    kubernetesVersion: 'v1.23.16',
    kubeconfig: '/srv/hacp/clusters/kubernetes/admin.conf',
    steps: [
      { id: 'reserve-address', title: 'Reserve the endpoint address', status: 'done' },
      { id: 'delete-identity-lease:x', title: 'Delete its identity lease', status: 'not-applicable' },
    ],
  }),
  replicate: sampleOperationResult(),
  remove: sampleOperationResult({ operation: 'remove' }),
  replace: sampleOperationResult({ operation: 'replace' }),
  repair: sampleOperationResult({ operation: 'repair', steps: [] }),
  recover: sampleOperationResult({
    operation: 'recover',
    warnings: [
      { code: 'RECOVERY_LOSES_DATA', message: 'Writes that only the lost members applied are lost.' },
    ],
  }),
  'backup-restore': sampleOperationResult({ operation: 'recover' }),
  'rollout-restart': sampleRollout('rollout-restart'),
  upgrade: sampleRollout('upgrade'),
  watch: { cluster: 'kubernetes', events: 3 },
  down: sampleOperationResult({
    operation: 'down',
    replicas: [],
    warnings: [],
    backup: {
      id: 'op-20261123230000-a1b2c3-snapshot',
      path: '/srv/hacp/clusters/kubernetes/backups/op-20261123230000-a1b2c3-snapshot.db',
    },
  }),
  resume: sampleOperationResult({ resumed: true }),
  'kube-up': sampleOperationResult({ operation: 'up' }),
  'kube-down': sampleOperationResult({ operation: 'remove' }),
  status: sampleKubernetesStatus({
    leases: {
      ...sampleLeases(),
      leaders: [{ lease: 'kube-scheduler', holder: 'kubernetes-master_0d9c', replica: 'kubernetes-master' }],
    },
    operation: { id: 'op-1', operation: 'replicate', stepsDone: 3, steps: 12, next: 'Promote it' },
  }),
  plan: samplePlan({
    steps: [
      ...samplePlan().steps,
      {
        id: 'stop-kubernetes:kubernetes-master-1f3',
        title: "Stop kubernetes-master-1f3's Kubernetes components",
        action: { kind: 'stop-kubernetes', replica: 'kubernetes-master-1f3' },
        preconditions: [],
      },
    ],
  }),
  scale: {
    operation: 'scale',
    cluster: 'kubernetes',
    from: 1,
    to: 3,
    changes: [sampleOperationResult(), sampleOperationResult({ resumed: true })],
    replicas: [
      { name: 'kubernetes-master', zone: 'local-a' },
      { name: 'kubernetes-master-1f3', zone: 'local-b' },
      { name: 'kubernetes-master-2c4', zone: 'local-c' },
    ],
    warnings: [],
  },
  'zone-fail': { zone: 'local-b', replicas: ['kubernetes-master-1f3'] },
  'zone-restore': { zone: 'local-b', replicas: [] },
  'certs-check': { certificates: sampleCertificates(), served: sampleServed() },
  'certs-renew': {
    ...sampleOperationResult({ operation: 'renew-certs' }),
    renewed: ['etcd-peer:kubernetes-master'],
  },
  'certs-rotate-ca': {
    ...sampleOperationResult({ operation: 'rotate-ca' }),
    ca: 'etcd',
    newCa: { commonName: 'etcd-ca-1796680800', serial: '5A1F0C', notAfter: '2036-12-05T22:00:00.000Z' },
    reissued: ['etcd-client', 'kubernetes-master/etcd-peer'],
  },
  leases: sampleLeases(),
  providers: {
    providers: [
      {
        name: 'local',
        package: '@hacp/provider-local',
        version: '0.1.0',
        description: 'Replicas as local processes.',
        source: 'built-in',
      },
      {
        name: 'example',
        package: 'hacp-provider-example',
        version: '0.1.0',
        source: 'plugin',
        plugin: { name: 'hacp-provider-example', version: '0.1.0', type: 'link' },
      },
    ],
  },
  kubeconfig: {
    server: 'https://127.9.9.9:6443',
    context: 'kubernetes',
    path: '/srv/hacp/clusters/kubernetes/admin.conf',
  },
  'binaries-list': {
    cacheDir: '/home/o/.cache/hacp/kubernetes',
    releaseUrl: 'https://dl.k8s.io/release',
    versions: [
      {
        version: 'v1.23.16',
        dir: '/home/o/.cache/hacp/kubernetes/v1.23.16',
        binaries: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'],
        bytes: 315_000_000,
      },
    ],
    configured: {
      binDir: '/opt/k8s/bin',
      variables: { KUBE_SCHEDULER: '/opt/k8s/kube-scheduler' },
      version: 'v1.23.16',
    },
  },
  'binaries-fetch': {
    requested: '1.23',
    version: 'v1.23.16',
    downloaded: true,
    binaries: [
      { name: 'kube-apiserver', path: '/opt/k8s/bin/kube-apiserver', source: 'bin-dir' },
      { name: 'kube-controller-manager', path: '/c/v1.23.16/kube-controller-manager', source: 'cache' },
      { name: 'kube-scheduler', path: '/opt/k8s/kube-scheduler', source: 'variable' },
    ],
  },
  addons: { files: sampleAddonFiles() },
  'addons-apply': {
    files: sampleAddonFiles(),
    replicas: ['kubernetes-master'],
    warnings: [{ code: 'UNHEALTHY_REPLICA', message: 'kubernetes-master-1f3 is down.' }],
  },
  'backup-create': {
    backup: sampleBackup({ operation: 'backup create' }),
    pruned: [sampleBackup({ id: 'op-20261101000000-000000-snapshot' })],
  },
  'backup-list': sampleBackupList({
    backups: [
      ...sampleBackupList().backups,
      sampleBackup({ id: 'earlier', identity: 'earlier', clusterUid: 'hacp-kubernetes-0a1b2c' }),
      {
        id: 'legacy',
        path: '/srv/b/legacy.db',
        identity: 'unknown',
        cluster: 'kubernetes',
        createdAt: '2026-01-01T00:00:00.000Z',
        sizeBytes: 20480,
        verified: true,
      },
    ],
  }),
  'backup-prune': {
    dryRun: true,
    retention: { keepLast: 3, keepWithin: '36h' },
    kept: [sampleBackup()],
    deleted: [sampleBackup({ id: 'older' })],
  },
};

/** Any path of a JSON copy, for edits. */
// biome-ignore lint/suspicious/noExplicitAny: the edits reach arbitrary paths of a JSON copy
type Editable = Record<string, any>;

/** A deep copy of `value` changed by `edit`. */
function edited<T>(value: T, edit: (copy: Editable) => void): unknown {
  const copy = structuredClone(value) as Editable;
  edit(copy);
  return copy;
}

describe('schemas', () => {
  it('has one schema file per command, the error envelope and the shared definitions', () => {
    const files = readdirSync(SCHEMA_DIR).sort();
    expect(files).toEqual([...ENVELOPE_SCHEMAS, 'error', 'definitions'].map((name) => `${name}.json`).sort());
  });

  it.each(ENVELOPE_SCHEMAS)('accepts a sample %s envelope', (command) => {
    const result = validateEnvelope(command, successEnvelope(samples[command], warnings));
    expect(result.errors).toEqual([]);
    expect(result).toMatchObject({ valid: true, schema: command });
  });

  it.each(ENVELOPE_SCHEMAS)(
    'refuses a %s envelope without its result or with an extra top-level field',
    (command) => {
      const envelope = successEnvelope(samples[command], []);
      expect(
        validateEnvelope(
          command,
          edited(envelope, (copy) => delete copy.result),
        ).errors,
      ).toEqual(["/ must have required property 'result'"]);
      expect(validateEnvelope(command, { ...envelope, extra: 1 }).errors).toEqual([
        '/ must NOT have additional properties ("extra")',
      ]);
    },
  );

  it('refuses an operation result missing a field or with an extra one', () => {
    const envelope = successEnvelope(sampleOperationResult(), []);
    expect(
      validateEnvelope(
        'replicate',
        edited(envelope, (c) => delete c.result.operationId),
      ).errors,
    ).toEqual(["/result must have required property 'operationId'"]);
    expect(
      validateEnvelope(
        'replicate',
        edited(envelope, (c) => (c.result.replicas[0].ip = '127.0.0.1')),
      ).errors,
    ).toEqual(['/result/replicas/0 must NOT have additional properties ("ip")']);
    expect(
      validateEnvelope(
        'replicate',
        edited(envelope, (c) => (c.result.steps[0].status = 'failed')),
      ).valid,
    ).toBe(false);
  });

  it('refuses a status missing a field or with an extra one, deep inside', () => {
    const envelope = successEnvelope(sampleStatus(), []);
    expect(
      validateEnvelope(
        'status',
        edited(envelope, (c) => delete c.result.faultTolerance.zoneLoss),
      ).errors,
    ).toEqual(["/result/faultTolerance must have required property 'zoneLoss'"]);
    expect(
      validateEnvelope(
        'status',
        edited(envelope, (c) => (c.result.etcd.members[0].secret = 'x')),
      ).errors,
    ).toEqual(['/result/etcd/members/0 must NOT have additional properties ("secret")']);
    expect(
      validateEnvelope(
        'status',
        edited(envelope, (c) => (c.result.replicas[0].state = 'sad')),
      ).valid,
    ).toBe(false);
  });

  it('refuses a provider listing with an unknown source or without its package', () => {
    const envelope = successEnvelope(samples.providers, []);
    expect(
      validateEnvelope(
        'providers',
        edited(envelope, (c) => delete c.result.providers[1].package),
      ).errors,
    ).toEqual(["/result/providers/1 must have required property 'package'"]);
    expect(
      validateEnvelope(
        'providers',
        edited(envelope, (c) => (c.result.providers[0].source = 'somewhere')),
      ).valid,
    ).toBe(false);
  });

  it('checks every plan step action by its kind', () => {
    const envelope = successEnvelope(samplePlan(), []);
    expect(
      validateEnvelope(
        'plan',
        edited(envelope, (c) => delete c.result.steps[1].action.replica),
      ).errors,
    ).toEqual(["/result/steps/1/action must have required property 'replica'"]);
    expect(
      validateEnvelope(
        'plan',
        edited(envelope, (c) => (c.result.steps[2].action.disk = 'pd-ssd')),
      ).errors,
    ).toEqual(['/result/steps/2/action must NOT have additional properties ("disk")']);
    expect(
      validateEnvelope(
        'plan',
        edited(envelope, (c) => (c.result.steps[0].action.kind = 'reboot')),
      ).valid,
    ).toBe(false);
    expect(
      validateEnvelope(
        'plan',
        edited(envelope, (c) => delete c.result.steps[3].action.step.healthCheck.port),
      ).errors,
    ).toEqual(["/result/steps/3/action/step/healthCheck must have required property 'port'"]);
  });

  it("takes repair's drift steps and down's leftovers step, and checks them", () => {
    const step = (id: string, action: Plan['steps'][number]['action']) => ({
      id,
      title: id,
      action,
      preconditions: [],
    });
    const plan = samplePlan({
      operation: 'repair',
      steps: [
        step('drop-target:kubernetes-master-1f3', {
          kind: 'endpoint',
          step: { action: 'drop-target', replica: 'kubernetes-master-1f3' },
        }),
        step('restore-endpoint', { kind: 'endpoint', step: { action: 'restore-endpoint' } }),
        step('start-instance:kubernetes-master', {
          kind: 'start-instance',
          replica: 'kubernetes-master',
          zone: 'local-a',
        }),
        step('delete-leftovers', { kind: 'delete-leftovers' }),
      ],
    });
    const envelope = successEnvelope(plan, []);
    expect(validateEnvelope('plan', envelope).errors).toEqual([]);
    expect(
      validateEnvelope(
        'plan',
        edited(envelope, (c) => (c.result.steps[0].action.step.drain = true)),
      ).errors,
    ).toEqual(['/result/steps/0/action/step must NOT have additional properties ("drain")']);
    expect(
      validateEnvelope(
        'plan',
        edited(envelope, (c) => delete c.result.steps[2].action.zone),
      ).errors,
    ).toEqual(["/result/steps/2/action must have required property 'zone'"]);
  });

  it('takes the firewall rules up ensures and the names down deletes, and checks them', () => {
    const rule = {
      name: 'k-master-etcd',
      cluster: 'k',
      protocol: 'tcp',
      ports: ['2379-2381'],
      from: 'replicas',
    } as const;
    const plan = samplePlan({
      steps: [
        {
          id: 'ensure-firewall',
          title: 'Allow',
          action: { kind: 'ensure-firewall', rules: [rule] },
          preconditions: [],
        },
        {
          id: 'delete-firewall',
          title: 'Delete',
          action: { kind: 'delete-firewall', names: [rule.name] },
          preconditions: [],
        },
      ],
    });
    const envelope = successEnvelope(plan, []);
    expect(validateEnvelope('plan', envelope).errors).toEqual([]);
    expect(
      validateEnvelope(
        'plan',
        edited(envelope, (c) => (c.result.steps[0].action.rules[0].protocol = 'icmp')),
      ).valid,
    ).toBe(false);
    expect(
      validateEnvelope(
        'plan',
        edited(envelope, (c) => (c.result.steps[1].action.names = 'k-master-etcd')),
      ).valid,
    ).toBe(false);
  });

  it('refuses malformed zone, certificate and lease results', () => {
    expect(validateEnvelope('zone fail', successEnvelope({ zone: 'local-b' }, [])).errors).toEqual([
      "/result must have required property 'replicas'",
    ]);
    const certs = successEnvelope({ certificates: sampleCertificates(), served: sampleServed() }, []);
    expect(
      validateEnvelope(
        'certs:check',
        edited(certs, (c) => delete c.result.certificates[0].daysLeft),
      ).errors,
    ).toEqual(["/result/certificates/0 must have required property 'daysLeft'"]);
    expect(
      validateEnvelope(
        'certs:check',
        edited(certs, (c) => (c.result.served[0].port = 'kubelet')),
      ).errors,
    ).toEqual([
      '/result/served/0/port must be equal to one of the allowed values ({"allowedValues":["etcd-client","etcd-peer","apiserver"]})',
    ]);
    const renewed = successEnvelope({ ...sampleOperationResult({ operation: 'renew-certs' }) }, []);
    expect(validateEnvelope('certs:renew', renewed).errors).toEqual([
      "/result must have required property 'renewed'",
    ]);
    expect(
      validateEnvelope(
        'leases',
        edited(successEnvelope(sampleLeases(), []), (c) => (c.result.leaders[0].term = 3)),
      ).errors,
    ).toEqual(['/result/leaders/0 must NOT have additional properties ("term")']);
  });

  it('refuses Kubernetes results that do not follow the SDK’s shapes', () => {
    const status = successEnvelope(samples.status, []);
    expect(
      validateEnvelope(
        'status',
        edited(status, (c) => (c.result.replicas[1].kubernetes.scheduler = 'down')),
      ).valid,
    ).toBe(false);
    expect(
      validateEnvelope(
        'status',
        edited(status, (c) => delete c.result.kubernetes.version),
      ).errors,
    ).toEqual(["/result/kubernetes must have required property 'version'"]);
    expect(
      validateEnvelope(
        'up',
        edited(successEnvelope(samples.up, []), (c) => (c.result.steps[0].status = 'already-gone')),
      ).valid,
    ).toBe(false);
  });

  it('refuses a kubeconfig result that holds the contents, or lacks its path', () => {
    const envelope = successEnvelope(samples.kubeconfig, []);
    expect(
      validateEnvelope(
        'kubeconfig',
        edited(envelope, (c) => (c.result.contents = '[redacted]')),
      ).errors,
    ).toEqual(['/result must NOT have additional properties ("contents")']);
    expect(
      validateEnvelope(
        'kubeconfig',
        edited(envelope, (c) => delete c.result.path),
      ).errors,
    ).toEqual(["/result must have required property 'path'"]);
  });

  it('refuses malformed binaries and add-on results', () => {
    expect(
      validateEnvelope(
        'binaries list',
        edited(
          successEnvelope(samples['binaries-list'], []),
          (c) => (c.result.configured.variables.KUBECTL = '/x'),
        ),
      ).valid,
    ).toBe(false);
    expect(
      validateEnvelope(
        'binaries fetch',
        edited(successEnvelope(samples['binaries-fetch'], []), (c) => (c.result.binaries[0].source = 'web')),
      ).valid,
    ).toBe(false);
    expect(
      validateEnvelope(
        'addons list',
        edited(successEnvelope(samples.addons, []), (c) => (c.result.files[0].objects[0].mode = 'Ignore')),
      ).valid,
    ).toBe(false);
    expect(
      validateEnvelope(
        'addons apply',
        edited(successEnvelope(samples['addons-apply'], []), (c) => delete c.result.replicas),
      ).errors,
    ).toEqual(["/result must have required property 'replicas'"]);
  });

  it('refuses a warning without a message', () => {
    expect(validateEnvelope('status', successEnvelope(sampleStatus(), [{ code: 'X' } as never])).valid).toBe(
      false,
    );
  });

  it('validates an error envelope, whatever the command, against error.json', () => {
    const envelope = errorEnvelope(
      new HacpError({ code: 'QUORUM_AT_RISK', message: 'It would lose quorum.', actions: ['Repair first.'] }),
    );
    expect(validateEnvelope('remove', envelope)).toEqual({ valid: true, schema: 'error', errors: [] });
    expect(validateEnvelope('remove', { ...envelope, result: {} }).errors).toEqual([
      '/ must NOT have additional properties ("result")',
    ]);
    expect(
      validateEnvelope(
        'remove',
        edited(envelope, (c) => (c.error.details = {})),
      ).errors,
    ).toEqual(['/error must NOT have additional properties ("details")']);
    expect(
      validateEnvelope(
        'remove',
        edited(envelope, (c) => (c.error.code = 'OOPS')),
      ).valid,
    ).toBe(false);
    expect(
      validateEnvelope(
        'remove',
        edited(envelope, (c) => (c.status = 7)),
      ).valid,
    ).toBe(false);
  });

  it('lists exactly the error codes of @hacp/core', () => {
    const schema = createEnvelopeValidator().schema('error') as {
      properties: { error: { properties: { code: { enum: string[] } } } };
    };
    expect(schema.properties.error.properties.code.enum.sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it('names schemas as commands are typed', () => {
    expect([
      schemaName('zone fail'),
      schemaName('zone:fail'),
      schemaName('certs-check'),
      schemaName('addons list'),
      schemaName('addons:apply'),
    ]).toEqual(['zone-fail', 'zone-fail', 'certs-check', 'addons', 'addons-apply']);
    expect(() => schemaName('frobnicate')).toThrow(/No --json schema/);
  });
});

describe('the backup schemas', () => {
  it('refuse a backup without its identity, with an unknown one, or with a field the SDK never gives', () => {
    const envelope = successEnvelope(sampleBackupList(), []);
    expect(
      validateEnvelope(
        'backup-list',
        edited(envelope, (c) => delete c.result.backups[0].identity),
      ).errors,
    ).toEqual(["/result/backups/0 must have required property 'identity'"]);
    expect(
      validateEnvelope(
        'backup list',
        edited(envelope, (c) => (c.result.backups[0].identity = 'mine')),
      ).valid,
    ).toBe(false);
    expect(
      validateEnvelope(
        'backup-list',
        edited(envelope, (c) => (c.result.backups[1].key = 'x')),
      ).errors,
    ).toEqual(['/result/backups/1 must NOT have additional properties ("key")']);
  });

  it("refuse a prune retention the flags would have refused, and a down result's backup without its path", () => {
    const prune = successEnvelope(
      { dryRun: false, retention: { keepWithin: '7 days' }, kept: [], deleted: [] },
      [],
    );
    expect(validateEnvelope('backup-prune', prune).valid).toBe(false);
    const down = successEnvelope(
      sampleOperationResult({ operation: 'down', backup: { id: 'x', path: '/b/x.db' } }),
      [],
    );
    expect(validateEnvelope('down', down).valid).toBe(true);
    expect(
      validateEnvelope(
        'down',
        edited(down, (c) => delete c.result.backup.path),
      ).errors,
    ).toEqual(["/result/backup must have required property 'path'"]);
  });
});
