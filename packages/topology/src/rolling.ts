/**
 * Rolling a change onto the running replicas one at a time (`certs renew`): the rule that says when
 * one replica may restart, and the plan that renews the operator's certificates and rolls them on.
 */
import { ErrorCode, HacpError, invalidArgument } from '@hacp/core';
import { replicaHealth, StepList } from './plans.js';
import type { CaName, ClusterView, MemberInfo, OperationName, Plan, Verdict, Warning } from './types.js';

/**
 * Whether the replica's member may restart now: every other member is a started, healthy voter (no
 * learner either), so that quorum holds while it is down and nothing else is already down. The
 * replica's own member may be down: a run cut short may have stopped it.
 *
 * @example
 * canRestartMember(members, 'kubernetes-master-a1f') // { ok: true } or { ok: false, error }
 * @throws Never: a refusal (QUORUM_AT_RISK) is returned as `{ ok: false, error }`.
 */
export function canRestartMember(members: readonly MemberInfo[], replica: string): Verdict {
  const others = members.filter((member) => member.name !== replica);
  const unfit = others.filter((member) => member.learner || !member.started || !member.healthy);
  if (unfit.length === 0) return { ok: true };
  const names = unfit.map((member) => (member.name === '' ? `unstarted member ${member.id}` : member.name));
  return {
    ok: false,
    error: new HacpError({
      code: ErrorCode.QUORUM_AT_RISK,
      message: `${replica} is not restarted while ${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} not a started, healthy voter: with it down too, etcd could lose quorum.`,
      actions: [
        'Bring the other replicas back first (`hacp status` shows them; `hacp repair` or `hacp replace --replica <name>`), then run the command again or `hacp resume`.',
      ],
      details: { replica, unhealthy: names },
      retryable: true,
    }),
  };
}

/**
 * The plan of `certs renew`: reissue the leaves in the operator's PKI, then, one replica at a time
 * (the etcd leader last), give it the new files and restart its processes (`roll-certs`, which first
 * takes it out of the load balancer and moves leadership away), wait until it is healthy, and put it
 * back behind the load balancer. Refused, before anything changes, while any replica or member is
 * unhealthy or a learner is present: restarting another replica then could lose quorum.
 *
 * @example
 * planRenewCerts(view).steps.map((s) => s.id);
 * // ['renew-pki', 'roll-certs:kubernetes-master-b2c', 'wait-healthy:kubernetes-master-b2c', ...]
 * @throws HacpError QUORUM_AT_RISK while a replica or member is unhealthy, stopped or a learner;
 *   REPLICA_NOT_FOUND when the cluster has no replica.
 */
export function planRenewCerts(view: ClusterView): Plan {
  assertCanRoll(view, 'renewing', '`hacp certs renew`');
  const list = new StepList().add(
    { kind: 'renew-pki' },
    'Reissue every leaf certificate from the same CAs in the PKI folder',
  );
  rollOnto(list, view, { what: 'the renewed certificates', trustChanged: false });
  return rollingPlan('renew-certs', view, list, 'the renewed certificates');
}

/** The CAs of a cluster, as `certs rotate-ca --ca` names them. */
export const CA_NAMES = ['etcd', 'cluster', 'front-proxy'] as const satisfies readonly CaName[];

/** How each CA's plan names it and what its second phase reissues. */
const CA_PLAN_WORDS: Record<CaName, { ca: string; leaves: string }> = {
  etcd: {
    ca: 'etcd CA',
    leaves: "every etcd certificate (peer, server, kube-apiserver's and hacp's etcd clients)",
  },
  cluster: {
    ca: 'cluster CA',
    leaves:
      "every certificate the cluster CA signs (each apiserver's serving cert, its kubelet client, the admin, controller-manager, scheduler and add-on manager clients)",
  },
  'front-proxy': { ca: 'front-proxy CA', leaves: 'the front-proxy client certificate' },
};

/**
 * The plan of `certs rotate-ca --ca <etcd|cluster|front-proxy>`: replace that CA in the safe order,
 * each phase rolled onto one replica at a time (followers first, the etcd leader last) as `certs
 * renew` does: a new CA trusted beside the old on every replica; every leaf that CA signs reissued
 * from the new CA; the old CA dropped, so that a client certificate it signed is refused; for the
 * cluster and front-proxy CAs, the apiservers made to publish the new CA alone. Refused,
 * before anything changes, as `planRenewCerts` refuses.
 *
 * @example
 * planRotateCa(view, { ca: 'cluster' }).steps.map((s) => s.id);
 * // ['rotate-cluster-ca', 'roll-certs:kubernetes-master-b2c', ..., 'rotate-cluster-ca#2', ...]
 * @throws HacpError INVALID_ARGUMENT (field `ca`) for a name that is none of CA_NAMES;
 *   QUORUM_AT_RISK and REPLICA_NOT_FOUND as `planRenewCerts`.
 */
