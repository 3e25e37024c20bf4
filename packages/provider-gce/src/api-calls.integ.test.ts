/**
 * The fewest Compute API calls, counted on the wire of the testkit's Compute API server: what the
 * provider no longer reads again, the reads it makes side by side (serial round trips, counted with
 * latency added as bench/gce counts them), the endpoint's gap in each direction, and that every
 * call made without reading first falls back to the careful way when GCE refuses it, changing
 * nothing. Each of these failed before the provider made the cut it tests.
 */
import compute from '@google-cloud/compute';
import { ErrorCode, isHacpError } from '@hacp/core';
import { type ComputeApiRequest, type ComputeApiServer, startComputeApiServer } from '@hacp/testkit';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGceProvider, type GceProvider, type GceProviderSettings } from './provider.js';
import {
  ids,
  moveToLoadBalancer,
  moveToVm,
  newCluster,
  REGION,
  replicaNodeConfig,
  twoReplicas,
  ZONE_B,
  ZONE_C,
} from './test-support.js';

const PROJECT = 'hacp-test';
/** Latency added while serial round trips are counted: far longer than two requests sent together take to leave. */
const LATENCY_MS = 150;

let server: ComputeApiServer;
const providers: GceProvider[] = [];

beforeAll(async () => {
  server = await startComputeApiServer({ projects: [PROJECT], operationDelayMs: 2 });
});

afterAll(async () => {
  try {
    for (const provider of providers) await provider.close();
  } finally {
    await server?.close();
  }
});

function gce(settings: Partial<GceProviderSettings> = {}): GceProvider {
  const provider = createGceProvider({
    project: PROJECT,
    clientOptions: server.clientOptions,
    authClient: new PassThroughClient(),
    reach: 'direct',
    retry: { attempts: 5, baseDelayMs: 5 },
    ...settings,
  });
  providers.push(provider);
  return provider;
}

/** The methods of the requests since `from`, in order of arrival (`compute.` left out). */
const methodsSince = (from: number) =>
  server.requests.slice(from).map((request) => String(request.method).replace(/^compute\./, ''));

/** How many requests of `method` arrived since `from`. */
const countSince = (from: number, method: string) =>
  methodsSince(from).filter((name) => name === method).length;

/**
 * Serial round trips, as bench/gce counts them: requests by arrival; one that arrives before every
 * earlier one was answered overlaps them, else it starts a new round.
 */
function serialRounds(requests: readonly ComputeApiRequest[]): number {
  let rounds = 0;
  let answeredBy = Number.NEGATIVE_INFINITY;
  for (const request of [...requests].sort((a, b) => a.time.getTime() - b.time.getTime())) {
    if (request.time.getTime() >= answeredBy) rounds += 1;
    answeredBy = Math.max(answeredBy, request.answeredAt?.getTime() ?? Number.POSITIVE_INFINITY);
  }
  return rounds;
}

/** Runs `work` with LATENCY_MS on every request and returns its serial round trips. */
async function roundsOf(work: () => Promise<unknown>): Promise<number> {
  const from = server.requests.length;
  server.latencyMs = LATENCY_MS;
  try {
    await work();
  } finally {
    server.latencyMs = 0;
  }
  return serialRounds(server.requests.slice(from));
}

/** The requests from the first of `first` to the first `last` after it (both included). */
function span(from: number, first: string, last: string): string[] {
  const methods = methodsSince(from);
  const start = methods.indexOf(first);
  const end = methods.indexOf(last, start + 1);
  return start < 0 || end < 0 ? methods : methods.slice(start, end + 1);
}

