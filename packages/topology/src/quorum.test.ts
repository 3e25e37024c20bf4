import { type HacpError, quorumOf } from '@hacp/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canAddMember, canRemoveMember, faultTolerance, quorumSize, zoneLossAnalysis } from './quorum.js';
import { thrown } from './test-support.js';
import type { MemberInfo, Verdict } from './types.js';

function refusal(verdict: Verdict): HacpError {
  if (verdict.ok) throw new Error('expected a refusal');
  return verdict.error;
}

let nextId = 100;
function voter(name: string, state: Partial<MemberInfo> = {}): MemberInfo {
  nextId += 1;
  return { id: String(nextId), name, learner: false, started: true, healthy: true, ...state };
}
function learner(name: string, state: Partial<MemberInfo> = {}): MemberInfo {
  return voter(name, { learner: true, ...state });
}

/** Random member sets: voters and learners, started or not, healthy or not, unique names and ids. */
const membersArb = fc
  .array(
    fc.record({ learner: fc.boolean(), started: fc.boolean(), healthy: fc.boolean(), named: fc.boolean() }),
    {
      minLength: 1,
      maxLength: 7,
    },
  )
  .map((states) =>
    states.map(
      (state, index): MemberInfo => ({
        id: String(1000 + index),
        // etcd lists an unstarted learner without a name.
        name: state.learner && !state.started && !state.named ? '' : `m${index}`,
        learner: state.learner,
        started: state.started,
        // Kept independent of `started`: an unstarted member must count as down whatever its health says.
        healthy: state.healthy,
      }),
    ),
  );

const healthyVoter = (member: MemberInfo) => !member.learner && member.started && member.healthy;

describe('quorumSize', () => {
  // Its table and refusals are core's quorumOf tests; here, that it is that function.
  it("is core's quorumOf, where the arithmetic lives", () => {
    expect(quorumSize).toBe(quorumOf);
  });

  it('is monotone, a strict majority and at most n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), (n) => {
        const quorum = quorumSize(n);
        expect(quorumSize(n + 1)).toBeGreaterThanOrEqual(quorum);
        expect(quorum).toBeGreaterThan(n / 2);
        expect(quorum).toBeLessThanOrEqual(n);
        // Two quorums always overlap, and one fewer member would not be a majority.
        expect(2 * quorum).toBeGreaterThan(n);
        expect(2 * (quorum - 1)).toBeLessThanOrEqual(n);
      }),
    );
  });
});

describe('faultTolerance', () => {
  it.each([
    [1, 1, { quorum: 1, tolerates: 0, canStillLose: 0, hasQuorum: true }],
    [2, 2, { quorum: 2, tolerates: 0, canStillLose: 0, hasQuorum: true }],
    [3, 3, { quorum: 2, tolerates: 1, canStillLose: 1, hasQuorum: true }],
    [3, 2, { quorum: 2, tolerates: 1, canStillLose: 0, hasQuorum: true }],
    [3, 1, { quorum: 2, tolerates: 1, canStillLose: 0, hasQuorum: false }],
    [4, 4, { quorum: 3, tolerates: 1, canStillLose: 1, hasQuorum: true }],
    [5, 5, { quorum: 3, tolerates: 2, canStillLose: 2, hasQuorum: true }],
    [5, 0, { quorum: 3, tolerates: 2, canStillLose: 0, hasQuorum: false }],
  ])('%i voters, %i healthy', (voters, healthy, expected) => {
    expect(faultTolerance({ voters, healthy })).toEqual({ voters, healthy, ...expected });
  });

  it.each([
    [{ voters: 3, healthy: 4 }, 'healthy'],
    [{ voters: 3, healthy: -1 }, 'healthy'],
    [{ voters: -1, healthy: 0 }, 'voters'],
    [{ voters: 0, healthy: 0 }, 'voters'],
    [{ voters: 2.5, healthy: 1 }, 'voters'],
  ])('refuses %o with INVALID_ARGUMENT on %s', (input, field) => {
    const error = thrown(() => faultTolerance(input));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe(field);
  });

  it('can still lose exactly the healthy voters above the quorum', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 50 })
          .chain((voters) => fc.tuple(fc.constant(voters), fc.nat({ max: voters }))),
        ([voters, healthy]) => {
          const result = faultTolerance({ voters, healthy });
          expect(result.hasQuorum).toBe(healthy >= quorumSize(voters));
          expect(result.canStillLose).toBeLessThanOrEqual(result.tolerates);
          // Losing canStillLose more keeps quorum; losing one more does not.
          if (result.hasQuorum) {
            expect(healthy - result.canStillLose).toBeGreaterThanOrEqual(result.quorum);
            expect(healthy - result.canStillLose - 1).toBeLessThan(result.quorum);
          } else {
            expect(result.canStillLose).toBe(0);
          }
        },
      ),
    );
  });
});

