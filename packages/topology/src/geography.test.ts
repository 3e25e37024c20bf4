import type { HacpError } from '@hacp/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertReplicaZone, assertZone, checkReplicaZone, regionOfZone, zonesInRegion } from './geography.js';
import { thrown } from './test-support.js';

/** The error of a refused verdict, failing the test when the verdict is ok. */
function refusal(verdict: ReturnType<typeof checkReplicaZone>): HacpError {
  if (verdict.ok) throw new Error('expected a refusal');
  return verdict.error;
}

describe('re-exports', () => {
  it('regionOfZone drops the last part of the zone', () => {
    expect(regionOfZone('europe-west1-b')).toBe('europe-west1');
    expect(regionOfZone('local-a')).toBe('local');
  });

  it('assertZone refuses a malformed zone with ZONE_INVALID', () => {
    expect(thrown(() => assertZone('europe')).code).toBe('ZONE_INVALID');
    expect(() => assertZone('europe-west1-b')).not.toThrow();
  });
});

describe('checkReplicaZone', () => {
  const cluster = { region: 'europe-west1', firstZone: 'europe-west1-b' };

  it('allows the first zone without multizone', () => {
    expect(checkReplicaZone({ ...cluster, zone: 'europe-west1-b', multizone: false })).toEqual({ ok: true });
  });

  it('allows another zone of the region with multizone', () => {
    expect(checkReplicaZone({ ...cluster, zone: 'europe-west1-c', multizone: true })).toEqual({ ok: true });
  });

  it.each(['europe', '', 'Europe-West1-B', 'europe-west1-', '-b'])(
    'refuses the malformed zone "%s"',
    (zone) => {
      const error = refusal(checkReplicaZone({ ...cluster, zone, multizone: true }));
      expect(error.code).toBe('ZONE_INVALID');
      expect(error.details).toEqual({ zone });
    },
  );

  it('refuses a zone in another region (seed: us-east1-b for a cluster in europe-west1)', () => {
    const error = refusal(checkReplicaZone({ ...cluster, zone: 'us-east1-b', multizone: true }));
    expect(error.code).toBe('ZONE_NOT_IN_REGION');
    expect(error.message).toContain('us-east1-b');
    expect(error.message).toContain('us-east1');
    expect(error.message).toContain('europe-west1');
    expect(error.actions.join(' ')).toContain('europe-west1-b');
    expect(error.details).toEqual({
      zone: 'us-east1-b',
      zoneRegion: 'us-east1',
      region: 'europe-west1',
      firstZone: 'europe-west1-b',
    });
    expect(error.exitCode).toBe(2);
  });

  it('reports the region before multizone: a zone of another region is ZONE_NOT_IN_REGION', () => {
    const error = refusal(checkReplicaZone({ ...cluster, zone: 'us-east1-b', multizone: false }));
    expect(error.code).toBe('ZONE_NOT_IN_REGION');
    // Without multizone the only zone that works is the first one.
    expect(error.actions.join(' ')).toContain('europe-west1-b');
  });

  it('does not take a region that only starts like the cluster region', () => {
    const error = refusal(checkReplicaZone({ ...cluster, zone: 'europe-west10-a', multizone: true }));
    expect(error.code).toBe('ZONE_NOT_IN_REGION');
    expect(error.details.zoneRegion).toBe('europe-west10');
  });

  it('refuses another zone without multizone (seed: europe-west1-c when the first is europe-west1-b)', () => {
    const error = refusal(checkReplicaZone({ ...cluster, zone: 'europe-west1-c', multizone: false }));
    expect(error.code).toBe('MULTIZONE_REQUIRED');
    expect(error.message).toContain('europe-west1-c');
    expect(error.message).toContain('europe-west1-b');
    const actions = error.actions.join(' ');
    expect(actions).toContain('Use zone europe-west1-b');
    expect(actions).toContain('MULTIZONE=true');
    expect(actions).toContain('--multizone');
    expect(error.details).toEqual({
      zone: 'europe-west1-c',
      firstZone: 'europe-west1-b',
      region: 'europe-west1',
    });
  });

  const LOWER = [...'abcd'];
  const zoneArb = fc
    .tuple(fc.constantFrom('europe-west1', 'us-east1', 'local'), fc.constantFrom(...LOWER))
    .map(([region, suffix]) => `${region}-${suffix}`);

  it('allows exactly the zones of the region, and only the first zone without multizone', () => {
    fc.assert(
      fc.property(
        zoneArb,
        zoneArb,
        fc.boolean(),
        fc.constantFrom('europe-west1', 'us-east1'),
        (zone, firstZone, multizone, region) => {
          const verdict = checkReplicaZone({ zone, region, multizone, firstZone });
          const expected = regionOfZone(zone) === region && (multizone || zone === firstZone);
          expect(verdict.ok).toBe(expected);
        },
      ),
    );
  });
});

describe('assertReplicaZone', () => {
  it('returns for an allowed zone', () => {
    expect(
      assertReplicaZone({
        zone: 'europe-west1-c',
        region: 'europe-west1',
        multizone: true,
        firstZone: 'europe-west1-b',
      }),
    ).toBeUndefined();
  });

  it.each([
    ['bad', 'ZONE_INVALID'],
    ['us-east1-b', 'ZONE_NOT_IN_REGION'],
    ['europe-west1-c', 'MULTIZONE_REQUIRED'],
  ])('throws the refusal for %s: %s', (zone, code) => {
    const options = { zone, region: 'europe-west1', multizone: false, firstZone: 'europe-west1-b' };
    const error = thrown(() => assertReplicaZone(options));
    expect(error.code).toBe(code);
    expect(error.message).toBe(refusal(checkReplicaZone(options)).message);
  });
});

describe('zonesInRegion', () => {
  it('keeps the zones of the region, sorted, without duplicates or malformed names', () => {
    expect(
      zonesInRegion(
        ['europe-west1-d', 'us-east1-b', 'europe-west1-b', 'europe-west10-a', 'nonsense', 'europe-west1-b'],
        'europe-west1',
      ),
    ).toEqual(['europe-west1-b', 'europe-west1-d']);
  });

  it('is empty when no zone is in the region', () => {
    expect(zonesInRegion(['us-east1-b'], 'europe-west1')).toEqual([]);
    expect(zonesInRegion([], 'europe-west1')).toEqual([]);
  });
});
