/**
 * For tests: sample SDK results (typed, so they follow the SDK's types), a fake runtime and a fake
 * control plane, and a way to run a command in-process against them. Not part of the CLI.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Secret } from '@hacp/core';
import type {
  AddonFile,
  AddonsApplyResult,
  Backup,
  BackupListResult,
  CertificateStatus,
  ClusterStatus,
  ControlPlane,
  ControlPlaneEvent,
  ControlPlaneSettings,
  KubeconfigResult,
  OperationResult,
  Plan,
  RolloutResult,
  ServedCertificate,
} from '@hacp/sdk';
import { Config } from '@oclif/core';
import type { Environment } from './env.js';
import { HacpError } from './errors.js';
import type { Provider } from './providers.js';
import type { LeasesResult } from './render.js';
import type { CliRuntime } from './runtime.js';

export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

export function sampleStatus(overrides: Partial<ClusterStatus> = {}): ClusterStatus {
  return {
    cluster: 'kubernetes',
    provider: 'local',
    region: 'local',
    multizone: true,
    quorumReads: false,
    replicas: [
      { name: 'kubernetes-master', zone: 'local-a', internalIp: '127.1.2.3', state: 'healthy' },
      { name: 'kubernetes-master-1f3', zone: 'local-b', internalIp: '127.4.5.6', state: 'healthy' },
    ],
    etcd: {
      members: [
        { id: '1001', name: 'kubernetes-master', learner: false, healthy: true, leader: true, raftIndex: 42 },
        {
          id: '1002',
          name: 'kubernetes-master-1f3',
          learner: false,
          healthy: true,
          leader: false,
          dbSize: 20480,
        },
      ],
    },
    endpoint: {
      address: '127.9.9.9',
      mode: 'load-balanced',
      targets: [
        { replica: 'kubernetes-master', healthy: true },
        { replica: 'kubernetes-master-1f3', healthy: true },
      ],
    },
    faultTolerance: {
      voters: 2,
      quorum: 2,
      tolerates: 0,
      healthy: 2,
      canStillLose: 0,
      zoneLoss: 'losing zone local-a or local-b loses quorum',
    },
    warnings: [{ code: 'TWO_REPLICAS', message: 'Two replicas are less available than one; add a third.' }],
    ...overrides,
  };
}

export function sampleOperationResult(overrides: Partial<OperationResult> = {}): OperationResult {
  return {
    operation: 'replicate',
    operationId: 'op-20261123230000-a1b2c3',
    cluster: 'kubernetes',
    resumed: false,
    steps: [
      { id: 'preflight', title: 'Check that every member is started and healthy', status: 'done' },
      { id: 'snapshot', title: 'Take an etcd snapshot', status: 'skipped' },
      {
        id: 'add-learner:kubernetes-master-1f3',
        title: 'Add kubernetes-master-1f3 as a learner',
        status: 'done',
      },
    ],
    warnings: [{ code: 'TWO_REPLICAS', message: 'Two replicas are less available than one; add a third.' }],
    replicas: [
      { name: 'kubernetes-master-1f3', zone: 'local-b' },
      { name: 'kubernetes-master', zone: 'local-a' },
    ],
    ...overrides,
  };
}

export function samplePlan(overrides: Partial<Plan> = {}): Plan {
  return {
    operation: 'replicate',
    cluster: 'kubernetes',
    steps: [
      {
        id: 'preflight',
        title: 'Check that every member is started and healthy',
        action: { kind: 'preflight', checks: ['members-started', 'no-learner'] },
        preconditions: [],
      },
      {
        id: 'add-learner:kubernetes-master-1f3',
        title: 'Add kubernetes-master-1f3 to etcd as a learner',
        action: { kind: 'add-learner', replica: 'kubernetes-master-1f3' },
        preconditions: ['no learner present'],
      },
      {
        id: 'create-instance:kubernetes-master-1f3',
        title: 'Create kubernetes-master-1f3 in local-b',
        action: {
          kind: 'create-instance',
          replica: 'kubernetes-master-1f3',
          zone: 'local-b',
          etcdState: 'existing',
        },
        preconditions: [],
      },
      {
        id: 'endpoint:create-load-balancer',
        title: 'Create the load balancer with kubernetes-master as target',
        action: {
          kind: 'endpoint',
          step: {
            action: 'create-load-balancer',
            targets: ['kubernetes-master'],
            healthCheck: { protocol: 'https', port: 2379, path: '/health' },
          },
        },
        preconditions: [],
      },
    ],
    onFailure: [
      {
        id: 'remove-member:kubernetes-master-1f3',
        title: "Remove kubernetes-master-1f3's member if it was added",
        action: { kind: 'remove-member', replica: 'kubernetes-master-1f3' },
        preconditions: [],
      },
    ],
    warnings: [{ code: 'TWO_REPLICAS', message: 'Two replicas are less available than one; add a third.' }],
    expected: {
      replicas: [
        { name: 'kubernetes-master', zone: 'local-a' },
        { name: 'kubernetes-master-1f3', zone: 'local-b' },
      ],
      endpoint: { mode: 'load-balanced', targets: ['kubernetes-master', 'kubernetes-master-1f3'] },
    },
    ...overrides,
  };
}

export function sampleCertificates(): CertificateStatus[] {
  return [
    {
      name: 'cluster-ca',
      commonName: 'kubernetes',
      isCa: true,
      notAfter: '2036-11-21T23:00:00.000Z',
      daysLeft: 3650,
      status: 'ok',
      serial: '1A2B3C',
    },
    {
      name: 'etcd-peer:kubernetes-master',
      commonName: 'kubernetes-master',
      isCa: false,
      notAfter: '2026-12-10T23:00:00.000Z',
      daysLeft: 17,
      status: 'expiring',
      serial: '4D5E6F',
    },
  ];
}

export function sampleServed(): ServedCertificate[] {
  const base = { replica: 'kubernetes-master', zone: 'local-a' };
  return [
    {
      ...base,
      port: 'etcd-client',
      certificate: 'kubernetes-master/etcd-server',
      serial: '77AA',
      notAfter: '2026-12-10T23:00:00.000Z',
      operatorSerial: '88BB',
      matches: false,
    },
    {
      ...base,
      port: 'etcd-peer',
      certificate: 'kubernetes-master/etcd-peer',
      serial: '4D5E6F',
      notAfter: '2026-12-10T23:00:00.000Z',
      operatorSerial: '4D5E6F',
      matches: true,
    },
    {
      ...base,
      port: 'apiserver',
      certificate: 'kubernetes-master/apiserver',
      operatorSerial: '9C9C',
      matches: false,
      error: 'instance stopped',
    },
  ];
}

export function sampleLeases(): LeasesResult {
  return {
    identities: [
      {
        name: 'apiserver-abcdefghijklmnopqrstuvwxyz',
        replica: 'kubernetes-master',
        stale: false,
        renewTime: '2026-11-23T23:00:00.000000Z',
      },
      { name: 'kube-apiserver-0d9c', stale: true },
    ],
    leaders: [
      { lease: 'kube-controller-manager', holder: 'kubernetes-master_0d9c' },
      { lease: 'kube-scheduler' },
    ],
  };
}

/** A Kubernetes cluster's status: components on every replica, the version and the leaders. */
export function sampleKubernetesStatus(overrides: Partial<ClusterStatus> = {}): ClusterStatus {
  const base = sampleStatus();
  return {
    ...base,
    replicas: [
      {
        ...(base.replicas[0] as ClusterStatus['replicas'][number]),
        kubernetes: { apiserver: 'ok', controllerManager: 'ok', scheduler: 'ok' },
      },
      {
        ...(base.replicas[1] as ClusterStatus['replicas'][number]),
        kubernetes: { apiserver: 'ok', controllerManager: 'failing', scheduler: 'unreachable' },
      },
    ],
    kubernetes: {
      version: 'v1.23.16',
      controllerManagerLeader: 'kubernetes-master',
      schedulerLeader: 'kubernetes-master-1f3',
    },
    ...overrides,
  };
}

