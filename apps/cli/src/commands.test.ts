/**
 * The commands run in-process against a fake runtime and a fake control plane: which SDK call each
 * makes with which options, what it prints, and its exit code. The built CLI against real replicas
 * is the e2e suite's job.
 */
import type { ControlPlaneEvent } from '@hacp/sdk';
import { describe, expect, it } from 'vitest';
import CertsCheck from './commands/certs/check.js';
import CertsRenew from './commands/certs/renew.js';
import CertsRotateCa from './commands/certs/rotate-ca.js';
import Down from './commands/down.js';
import KubeDown from './commands/kube-down.js';
import KubeUp from './commands/kube-up.js';
import Leases from './commands/leases.js';
import Plan from './commands/plan.js';
import Remove from './commands/remove.js';
import Replace from './commands/replace.js';
import Replicate from './commands/replicate.js';
import RolloutRestart from './commands/rollout/restart.js';
import Scale from './commands/scale.js';
import Status from './commands/status.js';
import Up from './commands/up.js';
import Upgrade from './commands/upgrade.js';
import Watch from './commands/watch.js';
import ZoneFail from './commands/zone/fail.js';
import type { ErrorEnvelope, SuccessEnvelope } from './envelope.js';
import { HacpError } from './errors.js';
import { createCliProvider } from './providers.js';
import { validateEnvelope } from './schemas.js';
import { parseStepLine } from './terminal-run.mjs';
import {
  type FakeRuntime,
  fakeProvider,
  fakeRuntime,
  runCommand,
  sampleCertificates,
  samplePlan,
  sampleServed,
} from './test-support.js';

const STATE = { HACP_STATE_DIR: '/var/lib/hacp-test' };

/** The one envelope a command printed, with both shapes' fields optional. */
type Printed = { status: number } & Partial<Omit<SuccessEnvelope<unknown>, 'status'>> &
  Partial<Omit<ErrorEnvelope, 'status'>>;

function json(runtime: FakeRuntime): Printed {
  return JSON.parse(runtime.stdout) as Printed;
}

