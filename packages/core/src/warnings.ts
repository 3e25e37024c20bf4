/**
 * Every warning hacp gives, one closed set: a warning does not block, and its message says what to
 * do. Errors are `ErrorCode`s; these are what succeeds with a caveat.
 */
export const WarningCode = {
  /** Two replicas: less available than one (both are needed for quorum). */
  TWO_REPLICAS: 'TWO_REPLICAS',
  /** An even count tolerates no more failures than one fewer replica. */
  EVEN_COUNT: 'EVEN_COUNT',
  /** Every replica is in one zone: that zone's outage takes the control plane down. */
  SINGLE_ZONE: 'SINGLE_ZONE',
  /** Losing one particular zone would lose quorum. */
  ZONE_LOSS_LOSES_QUORUM: 'ZONE_LOSS_LOSES_QUORUM',
  /** A replica is unhealthy. */
  UNHEALTHY_REPLICA: 'UNHEALTHY_REPLICA',
  /** Repair found a problem it cannot fix safely now; running repair again after a recovery continues. */
  REPAIR_DEFERRED: 'REPAIR_DEFERRED',
  /** No Kubernetes binaries could be had (or the provider runs etcd only): the cluster runs etcd only. */
  KUBERNETES_UNAVAILABLE: 'KUBERNETES_UNAVAILABLE',
  /** Cached Kubernetes binaries that cannot be used (a version folder without every binary). */
  KUBERNETES_BINARIES_UNUSABLE: 'KUBERNETES_BINARIES_UNUSABLE',
  /** The endpoint address is held, but nothing serves it (the local provider's HAProxy is down). */
  ENDPOINT_NOT_SERVING: 'ENDPOINT_NOT_SERVING',
  /**
   * Nothing holds the endpoint address although a load balancer exists and no operation is moving
   * it (on GCE: the load balancer's forwarding rule was deleted): the API endpoint is down.
   */
  ENDPOINT_DETACHED: 'ENDPOINT_DETACHED',
  /** A replica's instance is stopped, and not by a zone outage (stopped by hand): repair starts it. */
  REPLICA_STOPPED: 'REPLICA_STOPPED',
  /** The provider reports a zone down: its replicas stay as they are until it is back (repair leaves them). */
  ZONE_DOWN: 'ZONE_DOWN',
  /** A replica is not among the load balancer's targets, so it gets no traffic: repair adds it. */
  TARGET_MISSING: 'TARGET_MISSING',
  /** A load-balancer target whose instance is gone: repair takes it out. */
  TARGET_WITHOUT_INSTANCE: 'TARGET_WITHOUT_INSTANCE',
  /** An etcd member whose replica's instance is gone: repair removes the member (and its target). */
  INSTANCE_MISSING: 'INSTANCE_MISSING',
  /** `down` discarded an interrupted operation: it deletes the cluster anyway. */
  OPERATION_DISCARDED: 'OPERATION_DISCARDED',
  /** A certificate expires within the warning window. */
  CERTIFICATE_EXPIRING: 'CERTIFICATE_EXPIRING',
  /** A certificate has expired. */
  CERTIFICATE_EXPIRED: 'CERTIFICATE_EXPIRED',
  /** A certificate is not valid yet (a clock ahead on the machine that issued it). */
  CERTIFICATE_NOT_YET_VALID: 'CERTIFICATE_NOT_YET_VALID',
  /**
   * A replica serves another certificate than the operator's copy of its own (renewed here but not
   * rolled onto it): `hacp certs renew` rolls the copy on.
   */
  CERTIFICATE_NOT_ROLLED: 'CERTIFICATE_NOT_ROLLED',
  /** A rolling change restarts the only replica: its API and etcd are down meanwhile. */
  OUTAGE_DURING_ROLL: 'OUTAGE_DURING_ROLL',
  /** A kube-up variable hacp does not honour, ignored. */
  VARIABLE_IGNORED: 'VARIABLE_IGNORED',
  /** etcd lost its quorum: no change is possible until `hacp recover` (or the lost replicas' zone comes back). */
  QUORUM_LOST: 'QUORUM_LOST',
  /** `recover` brings the cluster back from a source that lacks the newest writes: it says which. */
  RECOVERY_LOSES_DATA: 'RECOVERY_LOSES_DATA',
} as const;
export type WarningCode = (typeof WarningCode)[keyof typeof WarningCode];

/** A warning users need: it does not block, and it says what to do. */
export interface Warning {
  code: WarningCode;
  message: string;
}

/** Whether a string is one of hacp's warning codes. */
export function isWarningCode(code: string): code is WarningCode {
  return Object.values(WarningCode).includes(code as WarningCode);
}