/** The base64 of a PEM private key's first line, as a kubeconfig's client-key-data begins. */
export const SAMPLE_KEY_DATA = Buffer.from('-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFakeKey\n').toString(
  'base64',
);

/** An admin kubeconfig's text, with a (fake) private key in it. */
export function sampleKubeconfigText(server = 'https://127.9.9.9:6443'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: kubernetes',
    '  cluster:',
    `    server: ${server}`,
    'users:',
    '- name: kubernetes-admin',
    '  user:',
    `    client-key-data: ${SAMPLE_KEY_DATA}`,
    'current-context: kubernetes',
    '',
  ].join('\n');
}

export function sampleAddonFiles(): AddonFile[] {
  return [
    {
      file: 'dns.yaml',
      objects: [
        { kind: 'Deployment', name: 'coredns', namespace: 'kube-system', mode: 'Reconcile' },
        { kind: 'Service', name: 'kube-dns', namespace: 'kube-system', mode: 'Reconcile' },
      ],
    },
    {
      file: 'quota.yaml',
      objects: [{ kind: 'ResourceQuota', name: 'default-quota', namespace: 'default', mode: 'EnsureExists' }],
    },
  ];
}

/** A backup of the catalogue, as the SDK lists it (verified). */
export function sampleBackup(overrides: Partial<Backup> = {}): Backup {
  const id = overrides.id ?? 'op-20261123230000-a1b2c3-snapshot';
  return {
    id,
    path: `/srv/hacp/clusters/kubernetes/backups/${id}.db`,
    identity: 'current',
    cluster: 'kubernetes',
    clusterUid: '0b7e1c1e-4f4e-4a8a-9a57-2f4f1a0e9d11',
    etcdClusterId: '14841639068965178418',
    memberId: '10276657743932975437',
    memberName: 'kubernetes-master',
    revision: '1042',
    createdAt: '2026-11-23T23:00:01.000Z',
    sizeBytes: 2_125_856,
    sha256: 'a'.repeat(64),
    operation: 'replicate',
    operationId: 'op-20261123230000-a1b2c3',
    step: 'snapshot',
    verified: true,
    ...overrides,
  };
}

