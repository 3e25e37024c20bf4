/**
 * Text output, as pure functions of the SDK's results: what `hacp <command>` prints on stdout
 * without `--json`. Warnings are not part of these texts; the base command prints them (to stderr)
 * with {@link renderWarnings}.
 */
import type {
  CertificateStatus,
  ClusterStatus,
  ComponentHealth,
  ControlPlaneEvent,
  KubernetesComponentsStatus,
  OperationResult,
  Plan,
  RenewResult,
  RolloutResult,
  RotateCaResult,
  ServedCertificate,
  StepStatus,
} from '@hacp/sdk';
import type { CliWarning } from './envelope.js';
import type { ProviderListing } from './providers.js';

/** `zone fail` and `zone restore`'s result: the zone and the replicas whose processes it stopped or started. */
export interface ZoneChangeResult {
  zone: string;
  replicas: string[];
}

/** `certs check`'s result: the operator's copies, and what each replica serves (read over TLS). */
export interface CertificatesResult {
  certificates: CertificateStatus[];
  served: ServedCertificate[];
}

export type { RenewResult, RotateCaResult };

/** `leases`' result. */
export type LeasesResult = NonNullable<ClusterStatus['leases']>;

/** "1 voter", "3 voters". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Rows of cells as aligned columns, two spaces apart, without trailing spaces. */
export function columns(rows: readonly (readonly string[])[], widths?: readonly number[]): string[] {
  const measured =
    widths ??
    rows.reduce<number[]>((max, row) => row.map((cell, i) => Math.max(max[i] ?? 0, cell.length)), []);
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(measured[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

interface Branch {
  label: string;
  children: string[];
}

/** `├─`/`└─` branches with `│` guides, as `clusterctl describe cluster` draws them. */
function tree(branches: readonly Branch[]): string[] {
  const lines: string[] = [];
  branches.forEach((branch, i) => {
    const last = i === branches.length - 1;
    lines.push(`${last ? '└─' : '├─'} ${branch.label}`);
    branch.children.forEach((child, j) => {
      const lastChild = j === branch.children.length - 1;
      lines.push(`${last ? '   ' : '│  '}${lastChild ? '└─' : '├─'} ${child}`);
    });
  });
  return lines;
}

type MemberStatus = ClusterStatus['etcd']['members'][number];

function etcdRole(member: MemberStatus | undefined): string {
  if (member === undefined) return 'no etcd member';
  const role = member.learner ? 'etcd learner' : 'etcd voter';
  return member.leader ? `${role}, leader` : role;
}

const COMPONENTS: readonly [keyof KubernetesComponentsStatus, string][] = [
  ['apiserver', 'apiserver'],
  ['controllerManager', 'controller-manager'],
  ['scheduler', 'scheduler'],
];

/** `kubernetes ok` when every component answers, else each component with its health. */
function componentsText(components: KubernetesComponentsStatus | undefined): string {
  if (components === undefined) return '';
  const health = COMPONENTS.map(([key]) => components[key]);
  if (health.every((state: ComponentHealth) => state === 'ok')) return 'kubernetes ok';
  return COMPONENTS.map(([key, label]) => `${label} ${components[key]}`).join(', ');
}

/** The Kubernetes version and which replica holds each singleton's lease. */
function kubernetesBranch(kubernetes: NonNullable<ClusterStatus['kubernetes']>): Branch {
  const leader = (replica: string | undefined) =>
    replica === undefined ? 'no leader known' : `leader ${replica}`;
  return {
    label: `Kubernetes ${kubernetes.version}`,
    children: columns([
      ['kube-controller-manager', leader(kubernetes.controllerManagerLeader)],
      ['kube-scheduler', leader(kubernetes.schedulerLeader)],
    ]),
  };
}

function endpointLabel(status: ClusterStatus): string {
  const { endpoint } = status;
  const address = endpoint.address === '' ? '(no address)' : endpoint.address;
  switch (endpoint.mode) {
    case 'attached':
      return `Endpoint ${address}  attached to ${endpoint.attachedTo ?? 'a replica'}`;
    case 'load-balanced':
      return `Endpoint ${address}  load-balanced`;
    default:
      // Only an operation in flight moves the address; otherwise something outside hacp took it.
      return status.operation !== undefined
        ? `Endpoint ${address}  detached (an operation is moving it)`
        : `Endpoint ${address}  detached: nothing holds it (run \`hacp repair\`)`;
  }
}

/**
 * The topology as a tree, then the fault tolerance and any interrupted operation. Replicas of a
 * Kubernetes cluster show their components (`kubernetes ok`, else each component's health), and a
 * branch says the version and which replica leads the controller-manager and the scheduler:
 *
 * ```
 * Cluster kubernetes  (provider local, region local, multizone)
 * ├─ Zone local-a
 * │  └─ kubernetes-master      127.1.2.3  healthy  etcd voter, leader  kubernetes ok
 * ├─ Zone local-b
 * │  └─ kubernetes-master-1f3  127.4.5.6  healthy  etcd voter          apiserver ok, controller-manager ok, scheduler failing
 * ├─ Kubernetes v1.23.16
 * │  ├─ kube-controller-manager  leader kubernetes-master
 * │  └─ kube-scheduler           leader kubernetes-master
 * └─ Endpoint 127.9.9.9  load-balanced
 *    ├─ kubernetes-master      healthy
 *    └─ kubernetes-master-1f3  healthy
 * Fault tolerance: 2 voters, quorum 2, tolerates 0 failures; losing zone local-a or local-b loses quorum
 * ```
 */
export function renderStatus(status: ClusterStatus): string {
  const traits = [
    `provider ${status.provider}`,
    `region ${status.region}`,
    status.multizone ? 'multizone' : 'single zone',
  ];
  if (status.quorumReads) traits.push('quorum reads');

  const members = status.etcd.members;
  const replicaNames = new Set(status.replicas.map((replica) => replica.name));
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  const replicas = [...status.replicas].sort(byName);
  const zones = [...new Set(replicas.map((replica) => replica.zone))].sort();

  // One name column for the replicas and the endpoint's targets, so both lists line up.
  const replicaRows = replicas.map((replica) => [
    replica.name,
    replica.internalIp,
    replica.state,
    etcdRole(members.find((member) => member.name === replica.name)),
    componentsText(replica.kubernetes),
  ]);
  const targetRows = status.endpoint.targets.map((target) => [
    target.replica,
    target.healthy ? 'healthy' : 'unhealthy',
  ]);
  const nameWidth = Math.max(0, ...[...replicaRows, ...targetRows].map((row) => row[0]?.length ?? 0));
  const widthOf = (column: number) => Math.max(0, ...replicaRows.map((row) => row[column]?.length ?? 0));
  const replicaLines = columns(replicaRows, [nameWidth, widthOf(1), widthOf(2), widthOf(3)]);
  const lineOf = new Map(replicas.map((replica, i) => [replica.name, replicaLines[i] ?? replica.name]));

  const branches: Branch[] = zones.map((zone) => ({
    label: `Zone ${zone}`,
    children: replicas.filter((replica) => replica.zone === zone).map((replica) => lineOf.get(replica.name)!),
  }));
  if (replicas.length === 0) branches.push({ label: 'No replicas', children: [] });

  const orphans = members.filter((member) => !replicaNames.has(member.name));
  if (orphans.length > 0) {
    branches.push({
      label: 'etcd members without a replica',
      children: columns(
        orphans.map((member) => [
          member.name === '' ? '(not started)' : member.name,
          `id ${member.id}`,
          member.learner ? 'learner' : 'voter',
          member.healthy ? 'healthy' : 'unhealthy',
        ]),
      ),
    });
  }

  if (status.kubernetes !== undefined) branches.push(kubernetesBranch(status.kubernetes));

  branches.push({ label: endpointLabel(status), children: columns(targetRows, [nameWidth]) });

  if (status.leases !== undefined) {
    branches.push({
      label: 'Leases',
      children: [
        ...columns(
          status.leases.identities.map((identity) => [
            `identity ${identity.name}`,
            identity.replica ?? '(no replica)',
            identity.stale ? 'stale' : 'current',
          ]),
        ),
        ...status.leases.leaders.map(
          (leader) =>
            `leader ${leader.lease}  held by ${leader.holder ?? 'nobody'}${leader.replica === undefined ? '' : ` (${leader.replica})`}`,
        ),
      ],
    });
  }

  const tolerance = status.faultTolerance;
  const lines = [
    `Cluster ${status.cluster}  (${traits.join(', ')})`,
    ...tree(branches),
    `Fault tolerance: ${plural(tolerance.voters, 'voter')}, quorum ${tolerance.quorum}, tolerates ${plural(
      tolerance.tolerates,
      'failure',
    )}${
      tolerance.healthy < tolerance.voters
        ? ` (${tolerance.healthy} healthy now: can lose ${tolerance.canStillLose} more)`
        : ''
    }; ${tolerance.zoneLoss}`,
  ];
  if (status.operation !== undefined) {
    const operation = status.operation;
    const next = operation.next === undefined ? '' : `; next: ${operation.next}`;
    lines.push(
      `Interrupted: ${operation.operation} ${operation.id}, ${operation.stepsDone} of ${operation.steps} steps done${next}. Run \`hacp resume\` to continue.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Steps that take something away: when they find nothing to act on, it is already gone. */
const DELETION_STEP = /^(delete-|remove-|release-address(?:$|[:#]))/;

/**
 * A step's outcome in words: `done` (it acted); `skipped` as `already gone` for a deletion
 * (`delete-*`, `remove-*`, `release-address`) and `already in place` for anything else;
 * `not-applicable` as `not needed` (nothing for it to act on, such as Kubernetes in an etcd-only
 * cluster).
 *
 * @example stepOutcomeText({ id: 'delete-instance:kubernetes-master-1f3', status: 'skipped' }) // 'already gone'
 */
export function stepOutcomeText(step: { id: string; status: StepStatus }): string {
  switch (step.status) {
    case 'done':
      return 'done';
    case 'not-applicable':
      return 'not needed';
    default:
      return DELETION_STEP.test(step.id) ? 'already gone' : 'already in place';
  }
}

/**
 * The summary of an operation: what ran, how many steps acted, were already in place (or gone) or
 * were not needed, the replicas afterwards, and for a cluster running Kubernetes its version; after
 * `up`, where the admin kubeconfig is and what to run next.
 */
export function renderOperationResult(result: OperationResult): string {
  const tally = new Map<string, number>();
  for (const step of result.steps) {
    const text = stepOutcomeText(step);
    tally.set(text, (tally.get(text) ?? 0) + 1);
  }
  const order = ['done', 'already in place', 'already gone', 'not needed'];
  const counts = [`${tally.get('done') ?? 0} done`];
  for (const text of order.slice(1)) {
    const count = tally.get(text);
    if (count !== undefined) counts.push(`${count} ${text}`);
  }
  const resumed = result.resumed ? ', resumed' : '';
  const lines = [
    `${result.operation} finished on cluster ${result.cluster} (${result.operationId}${resumed}): ${plural(
      result.steps.length,
      'step',
    )}, ${counts.join(', ')}`,
  ];
  if (result.replicas.length === 0) {
    lines.push(result.operation === 'down' ? 'Replicas: none; the cluster is deleted' : 'Replicas: none');
  } else {
    lines.push(`Replicas (${result.replicas.length}):`);
    const rows = [...result.replicas]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((replica) => [replica.name, replica.zone]);
    for (const line of columns(rows)) lines.push(`  ${line}`);
  }
  if (result.kubernetesVersion !== undefined) lines.push(`Kubernetes: ${result.kubernetesVersion}`);
  if (result.backup !== undefined) {
    const which = result.operation === 'down' ? 'Last etcd backup (kept)' : 'etcd backup before the change';
    lines.push(`${which}: ${result.backup.path}`);
  }
  if (result.kubeconfig !== undefined) {
    lines.push(`Admin kubeconfig: ${result.kubeconfig}`);
    lines.push(`Next: kubectl --kubeconfig ${shellWord(result.kubeconfig)} get nodes`);
  }
  return `${lines.join('\n')}\n`;
}

/** A path as one word a shell reads back unchanged: quoted only when it needs to be. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

function numberedSteps(steps: Plan['steps']): string[] {
  const width = String(steps.length).length;
  return steps.map((step, i) => `  ${String(i + 1).padStart(width)}. ${step.title}`);
}

function endpointText(endpoint: Plan['expected']['endpoint']): string {
  if (endpoint === undefined) return 'no endpoint';
  if (endpoint.mode === 'attached') return `endpoint attached to ${endpoint.replica}`;
  return `endpoint load-balanced over ${endpoint.targets.length === 0 ? 'no targets' : endpoint.targets.join(', ')}`;
}

/** A plan's steps, numbered, its rollback steps and the state it promises to reach. */
export function renderPlan(plan: Plan): string {
  const lines = [`Plan: ${plan.operation} on cluster ${plan.cluster}, ${plural(plan.steps.length, 'step')}`];
  lines.push(...numberedSteps(plan.steps));
  if (plan.onFailure.length > 0) {
    lines.push('If it fails before the new member is promoted, hacp undoes it:');
    lines.push(...numberedSteps(plan.onFailure));
  }
  const replicas = plan.expected.replicas;
  const replicaText =
    replicas.length === 0
      ? 'no replicas'
      : `${plural(replicas.length, 'replica')} (${replicas.map((replica) => `${replica.name} in ${replica.zone}`).join(', ')})`;
  lines.push(`Afterwards: ${replicaText}; ${endpointText(plan.expected.endpoint)}`);
  return `${lines.join('\n')}\n`;
}

/** Every certificate with its expiry, soonest first, then what each replica serves. */
export function renderCertificates(result: CertificatesResult): string {
  if (result.certificates.length === 0) return 'No certificates.\n';
  const sorted = [...result.certificates].sort(
    (a, b) => a.daysLeft - b.daysLeft || a.name.localeCompare(b.name),
  );
  const rows = [
    ['CERTIFICATE', 'COMMON NAME', 'SERIAL', 'EXPIRES', 'DAYS LEFT', 'STATUS'],
    ...sorted.map((certificate) => [
      certificate.isCa ? `${certificate.name} (CA)` : certificate.name,
      certificate.commonName,
      certificate.serial,
      certificate.notAfter,
      String(certificate.daysLeft),
      certificate.status,
    ]),
  ];
  const lines = columns(rows);
  if (result.served.length > 0) {
    lines.push('', 'Served by the replicas (read over TLS):');
    const served = [
      ['REPLICA', 'PORT', 'SERIAL', 'EXPIRES', "OPERATOR'S COPY"],
      ...result.served.map((entry) => [
        entry.replica,
        entry.port,
        entry.serial ?? '-',
        entry.notAfter ?? '-',
        entry.error !== undefined
          ? `unread: ${entry.error}`
          : entry.matches
            ? 'same'
            : `MISMATCH (copy ${entry.operatorSerial ?? 'missing'})`,
      ]),
    ];
    for (const line of columns(served)) lines.push(`  ${line}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The CA `certs rotate-ca` put in place and the certificates it reissued. */
export function renderRotated(result: RotateCaResult): string {
  const rolls = result.steps.filter((step) => step.id.startsWith('roll-certs:')).length;
  return `${renderOperationResult(result)}The ${result.ca} CA is now ${result.newCa.commonName} (serial ${result.newCa.serial}, valid until ${result.newCa.notAfter}); the old one is no longer trusted.
Reissued ${plural(result.reissued.length, 'certificate')} from it:
${result.reissued.map((name) => `  ${name}`).join('\n')}
Rolled onto the replicas one at a time, three times (${plural(rolls, 'restart')}).
${result.ca === 'cluster' ? 'The admin kubeconfig in the state folder has the new CA and certificate; copies of it made before the rotation no longer work: write them again with `hacp kubeconfig --output <file>`.\n' : ''}`;
}

/** Each replica a rollout (or upgrade) replaced, in order. */
export function renderRollout(result: RolloutResult): string {
  const what =
    result.operation === 'upgrade'
      ? `Upgraded cluster ${result.cluster}`
      : `Rolled out cluster ${result.cluster}`;
  const version = result.kubernetesVersion === undefined ? '' : ` (Kubernetes ${result.kubernetesVersion})`;
  const lines = result.replaced.map(({ old, new: added, zone }) => `  ${old} → ${added} in ${zone}`);
  return `${what}${version}: ${plural(result.replaced.length, 'replica')} replaced, one at a time.\n${lines.join('\n')}${lines.length > 0 ? '\n' : ''}`;
}

/** The certificates `certs renew` reissued, and the roll onto the replicas. */
export function renderRenewed(result: RenewResult): string {
  const renewed =
    result.renewed.length === 0
      ? 'No certificates were renewed.\n'
      : `Renewed ${plural(result.renewed.length, 'certificate')} from the same CAs:\n${result.renewed
          .map((name) => `  ${name}`)
          .join('\n')}\n`;
  const rolled = result.steps
    .filter((step) => step.id.startsWith('roll-certs:'))
    .map(
      (step) =>
        `  ${step.id.slice('roll-certs:'.length)}: ${step.status === 'done' ? 'restarted with them' : 'served them already'}`,
    );
  const roll = rolled.length === 0 ? '' : `Rolled onto the replicas one at a time:\n${rolled.join('\n')}\n`;
  return `${renderOperationResult(result)}${renewed}${roll}`;
}

/** The apiserver identity leases and the leader leases, each leader with the replica that holds it. */
export function renderLeases(leases: LeasesResult): string {
  const lines: string[] = [];
  if (leases.identities.length === 0) lines.push('Identity leases: none');
  else {
    lines.push('Identity leases:');
    const rows = leases.identities.map((identity) => [
      identity.name,
      identity.replica ?? '(no replica)',
      identity.stale ? 'stale' : 'current',
      identity.renewTime === undefined ? '' : `renewed ${identity.renewTime}`,
    ]);
    for (const line of columns(rows)) lines.push(`  ${line}`);
  }
  if (leases.leaders.length === 0) lines.push('Leader leases: none');
  else {
    lines.push('Leader leases:');
    const rows = leases.leaders.map((leader) => [
      leader.lease,
      leader.holder ?? '(no holder)',
      leader.replica === undefined ? '' : `replica ${leader.replica}`,
    ]);
    for (const line of columns(rows)) lines.push(`  ${line}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `zone fail` / `zone restore`: which replicas' processes stopped or started. */
export function renderZoneChange(result: ZoneChangeResult, change: 'failed' | 'restored'): string {
  const verb = change === 'failed' ? 'stopped' : 'started';
  const what =
    result.replicas.length === 0
      ? `no replica ${verb}`
      : `${verb} ${plural(result.replicas.length, 'replica')}: ${result.replicas.join(', ')}`;
  return `Zone ${result.zone} ${change}; ${what}\n`;
}

/** `hacp providers`: every provider `--provider` takes. */
export interface ProvidersResult {
  providers: ProviderListing[];
}

/** `hacp providers` as a table: name, package, version, where it comes from, what it is. */
export function renderProviders(result: ProvidersResult): string {
  const from = (provider: ProviderListing) => {
    if (provider.source === 'built-in') return 'built in';
    if (provider.source === 'package') return 'package in node_modules';
    const how = provider.plugin?.type === 'link' ? 'linked plugin' : 'plugin';
    return provider.plugin?.name === provider.package ? how : `${how} ${provider.plugin?.name}`;
  };
  const rows = [
    ['PROVIDER', 'PACKAGE', 'VERSION', 'FROM', 'DESCRIPTION'],
    ...result.providers.map((provider) => [
      provider.name,
      provider.package,
      provider.version ?? '-',
      from(provider),
      provider.description ?? '',
    ]),
  ];
  return `${columns(rows).join('\n')}\n`;
}

/** Warnings as the CLI prints them: `Warning (TWO_REPLICAS): ...`, one per line. */
export function renderWarnings(warnings: readonly CliWarning[]): string {
  return warnings.map((warning) => `Warning (${warning.code}): ${warning.message}\n`).join('');
}

/**
 * One progress event as one line of text (without the newline), or undefined for events that print
 * nothing: `[3/12] Add kubernetes-master-a1b to etcd as a learner … done`. Downloads are drawn by
 * {@link renderDownload}.
 */
export function renderProgressEvent(event: ControlPlaneEvent): string | undefined {
  switch (event.type) {
    case 'operation-started':
      return event.resumed ? `Resuming ${event.operation} ${event.operationId}` : undefined;
    case 'step-started':
      return `[${event.index}/${event.steps}] ${event.title} …`;
    case 'step-done':
      return `[${event.index}/${event.steps}] ${event.title} … ${stepOutcomeText({ id: event.step, status: event.status })}`;
    case 'waiting':
      return `  waiting for ${event.message} …`;
    case 'warning':
      return `Warning (${event.code}): ${event.message}`;
    case 'rollback-started':
      return `Undoing ${event.operationId}: ${event.reason}`;
    default:
      return undefined;
  }
}

/** How far a download has come, as the SDK's `download` event and `binaries fetch` report it. */
export interface DownloadState {
  file: string;
  receivedBytes: number;
  totalBytes?: number;
}

const MEGABYTE = 1024 * 1024;
const BAR_WIDTH = 24;

/**
 * One download as one line (without the newline): the file, received and total MB and a bar, or
 * the received MB alone when the size is unknown.
 *
 * @example renderDownload({ file: 'kube-apiserver', receivedBytes: 31457280, totalBytes: 125829120 })
 * // '  kube-apiserver  30.0/120.0 MB  [######------------------]  25%'
 */
export function renderDownload(download: DownloadState): string {
  const received = (download.receivedBytes / MEGABYTE).toFixed(1);
  const total = download.totalBytes;
  if (total === undefined || total <= 0) return `  ${download.file}  ${received} MB`;
  const fraction = Math.min(1, download.receivedBytes / total);
  const filled = Math.floor(fraction * BAR_WIDTH);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `  ${download.file}  ${received}/${(total / MEGABYTE).toFixed(1)} MB  [${bar}] ${percent}`;
}