async function untilCalled(runtime: FakeRuntime): Promise<void> {
  for (let i = 0; i < 200 && callsOf(runtime).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
}

function callsOf(runtime: FakeRuntime) {
  return runtime.controlPlanes.flatMap((entry) => entry.controlPlane.calls);
}

describe('global flags and output', () => {
  it('prints one valid status envelope, with the warnings, and closes the control plane', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Status, 'status', ['--json'], runtime);
    expect(runtime.exitCode).toBe(0);
    const envelope = json(runtime);
    expect(validateEnvelope('status', envelope).errors).toEqual([]);
    expect(envelope.warnings).toEqual([
      { code: 'TWO_REPLICAS', message: 'Two replicas are less available than one; add a third.' },
    ]);
    expect(runtime.stderr).toBe('');
    expect(runtime.providersCreated).toEqual([{ name: 'local', stateDir: '/var/lib/hacp-test' }]);
    const [{ settings, controlPlane }] = runtime.controlPlanes as [FakeRuntime['controlPlanes'][number]];
    expect(settings.cluster).toBe('kubernetes');
    expect(settings.dataDir).toBe('/var/lib/hacp-test/clusters/kubernetes');
    expect(controlPlane.closed).toBe(true);
  });

  it('prints the tree on stdout and the warnings on stderr in text mode', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Status, 'status', [], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(runtime.stdout).toContain(
      'Cluster kubernetes  (provider local, region local, multizone)\n├─ Zone local-a',
    );
    expect(runtime.stderr).toBe(
      'Warning (TWO_REPLICAS): Two replicas are less available than one; add a third.\n',
    );
  });

  it('takes --cluster and --state-dir, else HACP_CLUSTER and XDG_STATE_HOME', async () => {
    const flagged = fakeRuntime({ env: { HACP_CLUSTER: 'ignored' } });
    await runCommand(Status, 'status', ['--cluster', 'prod', '--state-dir', '/srv/state'], flagged);
    expect(flagged.controlPlanes[0]?.settings).toMatchObject({
      cluster: 'prod',
      dataDir: '/srv/state/clusters/prod',
    });

    const fromEnv = fakeRuntime({ env: { HACP_CLUSTER: 'staging', XDG_STATE_HOME: '/xdg' } });
    await runCommand(Status, 'status', [], fromEnv);
    expect(fromEnv.controlPlanes[0]?.settings).toMatchObject({
      cluster: 'staging',
      dataDir: '/xdg/hacp/clusters/staging',
    });
    expect(fromEnv.providersCreated[0]?.stateDir).toBe('/xdg/hacp');
  });

  it('refuses a malformed cluster name before touching anything', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Status, 'status', ['--cluster', '../etc', '--json'], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(json(runtime).error?.code).toBe('INVALID_ARGUMENT');
    expect(runtime.providersCreated).toEqual([]);
  });

  it('refuses a malformed provider name with exit 2 before making any provider', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Status, 'status', ['--provider', 'My_Cloud', '--json'], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(json(runtime).error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message:
        '"My_Cloud" is not a provider name: use lowercase letters, digits and dashes, such as local or gce.',
    });
    expect(runtime.providersCreated).toEqual([]);
  });

  it('takes the provider from HACP_PROVIDER when --provider is not given, and lets the flag win', async () => {
    const fromEnv = fakeRuntime({ env: { ...STATE, HACP_PROVIDER: 'gce', HACP_GCE_PROJECT: 'p-1' } });
    await runCommand(Status, 'status', ['--json'], fromEnv);
    expect(fromEnv.providersCreated.map((created) => created.name)).toEqual(['gce']);
    const flag = fakeRuntime({ env: { ...STATE, HACP_PROVIDER: 'gce' } });
    await runCommand(Status, 'status', ['--provider', 'local', '--json'], flag);
    expect(flag.providersCreated.map((created) => created.name)).toEqual(['local']);
  });

  it('refuses an unknown provider with exit 2 (PROVIDER_NOT_FOUND), listing the known ones', async () => {
    const runtime = fakeRuntime({ env: STATE });
    const made: string[] = [];
    runtime.createProvider = async (name, context) => {
      const provider = await createCliProvider(name, context);
      made.push(provider.name);
      return provider;
    };
    await runCommand(Status, 'status', ['--provider', 'azure'], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(runtime.stderr).toContain(
      'Error (PROVIDER_NOT_FOUND): Unknown provider "azure": it is not built in, no installed plugin offers it, and the package hacp-provider-azure is not installed. The known providers are: local, gce.',
    );
    expect(runtime.stderr).toContain('hacp plugins install hacp-provider-azure');
    expect(made).toEqual([]);
    expect(runtime.controlPlanes).toEqual([]);
  });

  it("turns oclif's parse errors into an INVALID_ARGUMENT envelope, exit 2", async () => {
    const unknownFlag = fakeRuntime({ env: STATE });
    await runCommand(Status, 'status', ['--bogus', '--json'], unknownFlag);
    expect(unknownFlag.exitCode).toBe(2);
    expect(json(unknownFlag)).toEqual({
      status: 2,
      error: {
        code: 'INVALID_ARGUMENT',
        message: 'Nonexistent flag: --bogus',
        actions: ['Run `hacp status --help` for its flags and arguments.'],
      },
    });

    const missingArg = fakeRuntime({ env: STATE });
    await runCommand(ZoneFail, 'zone:fail', [], missingArg);
    expect(missingArg.exitCode).toBe(2);
    expect(missingArg.stderr).toMatch(/^Error \(INVALID_ARGUMENT\): Missing 1 required arg/);
    expect(missingArg.stderr).toContain('→ Run `hacp zone fail --help` for its flags and arguments.');
  });

  it('maps SDK errors to exit codes and prints their actions', async () => {
    const runtime = fakeRuntime({
      env: STATE,
      error: new HacpError({
        code: 'QUORUM_AT_RISK',
        message: 'Removing kubernetes-master would leave 1 of 3 voters healthy.',
        actions: ['Repair or replace the unhealthy replica first.'],
      }),
    });
    await runCommand(Remove, 'remove', ['--zone', 'local-a'], runtime);
    expect(runtime.exitCode).toBe(3);
    expect(runtime.stdout).toBe('');
    expect(runtime.stderr).toBe(
      'Error (QUORUM_AT_RISK): Removing kubernetes-master would leave 1 of 3 voters healthy.\n  → Repair or replace the unhealthy replica first.\n',
    );
  });

  it('reports any other error as INTERNAL, exit 1', async () => {
    const runtime = fakeRuntime({ env: STATE, error: new TypeError('boom') });
    await runCommand(Status, 'status', ['--json'], runtime);
    expect(runtime.exitCode).toBe(1);
    expect(json(runtime).error).toMatchObject({ code: 'INTERNAL', message: 'Unexpected error: boom' });
  });
});