/** `backup list`'s result: the current cluster's two backups, one of them damaged, one hidden. */
export function sampleBackupList(overrides: Partial<BackupListResult> = {}): BackupListResult {
  return {
    cluster: 'kubernetes',
    clusterUid: '0b7e1c1e-4f4e-4a8a-9a57-2f4f1a0e9d11',
    directory: '/srv/hacp/clusters/kubernetes/backups',
    backups: [
      sampleBackup({
        id: 'backup-20261124080000-0f0f0f',
        createdAt: '2026-11-24T08:00:00.000Z',
        operation: 'backup create',
        step: undefined,
        operationId: undefined,
      }),
      sampleBackup({ verified: false, problem: 'its sha256 trailer does not match its contents' }),
    ].map((backup) => JSON.parse(JSON.stringify(backup)) as Backup),
    hidden: 1,
    ...overrides,
  };
}

/** A release location on disk, laid out as https://dl.k8s.io/release is, and a cache beside it. */
export interface FakeRelease {
  /** The temporary folder holding both; `remove()` deletes it. */
  dir: string;
  /** `file://<dir>/release`: HACP_KUBE_RELEASE_URL. */
  releaseUrl: string;
  /** `<dir>/cache`: XDG_CACHE_HOME. */
  cacheHome: string;
  remove(): Promise<void>;
}

/** What `uname -m` calls this machine, as the release names it. */
const RELEASE_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/**
 * A small release location: for each version, the three per-binary files (shell scripts that print
 * `Kubernetes <version>` for `--version`, padded to `paddingBytes` so that a download reports its
 * progress several times) with their `.sha256`, and the marker files given (`{ 'stable-1.23':
 * 'v1.23.16' }`).
 */
