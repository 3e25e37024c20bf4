import { firstReplicaName } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import {
  applyPlanStep,
  type ClusterModel,
  invariantViolations,
  newClusterModel,
  quorumState,
  viewOf,
} from './model.js';
import { planRemove, planReplicate, planUp } from './plans.js';
import { assertScaleTarget, nextScaleChange, planScale, type ScaleOptions } from './scale.js';
import { thrown } from './test-support.js';
import type { ClusterView, Plan } from './types.js';

const ZONES = ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'];
const FIRST = firstReplicaName('kubernetes');

/** Fresh 3-hex suffixes, one per call, so names never clash. */
function counter(): () => string {
  let n = 0x100;
  return () => (n++).toString(16);
}

function apply(model: ClusterModel, plan: Plan): ClusterModel {
  const had = { hadQuorum: quorumState(model).hasQuorum, hadReplicas: model.replicas.some((r) => r.vm) };
  let next = model;
  for (const step of plan.steps) {
    next = applyPlanStep(next, step);
    expect(invariantViolations(next, had)).toEqual([]);
  }
  return next;
}

function oneReplica(options: { multizone?: boolean } = {}): ClusterModel {
  const model = newClusterModel({ cluster: 'kubernetes', zones: ZONES });
  return apply(
    model,
    planUp({ cluster: 'kubernetes', zone: 'europe-west1-b', multizone: options.multizone ?? true }),
  );
}

/** Runs scale as the SDK does: the next change, planned on the cluster as it is, until none is left. */
function scale(
  model: ClusterModel,
  options: ScaleOptions,
  randomHex = counter(),
  view: (m: ClusterModel) => ClusterView = viewOf,
): ClusterModel {
  let current = model;
  for (let change = nextScaleChange(view(current), options); change !== undefined; ) {
    const plan =
      change.kind === 'add'
        ? planReplicate(view(current), { zone: change.zone, randomHex })
        : planRemove(view(current), { name: change.name });
    current = apply(current, plan);
    change = nextScaleChange(view(current), options);
  }
  return current;
}

const perZone = (model: ClusterModel) => {
  const counts: Record<string, number> = {};
  for (const replica of viewOf(model).replicas) counts[replica.zone] = (counts[replica.zone] ?? 0) + 1;
  return counts;
};