describe('progress', () => {
  const events: ControlPlaneEvent[] = [
    {
      type: 'step-started',
      operationId: 'op-1',
      step: 'preflight',
      title: 'Check the members',
      index: 1,
      steps: 2,
    },
    {
      type: 'step-done',
      operationId: 'op-1',
      step: 'preflight',
      title: 'Check the members',
      index: 1,
      steps: 2,
      status: 'done',
    },
    {
      type: 'warning',
      code: 'TWO_REPLICAS',
      message: 'Two replicas are less available than one; add a third.',
    },
  ];

  it('prints step lines on a terminal and each warning once', async () => {
    const runtime = fakeRuntime({ env: STATE, stderrIsTTY: true, events });
    await runCommand(Replicate, 'replicate', ['--zone', 'local-b'], runtime);
    expect(runtime.stderr).toBe(
      '[1/2] Check the members … done\nWarning (TWO_REPLICAS): Two replicas are less available than one; add a third.\n',
    );
    expect(runtime.stdout).toContain('replicate finished on cluster kubernetes');
  });

  it('prints only warnings when stderr is not a terminal, and nothing on stderr with --json', async () => {
    const plain = fakeRuntime({ env: STATE, events });
    await runCommand(Replicate, 'replicate', [], plain);
    expect(plain.stderr).toBe(
      'Warning (TWO_REPLICAS): Two replicas are less available than one; add a third.\n',
    );

    const quiet = fakeRuntime({ env: STATE, stderrIsTTY: true, events });
    await runCommand(Replicate, 'replicate', ['--json'], quiet);
    expect(quiet.stderr).toBe('');
    expect(validateEnvelope('replicate', json(quiet)).errors).toEqual([]);
  });

  it('prints step lines the kill harness of the crash tests reads (terminal-run.mjs)', async () => {
    const [started, done] = events;
    const waiting: ControlPlaneEvent = { type: 'waiting', message: 'the learner to catch up' };
    const runtime = fakeRuntime({ env: STATE, stderrIsTTY: true, events: [started!, waiting, done!] });
    await runCommand(Replicate, 'replicate', ['--zone', 'local-b'], runtime);
    const lines = runtime.stderr.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      '[1/2] Check the members …',
      '  waiting for the learner to catch up …',
      '[1/2] Check the members … done',
    ]);
    expect(parseStepLine(lines[0]!)).toEqual({ index: 1, steps: 2, title: 'Check the members' });
    expect(parseStepLine(lines[1]!)).toBeUndefined();
    expect(parseStepLine(lines[2]!)).toEqual({
      index: 1,
      steps: 2,
      title: 'Check the members',
      outcome: 'done',
    });
  });
});

describe('interruption', () => {
  it('aborts the operation on SIGINT: exit 4, ABORTED, and how to resume', async () => {
    const runtime = fakeRuntime({ env: STATE, hangUntilAborted: true });
    const running = runCommand(Replicate, 'replicate', ['--zone', 'local-b', '--json'], runtime);
    await untilCalled(runtime);
    const options = callsOf(runtime)[0]?.options as { signal?: AbortSignal } | undefined;
    const signal = options?.signal;
    expect(signal?.aborted).toBe(false);
    runtime.interrupt('SIGINT');
    await running;
    expect(signal?.aborted).toBe(true);
    expect(runtime.exitCode).toBe(4);
    const envelope = json(runtime);
    expect(envelope.error?.code).toBe('ABORTED');
    expect(envelope.error?.actions.join(' ')).toContain('hacp resume');
    expect(runtime.controlPlanes[0]?.controlPlane.closed).toBe(true);
  });

  it('keeps the flags the user gave in every hint it prints (the cluster, the state folder)', async () => {
    const runtime = fakeRuntime({ env: STATE, hangUntilAborted: true });
    const args = ['replicate', '--zone', 'local-b', '--cluster', 'solo', '--state-dir', '/srv/hacp state'];
    const running = runCommand(Replicate, 'replicate', args.slice(1), runtime);
    await untilCalled(runtime);
    runtime.interrupt('SIGINT');
    await running;
    expect(runtime.exitCode).toBe(4);
    expect(runtime.stderr).toContain("`hacp resume --cluster solo --state-dir '/srv/hacp state'`");
    expect(runtime.stderr).not.toMatch(/`hacp resume`/);
  });

  it('exits at once on a second signal, printing one envelope', async () => {
    const runtime = fakeRuntime({ env: STATE, hangUntilAborted: true });
    // The fake control plane ends on the first abort; the second signal arrives before it does.
    const running = runCommand(Replicate, 'replicate', ['--json'], runtime);
    await untilCalled(runtime);
    runtime.interrupt('SIGTERM');
    runtime.interrupt('SIGTERM');
    await running;
    expect(runtime.exitedWith).toBe(4);
    expect(json(runtime).error?.message).toContain('Interrupted twice (SIGTERM)');
  });
});