export async function makeFakeRelease(options: {
  versions: string[];
  markers?: Record<string, string>;
  paddingBytes?: number;
}): Promise<FakeRelease> {
  const dir = await mkdtemp(join(tmpdir(), 'hacp-cli-release-'));
  const release = join(dir, 'release');
  const arch = RELEASE_ARCH[process.arch] ?? process.arch;
  for (const version of options.versions) {
    const bin = join(release, version, 'bin', 'linux', arch);
    await mkdir(bin, { recursive: true });
    for (const binary of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      const padding = randomBytes(Math.ceil((options.paddingBytes ?? 0) * 0.75)).toString('base64');
      const text = `#!/bin/sh\n[ "$1" = "--version" ] && echo "Kubernetes ${version}"\nexit 0\n# ${padding}\n`;
      await writeFile(join(bin, binary), text);
      await chmod(join(bin, binary), 0o755);
      const digest = createHash('sha256').update(text).digest('hex');
      await writeFile(join(bin, `${binary}.sha256`), `${digest}  ${binary}\n`);
    }
  }
  for (const [marker, version] of Object.entries(options.markers ?? {})) {
    await writeFile(join(release, `${marker}.txt`), `${version}\n`);
  }
  const cacheHome = join(dir, 'cache');
  await mkdir(cacheHome);
  return {
    dir,
    releaseUrl: pathToFileURL(release).href,
    cacheHome,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A fake provider with the local provider's zone calls. */
export interface FakeProvider {
  name: string;
  failedZones: string[];
  zones: { list(): Promise<{ name: string; region: string }[]> };
  failZone(zone: string): Promise<string[]>;
  restoreZone(zone: string): Promise<string[]>;
}

export function fakeProvider(name = 'local'): FakeProvider {
  const provider: FakeProvider = {
    name,
    failedZones: [],
    zones: {
      list: async () => ['local-a', 'local-b', 'local-c'].map((zone) => ({ name: zone, region: 'local' })),
    },
    failZone: async (zone) => {
      provider.failedZones.push(zone);
      return ['kubernetes-master-1f3'];
    },
    restoreZone: async (zone) => {
      provider.failedZones = provider.failedZones.filter((failed) => failed !== zone);
      return ['kubernetes-master-1f3'];
    },
  };
  return provider;
}

/** One call the fake control plane received. */
export interface ControlPlaneCall {
  method: string;
  options: unknown;
}

export interface FakeControlPlaneBehaviour {
  /** Emitted, in order, through `onEvent` before each call resolves. */
  events?: ControlPlaneEvent[];
  /** Thrown by every call. */
  error?: unknown;
  /** Every call waits until its signal is aborted and then throws the SDK's ABORTED error. */
  hangUntilAborted?: boolean;
  status?: ClusterStatus;
  result?: OperationResult;
  plan?: Plan;
  certificates?: CertificateStatus[];
  served?: ServedCertificate[];
  leases?: LeasesResult;
  addons?: AddonFile[];
  backups?: BackupListResult;
}

/** What a rollout of two replicas returns. */
export function sampleRollout(operation: RolloutResult['operation']): RolloutResult {
  return {
    operation,
    cluster: 'kubernetes',
    kubernetesVersion: 'v1.23.16',
    replaced: [
      { old: 'kubernetes-master-b2c', new: 'kubernetes-master-e5f', zone: 'local-b' },
      { old: 'kubernetes-master', new: 'kubernetes-master-f6a', zone: 'local-a' },
    ],
  };
}

export interface FakeControlPlane extends ControlPlane {
  calls: ControlPlaneCall[];
  closed: boolean;
}

/** A ControlPlane whose calls are recorded and answered from `behaviour`. */
export function fakeControlPlane(
  settings: ControlPlaneSettings,
  behaviour: FakeControlPlaneBehaviour = {},
): FakeControlPlane {
  const calls: ControlPlaneCall[] = [];
  const answer = async <T>(method: string, options: unknown, value: T): Promise<T> => {
    calls.push({ method, options });
    for (const event of behaviour.events ?? []) settings.onEvent?.(event);
    if (behaviour.hangUntilAborted) {
      const signal = (options as { signal?: AbortSignal } | undefined)?.signal;
      await new Promise<void>((resolve) => {
        if (signal?.aborted) resolve();
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      throw new HacpError({
        code: 'ABORTED',
        message: `${method} was interrupted after 3 of 12 steps; it is recorded and can be continued.`,
        actions: ['Run `hacp resume` (or the same command again) to continue.'],
        cause: signal?.reason,
      });
    }
    if (behaviour.error !== undefined) throw behaviour.error;
    return value;
  };
  const result = (operation: OperationResult['operation']) =>
    behaviour.result ?? sampleOperationResult({ operation });
  const controlPlane: FakeControlPlane = {
    cluster: settings.cluster ?? 'kubernetes',
    provider: settings.provider,
    calls,
    closed: false,
    up: (options) => answer('up', options, result('up')),
    replicate: (options) => answer('replicate', options, result('replicate')),
    remove: (options) => answer('remove', options, result('remove')),
    replace: (options) => answer('replace', options, result('replace')),
    repair: (options) => answer('repair', options, result('repair')),
    scale: (options) =>
      answer('scale', options, {
        operation: 'scale' as const,
        cluster: settings.cluster ?? 'kubernetes',
        from: 1,
        to: options.replicas,
        changes: [result('replicate'), result('replicate')],
        replicas: [
          { name: 'kubernetes-master', zone: 'local-a' },
          { name: 'kubernetes-master-1a2', zone: 'local-b' },
          { name: 'kubernetes-master-3b4', zone: 'local-c' },
        ],
        warnings: [],
      }),
    recover: (options) => answer('recover', options, result('recover')),
    rollout: (options) => answer('rollout', options, sampleRollout('rollout-restart')),
    // Says what the watch would, then ends with the signal, as the real one does.
    watch: async (options) => {
      calls.push({ method: 'watch', options });
      for (const event of behaviour.events ?? []) settings.onEvent?.(event);
      if (!options.signal.aborted)
        await new Promise<void>((resolve) =>
          options.signal.addEventListener('abort', () => resolve(), { once: true }),
        );
    },
    upgrade: (options) => answer('upgrade', options, sampleRollout('upgrade')),
    down: (options) => answer('down', options, result('down')),
    resume: (options) => answer('resume', options, result('up')),
    status: (options) => answer('status', options, behaviour.status ?? sampleStatus()),
    plan: (request) => answer('plan', request, behaviour.plan ?? samplePlan()),
    certs: {
      check: (options) => answer('certs.check', options, behaviour.certificates ?? sampleCertificates()),
      served: (options) => answer('certs.served', options, behaviour.served ?? []),
      renew: (options) =>
        answer('certs.renew', options, {
          ...(behaviour.result ?? sampleOperationResult({ operation: 'renew-certs' })),
          renewed: ['etcd-peer:kubernetes-master'],
        }),
      rotateCa: (options) =>
        answer('certs.rotateCa', options, {
          ...(behaviour.result ?? sampleOperationResult({ operation: 'rotate-ca' })),
          ca: 'etcd' as const,
          newCa: { commonName: 'etcd-ca-1796680800', serial: '5A1F0C', notAfter: '2036-12-05T22:00:00.000Z' },
          reissued: ['etcd-client', 'kubernetes-master/etcd-peer'],
        }),
    },
    leases: (options) => answer('leases', options, behaviour.leases ?? sampleLeases()),
    // Writes nothing: where the real one writes is the SDK's concern; the call says where it was asked to.
    kubeconfig: (options = {}) => {
      const written: KubeconfigResult = {
        server: 'https://127.9.9.9:6443',
        context: settings.cluster ?? 'kubernetes',
        contents: new Secret(sampleKubeconfigText()),
        ...(options.path === undefined ? {} : { path: resolve(options.path) }),
      };
      return answer('kubeconfig', options, written);
    },
    addons: {
      list: (options) => answer('addons.list', options, behaviour.addons ?? sampleAddonFiles()),
      apply: (options) => {
        const applied: AddonsApplyResult = {
          files: options.files.map((file) => ({
            file: file.name,
            objects: [{ kind: 'ConfigMap', name: file.name.replace(/\.\w+$/, ''), mode: 'Reconcile' }],
          })),
          replicas: ['kubernetes-master', 'kubernetes-master-1f3'],
          warnings: [],
        };
        return answer('addons.apply', options, applied);
      },
    },
    backups: {
      create: (options) =>
        answer('backups.create', options, {
          backup: sampleBackup({ operation: 'backup create' }),
          pruned: [],
        }),
      list: (options) => answer('backups.list', options, behaviour.backups ?? sampleBackupList()),
      prune: (options) => {
        const [kept, ...deleted] = (behaviour.backups ?? sampleBackupList()).backups;
        const retention = { ...(options?.keepLast === undefined ? {} : { keepLast: options.keepLast }) };
        const dryRun = options?.dryRun === true;
        return answer('backups.prune', options, { dryRun, retention, kept: kept ? [kept] : [], deleted });
      },
    },
    close: async () => {
      controlPlane.closed = true;
    },
  };
  return controlPlane;
}

export interface FakeRuntimeOptions extends FakeControlPlaneBehaviour {
  env?: Environment;
  stderrIsTTY?: boolean;
  interactive?: boolean;
  /** The answer to a confirmation question. */
  confirm?: boolean;
  provider?: FakeProvider;
}

export interface FakeRuntime extends CliRuntime {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  /** Set by `exitNow`. */
  exitedWith: number | undefined;
  questions: string[];
  providersCreated: { name: string; stateDir: string }[];
  controlPlanes: { settings: ControlPlaneSettings; controlPlane: FakeControlPlane }[];
  /** Delivers SIGINT (or another signal) to the command. */
  interrupt(signal?: NodeJS.Signals): void;
}

export function fakeRuntime(options: FakeRuntimeOptions = {}): FakeRuntime {
  const handlers = new Set<(signal: NodeJS.Signals) => void>();
  const runtime: FakeRuntime = {
    env: options.env ?? {},
    home: '/home/operator',
    cwd: '/home/operator',
    stdout: '',
    stderr: '',
    exitCode: undefined,
    exitedWith: undefined,
    questions: [],
    providersCreated: [],
    controlPlanes: [],
    writeStdout: (text) => {
      runtime.stdout += text;
    },
    writeStderr: (text) => {
      runtime.stderr += text;
    },
    stderrIsTTY: options.stderrIsTTY ?? false,
    interactive: options.interactive ?? false,
    confirm: async (question) => {
      runtime.questions.push(question);
      return options.confirm ?? false;
    },
    onInterrupt: (handler) => {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    setExitCode: (code) => {
      runtime.exitCode = code;
    },
    exitNow: (code) => {
      runtime.exitedWith = code;
    },
    createProvider: (name, context) => {
      runtime.providersCreated.push({ name, stateDir: context.stateDir });
      return (options.provider ?? fakeProvider(name)) as unknown as Provider;
    },
    createControlPlane: async (settings) => {
      const controlPlane = fakeControlPlane(settings, options);
      runtime.controlPlanes.push({ settings, controlPlane });
      return controlPlane;
    },
    interrupt: (signal = 'SIGINT') => {
      for (const handler of handlers) handler(signal);
    },
  };
  return runtime;
}

/** A command class as oclif loads it. */
interface CommandClass {
  // biome-ignore lint/suspicious/noExplicitAny: TypeScript's mixin constructor signature
  new (...args: any[]): { runtime(): CliRuntime };
  id: string;
  run(argv?: string[], config?: Config): Promise<unknown>;
}

let config: Config | undefined;

/**
 * Runs a command in-process, as `hacp <id> <argv...>` would, against a fake runtime.
 *
 * @example
 * const runtime = fakeRuntime();
 * await runCommand(Status, 'status', ['--json'], runtime);
 * expect(JSON.parse(runtime.stdout).result.cluster).toBe('kubernetes');
 */
export async function runCommand(
  command: CommandClass,
  id: string,
  argv: string[],
  runtime: CliRuntime,
): Promise<unknown> {
  config ??= await Config.load(PACKAGE_ROOT);
  const InProcess = class extends command {
    override runtime(): CliRuntime {
      return runtime;
    }
  };
  InProcess.id = id;
  return InProcess.run(argv, config);
}
