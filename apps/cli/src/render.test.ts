import type { ControlPlaneEvent } from '@hacp/sdk';
import { describe, expect, it } from 'vitest';
import { ProgressPrinter } from './progress.js';
import {
  plural,
  renderCertificates,
  renderDownload,
  renderLeases,
  renderOperationResult,
  renderPlan,
  renderProgressEvent,
  renderRenewed,
  renderStatus,
  renderWarnings,
  renderZoneChange,
  shellWord,
  stepOutcomeText,
} from './render.js';
import {
  sampleCertificates,
  sampleKubernetesStatus,
  sampleLeases,
  sampleOperationResult,
  samplePlan,
  sampleServed,
  sampleStatus,
} from './test-support.js';

describe('renderStatus', () => {
  it('draws the topology as a tree, by zone, with the endpoint and the fault tolerance', () => {
    expect(renderStatus(sampleStatus())).toBe(
      [
        'Cluster kubernetes  (provider local, region local, multizone)',
        '├─ Zone local-a',
        '│  └─ kubernetes-master      127.1.2.3  healthy  etcd voter, leader',
        '├─ Zone local-b',
        '│  └─ kubernetes-master-1f3  127.4.5.6  healthy  etcd voter',
        '└─ Endpoint 127.9.9.9  load-balanced',
        '   ├─ kubernetes-master      healthy',
        '   └─ kubernetes-master-1f3  healthy',
        'Fault tolerance: 2 voters, quorum 2, tolerates 0 failures; losing zone local-a or local-b loses quorum',
        '',
      ].join('\n'),
    );
  });

  it('shows a single-zone cluster whose address is attached, with several replicas in one zone', () => {
    const text = renderStatus(
      sampleStatus({
        multizone: false,
        quorumReads: true,
        replicas: [
          { name: 'kubernetes-master-9c2', zone: 'local-a', internalIp: '127.7.7.7', state: 'unhealthy' },
          { name: 'kubernetes-master', zone: 'local-a', internalIp: '127.1.2.3', state: 'healthy' },
        ],
        etcd: {
          members: [
            { id: '1', name: 'kubernetes-master', learner: false, healthy: true, leader: true },
            { id: '2', name: 'kubernetes-master-9c2', learner: true, healthy: false, leader: false },
          ],
        },
        endpoint: { address: '127.9.9.9', mode: 'attached', attachedTo: 'kubernetes-master', targets: [] },
        faultTolerance: {
          voters: 1,
          quorum: 1,
          tolerates: 0,
          healthy: 1,
          canStillLose: 0,
          zoneLoss: 'losing zone local-a loses quorum',
        },
      }),
    );
    expect(text).toBe(
      [
        'Cluster kubernetes  (provider local, region local, single zone, quorum reads)',
        '├─ Zone local-a',
        '│  ├─ kubernetes-master      127.1.2.3  healthy    etcd voter, leader',
        '│  └─ kubernetes-master-9c2  127.7.7.7  unhealthy  etcd learner',
        '└─ Endpoint 127.9.9.9  attached to kubernetes-master',
        'Fault tolerance: 1 voter, quorum 1, tolerates 0 failures; losing zone local-a loses quorum',
        '',
      ].join('\n'),
    );
  });

  it('says a detached endpoint with no operation in flight is not being moved, and what to run', () => {
    const text = renderStatus(
      sampleStatus({
        replicas: [
          { name: 'kubernetes-master', zone: 'local-a', internalIp: '127.1.2.3', state: 'zone-down' },
        ],
        endpoint: {
          address: '127.9.9.9',
          mode: 'detached',
          targets: [{ replica: 'kubernetes-master', healthy: false }],
        },
      }),
    );
    expect(text).toContain('└─ Endpoint 127.9.9.9  detached: nothing holds it (run `hacp repair`)');
    expect(text).not.toContain('an operation is moving it');
    expect(text).toContain('kubernetes-master  127.1.2.3  zone-down');
  });

  it('lists members without a replica, replicas without a member, leases and an interrupted operation', () => {
    const text = renderStatus(
      sampleStatus({
        replicas: [{ name: 'kubernetes-master', zone: 'local-a', internalIp: '127.1.2.3', state: 'stopped' }],
        etcd: {
          members: [{ id: '77', name: '', learner: true, healthy: false, leader: false }],
        },
        endpoint: {
          address: '127.9.9.9',
          mode: 'detached',
          targets: [{ replica: 'kubernetes-master', healthy: false }],
        },
        leases: sampleLeases(),
        operation: { id: 'op-1', operation: 'replicate', stepsDone: 4, steps: 12, next: 'Promote it' },
      }),
    );
    expect(text).toContain('│  └─ kubernetes-master  127.1.2.3  stopped  no etcd member');
    expect(text).toContain(
      '├─ etcd members without a replica\n│  └─ (not started)  id 77  learner  unhealthy',
    );
    expect(text).toContain('├─ Endpoint 127.9.9.9  detached (an operation is moving it)');
    expect(text).toContain('│  └─ kubernetes-master  unhealthy');
    expect(text).toContain(
      '└─ Leases\n   ├─ identity apiserver-abcdefghijklmnopqrstuvwxyz  kubernetes-master  current',
    );
    expect(text).toContain('   ├─ identity kube-apiserver-0d9c                   (no replica)       stale');
    expect(text).toContain('   └─ leader kube-scheduler  held by nobody');
    expect(text).toContain(
      'Interrupted: replicate op-1, 4 of 12 steps done; next: Promote it. Run `hacp resume` to continue.',
    );
  });

  it("shows each replica's Kubernetes components, the version and the leaders", () => {
    expect(renderStatus(sampleKubernetesStatus())).toBe(
      [
        'Cluster kubernetes  (provider local, region local, multizone)',
        '├─ Zone local-a',
        '│  └─ kubernetes-master      127.1.2.3  healthy  etcd voter, leader  kubernetes ok',
        '├─ Zone local-b',
        '│  └─ kubernetes-master-1f3  127.4.5.6  healthy  etcd voter          apiserver ok, controller-manager failing, scheduler unreachable',
        '├─ Kubernetes v1.23.16',
        '│  ├─ kube-controller-manager  leader kubernetes-master',
        '│  └─ kube-scheduler           leader kubernetes-master-1f3',
        '└─ Endpoint 127.9.9.9  load-balanced',
        '   ├─ kubernetes-master      healthy',
        '   └─ kubernetes-master-1f3  healthy',
        'Fault tolerance: 2 voters, quorum 2, tolerates 0 failures; losing zone local-a or local-b loses quorum',
        '',
      ].join('\n'),
    );
  });

  it('says when no replica is known to lead, and shows the replica holding a leader lease', () => {
    const text = renderStatus(
      sampleKubernetesStatus({
        kubernetes: { version: 'v1.32.0-beta.0.0+cd13ec4ae44e' },
        leases: {
          identities: [],
          leaders: [
            { lease: 'kube-scheduler', holder: 'kubernetes-master_0d9c', replica: 'kubernetes-master' },
          ],
        },
      }),
    );
    expect(text).toContain(
      '├─ Kubernetes v1.32.0-beta.0.0+cd13ec4ae44e\n│  ├─ kube-controller-manager  no leader known\n│  └─ kube-scheduler           no leader known',
    );
    expect(text).toContain('   └─ leader kube-scheduler  held by kubernetes-master_0d9c (kubernetes-master)');
  });

  it('says so when there is no replica', () => {
    const text = renderStatus(
      sampleStatus({
        replicas: [],
        etcd: { members: [] },
        endpoint: { address: '', mode: 'detached', targets: [] },
        faultTolerance: {
          voters: 0,
          quorum: 0,
          tolerates: 0,
          healthy: 0,
          canStillLose: 0,
          zoneLoss: 'no replicas',
        },
      }),
    );
    expect(text).toContain('├─ No replicas\n└─ Endpoint (no address)  detached');
  });

  it('leaves warnings out (they go to stderr)', () => {
    expect(renderStatus(sampleStatus())).not.toContain('TWO_REPLICAS');
  });
});