describe('up and its variables', () => {
  it("takes kube-up's variables as defaults, with the READS misspelling", async () => {
    const runtime = fakeRuntime({
      env: { ...STATE, KUBE_GCE_ZONE: 'local-a', MULTIZONE: 'true', ENABLE_ETCD_QUORUM_READS: 'true' },
    });
    await runCommand(Up, 'up', [], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(callsOf(runtime)[0]).toMatchObject({
      method: 'up',
      options: { zone: 'local-a', multizone: true, quorumReads: true },
    });
  });

  it('lets flags win over variables', async () => {
    const runtime = fakeRuntime({ env: { ...STATE, KUBE_GCE_ZONE: 'local-a', MULTIZONE: 'true' } });
    await runCommand(
      Up,
      'up',
      ['--zone', 'local-c', '--no-multizone', '--key-algorithm', 'rsa-2048'],
      runtime,
    );
    expect(callsOf(runtime)[0]?.options).toMatchObject({
      zone: 'local-c',
      multizone: false,
      quorumReads: false,
      keyAlgorithm: 'rsa-2048',
    });
  });

  it('needs a zone', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Up, 'up', [], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(runtime.stderr).toContain('up needs --zone (or KUBE_GCE_ZONE)');
    expect(callsOf(runtime)).toEqual([]);
  });

  it('refuses MULTIZONE=maybe before creating anything', async () => {
    const runtime = fakeRuntime({ env: { ...STATE, KUBE_GCE_ZONE: 'local-a', MULTIZONE: 'maybe' } });
    await runCommand(Up, 'up', ['--json'], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(json(runtime).error?.message).toContain('MULTIZONE="maybe"');
    expect(runtime.providersCreated).toEqual([]);
  });

  it('refuses an unknown key algorithm as a parse error', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Up, 'up', ['--zone', 'local-a', '--key-algorithm', 'dsa'], runtime);
    expect(runtime.exitCode).toBe(2);
  });
});

describe('kube-up and kube-down', () => {
  it('kube-up replicates with KUBE_REPLICATE_EXISTING_MASTER=true and warns about inherited variables', async () => {
    const runtime = fakeRuntime({
      env: { ...STATE, KUBE_GCE_ZONE: 'local-c', KUBE_REPLICATE_EXISTING_MASTER: 'true', MULTIZONE: 'true' },
    });
    await runCommand(KubeUp, 'kube-up', ['--json'], runtime);
    expect(callsOf(runtime).map((call) => call.method)).toEqual(['replicate']);
    expect(callsOf(runtime)[0]?.options).toMatchObject({ zone: 'local-c' });
    const envelope = json(runtime);
    expect(validateEnvelope('kube-up', envelope).errors).toEqual([]);
    expect(envelope.warnings?.map((warning) => warning.code)).toContain('VARIABLE_IGNORED');
  });

  it('kube-up creates a cluster otherwise', async () => {
    const runtime = fakeRuntime({
      env: { ...STATE, KUBE_GCE_ZONE: 'local-a', ENABLE_ETCD_QUORUM_READ: 'true' },
    });
    await runCommand(KubeUp, 'kube-up', [], runtime);
    expect(callsOf(runtime)[0]).toMatchObject({
      method: 'up',
      options: { zone: 'local-a', multizone: false, quorumReads: true },
    });
  });

  it.each([
    ['kube-up', KubeUp, [], { KUBE_GCE_ZONE: 'local-a', KUBE_REPLICATE_EXISTING_MASTER: 'TRUE' }],
    ['kube-down', KubeDown, ['--yes'], { KUBE_DELETE_NODES: 'nope' }],
  ])(
    '%s refuses a malformed boolean with exit 2 before touching anything',
    async (id, command, argv, env) => {
      const runtime = fakeRuntime({ env: { ...STATE, ...env } });
      await runCommand(command, id, argv, runtime);
      expect(runtime.exitCode).toBe(2);
      expect(runtime.stderr).toMatch(/^Error \(INVALID_ARGUMENT\): KUBE_\w+="\w+" is not a boolean/);
      expect(runtime.providersCreated).toEqual([]);
    },
  );

  it('kube-down removes one replica with KUBE_DELETE_NODES=false', async () => {
    const runtime = fakeRuntime({
      env: {
        ...STATE,
        KUBE_DELETE_NODES: 'false',
        KUBE_GCE_ZONE: 'local-b',
        KUBE_REPLICA_NAME: 'kubernetes-master-1f3',
      },
    });
    await runCommand(KubeDown, 'kube-down', [], runtime);
    expect(callsOf(runtime)[0]).toMatchObject({
      method: 'remove',
      options: { zone: 'local-b', name: 'kubernetes-master-1f3' },
    });
  });

  it('kube-down deletes the cluster only with --yes when there is no terminal', async () => {
    const refused = fakeRuntime({ env: STATE });
    await runCommand(KubeDown, 'kube-down', [], refused);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('pass --yes');
    expect(callsOf(refused)).toEqual([]);

    const confirmed = fakeRuntime({ env: STATE });
    await runCommand(KubeDown, 'kube-down', ['--yes'], confirmed);
    expect(callsOf(confirmed).map((call) => call.method)).toEqual(['down']);
  });
});

