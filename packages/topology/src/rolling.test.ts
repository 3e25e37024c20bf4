import { describe, expect, it } from 'vitest';
import {
  applyPlanStep,
  type ClusterModel,
  failReplica,
  invariantViolations,
  newClusterModel,
  viewOf,
} from './model.js';
import { planReplicate, planUp } from './plans.js';
import { canRestartMember, planRenewCerts, planRotateCa } from './rolling.js';
import { rolloutOrder } from './rollout.js';
import { thrown } from './test-support.js';
import type { MemberInfo, Plan } from './types.js';

const ZONES = ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'];

function run(model: ClusterModel, plan: Plan): ClusterModel {
  const hadQuorum = model.members.length > 0;
  let current = model;
  for (const step of plan.steps) {
    current = applyPlanStep(current, step);
    expect(invariantViolations(current, { hadQuorum, hadReplicas: hadQuorum }), step.id).toEqual([]);
  }
  return current;
}

function cluster(replicas: number): ClusterModel {
  let model = run(
    newClusterModel({ cluster: 'kubernetes', zones: ZONES }),
    planUp({ cluster: 'kubernetes', zone: 'europe-west1-b', multizone: true }),
  );
  const suffixes = ['a01', 'b02'];
  for (let i = 1; i < replicas; i++) {
    model = run(
      model,
      planReplicate(viewOf(model), {
        zone: ZONES[i] as string,
        randomHex: () => suffixes[i - 1] as string,
      }),
    );
  }
  return model;
}

const member = (name: string, change: Partial<MemberInfo> = {}): MemberInfo => ({
  id: name,
  name,
  learner: false,
  started: true,
  healthy: true,
  ...change,
});

describe('canRestartMember', () => {
  it('allows a restart while every other member is a started, healthy voter, whatever its own state', () => {
    expect(canRestartMember([member('a', { healthy: false }), member('b'), member('c')], 'a')).toEqual({
      ok: true,
    });
  });

  it('refuses while another member is unhealthy, unstarted or a learner', () => {
    for (const other of [
      member('b', { healthy: false }),
      member('b', { started: false }),
      member('b', { learner: true }),
    ]) {
      const verdict = canRestartMember([member('a'), other, member('c')], 'a');
      expect(verdict.ok).toBe(false);
      if (!verdict.ok) {
        expect(verdict.error.code).toBe('QUORUM_AT_RISK');
        expect(verdict.error.details).toMatchObject({ replica: 'a', unhealthy: ['b'] });
      }
    }
  });
});

describe('planRenewCerts', () => {
  it('renews first, then rolls one replica at a time, the leader last, each back behind the load balancer', () => {
    const model = cluster(3);
    const view = viewOf(model);
    const plan = planRenewCerts(view);
    const leader = view.leaderName as string;
    const followers = view.replicas.map((r) => r.name).filter((name) => name !== leader);
    const order = [...followers.sort(), leader];
    expect(plan.steps.map((step) => step.id)).toEqual([
      'renew-pki',
      ...order.flatMap((name) => [`roll-certs:${name}`, `wait-healthy:${name}`, `add-target:${name}`]),
    ]);
    expect(plan.warnings).toEqual([]);
    expect(plan.expected.endpoint).toEqual(view.endpoint);
    // Every step keeps quorum and the endpoint in the model, and no restart meets another one down.
    const after = run(model, plan);
    expect(viewOf(after).endpoint).toEqual(view.endpoint);
  });

  it('warns that a single replica is down while it restarts, and has no load balancer to leave', () => {
    const plan = planRenewCerts(viewOf(cluster(1)));
    expect(plan.steps.map((step) => step.id)).toEqual([
      'renew-pki',
      'roll-certs:kubernetes-master',
      'wait-healthy:kubernetes-master',
    ]);
    expect(plan.warnings.map((warning) => warning.code)).toEqual(['OUTAGE_DURING_ROLL']);
  });

  it('is refused while a replica is unhealthy, naming it and what to do', () => {
    const model = failReplica(cluster(3), 'kubernetes-master-a01');
    const error = thrown(() => planRenewCerts(viewOf(model)));
    expect(error.code).toBe('QUORUM_AT_RISK');
    expect(error.message).toContain('kubernetes-master-a01');
    expect(error.message).toContain('Nothing was changed');
    expect(error.actions.join(' ')).toContain('hacp replace --replica');
  });

  it('is refused while a learner is present', () => {
    const view = viewOf(cluster(2));
    const error = thrown(() =>
      planRenewCerts({
        ...view,
        members: [...view.members, member('', { id: '99', learner: true, started: false })],
      }),
    );
    expect(error.code).toBe('QUORUM_AT_RISK');
    expect(error.details).toMatchObject({ unhealthy: ['unstarted member 99'] });
  });
});

