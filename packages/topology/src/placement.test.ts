import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { placementWarnings, suggestZone } from './placement.js';
import { zoneLossAnalysis } from './quorum.js';
import { thrown } from './test-support.js';
import { WarningCode } from './types.js';

const B = 'europe-west1-b';
const C = 'europe-west1-c';
const D = 'europe-west1-d';

describe('suggestZone', () => {
  it('takes the zone with the fewest replicas', () => {
    expect(suggestZone([{ zone: B }, { zone: C }, { zone: B }], [B, C, D])).toBe(D);
    expect(suggestZone([{ zone: B }, { zone: D }, { zone: B }, { zone: D }], [B, C, D])).toBe(C);
  });

  it('breaks ties by name, whatever the order of the zones given', () => {
    expect(suggestZone([{ zone: B }], [D, C, B])).toBe(C);
    expect(suggestZone([], [D, C, B])).toBe(B);
  });

  it('ignores replicas in zones that are not offered', () => {
    expect(suggestZone([{ zone: 'us-east1-b' }, { zone: 'us-east1-b' }, { zone: C }], [C, D])).toBe(D);
  });

  it('refuses an empty zone list with INVALID_ARGUMENT on zones', () => {
    const error = thrown(() => suggestZone([{ zone: B }], []));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('zones');
  });

  it('returns an offered zone with the minimal count, the first by name among those', () => {
    const zone = fc.constantFrom('z-a', 'z-b', 'z-c', 'z-d', 'z-e');
    fc.assert(
      fc.property(
        fc.array(
          zone.map((name) => ({ zone: name })),
          { maxLength: 12 },
        ),
        fc.array(zone, { minLength: 1, maxLength: 5 }),
        (replicas, zones) => {
          const chosen = suggestZone(replicas, zones);
          const count = (name: string) => replicas.filter((replica) => replica.zone === name).length;
          expect(zones).toContain(chosen);
          const minimum = Math.min(...zones.map(count));
          expect(count(chosen)).toBe(minimum);
          const tied = zones.filter((name) => count(name) === minimum).sort();
          expect(chosen).toBe(tied[0]);
        },
      ),
    );
  });
});

