import { noopLogger } from '@hacp/core';
import type { V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMINGS, ElectionWorld, LEASE } from './election-world.js';
import { createLeaderElector } from './elector.js';
import type { LeaseApi } from './lease-store.js';
import { rejected } from './test-support.js';

const SIX_DIGITS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = DEFAULT_TIMINGS;

function stored(world: ElectionWorld): V1Lease {
  const lease = world.server.lease(LEASE.namespace, LEASE.name);
  if (!lease) throw new Error('no lease stored');
  return lease;
}

/** A LeaseApi that fails the test if anything is called on it: proves nothing was sent. */
function silentApi(): LeaseApi & { calls: string[] } {
  const calls: string[] = [];
  const record = (name: string) => () => {
    calls.push(name);
    return Promise.reject(new Error(`${name} must not be called`));
  };
  return {
    calls,
    readNamespacedLease: record('read'),
    createNamespacedLease: record('create'),
    replaceNamespacedLease: record('replace'),
    listNamespacedLease: record('list'),
    deleteNamespacedLease: record('delete'),
  } as unknown as LeaseApi & { calls: string[] };
}

describe('leader election on a fake clock', () => {
  it('creates a missing lease and leads, with a client-go record and six-digit MicroTimes', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'master-1_aaa' });
    await world.start(a);

    expect(a.elector?.isLeader()).toBe(true);
    expect(a.started).toHaveLength(1);
    expect(a.newLeaders).toEqual(['master-1_aaa']);
    const spec = stored(world).spec;
    expect(spec?.holderIdentity).toBe('master-1_aaa');
    expect(spec?.leaseDurationSeconds).toBe(15);
    expect(spec?.leaseTransitions).toBe(0);
    expect(spec?.acquireTime).toMatch(SIX_DIGITS);
    expect(spec?.renewTime).toBe(spec?.acquireTime);
    await world.stop(a);
  });

  it('renews with one PUT per retry period while leading and one GET per retry period while following', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    const b = world.candidate({ identity: 'b' });
    await world.start(a);
    await world.start(b);
    const from = world.clock.now();
    const acquiredAt = stored(world).spec?.acquireTime;
    await world.clock.advance(60_000);

    expect(world.requestsOf(a, from, from + 60_000)).toEqual({ update: 30 });
    const following = world.requestsOf(b, from, from + 60_000);
    expect(Object.keys(following)).toEqual(['get']);
    // Every 0.9–1.0 retry periods: between 30 and 34 reads a minute.
    expect(following.get).toBeGreaterThanOrEqual(30);
    expect(following.get).toBeLessThanOrEqual(34);
    const spec = stored(world).spec;
    expect(spec?.acquireTime).toBe(acquiredAt);
    expect(spec?.renewTime).not.toBe(acquiredAt);
    expect(spec?.renewTime).toMatch(SIX_DIGITS);
    expect(b.elector?.isLeader()).toBe(false);
    expect(b.elector?.leader()).toBe('a');
    await world.stop(a);
    await world.stop(b);
  });

  it('lets a follower take over within leaseDuration + retryPeriod after the leader dies', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    const b = world.candidate({ identity: 'b' });
    const c = world.candidate({ identity: 'c' });
    for (const candidate of [a, b, c]) await world.start(candidate);
    await world.clock.advance(7_000);
    // Die right after a renewal: the worst case for the bound.
    const lastRenewal = Math.max(
      ...world.server.requests.filter((r) => r.connection === 'a').map((r) => r.sentAt),
    );
    await world.clock.advanceTo(lastRenewal + 5);
    const diedAt = world.clock.now();
    await world.stop(a);

    const tookOver = await world.clock.advanceUntil(() => world.leaders().length === 1, 30_000);
    expect(tookOver).toBe(true);
    const [leader] = world.leaders();
    const takeover = world.clock.now() - diedAt;
    expect(takeover).toBeGreaterThanOrEqual(leaseDurationMs - retryPeriodMs);
    expect(takeover).toBeLessThanOrEqual(leaseDurationMs + retryPeriodMs);
    expect(stored(world).spec?.holderIdentity).toBe(leader?.identity);
    expect(stored(world).spec?.leaseTransitions).toBe(1);
    const other = leader === b ? c : b;
    await world.clock.advance(retryPeriodMs);
    expect(other.elector?.isLeader()).toBe(false);
    expect(other.newLeaders).toEqual(['a', leader?.identity]);
    for (const candidate of [b, c]) await world.stop(candidate);
  });

  it('hands over within one retry period when the leader releases the lease', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    const b = world.candidate({ identity: 'b' });
    await world.start(a, { releaseOnCancel: true });
    await world.start(b);
    await world.clock.advance(5_000);
    const stoppedAt = world.clock.now();
    await world.stop(a);

    const released = world.server.requests.filter((r) => r.connection === 'a' && r.verb === 'update').at(-1);
    expect(released?.status).toBe(200);
    expect(a.stopped).toEqual([{ at: stoppedAt, reason: 'stopped' }]);
    expect(await world.clock.advanceUntil(() => b.elector?.isLeader() === true, retryPeriodMs)).toBe(true);
    expect(world.clock.now() - stoppedAt).toBeLessThanOrEqual(retryPeriodMs);
    expect(stored(world).spec?.leaseTransitions).toBe(1);
    await world.stop(b);
  });

  it('stops leading by its renew deadline when cut off, before anyone else can lead', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    const b = world.candidate({ identity: 'b' });
    await world.start(a);
    await world.start(b);
    await world.clock.advance(3_000);
    a.connection.state = 'hang';
    const lastSent = Math.max(
      ...world.server.requests.filter((r) => r.connection === 'a' && r.status === 200).map((r) => r.sentAt),
    );

    await world.clock.advanceUntil(() => b.elector?.isLeader() === true, 30_000);
    expect(a.stopped).toHaveLength(1);
    expect(a.stopped[0]?.reason).toBe('renew-deadline');
    expect(a.stopped[0]?.at).toBeLessThanOrEqual(lastSent + renewDeadlineMs);
    expect(a.stopped[0]?.at).toBeLessThan(b.started[0] ?? Number.NaN);
    expect(a.signals[0]?.aborted).toBe(true);
    await world.stop(a);
    await world.stop(b);
  });

  it('does not count a renewal whose answer comes back after the deadline', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    await world.start(a);
    // The PUT lands quickly, its answer comes back too late to extend leadership.
    a.answerLatencyMs = renewDeadlineMs;
    await world.clock.advance(renewDeadlineMs + retryPeriodMs);
    expect(a.elector?.isLeader()).toBe(false);
    expect(a.stopped.map((s) => s.reason)).toEqual(['renew-deadline']);
    a.answerLatencyMs = 1;
    // Once the slow requests have timed out and answers come back in time, it renews its own
    // (unexpired, still its) lease and leads again, in the same term of the record.
    await world.clock.advance(renewDeadlineMs + 2 * retryPeriodMs);
    expect(a.elector?.isLeader()).toBe(true);
    expect(stored(world).spec?.leaseTransitions).toBe(0);
    await world.stop(a);
  });

  it('counts its deadline from when a renewal was sent, so a slow answer cannot outlast followers', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    const b = world.candidate({ identity: 'b' });
    await world.start(a);
    await world.start(b);
    await world.clock.advance(3_000);
    // The next renewal lands at once but its answer takes 7 s; after it, a is cut off.
    a.answerLatencyMs = 7_000;
    const before = world.server.requests.length;
    const landed = () =>
      world.server.requests.slice(before).find((r) => r.connection === 'a' && r.committedAt !== undefined);
    await world.clock.advanceUntil(() => landed() !== undefined, 10_000);
    a.connection.state = 'hang';
    const sentAt = landed()?.sentAt ?? Number.NaN;

    expect(await world.clock.advanceUntil(() => b.elector?.isLeader() === true, 30_000)).toBe(true);
    // Counted from the answer (7 s later), a would still lead when b takes over 15 s after the write.
    expect(a.stopped[0]?.at).toBeLessThanOrEqual(sentAt + renewDeadlineMs);
    expect(a.stopped[0]?.at).toBeLessThan(b.started[0] ?? Number.NaN);
    await world.stop(a);
    await world.stop(b);
  });

  it('steps down when the lease is found held by another', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    await world.start(a);
    const lease = stored(world);
    world.server.put(LEASE.namespace, { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } });
    await world.clock.advance(retryPeriodMs + 100);
    expect(a.elector?.isLeader()).toBe(false);
    expect(a.stopped.map((s) => s.reason)).toEqual(['lost']);
    expect(a.newLeaders).toEqual(['a', 'intruder']);
    await world.stop(a);
  });

  it('leaves no timers once stopped, leading or following', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    const b = world.candidate({ identity: 'b' });
    await world.start(a);
    await world.start(b);
    await world.clock.advance(10_000);
    await world.stop(a, { release: true });
    await world.stop(b);
    expect(world.clock.pendingTimers()).toBe(0);
  });

  it('fails to start, leaving no timers, when the namespace does not exist or access is refused', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    const missing = await rejected(world.start(a, { namespace: 'no-such-namespace' }));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toContain('Namespace no-such-namespace does not exist');

    a.connection.state = 'forbidden';
    const forbidden = await rejected(world.start(a));
    expect(forbidden.code).toBe('PERMISSION_DENIED');
    expect(forbidden.actions.join('\n')).toContain('--verb=get,create,update');
    expect(world.clock.pendingTimers()).toBe(0);
  });

  it('starts anyway, and keeps trying, when the first attempt finds the API unavailable', async () => {
    const world = new ElectionWorld();
    const a = world.candidate({ identity: 'a' });
    a.connection.state = 'fail';
    await world.start(a);
    expect(a.elector?.isLeader()).toBe(false);
    a.connection.state = 'up';
    await world.clock.advance(retryPeriodMs + 100);
    expect(a.elector?.isLeader()).toBe(true);
    await world.stop(a);
  });
});

describe('createLeaderElector input', () => {
  const base = { name: 'my-controller', namespace: 'default', identity: 'host_1', logger: noopLogger };

  it.each([
    [{ leaseDurationMs: 1500 }, 'leaseDurationMs', /whole number of seconds/],
    [{ leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }, 'renewDeadlineMs', /less than leaseDurationMs/],
    [{ renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }, 'retryPeriodMs', /1\.2 × retryPeriodMs/],
    [{ retryPeriodMs: 0 }, 'retryPeriodMs', /above zero/],
    [{ identity: '' }, 'identity', /identity is empty/],
    [{ name: 'Not_A_Name' }, 'name', /not a valid Lease name/],
    [{ namespace: '' }, 'namespace', /not a valid namespace/],
  ] as const)('refuses %j without sending anything', async (override, field, message) => {
    const client = silentApi();
    const error = await rejected(createLeaderElector({ ...base, client, ...override }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe(field);
    expect(error.message).toMatch(message);
    expect(client.calls).toEqual([]);
  });

  it('refuses a client that is neither a KubeConfig nor a lease API', async () => {
    const error = await rejected(createLeaderElector({ ...base, client: {} as unknown as LeaseApi }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('client');
  });
});
