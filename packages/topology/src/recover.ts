/**
 * The plan that brings back a cluster that lost etcd quorum (or every replica): one replica serves
 * as a one-member cluster (the survivor with the most data, through etcd's force-new-cluster, or a
 * backup restored onto a fresh disk), every other replica is deleted with its data, and each comes
 * back in its zone as a learner that is promoted once caught up, one at a time (the plans of
 * `replicate`), with the endpoint following the usual rules.
 */
import { ErrorCode, firstReplicaName, HacpError } from '@hacp/core';
import {
  type NamingOptions,
  planReplicate,
  StepList,
  sortedReplicas,
  staleTargets,
  zoneDown,
} from './plans.js';
import type { ClusterView, EndpointState, Plan, ReplicaInfo, Warning } from './types.js';
import { WarningCode } from './types.js';

/** Where the recovered cluster's data comes from. */
export type RecoverySource =
  /** The surviving member with the highest applied index: its data dir, through force-new-cluster. */
  | { kind: 'member'; replica: string }
  /** A backup (its id in the catalogue), restored onto a fresh disk of the first replica. */
  | { kind: 'backup'; id: string };

/** What `planRecover` takes. */
export interface PlanRecoverOptions extends NamingOptions {
  source: RecoverySource;
  /** One line for people: what the source loses (shown as the plan's warning). */
  loss?: string;
}

/** A replica to bring back, in its zone, under its name. */
interface Lost {
  name: string;
  zone: string;
}

/**
 * The plan that recovers the cluster from `source`. The steps in order: a copy of the survivor's
 * data (a backup); every replica but the one that serves first is deleted with its disk (their data
 * is stale or gone; load-balancer targets whose instance is gone are dropped); the serving replica
 * becomes a one-member cluster and, once healthy, is started again without the force flag; the
 * endpoint is given to it; then the other replicas come back one at a time in their zones.
 *
 * @throws HacpError CONFLICT while a replica is in a zone the provider reports down (`hacp zone
 *   restore` brings it back without losing anything); REPLICA_NOT_FOUND for a survivor that is not
 *   a replica.
 */
export function planRecover(view: ClusterView, options: PlanRecoverOptions): Plan {
  assertNoDownZone(view);
  const serving = servingReplica(view, options.source);
  const lost = lostReplicas(view, serving.name);
  const list = new StepList();
  if (options.source.kind === 'member') {
    list.add(
      { kind: 'snapshot', from: serving.name },
      `Take an etcd snapshot of ${serving.name}'s data before it changes`,
    );
  }
  for (const target of staleTargets(view)) list.endpoint({ action: 'drop-target', replica: target });
  // Every replica leaves the load balancer before its instance goes; the serving one comes back.
  const targets = view.endpoint.mode === 'load-balanced' ? view.endpoint.targets : [];
  const untarget = (name: string) => {
    if (targets.includes(name)) list.endpoint({ action: 'remove-target', replica: name, drain: true });
  };
  for (const replica of view.replicas) {
    if (replica.name === serving.name && options.source.kind === 'member') continue;
    untarget(replica.name);
    list.add(
      { kind: 'delete-instance', replica: replica.name, zone: replica.zone, keepDisk: false },
      `Delete ${replica.name} and its data disk`,
    );
  }
  if (options.source.kind === 'member') untarget(serving.name);
  startServing(list, serving, options.source);
  const endpoint = serveEndpoint(list, view.endpoint, serving.name);
  let after: ClusterView = {
    ...view,
    replicas: [{ name: serving.name, zone: serving.zone, createdAt: '', healthy: true }],
    members: [{ id: '', name: serving.name, learner: false, started: true, healthy: true }],
    leaderName: serving.name,
    endpoint,
  };
  for (const replica of lost) {
    const add = planReplicate(after, {
      zone: replica.zone,
      name: replica.name,
      randomHex: options.randomHex,
    });
    for (const step of add.steps) list.add(step.action, step.title, step.preconditions);
    after = {
      ...after,
      replicas: [...after.replicas, { name: replica.name, zone: replica.zone, createdAt: '', healthy: true }],
      members: [
        ...after.members,
        { id: '', name: replica.name, learner: false, started: true, healthy: true },
      ],
      endpoint: add.expected.endpoint ?? after.endpoint,
    };
  }
  const warnings: Warning[] =
    options.loss === undefined ? [] : [{ code: WarningCode.RECOVERY_LOSES_DATA, message: options.loss }];
  return {
    operation: 'recover',
    cluster: view.cluster,
    steps: list.steps,
    // Nothing to undo: a recover that fails stays in the journal, to be continued (`hacp resume`).
    onFailure: [],
    warnings,
    expected: { replicas: sortedReplicas(after.replicas), endpoint: after.endpoint },
  };
}

/**
 * A replica in a zone that is down may come back whole with its zone: never delete it.
 * @throws HacpError CONFLICT naming `hacp zone restore` for each such zone.
 */