describe('down', () => {
  it('refuses without a terminal and without --yes', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Down, 'down', ['--json'], runtime);
    expect(json(runtime)).toMatchObject({ status: 2, error: { code: 'INVALID_ARGUMENT' } });
    expect(runtime.providersCreated).toEqual([]);
  });

  it('asks on a terminal and deletes when the answer is yes', async () => {
    const runtime = fakeRuntime({ env: STATE, interactive: true, confirm: true });
    await runCommand(Down, 'down', [], runtime);
    expect(runtime.questions).toHaveLength(1);
    expect(runtime.questions[0]).toContain('Delete cluster kubernetes');
    expect(callsOf(runtime).map((call) => call.method)).toEqual(['down']);
    expect(runtime.exitCode).toBe(0);
  });

  it('deletes nothing when the answer is no', async () => {
    const runtime = fakeRuntime({ env: STATE, interactive: true, confirm: false });
    await runCommand(Down, 'down', [], runtime);
    expect(callsOf(runtime)).toEqual([]);
    expect(runtime.exitCode).toBe(4);
    expect(runtime.stderr).toContain('Not confirmed: cluster kubernetes was not deleted.');
    // Nothing was started: there is nothing to resume.
    expect(runtime.stderr).not.toContain('hacp resume');
  });

  it('does not ask with --yes', async () => {
    const runtime = fakeRuntime({ env: STATE, interactive: true });
    await runCommand(Down, 'down', ['-y'], runtime);
    expect(runtime.questions).toEqual([]);
    expect(callsOf(runtime).map((call) => call.method)).toEqual(['down']);
  });
});

describe('plan', () => {
  it('plans with the operation’s own flags and variables', async () => {
    const runtime = fakeRuntime({ env: { ...STATE, KUBE_REPLICA_NAME: 'kubernetes-master-1f3' } });
    await runCommand(Plan, 'plan', ['remove', '--zone', 'local-b'], runtime);
    expect(callsOf(runtime)[0]).toEqual({
      method: 'plan',
      options: { operation: 'remove', zone: 'local-b', name: 'kubernetes-master-1f3' },
    });
    expect(runtime.stdout).toContain('Plan: replicate on cluster kubernetes, 4 steps');
  });

  it('prints the plan itself with --json', async () => {
    const runtime = fakeRuntime({ env: { ...STATE, KUBE_GCE_ZONE: 'local-a' } });
    await runCommand(Plan, 'plan', ['up', '--multizone', '--json'], runtime);
    expect(callsOf(runtime)[0]?.options).toEqual({
      operation: 'up',
      zone: 'local-a',
      multizone: true,
      quorumReads: false,
      kubernetes: true,
    });
    expect(validateEnvelope('plan', json(runtime)).errors).toEqual([]);
  });

  it('plans certs renew as renew-certs, its steps valid against the plan schema', async () => {
    const plan = samplePlan({
      operation: 'renew-certs',
      steps: [
        { id: 'renew-pki', title: 'Reissue every leaf', action: { kind: 'renew-pki' }, preconditions: [] },
        {
          id: 'roll-certs:kubernetes-master',
          title: 'Give kubernetes-master the renewed certificates and restart its processes',
          action: { kind: 'roll-certs', replica: 'kubernetes-master', zone: 'local-a' },
          preconditions: ['every other etcd member is a started, healthy voter'],
        },
      ],
      onFailure: [],
    });
    const runtime = fakeRuntime({ env: STATE, plan });
    await runCommand(Plan, 'plan', ['renew-certs', '--json'], runtime);
    expect(callsOf(runtime)[0]?.options).toEqual({ operation: 'renew-certs' });
    expect(validateEnvelope('plan', json(runtime)).errors).toEqual([]);
  });

  it('plans certs rotate-ca as rotate-ca with its --ca, its steps valid against the plan schema; without --ca it is refused', async () => {
    const plan = samplePlan({
      operation: 'rotate-ca',
      steps: [
        {
          id: 'rotate-etcd-ca',
          title: 'Make a new etcd CA, trusted beside the current one',
          action: { kind: 'rotate-ca', ca: 'etcd', phase: 'trust-new' },
          preconditions: [],
        },
        {
          id: 'roll-certs:kubernetes-master',
          title: 'Give kubernetes-master both etcd CAs as trusted and restart its processes',
          action: { kind: 'roll-certs', replica: 'kubernetes-master', zone: 'local-a', trustChanged: true },
          preconditions: [],
        },
      ],
      onFailure: [],
    });
    const runtime = fakeRuntime({ env: STATE, plan });
    await runCommand(Plan, 'plan', ['rotate-ca', '--ca', 'etcd', '--json'], runtime);
    expect(callsOf(runtime)[0]?.options).toEqual({ operation: 'rotate-ca', ca: 'etcd' });
    expect(validateEnvelope('plan', json(runtime)).errors).toEqual([]);
    const bare = fakeRuntime({ env: STATE, plan });
    await runCommand(Plan, 'plan', ['rotate-ca', '--json'], bare);
    expect(bare.exitCode).toBe(2);
    expect(json(bare)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    expect(callsOf(bare)).toEqual([]);
    const stray = fakeRuntime({ env: STATE, plan });
    await runCommand(Plan, 'plan', ['renew-certs', '--ca', 'etcd', '--json'], stray);
    expect(stray.exitCode).toBe(2);
  });

  it('refuses a flag the operation does not take, and an unknown operation', async () => {
    const stray = fakeRuntime({ env: STATE });
    await runCommand(Plan, 'plan', ['down', '--zone', 'local-a'], stray);
    expect(stray.exitCode).toBe(2);
    expect(stray.stderr).toContain('--zone does not apply to down.');

    const unknown = fakeRuntime({ env: STATE });
    await runCommand(Plan, 'plan', ['grow', '--json'], unknown);
    expect(json(unknown)).toMatchObject({ status: 2, error: { code: 'INVALID_ARGUMENT' } });
  });
});

describe('rollout restart and upgrade', () => {
  it('rollout restart passes --max-surge as a number and prints each replacement', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(RolloutRestart, 'rollout:restart', ['--max-surge', '0'], runtime);
    expect(runtime.exitCode).toBe(0);
    expect(callsOf(runtime)[0]).toMatchObject({ method: 'rollout', options: { maxSurge: 0 } });
    expect(runtime.stdout).toContain('2 replicas replaced, one at a time');
    expect(runtime.stdout).toContain('kubernetes-master-b2c → kubernetes-master-e5f in local-b');
    const json = fakeRuntime({ env: STATE });
    await runCommand(RolloutRestart, 'rollout:restart', ['--json'], json);
    expect(callsOf(json)[0]?.options).not.toHaveProperty('maxSurge');
    expect(validateEnvelope('rollout restart', JSON.parse(json.stdout)).errors).toEqual([]);
  });

  it('refuses --max-surge 2 and an upgrade without a version, before any call', async () => {
    const surge = fakeRuntime({ env: STATE });
    await runCommand(RolloutRestart, 'rollout:restart', ['--max-surge', '2', '--json'], surge);
    expect(surge.exitCode).toBe(2);
    expect(callsOf(surge)).toEqual([]);
    const bare = fakeRuntime({ env: STATE });
    await runCommand(Upgrade, 'upgrade', ['--json'], bare);
    expect(bare.exitCode).toBe(2);
    expect(callsOf(bare)).toEqual([]);
  });

  it('upgrade passes the version; interrupted, it says to run it again', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Upgrade, 'upgrade', ['--kubernetes-version', '1.24', '--json'], runtime);
    expect(callsOf(runtime)[0]).toMatchObject({ method: 'upgrade', options: { kubernetesVersion: '1.24' } });
    expect(validateEnvelope('upgrade', JSON.parse(runtime.stdout)).errors).toEqual([]);

    const cut = fakeRuntime({ env: STATE, hangUntilAborted: true });
    const running = runCommand(Upgrade, 'upgrade', ['--kubernetes-version', '1.24', '--json'], cut);
    await untilCalled(cut);
    cut.interrupt('SIGINT');
    await running;
    expect(cut.exitCode).toBe(4);
    const actions = json(cut).error?.actions ?? [];
    expect(actions).toContain('Run `hacp upgrade --kubernetes-version 1.24` again to finish it.');
    // `hacp resume` would finish only the replace under way.
    expect(actions.join(' ')).not.toContain('hacp resume');
  });
});

