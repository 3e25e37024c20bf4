import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseReplicaToRemove } from './choose.js';
import { thrown } from './test-support.js';
import type { ReplicaInfo } from './types.js';

const B = 'europe-west1-b';
const C = 'europe-west1-c';
const D = 'europe-west1-d';

function replica(name: string, zone: string, createdAt: string, healthy = true): ReplicaInfo {
  return { name, zone, createdAt, healthy };
}

/** The seed's cluster: the original in b, two replicas in c, one in d. */
const cluster: ReplicaInfo[] = [
  replica('kubernetes-master', B, '2024-01-01T00:00:00Z'),
  replica('kubernetes-master-a1f', C, '2024-01-02T00:00:00Z'),
  replica('kubernetes-master-3c2', C, '2024-01-03T00:00:00Z'),
  replica('kubernetes-master-9de', D, '2024-01-04T00:00:00Z'),
];

describe('chooseReplicaToRemove', () => {
  it('removes by zone without a name: the newest replica of that zone (seed)', () => {
    expect(chooseReplicaToRemove({ replicas: cluster, zone: C }).name).toBe('kubernetes-master-3c2');
    // Not the first name of the zone, as kube-up did.
    expect(chooseReplicaToRemove({ replicas: cluster, zone: B }).name).toBe('kubernetes-master');
  });

  it('removes by zone with a name: exactly that replica (seed)', () => {
    expect(chooseReplicaToRemove({ replicas: cluster, zone: C, name: 'kubernetes-master-a1f' }).name).toBe(
      'kubernetes-master-a1f',
    );
  });

  it('takes a name without a zone', () => {
    expect(chooseReplicaToRemove({ replicas: cluster, name: 'kubernetes-master-9de' }).zone).toBe(D);
  });

  it('matches a name exactly, never as a prefix', () => {
    const replicas = [replica('kubernetes-master-a1f', C, '2024-01-02T00:00:00Z')];
    const error = thrown(() => chooseReplicaToRemove({ replicas, name: 'kubernetes-master' }));
    expect(error.code).toBe('REPLICA_NOT_FOUND');
    expect(thrown(() => chooseReplicaToRemove({ replicas, name: 'kubernetes-master-a1' })).code).toBe(
      'REPLICA_NOT_FOUND',
    );
  });

  it('lists the names that exist when the name is unknown', () => {
    const error = thrown(() => chooseReplicaToRemove({ replicas: cluster, name: 'kubernetes-master-fff' }));
    expect(error.code).toBe('REPLICA_NOT_FOUND');
    expect(error.message).toContain('kubernetes-master-fff');
    for (const { name } of cluster) expect(error.message).toContain(name);
    expect(error.details).toEqual({
      name: 'kubernetes-master-fff',
      replicas: [
        'kubernetes-master',
        'kubernetes-master-3c2',
        'kubernetes-master-9de',
        'kubernetes-master-a1f',
      ],
    });
    expect(error.exitCode).toBe(2);
  });

  it('refuses a named replica that is in another zone than the one given, saying where it is', () => {
    const error = thrown(() =>
      chooseReplicaToRemove({ replicas: cluster, zone: B, name: 'kubernetes-master-a1f' }),
    );
    expect(error.code).toBe('REPLICA_NOT_FOUND');
    expect(error.message).toContain('kubernetes-master-a1f');
    expect(error.message).toContain(`zone ${C}`);
    expect(error.message).toContain(`zone ${B}`);
    expect(error.details).toMatchObject({ name: 'kubernetes-master-a1f', zone: B, replicaZone: C });
  });

  it('refuses a zone without replicas, naming the zones that have some', () => {
    const error = thrown(() => chooseReplicaToRemove({ replicas: cluster, zone: 'europe-west1-f' }));
    expect(error.code).toBe('REPLICA_NOT_FOUND');
    expect(error.message).toContain('europe-west1-f');
    expect(error.message).toContain(`${B}, ${C}, ${D}`);
    expect(error.details).toMatchObject({ zone: 'europe-west1-f', zones: [B, C, D] });
  });

  it('refuses when there are no replicas at all', () => {
    expect(thrown(() => chooseReplicaToRemove({ replicas: [] })).code).toBe('REPLICA_NOT_FOUND');
    expect(thrown(() => chooseReplicaToRemove({ replicas: [], name: 'kubernetes-master' })).code).toBe(
      'REPLICA_NOT_FOUND',
    );
  });

  it('prefers an unhealthy replica over a newer healthy one', () => {
    const replicas = [
      replica('kubernetes-master-a1f', C, '2024-01-02T00:00:00Z', false),
      replica('kubernetes-master-3c2', C, '2024-01-03T00:00:00Z'),
    ];
    expect(chooseReplicaToRemove({ replicas, zone: C }).name).toBe('kubernetes-master-a1f');
  });

  it('lets health override replica.healthy, both ways', () => {
    expect(
      chooseReplicaToRemove({ replicas: cluster, zone: C, health: { 'kubernetes-master-a1f': false } }).name,
    ).toBe('kubernetes-master-a1f');
    const replicas = [
      replica('kubernetes-master-a1f', C, '2024-01-02T00:00:00Z', false),
      replica('kubernetes-master-3c2', C, '2024-01-03T00:00:00Z', true),
    ];
    expect(
      chooseReplicaToRemove({
        replicas,
        zone: C,
        health: { 'kubernetes-master-a1f': true, 'kubernetes-master-3c2': false },
      }).name,
    ).toBe('kubernetes-master-3c2');
  });

  it('avoids the etcd leader among healthy replicas', () => {
    expect(
      chooseReplicaToRemove({ replicas: cluster, zone: C, leaderName: 'kubernetes-master-3c2' }).name,
    ).toBe('kubernetes-master-a1f');
  });

  it('takes an unhealthy leader before a healthy non-leader', () => {
    expect(
      chooseReplicaToRemove({
        replicas: cluster,
        zone: C,
        leaderName: 'kubernetes-master-a1f',
        health: { 'kubernetes-master-a1f': false },
      }).name,
    ).toBe('kubernetes-master-a1f');
  });

  it('takes the leader when it is the only replica in the zone', () => {
    expect(chooseReplicaToRemove({ replicas: cluster, zone: B, leaderName: 'kubernetes-master' }).name).toBe(
      'kubernetes-master',
    );
  });

  it('takes the newest across all zones when no zone is given', () => {
    expect(chooseReplicaToRemove({ replicas: cluster }).name).toBe('kubernetes-master-9de');
  });

  it('compares creation times as instants, not as strings', () => {
    const replicas = [
      replica('kubernetes-master-a1f', C, '2024-01-02T10:00:00+02:00'), // 08:00Z
      replica('kubernetes-master-3c2', C, '2024-01-02T09:00:00Z'),
    ];
    expect(chooseReplicaToRemove({ replicas, zone: C }).name).toBe('kubernetes-master-3c2');
  });

  it('breaks a tie on everything by name', () => {
    const replicas = [
      replica('kubernetes-master-b00', C, '2024-01-02T00:00:00Z'),
      replica('kubernetes-master-a00', C, '2024-01-02T00:00:00Z'),
    ];
    expect(chooseReplicaToRemove({ replicas, zone: C }).name).toBe('kubernetes-master-a00');
    expect(chooseReplicaToRemove({ replicas: [...replicas].reverse(), zone: C }).name).toBe(
      'kubernetes-master-a00',
    );
  });

  it('does not refuse the last replica (planRemove does)', () => {
    const only = [replica('kubernetes-master', B, '2024-01-01T00:00:00Z')];
    expect(chooseReplicaToRemove({ replicas: only, zone: B }).name).toBe('kubernetes-master');
  });

  it('does not reorder the caller array', () => {
    const replicas = [...cluster];
    chooseReplicaToRemove({ replicas, zone: C });
    expect(replicas).toEqual(cluster);
  });

  const zones = ['z-a', 'z-b', 'z-c'];
  const scenario = fc
    .array(
      fc.record({
        zone: fc.constantFrom(...zones),
        healthy: fc.boolean(),
        override: fc.option(fc.boolean()),
        day: fc.integer({ min: 1, max: 4 }),
      }),
      { minLength: 1, maxLength: 8 },
    )
    .chain((entries) =>
      fc.record({
        entries: fc.constant(entries),
        zone: fc.constantFrom(...zones),
        leader: fc.option(fc.nat({ max: entries.length - 1 })),
        order: fc.shuffledSubarray([...entries.keys()], { minLength: entries.length }),
      }),
    )
    .map(({ entries, zone, leader, order }) => {
      const replicas = entries.map(
        (entry, index): ReplicaInfo =>
          replica(`r${index}`, entry.zone, `2024-01-0${entry.day}T00:00:00Z`, entry.healthy),
      );
      const health: Record<string, boolean> = {};
      entries.forEach((entry, index) => {
        if (entry.override !== null) health[`r${index}`] = entry.override;
      });
      const leaderName = leader === null ? undefined : `r${leader}`;
      return { replicas, zone, health, leaderName, shuffled: order.map((index) => replicas[index]!) };
    });

  it('chooses in the zone: unhealthy first, then not the leader, then the newest; whatever the input order', () => {
    fc.assert(
      fc.property(scenario, ({ replicas, zone, health, leaderName, shuffled }) => {
        const inZone = replicas.filter((entry) => entry.zone === zone);
        fc.pre(inZone.length > 0);
        const chosen = chooseReplicaToRemove({ replicas, zone, health, leaderName });
        const healthy = (entry: ReplicaInfo) => health[entry.name] ?? entry.healthy;
        expect(chosen.zone).toBe(zone);
        expect(inZone).toContain(chosen);
        const unhealthy = inZone.filter((entry) => !healthy(entry));
        if (unhealthy.length > 0) expect(healthy(chosen)).toBe(false);
        if (unhealthy.length === 0 && inZone.some((entry) => entry.name !== leaderName)) {
          expect(chosen.name).not.toBe(leaderName);
        }
        // No candidate of the same health and leadership is newer.
        const peers = inZone.filter(
          (entry) =>
            healthy(entry) === healthy(chosen) &&
            (entry.name === leaderName) === (chosen.name === leaderName),
        );
        for (const peer of peers)
          expect(Date.parse(peer.createdAt)).toBeLessThanOrEqual(Date.parse(chosen.createdAt));
        // Deterministic: the order of the input does not matter.
        expect(chooseReplicaToRemove({ replicas: shuffled, zone, health, leaderName })).toBe(chosen);
      }),
    );
  });

  it('finds exactly the named replica, or refuses naming the zone it is in', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), ({ replicas, zone }, pick) => {
        const target = replicas[pick % replicas.length]!;
        if (target.zone === zone) {
          expect(chooseReplicaToRemove({ replicas, zone, name: target.name })).toBe(target);
        } else {
          const error = thrown(() => chooseReplicaToRemove({ replicas, zone, name: target.name }));
          expect(error.code).toBe('REPLICA_NOT_FOUND');
          expect(error.message).toContain(target.zone);
        }
      }),
    );
  });
});
