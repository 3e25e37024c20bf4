import { noopLogger } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import {
  createIdentityHeartbeat,
  HEARTBEAT_VERBS,
  type HeartbeatSettings,
  startHeartbeat,
} from './heartbeat.js';
import type { LeaseApi } from './lease-store.js';
import { MemoryLeaseServer } from './memory-lease-store.js';
import { apiServerIdentityLabels, apiServerIdentityName } from './names.js';
import { recordingLogger, rejected } from './test-support.js';

const SIX_DIGITS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const UUID = '5b0e2a4e-1c3f-4a5b-8c7d-9e0f1a2b3c4d';
const NAME = apiServerIdentityName({ hostname: 'master-1', generation: '1.27' });

function world(options: { random?: () => number } = {}) {
  const clock = new FakeClock();
  const server = new MemoryLeaseServer(clock);
  const connection = server.connect({
    name: 'apiserver',
    use: { purpose: 'the apiserver identity heartbeat', verbs: HEARTBEAT_VERBS },
  });
  const logger = recordingLogger();
  const settings = (overrides: Partial<HeartbeatSettings> = {}): HeartbeatSettings => ({
    store: connection,
    clock,
    random: options.random ?? (() => 0.5),
    leaseName: NAME,
    namespace: 'kube-system',
    holderIdentity: `${NAME}_${UUID}`,
    labels: apiServerIdentityLabels({ hostname: 'master-1', generation: '1.27' }),
    renewIntervalMs: 10_000,
    leaseDurationSeconds: 3600,
    logger,
    ...overrides,
  });
  const ours = (verb?: string) =>
    server.requests.filter((r) => r.connection === 'apiserver' && (verb === undefined || r.verb === verb));
  return { clock, server, connection, settings, ours, logger };
}

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