describe('scale', () => {
  it('passes --replicas, --zones, --allow-even and --force to the SDK and prints a valid envelope', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(
      Scale,
      'scale',
      ['--replicas', '4', '--zones', 'local-a, local-b', '--allow-even', '--force', '--json'],
      runtime,
    );
    expect(runtime.exitCode).toBe(0);
    const { signal: _signal, ...options } = (callsOf(runtime)[0]?.options ?? {}) as Record<string, unknown>;
    expect(options).toEqual({ replicas: 4, zones: ['local-a', 'local-b'], allowEven: true, force: true });
    expect(validateEnvelope('scale', json(runtime)).errors).toEqual([]);
    const text = fakeRuntime({ env: STATE });
    await runCommand(Scale, 'scale', ['--replicas', '3'], text);
    expect(text.stdout).toContain('scale finished on cluster kubernetes: 1 → 3 replicas, 2 changes');
  });

  it('needs --replicas, a whole number, and zones without empty entries: exit 2, the SDK never called', async () => {
    for (const args of [[], ['--replicas', 'three'], ['--replicas', '3', '--zones', 'local-a,,local-b']]) {
      const runtime = fakeRuntime({ env: STATE });
      await runCommand(Scale, 'scale', [...args, '--json'], runtime);
      expect(runtime.exitCode, args.join(' ')).toBe(2);
      expect(json(runtime)).toMatchObject({ status: 2, error: { code: 'INVALID_ARGUMENT' } });
      expect(callsOf(runtime).filter((call) => call.method === 'scale')).toEqual([]);
    }
  });

  it('plan scale passes the same options to the SDK, and refuses them for another operation', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Plan, 'plan', ['scale', '--replicas', '5', '--json'], runtime);
    expect(callsOf(runtime)[0]?.options).toEqual({ operation: 'scale', replicas: 5 });
    const stray = fakeRuntime({ env: STATE });
    await runCommand(Plan, 'plan', ['repair', '--replicas', '5', '--json'], stray);
    expect(json(stray)).toMatchObject({ status: 2, error: { code: 'INVALID_ARGUMENT' } });
  });
});