describe('placementWarnings', () => {
  const replica = (name: string, zone: string, healthy?: boolean) =>
    healthy === undefined ? { name, zone } : { name, zone, healthy };
  const codes = (replicas: Parameters<typeof placementWarnings>[0]) =>
    placementWarnings(replicas).map((warning) => warning.code);

  it('has nothing to say about no replica, one replica, or three in three zones', () => {
    expect(placementWarnings([])).toEqual([]);
    expect(placementWarnings([replica('kubernetes-master', B)])).toEqual([]);
    expect(placementWarnings([replica('a', B), replica('b', C), replica('c', D)])).toEqual([]);
  });

  it('warns about two replicas (seed: less available than one; add a third)', () => {
    const warnings = placementWarnings([
      replica('kubernetes-master', B),
      replica('kubernetes-master-a1f', C),
    ]);
    expect(warnings).toEqual([
      {
        code: 'TWO_REPLICAS',
        message: 'Two replicas are less available than one: both are needed for quorum; add a third.',
      },
    ]);
  });

  it('warns about two replicas in one zone twice over', () => {
    const warnings = placementWarnings([replica('a', B), replica('b', B)]);
    expect(warnings.map((warning) => warning.code)).toEqual(['TWO_REPLICAS', 'SINGLE_ZONE']);
    expect(warnings[1]!.message).toContain(`zone ${B}`);
    expect(warnings[1]!.message).toContain('multizone');
  });

  it.each([4, 6, 8])('warns about an even count of %i', (count) => {
    const zones = ['z-a', 'z-b', 'z-c', 'z-d', 'z-e', 'z-f', 'z-g', 'z-h'];
    const replicas = Array.from({ length: count }, (_, index) => replica(`r${index}`, zones[index]!));
    const warnings = placementWarnings(replicas);
    expect(warnings).toEqual([
      {
        code: 'EVEN_COUNT',
        message: `${count} replicas tolerate no more failures than ${count - 1}; add or remove one.`,
      },
    ]);
  });

  it('does not call an odd count even', () => {
    expect(
      codes([
        replica('a', 'z-a'),
        replica('b', 'z-b'),
        replica('c', 'z-c'),
        replica('d', 'z-d'),
        replica('e', 'z-e'),
      ]),
    ).toEqual([]);
  });

  it('warns about every replica in one zone, naming it', () => {
    const warnings = placementWarnings([replica('a', B), replica('b', B), replica('c', B)]);
    expect(warnings.map((warning) => warning.code)).toEqual(['SINGLE_ZONE']);
    expect(warnings[0]!.message).toBe(
      `All 3 replicas are in zone ${B}: an outage of zone ${B} takes the control plane down; add replicas in other zones (\`hacp replicate --zone <zone>\`, where the cluster was made with --multizone).`,
    );
  });

  it('does not advise other zones to a cluster made without multizone, which cannot change', () => {
    const [warning] = placementWarnings([replica('a', B), replica('b', B), replica('c', B)], {
      multizone: false,
    });
    expect(warning?.message).toContain('made without --multizone, which cannot change after `hacp up`');
    expect(warning?.message).not.toContain('hacp replicate --zone');
  });

  it('warns when losing one zone loses quorum, with the verdict', () => {
    const replicas = [replica('a', B), replica('b', B), replica('c', C)];
    const warnings = placementWarnings(replicas);
    expect(warnings.map((warning) => warning.code)).toEqual(['ZONE_LOSS_LOSES_QUORUM']);
    expect(warnings[0]!.message).toContain(`losing zone ${B} loses quorum`);
    expect(warnings[0]!.message).toContain(zoneLossAnalysis(replicas).verdict);
    expect(warnings[0]!.message).toContain('spread them');
  });

  it('advises repair, not spreading, where the replicas are spread well but some are unhealthy', () => {
    const [warning] = placementWarnings([replica('a', B), replica('b', C, false), replica('c', D)]);
    expect(warning?.code).toBe('ZONE_LOSS_LOSES_QUORUM');
    expect(warning?.message).toContain('repair them (`hacp repair`)');
    expect(warning?.message).not.toContain('spread');
  });

  it('does not warn about zone loss for fewer than three replicas', () => {
    expect(codes([replica('a', B), replica('b', C)])).not.toContain('ZONE_LOSS_LOSES_QUORUM');
  });

  it('warns about each unhealthy replica by name, last and in name order', () => {
    const warnings = placementWarnings([
      replica('kubernetes-master-f00', C, false),
      replica('kubernetes-master', B),
      replica('kubernetes-master-0ab', D, false),
    ]);
    expect(warnings.map((warning) => warning.code)).toEqual([
      'ZONE_LOSS_LOSES_QUORUM',
      'UNHEALTHY_REPLICA',
      'UNHEALTHY_REPLICA',
    ]);
    expect(warnings[1]!.message).toContain('kubernetes-master-0ab');
    expect(warnings[1]!.message).toContain(D);
    expect(warnings[2]!.message).toContain('kubernetes-master-f00');
    expect(warnings[2]!.message).toContain(C);
  });

  it('orders warnings by code order, then replica name, and agrees with the counts', () => {
    const order: string[] = Object.values(WarningCode);
    const replicasArb = fc
      .array(fc.record({ zone: fc.constantFrom('z-a', 'z-b', 'z-c'), healthy: fc.option(fc.boolean()) }), {
        maxLength: 8,
      })
      .map((replicas) =>
        replicas.map((entry, index) =>
          entry.healthy === null
            ? { name: `r${(index * 7) % 10}${index}`, zone: entry.zone }
            : { name: `r${(index * 7) % 10}${index}`, zone: entry.zone, healthy: entry.healthy },
        ),
      );
    fc.assert(
      fc.property(replicasArb, (replicas) => {
        const warnings = placementWarnings(replicas);
        const indexes = warnings.map((warning) => order.indexOf(warning.code));
        expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
        const count = replicas.length;
        const has = (code: string) => warnings.some((warning) => warning.code === code);
        expect(has('TWO_REPLICAS')).toBe(count === 2);
        expect(has('EVEN_COUNT')).toBe(count >= 4 && count % 2 === 0);
        const zones = new Set(replicas.map((entry) => entry.zone)).size;
        expect(has('SINGLE_ZONE')).toBe(count >= 2 && zones === 1);
        expect(has('ZONE_LOSS_LOSES_QUORUM')).toBe(
          count >= 3 && zones >= 2 && !zoneLossAnalysis(replicas).survivesAnyZoneLoss,
        );
        const unhealthy = replicas
          .filter((entry) => entry.healthy === false)
          .map((entry) => entry.name)
          .sort();
        const named = warnings
          .filter((warning) => warning.code === 'UNHEALTHY_REPLICA')
          .map((warning) => unhealthy.find((name) => warning.message.includes(`Replica ${name} `)));
        expect(named).toEqual(unhealthy);
      }),
    );
  });
});
