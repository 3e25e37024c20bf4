import { describe, expect, it } from 'vitest';
import type { ClusterStatus, ReplicaStatus } from './types.js';
import { decide, newWatchMemory, noteReplaced, type WatchLimits } from './watch-policy.js';

const LIMITS: WatchLimits = {
  unhealthyAfterMs: 60_000,
  maxRetries: 2,
  retryPeriodMs: 120_000,
  backupEveryMs: 0,
  renewWithinDays: 0,
};

const replica = (name: string, zone: string, state: ReplicaStatus['state'] = 'healthy'): ReplicaStatus => ({
  name,
  zone,
  internalIp: '127.0.0.1',
  state,
});

function status(replicas: ReplicaStatus[], change: Partial<ClusterStatus> = {}): ClusterStatus {
  return {
    cluster: 'kubernetes',
    provider: 'local',
    region: 'local',
    multizone: true,
    quorumReads: false,
    replicas,
    etcd: {
      members: replicas.map((r) => ({
        id: r.name,
        name: r.name,
        learner: false,
        healthy: r.state === 'healthy',
        leader: false,
      })),
    },
    endpoint: { address: '127.0.0.1', mode: 'load-balanced', targets: [] },
    faultTolerance: { voters: 3, quorum: 2, tolerates: 1, healthy: 2, canStillLose: 0 },
    warnings: [],
    ...change,
  } as ClusterStatus;
}

const three = (state: ReplicaStatus['state']) =>
  status([replica('a', 'local-a'), replica('b', 'local-b'), replica('c', 'local-c', state)]);
const kinds = (decisions: ReturnType<typeof decide>) =>
  decisions.map((d) => (d.kind === 'wait' ? `wait:${d.code}` : d.kind));

describe('the watch policy', () => {
  it('starts a stopped or crashed replica (repair) at once', () => {
    const memory = newWatchMemory(0);
    expect(kinds(decide(three('terminated'), memory, LIMITS, 0))).toEqual(['repair']);
    expect(kinds(decide(three('stopped'), memory, LIMITS, 0))).toEqual(['repair']);
  });

  it('replaces an unhealthy replica only after unhealthyAfter, then not again within the retry period, and never more than maxRetries times', () => {
    const memory = newWatchMemory(0);
    expect(kinds(decide(three('unhealthy'), memory, LIMITS, 0))).toEqual(['wait:UNHEALTHY_NOT_YET']);
    expect(kinds(decide(three('unhealthy'), memory, LIMITS, 60_000))).toEqual(['replace']);
    noteReplaced(memory, 'c', 'c2', 60_000);
    const again = status([
      replica('a', 'local-a'),
      replica('b', 'local-b'),
      replica('c2', 'local-c', 'unhealthy'),
    ]);
    expect(kinds(decide(again, memory, LIMITS, 100_000))).toEqual(['wait:UNHEALTHY_NOT_YET']);
    expect(kinds(decide(again, memory, LIMITS, 170_000))).toEqual(['wait:RETRY_PERIOD']);
    expect(kinds(decide(again, memory, LIMITS, 181_000))).toEqual(['replace']);
    noteReplaced(memory, 'c2', 'c3', 181_000);
    const third = status([
      replica('a', 'local-a'),
      replica('b', 'local-b'),
      replica('c3', 'local-c', 'unhealthy'),
    ]);
    decide(third, memory, LIMITS, 181_000);
    const exhausted = decide(third, memory, LIMITS, 1_000_000);
    expect(kinds(exhausted)).toEqual(['wait:RETRIES_EXHAUSTED']);
    expect(exhausted[0]?.kind === 'wait' && exhausted[0].reason).toMatch(
      /replaced 2 times and is unhealthy again/,
    );
  });

  it('never replaces in a zone that looks failed, nor the only replica, nor while an operation is in flight', () => {
    const memory = newWatchMemory(0);
    const down = decide(three('zone-down'), memory, LIMITS, 0);
    expect(kinds(decide(three('zone-down'), memory, LIMITS, 10 * 60_000))).toEqual(['wait:ZONE_DOWN']);
    expect(down[0]?.kind === 'wait' && down[0].reason).toContain('hacp zone restore local-c');
    const only = status([replica('a', 'local-a', 'unhealthy')]);
    decide(only, memory, LIMITS, 0);
    expect(kinds(decide(only, memory, LIMITS, 120_000))).toEqual(['wait:SINGLE_REPLICA']);
    const busy = status([replica('a', 'local-a', 'stopped')], {
      operation: { id: 'op-1', operation: 'replicate', steps: 9, stepsDone: 3, next: 'x' },
    } as Partial<ClusterStatus>);
    expect(kinds(decide(busy, memory, LIMITS, 0))).toEqual(['wait:OPERATION_IN_FLIGHT']);
    // A repair cut short (the watch's own, stopped mid-way) is finished first.
    const cut = status([replica('a', 'local-a', 'stopped')], {
      operation: { id: 'op-2', operation: 'repair', steps: 2, stepsDone: 1, next: 'x' },
    } as Partial<ClusterStatus>);
    expect(kinds(decide(cut, memory, LIMITS, 0))).toEqual(['resume']);
  });

  it('takes a backup every backupEvery and renews certificates within renewWithin days', () => {
    const limits = { ...LIMITS, backupEveryMs: 60_000, renewWithinDays: 30 };
    const memory = newWatchMemory(0);
    const healthy = three('healthy');
    expect(kinds(decide(healthy, memory, limits, 30_000))).toEqual([]);
    expect(kinds(decide(healthy, memory, limits, 60_000))).toEqual(['backup']);
    const expiring = [{ name: 'etcd-peer:a', status: 'expiring' }] as never;
    memory.lastBackupAt = 60_000;
    expect(kinds(decide(healthy, memory, limits, 61_000, expiring))).toEqual(['renew-certs']);
  });
});