describe('instances: reads reused and made side by side', () => {
  it('reaches the replicas it just listed without reading them again; a change or no reuse reads again', async () => {
    const provider = gce();
    const cluster = newCluster();
    const next = ids(cluster);
    const refs = [
      { name: `${cluster}-master`, zone: ZONE_B },
      { name: `${cluster}-master-b2c`, zone: ZONE_C },
    ];
    for (const ref of refs) {
      await provider.instances.create({ ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) }, next());
    }
    const listed = await provider.instances.list({ cluster });
    let from = server.requests.length;
    const reached = await Promise.all(refs.map((ref) => provider.reach(ref, 2379)));
    expect(reached.map((reach) => reach.host)).toEqual(listed.map((instance) => instance.internalIp));
    expect(methodsSince(from)).toEqual([]);

    // The contract's get always asks; a stop through this provider makes reach read again.
    from = server.requests.length;
    await provider.instances.get(refs[0] as (typeof refs)[0]);
    expect(methodsSince(from)).toEqual(['instances.get']);
    await provider.instances.stop(refs[1] as (typeof refs)[1], next());
    from = server.requests.length;
    await provider.reach(refs[1] as (typeof refs)[1], 2379);
    expect(methodsSince(from)).toEqual(['instances.get']);

    const fresh = gce({ reuseReadsForMs: 0 });
    await fresh.instances.list({ cluster });
    from = server.requests.length;
    await Promise.all(refs.map((ref) => fresh.reach(ref, 2379)));
    expect(countSince(from, 'instances.get')).toBe(2);
    for (const ref of refs) await provider.instances.delete(ref, next());
  });

  it('refuses a read reuse that is not a whole number of milliseconds from 0', () => {
    for (const reuseReadsForMs of [-1, 1.5]) {
      const error = (() => {
        try {
          gce({ reuseReadsForMs });
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe('reuseReadsForMs');
    }
  });

  it('creates with its three reads side by side and no read after an insert GCE had not seen', async () => {
    const provider = gce();
    const cluster = newCluster();
    const ref = { name: `${cluster}-master`, zone: ZONE_B };
    const from = server.requests.length;
    const rounds = await roundsOf(() =>
      provider.instances.create(
        { ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) },
        { requestId: 'c1' },
      ),
    );
    // The instance, its internal address and its disk read at once; the address read again for its
    // IP, the instance once for what create returns: no disk or instance read to check the inserts.
    expect(countSince(from, 'instances.get')).toBe(2);
    expect(countSince(from, 'disks.get')).toBe(1);
    expect(countSince(from, 'addresses.get')).toBe(2);
    // zones.list, the three reads, address insert + wait + read, disk insert + wait, instance insert + wait + read.
    expect(rounds).toBe(10);
    await provider.instances.delete(ref, { requestId: 'c2' });
  });

  it('allocates a network with one insert, reading only for its IP; again, GCE refuses the insert and it reads', async () => {
    const provider = gce();
    const cluster = newCluster();
    const ref = { name: `${cluster}-master`, zone: ZONE_B, cluster };
    await provider.zones.list();
    let from = server.requests.length;
    const network = await provider.instances.allocateNetwork(ref, { requestId: 'a1' });
    expect(methodsSince(from)).toEqual(['addresses.insert', 'regionOperations.wait', 'addresses.get']);
    from = server.requests.length;
    expect(await provider.instances.allocateNetwork(ref, { requestId: 'a2' })).toEqual(network);
    expect(methodsSince(from)).toEqual(['addresses.insert', 'addresses.get']);
    // Another cluster's name: refused as before, and nothing was made or changed.
    const before = JSON.stringify(server.state()[PROJECT]?.addresses);
    const refused = await provider.instances
      .allocateNetwork({ ...ref, cluster: `${cluster}x` }, { requestId: 'a3' })
      .catch((error: unknown) => error);
    expect(isHacpError(refused, ErrorCode.ALREADY_EXISTS)).toBe(true);
    expect(JSON.stringify(server.state()[PROJECT]?.addresses)).toBe(before);
    await provider.instances.delete(ref, { requestId: 'a4' });
  });

  it('deletes the disk and the internal address side by side once the instance is gone', async () => {
    const provider = gce();
    const cluster = newCluster();
    const ref = { name: `${cluster}-master`, zone: ZONE_B };
    await provider.instances.create(
      { ...ref, cluster, nodeConfig: replicaNodeConfig(ref.name) },
      { requestId: 'd1' },
    );
    const from = server.requests.length;
    const rounds = await roundsOf(() => provider.instances.delete(ref, { requestId: 'd2' }));
    expect(methodsSince(from).sort()).toEqual(
      [
        'instances.delete',
        'addresses.get',
        'zoneOperations.wait',
        'disks.delete',
        'addresses.delete',
        'zoneOperations.wait',
        'regionOperations.wait',
      ].sort(),
    );
    // Instance delete beside the address read, its wait, the two deletes, their waits.
    expect(rounds).toBe(4);
    expect(await provider.instances.get(ref)).toBeUndefined();
  });
});

describe('the load balancer: views and health polls', () => {
  it('reads pool, rule and check side by side, then every target health at once', async () => {
    const provider = gce();
    const world = await twoReplicas(provider);
    await moveToLoadBalancer(provider, world, `${world.cluster}-lb`);
    const ref = { name: world.spec.name, region: REGION };
    await provider.loadBalancers.setTargets(ref, [world.first, world.second], { requestId: 'targets' });
    const from = server.requests.length;
    let seen: Awaited<ReturnType<GceProvider['loadBalancers']['get']>>;
    const rounds = await roundsOf(async () => {
      seen = await provider.loadBalancers.get(ref);
    });
    expect(seen?.targets).toEqual([world.first, world.second]);
    expect(seen?.targetHealth.map((entry) => entry.instance)).toEqual([world.first, world.second]);
    expect(methodsSince(from).sort()).toEqual(
      [
        'targetPools.get',
        'forwardingRules.get',
        'httpHealthChecks.get',
        'targetPools.getHealth',
        'targetPools.getHealth',
      ].sort(),
    );
    expect(rounds).toBe(2);
  });

  it('polls health with one getHealth per target, reading the pool only when it does not know its members', async () => {
    const provider = gce();
    const world = await twoReplicas(provider);
    await moveToLoadBalancer(provider, world, `${world.cluster}-lb`);
    const ref = { name: world.spec.name, region: REGION };
    await provider.loadBalancers.setTargets(ref, [world.first, world.second], { requestId: 'targets' });

    let from = server.requests.length;
    const rounds = await roundsOf(async () => {
      const health = await provider.loadBalancers.health(ref);
      expect(health?.map((entry) => entry.instance)).toEqual([world.first, world.second]);
    });
    expect(methodsSince(from)).toEqual(['targetPools.getHealth', 'targetPools.getHealth']);
    expect(rounds).toBe(1);

    // Another provider knows nothing yet: the pool once, then the targets.
    const other = gce();
    from = server.requests.length;
    expect((await other.loadBalancers.health(ref))?.length).toBe(2);
    expect(methodsSince(from)).toEqual(['targetPools.get', 'targetPools.getHealth', 'targetPools.getHealth']);

    // The members changed behind the first provider's back: a getHealth says so, and the pool is read.
    await other.loadBalancers.setTargets(ref, [world.first], { requestId: 'narrow' });
    from = server.requests.length;
    const after = await provider.loadBalancers.health(ref);
    expect(after?.map((entry) => entry.instance)).toEqual([world.first]);
    expect(countSince(from, 'targetPools.get')).toBe(1);

    await other.loadBalancers.delete(ref, { requestId: 'gone' });
    expect(await provider.loadBalancers.health(ref)).toBeUndefined();
  });
});

describe('the endpoint moves in the fewest calls GCE allows', () => {
  it('VM → load balancer: the gap is the detach and the take-over, four requests, nothing read in between', async () => {
    const provider = gce();
    const world = await twoReplicas(provider);
    const from = server.requests.length;
    await moveToLoadBalancer(provider, world, `${world.cluster}-grow`);
    expect(span(from, 'instances.deleteAccessConfig', 'regionOperations.wait')).toEqual([
      'instances.deleteAccessConfig',
      'zoneOperations.wait',
      'forwardingRules.insert',
      'regionOperations.wait',
    ]);
    // The one instance read is prepare's look at its target (its attach changed it just before):
    // the detach and the ephemeral config after the take-over need none.
    expect(countSince(from, 'instances.get')).toBe(1);
    // The replica has its way out back, and the address is the load balancer's.
    const address = await provider.addresses.get(world.address);
    expect(address?.holder).toEqual({ kind: 'load-balancer', name: world.spec.name });
    expect((await provider.instances.get(world.first))?.externalIp).toBeDefined();
  });

  it('load balancer → VM: the gap is the rule delete and the attach, four requests; the rule is deleted once', async () => {
    const provider = gce();
    const world = await twoReplicas(provider);
    await moveToLoadBalancer(provider, world, `${world.cluster}-grow`);
    const from = server.requests.length;
    await moveToVm(provider, world, `${world.cluster}-shrink`);
    expect(span(from, 'forwardingRules.delete', 'zoneOperations.wait')).toEqual([
      'forwardingRules.delete',
      'regionOperations.wait',
      'instances.addAccessConfig',
      'zoneOperations.wait',
    ]);
    // Before it: the pool and the rule side by side, and the last target's config deleted unread.
    expect(methodsSince(from).slice(0, methodsSince(from).indexOf('forwardingRules.delete')).sort()).toEqual(
      [
        'targetPools.get',
        'forwardingRules.get',
        'instances.deleteAccessConfig',
        'zoneOperations.wait',
      ].sort(),
    );
    expect(countSince(from, 'forwardingRules.delete')).toBe(1);
    const address = await provider.addresses.get(world.address);
    expect(address?.holder).toEqual({ kind: 'instance', instance: world.first });
    expect(await provider.loadBalancers.get({ name: world.spec.name, region: REGION })).toBeUndefined();
  });

  it('an ensure at once that GCE refuses (an instance holds the address) is CONFLICT and makes no rule', async () => {
    const provider = gce();
    const world = await twoReplicas(provider);
    await provider.loadBalancers.prepare(world.spec, { requestId: 'prepare' });
    const from = server.requests.length;
    const refused = await provider.loadBalancers
      .ensure(world.spec, { requestId: 'ensure' })
      .catch((error: unknown) => error);
    expect(isHacpError(refused, ErrorCode.CONFLICT)).toBe(true);
    // Tried at once (refused by GCE), then read the careful way, which refuses before any change.
    expect(methodsSince(from)[0]).toBe('forwardingRules.insert');
    expect(countSince(from, 'forwardingRules.insert')).toBe(1);
    const address = await provider.addresses.get(world.address);
    expect(address?.holder).toEqual({ kind: 'instance', instance: world.first });
    expect(server.state()[PROJECT]?.forwardingRules.some((rule) => rule.name === world.spec.name)).toBe(
      false,
    );
  });

  it('an attach at once that GCE refuses (another instance took the address) is CONFLICT and changes nothing', async () => {
    const [provider, other] = [gce(), gce()];
    const world = await twoReplicas(provider);
    await moveToLoadBalancer(provider, world, `${world.cluster}-grow`);
    await provider.loadBalancers.releaseAddress(
      { name: world.spec.name, region: REGION },
      { requestId: 'release' },
    );
    await other.addresses.attach(world.address, world.second, { requestId: 'elsewhere' });
    const from = server.requests.length;
    const refused = await provider.addresses
      .attach(world.address, world.first, { requestId: 'attach' })
      .catch((error: unknown) => error);
    expect(isHacpError(refused, ErrorCode.CONFLICT)).toBe(true);
    expect(methodsSince(from)[0]).toBe('instances.addAccessConfig');
    expect((await provider.addresses.get(world.address))?.holder).toEqual({
      kind: 'instance',
      instance: world.second,
    });
    // The first replica is as releaseAddress left it: without an access config.
    expect((await provider.instances.get(world.first))?.externalIp).toBeUndefined();
  });

  it('detaches an access config named otherwise (made outside hacp) the careful way', async () => {
    const provider = gce();
    const world = await twoReplicas(provider);
    const ip = (await provider.addresses.get(world.address))?.ip as string;
    const clients = {
      instances: new compute.InstancesClient({
        ...server.clientOptions,
        authClient: new PassThroughClient(),
      }),
      operations: new compute.ZoneOperationsClient({
        ...server.clientOptions,
        authClient: new PassThroughClient(),
      }),
    };
    try {
      const at = {
        project: PROJECT,
        zone: world.first.zone,
        instance: world.first.name,
        networkInterface: 'nic0',
      };
      const [deleted] = await clients.instances.deleteAccessConfig({ ...at, accessConfig: 'external-nat' });
      await clients.operations.wait({
        project: PROJECT,
        zone: at.zone,
        operation: deleted.latestResponse.name,
      });
      const [added] = await clients.instances.addAccessConfig({
        ...at,
        accessConfigResource: { name: 'their-nat', type: 'ONE_TO_ONE_NAT', natIP: ip },
      });
      await clients.operations.wait({
        project: PROJECT,
        zone: at.zone,
        operation: added.latestResponse.name,
      });
    } finally {
      await clients.instances.close();
      await clients.operations.close();
    }
    const from = server.requests.length;
    const detached = await provider.addresses.detach(world.address, { requestId: 'detach' });
    expect(detached.holder).toBeUndefined();
    expect(methodsSince(from)).toContain('instances.get');
    expect((await provider.addresses.get(world.address))?.holder).toBeUndefined();
  });

  it('deletes a load balancer whose rule was made again after its release: rule, pool and check all go', async () => {
    const [provider, other] = [gce(), gce()];
    const world = await twoReplicas(provider);
    await moveToLoadBalancer(provider, world, `${world.cluster}-grow`);
    const ref = { name: world.spec.name, region: REGION };
    await provider.loadBalancers.releaseAddress(ref, { requestId: 'release' });
    await other.loadBalancers.ensure(world.spec, { requestId: 'again' });
    await provider.loadBalancers.delete(ref, { requestId: 'delete' });
    const state = server.state()[PROJECT];
    expect(state?.forwardingRules.some((rule) => rule.name === ref.name)).toBe(false);
    expect(state?.targetPools.some((pool) => pool.name === ref.name)).toBe(false);
    expect(state?.httpHealthChecks.some((check) => check.name === `${ref.name}-hc`)).toBe(false);
    expect((await provider.addresses.get(world.address))?.holder).toBeUndefined();
  });
});

describe('the state store: one read per write, one write for changes made together', () => {
  const key = (cluster: string) => `hacp/clusters/${cluster}/journal`;

  it('writes right after a read without reading again', async () => {
    const provider = gce();
    const cluster = newCluster();
    const record = await provider.state.put(
      key(cluster),
      { step: 1 },
      { requestId: 's1', expectedVersion: 0 },
    );
    await provider.state.get(key(cluster));
    const from = server.requests.length;
    await provider.state.put(key(cluster), { step: 2 }, { requestId: 's2', expectedVersion: record.version });
    expect(methodsSince(from)).toEqual(['projects.setCommonInstanceMetadata', 'globalOperations.wait']);
    expect((await provider.state.get(key(cluster)))?.value).toEqual({ step: 2 });
  });

  it('reads issued together are one projects.get', async () => {
    const provider = gce();
    const cluster = newCluster();
    await provider.state.put(key(cluster), { step: 1 }, { requestId: 'r1', expectedVersion: 0 });
    const from = server.requests.length;
    const [journal, record, keys] = await Promise.all([
      provider.state.get(key(cluster)),
      provider.state.get(`hacp/clusters/${cluster}/record`),
      provider.state.list(`hacp/clusters/${cluster}/`),
    ]);
    expect(methodsSince(from)).toEqual(['projects.get']);
    expect([journal?.value, record, keys]).toEqual([{ step: 1 }, undefined, [key(cluster)]]);
    // One after the other, each reads.
    await provider.state.get(key(cluster));
    await provider.state.get(key(cluster));
    expect(countSince(from, 'projects.get')).toBe(3);
  });

  it('a lock and a put issued together are one metadata write', async () => {
    const provider = gce();
    const cluster = newCluster();
    const from = server.requests.length;
    const [lock, record] = await Promise.all([
      provider.state.lock(`hacp-cluster-${cluster}`, { holder: 'cli', ttlMs: 60_000 }),
      provider.state.put(key(cluster), { step: 1 }, { requestId: 'together', expectedVersion: 0 }),
    ]);
    expect(countSince(from, 'projects.setCommonInstanceMetadata')).toBe(1);
    expect(record.version).toBe(1);
    const refused = await provider.state
      .lock(`hacp-cluster-${cluster}`, { holder: 'other', ttlMs: 60_000 })
      .catch((error: unknown) => error);
    expect(isHacpError(refused, ErrorCode.LOCKED)).toBe(true);
    // Finishing and unlocking, together, are one write too; a refusal among them is its caller's only.
    const at = server.requests.length;
    const [, deleted, stale] = await Promise.allSettled([
      lock.release(),
      provider.state.delete(key(cluster), { requestId: 'done', expectedVersion: 1 }),
      provider.state.put(key(cluster), { late: true }, { requestId: 'late', expectedVersion: 7 }),
    ]);
    expect(countSince(at, 'projects.setCommonInstanceMetadata')).toBe(1);
    expect(deleted.status).toBe('fulfilled');
    expect(stale.status === 'rejected' && isHacpError(stale.reason, ErrorCode.CONFLICT)).toBe(true);
    expect(await provider.state.get(key(cluster))).toBeUndefined();
    const again = await provider.state.lock(`hacp-cluster-${cluster}`, { holder: 'other', ttlMs: 60_000 });
    await again.release();
  });

  it('decides again on a new read what it refused on a reused one that another writer made stale', async () => {
    const [mine, theirs] = [gce(), gce()];
    const cluster = newCluster();
    await mine.state.put(key(cluster), { by: 'mine' }, { requestId: 'm1', expectedVersion: 0 });
    await mine.state.get(key(cluster));
    await theirs.state.put(key(cluster), { by: 'theirs' }, { requestId: 't1', expectedVersion: 1 });
    const from = server.requests.length;
    // Its reused read says version 1; the project says 2, which is what the caller expects.
    const written = await mine.state.put(
      key(cluster),
      { by: 'mine again' },
      { requestId: 'm2', expectedVersion: 2 },
    );
    expect(written.version).toBe(3);
    expect(methodsSince(from)).toEqual([
      'projects.get',
      'projects.setCommonInstanceMetadata',
      'globalOperations.wait',
    ]);
  });

  it('writes on a reused read that another writer made stale: GCE refuses it (412), and it reads again', async () => {
    const [mine, theirs] = [gce(), gce()];
    const [cluster, elsewhere] = [newCluster(), newCluster()];
    await mine.state.get(key(cluster));
    await theirs.state.put(key(elsewhere), { other: 1 }, { requestId: 'e1', expectedVersion: 0 });
    const from = server.requests.length;
    await mine.state.put(key(cluster), { step: 1 }, { requestId: 'r1', expectedVersion: 0 });
    const writes = server.requests
      .slice(from)
      .filter((request) => request.method === 'compute.projects.setCommonInstanceMetadata');
    expect(writes.map((request) => request.status)).toEqual([412, 200]);
    expect((await theirs.state.get(key(elsewhere)))?.value).toEqual({ other: 1 });
    expect((await theirs.state.get(key(cluster)))?.value).toEqual({ step: 1 });
  });
});