describe('planRotateCa', () => {
  it('rolls three phases (trust both, reissue, drop the old), each one replica at a time with the leader last', () => {
    const model = cluster(3);
    const view = viewOf(model);
    const plan = planRotateCa(view, { ca: 'etcd' });
    const leader = view.leaderName as string;
    const order = [
      ...view.replicas
        .map((r) => r.name)
        .filter((name) => name !== leader)
        .sort(),
      leader,
    ];
    const roll = (suffix: string) =>
      order.flatMap((name) => [
        `roll-certs:${name}${suffix}`,
        `wait-healthy:${name}${suffix}`,
        `add-target:${name}${suffix}`,
      ]);
    expect(plan.operation).toBe('rotate-ca');
    expect(plan.steps.map((step) => step.id)).toEqual([
      'rotate-etcd-ca',
      ...roll(''),
      'rotate-etcd-ca#2',
      ...roll('#2'),
      'rotate-etcd-ca#3',
      ...roll('#3'),
    ]);
    expect(
      plan.steps.flatMap((step) => (step.action.kind === 'rotate-ca' ? [step.action.phase] : [])),
    ).toEqual(['trust-new', 'issue-from-new', 'drop-old']);
    // Every roll restarts even a replica that serves the operator's leaves: what it trusts changed.
    expect(
      plan.steps.every((step) => step.action.kind !== 'roll-certs' || step.action.trustChanged === true),
    ).toBe(true);
    expect(viewOf(run(model, plan)).endpoint).toEqual(view.endpoint);
  });

  it('plans the cluster and front-proxy CAs in the same three phases, with their own ids and titles', () => {
    const model = cluster(3);
    const view = viewOf(model);
    for (const [ca, words] of [
      ['cluster', 'cluster CA'],
      ['front-proxy', 'front-proxy CA'],
    ] as const) {
      const plan = planRotateCa(view, { ca });
      const rotations = plan.steps.filter((step) => step.action.kind === 'rotate-ca');
      expect(rotations.map((step) => step.id)).toEqual([
        `rotate-${ca}-ca`,
        `rotate-${ca}-ca#2`,
        `rotate-${ca}-ca#3`,
        `rotate-${ca}-ca#4`,
      ]);
      expect(rotations.map((step) => step.action)).toEqual(
        ['trust-new', 'issue-from-new', 'drop-old', 'republish'].map((phase) => ({
          kind: 'rotate-ca',
          ca,
          phase,
        })),
      );
      // Republished last, once every replica trusts the new CA alone.
      expect(plan.steps.at(-1)?.id).toBe(`rotate-${ca}-ca#4`);
      for (const step of rotations) expect(step.title).toContain(words);
      expect(plan.steps.filter((step) => step.action.kind === 'roll-certs')).toHaveLength(9);
      expect(viewOf(run(model, plan)).endpoint).toEqual(view.endpoint);
    }
    const second = planRotateCa(view, { ca: 'cluster' }).steps.find(
      (step) => step.id === 'rotate-cluster-ca#2',
    );
    expect(second?.title).toContain("each apiserver's serving cert");
  });

  it('refuses an unknown CA name', () => {
    const view = viewOf(cluster(3));
    for (const ca of ['etcd-ca', 'kubernetes', '']) {
      const error = thrown(() => planRotateCa(view, { ca }));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain('no CA named');
    }
  });

  it('is refused while a replica is unhealthy, as renew is', () => {
    const error = thrown(() =>
      planRotateCa(viewOf(failReplica(cluster(3), 'kubernetes-master-a01')), { ca: 'etcd' }),
    );
    expect(error.code).toBe('QUORUM_AT_RISK');
    expect(error.message).toContain('rotating the etcd CA');
    expect(error.actions.join(' ')).toContain('hacp certs rotate-ca --ca etcd');
  });
});

describe('rolloutOrder', () => {
  const command = '`hacp rollout restart`';

  it('replaces the followers first and the etcd leader last', () => {
    const view = viewOf(cluster(3));
    const order = rolloutOrder(view, { maxSurge: 1, command });
    expect(order).toHaveLength(3);
    expect(order.at(-1)).toBe(view.leaderName);
    expect([...order].sort()).toEqual(view.replicas.map((replica) => replica.name).sort());
  });

  it('allows maxSurge 0 from three replicas, refuses it below, and refuses other values', () => {
    expect(rolloutOrder(viewOf(cluster(3)), { maxSurge: 0, command })).toHaveLength(3);
    const two = thrown(() => rolloutOrder(viewOf(cluster(2)), { maxSurge: 0, command }));
    expect(two).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'maxSurge', value: 0 } });
    expect(two.message).toMatch(/has 2 replicas: with --max-surge 0 each would be removed before/);
    expect(thrown(() => rolloutOrder(viewOf(cluster(3)), { maxSurge: 2, command }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('refuses while a replica is unhealthy, naming it and the command', () => {
    const broken = failReplica(cluster(3), viewOf(cluster(3)).replicas[1]?.name as string);
    const error = thrown(() => rolloutOrder(viewOf(broken), { maxSurge: 1, command }));
    expect(error.code).toBe('QUORUM_AT_RISK');
    expect(error.message).toMatch(/a rollout replaces every replica in turn/);
    expect(error.actions.join(' ')).toContain(command);
  });
});