export function planRotateCa(view: ClusterView, options: { ca: string }): Plan {
  const ca = CA_NAMES.find((name) => name === options.ca);
  if (ca === undefined) {
    throw invalidArgument({
      field: 'ca',
      value: options.ca,
      message: `There is no CA named "${options.ca}": the CAs are ${CA_NAMES.join(', ')}. Nothing was changed.`,
    });
  }
  const words = CA_PLAN_WORDS[ca];
  assertCanRoll(view, `rotating the ${words.ca}`, `\`hacp certs rotate-ca --ca ${ca}\``);
  const list = new StepList();
  const phases = [
    ['trust-new', `Make a new ${words.ca}, trusted beside the current one`, `both ${words.ca}s as trusted`],
    [
      'issue-from-new',
      `Reissue ${words.leaves} from the new ${words.ca}`,
      `certificates of the new ${words.ca}`,
    ],
    [
      'drop-old',
      `Stop trusting the old ${words.ca} and record the new one`,
      `the new ${words.ca} alone as trusted`,
    ],
  ] as const;
  for (const [phase, title, what] of phases) {
    list.add({ kind: 'rotate-ca', ca, phase }, title);
    rollOnto(list, view, { what, trustChanged: true });
  }
  // The apiservers publish the CAs they trust for clients, and only ever add to what is published.
  if (ca !== 'etcd')
    list.add(
      { kind: 'rotate-ca', ca, phase: 'republish' },
      `Have the apiservers publish the new ${words.ca} alone (kube-system/extension-apiserver-authentication)`,
    );
  return rollingPlan('rotate-ca', view, list, `its certificates of the new ${words.ca}`);
}

/**
 * Refuses a roll (of certificates, or of replicas in a rollout) while any replica or member is
 * unhealthy or a learner is present: taking another replica down then could lose quorum.
 *
 * @throws HacpError REPLICA_NOT_FOUND without replicas; QUORUM_AT_RISK, naming them, otherwise.
 */
export function assertCanRoll(view: ClusterView, doing: string, command: string): void {
  if (view.replicas.length === 0) {
    throw new HacpError({
      code: ErrorCode.REPLICA_NOT_FOUND,
      message: `Cluster ${view.cluster} has no replica to roll certificates onto.`,
      actions: ['Run `hacp status`; `hacp repair` recreates what is missing.'],
      details: { cluster: view.cluster },
    });
  }
  const health = replicaHealth(view);
  const unhealthy = view.replicas.filter((replica) => !health[replica.name]).map((replica) => replica.name);
  const orphans = view.members
    .filter((member) => member.learner || !view.replicas.some((replica) => replica.name === member.name))
    .map((member) => (member.name === '' ? `unstarted member ${member.id}` : member.name));
  if (unhealthy.length + orphans.length > 0) {
    const names = [...unhealthy, ...orphans];
    throw new HacpError({
      code: ErrorCode.QUORUM_AT_RISK,
      message: `Cluster ${view.cluster} has ${names.join(', ')} unhealthy, stopped or not a voter: ${doing} restarts every replica in turn, and restarting one now could lose quorum. Nothing was changed.`,
      actions: [
        `Fix the cluster first (\`hacp status\` shows what is wrong; \`hacp repair\`, or \`hacp replace --replica <name>\`, which also gives the new replica fresh certificates), then run ${command} again.`,
      ],
      details: { cluster: view.cluster, unhealthy: names },
      retryable: true,
    });
  }
}

/** The replicas, followers first and the etcd leader last: leadership moves at most once. */
export function followersFirst(view: ClusterView): ClusterView['replicas'] {
  return [...view.replicas].sort(
    (a, b) =>
      Number(a.name === view.leaderName) - Number(b.name === view.leaderName) || a.name.localeCompare(b.name),
  );
}

/** One replica at a time, followers first and the leader last: roll, wait healthy, back as target. */
function rollOnto(list: StepList, view: ClusterView, options: { what: string; trustChanged: boolean }): void {
  const order = followersFirst(view);
  const targets = view.endpoint.mode === 'load-balanced' ? view.endpoint.targets : [];
  for (const replica of order) {
    list
      .add(
        {
          kind: 'roll-certs',
          replica: replica.name,
          zone: replica.zone,
          ...(options.trustChanged ? { trustChanged: true } : {}),
        },
        `Give ${replica.name} ${options.what} and restart its processes`,
        [
          'every other etcd member is a started, healthy voter',
          `${replica.name} is out of the load balancer and does not lead etcd`,
        ],
      )
      .add({ kind: 'wait-healthy', replica: replica.name }, `Wait until ${replica.name} is healthy`);
    if (targets.includes(replica.name))
      list.endpoint({ action: 'add-target', replica: replica.name, whenReady: true });
  }
}

function rollingPlan(operation: OperationName, view: ClusterView, list: StepList, what: string): Plan {
  const warnings: Warning[] =
    view.replicas.length === 1
      ? [
          {
            code: 'OUTAGE_DURING_ROLL',
            message: `${view.cluster} has one replica: its API and etcd are down while it restarts with ${what}. Three replicas keep serving throughout.`,
          },
        ]
      : [];
  return {
    operation,
    cluster: view.cluster,
    steps: list.steps,
    onFailure: [],
    warnings,
    expected: {
      replicas: [...view.replicas]
        .map(({ name, zone }) => ({ name, zone }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      endpoint: view.endpoint,
    },
  };
}