describe('watch', () => {
  const event = {
    type: 'watch',
    time: '2026-12-08T01:00:00.000Z',
    action: 'waiting',
    code: 'ZONE_DOWN',
    message: 'Zone local-c looks failed.',
  } as const;

  it('prints each watch event as a JSON line, and its envelope when stopped: exit 0', async () => {
    const runtime = fakeRuntime({ env: STATE, events: [event] });
    const running = runCommand(
      Watch,
      'watch',
      ['--unhealthy-after', '2m', '--max-retries', '1', '--json'],
      runtime,
    );
    await untilCalled(runtime);
    runtime.interrupt('SIGTERM');
    await running;
    expect(runtime.exitCode).toBe(0);
    const { signal: _signal, ...options } = (callsOf(runtime)[0]?.options ?? {}) as Record<string, unknown>;
    expect(options).toMatchObject({ limits: { unhealthyAfterMs: 120_000, maxRetries: 1 } });
    const lines = runtime.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines[0]).toEqual(event);
    expect(validateEnvelope('watch', lines[1]).errors).toEqual([]);
    expect(lines[1]).toMatchObject({ result: { cluster: 'kubernetes', events: 1 } });
  });

  it('prints one line per event without --json, and refuses a bad duration before watching', async () => {
    const runtime = fakeRuntime({ env: STATE, events: [event] });
    const running = runCommand(Watch, 'watch', [], runtime);
    await untilCalled(runtime);
    runtime.interrupt('SIGINT');
    await running;
    expect(runtime.stdout).toContain(
      '2026-12-08T01:00:00.000Z waiting (ZONE_DOWN): Zone local-c looks failed.',
    );
    const bad = fakeRuntime({ env: STATE });
    await runCommand(Watch, 'watch', ['--interval', 'soon', '--json'], bad);
    expect(bad.exitCode).toBe(2);
    expect(callsOf(bad)).toEqual([]);
  });
});