describe('identity heartbeat on a fake clock', () => {
  it('creates the lease as a 1.27 apiserver does', async () => {
    const { clock, server, settings } = world();
    const heartbeat = await clock.run(startHeartbeat(settings()));
    const lease = server.lease('kube-system', NAME);

    expect(heartbeat.leaseName).toBe('apiserver-wj467rbl25eeviqacfhvg2yvnm');
    expect(lease?.metadata?.labels).toEqual({
      'apiserver.kubernetes.io/identity': 'kube-apiserver',
      'kubernetes.io/hostname': 'master-1',
    });
    expect(lease?.spec?.holderIdentity).toBe(`apiserver-wj467rbl25eeviqacfhvg2yvnm_${UUID}`);
    expect(lease?.spec?.leaseDurationSeconds).toBe(3600);
    expect(lease?.spec?.renewTime).toMatch(SIX_DIGITS);
    expect(heartbeat.lastRenewedAt()).toBe(Date.parse(String(lease?.spec?.renewTime)));
    await clock.run(heartbeat.stop());
  });

  it('renews every 10 s plus at most 4% jitter, with one optimistic PUT each time', async () => {
    const randoms = [0, 1, 0.5, 0.25, 0.75, 0, 1, 0.5, 0.1, 0.9];
    let next = 0;
    const { clock, server, settings, ours } = world({ random: () => randoms[next++ % randoms.length] ?? 0 });
    const heartbeat = await clock.run(startHeartbeat(settings()));
    await clock.advance(100_000);

    const updates = ours('update').map((r) => r.sentAt);
    expect(ours('get')).toHaveLength(1);
    expect(ours('create')).toHaveLength(1);
    expect(updates.length).toBeGreaterThanOrEqual(9);
    const gaps = updates.slice(1).map((at, index) => at - (updates[index] ?? 0));
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(10_000);
      // 4% jitter plus the previous PUT's round trip (1 ms each way).
      expect(gap).toBeLessThanOrEqual(10_400 + 2);
    }
    expect(new Set(gaps.map((gap) => Math.round(gap / 100))).size).toBeGreaterThan(1);
    const renewTime = Date.parse(String(server.lease('kube-system', NAME)?.spec?.renewTime));
    expect(renewTime).toBe(clock.wallNow() - (clock.now() - (updates.at(-1) ?? 0)));
    await clock.run(heartbeat.stop());
  });

  it('on conflicts, re-reads after backoff from 100 ms, doubling, then renews', async () => {
    const { clock, server, settings, ours } = world({ random: () => 1 });
    const heartbeat = await clock.run(startHeartbeat(settings()));
    // Another writer touches the lease right before each of our next three PUTs lands.
    let conflicts = 3;
    server.beforeCommit = (request) => {
      if (request.connection !== 'apiserver' || request.verb !== 'update' || conflicts === 0) return;
      conflicts--;
      const lease = server.lease('kube-system', NAME);
      if (lease)
        server.put('kube-system', {
          ...lease,
          metadata: { ...lease.metadata, annotations: { touched: String(conflicts) } },
        });
    };
    const from = ours().length;
    await clock.advance(12_000);

    const sequence = ours()
      .slice(from)
      .map((r) => `${r.verb} ${r.status}`);
    expect(sequence).toEqual([
      'update 409',
      'get 200',
      'update 409',
      'get 200',
      'update 409',
      'get 200',
      'update 200',
    ]);
    const requests = ours().slice(from);
    // Backoff before each re-read: 100, 200, 400 ms (random() = 1 takes each ceiling), after the 409 comes back.
    const waits = [1, 3, 5].map((i) => (requests[i]?.sentAt ?? 0) - (requests[i - 1]?.sentAt ?? 0) - 2);
    expect(waits).toEqual([100, 200, 400]);
    const lease = server.lease('kube-system', NAME);
    expect(lease?.metadata?.annotations).toEqual({ touched: '0' });
    expect(lease?.spec?.holderIdentity).toBe(`${NAME}_${UUID}`);
    expect(heartbeat.lastRenewedAt()).toBe(Date.parse(String(lease?.spec?.renewTime)));
    await clock.run(heartbeat.stop());
  });

  it('gives up a round after 5 conflicting attempts on each path, reports it, and renews in the next round', async () => {
    const { clock, server, settings, ours, logger } = world({ random: () => 0 });
    const heartbeat = await clock.run(startHeartbeat(settings()));
    let conflicts = 10;
    server.beforeCommit = (request) => {
      if (request.connection !== 'apiserver' || request.verb !== 'update' || conflicts === 0) return;
      conflicts--;
      const lease = server.lease('kube-system', NAME);
      if (lease) server.put('kube-system', lease);
    };
    // 5 tries on the last version written, then 5 after a fresh read, as the lease controller does.
    await clock.advance(20_000);
    expect(ours('update').filter((r) => r.status === 409)).toHaveLength(10);
    expect(ours('update').filter((r) => r.status === 200)).toHaveLength(0);
    expect(logger.lines.some((line) => line.level === 'warn' && /renewal failed/.test(line.message))).toBe(
      true,
    );
    await clock.advance(10_500);
    expect(ours('update').at(-1)?.status).toBe(200);
    await clock.run(heartbeat.stop());
  });

  it('takes over the lease a previous process on the same host left, keeping foreign labels', async () => {
    const { clock, server, settings } = world();
    server.put('kube-system', {
      metadata: {
        name: NAME,
        labels: { 'apiserver.kubernetes.io/identity': 'kube-apiserver', team: 'infra' },
      },
      spec: {
        holderIdentity: `${NAME}_old`,
        leaseDurationSeconds: 3600,
        renewTime: '2026-11-23T11:00:00.000000Z' as never,
      },
    });
    const heartbeat = await clock.run(startHeartbeat(settings()));
    const lease = server.lease('kube-system', NAME);
    expect(lease?.spec?.holderIdentity).toBe(`${NAME}_${UUID}`);
    expect(lease?.metadata?.labels).toEqual({
      'apiserver.kubernetes.io/identity': 'kube-apiserver',
      'kubernetes.io/hostname': 'master-1',
      team: 'infra',
    });
    await clock.run(heartbeat.stop());
  });

  it('leaves the lease when stopped, deletes it with deleteLease, and leaves no timers', async () => {
    const { clock, server, settings } = world();
    const kept = await clock.run(startHeartbeat(settings()));
    await clock.advance(25_000);
    await clock.run(kept.stop());
    expect(server.lease('kube-system', NAME)).toBeDefined();
    expect(clock.pendingTimers()).toBe(0);

    const deleted = await clock.run(startHeartbeat(settings()));
    await clock.run(deleted.stop({ deleteLease: true }));
    expect(server.lease('kube-system', NAME)).toBeUndefined();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('does not delete a lease another holder has taken over since', async () => {
    const { clock, server, settings } = world();
    const heartbeat = await clock.run(startHeartbeat(settings()));
    const lease = server.lease('kube-system', NAME);
    server.put('kube-system', { ...lease, spec: { ...lease?.spec, holderIdentity: `${NAME}_newer` } });
    await clock.run(heartbeat.stop({ deleteLease: true }));
    expect(server.lease('kube-system', NAME)?.spec?.holderIdentity).toBe(`${NAME}_newer`);
  });

  it('fails to start, leaving no timers, when the namespace is missing or access is refused', async () => {
    const { clock, connection, settings } = world();
    const missing = await rejected(clock.run(startHeartbeat(settings({ namespace: 'nope' }))));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toContain('Namespace nope does not exist');

    connection.state = 'forbidden';
    const forbidden = await rejected(clock.run(startHeartbeat(settings())));
    expect(forbidden.code).toBe('PERMISSION_DENIED');
    expect(forbidden.actions.join('\n')).toContain('--verb=get,create,update,delete');
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('createIdentityHeartbeat input', () => {
  it.each([
    [{ hostname: '' }, 'hostname'],
    [{ generation: '1.25' }, 'generation'],
    [{ renewIntervalMs: -1 }, 'renewIntervalMs'],
    [{ leaseDurationSeconds: 1.5 }, 'leaseDurationSeconds'],
    [{ namespace: 'Kube_System' }, 'namespace'],
  ])('refuses %j without sending anything', async (override, field) => {
    const client = silentApi();
    const error = await rejected(
      createIdentityHeartbeat({
        client,
        hostname: 'master-1',
        generation: '1.27',
        logger: noopLogger,
        ...(override as object),
      }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe(field);
    expect(client.calls).toEqual([]);
  });
});
