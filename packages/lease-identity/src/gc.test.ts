import type { V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { microTime } from './clock.js';
import { FakeClock } from './fake-clock.js';
import { createIdentityGc, GC_VERBS, isLeaseExpired, startGc } from './gc.js';
import type { LeaseApi } from './lease-store.js';
import { MemoryLeaseServer } from './memory-lease-store.js';
import { apiServerIdentityLabels, apiServerIdentityName } from './names.js';
import { recordingLogger, rejected } from './test-support.js';

const HOUR = 3_600_000;

function world() {
  const clock = new FakeClock();
  const server = new MemoryLeaseServer(clock);
  const connection = server.connect({
    name: 'gc',
    use: { purpose: 'the identity lease GC', verbs: GC_VERBS },
  });
  const logger = recordingLogger();
  const gc = (intervalMs = HOUR) =>
    startGc({ store: connection, clock, namespace: 'kube-system', intervalMs, logger });
  /** Writes an identity lease of `hostname`, last renewed `ageMs` ago. */
  const identity = (hostname: string, generation: '1.20' | '1.26' | '1.27', ageMs: number): string => {
    const name = apiServerIdentityName({ hostname, generation });
    server.put(
      'kube-system',
      lease(name, apiServerIdentityLabels({ hostname, generation }), clock.wallNow() - ageMs),
    );
    return name;
  };
  const lease = (name: string, labels: Record<string, string>, renewedAt: number): V1Lease => ({
    metadata: { name, labels },
    spec: { holderIdentity: `${name}_x`, leaseDurationSeconds: 3600, renewTime: microTime(renewedAt) },
  });
  const renew = (name: string) => {
    const current = server.lease('kube-system', name);
    server.put('kube-system', {
      ...current,
      spec: { ...current?.spec, renewTime: microTime(clock.wallNow()) },
    });
  };
  return { clock, server, connection, gc, identity, lease, renew, logger };
}

describe('identity lease GC on a fake clock', () => {
  it('deletes expired identity leases of every generation and keeps live ones', async () => {
    const { clock, server, gc, identity } = world();
    const expired = [
      identity('old-1', '1.20', 2 * HOUR),
      identity('old-2', '1.26', HOUR + 1000),
      identity('old-3', '1.27', 5 * HOUR),
    ];
    const live = [identity('live-1', '1.26', 10_000), identity('live-2', '1.27', HOUR - 1000)];
    const collector = gc();
    const result = await clock.run(collector.collect());

    expect(result).toEqual({ listed: 5, deleted: [...expired].sort(), renewed: [], alreadyGone: [] });
    for (const name of expired) expect(server.lease('kube-system', name)).toBeUndefined();
    for (const name of live) expect(server.lease('kube-system', name)).toBeDefined();
    await clock.run(collector.stop());
  });

  it('never touches leases without an identity label, however expired', async () => {
    const { clock, server, gc, lease } = world();
    server.put('kube-system', lease('kube-scheduler', {}, clock.wallNow() - 10 * HOUR));
    server.put('kube-system', lease('apiserver-unlabelled00000000000', {}, clock.wallNow() - 10 * HOUR));
    server.put(
      'kube-system',
      lease('other', { 'k8s.io/component': 'kube-scheduler' }, clock.wallNow() - 10 * HOUR),
    );
    const collector = gc();
    const result = await clock.run(collector.collect());
    expect(result.listed).toBe(0);
    expect(server.lease('kube-system', 'kube-scheduler')).toBeDefined();
    expect(server.lease('kube-system', 'apiserver-unlabelled00000000000')).toBeDefined();
    expect(server.lease('kube-system', 'other')).toBeDefined();
    await clock.run(collector.stop());
  });

  it('keeps a lease renewed between the list and the re-read', async () => {
    const { clock, server, gc, identity, renew } = world();
    const name = identity('master-1', '1.27', 2 * HOUR);
    server.beforeCommit = (request) => {
      if (request.verb === 'get' && request.name === name) renew(name);
    };
    const collector = gc();
    const result = await clock.run(collector.collect());
    expect(result).toEqual({ listed: 1, deleted: [], renewed: [name], alreadyGone: [] });
    expect(server.lease('kube-system', name)).toBeDefined();
    await clock.run(collector.stop());
  });

  it("keeps a lease renewed between the re-read and the delete: the read's resourceVersion is the precondition", async () => {
    const { clock, server, gc, identity, renew } = world();
    const name = identity('master-1', '1.26', 2 * HOUR);
    server.beforeCommit = (request) => {
      if (request.verb === 'delete' && request.name === name) renew(name);
    };
    const collector = gc();
    const result = await clock.run(collector.collect());
    expect(result).toEqual({ listed: 1, deleted: [], renewed: [name], alreadyGone: [] });
    expect(server.requests.find((r) => r.verb === 'delete')?.status).toBe(409);
    expect(server.lease('kube-system', name)).toBeDefined();
    await clock.run(collector.stop());
  });

  it('counts a lease another GC deleted first as already gone, before the re-read or the delete', async () => {
    const { clock, server, gc, identity } = world();
    const beforeRead = identity('gone-1', '1.27', 2 * HOUR);
    const beforeDelete = identity('gone-2', '1.27', 2 * HOUR);
    server.beforeCommit = (request) => {
      if (request.verb === 'get' && request.name === beforeRead) server.drop('kube-system', beforeRead);
      if (request.verb === 'delete' && request.name === beforeDelete)
        server.drop('kube-system', beforeDelete);
    };
    const collector = gc();
    const result = await clock.run(collector.collect());
    expect(result.deleted).toEqual([]);
    expect(result.alreadyGone.sort()).toEqual([beforeDelete, beforeRead].sort());
    await clock.run(collector.stop());
  });

  it('keeps a lease whose identity label was removed between the list and the re-read', async () => {
    const { clock, server, gc, identity } = world();
    const name = identity('master-1', '1.27', 2 * HOUR);
    server.beforeCommit = (request) => {
      if (request.verb !== 'get') return;
      const current = server.lease('kube-system', name);
      server.put('kube-system', { ...current, metadata: { ...current?.metadata, labels: {} } });
    };
    const collector = gc();
    const result = await clock.run(collector.collect());
    expect(result.deleted).toEqual([]);
    expect(server.lease('kube-system', name)).toBeDefined();
    await clock.run(collector.stop());
  });

  it('runs a pass every interval until stopped, then leaves no timers', async () => {
    const { clock, server, gc, identity } = world();
    const collector = gc(60_000);
    await clock.advance(59_000);
    expect(server.requests.filter((r) => r.verb === 'list')).toHaveLength(0);
    const name = identity('master-1', '1.27', 2 * HOUR);
    await clock.advance(2_000);
    expect(server.lease('kube-system', name)).toBeUndefined();
    await clock.advance(120_000);
    // Two label selectors per pass, three passes.
    expect(server.requests.filter((r) => r.verb === 'list')).toHaveLength(6);
    await clock.run(collector.stop());
    expect(clock.pendingTimers()).toBe(0);
    await clock.advance(120_000);
    expect(server.requests.filter((r) => r.verb === 'list')).toHaveLength(6);
  });

  it('gives up a request the API never answers, and stop() aborts a pass in progress', async () => {
    const { clock, connection, gc } = world();
    connection.state = 'hang';
    const collector = gc();
    const timedOut = await rejected(clock.run(collector.collect(), 60_000));
    expect(timedOut.code).toBe('UNAVAILABLE');
    expect(timedOut.message).toContain('did not answer listing identity leases within 30000 ms');

    const pass = collector.collect();
    await clock.advance(1_000);
    await collector.stop();
    expect((await rejected(pass)).code).toBe('ABORTED');
    expect(clock.pendingTimers()).toBe(0);
  });

  it('refuses with the RBAC to grant when listing is forbidden', async () => {
    const { clock, connection, gc } = world();
    connection.state = 'forbidden';
    const collector = gc();
    const error = await rejected(clock.run(collector.collect()));
    expect(error.code).toBe('PERMISSION_DENIED');
    expect(error.message).toContain('list');
    expect(error.actions.join('\n')).toContain('--verb=list,get,delete');
    await clock.run(collector.stop());
  });
});

describe('isLeaseExpired', () => {
  it('follows the apiserver GC: missing fields are expired, otherwise renewTime + duration before now', () => {
    const now = Date.UTC(2026, 10, 23, 12);
    const at = (ms: number) => microTime(ms);
    expect(isLeaseExpired({ spec: {} }, now)).toBe(true);
    expect(isLeaseExpired({ spec: { renewTime: at(now) } }, now)).toBe(true);
    expect(isLeaseExpired({ spec: { leaseDurationSeconds: 10 } }, now)).toBe(true);
    expect(isLeaseExpired({ spec: { renewTime: at(now - 10_000), leaseDurationSeconds: 10 } }, now)).toBe(
      false,
    );
    expect(isLeaseExpired({ spec: { renewTime: at(now - 10_001), leaseDurationSeconds: 10 } }, now)).toBe(
      true,
    );
  });
});

describe('createIdentityGc input', () => {
  const client = {} as LeaseApi;
  it('refuses a bad interval, namespace or client', () => {
    const api = { readNamespacedLease() {}, replaceNamespacedLease() {} } as unknown as LeaseApi;
    expect(() => createIdentityGc({ client: api, intervalMs: 0 })).toThrow(/intervalMs/);
    expect(() => createIdentityGc({ client: api, namespace: 'Kube System' })).toThrow(/namespace/);
    expect(() => createIdentityGc({ client })).toThrow(/KubeConfig or a CoordinationV1Api/);
  });
});