describe('the other commands', () => {
  it('replace needs --replica', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(Replace, 'replace', [], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(runtime.stderr).toContain('replace needs --replica.');
  });

  it('zone fail stops the zone through the local provider', async () => {
    const provider = fakeProvider();
    const runtime = fakeRuntime({ env: STATE, provider });
    await runCommand(ZoneFail, 'zone:fail', ['local-b', '--json'], runtime);
    expect(provider.failedZones).toEqual(['local-b']);
    expect(json(runtime)).toEqual({
      status: 0,
      result: { zone: 'local-b', replicas: ['kubernetes-master-1f3'] },
      warnings: [],
    });
    expect(validateEnvelope('zone fail', json(runtime)).errors).toEqual([]);
  });

  it('zone fail refuses a zone the provider does not offer, and a --cluster that does not exist, stopping nothing', async () => {
    const provider = fakeProvider();
    const typo = fakeRuntime({ env: STATE, provider });
    await runCommand(ZoneFail, 'zone:fail', ['locl-b', '--json'], typo);
    expect(typo.exitCode).toBe(2);
    expect(json(typo)).toMatchObject({ error: { code: 'ZONE_INVALID' } });
    expect(json(typo).error?.message).toContain('it offers local-a, local-b, local-c');
    const missing = new HacpError({
      code: 'NOT_FOUND',
      message: 'Cluster nope does not exist.',
      actions: [],
    });
    const nope = fakeRuntime({ env: STATE, provider, error: missing });
    await runCommand(ZoneFail, 'zone:fail', ['local-b', '--cluster', 'nope', '--json'], nope);
    expect(json(nope)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect(provider.failedZones).toEqual([]);
  });

  it('zone fail refuses a provider without zones to fail', async () => {
    const runtime = fakeRuntime({ env: STATE, provider: { ...fakeProvider('gce') } });
    await runCommand(ZoneFail, 'zone:fail', ['local-b'], runtime);
    expect(runtime.exitCode).toBe(2);
    expect(runtime.stderr).toContain('works only with the local provider');
  });

  it('certs check passes the window and warns about expiring certificates', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(CertsCheck, 'certs:check', ['--warn-within-days', '90', '--json'], runtime);
    expect(callsOf(runtime)[0]?.options).toEqual({ warnWithinDays: 90 });
    const envelope = json(runtime);
    expect(validateEnvelope('certs check', envelope).errors).toEqual([]);
    expect(envelope.warnings).toEqual([
      {
        code: 'CERTIFICATE_EXPIRING',
        message:
          'Certificate etcd-peer:kubernetes-master expires in 17 days (2026-12-10T23:00:00.000Z); run `hacp certs renew`, which reissues it and rolls it onto the replicas.',
      },
    ]);
  });

  it("certs check reports what each replica serves, and warns where it is not the operator's copy", async () => {
    const runtime = fakeRuntime({ env: STATE, served: sampleServed() });
    await runCommand(CertsCheck, 'certs:check', ['--json'], runtime);
    const envelope = json(runtime);
    expect(validateEnvelope('certs check', envelope).errors).toEqual([]);
    expect((envelope.result as { served: unknown[] }).served).toHaveLength(3);
    expect(envelope.warnings).toContainEqual({
      code: 'CERTIFICATE_NOT_ROLLED',
      message:
        "kubernetes-master serves a certificate with serial 77AA on its etcd-client port, not the operator's copy of kubernetes-master/etcd-server (serial 88BB); run `hacp certs renew` to roll the copy onto the replicas.",
    });
    // A port that could not be read is shown, not warned about: status says why the replica is down.
    expect(
      (envelope.warnings as { code: string }[]).filter((w) => w.code === 'CERTIFICATE_NOT_ROLLED'),
    ).toHaveLength(1);

    const text = fakeRuntime({ env: STATE, served: sampleServed() });
    await runCommand(CertsCheck, 'certs:check', [], text);
    expect(text.stdout).toContain('MISMATCH (copy 88BB)');
  });

  it('certs check names a command that helps when a CA expires', async () => {
    const certificates = sampleCertificates().map((certificate) =>
      certificate.isCa ? { ...certificate, daysLeft: 20, status: 'expiring' as const } : certificate,
    );
    const runtime = fakeRuntime({ env: STATE, certificates });
    await runCommand(CertsCheck, 'certs:check', ['--json'], runtime);
    const warnings = json(runtime).warnings as { code: string; message: string }[];
    expect(warnings[0]).toMatchObject({ code: 'CERTIFICATE_EXPIRING' });
    expect(warnings[0]?.message).toContain('CA certificate cluster-ca expires in 20 days');
    expect(warnings[0]?.message).toContain('`hacp up --cluster <name>`');
  });

  it('certs renew returns the operation with the renewed certificates, as text and JSON', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(CertsRenew, 'certs:renew', ['--json'], runtime);
    const envelope = json(runtime);
    expect(validateEnvelope('certs renew', envelope).errors).toEqual([]);
    expect(envelope.result).toMatchObject({
      operation: 'renew-certs',
      renewed: ['etcd-peer:kubernetes-master'],
    });
    const text = fakeRuntime({ env: STATE });
    await runCommand(CertsRenew, 'certs:renew', [], text);
    expect(text.stdout).toContain('renew-certs finished on cluster');
    expect(text.stdout).toContain('Renewed 1 certificate from the same CAs');
  });

  it('certs rotate-ca --ca etcd returns the operation with the new CA, as text and JSON; other CAs are refused by the SDK', async () => {
    const runtime = fakeRuntime({ env: STATE });
    await runCommand(CertsRotateCa, 'certs:rotate-ca', ['--ca', 'etcd', '--json'], runtime);
    const envelope = json(runtime);
    expect(validateEnvelope('certs rotate-ca', envelope).errors).toEqual([]);
    expect(callsOf(runtime)[0]?.options).toMatchObject({ ca: 'etcd' });
    expect(envelope.result).toMatchObject({
      operation: 'rotate-ca',
      ca: 'etcd',
      newCa: { serial: '5A1F0C' },
    });
    const text = fakeRuntime({ env: STATE });
    await runCommand(CertsRotateCa, 'certs:rotate-ca', ['--ca', 'etcd'], text);
    expect(text.stdout).toContain('The etcd CA is now etcd-ca-1796680800');
    expect(text.stdout).toContain('Reissued 2 certificates from it');
    const unknown = fakeRuntime({ env: STATE });
    await runCommand(CertsRotateCa, 'certs:rotate-ca', ['--ca', 'kubelet', '--json'], unknown);
    expect(unknown.exitCode).toBe(2);
    expect(callsOf(unknown)).toEqual([]);
  });

  it("leases reads through the cluster's own credentials, ignoring KUBECONFIG; --kubeconfig overrides", async () => {
    const own = fakeRuntime({ env: { ...STATE, KUBECONFIG: '/home/o/.kube/config' } });
    await runCommand(Leases, 'leases', [], own);
    expect(own.exitCode).toBe(0);
    expect(own.controlPlanes[0]?.settings).not.toHaveProperty('kubeconfig');
    expect(own.stdout).toContain('Identity leases:');

    const flagged = fakeRuntime({ env: { ...STATE, KUBECONFIG: '/ignored' } });
    await runCommand(Leases, 'leases', ['--kubeconfig', '/tmp/kc', '--json'], flagged);
    expect(flagged.controlPlanes[0]?.settings.kubeconfig).toBe('/tmp/kc');
    expect(validateEnvelope('leases', json(flagged)).errors).toEqual([]);
  });
});