describe('renderOperationResult', () => {
  it('counts steps done and skipped and lists the replicas', () => {
    expect(renderOperationResult(sampleOperationResult())).toBe(
      [
        'replicate finished on cluster kubernetes (op-20261123230000-a1b2c3): 3 steps, 2 done, 1 already in place',
        'Replicas (2):',
        '  kubernetes-master      local-a',
        '  kubernetes-master-1f3  local-b',
        '',
      ].join('\n'),
    );
  });

  it('marks a resumed run and an empty cluster after down', () => {
    const text = renderOperationResult(
      sampleOperationResult({
        operation: 'down',
        resumed: true,
        steps: [{ id: 'delete-record', title: 'Delete the record', status: 'done' }],
        replicas: [],
      }),
    );
    expect(text).toBe(
      [
        'down finished on cluster kubernetes (op-20261123230000-a1b2c3, resumed): 1 step, 1 done',
        'Replicas: none; the cluster is deleted',
        '',
      ].join('\n'),
    );
  });
});

describe('step outcomes', () => {
  it('tells a deletion that found nothing (already gone) from anything else already in place', () => {
    const cases: [string, 'done' | 'skipped' | 'not-applicable', string][] = [
      ['delete-instance:kubernetes-master-1f3', 'skipped', 'already gone'],
      ['remove-member:kubernetes-master-1f3', 'skipped', 'already gone'],
      ['remove-target:kubernetes-master-1f3', 'skipped', 'already gone'],
      ['delete-identity-lease:kubernetes-master-1f3', 'skipped', 'already gone'],
      ['delete-record', 'skipped', 'already gone'],
      ['release-address', 'skipped', 'already gone'],
      ['release-address#2', 'skipped', 'already gone'],
      ['reserve-address', 'skipped', 'already in place'],
      ['add-learner:kubernetes-master-1f3', 'skipped', 'already in place'],
      ['release-addresses-elsewhere', 'skipped', 'already in place'],
      ['delete-instance:kubernetes-master-1f3', 'done', 'done'],
      ['stop-kubernetes:kubernetes-master-1f3', 'not-applicable', 'not needed'],
      ['delete-identity-lease:kubernetes-master-1f3', 'not-applicable', 'not needed'],
    ];
    expect(cases.map(([id, status]) => stepOutcomeText({ id, status }))).toEqual(cases.map((c) => c[2]));
  });

  it('counts each kind of outcome, in a fixed order, leaving out those that did not occur', () => {
    const text = renderOperationResult(
      sampleOperationResult({
        operation: 'remove',
        steps: [
          { id: 'preflight', title: 'Check', status: 'done' },
          { id: 'stop-kubernetes:x', title: 'Stop', status: 'not-applicable' },
          { id: 'remove-member:x', title: 'Remove', status: 'skipped' },
          { id: 'delete-instance:x', title: 'Delete', status: 'skipped' },
          { id: 'snapshot', title: 'Snapshot', status: 'skipped' },
        ],
      }),
    );
    expect(text.split('\n')[0]).toBe(
      'remove finished on cluster kubernetes (op-20261123230000-a1b2c3): 5 steps, 1 done, 1 already in place, 2 already gone, 1 not needed',
    );
  });

  it('says, after up, the Kubernetes version, where the admin kubeconfig is and what to run', () => {
    const text = renderOperationResult(
      sampleOperationResult({
        operation: 'up',
        replicas: [{ name: 'kubernetes-master', zone: 'local-a' }],
        kubernetesVersion: 'v1.23.16',
        kubeconfig: '/home/o/.local/state/hacp/clusters/kubernetes/admin.conf',
      }),
    );
    expect(
      text.endsWith(
        [
          'Kubernetes: v1.23.16',
          'Admin kubeconfig: /home/o/.local/state/hacp/clusters/kubernetes/admin.conf',
          'Next: kubectl --kubeconfig /home/o/.local/state/hacp/clusters/kubernetes/admin.conf get nodes',
          '',
        ].join('\n'),
      ),
    ).toBe(true);
    expect(renderOperationResult(sampleOperationResult())).not.toContain('Kubernetes');
  });

  it('quotes a path for the shell only when it needs it', () => {
    expect(shellWord('/srv/hacp/admin.conf')).toBe('/srv/hacp/admin.conf');
    expect(shellWord("/home/o/my state/it's.conf")).toBe("'/home/o/my state/it'\\''s.conf'");
  });
});