describe('scale', () => {
  it('from 1 to 3 puts one replica in each zone', () => {
    const three = scale(oneReplica(), { replicas: 3 });
    expect(perZone(three)).toEqual({ 'europe-west1-b': 1, 'europe-west1-c': 1, 'europe-west1-d': 1 });
  });

  it('from 3 to 5 over three zones gives 2/2/1, and back to 1 keeps the first', () => {
    const randomHex = counter();
    const five = scale(scale(oneReplica(), { replicas: 3 }, randomHex), { replicas: 5 }, randomHex);
    expect(Object.values(perZone(five)).sort()).toEqual([1, 2, 2]);
    const one = scale(five, { replicas: 1 }, randomHex);
    expect(viewOf(one).replicas.map((r) => r.name)).toEqual([FIRST]);
    expect(viewOf(one).endpoint).toEqual({ mode: 'attached', replica: FIRST });
  });

  it('removes from the zone with the most replicas, the first replica never', () => {
    const randomHex = counter();
    const five = scale(oneReplica(), { replicas: 5 }, randomHex);
    const view = viewOf(five);
    const change = nextScaleChange(view, { replicas: 3 });
    expect(change?.kind).toBe('remove');
    const counts = perZone(five);
    const most = Math.max(...Object.values(counts));
    expect(counts[change?.zone ?? '']).toBe(most);
    expect(change).not.toMatchObject({ name: FIRST });
  });

  it('adds to the zone with the fewest replicas among those that are up', () => {
    const two = scale(oneReplica(), { replicas: 2, allowEven: true });
    // b and c hold one each, d none: d is next, unless it is down.
    expect(nextScaleChange(viewOf(two), { replicas: 3 })).toEqual({ kind: 'add', zone: 'europe-west1-d' });
    const down = { ...viewOf(two), downZones: ['europe-west1-d'] };
    expect(nextScaleChange(down, { replicas: 3 })).toEqual({ kind: 'add', zone: 'europe-west1-b' });
  });

  it('with --zones adds only there and removes replicas outside them first', () => {
    const onlyBc = scale(oneReplica(), { replicas: 3, zones: ['europe-west1-b', 'europe-west1-c'] });
    expect(perZone(onlyBc)).toEqual({ 'europe-west1-b': 2, 'europe-west1-c': 1 });
    const three = scale(oneReplica(), { replicas: 3 });
    const dReplica = viewOf(three).replicas.find((r) => r.zone === 'europe-west1-d');
    const change = nextScaleChange(viewOf(three), {
      replicas: 1,
      zones: ['europe-west1-b', 'europe-west1-c'],
    });
    expect(change).toEqual({ kind: 'remove', name: dReplica?.name, zone: 'europe-west1-d' });
  });

  it('does nothing at the count it has', () => {
    const view = viewOf(scale(oneReplica(), { replicas: 3 }));
    expect(nextScaleChange(view, { replicas: 3 })).toBeUndefined();
    expect(planScale(view, { replicas: 3 }).steps).toEqual([]);
  });

  it('plans every change in order: 1 to 3 is two replicates, 3 to 1 two removes', () => {
    const randomHex = counter();
    const up = planScale(viewOf(oneReplica()), { replicas: 3, randomHex });
    expect(up.operation).toBe('scale');
    expect(up.steps.filter((s) => s.action.kind === 'add-learner')).toHaveLength(2);
    expect(up.expected.replicas.map((r) => r.zone).sort()).toEqual(ZONES);
    expect(up.warnings.map((w) => w.code)).not.toContain('TWO_REPLICAS');
    const three = scale(oneReplica(), { replicas: 3 }, randomHex);
    const down = planScale(viewOf(three), { replicas: 1 });
    expect(down.steps.filter((s) => s.action.kind === 'remove-member')).toHaveLength(2);
    expect(down.expected.replicas.map((r) => r.name)).toEqual([FIRST]);
    expect(down.expected.endpoint).toEqual({ mode: 'attached', replica: FIRST });
  });

  it('converges from any count to any odd count up to 7, keeping the first and spreading evenly', () => {
    for (let from = 1; from <= 7; from++) {
      const randomHex = counter();
      const start = scale(oneReplica(), { replicas: from, allowEven: true }, randomHex);
      for (const to of [1, 3, 5, 7]) {
        const end = scale(start, { replicas: to }, randomHex);
        const view = viewOf(end);
        expect(view.replicas).toHaveLength(to);
        expect(view.replicas.map((r) => r.name)).toContain(FIRST);
        const counts = ZONES.map((zone) => view.replicas.filter((r) => r.zone === zone).length);
        expect(Math.max(...counts) - Math.min(...counts), `${from} → ${to}: ${counts}`).toBeLessThanOrEqual(
          1,
        );
      }
    }
  });
});

describe('scale refusals: the reason, and nothing planned', () => {
  const view = () => viewOf(oneReplica());

  it('refuses an even count without allowEven, saying why', () => {
    for (const replicas of [2, 4, 6]) {
      const error = thrown(() => assertScaleTarget(view(), { replicas }));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(`${replicas} is an even count`);
      expect(error.actions.join(' ')).toContain('--allow-even');
      expect(() => planScale(view(), { replicas })).toThrow();
    }
    expect(thrown(() => assertScaleTarget(view(), { replicas: 2 })).message).toMatch(
      /both are needed for quorum/,
    );
    expect(() => assertScaleTarget(view(), { replicas: 4, allowEven: true })).not.toThrow();
  });

  it('refuses more than 7 without force, and 0 or a fraction always', () => {
    const error = thrown(() => assertScaleTarget(view(), { replicas: 9 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/more than 7, etcd's recommended largest cluster/);
    expect(error.actions.join(' ')).toContain('--force');
    expect(() => assertScaleTarget(view(), { replicas: 9, force: true })).not.toThrow();
    expect(thrown(() => assertScaleTarget(view(), { replicas: 8, force: true })).message).toContain('even');
    for (const replicas of [0, -1, 2.5])
      expect(thrown(() => assertScaleTarget(view(), { replicas, force: true, allowEven: true })).code).toBe(
        'INVALID_ARGUMENT',
      );
  });

  it('refuses zones outside the region, and other zones without multizone', () => {
    expect(thrown(() => assertScaleTarget(view(), { replicas: 3, zones: ['us-east1-b'] })).code).toBe(
      'ZONE_NOT_IN_REGION',
    );
    const single = viewOf(oneReplica({ multizone: false }));
    expect(thrown(() => assertScaleTarget(single, { replicas: 3, zones: ['europe-west1-c'] })).code).toBe(
      'MULTIZONE_REQUIRED',
    );
    expect(thrown(() => assertScaleTarget(view(), { replicas: 3, zones: [] })).code).toBe('INVALID_ARGUMENT');
    // In the region, but not a zone the provider offers.
    expect(thrown(() => assertScaleTarget(view(), { replicas: 3, zones: ['europe-west1-z'] })).code).toBe(
      'ZONE_INVALID',
    );
  });
});
