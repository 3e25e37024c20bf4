/**
 * The facts topology decides from. Everything is plain, JSON-serialisable data: no I/O, no clocks
 * (times come in as ISO strings), no randomness.
 */
import type { FirewallRule, HacpError, Warning } from '@hacp/core';

/** A control-plane replica as the provider and etcd see it now. */
export interface ReplicaInfo {
  /** `<cluster>-master` or `<cluster>-master-<3 hex>`, matched exactly. */
  name: string;
  zone: string;
  /** ISO 8601 creation time: "newest" means the latest. */
  createdAt: string;
  /** Its etcd member and kube-apiserver answer (the provider's health check and etcd's). */
  healthy: boolean;
  /**
   * Its instance does not run but is kept with its disk (stopped, or its processes died), and the
   * provider can start it: starting it brings its member back with its data and id. With
   * `ClusterView.downZones` naming its zone, the zone's outage stopped it; otherwise someone (or a
   * crash) did.
   */
  stopped?: boolean;
  /**
   * The provider cannot tell what state its instance is in (GCE's status it does not know; a zone
   * it cannot reach): nothing may delete it, since it may still hold a voter's data.
   */
  unreachable?: boolean;
  /**
   * The provider reports that its etcd data disk exists and is handed to a new instance of the same
   * name (`Instance.dataDiskIntact`): `replace` can migrate its member (keep its id and data) instead
   * of removing it and streaming the data to a new one. Absent: unknown, or the provider cannot.
   */
  dataDiskIntact?: boolean;
}

/** An etcd member as the Cluster API lists it, with its health. */
export interface MemberInfo {
  /** etcd's member id (decimal string). */
  id: string;
  /** The member's name: its replica's name. Empty while a learner has not started yet. */
  name: string;
  learner: boolean;
  /** Whether it has started (etcd lists an unstarted member with an empty name). */
  started: boolean;
  /** Whether it answers a linearizable read within the deadline. */
  healthy: boolean;
}

/** The outcome of a safety check: allowed, or refused with the HacpError to throw. */
export type Verdict = { ok: true } | { ok: false; error: HacpError };

// The warning codes are core's one closed set; topology names them for its plans.
export { type Warning, WarningCode } from '@hacp/core';

/**
 * Who holds the cluster's endpoint address. `attached`: the single replica's VM holds it.
 * `load-balanced`: a health-checked load balancer holds it and sends traffic to `targets`.
 */
export type EndpointState =
  | { mode: 'attached'; replica: string }
  | { mode: 'load-balanced'; targets: readonly string[] };

/** A change of the replica set that the endpoint must follow. */
export type EndpointChange =
  /** A new replica exists; it becomes a target once ready. */
  | { kind: 'add-replica'; replica: string }
  /** A replica is being removed; it stops being a target first. */
  | { kind: 'remove-replica'; replica: string };

/** The health check every load balancer gets (the replica's health endpoint). */
export interface EndpointHealthCheck {
  protocol: 'http' | 'https' | 'tcp';
  port: number;
  path?: string;
}

/**
 * One provider-level endpoint action, in the order it must run. Each is idempotent: the executor
 * checks the real state first (the load balancer exists, the address is already there).
 */
export type EndpointStep =
  /** Attach the reserved address to the replica's VM (the first replica, in `up`). */
  | { action: 'attach-address'; replica: string }
  /** Create the load balancer with these targets and the health check; the address stays where it is. */
  | { action: 'create-load-balancer'; targets: readonly string[]; healthCheck: EndpointHealthCheck }
  /**
   * Move the address from the replica's VM to the load balancer, with the shortest gap the cloud
   * allows; the load balancer takes it over with these targets (absent in an older journal: the
   * create step's).
   */
  | { action: 'move-address-to-load-balancer'; from: string; targets?: readonly string[] }
  /** Add a target once the replica reports ready. */
  | { action: 'add-target'; replica: string; whenReady: true }
  /** Remove a target and let its connections drain. */
  | { action: 'remove-target'; replica: string; drain: true }
  /** Take out a target whose instance is gone (nothing to drain), so that target changes work again. */
  | { action: 'drop-target'; replica: string }
  /** Move the address from the load balancer back to the replica's VM. */
  | { action: 'move-address-to-replica'; replica: string }
  /** Delete the load balancer; it no longer holds the address. */
  | { action: 'delete-load-balancer' }
  /** Release the reserved address: only in `down`, after nothing holds it. */
  | { action: 'release-address' }
  /**
   * Make the endpoint serve again where it is, its holder found not serving (the local provider's
   * HAProxy dead): attach the address to its replica again, or ensure the load balancer again.
   */
  | { action: 'restore-endpoint' };

