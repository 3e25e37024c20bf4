import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { checkExpiry, clientKubeconfig, renewLeaves } from '@hacp/certs';
import {
  assertClusterName,
  DEFAULT_CLUSTER_NAME,
  ErrorCode,
  HacpError,
  type Logger,
  quorumOf,
  regionOfZone,
  resolveLogger,
  Secret,
  type StateLock,
} from '@hacp/core';
import { kubernetesBinarySourceFromEnv } from '@hacp/kubernetes-release';
import {
  assertReplicaZone,
  faultTolerance,
  type Plan,
  placementWarnings,
  planDown,
  planRemove,
  planRepair,
  planReplace,
  planReplicate,
  planUp,
  type Warning,
  zoneLossAnalysis,
} from '@hacp/topology';
import type { KubeConfig } from '@kubernetes/client-node';
import { addAddons, listAddons, readAddonFiles } from './addons.js';
import { type EtcdConnector, reachEtcd } from './engine/etcd-port.js';
import {
  LOCK_TTL_MS,
  type NewOperation,
  nothingToResume,
  type OperationRequest,
  type RunnerSettings,
  runOperation,
} from './engine/runner.js';
import { createSession, type OperationSession } from './engine/session.js';
import { clusterKubeConfig, endpointServer, requireEndpointAddress } from './kubernetes/api.js';
import { notReady } from './kubernetes/health.js';
import { componentsByReplica, kubernetesSummary } from './kubernetes/status.js';
import {
  chooseKubernetes,
  type KubernetesChoice,
  type KubernetesContext,
  kubernetesPrograms,
} from './kubernetes/version.js';
import { inspectLeases } from './leases.js';
import { nameSuffixes } from './naming.js';
import { endpointServing, memberHealthy, type Observation, observe, toClusterView } from './observe.js';
import { PkiStore } from './pki-store.js';
import { type ClusterRecord, type Journal, lockName, readJournal, readRecord } from './record.js';
import type {
  AddonsApplyResult,
  CertificateStatus,
  ClusterStatus,
  ControlPlane,
  ControlPlaneEvent,
  ControlPlaneSettings,
  ControlPlaneTimeouts,
  KubeconfigResult,
  PlanRequest,
  ReplicaStatus,
  SignalOptions,
} from './types.js';

const DEFAULT_TIMEOUTS: ControlPlaneTimeouts = {
  healthy: 180_000,
  promote: 300_000,
  learnerStall: 60_000,
  target: 120_000,
  drain: 2_000,
};

/** What an operation settled before it wrote anything. */
interface Prepared {
  kubernetes?: KubernetesChoice;
}

function notFound(cluster: string, provider: string): HacpError {
  const flag = provider === 'local' ? '' : ` --provider ${provider}`;
  return new HacpError({
    code: ErrorCode.NOT_FOUND,
    message: `Cluster ${cluster} does not exist (provider ${provider}).`,
    actions: [
      `Create it with \`hacp up --zone <zone>${flag}\`.`,
      'Or pass the --cluster, --provider and --state-dir it was created with.',
    ],
    details: { cluster, provider },
  });
}

/**
 * Creates the control plane of one cluster over a provider.
 *
 * @example
 * const provider = createLocalProvider({ stateDir });
 * const cp = createControlPlane({ provider, dataDir: join(stateDir, 'clusters', 'kubernetes') });
 * await cp.up({ zone: 'local-a', multizone: true });
 * await cp.replicate({ zone: 'local-b' });
 * console.log((await cp.status()).faultTolerance);
 * @throws HacpError from each operation; see the README's table.
 */
