import { describe, expect, it } from 'vitest';
import { FaultRegistry } from './faults.js';

const insert = {
  method: 'compute.instances.insert',
  path: '/compute/v1/projects/p/zones/z/instances',
  httpMethod: 'POST',
  mutating: true,
};
const get = {
  method: 'compute.instances.get',
  path: '/compute/v1/projects/p/zones/z/instances/x',
  httpMethod: 'GET',
  mutating: false,
};

describe('FaultRegistry', () => {
  it('lets `after` matching calls through, then fires `times` times', () => {
    const registry = new FaultRegistry();
    const fault = registry.add({
      match: { method: 'compute.instances.insert' },
      after: 1,
      times: 2,
      effect: { kind: 'http', status: 503 },
    });
    const fired = [1, 2, 3, 4].map(() => registry.take(insert).length);
    expect(fired).toEqual([0, 1, 1, 0]);
    expect(fault).toMatchObject({ seen: 4, fired: 2 });
    expect(registry.take(get)).toEqual([]);
  });

  it('matches path strings exactly, RegExps by test, HTTP methods in any case', () => {
    const registry = new FaultRegistry();
    registry.add({
      match: { path: get.path },
      times: Number.POSITIVE_INFINITY,
      effect: { kind: 'latency', ms: 1 },
    });
    registry.add({ match: { path: /\/instances$/, httpMethod: 'post' }, times: 5, effect: { kind: 'drop' } });
    expect(registry.take(get)).toEqual([{ kind: 'latency', ms: 1 }]);
    expect(registry.take(insert)).toEqual([{ kind: 'drop' }]);
    expect(registry.take({ ...insert, httpMethod: 'GET' })).toEqual([]);
  });

  it('applies operation errors to mutating calls only, and forgets removed or cleared faults', () => {
    const registry = new FaultRegistry();
    const quota = registry.add({
      match: {},
      times: 3,
      effect: { kind: 'operation-error', code: 'QUOTA_EXCEEDED' },
    });
    expect(registry.take(get)).toEqual([]);
    expect(quota.seen).toBe(0);
    expect(registry.take(insert)).toHaveLength(1);
    quota.remove();
    expect(registry.take(insert)).toEqual([]);
    registry.add({ match: {}, effect: { kind: 'drop' } });
    registry.clear();
    expect(registry.active).toEqual([]);
  });

  it('refuses rules it cannot honour', () => {
    const registry = new FaultRegistry();
    expect(() => registry.add({ match: {}, after: 1.5, effect: { kind: 'drop' } })).toThrow(RangeError);
    expect(() => registry.add({ match: {}, effect: { kind: 'latency', ms: -1 } })).toThrow(RangeError);
    expect(() => registry.add({ match: {}, effect: { kind: 'operation-error', code: ' ' } })).toThrow(
      RangeError,
    );
    expect(registry.active).toEqual([]);
  });
});
