import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertClusterName,
  assertZone,
  DEFAULT_CLUSTER_NAME,
  firstReplicaName,
  isReplicaName,
  newReplicaName,
  regionOfZone,
} from './domain.js';
import { type HacpError, isHacpError } from './errors.js';

/** Runs `run` and returns what it threw, failing the test when it did not throw. */
function thrown(run: () => unknown): HacpError {
  try {
    run();
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a HacpError');
}

const LOWER = [...'abcdefghijklmnopqrstuvwxyz'];
const ALNUM = [...LOWER, ...'0123456789'];
const HEX = [...'0123456789abcdef'];

const namePart = fc.string({ unit: fc.constantFrom(...ALNUM), minLength: 1, maxLength: 8 });
/** Regions as GCE and the local provider name them: `europe-west1`, `local`, `us-central1`. */
const region = fc
  .tuple(
    fc.constantFrom(...LOWER),
    fc.string({ unit: fc.constantFrom(...ALNUM), maxLength: 8 }),
    fc.array(namePart, { maxLength: 3 }),
  )
  .map(([head, tail, parts]) => [head + tail, ...parts].join('-'));
/** Valid cluster names: a letter, then letters, digits and dashes, not ending in a dash, 1-40 long. */
const clusterName = fc
  .tuple(
    fc.constantFrom(...LOWER),
    fc.string({ unit: fc.constantFrom(...ALNUM, '-'), maxLength: 38 }),
    fc.constantFrom(...ALNUM),
  )
  .map(([head, middle, last]) => `${head}${middle}${last}`);
const hex3 = fc.string({ unit: fc.constantFrom(...HEX), minLength: 3, maxLength: 3 });

describe('regionOfZone', () => {
  it.each([
    ['europe-west1-b', 'europe-west1'],
    ['us-central1-f', 'us-central1'],
    ['local-a', 'local'],
    ['a-1', 'a'],
  ])('gives the region of %s', (zone, expected) => {
    expect(regionOfZone(zone)).toBe(expected);
  });

  it('is the region for any valid region plus a suffix', () => {
    fc.assert(
      fc.property(region, namePart, (r, suffix) => {
        expect(regionOfZone(`${r}-${suffix}`)).toBe(r);
      }),
    );
  });
});

describe('assertZone', () => {
  it.each(['europe-west1-b', 'local-a', 'us-central1-f', 'asia-northeast1-c'])('accepts %s', (zone) => {
    expect(() => assertZone(zone)).not.toThrow();
  });

  it.each([
    ['empty', ''],
    ['no dash', 'europe'],
    ['uppercase', 'Europe-west1-b'],
    ['trailing dash', 'eu-west1-'],
    ['leading dash', '-a'],
    ['empty part', 'a--b'],
    ['leading digit', '1a-b'],
    ['underscore', 'europe_west1-b'],
    ['space', 'europe-west1 -b'],
    ['longer than 63', `a-${'b'.repeat(62)}`],
  ])('rejects a zone with %s with ZONE_INVALID', (_why, zone) => {
    const error = thrown(() => regionOfZone(zone));

    expect(error.code).toBe('ZONE_INVALID');
    expect(error.details).toEqual({ zone });
    expect(error.actions.length).toBeGreaterThan(0);
  });

  it('accepts a zone of exactly 63 characters', () => {
    expect(() => assertZone(`a-${'b'.repeat(61)}`)).not.toThrow();
  });
});

describe('assertClusterName', () => {
  it.each([DEFAULT_CLUSTER_NAME, 'prod-eu', 'a', 'a1', `a${'b'.repeat(39)}`])('accepts %s', (name) => {
    expect(() => assertClusterName(name)).not.toThrow();
  });

  it.each([
    ['empty', ''],
    ['uppercase', 'Kube'],
    ['leading dash', '-a'],
    ['trailing dash', 'a-'],
    ['leading digit', '1kube'],
    ['a dot', 'a.b'],
    ['41 characters', `a${'b'.repeat(40)}`],
  ])('rejects a name with %s with INVALID_ARGUMENT on the cluster field', (_why, name) => {
    const error = thrown(() => assertClusterName(name));

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('cluster');
    expect(error.details.value).toBe(name);
  });

  it('accepts every generated valid name', () => {
    fc.assert(
      fc.property(clusterName, (name) => {
        expect(() => assertClusterName(name)).not.toThrow();
      }),
    );
  });
});

describe('isReplicaName', () => {
  it.each(['kubernetes-master', 'kubernetes-master-a1f', 'kubernetes-master-000'])(
    'is true for %s',
    (name) => {
      expect(isReplicaName('kubernetes', name)).toBe(true);
    },
  );

  it.each([
    'kubernetes-master-old-backup',
    'kubernetes-master-a1',
    'kubernetes-master-ABC',
    'kubernetes-master-a1f2',
    'kubernetes-master-',
    'xkubernetes-master',
    'kubernetes-masterx',
    'prod-kubernetes-master',
    'kubernetes-master-a1f ',
  ])('is false for %s', (name) => {
    expect(isReplicaName('kubernetes', name)).toBe(false);
  });

  it('matches the cluster name literally, not as a pattern', () => {
    expect(isReplicaName('a.b', 'axb-master')).toBe(false);
    expect(isReplicaName('a.b', 'a.b-master')).toBe(true);
  });

  it("does not count another cluster's replicas", () => {
    expect(isReplicaName('prod', 'prod-eu-master')).toBe(false);
    expect(isReplicaName('prod-eu', 'prod-master')).toBe(false);
  });
});

describe('firstReplicaName', () => {
  it('is <cluster>-master, and checks the cluster name', () => {
    expect(firstReplicaName('prod-eu')).toBe('prod-eu-master');
    expect(thrown(() => firstReplicaName('Bad')).details.field).toBe('cluster');
  });
});

describe('newReplicaName', () => {
  it('is <cluster>-master for a cluster without replicas', () => {
    expect(newReplicaName({ cluster: 'kubernetes', existing: [] })).toBe('kubernetes-master');
    expect(newReplicaName({ cluster: 'kubernetes', existing: ['prod-master', 'kubernetes-node-1'] })).toBe(
      'kubernetes-master',
    );
  });

  it('is <cluster>-master-<3 hex> not in existing once the cluster has a replica', () => {
    const existing = ['kubernetes-master', 'kubernetes-master-a1f'];

    const name = newReplicaName({ cluster: 'kubernetes', existing });

    expect(name).toMatch(/^kubernetes-master-[0-9a-f]{3}$/);
    expect(existing).not.toContain(name);
  });

  it('does not reuse <cluster>-master while other replicas exist', () => {
    const name = newReplicaName({ cluster: 'kubernetes', existing: ['kubernetes-master-a1f'] });

    expect(name).toMatch(/^kubernetes-master-[0-9a-f]{3}$/);
    expect(name).not.toBe('kubernetes-master-a1f');
  });

  it('uses the injected random suffix when it is free', () => {
    expect(
      newReplicaName({ cluster: 'kubernetes', existing: ['kubernetes-master'], randomHex: () => 'bee' }),
    ).toBe('kubernetes-master-bee');
  });

  it('finds a free name when the random suffix always collides or is malformed', () => {
    const existing = ['kubernetes-master', 'kubernetes-master-aaa', 'kubernetes-master-000'];

    const colliding = newReplicaName({ cluster: 'kubernetes', existing, randomHex: () => 'aaa' });
    const malformed = newReplicaName({ cluster: 'kubernetes', existing, randomHex: () => 'XYZ!' });

    for (const name of [colliding, malformed]) {
      expect(isReplicaName('kubernetes', name)).toBe(true);
      expect(existing).not.toContain(name);
    }
  });

  it('throws INTERNAL when every name is taken', () => {
    const existing = [
      'a-master',
      ...Array.from({ length: 4096 }, (_, n) => `a-master-${n.toString(16).padStart(3, '0')}`),
    ];

    expect(thrown(() => newReplicaName({ cluster: 'a', existing, randomHex: () => '123' })).code).toBe(
      'INTERNAL',
    );
  });

  it('rejects an invalid cluster name', () => {
    expect(thrown(() => newReplicaName({ cluster: '-x', existing: [] })).code).toBe('INVALID_ARGUMENT');
  });

  it('never returns a name in existing, and always a replica name of the cluster', () => {
    fc.assert(
      fc.property(
        clusterName,
        fc.boolean(),
        fc.array(hex3, { maxLength: 64 }),
        fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 }),
        fc.option(hex3, { nil: undefined }),
        (cluster, hasFirst, suffixes, others, fixedHex) => {
          const existing = [
            ...(hasFirst ? [`${cluster}-master`] : []),
            ...suffixes.map((suffix) => `${cluster}-master-${suffix}`),
            ...others,
          ];

          const name = newReplicaName({
            cluster,
            existing,
            ...(fixedHex === undefined ? {} : { randomHex: () => fixedHex }),
          });

          expect(existing).not.toContain(name);
          expect(isReplicaName(cluster, name)).toBe(true);
        },
      ),
    );
  });
});