describe('canAddMember', () => {
  it('allows an add when every voter is started and healthy and no learner exists', () => {
    expect(canAddMember([voter('kubernetes-master')])).toEqual({ ok: true });
    expect(canAddMember([voter('a'), voter('b'), voter('c')])).toEqual({ ok: true });
  });

  it('refuses an empty member list with INVALID_ARGUMENT', () => {
    const error = thrown(() => canAddMember([]));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('members');
  });

  it('refuses while a learner exists, naming it', () => {
    const error = refusal(canAddMember([voter('kubernetes-master'), learner('kubernetes-master-a1f')]));
    expect(error.code).toBe('LEARNER_PRESENT');
    expect(error.message).toContain('kubernetes-master-a1f');
    expect(error.actions.join(' ')).toContain('hacp repair');
    expect(error.details).toEqual({ learners: ['kubernetes-master-a1f'] });
  });

  it('names an unstarted learner by its id', () => {
    const error = refusal(
      canAddMember([
        voter('kubernetes-master'),
        { id: '77', name: '', learner: true, started: false, healthy: false },
      ]),
    );
    expect(error.code).toBe('LEARNER_PRESENT');
    expect(error.message).toContain('77');
  });

  it('refuses while a voter is unhealthy, naming it', () => {
    const error = refusal(canAddMember([voter('a'), voter('b', { healthy: false }), voter('c')]));
    expect(error.code).toBe('QUORUM_AT_RISK');
    expect(error.message).toContain('b');
    expect(error.message).toContain('2 of 3');
    expect(error.actions.join(' ')).toMatch(/repair|replace/);
    expect(error.details).toEqual({ unhealthy: ['b'], voters: 3, healthy: 2 });
    expect(error.exitCode).toBe(3);
  });

  it('refuses while a voter has not started, even if it reads as healthy', () => {
    const error = refusal(canAddMember([voter('a'), voter('b', { started: false, healthy: true })]));
    expect(error.code).toBe('QUORUM_AT_RISK');
    expect(error.details.unhealthy).toEqual(['b']);
  });

  it('allows an add only with no learner and every voter started and healthy', () => {
    fc.assert(
      fc.property(membersArb, (members) => {
        const allowed = canAddMember(members).ok;
        const expected = members.every((member) => !member.learner && member.started && member.healthy);
        expect(allowed).toBe(expected);
      }),
    );
  });
});