describe('renderPlan', () => {
  it('numbers the steps and the rollback and says what it reaches', () => {
    expect(renderPlan(samplePlan())).toBe(
      [
        'Plan: replicate on cluster kubernetes, 4 steps',
        '  1. Check that every member is started and healthy',
        '  2. Add kubernetes-master-1f3 to etcd as a learner',
        '  3. Create kubernetes-master-1f3 in local-b',
        '  4. Create the load balancer with kubernetes-master as target',
        'If it fails before the new member is promoted, hacp undoes it:',
        "  1. Remove kubernetes-master-1f3's member if it was added",
        'Afterwards: 2 replicas (kubernetes-master in local-a, kubernetes-master-1f3 in local-b); endpoint load-balanced over kubernetes-master, kubernetes-master-1f3',
        '',
      ].join('\n'),
    );
  });

  it('describes a down plan', () => {
    const text = renderPlan(
      samplePlan({ operation: 'down', onFailure: [], expected: { replicas: [], endpoint: undefined } }),
    );
    expect(text).toContain('Afterwards: no replicas; no endpoint');
    expect(text).not.toContain('undoes');
  });
});

describe('the other renderers', () => {
  it('lists certificates soonest first, then what each replica serves', () => {
    expect(renderCertificates({ certificates: sampleCertificates(), served: [] })).toBe(
      [
        'CERTIFICATE                  COMMON NAME        SERIAL  EXPIRES                   DAYS LEFT  STATUS',
        'etcd-peer:kubernetes-master  kubernetes-master  4D5E6F  2026-12-10T23:00:00.000Z  17         expiring',
        'cluster-ca (CA)              kubernetes         1A2B3C  2036-11-21T23:00:00.000Z  3650       ok',
        '',
      ].join('\n'),
    );
    expect(renderCertificates({ certificates: [], served: [] })).toBe('No certificates.\n');
    const text = renderCertificates({ certificates: sampleCertificates(), served: sampleServed() });
    expect(text).toContain(
      [
        'Served by the replicas (read over TLS):',
        "  REPLICA            PORT         SERIAL  EXPIRES                   OPERATOR'S COPY",
        '  kubernetes-master  etcd-client  77AA    2026-12-10T23:00:00.000Z  MISMATCH (copy 88BB)',
        '  kubernetes-master  etcd-peer    4D5E6F  2026-12-10T23:00:00.000Z  same',
        '  kubernetes-master  apiserver    -       -                         unread: instance stopped',
      ].join('\n'),
    );
  });

  it('lists renewed certificates and the replicas they were rolled onto', () => {
    const result = sampleOperationResult({
      operation: 'renew-certs',
      steps: [
        { id: 'renew-pki', title: 'Reissue', status: 'done' },
        { id: 'roll-certs:kubernetes-master', title: 'Give', status: 'done' },
        { id: 'roll-certs:kubernetes-master-1f3', title: 'Give', status: 'skipped' },
      ],
    });
    const text = renderRenewed({ ...result, renewed: ['a', 'b'] });
    expect(text).toContain('Renewed 2 certificates from the same CAs:\n  a\n  b\n');
    expect(text).toContain(
      'Rolled onto the replicas one at a time:\n  kubernetes-master: restarted with them\n  kubernetes-master-1f3: served them already\n',
    );
    expect(renderRenewed({ ...result, steps: [], renewed: [] })).toContain('No certificates were renewed.\n');
  });

  it('lists leases', () => {
    const text = renderLeases(sampleLeases());
    expect(text).toContain('Identity leases:\n  apiserver-abcdefghijklmnopqrstuvwxyz  kubernetes-master');
    expect(text).toContain(
      'Leader leases:\n  kube-controller-manager  kubernetes-master_0d9c\n  kube-scheduler           (no holder)',
    );
    expect(
      renderLeases({
        identities: [],
        leaders: [
          {
            lease: 'kube-controller-manager',
            holder: 'kubernetes-master_0d9c',
            replica: 'kubernetes-master',
          },
          { lease: 'kube-scheduler' },
        ],
      }),
    ).toBe(
      [
        'Identity leases: none',
        'Leader leases:',
        '  kube-controller-manager  kubernetes-master_0d9c  replica kubernetes-master',
        '  kube-scheduler           (no holder)',
        '',
      ].join('\n'),
    );
    expect(renderLeases({ identities: [], leaders: [] })).toBe(
      'Identity leases: none\nLeader leases: none\n',
    );
  });

  it('says which replicas a zone change stopped or started', () => {
    expect(renderZoneChange({ zone: 'local-b', replicas: ['kubernetes-master-1f3'] }, 'failed')).toBe(
      'Zone local-b failed; stopped 1 replica: kubernetes-master-1f3\n',
    );
    expect(renderZoneChange({ zone: 'local-c', replicas: [] }, 'restored')).toBe(
      'Zone local-c restored; no replica started\n',
    );
  });

  it('prints warnings with their code', () => {
    expect(renderWarnings([{ code: 'TWO_REPLICAS', message: 'Add a third.' }])).toBe(
      'Warning (TWO_REPLICAS): Add a third.\n',
    );
    expect(renderWarnings([])).toBe('');
  });

  it('pluralises', () => {
    expect([plural(0, 'failure'), plural(1, 'failure'), plural(2, 'failure')]).toEqual([
      '0 failures',
      '1 failure',
      '2 failures',
    ]);
  });
});

