import { describe, expect, it } from 'vitest';
import {
  applyPlanStep,
  type ClusterModel,
  failReplica,
  newClusterModel,
  plannedStateOf,
  quorumState,
  viewOf,
} from './model.js';
import { planReplicate, planUp } from './plans.js';
import { quorumLost, quorumLostError } from './quorum-lost.js';
import { planRecover } from './recover.js';
import { thrown } from './test-support.js';
import type { ClusterView, Plan } from './types.js';

const ZONES = ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'];

function execute(model: ClusterModel, plan: Plan): ClusterModel {
  let current = model;
  for (const step of plan.steps) current = applyPlanStep(current, step);
  expect(plannedStateOf(current)).toEqual(plan.expected);
  return current;
}

/** Three replicas, one per zone, with the two in c and d failed: quorum lost. */
function lostQuorum(): ClusterModel {
  let model = newClusterModel({ cluster: 'kubernetes', zones: ZONES });
  model = execute(model, planUp({ cluster: 'kubernetes', zone: 'europe-west1-b', multizone: true }));
  model = execute(model, planReplicate(viewOf(model), { zone: 'europe-west1-c', randomHex: () => 'a01' }));
  model = execute(model, planReplicate(viewOf(model), { zone: 'europe-west1-d', randomHex: () => 'b02' }));
  return failReplica(failReplica(model, 'kubernetes-master-a01'), 'kubernetes-master-b02');
}

describe('planRecover', () => {
  it('makes the survivor a one-member cluster, then brings the others back in their zones, one at a time', () => {
    const model = lostQuorum();
    const view = viewOf(model);
    expect(quorumLost(view)).toBe(true);

    const plan = planRecover(view, { source: { kind: 'member', replica: 'kubernetes-master' }, loss: 'x' });

    const ids = plan.steps.map((step) => step.id);
    expect(ids.slice(0, 3)).toEqual([
      'snapshot',
      'remove-target:kubernetes-master-a01',
      'delete-instance:kubernetes-master-a01',
    ]);
    const force = plan.steps.find((s) => s.action.kind === 'create-instance');
    expect(force?.action).toMatchObject({ replica: 'kubernetes-master', etcdState: 'force-new-cluster' });
    // The force flag is dropped before anyone joins: a later restart must not reset the membership.
    const own = ids.indexOf('create-instance:kubernetes-master#2');
    expect(own).toBeGreaterThan(ids.indexOf('create-instance:kubernetes-master'));
    expect(ids.indexOf('wait-healthy:kubernetes-master')).toBeGreaterThan(own);
    expect(own).toBeLessThan(ids.indexOf('add-learner:kubernetes-master-a01'));
    expect(ids.indexOf('promote-learner:kubernetes-master-a01')).toBeLessThan(
      ids.indexOf('add-learner:kubernetes-master-b02'),
    );
    expect(plan.onFailure).toEqual([]);
    expect(plan.warnings).toEqual([{ code: 'RECOVERY_LOSES_DATA', message: 'x' }]);
    const after = execute(model, plan);
    expect(quorumState(after)).toMatchObject({ voters: 3, healthy: 3, hasQuorum: true });
    expect(plan.expected.replicas).toEqual([
      { name: 'kubernetes-master', zone: 'europe-west1-b' },
      { name: 'kubernetes-master-a01', zone: 'europe-west1-c' },
      { name: 'kubernetes-master-b02', zone: 'europe-west1-d' },
    ]);
  });

  it('restores a backup onto the first replica when no member survives', () => {
    let model = lostQuorum();
    model = failReplica(model, 'kubernetes-master');
    const plan = planRecover(viewOf(model), { source: { kind: 'backup', id: 'b1' } });
    const ids = plan.steps.map((step) => step.id);
    expect(ids.indexOf('delete-instance:kubernetes-master')).toBeLessThan(
      ids.indexOf('restore-backup:kubernetes-master'),
    );
    expect(plan.steps.find((s) => s.action.kind === 'create-instance')?.action).toMatchObject({
      replica: 'kubernetes-master',
      etcdState: 'own-data',
    });
    const after = execute(model, plan);
    expect(quorumState(after)).toMatchObject({ voters: 3, healthy: 3 });
  });

  it('restores a single replica whose data is gone, and gives it the address again', () => {
    let model = newClusterModel({ cluster: 'kubernetes', zones: ZONES });
    model = execute(model, planUp({ cluster: 'kubernetes', zone: 'europe-west1-b', multizone: true }));
    model = failReplica(model, 'kubernetes-master');
    const plan = planRecover(viewOf(model), { source: { kind: 'backup', id: 'b1' } });
    expect(plan.steps.at(-1)?.id).toBe('attach-address:kubernetes-master');
    const after = execute(model, plan);
    expect(quorumState(after)).toMatchObject({ voters: 1, healthy: 1 });
  });

  it('refuses while a replica is in a zone that is down, naming zone restore', () => {
    const view: ClusterView = { ...viewOf(lostQuorum()), downZones: ['europe-west1-c'] };
    const error = thrown(() =>
      planRecover(view, { source: { kind: 'member', replica: 'kubernetes-master' } }),
    );
    expect(error.code).toBe('CONFLICT');
    expect(error.actions[0]).toMatch(/`hacp zone restore europe-west1-c`/);
  });

  it('names zone restore, repair and recover for a lost quorum, as the case may be', () => {
    const view = viewOf(lostQuorum());
    const stopped: ClusterView = {
      ...view,
      downZones: ['europe-west1-c'],
      replicas: view.replicas.map((r) => (r.zone === 'europe-west1-d' ? { ...r, stopped: true } : r)),
    };
    const error = quorumLostError(stopped, 'add a replica');
    expect(error.code).toBe('QUORUM_LOST');
    expect(error.message).toBe(
      'Cluster kubernetes has lost etcd quorum (1 of 3 etcd voters is healthy, and it needs 2), so it cannot add a replica.',
    );
    expect(error.actions[0]).toMatch(/^Zone europe-west1-c is down: run `hacp zone restore europe-west1-c`/);
    expect(error.actions[1]).toMatch(/^Run `hacp repair` to start kubernetes-master-b02 again/);
    expect(error.actions[2]).toMatch(/run `hacp recover`/);
  });
});
