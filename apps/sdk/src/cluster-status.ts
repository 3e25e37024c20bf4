/**
 * `status`: one observation of the cluster (instances, etcd members, the endpoint, the Kubernetes
 * components) turned into what an operator reads: each replica's state, the members, the endpoint,
 * the fault tolerance, the operation in flight and the warnings.
 */
import { quorumOf } from '@hacp/core';
import {
  faultTolerance,
  placementWarnings,
  quorumLostActions,
  type Warning,
  zoneLossAnalysis,
} from '@hacp/topology';
import type { ClusterContext } from './cluster-context.js';
import { notReady } from './kubernetes/health.js';
import { componentsByReplica, kubernetesSummary } from './kubernetes/status.js';
import {
  endpointServing,
  memberHealthy,
  type Observation,
  observe,
  targetsWithoutInstance,
  toClusterView,
} from './observe.js';
import { type ClusterRecord, type Journal, readJournal } from './record.js';
import type { ClusterStatus, ReplicaStatus, SignalOptions } from './types.js';

type MemberStatus = ClusterStatus['etcd']['members'][number];

export async function clusterStatus(
  context: ClusterContext,
  options: SignalOptions = {},
): Promise<ClusterStatus> {
  const { provider, cluster, pkiStore } = context;
  const signal = options.signal;
  const { value: record } = await context.requireRecord(signal);
  pkiStore.forget();
  const observation = await observeOnce(context, record, signal);
  const components =
    record.kubernetesVersion === undefined
      ? new Map()
      : await componentsByReplica({
          provider,
          pki: await pkiStore.load(record),
          instances: observation.instances,
          ...(signal ? { signal } : {}),
        });
  const replicas = replicaStatuses(observation, components);
  const members = memberStatuses(observation);
  const voters = members.filter((member) => !member.learner);
  const healthyVoters = voters.filter((member) => member.healthy).length;
  const tolerance =
    voters.length > 0
      ? faultTolerance({ voters: voters.length, healthy: healthyVoters })
      : { voters: 0, quorum: 0, tolerates: 0, healthy: 0, canStillLose: 0 };
  const journal = await readJournal(provider.state, cluster, signal);
  const warnings = statusWarnings(observation, replicas, {
    voters: voters.length,
    healthy: healthyVoters,
    inFlight: journal !== undefined,
  });
  const summary =
    record.kubernetesVersion === undefined && context.kubeconfigFile === undefined
      ? {}
      : await kubernetesSummary({
          version: record.kubernetesVersion,
          kubeconfig: () => context.clusterApi(record, signal),
          instances: observation.instances,
          warnings,
        });
  const operation = journal === undefined ? undefined : operationSummary(journal.value);
  return {
    cluster,
    provider: provider.name,
    region: record.region,
    multizone: record.multizone,
    quorumReads: record.quorumReads,
    replicas,
    etcd: { members },
    endpoint: endpointStatus(observation),
    faultTolerance: {
      voters: tolerance.voters,
      quorum: tolerance.quorum,
      tolerates: tolerance.tolerates,
      healthy: tolerance.healthy,
      canStillLose: Math.max(0, tolerance.canStillLose),
      zoneLoss: zoneLossVerdict(replicas, voters),
    },
    ...summary,
    ...(operation ? { operation } : {}),
    warnings,
  };
}

/** One observation through a session of its own, which is closed again whatever happens. */
async function observeOnce(
  context: ClusterContext,
  record: ClusterRecord,
  signal: AbortSignal | undefined,
): Promise<Observation> {
  const session = context.openSession(record);
  try {
    return await observe({ session, record, ...(signal ? { signal } : {}), requireMembers: false });
  } finally {
    await session.close();
  }
}

function replicaStatuses(
  observation: Observation,
  components: ReadonlyMap<string, NonNullable<ReplicaStatus['kubernetes']>>,
): ReplicaStatus[] {
  return observation.instances.map((instance) => {
    const member = observation.members.find((m) => m.name === instance.name);
    const healthy = member !== undefined && memberHealthy(observation, member);
    const zoneDown = observation.downZones.includes(instance.zone);
    const state: ReplicaStatus['state'] =
      instance.status === 'running'
        ? healthy
          ? 'healthy'
          : 'unhealthy'
        : instance.status === 'stopped' && zoneDown
          ? 'zone-down'
          : instance.status;
    const kubernetes = components.get(instance.name);
    return {
      name: instance.name,
      zone: instance.zone,
      internalIp: instance.internalIp,
      state,
      ...(kubernetes === undefined ? {} : { kubernetes }),
    };
  });
}