export function assertNoDownZone(view: ClusterView): void {
  const down = view.replicas.filter((replica) => zoneDown(view, replica.zone));
  if (down.length === 0) return;
  const zones = [...new Set(down.map((replica) => replica.zone))].sort();
  throw new HacpError({
    code: ErrorCode.CONFLICT,
    message: `Zone ${zones.join(', ')} is down with ${down.map((r) => r.name).join(', ')} in it: recovering now would delete replicas whose data may come back with the zone.`,
    actions: [
      ...zones.map(
        (zone) =>
          `Run \`hacp zone restore ${zone}\` (or wait for the zone to come back): its replicas return with their data and nothing is lost.`,
      ),
      'Run `hacp recover` again once no zone is down, if quorum is still lost then.',
    ],
    details: { zones, replicas: down.map((replica) => replica.name) },
    retryable: false,
  });
}

/** The replica that serves first: the surviving member's, else the first replica (by zone) or a new first one. */
function servingReplica(view: ClusterView, source: RecoverySource): Lost {
  if (source.kind === 'member') {
    const replica = view.replicas.find((r) => r.name === source.replica);
    if (replica === undefined) {
      throw new HacpError({
        code: ErrorCode.REPLICA_NOT_FOUND,
        message: `${source.replica} is not a replica of cluster ${view.cluster}; it cannot serve the recovered cluster.`,
        actions: [
          'Run `hacp recover` without naming a source: it picks the surviving member with the most data.',
        ],
        details: { replica: source.replica },
      });
    }
    return { name: replica.name, zone: replica.zone };
  }
  const first = byZone(allReplicas(view))[0];
  return first ?? { name: firstReplicaName(view.cluster), zone: view.firstZone };
}

/** Every replica the cluster had: its instances, and the load-balancer targets whose instance is gone. */
function allReplicas(view: ClusterView): Lost[] {
  const replicas: Lost[] = view.replicas.map((replica: ReplicaInfo) => ({
    name: replica.name,
    zone: replica.zone,
  }));
  for (const target of staleTargets(view)) {
    const zone = view.targetZones?.[target];
    if (zone !== undefined) replicas.push({ name: target, zone });
  }
  return replicas;
}

function byZone(replicas: readonly Lost[]): Lost[] {
  return [...replicas].sort((a, b) => a.zone.localeCompare(b.zone) || a.name.localeCompare(b.name));
}

/** The replicas to bring back after the serving one, one per name, in zone order. */
function lostReplicas(view: ClusterView, serving: string): Lost[] {
  return byZone(allReplicas(view).filter((replica) => replica.name !== serving));
}

/** The steps that make `serving` a one-member cluster on the source's data, and then a normal replica. */
function startServing(list: StepList, serving: Lost, source: RecoverySource): void {
  const { name, zone } = serving;
  if (source.kind === 'backup') {
    list
      .add(
        { kind: 'restore-backup', replica: name, zone, backup: source.id },
        `Restore backup ${source.id} onto ${name}'s new data disk`,
      )
      .add({ kind: 'issue-certs', replica: name }, `Issue the certificates of ${name}`)
      .add(
        { kind: 'create-instance', replica: name, zone, etcdState: 'own-data' },
        `Create ${name} in ${zone}; its etcd starts as a one-member cluster on the restored data`,
      )
      .add({ kind: 'wait-healthy', replica: name }, `Wait until ${name} is healthy`);
    return;
  }
  list
    .add(
      { kind: 'delete-instance', replica: name, zone, keepDisk: true },
      `Delete ${name}'s instance, keeping its etcd disk`,
    )
    // The wait for it to serve as the only member is part of this step: a resumed run re-checks its
    // waits, and this instance is gone again by the next step.
    .add(
      { kind: 'create-instance', replica: name, zone, etcdState: 'force-new-cluster' },
      `Create ${name} again on its disk with --force-new-cluster, and wait until it serves as a one-member cluster with its data`,
    )
    .add(
      { kind: 'delete-instance', replica: name, zone, keepDisk: true },
      `Delete ${name}'s instance again, keeping its etcd disk`,
    )
    .add(
      { kind: 'create-instance', replica: name, zone, etcdState: 'own-data' },
      `Create ${name} again without --force-new-cluster, so that a restart never resets the membership`,
    )
    .add({ kind: 'wait-healthy', replica: name }, `Wait until ${name} is healthy`);
}

/**
 * The endpoint once `serving` is the only replica: a load balancer keeps it as its one target (the
 * others were dropped); an address attached to a replica is attached to it.
 */
function serveEndpoint(list: StepList, endpoint: EndpointState, serving: string): EndpointState {
  if (endpoint.mode === 'load-balanced') {
    list.endpoint({ action: 'add-target', replica: serving, whenReady: true });
    return { mode: 'load-balanced', targets: [serving] };
  }
  list.endpoint({ action: 'attach-address', replica: serving });
  return { mode: 'attached', replica: serving };
}