const started: ControlPlaneEvent = {
  type: 'step-started',
  operationId: 'op-1',
  step: 'add-learner:kubernetes-master-a1b',
  title: 'Add kubernetes-master-a1b to etcd as a learner',
  index: 3,
  steps: 12,
};
const done: ControlPlaneEvent = { ...started, type: 'step-done', status: 'done' };

describe('progress', () => {
  it('renders one line per event', () => {
    expect(renderProgressEvent(done)).toBe('[3/12] Add kubernetes-master-a1b to etcd as a learner … done');
    expect(renderProgressEvent({ type: 'waiting', message: 'kubernetes-master-a1b to be healthy' })).toBe(
      '  waiting for kubernetes-master-a1b to be healthy …',
    );
    expect(
      renderProgressEvent({ type: 'operation-done', operation: 'up', operationId: 'op-1' }),
    ).toBeUndefined();
  });

  it('completes a step line in place on a terminal', () => {
    let out = '';
    const printer = new ProgressPrinter({ write: (text) => (out += text), steps: true });
    printer.handle(started);
    printer.handle(done);
    expect(out).toBe('[3/12] Add kubernetes-master-a1b to etcd as a learner … done\n');
  });

  it('ends the open line before a wait and repeats the step when it is done', () => {
    let out = '';
    const printer = new ProgressPrinter({ write: (text) => (out += text), steps: true });
    printer.handle(started);
    printer.handle({ type: 'waiting', message: 'etcd to accept kubernetes-master-a1b as a learner' });
    printer.handle({ ...done, status: 'skipped' });
    expect(out).toBe(
      [
        '[3/12] Add kubernetes-master-a1b to etcd as a learner …',
        '  waiting for etcd to accept kubernetes-master-a1b as a learner …',
        '[3/12] Add kubernetes-master-a1b to etcd as a learner … already in place',
        '',
      ].join('\n'),
    );
  });

  it('prints only warnings and rollbacks when steps are off (not a terminal)', () => {
    let out = '';
    const printer = new ProgressPrinter({ write: (text) => (out += text), steps: false });
    printer.handle(started);
    printer.handle({ type: 'warning', code: 'TWO_REPLICAS', message: 'Add a third.' });
    printer.handle(done);
    printer.handle({ type: 'rollback-started', operationId: 'op-1', reason: 'learner stalled' });
    expect(out).toBe('Warning (TWO_REPLICAS): Add a third.\nUndoing op-1: learner stalled\n');
  });
});

