import { isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import {
  applyPlanStep,
  type ClusterModel,
  failReplica,
  invariantViolations,
  newClusterModel,
  plannedStateOf,
  quorumState,
  viewOf,
} from './model.js';
import { planDown, planRemove, planRepair, planReplace, planReplicate, planToJson, planUp } from './plans.js';
import { thrown as thrownBy } from './test-support.js';
import type { ClusterView, Plan, StepAction } from './types.js';

const ZONES = ['europe-west1-b', 'europe-west1-c', 'europe-west1-d', 'us-east1-b'];

/** Hex suffixes handed out in order, so plans are reproducible. */
function hexes(...values: string[]): () => string {
  let i = 0;
  return () => values[i++ % values.length] as string;
}

/** Applies every step, checking the safety rules after each; returns the final model. */
function execute(model: ClusterModel, plan: Plan): ClusterModel {
  const hadQuorum = quorumState(model).hasQuorum;
  const hadReplicas = model.replicas.some((r) => r.vm);
  let current = model;
  for (const step of plan.steps) {
    current = applyPlanStep(current, step);
    if (plan.operation !== 'down') {
      expect(invariantViolations(current, { hadQuorum, hadReplicas }), step.id).toEqual([]);
    }
  }
  expect(plannedStateOf(current)).toEqual(plan.expected);
  return current;
}

function kinds(plan: Plan): string[] {
  return plan.steps.map((step) => step.id);
}

function indexOf(plan: Plan, predicate: (action: StepAction) => boolean): number {
  return plan.steps.findIndex((step) => predicate(step.action));
}

function cluster(options: { multizone?: boolean; replicas?: number } = {}): ClusterModel {
  let model = newClusterModel({ cluster: 'kubernetes', zones: ZONES });
  model = execute(
    model,
    planUp({ cluster: 'kubernetes', zone: 'europe-west1-b', multizone: options.multizone ?? true }),
  );
  const zones = ['europe-west1-c', 'europe-west1-d', 'europe-west1-b', 'europe-west1-c'];
  const suffixes = ['a01', 'b02', 'c03', 'd04'];
  for (let i = 1; i < (options.replicas ?? 1); i++) {
    const zone = options.multizone === false ? 'europe-west1-b' : (zones[i - 1] as string);
    model = execute(
      model,
      planReplicate(viewOf(model), { zone, randomHex: hexes(suffixes[i - 1] as string) }),
    );
  }
  return model;
}

describe('planUp', () => {
  it('creates the first replica in the safe order and attaches the address to it', () => {
    const plan = planUp({
      cluster: 'kubernetes',
      zone: 'europe-west1-b',
      multizone: true,
      quorumReads: true,
    });
    expect(kinds(plan)).toEqual([
      'validate-zone:europe-west1-b',
      'reserve-address',
      'ensure-firewall',
      'create-pki',
      'write-record',
      'issue-certs:kubernetes-master',
      'create-instance:kubernetes-master',
      'wait-healthy:kubernetes-master',
      'attach-address:kubernetes-master',
    ]);
    expect(plan.steps[6]?.action).toEqual({
      kind: 'create-instance',
      replica: 'kubernetes-master',
      zone: 'europe-west1-b',
      etcdState: 'new',
    });
    expect(plan.expected).toEqual({
      replicas: [{ name: 'kubernetes-master', zone: 'europe-west1-b' }],
      endpoint: { mode: 'attached', replica: 'kubernetes-master' },
    });
    execute(newClusterModel({ cluster: 'kubernetes', zones: ZONES }), plan);
  });

  it('refuses a malformed zone, a zone the provider lacks, and a bad cluster name', () => {
    expect(() => planUp({ cluster: 'kubernetes', zone: 'europe' })).toThrowError(
      expect.objectContaining({ code: 'ZONE_INVALID' }),
    );
    expect(() => planUp({ cluster: 'kubernetes', zone: 'asia-east1-a', zones: ZONES })).toThrowError(
      expect.objectContaining({ code: 'ZONE_INVALID' }),
    );
    expect(() => planUp({ cluster: 'Kube', zone: 'europe-west1-b' })).toThrowError(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('planReplicate', () => {
  it('1→2: learner first, then the load balancer with the first replica, then the address, then the target', () => {
    const model = cluster();
    const plan = planReplicate(viewOf(model), { zone: 'europe-west1-c', randomHex: hexes('a1f') });
    const learner = indexOf(plan, (a) => a.kind === 'add-learner');
    const instance = indexOf(plan, (a) => a.kind === 'create-instance');
    const promote = indexOf(plan, (a) => a.kind === 'promote-learner');
    const snapshot = indexOf(plan, (a) => a.kind === 'snapshot');
    const lb = indexOf(plan, (a) => a.kind === 'endpoint' && a.step.action === 'create-load-balancer');
    const move = indexOf(
      plan,
      (a) => a.kind === 'endpoint' && a.step.action === 'move-address-to-load-balancer',
    );
    const target = indexOf(plan, (a) => a.kind === 'endpoint' && a.step.action === 'add-target');
    expect(snapshot).toBeGreaterThanOrEqual(0);
    expect(snapshot).toBeLessThan(learner);
    expect(learner).toBeLessThan(instance);
    expect(instance).toBeLessThan(promote);
    expect(promote).toBeLessThan(lb);
    expect(lb).toBeLessThan(move);
    expect(move).toBeLessThan(target);
    expect(plan.steps[lb]?.action).toMatchObject({
      step: { targets: ['kubernetes-master'], healthCheck: {} },
    });
    expect(plan.steps[instance]?.action).toMatchObject({
      replica: 'kubernetes-master-a1f',
      etcdState: 'existing',
    });
    expect(plan.steps[learner]?.action).toEqual({ kind: 'add-learner', replica: 'kubernetes-master-a1f' });
    expect(plan.expected.endpoint).toEqual({
      mode: 'load-balanced',
      targets: ['kubernetes-master', 'kubernetes-master-a1f'],
    });
    expect(plan.warnings.map((w) => w.code)).toContain('TWO_REPLICAS');
    expect(plan.onFailure.map((s) => s.action.kind)).toEqual(['remove-member', 'delete-instance']);
    execute(model, plan);
  });

  it('2→3 adds a target only, and the two-replica warning is gone', () => {
    const model = cluster({ replicas: 2 });
    const plan = planReplicate(viewOf(model), { zone: 'europe-west1-d', randomHex: hexes('0b3') });
    const endpointSteps = plan.steps.filter((s) => s.action.kind === 'endpoint').map((s) => s.id);
    expect(endpointSteps).toEqual(['add-target:kubernetes-master-0b3']);
    expect(plan.warnings.map((w) => w.code)).not.toContain('TWO_REPLICAS');
    execute(model, plan);
  });

  it('picks the zone with the fewest replicas when none is given', () => {
    const model = cluster({ replicas: 2 });
    const plan = planReplicate(viewOf(model), { randomHex: hexes('0b3') });
    expect(plan.expected.replicas.find((r) => r.name === 'kubernetes-master-0b3')?.zone).toBe(
      'europe-west1-d',
    );
  });

  it('refuses a zone in another region, and another zone without multizone', () => {
    const model = cluster();
    const error = (() => {
      try {
        planReplicate(viewOf(model), { zone: 'us-east1-b' });
      } catch (caught) {
        return caught;
      }
    })();
    expect(isHacpError(error, 'ZONE_NOT_IN_REGION')).toBe(true);
    expect((error as Error).message).toContain('us-east1-b');
    const single = cluster({ multizone: false });
    expect(() => planReplicate(viewOf(single), { zone: 'europe-west1-c' })).toThrowError(
      expect.objectContaining({ code: 'MULTIZONE_REQUIRED' }),
    );
    const plan = planReplicate(viewOf(single), { randomHex: hexes('abc') });
    expect(plan.expected.replicas.every((r) => r.zone === 'europe-west1-b')).toBe(true);
  });

  it('refuses while a learner exists or a voter is down', () => {
    const model = cluster({ replicas: 3 });
    const view = viewOf(model);
    const withLearner = {
      ...view,
      members: [...view.members, { id: '99', name: '', learner: true, started: false, healthy: false }],
    };
    expect(() => planReplicate(withLearner)).toThrowError(
      expect.objectContaining({ code: 'LEARNER_PRESENT' }),
    );
    const failed = failReplica(model, 'kubernetes-master-b02');
    expect(() => planReplicate(viewOf(failed))).toThrowError(
      expect.objectContaining({ code: 'QUORUM_AT_RISK' }),
    );
  });

  it('refuses a taken or malformed name', () => {
    const view = viewOf(cluster({ replicas: 2 }));
    expect(() => planReplicate(view, { name: 'kubernetes-master-a01' })).toThrowError(
      expect.objectContaining({ code: 'ALREADY_EXISTS' }),
    );
    expect(() => planReplicate(view, { name: 'kubernetes-master-old-backup' })).toThrowError(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('planRemove', () => {
  it('removing the penultimate replica deletes the load balancer and gives the address back', () => {
    const model = cluster({ replicas: 2 });
    const plan = planRemove(viewOf(model), { zone: 'europe-west1-c' });
    expect(kinds(plan)).toEqual([
      'preflight:kubernetes-master-a01',
      'snapshot',
      'remove-target:kubernetes-master-a01',
      'remove-member:kubernetes-master-a01',
      'delete-instance:kubernetes-master-a01',
      'delete-identity-lease:kubernetes-master-a01',
      'move-address-to-replica:kubernetes-master',
      'delete-load-balancer',
    ]);
    expect(plan.expected.endpoint).toEqual({ mode: 'attached', replica: 'kubernetes-master' });
    execute(model, plan);
  });

  it("stops a Kubernetes replica's components once it gets no traffic, before its member goes", () => {
    const model = cluster({ replicas: 2 });
    const plan = planRemove({ ...viewOf(model), kubernetes: true }, { zone: 'europe-west1-c' });
    expect(kinds(plan).slice(2, 5)).toEqual([
      'remove-target:kubernetes-master-a01',
      'stop-kubernetes:kubernetes-master-a01',
      'remove-member:kubernetes-master-a01',
    ]);
    expect(kinds(planRemove(viewOf(model), { zone: 'europe-west1-c' }))).not.toContain(
      'stop-kubernetes:kubernetes-master-a01',
    );
    execute(model, plan);
  });

  it('moves leadership away before removing the leader', () => {
    const model = cluster({ replicas: 3 });
    const view = viewOf(model);
    const leader = view.leaderName as string;
    const plan = planRemove(view, { name: leader });
    const move = indexOf(plan, (a) => a.kind === 'move-leader');
    const remove = indexOf(plan, (a) => a.kind === 'remove-member');
    expect(move).toBeGreaterThan(0);
    expect(move).toBeLessThan(remove);
    execute(model, plan);
  });

  it('by zone without a name prefers the unhealthy replica there', () => {
    let model = cluster({ replicas: 5 });
    // europe-west1-c holds kubernetes-master-a01 and kubernetes-master-d04.
    model = failReplica(model, 'kubernetes-master-a01');
    const plan = planRemove(viewOf(model), { zone: 'europe-west1-c' });
    expect(plan.steps.find((s) => s.action.kind === 'remove-member')?.action).toMatchObject({
      replica: 'kubernetes-master-a01',
    });
    execute(model, plan);
  });

  it('with a name in another zone than given refuses, naming where it is', () => {
    const view = viewOf(cluster({ replicas: 3 }));
    expect(() => planRemove(view, { zone: 'europe-west1-d', name: 'kubernetes-master-a01' })).toThrowError(
      expect.objectContaining({ code: 'REPLICA_NOT_FOUND' }),
    );
    expect(() => planRemove(view, { name: 'kubernetes-master-a0' })).toThrowError(
      expect.objectContaining({ code: 'REPLICA_NOT_FOUND' }),
    );
  });

  it('warns when it ends at two replicas, refuses the last one and what would lose quorum', () => {
    const three = cluster({ replicas: 3 });
    expect(planRemove(viewOf(three), { zone: 'europe-west1-d' }).warnings.map((w) => w.code)).toContain(
      'TWO_REPLICAS',
    );
    expect(() => planRemove(viewOf(cluster()), {})).toThrowError(
      expect.objectContaining({ code: 'LAST_REPLICA' }),
    );
    const degraded = failReplica(three, 'kubernetes-master-b02');
    expect(() => planRemove(viewOf(degraded), { name: 'kubernetes-master-a01' })).toThrowError(
      expect.objectContaining({ code: 'QUORUM_AT_RISK' }),
    );
    // The member that is already down can go.
    execute(degraded, planRemove(viewOf(degraded), { name: 'kubernetes-master-b02' }));
  });
});

describe('planReplace', () => {
  it('removes the broken replica, then adds one in its zone', () => {
    const model = failReplica(cluster({ replicas: 3 }), 'kubernetes-master-b02');
    const plan = planReplace(viewOf(model), { name: 'kubernetes-master-b02', randomHex: hexes('e05') });
    const removed = indexOf(plan, (a) => a.kind === 'remove-member');
    const added = indexOf(plan, (a) => a.kind === 'add-learner');
    expect(removed).toBeLessThan(added);
    expect(plan.expected.replicas).toContainEqual({ name: 'kubernetes-master-e05', zone: 'europe-west1-d' });
    expect(plan.expected.replicas.map((r) => r.name)).not.toContain('kubernetes-master-b02');
    execute(model, plan);
  });

  it('replaces a healthy replica new before old, or old before new with surge: false (a rollout at maxSurge 0)', () => {
    const model = cluster({ replicas: 3 });
    const options = { name: 'kubernetes-master-b02', randomHex: hexes('e05'), keepData: false };
    const surged = planReplace(viewOf(model), options);
    const order = (plan: typeof surged) => [
      indexOf(plan, (a) => a.kind === 'add-learner'),
      indexOf(plan, (a) => a.kind === 'remove-member'),
    ];
    const [addedFirst, removedAfter] = order(surged);
    expect(addedFirst).toBeLessThan(removedAfter as number);
    const oldFirst = planReplace(viewOf(model), { ...options, surge: false });
    const [addedLast, removedFirst] = order(oldFirst);
    expect(removedFirst).toBeLessThan(addedLast as number);
    expect(oldFirst.expected.replicas).toContainEqual({
      name: 'kubernetes-master-e05',
      zone: 'europe-west1-d',
    });
    execute(model, oldFirst);
  });

  it('migrates the member when the data disk survived: same name, disk kept, nothing re-streamed', () => {
    const model = failReplica(cluster({ replicas: 3 }), 'kubernetes-master-b02');
    const plan = planReplace(viewOf(model), { name: 'kubernetes-master-b02', dataDiskIntact: true });
    expect(plan.steps.some((s) => s.action.kind === 'add-learner' || s.action.kind === 'remove-member')).toBe(
      false,
    );
    expect(plan.steps.find((s) => s.action.kind === 'delete-instance')?.action).toMatchObject({
      keepDisk: true,
    });
    expect(plan.steps.some((s) => s.action.kind === 'migrate-member')).toBe(true);
    execute(model, plan);
  });
});

/** The view of `model` with the provider reporting the named replicas' data disks intact. */
function withIntactDisks(model: ClusterModel, ...names: string[]): ClusterView {
  const view = viewOf(model);
  return {
    ...view,
    replicas: view.replicas.map((r) => (names.includes(r.name) ? { ...r, dataDiskIntact: true } : r)),
  };
}

describe('planReplace keepData (member migration)', () => {
  const victim = 'kubernetes-master-b02';

  it('migrates a broken replica whose disk the provider reports intact, on its own, and says so', () => {
    const model = failReplica(cluster({ replicas: 3 }), victim);
    const plan = planReplace(withIntactDisks(model, victim), { name: victim, randomHex: hexes('e05') });
    expect(kinds(plan)).toEqual([
      'preflight',
      'snapshot',
      `remove-target:${victim}`,
      `delete-instance:${victim}`,
      `issue-certs:${victim}`,
      `migrate-member:${victim}`,
      `create-instance:${victim}`,
      `wait-healthy:${victim}`,
      `add-target:${victim}`,
    ]);
    expect(plan.steps[0]?.title).toMatch(/keeping its id and data: its data disk survived/);
    expect(plan.steps[0]?.title).toContain('--no-keep-data');
    expect(plan.expected.replicas.map((r) => r.name)).toContain(victim);
    execute(model, plan);
  });

  it('keepData: false removes the member and adds a new one although the disk survived', () => {
    const model = failReplica(cluster({ replicas: 3 }), victim);
    const plan = planReplace(withIntactDisks(model, victim), {
      name: victim,
      keepData: false,
      randomHex: hexes('e05'),
    });
    expect(plan.steps.some((s) => s.action.kind === 'migrate-member')).toBe(false);
    expect(indexOf(plan, (a) => a.kind === 'remove-member')).toBeLessThan(
      indexOf(plan, (a) => a.kind === 'add-learner'),
    );
    execute(model, plan);
  });

  it('replaces a healthy replica by surge unless asked: surge never takes a voter down', () => {
    const model = cluster({ replicas: 3 });
    const view = withIntactDisks(model, victim);
    const surge = planReplace(view, { name: victim, randomHex: hexes('e05') });
    expect(surge.steps.some((s) => s.action.kind === 'migrate-member')).toBe(false);
    expect(indexOf(surge, (a) => a.kind === 'add-learner')).toBeGreaterThanOrEqual(0);
    const asked = planReplace(view, { name: victim, keepData: true });
    expect(asked.steps.some((s) => s.action.kind === 'migrate-member')).toBe(true);
    expect(asked.steps[0]?.title).toContain('as asked (--keep-data)');
    execute(model, asked);
  });

  it('keepData: true is refused where the disk is not reported intact, naming --no-keep-data, view unchanged', () => {
    const view = viewOf(failReplica(cluster({ replicas: 3 }), victim));
    const before = JSON.stringify(view);
    const error = thrownBy(() => planReplace(view, { name: victim, keepData: true }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('--keep-data');
    expect(error.actions.join(' ')).toContain('--no-keep-data');
    expect(JSON.stringify(view)).toBe(before);
  });

  it('keepData: true is refused when the others would not keep quorum while the member is down', () => {
    const model = failReplica(failReplica(cluster({ replicas: 3 }), victim), 'kubernetes-master-a01');
    const view = withIntactDisks(model, victim);
    const before = JSON.stringify(view);
    const error = thrownBy(() => planReplace(view, { name: victim, keepData: true }));
    // Two of three down: quorum is lost already, and the way out is named.
    expect(error.code).toBe('QUORUM_LOST');
    expect(error.message).toMatch(/1 of 3 etcd voters is healthy, and it needs 2/);
    expect(JSON.stringify(view)).toBe(before);
    // At two replicas, both healthy: migrating one would leave one voter of two.
    const two = withIntactDisks(cluster({ replicas: 2 }), 'kubernetes-master-a01');
    const atRisk = thrownBy(() => planReplace(two, { name: 'kubernetes-master-a01', keepData: true }));
    expect(atRisk.code).toBe('QUORUM_AT_RISK');
    expect(atRisk.message).toMatch(/leaving 1 healthy voter\(s\) of 2; etcd needs 2/);
  });

  it('keepData: true is refused for a replica whose member is a learner, naming --no-keep-data', () => {
    const view = withIntactDisks(cluster({ replicas: 3 }), victim);
    const learner = {
      ...view,
      members: view.members.map((m) => (m.name === victim ? { ...m, learner: true } : m)),
    };
    const before = JSON.stringify(learner);
    const error = thrownBy(() => planReplace(learner, { name: victim, keepData: true }));
    expect(error.code).toBe('REPLICA_NOT_FOUND');
    expect(error.actions.join(' ')).toContain('--no-keep-data');
    expect(JSON.stringify(learner)).toBe(before);
  });
});

describe('planReplace with a surviving disk and the address on the replica', () => {
  it('refuses to migrate the replica the endpoint address is attached to (an interrupted 1→2), changing nothing', () => {
    const view = viewOf(cluster({ replicas: 2 }));
    const attached = { ...view, endpoint: { mode: 'attached' as const, replica: 'kubernetes-master' } };
    const before = JSON.stringify(attached);
    expect(() => planReplace(attached, { name: 'kubernetes-master', dataDiskIntact: true })).toThrowError(
      expect.objectContaining({ code: 'CONFLICT' }),
    );
    expect(JSON.stringify(attached)).toBe(before);
  });
});

describe('planRepair', () => {
  it('removes a stuck learner and replaces an unhealthy replica', () => {
    let model = cluster({ replicas: 3 });
    // A replicate interrupted after its learner was added.
    model = applyPlanStep(model, {
      id: 'add-learner:kubernetes-master-fff',
      title: '',
      action: { kind: 'add-learner', replica: 'kubernetes-master-fff' },
      preconditions: [],
    });
    model = failReplica(model, 'kubernetes-master-b02');
    const plan = planRepair(viewOf(model), { randomHex: hexes('f06') });
    // One snapshot, before the first member removal, for the whole repair.
    expect(plan.steps[0]?.action).toEqual({ kind: 'snapshot' });
    expect(plan.steps[1]?.action).toMatchObject({ kind: 'remove-member', memberId: expect.any(String) });
    expect(plan.steps.filter((s) => s.action.kind === 'snapshot')).toHaveLength(1);
    expect(plan.steps.filter((s) => s.action.kind === 'remove-member')).toHaveLength(2);
    expect(plan.expected.replicas.map((r) => r.name)).toContain('kubernetes-master-f06');
    expect(plan.expected.replicas.map((r) => r.name)).not.toContain('kubernetes-master-b02');
    execute(model, plan);
  });

  it('restores an endpoint that does not serve before anything else, and only then', () => {
    const model = cluster({ replicas: 3 });
    const dead = planRepair({ ...viewOf(model), endpointServing: false });
    expect(kinds(dead)).toEqual(['restore-endpoint']);
    execute(model, dead);
    expect(planRepair({ ...viewOf(model), endpointServing: true }).steps).toEqual([]);
    expect(planRepair(viewOf(model)).steps).toEqual([]);
  });

  it('defers, with a warning, a fix that would lose quorum', () => {
    let model = cluster({ replicas: 3 });
    model = failReplica(failReplica(model, 'kubernetes-master-a01'), 'kubernetes-master-b02');
    const plan = planRepair(viewOf(model));
    expect(plan.steps).toEqual([]);
    expect(plan.warnings.filter((w) => w.code === 'REPAIR_DEFERRED')).toHaveLength(2);
  });

  it('does nothing on a healthy cluster', () => {
    const plan = planRepair(viewOf(cluster({ replicas: 3 })));
    expect(plan.steps).toEqual([]);
  });
});

/** The model after someone deleted the replica's instance outside hacp: its member and target stay. */
function vanish(model: ClusterModel, name: string): ClusterModel {
  return reelectNothing({
    ...model,
    replicas: model.replicas.filter((r) => r.name !== name),
    endpoint: { ...model.endpoint, replicas: model.endpoint.replicas.filter((r) => r !== name) },
  });
}

/** The model after someone took the replica out of the load balancer's targets. */
function untarget(model: ClusterModel, name: string): ClusterModel {
  const lb = model.endpoint.loadBalancer;
  if (lb === undefined) throw new Error('no load balancer');
  return {
    ...model,
    endpoint: { ...model.endpoint, loadBalancer: { ...lb, targets: lb.targets.filter((t) => t !== name) } },
  };
}

const reelectNothing = (model: ClusterModel) =>
  model.leader !== undefined && model.replicas.some((r) => r.name === model.leader && r.vm)
    ? model
    : {
        ...model,
        leader: model.members.find(
          (m) => m.name !== '' && model.replicas.some((r) => r.name === m.name && r.vm),
        )?.name,
      };

/** The view with the replica's instance stopped (the model's replica down). */
function stoppedView(model: ClusterModel, name: string) {
  const view = viewOf(failReplica(model, name));
  return { ...view, replicas: view.replicas.map((r) => (r.name === name ? { ...r, stopped: true } : r)) };
}

describe('drift: changes made outside hacp', () => {
  it('repair starts an instance stopped by hand, keeping its disk and member: no replica is replaced', () => {
    const model = cluster({ replicas: 3 });
    const view = stoppedView(model, 'kubernetes-master-a01');
    const plan = planRepair(view);
    expect(kinds(plan)).toEqual([
      'start-instance:kubernetes-master-a01',
      'wait-healthy:kubernetes-master-a01',
    ]);
    expect(plan.steps[0]?.action).toEqual({
      kind: 'start-instance',
      replica: 'kubernetes-master-a01',
      zone: 'europe-west1-c',
    });
    execute(failReplica(model, 'kubernetes-master-a01'), plan);
  });

  it('repair leaves the replicas of a zone the provider reports down, with a warning naming zone restore, and starts nothing there', () => {
    const model = cluster({ replicas: 3 });
    const view = { ...stoppedView(model, 'kubernetes-master-a01'), downZones: ['europe-west1-c'] };
    const plan = planRepair(view);
    expect(plan.steps).toEqual([]);
    const warning = plan.warnings.find((w) => w.code === 'ZONE_DOWN');
    expect(warning?.message).toMatch(
      /Zone europe-west1-c is down: repair leaves kubernetes-master-a01 as it is/,
    );
    expect(warning?.message).toContain('`hacp zone restore europe-west1-c`');
    expect(plan.expected.replicas.map((r) => r.name)).toEqual(view.replicas.map((r) => r.name).sort());
  });

  it('repair deletes nothing in a zone that is down: not an unhealthy running replica, nor one without a member', () => {
    const model = cluster({ replicas: 5 });
    const view = viewOf(failReplica(failReplica(model, 'kubernetes-master-a01'), 'kubernetes-master-d04'));
    // Both are in europe-west1-c; a01 still runs (its member is dead), d04 lost its member.
    const down = {
      ...view,
      downZones: ['europe-west1-c'],
      members: view.members.filter((m) => m.name !== 'kubernetes-master-d04'),
    };
    const plan = planRepair(down);
    expect(plan.steps).toEqual([]);
    const zoneWarnings = plan.warnings.filter((w) => w.code === 'ZONE_DOWN');
    expect(zoneWarnings).toHaveLength(1);
    expect(zoneWarnings[0]?.message).toContain('kubernetes-master-a01, kubernetes-master-d04');
  });

  it('repair starts an instance whose processes died before it considers replacing it, and never a learner', () => {
    const model = cluster({ replicas: 3 });
    const view = stoppedView(model, 'kubernetes-master-b02');
    const plan = planRepair(view);
    expect(kinds(plan)).toEqual([
      'start-instance:kubernetes-master-b02',
      'wait-healthy:kubernetes-master-b02',
    ]);
    expect(plan.steps.map((s) => s.action.kind)).not.toContain('remove-member');
    // The same replica as a learner's instance: the learner goes, nothing is started.
    const asLearner = {
      ...view,
      members: view.members.map((m) => (m.name === 'kubernetes-master-b02' ? { ...m, learner: true } : m)),
    };
    expect(kinds(planRepair(asLearner))).not.toContain('start-instance:kubernetes-master-b02');
  });

  it('repair never deletes a replica whose instance the provider cannot see (unreachable), and says so', () => {
    const model = cluster({ replicas: 3 });
    const view = viewOf(failReplica(model, 'kubernetes-master-a01'));
    const unreachable = {
      ...view,
      replicas: view.replicas.map((r) =>
        r.name === 'kubernetes-master-a01' ? { ...r, unreachable: true } : r,
      ),
    };
    const plan = planRepair(unreachable);
    expect(plan.steps).toEqual([]);
    expect(plan.warnings.find((w) => w.code === 'REPAIR_DEFERRED')?.message).toMatch(
      /cannot tell the state of kubernetes-master-a01's instance/,
    );
    // The same replica, reachable: replaced in its zone.
    expect(kinds(planRepair(view))).toContain('remove-member:kubernetes-master-a01');
  });

  it('automatic zone choice skips a zone the provider reports down', () => {
    const view = viewOf(cluster({ replicas: 2 }));
    // europe-west1-d has no replica, so it would be chosen; down, the next emptiest is.
    const plan = planReplicate(view, { randomHex: hexes('e07') });
    expect(plan.expected.replicas.find((r) => r.name === 'kubernetes-master-e07')?.zone).toBe(
      'europe-west1-d',
    );
    const skipping = planReplicate({ ...view, downZones: ['europe-west1-d'] }, { randomHex: hexes('e07') });
    expect(skipping.expected.replicas.find((r) => r.name === 'kubernetes-master-e07')?.zone).not.toBe(
      'europe-west1-d',
    );
    // Every allowed zone down: the refusal names the zone, nothing is planned.
    const allDown = { ...view, downZones: ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'] };
    expect(thrownBy(() => planReplicate(allDown)).code).toBe('UNAVAILABLE');
  });

  it('replicate refuses a zone the provider reports down', () => {
    const view = { ...viewOf(cluster({ replicas: 1 })), downZones: ['europe-west1-c'] };
    const error = thrownBy(() => planReplicate(view, { zone: 'europe-west1-c' }));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.actions.join(' ')).toMatch(/another zone/);
  });

  it('repair adds back a healthy replica the load balancer does not target, and changes nothing else', () => {
    const model = untarget(cluster({ replicas: 3 }), 'kubernetes-master-b02');
    const plan = planRepair(viewOf(model));
    expect(kinds(plan)).toEqual(['add-target:kubernetes-master-b02']);
    execute(model, plan);
  });

  it('repair takes out the target and the member of an instance deleted by hand, through a remaining member', () => {
    const model = vanish(cluster({ replicas: 3 }), 'kubernetes-master-a01');
    const view = viewOf(model);
    expect(view.endpoint).toMatchObject({ targets: expect.arrayContaining(['kubernetes-master-a01']) });
    const plan = planRepair(view);
    expect(kinds(plan)).toEqual([
      'drop-target:kubernetes-master-a01',
      'snapshot',
      'remove-member:kubernetes-master-a01',
    ]);
    const after = execute(model, plan);
    expect(after.members.map((m) => m.name)).not.toContain('kubernetes-master-a01');
  });

  it('repair defers the member of a vanished instance when removing it would need the quorum it lacks', () => {
    const model = vanish(cluster({ replicas: 2 }), 'kubernetes-master-a01');
    const plan = planRepair(viewOf(model));
    // The target still goes (the load balancer keeps the other one); the member cannot.
    expect(kinds(plan)).toEqual(['drop-target:kubernetes-master-a01']);
    expect(plan.warnings.map((w) => w.code)).toContain('REPAIR_DEFERRED');
  });

  it('replicate, remove and replace refuse while a target has no instance, naming repair', () => {
    const view = viewOf(vanish(cluster({ replicas: 3 }), 'kubernetes-master-a01'));
    const healthyOnly = {
      ...view,
      members: view.members.filter((m) => m.name !== 'kubernetes-master-a01'),
    };
    for (const run of [
      () => planReplicate(healthyOnly, { zone: 'europe-west1-c' }),
      () => planRemove(healthyOnly, { name: 'kubernetes-master-b02' }),
      () => planReplace(healthyOnly, { name: 'kubernetes-master-b02' }),
    ]) {
      const error = thrownBy(run);
      expect(error.code).toBe('CONFLICT');
      expect(error.message).toMatch(/kubernetes-master-a01, whose instance is gone/);
      expect(error.actions.join(' ')).toMatch(/hacp repair/);
    }
  });

  it('replace of a replica whose instance is gone drops its target and member, then adds one in its zone', () => {
    const model = vanish(cluster({ replicas: 3 }), 'kubernetes-master-a01');
    const view = {
      ...viewOf(model),
      targetZones: { 'kubernetes-master-a01': 'europe-west1-c' },
    };
    const plan = planReplace(view, { name: 'kubernetes-master-a01', randomHex: hexes('e05') });
    const ids = kinds(plan);
    expect(ids.slice(0, 4)).toEqual([
      'drop-target:kubernetes-master-a01',
      'preflight:kubernetes-master-a01',
      'snapshot',
      'remove-member:kubernetes-master-a01',
    ]);
    // What its instance left (disk, network place) goes with its member, in the zone its target named.
    expect(ids[4]).toBe('delete-instance:kubernetes-master-a01');
    expect(plan.steps[4]?.action).toMatchObject({ zone: 'europe-west1-c', keepDisk: false });
    expect(ids).toContain('create-instance:kubernetes-master-e05');
    expect(plan.steps.find((s) => s.action.kind === 'create-instance')?.action).toMatchObject({
      zone: 'europe-west1-c',
    });
    execute(model, plan);
  });

  it('replace of a vanished replica whose member cannot go refuses with QUORUM_LOST, naming recover', () => {
    const view = viewOf(vanish(cluster({ replicas: 2 }), 'kubernetes-master-a01'));
    const error = thrownBy(() => planReplace(view, { name: 'kubernetes-master-a01' }));
    expect(error.code).toBe('QUORUM_LOST');
    expect(error.actions.at(-1)).toMatch(/run `hacp recover`/);
  });

  it('down deletes what is left of the cluster beyond what the record lists, before the record', () => {
    const plan = planDown(viewOf(cluster({ replicas: 2 })));
    expect(kinds(plan).slice(-2)).toEqual(['delete-leftovers', 'delete-record']);
  });
});

describe('planDown', () => {
  it('deletes everything and releases the address only here', () => {
    const model = cluster({ replicas: 3 });
    const plan = planDown(viewOf(model));
    expect(plan.steps[0]?.action.kind).toBe('snapshot');
    expect(plan.steps.filter((s) => s.action.kind === 'delete-instance')).toHaveLength(3);
    expect(kinds(plan)).toContain('release-address');
    expect(plan.steps.at(-1)?.action.kind).toBe('delete-record');
    const after = execute(model, plan);
    expect(after.endpoint.reserved).toBe(false);
    for (const other of [planUp({ cluster: 'k', zone: 'europe-west1-b' })]) {
      expect(kinds(other)).not.toContain('release-address');
    }
  });
});

describe('the firewall rules', () => {
  it('are carried by the plan: up ensures the rules it names, and down deletes them by name', () => {
    const up = planUp({ cluster: 'solo', zone: 'europe-west1-b' }).steps.find(
      (step) => step.action.kind === 'ensure-firewall',
    )?.action;
    expect(up).toEqual({
      kind: 'ensure-firewall',
      rules: [
        {
          name: 'solo-master-etcd',
          cluster: 'solo',
          protocol: 'tcp',
          ports: ['2379-2381'],
          from: 'replicas',
        },
        { name: 'solo-master-https', cluster: 'solo', protocol: 'tcp', ports: ['443', '6443'], from: 'any' },
      ],
    });
    const down = planDown(viewOf(cluster({ replicas: 1 }))).steps.find(
      (step) => step.action.kind === 'delete-firewall',
    )?.action;
    expect(down).toEqual({
      kind: 'delete-firewall',
      names: ['kubernetes-master-etcd', 'kubernetes-master-https'],
    });
  });
});

describe('planToJson', () => {
  it('is stable: the same plan gives the same text, with sorted keys', () => {
    const view = viewOf(cluster({ replicas: 2 }));
    const a = planToJson(planReplicate(view, { name: 'kubernetes-master-abc' }));
    const b = planToJson(planReplicate(view, { name: 'kubernetes-master-abc' }));
    expect(a).toBe(b);
    expect(a.endsWith('\n')).toBe(true);
    const parsed = JSON.parse(a);
    expect(Object.keys(parsed)).toEqual([...Object.keys(parsed)].sort());
    expect(parsed.operation).toBe('replicate');
  });
});

describe('the model of the cluster', () => {
  it('refuses an etcd change no healthy voter could take, and a removal only the removed member could', () => {
    let model = cluster({ replicas: 2 });
    const [first, second] = model.replicas.map((replica) => replica.name) as [string, string];
    const step = (action: StepAction) => ({ id: action.kind, title: '', action, preconditions: [] });
    const lonely = failReplica(model, second);
    expect(() => applyPlanStep(lonely, step({ kind: 'remove-member', replica: first }))).toThrowError(
      /without another healthy voter/,
    );
    model = failReplica(lonely, first);
    expect(() => applyPlanStep(model, step({ kind: 'snapshot' }))).toThrowError(/without a healthy voter/);
    expect(() => applyPlanStep(model, step({ kind: 'add-learner', replica: 'x' }))).toThrowError(
      /without a healthy voter/,
    );
  });
});
