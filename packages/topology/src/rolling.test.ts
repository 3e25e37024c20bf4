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
import { canRestartMember, planRenewCerts } from './rolling.js';
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