function memberStatuses(observation: Observation): MemberStatus[] {
  const leaderId = observation.members.find((member) => member.name === observation.leaderName)?.id;
  return observation.members.map((member) => {
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
}

/** Whether losing any one zone keeps quorum, counted in etcd voters (a stray member counts). */
function zoneLossVerdict(replicas: readonly ReplicaStatus[], voters: readonly MemberStatus[]): string {
  if (replicas.length === 0) return 'no replicas';
  return zoneLossAnalysis(
    replicas.map((replica) => ({
      name: replica.name,
      zone: replica.zone,
      healthy:
        replica.state === 'healthy' &&
        voters.some((member) => member.name === replica.name && member.healthy),
    })),
    { voters: voters.length },
  ).verdict;
}

function endpointStatus(observation: Observation): ClusterStatus['endpoint'] {
  const holder = observation.address?.holder;
  const lb = observation.loadBalancer;
  return {
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
}

/** Placement, quorum, endpoint, drift and Kubernetes-component warnings, the most urgent first. */
function statusWarnings(
  observation: Observation,
  replicas: readonly ReplicaStatus[],
  voters: { voters: number; healthy: number; inFlight: boolean },
): Warning[] {
  const warnings: Warning[] =
    replicas.length > 0
      ? placementWarnings(
          observation.instances.map((instance) => ({
            name: instance.name,
            zone: instance.zone,
            createdAt: instance.createdAt.toISOString(),
            healthy: replicas.find((r) => r.name === instance.name)?.state === 'healthy',
          })),
          { multizone: observation.record.multizone },
        )
      : [];
  const lost =
    voters.voters > 0 ? voters.healthy < quorumOf(voters.voters) : observation.instances.length > 0;
  if (lost && !voters.inFlight) warnings.unshift(quorumLostWarning(observation, voters));
  warnings.push(...driftWarnings(observation, replicas, voters.inFlight));
  if (!voters.inFlight && observation.address !== undefined && observation.address.holder === undefined) {
    warnings.unshift(detachedWarning(observation));
  } else if (observation.address?.holder !== undefined && endpointServing(observation) === false) {
    warnings.unshift({
      code: 'ENDPOINT_NOT_SERVING',
      message: `Nothing serves the endpoint address ${observation.address?.ip ?? ''}: its ${
        observation.address?.holder?.kind === 'instance' ? 'holder' : 'load balancer'
      } is down.`,
    });
  }
  for (const replica of replicas) {
    const failing = replica.kubernetes === undefined ? [] : notReady(replica.kubernetes);
    if (failing.length > 0) {
      warnings.push({
        code: 'UNHEALTHY_REPLICA',
        message: `${replica.name}'s Kubernetes components are not all healthy: ${failing.join(', ')}.`,
      });
    }
  }
  return warnings;
}

/** etcd has lost its quorum (or no member answers at all): what happened, and the way out. */
function quorumLostWarning(observation: Observation, voters: { voters: number; healthy: number }): Warning {
  const what =
    voters.voters === 0
      ? 'no etcd member answers'
      : `${voters.healthy} of ${voters.voters} etcd voters are healthy, and it needs ${quorumOf(voters.voters)}`;
  return {
    code: 'QUORUM_LOST',
    message: `etcd has lost quorum (${what}): no change to the cluster can commit. ${quorumLostActions(toClusterView(observation)).join(' ')}`,
  };
}

/** Nothing holds the endpoint address, and no operation is moving it: the API endpoint is down. */
function detachedWarning(observation: Observation): Warning {
  const address = observation.address?.ip ?? '';
  const lb = observation.loadBalancer;
  return {
    code: 'ENDPOINT_DETACHED',
    message:
      lb !== undefined
        ? `Nothing serves the endpoint address ${address}: the load balancer no longer holds it (its forwarding rule is gone), and no operation is moving it. Run \`hacp repair\` to give it back to the load balancer.`
        : `Nothing holds the endpoint address ${address}, and no operation is moving it. Run \`hacp repair\`.`,
  };
}

/**
 * What someone changed outside hacp: stopped instances, zones down, load-balancer targets missing or
 * without an instance, members whose instance is gone. While an operation is in flight, its own
 * steps make the target and member ones for a moment: those wait until it is done.
 */
function driftWarnings(
  observation: Observation,
  replicas: readonly ReplicaStatus[],
  inFlight: boolean,
): Warning[] {
  const warnings: Warning[] = [];
  const down = new Set(replicas.filter((r) => r.state === 'zone-down').map((r) => r.zone));
  for (const zone of [...down].sort()) {
    const names = replicas.filter((r) => r.zone === zone && r.state === 'zone-down').map((r) => r.name);
    warnings.push({
      code: 'ZONE_DOWN',
      message: `Zone ${zone} is down: ${names.join(', ')} stopped with it and come back when it is up again; \`hacp repair\` leaves them alone.`,
    });
  }
  for (const replica of replicas.filter((r) => r.state === 'stopped')) {
    warnings.push({
      code: 'REPLICA_STOPPED',
      message: `${replica.name}'s instance is stopped (not by a zone outage). Run \`hacp repair\` to start it again with its disk and etcd member.`,
    });
  }
  if (inFlight) return warnings;
  const lb = observation.loadBalancer;
  if (lb !== undefined) {
    const targets = new Set(lb.targets.map((target) => target.name));
    for (const replica of replicas.filter((r) => r.state === 'healthy' && !targets.has(r.name))) {
      warnings.push({
        code: 'TARGET_MISSING',
        message: `${replica.name} is healthy but not a target of the load balancer, so it gets no traffic. Run \`hacp repair\` to add it back.`,
      });
    }
    for (const name of targetsWithoutInstance(observation)) {
      warnings.push({
        code: 'TARGET_WITHOUT_INSTANCE',
        message: `The load balancer targets ${name}, whose instance is gone; every change of the replicas fails on it. Run \`hacp repair\` to take it out.`,
      });
    }
  }
  const instances = new Set(observation.instances.map((instance) => instance.name));
  for (const member of observation.members.filter((m) => m.name !== '' && !instances.has(m.name))) {
    warnings.push({
      code: 'INSTANCE_MISSING',
      message: `etcd member ${member.name} has no instance any more (it was deleted outside hacp). Run \`hacp repair\` to remove the member and its target, or \`hacp replace --replica ${member.name}\` to also add a new replica in its zone.`,
    });
  }
  return warnings;
}

/** The operation in flight (or interrupted): how far it got and its next step. */
function operationSummary(journal: Journal): ClusterStatus['operation'] {
  const next = journal.plan.steps.find((step) => !journal.done.includes(step.id));
  return {
    id: journal.id,
    operation: journal.operation,
    stepsDone: journal.done.length,
    steps: journal.plan.steps.length,
    ...(next ? { next: next.title } : {}),
  };
}