/** Every step a plan can contain. `endpoint` steps wrap the endpoint actions. */
export type StepAction =
  | { kind: 'validate-zone'; zone: string }
  | { kind: 'reserve-address' }
  /** The rules to ensure (absent in an older journal: `firewallRules(cluster)`). */
  | { kind: 'ensure-firewall'; rules?: readonly FirewallRule[] }
  | { kind: 'create-pki' }
  | { kind: 'write-record'; multizone: boolean; quorumReads: boolean; firstZone: string }
  /**
   * Check, again on every run (a resume included), that the cluster can take the change: `add`, a
   * new member (every member started and healthy, no learner but the replica's own); `remove`, the
   * replica's member going (the other healthy voters keep quorum). Checks name them for people.
   */
  | { kind: 'preflight'; checks: readonly string[]; change?: 'add' | 'remove'; replica?: string }
  /**
   * Snapshot etcd. The plan holds it only where a healthy voter can serve it; which member serves
   * it, like every etcd call, is etcd's client's choice when the step runs.
   */
  | {
      kind: 'snapshot';
      /**
       * The replica whose member serves it, where that matters: `recover` keeps a copy of the
       * survivor's data before it makes it a cluster of its own (no healthy voter is there to ask).
       */
      from?: string;
    }
  | { kind: 'issue-certs'; replica: string }
  /** Add the replica's member as a learner (the plan holds a healthy voter to take it). */
  | { kind: 'add-learner'; replica: string }
  /**
   * Start a stopped instance again, with its disk: its member comes back with its data and its id
   * (repair's least change for an instance stopped by hand; never in a zone that is down).
   */
  | { kind: 'start-instance'; replica: string; zone: string }
  /**
   * Create the instance; etcd starts `new` (the first), `existing` (a joiner), or, in `recover`, on
   * the data its disk holds as the only member it knows: with `force-new-cluster` (etcd's flag: the
   * survivor of a lost quorum becomes a one-member cluster with its data) or `own-data` (after that,
   * or on a restored backup).
   */
  | {
      kind: 'create-instance';
      replica: string;
      zone: string;
      etcdState: 'new' | 'existing' | 'force-new-cluster' | 'own-data';
    }
  /**
   * Put a backup's data on the replica's (new, empty) data disk as a one-member etcd cluster, before
   * its instance is created (`recover` and `backup restore` when no member survived).
   */
  | { kind: 'restore-backup'; replica: string; zone: string; backup: string }
  | { kind: 'wait-healthy'; replica: string }
  /** Retry promotion every 500 ms while the learner catches up; evict it when it stalls. */
  | { kind: 'promote-learner'; replica: string }
  /** Move etcd leadership from the replica to another healthy voter, on the leader's own endpoint. */
  | { kind: 'move-leader'; from: string; to: string }
  /** Remove the replica's member (the plan holds another healthy voter to commit it). */
  | { kind: 'remove-member'; replica: string; memberId?: string }
  /** Point an existing member at a new peer URL, keeping its id and data (etcd member migration). */
  | { kind: 'migrate-member'; replica: string }
  | { kind: 'delete-instance'; replica: string; zone: string; keepDisk: boolean }
  /**
   * Stop the replica's Kubernetes components gracefully (its etcd member keeps running), once it
   * gets no traffic, so that nothing waits on its member after the member is removed.
   */
  | { kind: 'stop-kubernetes'; replica: string }
  | { kind: 'delete-identity-lease'; replica: string }
  | { kind: 'endpoint'; step: EndpointStep }
  /** The rules to delete, by name (absent in an older journal: the record's, else `firewallRules(cluster)`'s). */
  | { kind: 'delete-firewall'; names?: readonly string[] }
  /**
   * Delete what is left of the cluster beyond what the record names: resources carrying its label
   * or named as its own (the disk and internal address of an instance deleted by hand), where the
   * provider can (`deleteLeftovers`).
   */
  | { kind: 'delete-leftovers' }
  | { kind: 'delete-record' }
  /**
   * Reissue every leaf certificate of the operator's PKI from the same CAs (`certs renew`); the
   * replicas keep serving the old ones until `roll-certs` reaches them.
   */
  | { kind: 'renew-pki' }
  /**
   * Give a running replica the operator's certificates and restart the processes that read them,
   * unless it already serves them: only while every other member is a started, healthy voter; out
   * of the load balancer (drained) and with etcd leadership moved away first.
   */
  | {
      kind: 'roll-certs';
      replica: string;
      zone: string;
      /**
       * The trusted CAs changed (`certs rotate-ca`): restart even when the replica already serves
       * the operator's leaves, which do not show what it trusts.
       */
      trustChanged?: boolean;
    }
  /**
   * One phase of replacing a CA in the operator's PKI (`certs rotate-ca --ca <ca>`; its step id is
   * `rotate-<ca>-ca`): `trust-new` makes a new CA trusted beside the old, `issue-from-new` reissues
   * every leaf that CA signs from it, `drop-old` stops trusting the old one and records the new one.
   * For the cluster and front-proxy CAs, once every replica trusts the new one alone, `republish`
   * has the apiservers publish it alone in kube-system/extension-apiserver-authentication (they
   * only ever add to it).
   */
  | {
      kind: 'rotate-ca';
      ca: CaName;
      phase: 'trust-new' | 'issue-from-new' | 'drop-old' | 'republish';
    };