export function createControlPlane(settings: ControlPlaneSettings): ControlPlane {
  const provider = settings.provider;
  const cluster = settings.cluster ?? DEFAULT_CLUSTER_NAME;
  assertClusterName(cluster);
  const logger: Logger = resolveLogger(settings.logger);
  const dataDir = resolve(settings.dataDir);
  const pkiStore = new PkiStore(dataDir);
  const timeouts: ControlPlaneTimeouts = { ...DEFAULT_TIMEOUTS, ...settings.timeouts };
  const holder = settings.holder ?? `hacp-${process.pid}@${hostname()}`;
  const binarySource = settings.kubernetesBinaries ?? kubernetesBinarySourceFromEnv(process.env);
  const addonsDir = join(dataDir, 'addons');
  const etcdConnector: EtcdConnector = settings.etcd ?? reachEtcd;
  const adminKubeconfigPath = join(dataDir, 'admin.conf');
  const emit = (event: ControlPlaneEvent) => {
    try {
      settings.onEvent?.(event);
    } catch (error) {
      logger.warn('onEvent threw', { error: String(error) });
    }
  };
  const kubernetesContext = (signal?: AbortSignal): KubernetesContext => ({
    provider,
    source: binarySource,
    ...(signal ? { signal } : {}),
    onProgress: (progress) => emit({ type: 'download', ...progress }),
  });

  /** The cluster's Kubernetes API: the `kubeconfig` setting's, else its own admin's through the endpoint. */
  const clusterApi = (record: ClusterRecord, signal?: AbortSignal): Promise<KubeConfig> =>
    clusterKubeConfig({
      provider,
      record,
      pki: () => pkiStore.load(record),
      ...(settings.kubeconfig === undefined ? {} : { kubeconfigFile: settings.kubeconfig }),
      ...(signal ? { signal } : {}),
    });

  async function requireRecord(signal?: AbortSignal) {
    const record = await readRecord(provider.state, cluster, signal);
    if (record === undefined) throw notFound(cluster, provider.name);
    return record;
  }

  /** The sessions open now: `close()` closes them. */
  const openSessions = new Set<OperationSession>();

  /** A session (one etcd connection and what was read) for one operation or read; closed by its user. */
  function openSession(record: ClusterRecord | undefined): OperationSession {
    const session = createSession({
      provider,
      cluster,
      pkiStore,
      etcd: etcdConnector,
      logger,
      record,
      onClose: () => openSessions.delete(session),
    });
    openSessions.add(session);
    return session;
  }

  /** `up`'s plan: refused when the cluster, or a PKI of its name, exists already. Reads only. */
  async function planNewCluster(
    request: Extract<PlanRequest, { operation: 'up' }>,
    signal?: AbortSignal,
  ): Promise<{ plan: Plan; target: Journal['target'] }> {
    if ((await readRecord(provider.state, cluster, signal)) !== undefined) {
      throw new HacpError({
        code: ErrorCode.ALREADY_EXISTS,
        message: `Cluster ${cluster} exists already.`,
        actions: [
          'Add replicas with `hacp replicate --zone <zone>`.',
          'Or pick another name with --cluster.',
        ],
        details: { cluster },
      });
    }
    // A fresh up finds no PKI: one there belongs to another cluster of this name (another
    // provider's, or one whose provider state is gone), whose CAs must not be reused or deleted.
    if (await pkiStore.exists()) {
      throw new HacpError({
        code: ErrorCode.ALREADY_EXISTS,
        message: `${pkiStore.dir} holds the PKI of another cluster named ${cluster} (with another provider than ${provider.name}, or one whose provider state is gone); hacp will not reuse its CAs or overwrite them.`,
        actions: [
          'Pick another name with --cluster, or another --state-dir.',
          `If that cluster is gone for good, move ${pkiStore.dir} away first.`,
        ],
        details: { cluster, dir: pkiStore.dir },
      });
    }
    const zones = (await provider.zones.list({ signal })).map((zone) => zone.name);
    const plan = planUp({
      cluster,
      zone: request.zone,
      multizone: request.multizone ?? false,
      quorumReads: request.quorumReads ?? false,
      zones,
    });
    return {
      plan,
      target: {
        region: regionOfZone(request.zone),
        addressName: `${cluster}-master-ip`,
        loadBalancerName: `${cluster}-master`,
      },
    };
  }

  /**
   * The refusals a request gets before the lock is taken, from what does not change while another
   * hacp works: the cluster exists (or, for `up`, does not), the zone, and for `resume` an
   * operation to resume. The rest comes from the observation made under the lock.
   */
  async function precheck(request: OperationRequest, signal?: AbortSignal): Promise<void> {
    if (request.operation === 'up') await planNewCluster(request, signal);
    else if (request.operation === 'resume') {
      if ((await readJournal(provider.state, cluster, signal)) === undefined) throw nothingToResume(cluster);
    } else if (request.operation !== 'down') {
      const record = (await readRecord(provider.state, cluster, signal))?.value;
      if (record === undefined) throw notFound(cluster, provider.name);
      if (request.operation === 'replicate' && request.zone !== undefined) {
        const { region, multizone, firstZone } = record;
        assertReplicaZone({ zone: request.zone, region, multizone, firstZone });
      }
    }
  }

  /** The plan for a request, from what the cluster looks like now (through the session). Reads only. */
  async function makePlan(
    request: PlanRequest,
    session: OperationSession,
    signal?: AbortSignal,
  ): Promise<{ plan: Plan; target: Journal['target'] }> {
    if (request.operation === 'up') return planNewCluster(request, signal);
    const stored = await readRecord(provider.state, cluster, signal);
    if (stored === undefined) {
      if (request.operation === 'down') return downWithoutRecord(signal);
      throw notFound(cluster, provider.name);
    }
    const record = stored.value;
    const target = {
      region: record.region,
      addressName: record.addressName,
      loadBalancerName: record.loadBalancerName,
    };
    // `down` deletes whatever it finds, so it does not need etcd to answer.
    const view = toClusterView(
      await observe({
        session,
        record,
        ...(signal ? { signal } : {}),
        requireReach: request.operation !== 'down',
      }),
    );
    const randomHex = nameSuffixes(record, view);
    switch (request.operation) {
      case 'replicate':
        return { plan: planReplicate(view, { zone: request.zone, name: request.name, randomHex }), target };
      case 'remove':
        return { plan: planRemove(view, { zone: request.zone, name: request.name }), target };
      case 'replace':
        return { plan: planReplace(view, { name: request.name, randomHex }), target };
      case 'repair':
        return { plan: planRepair(view, { randomHex }), target };
      case 'down':
        return { plan: planDown(view), target };
    }
  }

  /** `down` after an `up` that stopped before writing its record: delete what it made. */
  async function downWithoutRecord(signal?: AbortSignal): Promise<{ plan: Plan; target: Journal['target'] }> {
    const journal = await readJournal(provider.state, cluster, signal);
    if (journal === undefined) throw notFound(cluster, provider.name);
    const instances = await provider.instances.list({ cluster }, { signal });
    const replicas = instances.map((instance) => ({
      name: instance.name,
      zone: instance.zone,
      createdAt: instance.createdAt.toISOString(),
      healthy: false,
    }));
    const plan = planDown({
      cluster,
      region: journal.value.target.region,
      firstZone: replicas[0]?.zone ?? `${journal.value.target.region}-a`,
      multizone: false,
      replicas,
      members: [],
      endpoint: { mode: 'attached', replica: replicas[0]?.name ?? `${cluster}-master` },
      zones: [],
    });
    return { plan, target: journal.value.target };
  }

  async function takeLock(signal?: AbortSignal): Promise<StateLock> {
    return provider.state.lock(lockName(cluster), { holder, ttlMs: LOCK_TTL_MS, signal });
  }

  /**
   * What must hold before an operation writes anything: `up` picks its Kubernetes (and fetches the
   * binaries); an operation that creates a replica of a Kubernetes cluster needs its binaries here.
   */
  async function prepare(request: PlanRequest, signal?: AbortSignal): Promise<Prepared> {
    if (request.operation === 'up')
      return { kubernetes: await chooseKubernetes(request, kubernetesContext(signal)) };
    if (request.operation === 'down' || request.operation === 'remove') return {};
    const version = (await readRecord(provider.state, cluster, signal))?.value.kubernetesVersion;
    if (version !== undefined) await kubernetesPrograms(version, kubernetesContext(signal));
    return {};
  }

  /** A new operation's plan, made under the lock from one observation, and what `up` settled. */
  async function newOperation(
    request: PlanRequest,
    session: OperationSession,
    signal: AbortSignal,
  ): Promise<NewOperation> {
    const made = await makePlan(request, session, signal);
    const prepared = await prepare(request, signal);
    const warning = prepared.kubernetes?.warning;
    if (warning) emit({ type: 'warning', ...warning });
    return {
      plan: warning ? { ...made.plan, warnings: [...made.plan.warnings, warning] } : made.plan,
      target: made.target,
      ...(made.plan.operation === 'up'
        ? {
            settings: {
              etcdToken: `hacp-${cluster}-${randomBytes(6).toString('hex')}`,
              createdAt: new Date().toISOString(),
              ...(prepared.kubernetes?.version === undefined
                ? {}
                : { kubernetesVersion: prepared.kubernetes.version }),
            },
          }
        : {}),
    };
  }

  const runnerSettings: RunnerSettings = {
    provider,
    cluster,
    pkiStore,
    dataDir,
    timeouts,
    logger,
    holder,
    emit,
    kubernetes: (signal) => kubernetesContext(signal),
    ...(settings.kubeconfig === undefined ? {} : { kubeconfigFile: settings.kubeconfig }),
    clusterFiles: [adminKubeconfigPath, addonsDir],
    precheck,
    session: openSession,
    plan: newOperation,
    finished: async (journal, session, signal) => {
      const version = session.record()?.kubernetesVersion;
      if (journal.operation !== 'up' || version === undefined) return {};
      return { kubeconfig: (await writeKubeconfig(adminKubeconfigPath, signal)).path };
    },
  };

  const run = (request: OperationRequest, signal?: AbortSignal) =>
    runOperation(runnerSettings, request, signal);

  async function status(options: SignalOptions = {}): Promise<ClusterStatus> {
    const signal = options.signal;
    const { value: record } = await requireRecord(signal);
    pkiStore.forget();
    const session = openSession(record);
    let observation: Observation;
    try {
      observation = await observe({ session, record, ...(signal ? { signal } : {}), requireMembers: false });
    } finally {
      await session.close();
    }
    const leaderId = observation.members.find((member) => member.name === observation.leaderName)?.id;
    const version = record.kubernetesVersion;
    const components =
      version === undefined
        ? new Map()
        : await componentsByReplica({
            provider,
            pki: await pkiStore.load(record),
            instances: observation.instances,
            ...(signal ? { signal } : {}),
          });
    const replicas: ReplicaStatus[] = observation.instances.map((instance) => {
      const member = observation.members.find((m) => m.name === instance.name);
      const healthy = member !== undefined && memberHealthy(observation, member);
      const state: ReplicaStatus['state'] =
        instance.status === 'running' ? (healthy ? 'healthy' : 'unhealthy') : instance.status;
      const kubernetes = components.get(instance.name);
      return {
        name: instance.name,
        zone: instance.zone,
        internalIp: instance.internalIp,
        state,
        ...(kubernetes === undefined ? {} : { kubernetes }),
      };
    });
    const members = observation.members.map((member) => {
      const endpoint = observation.statuses.find((s) => s.ok && s.memberId === member.id);
      return {
        id: member.id,
        name: member.name,
        learner: member.learner,
        healthy: memberHealthy(observation, member),
        leader: member.id === leaderId,
        ...(endpoint?.raftIndex === undefined ? {} : { raftIndex: Number(endpoint.raftIndex) }),
        ...(endpoint?.dbSizeBytes === undefined ? {} : { dbSize: endpoint.dbSizeBytes }),
      };
    });
    const voters = members.filter((member) => !member.learner);
    const healthyVoters = voters.filter((member) => member.healthy).length;
    const tolerance =
      voters.length > 0
        ? faultTolerance({ voters: voters.length, healthy: healthyVoters })
        : { voters: 0, quorum: 0, tolerates: 0, healthy: 0, canStillLose: 0 };
    const zoneLoss =
      replicas.length > 0
        ? zoneLossAnalysis(
            replicas.map((replica) => ({
              name: replica.name,
              zone: replica.zone,
              healthy:
                replica.state === 'healthy' &&
                voters.some((member) => member.name === replica.name && member.healthy),
            })),
            { voters: voters.length },
          ).verdict
        : 'no replicas';
    const holder = observation.address?.holder;
    const lb = observation.loadBalancer;
    const endpoint: ClusterStatus['endpoint'] = {
      address: observation.address?.ip ?? '',
      mode:
        holder?.kind === 'instance'
          ? 'attached'
          : holder?.kind === 'load-balancer'
            ? 'load-balanced'
            : 'detached',
      ...(holder?.kind === 'instance' ? { attachedTo: holder.instance.name } : {}),
      targets:
        lb?.targets.map((target) => ({
          replica: target.name,
          healthy: lb.targetHealth.some((entry) => entry.instance.name === target.name && entry.healthy),
        })) ?? [],
    };
    const warnings: Warning[] =
      replicas.length > 0
        ? placementWarnings(
            observation.instances.map((instance) => ({
              name: instance.name,
              zone: instance.zone,
              createdAt: instance.createdAt.toISOString(),
              healthy: replicas.find((r) => r.name === instance.name)?.state === 'healthy',
            })),
          )
        : [];
    if (tolerance.voters > 0 && healthyVoters < quorumOf(tolerance.voters)) {
      warnings.unshift({
        code: 'UNHEALTHY_REPLICA',
        message: `etcd has lost quorum: ${healthyVoters} of ${tolerance.voters} voters are healthy.`,
      });
    }
    if (endpointServing(observation) === false) {
      warnings.unshift({
        code: 'ENDPOINT_NOT_SERVING',
        message: `Nothing serves the endpoint address ${observation.address?.ip ?? ''}: its ${
          observation.address?.holder?.kind === 'instance' ? 'holder' : 'load balancer'
        } is down.`,
      });
    }
    const journal = await readJournal(provider.state, cluster, signal);
    const operation = journal
      ? {
          id: journal.value.id,
          operation: journal.value.operation,
          stepsDone: journal.value.done.length,
          steps: journal.value.plan.steps.length,
          ...(() => {
            const next = journal.value.plan.steps.find((step) => !journal.value.done.includes(step.id));
            return next ? { next: next.title } : {};
          })(),
        }
      : undefined;
    for (const replica of replicas) {
      const failing = replica.kubernetes === undefined ? [] : notReady(replica.kubernetes);
      if (failing.length > 0) {
        warnings.push({
          code: 'UNHEALTHY_REPLICA',
          message: `${replica.name}'s Kubernetes components are not all healthy: ${failing.join(', ')}.`,
        });
      }
    }
    const summary =
      version === undefined && settings.kubeconfig === undefined
        ? {}
        : await kubernetesSummary({
            version,
            kubeconfig: () => clusterApi(record, signal),
            instances: observation.instances,
            warnings,
          });
    return {
      cluster,
      provider: provider.name,
      region: record.region,
      multizone: record.multizone,
      quorumReads: record.quorumReads,
      replicas,
      etcd: { members },
      endpoint,
      faultTolerance: {
        voters: tolerance.voters,
        quorum: tolerance.quorum,
        tolerates: tolerance.tolerates,
        healthy: tolerance.healthy,
        canStillLose: Math.max(0, tolerance.canStillLose),
        zoneLoss,
      },
      ...summary,
      ...(operation ? { operation } : {}),
      warnings,
    };
  }

  /** Renders the admin kubeconfig for the endpoint and, given a path, writes it 0600. */
  async function kubeconfigOf(path: string | undefined, signal?: AbortSignal): Promise<KubeconfigResult> {
    const { value: record } = await requireRecord(signal);
    if (record.kubernetesVersion === undefined) {
      throw new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `Cluster ${cluster} runs etcd only: it has no Kubernetes API to write a kubeconfig for.`,
        actions: ['Create a cluster with Kubernetes: `hacp up --kubernetes-version <version>`.'],
        details: { cluster },
      });
    }
    const server = endpointServer(await requireEndpointAddress(provider, record, signal));
    const contents = clientKubeconfig(await pkiStore.load(record), { server, client: 'admin' });
    if (path !== undefined) {
      const target = resolve(path);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      await writeFile(target, contents, { mode: 0o600 });
      await chmod(target, 0o600);
    }
    return {
      server,
      context: cluster,
      contents: new Secret(contents),
      ...(path === undefined ? {} : { path: resolve(path) }),
    };
  }
  const writeKubeconfig = async (path: string, signal?: AbortSignal) =>
    (await kubeconfigOf(path, signal)) as KubeconfigResult & { path: string };

  async function applyAddons(
    files: readonly { name: string; text: string }[],
    signal?: AbortSignal,
  ): Promise<AddonsApplyResult> {
    const { value: record } = await requireRecord(signal);
    if (record.kubernetesVersion === undefined) {
      throw new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `Cluster ${cluster} runs etcd only: there is no add-on manager to apply add-ons.`,
        actions: ['Create a cluster with Kubernetes to use add-ons.'],
        details: { cluster },
      });
    }
    const added = await addAddons(addonsDir, files);
    const replicas: string[] = [];
    const warnings: Warning[] = [];
    const sync = provider.instances.syncFiles;
    const everything = await readAddonFiles(addonsDir);
    for (const instance of await provider.instances.list({ cluster }, { signal })) {
      if (sync === undefined) break;
      await sync.call(
        provider.instances,
        instance,
        { prefix: 'addons', files: everything },
        { requestId: `addons-${randomBytes(4).toString('hex')}`, ...(signal ? { signal } : {}) },
      );
      replicas.push(instance.name);
    }
    if (sync === undefined) {
      warnings.push({
        code: 'UNHEALTHY_REPLICA',
        message: `Provider ${provider.name} cannot update a running replica's files: the add-ons reach the replicas created from now on.`,
      });
    }
    return { files: added, replicas: replicas.sort(), warnings };
  }

  const controlPlane: ControlPlane = {
    cluster,
    provider,
    up: (options) => run({ operation: 'up', ...withoutSignal(options) }, options.signal),
    replicate: (options = {}) => run({ operation: 'replicate', ...withoutSignal(options) }, options.signal),
    remove: (options = {}) => run({ operation: 'remove', ...withoutSignal(options) }, options.signal),
    replace: (options) => run({ operation: 'replace', ...withoutSignal(options) }, options.signal),
    repair: (options = {}) => run({ operation: 'repair' }, options.signal),
    down: (options = {}) => run({ operation: 'down' }, options.signal),
    resume: (options = {}) => run({ operation: 'resume' }, options.signal),
    status,
    plan: async (request) => {
      pkiStore.forget();
      const record = (await readRecord(provider.state, cluster))?.value;
      const session = openSession(record);
      try {
        return (await makePlan(request, session)).plan;
      } finally {
        await session.close();
      }
    },
    certs: {
      async check(options = {}): Promise<CertificateStatus[]> {
        const { value: record } = await requireRecord();
        const pki = await pkiStore.load(record);
        return checkExpiry(pki, options.now ?? new Date(), {
          warnWithinDays: options.warnWithinDays ?? 30,
        }).map((entry) => ({
          name: entry.name,
          commonName: entry.commonName,
          isCa: entry.isCa,
          notAfter: entry.notAfter.toISOString(),
          daysLeft: entry.daysLeft,
          status: entry.status,
        }));
      },
      async renew(options = {}) {
        const { value: record } = await requireRecord(options.signal);
        const lock = await takeLock(options.signal);
        try {
          const pki = await pkiStore.load(record);
          const renewed = await renewLeaves(pki, { logger });
          await pkiStore.save(renewed);
          return {
            renewed: checkExpiry(renewed)
              .filter((entry) => !entry.isCa)
              .map((entry) => entry.name),
          };
        } finally {
          await lock.release().catch(() => undefined);
        }
      },
    },
    async leases(options = {}) {
      const { value: record } = await requireRecord(options.signal);
      if (record.kubernetesVersion === undefined && settings.kubeconfig === undefined) {
        throw new HacpError({
          code: ErrorCode.INVALID_ARGUMENT,
          message: `Cluster ${cluster} runs etcd only: it has no Kubernetes API, so no leases.`,
          actions: ['Pass --kubeconfig for the Kubernetes API whose leases you want to read.'],
          details: { field: 'kubeconfig' },
        });
      }
      const instances = await provider.instances.list({ cluster }, { signal: options.signal });
      return inspectLeases({ kubeconfig: await clusterApi(record, options.signal), instances });
    },
    kubeconfig: (options = {}) => kubeconfigOf(options.path, options.signal),
    addons: {
      list: async (options = {}) => {
        await requireRecord(options.signal);
        return listAddons(addonsDir);
      },
      apply: (options) => applyAddons(options.files, options.signal),
    },
    async close() {
      await Promise.all([...openSessions].map((session) => session.close()));
    },
  };
  return controlPlane;
}

function withoutSignal<T extends { signal?: AbortSignal }>(options: T): Omit<T, 'signal'> {
  const { signal: _signal, ...rest } = options;
  return rest;
}
