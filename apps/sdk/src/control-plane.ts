/**
 * The SDK's entry point: a cluster's control plane over a provider. It composes the parts, each in
 * its module: planning (`planning.ts`), the operation runner (`engine/`), status
 * (`cluster-status.ts`), certificates (`certificates.ts`) and the Kubernetes side
 * (`cluster-kubernetes.ts`), over one shared context (`cluster-context.ts`).
 */
import { listAddons } from './addons.js';
import { createBackup, listBackups, pruneBackups } from './backups.js';
import { checkCertificates, renewedResult, rotatedResult, servedByReplicas } from './certificates.js';
import { type ClusterContext, createClusterContext } from './cluster-context.js';
import { applyAddons, clusterLeases, kubeconfigOf, writeKubeconfig } from './cluster-kubernetes.js';
import { clusterStatus } from './cluster-status.js';
import { continues, type OperationRequest, type RunnerSettings, runOperation } from './engine/runner.js';
import { makePlan, newOperation, precheck } from './planning.js';
import { readJournal, readRecord } from './record.js';
import { runRollout } from './rollout.js';
import { scaleCluster } from './scale.js';
import type { ControlPlane, ControlPlaneSettings, PlanRequest } from './types.js';
import { watchCluster } from './watch.js';

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
  const context = createClusterContext(settings);
  const { provider, cluster, pkiStore } = context;
  const runnerSettings = operationRunnerSettings(context);
  const run = (request: OperationRequest, signal?: AbortSignal) =>
    runOperation(runnerSettings, request, signal);
  const controlPlane: ControlPlane = {
    cluster,
    provider,
    watch: (options) => watchCluster(controlPlane, context.emit, options),
    up: (options) => run({ operation: 'up', ...withoutSignal(options) }, options.signal),
    replicate: (options = {}) => run({ operation: 'replicate', ...withoutSignal(options) }, options.signal),
    remove: (options = {}) => run({ operation: 'remove', ...withoutSignal(options) }, options.signal),
    replace: (options) => run({ operation: 'replace', ...withoutSignal(options) }, options.signal),
    repair: (options = {}) => run({ operation: 'repair' }, options.signal),
    scale: (options) => scaleCluster(context, run, options),
    recover: (options = {}) => run({ operation: 'recover', ...withoutSignal(options) }, options.signal),
    rollout: (options = {}) => runRollout(context, run, { kind: 'restart', ...options }),
    upgrade: (options) => runRollout(context, run, { kind: 'upgrade', ...options }),
    down: (options = {}) => run({ operation: 'down' }, options.signal),
    resume: (options = {}) => run({ operation: 'resume' }, options.signal),
    status: (options) => clusterStatus(context, options),
    plan: async (request: PlanRequest) => {
      // What a run of this request would do now: continue the interrupted operation it matches
      // (a recover cut short no longer sees a lost quorum, but the same command finishes it).
      const stored = await readJournal(provider.state, cluster);
      if (stored !== undefined && continues(stored.value, request)) return stored.value.plan;
      pkiStore.forget();
      const session = context.openSession((await readRecord(provider.state, cluster))?.value);
      try {
        return (await makePlan(context, request, session)).plan;
      } finally {
        await session.close();
      }
    },
    certs: {
      check: (options) => checkCertificates(context, options),
      served: (options) => servedByReplicas(context, options),
      renew: async (options = {}) =>
        renewedResult(context, await run({ operation: 'renew-certs' }, options.signal)),
      rotateCa: async (options) =>
        rotatedResult(
          context,
          await run({ operation: 'rotate-ca', ca: options.ca }, options.signal),
          options.ca,
        ),
    },
    leases: (options) => clusterLeases(context, options),
    kubeconfig: (options = {}) => kubeconfigOf(context, options.path, options.signal),
    addons: {
      list: async (options = {}) => {
        await context.requireRecord(options.signal);
        return listAddons(context.addonsDir);
      },
      apply: (options) => applyAddons(context, options.files, options.signal),
    },
    backups: {
      create: (options = {}) => createBackup(context, options),
      list: (options = {}) => listBackups(context, options),
      prune: (options = {}) => pruneBackups(context, options),
    },
    close: () => context.closeSessions(),
  };
  return controlPlane;
}

/** How the operation runner plans, observes and finishes, for this cluster. */
function operationRunnerSettings(context: ClusterContext): RunnerSettings {
  const { provider, cluster, pkiStore, dataDir, timeouts, logger, holder, emit } = context;
  return {
    provider,
    cluster,
    pkiStore,
    dataDir,
    timeouts,
    backupRetention: context.backupRetention,
    logger,
    holder,
    emit,
    kubernetes: (signal) => context.kubernetesContext(signal),
    ...(context.kubeconfigFile === undefined ? {} : { kubeconfigFile: context.kubeconfigFile }),
    clusterFiles: [context.adminKubeconfigPath, context.addonsDir],
    precheck: (request, signal) => precheck(context, request, signal),
    session: context.openSession,
    plan: (request, session, signal) => newOperation(context, request, session, signal),
    finished: async (journal, session, signal) => {
      const version = session.record()?.kubernetesVersion;
      // `up` writes the admin kubeconfig; `renew-certs` and `rotate-ca` rewrite it with the new
      // admin certificate and CA.
      if (!['up', 'renew-certs', 'rotate-ca'].includes(journal.operation) || version === undefined) return {};
      return { kubeconfig: (await writeKubeconfig(context, context.adminKubeconfigPath, signal)).path };
    },
  };
}

function withoutSignal<T extends { signal?: AbortSignal }>(options: T): Omit<T, 'signal'> {
  const { signal: _signal, ...rest } = options;
  return rest;
}