describe('canRemoveMember', () => {
  const three = () => [voter('a'), voter('b'), voter('c')];

  it('allows removing a healthy voter of three healthy', () => {
    expect(canRemoveMember(three(), 'b')).toEqual({ ok: true });
  });

  it('finds the member by id as well as by name', () => {
    const members = three();
    expect(canRemoveMember(members, members[1]!.id)).toEqual({ ok: true });
  });

  it('refuses an unknown member with REPLICA_NOT_FOUND listing the members', () => {
    const error = refusal(canRemoveMember([voter('kubernetes-master-a1f'), voter('b')], 'kubernetes-master'));
    expect(error.code).toBe('REPLICA_NOT_FOUND');
    expect(error.message).toContain('kubernetes-master-a1f, b');
    expect(error.details).toEqual({ victim: 'kubernetes-master', members: ['kubernetes-master-a1f', 'b'] });
  });

  it('does not take an empty name for an unstarted learner', () => {
    const members = [voter('a'), { id: '9', name: '', learner: true, started: false, healthy: false }];
    expect(refusal(canRemoveMember(members, '')).code).toBe('REPLICA_NOT_FOUND');
    expect(canRemoveMember(members, '9')).toEqual({ ok: true });
  });

  it('refuses the only voter with LAST_REPLICA', () => {
    const error = refusal(canRemoveMember([voter('kubernetes-master'), learner('x')], 'kubernetes-master'));
    expect(error.code).toBe('LAST_REPLICA');
    expect(error.message).toContain('kubernetes-master');
    expect(error.actions.join(' ')).toContain('hacp down');
    // Also when that voter is down: removing it is still `down`.
    expect(refusal(canRemoveMember([voter('a', { healthy: false })], 'a')).code).toBe('LAST_REPLICA');
  });

  it('allows a learner to go while the voters have quorum', () => {
    expect(canRemoveMember([voter('a'), learner('l')], 'l')).toEqual({ ok: true });
    expect(
      canRemoveMember([voter('a'), voter('b', { healthy: false }), voter('c'), learner('l')], 'l'),
    ).toEqual({
      ok: true,
    });
  });

  it('refuses even a learner when the voters have lost quorum', () => {
    const error = refusal(
      canRemoveMember(
        [voter('a'), voter('b', { healthy: false }), voter('c', { healthy: false }), learner('l')],
        'l',
      ),
    );
    expect(error.code).toBe('QUORUM_AT_RISK');
    expect(error.message).toContain('lost quorum');
  });

  it('allows going from two healthy voters to one (the penultimate replica)', () => {
    expect(canRemoveMember([voter('a'), voter('b')], 'b')).toEqual({ ok: true });
  });

  it('refuses both members of two when one is down: two voters with one down have no quorum', () => {
    const members = [voter('a'), voter('b', { healthy: false })];
    expect(refusal(canRemoveMember(members, 'a')).code).toBe('QUORUM_AT_RISK');
    expect(refusal(canRemoveMember(members, 'b')).message).toContain('1 healthy voter of 2; it needs 2');
  });

  it('gives the numbers when a healthy voter would leave too few healthy ones', () => {
    const error = refusal(canRemoveMember([voter('a'), voter('b'), voter('c', { healthy: false })], 'a'));
    expect(error.code).toBe('QUORUM_AT_RISK');
    expect(error.message).toBe('Removing a leaves 1 healthy voter of 2; etcd needs 2.');
    expect(error.details).toEqual({
      member: 'a',
      voters: 3,
      healthy: 2,
      remainingVoters: 2,
      remainingHealthy: 1,
      quorum: 2,
    });
    expect(error.actions.length).toBeGreaterThan(0);
  });

  it('allows a member that is down to go while the cluster has quorum', () => {
    expect(canRemoveMember([voter('a'), voter('b'), voter('c', { healthy: false })], 'c')).toEqual({
      ok: true,
    });
    expect(
      canRemoveMember([voter('a'), voter('b', { started: false, healthy: false }), voter('c')], 'b'),
    ).toEqual({ ok: true });
  });

  it('counts an unstarted voter as down, even if it reads as healthy', () => {
    const members = [voter('a'), voter('b'), voter('c', { started: false, healthy: true })];
    expect(refusal(canRemoveMember(members, 'a')).message).toBe(
      'Removing a leaves 1 healthy voter of 2; etcd needs 2.',
    );
  });

  it('refuses any removal once quorum is lost, pointing at recover', () => {
    const members = [voter('a'), voter('b', { healthy: false }), voter('c', { healthy: false })];
    for (const victim of ['a', 'b', 'c']) {
      const error = refusal(canRemoveMember(members, victim));
      expect(error.code).toBe('QUORUM_AT_RISK');
      expect(error.message).toContain(victim);
      expect(error.message).toContain('1 healthy voter of 3');
      expect(error.actions.join(' ')).toContain('hacp recover');
    }
  });

  it('never allows a removal after which the healthy voters are below the quorum', () => {
    fc.assert(
      fc.property(membersArb, fc.nat(), fc.constantFrom('name', 'id', 'absent'), (members, pick, by) => {
        const target = members[pick % members.length]!;
        const victim =
          by === 'absent' ? 'nobody' : by === 'id' || target.name === '' ? target.id : target.name;
        const verdict = canRemoveMember(members, victim);
        if (by === 'absent') {
          expect(verdict.ok).toBe(false);
          return;
        }
        const voters = members.filter((member) => !member.learner);
        const healthyNow = voters.filter(healthyVoter).length;
        const remaining = members.filter((member) => member !== target);
        const remainingVoters = remaining.filter((member) => !member.learner).length;
        const remainingHealthy = remaining.filter(healthyVoter).length;
        const safe =
          voters.length > 0 &&
          healthyNow >= quorumSize(voters.length) &&
          remainingVoters >= 1 &&
          remainingHealthy >= quorumSize(remainingVoters);
        if (verdict.ok) {
          expect(remainingVoters).toBeGreaterThanOrEqual(1);
          expect(remainingHealthy).toBeGreaterThanOrEqual(quorumSize(remainingVoters));
          expect(healthyNow).toBeGreaterThanOrEqual(quorumSize(voters.length));
        }
        // And it refuses nothing that is safe.
        expect(verdict.ok).toBe(safe);
      }),
    );
  });

  it('always allows a learner or a down voter while the cluster has quorum and another voter stays', () => {
    fc.assert(
      fc.property(membersArb, fc.nat(), (members, pick) => {
        const target = members[pick % members.length]!;
        const voters = members.filter((member) => !member.learner);
        const hasQuorum =
          voters.length > 0 && voters.filter(healthyVoter).length >= quorumSize(voters.length);
        fc.pre(hasQuorum && (target.learner || (!healthyVoter(target) && voters.length >= 2)));
        expect(canRemoveMember(members, target.name === '' ? target.id : target.name)).toEqual({ ok: true });
      }),
    );
  });
});