const MB = 1024 * 1024;

describe('downloads', () => {
  it('draws the file, the megabytes and a bar, or the megabytes alone when the size is unknown', () => {
    expect(renderDownload({ file: 'kube-apiserver', receivedBytes: 30 * MB, totalBytes: 120 * MB })).toBe(
      '  kube-apiserver  30.0/120.0 MB  [######------------------]  25%',
    );
    expect(renderDownload({ file: 'kube-apiserver', receivedBytes: 0, totalBytes: 120 * MB })).toBe(
      '  kube-apiserver  0.0/120.0 MB  [------------------------]   0%',
    );
    expect(renderDownload({ file: 'kube-scheduler', receivedBytes: 55 * MB, totalBytes: 55 * MB })).toBe(
      '  kube-scheduler  55.0/55.0 MB  [########################] 100%',
    );
    expect(renderDownload({ file: 'kubernetes-server-linux-amd64.tar.gz', receivedBytes: 1.5 * MB })).toBe(
      '  kubernetes-server-linux-amd64.tar.gz  1.5 MB',
    );
  });

  it('redraws one line in place on a terminal and ends it when the file is complete', () => {
    let out = '';
    const printer = new ProgressPrinter({ write: (text) => (out += text), steps: true });
    printer.handle(started);
    const event = { type: 'download' as const, file: 'kube-apiserver', url: 'file:///r/kube-apiserver' };
    printer.handle({ ...event, receivedBytes: 0, totalBytes: 4 * MB });
    printer.handle({ ...event, receivedBytes: 2 * MB, totalBytes: 4 * MB });
    printer.handle({ ...event, receivedBytes: 2 * MB, totalBytes: 4 * MB });
    printer.handle({ ...event, receivedBytes: 4 * MB, totalBytes: 4 * MB });
    // The last report repeated: nothing more is drawn.
    printer.handle({ ...event, receivedBytes: 4 * MB, totalBytes: 4 * MB });
    printer.handle(done);
    expect(out).toBe(
      [
        '[3/12] Add kubernetes-master-a1b to etcd as a learner …\n',
        '\r  kube-apiserver  0.0/4.0 MB  [------------------------]   0%',
        '\r  kube-apiserver  2.0/4.0 MB  [############------------]  50%',
        '\r  kube-apiserver  4.0/4.0 MB  [########################] 100%\n',
        '[3/12] Add kubernetes-master-a1b to etcd as a learner … done\n',
      ].join(''),
    );
  });

  it('ends an unfinished download line before other output, and clears what a longer line left', () => {
    let out = '';
    const printer = new ProgressPrinter({ write: (text) => (out += text), steps: true });
    printer.download({ file: 'kubernetes-server-linux-amd64.tar.gz', receivedBytes: 10 * MB });
    printer.download({ file: 'kube-apiserver', receivedBytes: 1 * MB });
    printer.handle({ type: 'warning', code: 'TWO_REPLICAS', message: 'careful' });
    printer.download({ file: 'kube-apiserver', receivedBytes: 12 * MB });
    // A download that started over draws a shorter line: spaces cover the rest of the old one.
    printer.download({ file: 'kube-apiserver', receivedBytes: 0 });
    printer.download({ file: 'kube-apiserver', receivedBytes: 2 * MB, totalBytes: 2 * MB });
    printer.finish();
    expect(out).toBe(
      [
        '\r  kubernetes-server-linux-amd64.tar.gz  10.0 MB\n',
        '\r  kube-apiserver  1.0 MB\n',
        'Warning (TWO_REPLICAS): careful\n',
        '\r  kube-apiserver  12.0 MB',
        '\r  kube-apiserver  0.0 MB ',
        `\r  kube-apiserver  2.0/2.0 MB  [########################] 100%\n`,
      ].join(''),
    );
  });

  it('draws nothing without a terminal', () => {
    let out = '';
    const printer = new ProgressPrinter({ write: (text) => (out += text), steps: false });
    printer.handle({ type: 'download', file: 'kube-apiserver', url: 'u', receivedBytes: 1, totalBytes: 2 });
    printer.download({ file: 'kube-apiserver', receivedBytes: 2, totalBytes: 2 });
    printer.finish();
    expect(out).toBe('');
  });
});