/** The CAs of a cluster, as `certs rotate-ca --ca` names them. */
export type CaName = 'etcd' | 'cluster' | 'front-proxy';

/** What a step does, by name. */
export type StepKind = StepAction['kind'];

/** One step of a plan. */
export interface PlanStep {
  /** Stable within the plan, for the journal: `add-learner:kubernetes-master-a1f`. */
  id: string;
  /** One line for people. */
  title: string;
  action: StepAction;
  /** What must hold for the step to run; the executor re-checks them against the real state. */
  preconditions: readonly string[];
}

export type OperationName =
  | 'up'
  | 'replicate'
  | 'remove'
  | 'replace'
  | 'repair'
  | 'down'
  | 'recover'
  | 'renew-certs'
  | 'rotate-ca'
  /** Only a plan (`hacp plan scale`): scale runs as replicates or removes, one at a time. */
  | 'scale';

/** The state a plan promises to reach. */
export interface PlannedState {
  /** Replica names with their zones, sorted by name. */
  replicas: readonly { name: string; zone: string }[];
  /** Undefined after `down`. */
  endpoint: EndpointState | undefined;
}

/** An ordered, named list of idempotent steps, with the rollback of a failed replicate. */
export interface Plan {
  operation: OperationName;
  cluster: string;
  steps: readonly PlanStep[];
  /** Steps that undo a failed operation (remove the learner, delete the instance). */
  onFailure: readonly PlanStep[];
  warnings: readonly Warning[];
  expected: PlannedState;
}

/** What the SDK knows about a cluster when it plans. */
export interface ClusterView {
  cluster: string;
  region: string;
  /** The first replica's zone: without multizone, every replica stays in it. */
  firstZone: string;
  multizone: boolean;
  replicas: readonly ReplicaInfo[];
  members: readonly MemberInfo[];
  /** The etcd leader's member name, when there is one. */
  leaderName?: string;
  endpoint: EndpointState;
  /** False when the provider says the endpoint's holder does not serve (absent: serving, or unknown). */
  endpointServing?: boolean;
  /** Zones the provider offers. */
  zones: readonly string[];
  /** Zones the provider reports down: nothing is started or created there. */
  downZones?: readonly string[];
  /**
   * The zone of each load-balancer target, by name, as the load balancer names them: where a
   * replica whose instance is gone was (so that `replace` adds its successor in that zone).
   */
  targetZones?: Readonly<Record<string, string>>;
  /** The replicas run the Kubernetes components (not an etcd-only cluster). */
  kubernetes?: boolean;
}