describe('zoneLossAnalysis', () => {
  it('counts etcd voters, not replicas: a stray fourth member raises the quorum to three', () => {
    const replicas = [
      { name: 'a', zone: 'z-b' },
      { name: 'b', zone: 'z-c' },
      { name: 'c', zone: 'z-d' },
    ];
    expect(zoneLossAnalysis(replicas).survivesAnyZoneLoss).toBe(true);
    const withStray = zoneLossAnalysis(replicas, { voters: 4 });
    expect(withStray.survivesAnyZoneLoss).toBe(false);
    expect(withStray.verdict).toBe('losing zone z-b, z-c or z-d loses quorum');
  });

  it('survives the loss of any zone with one replica in each of three zones', () => {
    expect(
      zoneLossAnalysis([
        { name: 'a', zone: 'z-b' },
        { name: 'b', zone: 'z-c' },
        { name: 'c', zone: 'z-d' },
      ]),
    ).toEqual({
      zones: [
        { zone: 'z-b', replicas: 1, survives: true },
        { zone: 'z-c', replicas: 1, survives: true },
        { zone: 'z-d', replicas: 1, survives: true },
      ],
      survivesAnyZoneLoss: true,
      verdict: 'survives the loss of any one zone',
    });
  });

  it('names the zone holding a majority', () => {
    const analysis = zoneLossAnalysis([
      { name: 'c', zone: 'europe-west1-c' },
      { name: 'a', zone: 'europe-west1-b' },
      { name: 'b', zone: 'europe-west1-b' },
    ]);
    expect(analysis.zones).toEqual([
      { zone: 'europe-west1-b', replicas: 2, survives: false },
      { zone: 'europe-west1-c', replicas: 1, survives: true },
    ]);
    expect(analysis.survivesAnyZoneLoss).toBe(false);
    expect(analysis.verdict).toBe('losing zone europe-west1-b loses quorum');
  });

  it('lists several zones in name order', () => {
    expect(
      zoneLossAnalysis([
        { name: 'a', zone: 'z-c' },
        { name: 'b', zone: 'z-b' },
      ]).verdict,
    ).toBe('losing zone z-b or z-c loses quorum');
    expect(
      zoneLossAnalysis([
        { name: 'a', zone: 'z-d', healthy: false },
        { name: 'b', zone: 'z-c', healthy: false },
        { name: 'c', zone: 'z-b' },
      ]).verdict,
    ).toBe('losing zone z-b, z-c or z-d loses quorum');
  });

  it('counts unhealthy replicas as voters but not as survivors', () => {
    const analysis = zoneLossAnalysis([
      { name: 'a', zone: 'z-b' },
      { name: 'b', zone: 'z-c' },
      { name: 'c', zone: 'z-d', healthy: false },
    ]);
    expect(analysis.zones.map((zone) => zone.survives)).toEqual([false, false, true]);
    expect(analysis.verdict).toBe('losing zone z-b or z-c loses quorum');
  });

  it('a single replica never survives the loss of its zone', () => {
    expect(zoneLossAnalysis([{ name: 'a', zone: 'z-b' }]).verdict).toBe('losing zone z-b loses quorum');
  });

  it('refuses an empty list with INVALID_ARGUMENT', () => {
    const error = thrown(() => zoneLossAnalysis([]));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('replicas');
  });

  const replicasArb = fc
    .array(fc.record({ zone: fc.constantFrom('z-a', 'z-b', 'z-c', 'z-d'), healthy: fc.boolean() }), {
      minLength: 1,
      maxLength: 9,
    })
    .map((replicas) => replicas.map((replica, index) => ({ name: `r${index}`, ...replica })));

  it('survives any zone loss exactly when, for every zone, the others hold a quorum (brute force)', () => {
    fc.assert(
      fc.property(replicasArb, (replicas) => {
        const analysis = zoneLossAnalysis(replicas);
        const zones = [...new Set(replicas.map((replica) => replica.zone))];
        let all = true;
        for (const zone of zones) {
          let healthyElsewhere = 0;
          for (const replica of replicas) if (replica.zone !== zone && replica.healthy) healthyElsewhere += 1;
          // Strict majority of all voters, counted without quorumSize.
          const survives = 2 * healthyElsewhere > replicas.length;
          all &&= survives;
          expect(analysis.zones.find((entry) => entry.zone === zone)?.survives).toBe(survives);
        }
        expect(analysis.survivesAnyZoneLoss).toBe(all);
        expect(analysis.zones.map((entry) => entry.zone)).toEqual([...zones].sort());
        expect(analysis.zones.reduce((sum, entry) => sum + entry.replicas, 0)).toBe(replicas.length);
        expect(analysis.verdict === 'survives the loss of any one zone').toBe(all);
      }),
    );
  });
});
