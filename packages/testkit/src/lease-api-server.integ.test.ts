import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHacpError } from '@hacp/core';
import {
  ApiException,
  CoordinationV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Lease,
  V1MicroTime,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LeaseApiServer, startLeaseApiServer } from './lease-api-server.js';

const NS = 'kube-system';
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted by value, read by path
type Json = any;

let server: LeaseApiServer;
let api: CoordinationV1Api;

function clientFor(
  options: { token?: string; namespace?: string; kubeconfig?: string } = {},
): CoordinationV1Api {
  const kc = new KubeConfig();
  kc.loadFromString(options.kubeconfig ?? server.kubeconfig(options));
  return kc.makeApiClient(CoordinationV1Api);
}

/**
 * The ApiException a client call fails with: its code and its parsed JSON body. The client keeps no body
 * for a 401 (its OpenAPI spec declares none), so that one is undefined.
 */
async function refusal(call: Promise<unknown>): Promise<{ code: number; body: Json }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiException) {
      return { code: error.code, body: typeof error.body === 'string' ? JSON.parse(error.body) : error.body };
    }
    throw error;
  }
  throw new Error('expected the call to be refused');
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: Json;
}

/** A request over real HTTPS, trusting the server's CA unless told otherwise. */
function raw(options: {
  method?: string;
  path: string;
  body?: string;
  token?: string | null;
  contentType?: string;
  ca?: string | null;
}): Promise<RawResponse> {
  const url = new URL(options.path, server.url);
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = options.token === undefined ? server.token : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers,
        ...(options.ca === null ? {} : { ca: options.ca ?? server.caPem }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const microNow = () => new V1MicroTime();

async function createLease(
  name: string,
  extra: { labels?: Record<string, string>; namespace?: string } = {},
) {
  return api.createNamespacedLease({
    namespace: extra.namespace ?? NS,
    body: {
      metadata: { name, ...(extra.labels === undefined ? {} : { labels: extra.labels }) },
      spec: {
        holderIdentity: 'cp-1',
        leaseDurationSeconds: 15,
        acquireTime: microNow(),
        renewTime: microNow(),
      },
    },
  });
}

beforeAll(async () => {
  server = await startLeaseApiServer({ namespaces: ['hacp-system'] });
  api = clientFor();
});

afterAll(async () => {
  await server?.stop();
});

describe('round trips through @kubernetes/client-node', () => {
  it('creates, reads, lists, replaces and deletes a lease', async () => {
    const created = await createLease('round-trip', { labels: { app: 'round-trip' } });
    expect(created.apiVersion).toBe('coordination.k8s.io/v1');
    expect(created.kind).toBe('Lease');
    expect(created.metadata?.namespace).toBe(NS);
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.resourceVersion).toMatch(/^\d+$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(created.spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const read = await api.readNamespacedLease({ namespace: NS, name: 'round-trip' });
    expect(read.metadata?.uid).toBe(created.metadata?.uid);
    expect(read.spec).toEqual(created.spec);

    const listed = await api.listNamespacedLease({ namespace: NS, labelSelector: 'app=round-trip' });
    expect(listed.items.map((l) => l.metadata?.name)).toEqual(['round-trip']);
    expect(listed.metadata?.resourceVersion).toBe(server.resourceVersion);

    const renewed: V1Lease = {
      ...read,
      spec: { ...read.spec, holderIdentity: 'cp-2', renewTime: microNow() },
    };
    const replaced = await api.replaceNamespacedLease({ namespace: NS, name: 'round-trip', body: renewed });
    expect(replaced.spec?.holderIdentity).toBe('cp-2');
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(
      Number(read.metadata?.resourceVersion),
    );
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);
    expect(server.lease(NS, 'round-trip')).toMatchObject({
      metadata: { resourceVersion: replaced.metadata?.resourceVersion },
      spec: { holderIdentity: 'cp-2' },
    });

    const deleted = await api.deleteNamespacedLease({ namespace: NS, name: 'round-trip' });
    expect(deleted).toMatchObject({
      status: 'Success',
      details: {
        name: 'round-trip',
        group: 'coordination.k8s.io',
        kind: 'leases',
        uid: created.metadata?.uid,
      },
    });
    expect(server.lease(NS, 'round-trip')).toBeUndefined();
  });

  it('answers the stored JSON with the apiserver field names and no managed fields', async () => {
    await createLease('wire-shape');
    const response = await raw({ path: `${LEASES}/wire-shape` });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(Object.keys(response.json)).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(Object.keys(response.json.metadata)).toEqual([
      'name',
      'namespace',
      'uid',
      'resourceVersion',
      'creationTimestamp',
    ]);
    expect(response.json.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Object.keys(response.json.spec)).toEqual([
      'holderIdentity',
      'leaseDurationSeconds',
      'acquireTime',
      'renewTime',
    ]);
    expect(response.json).toEqual(server.lease(NS, 'wire-shape'));
  });

  it('keeps one global resourceVersion across namespaces, bumped by every write', async () => {
    const before = Number(server.resourceVersion);
    const a = await createLease('rv-a');
    const b = await createLease('rv-b', { namespace: 'hacp-system' });
    await api.deleteNamespacedLease({ namespace: NS, name: 'rv-a' });
    expect(Number(a.metadata?.resourceVersion)).toBe(before + 1);
    expect(Number(b.metadata?.resourceVersion)).toBe(before + 2);
    expect(server.resourceVersion).toBe(String(before + 3));
  });

  it('refuses a second create of the same name with 409 AlreadyExists', async () => {
    await createLease('taken');
    const stored = server.lease(NS, 'taken');
    const { code, body } = await refusal(createLease('taken'));
    expect(code).toBe(409);
    expect(body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'leases.coordination.k8s.io "taken" already exists',
      reason: 'AlreadyExists',
      details: { name: 'taken', group: 'coordination.k8s.io', kind: 'leases' },
      code: 409,
    });
    expect(server.lease(NS, 'taken')).toEqual(stored);
  });

  it('generates a name from metadata.generateName', async () => {
    const created = await api.createNamespacedLease({
      namespace: NS,
      body: { metadata: { generateName: 'gen-' }, spec: {} },
    });
    expect(created.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(server.lease(NS, created.metadata?.name ?? '')).toBeDefined();
  });
});

describe('label selectors and paging', () => {
  beforeAll(async () => {
    const pools: [string, Record<string, string>][] = [
      ['sel-a', { role: 'cp', zone: 'b', pinned: 'yes' }],
      ['sel-b', { role: 'cp', zone: 'c' }],
      ['sel-c', { role: 'etcd', zone: 'b' }],
      ['sel-d', { role: 'worker' }],
    ];
    for (const [name, labels] of pools) await createLease(name, { labels });
    await createLease('sel-e', { labels: { role: 'cp', zone: 'd' }, namespace: 'hacp-system' });
  });

  const names = async (labelSelector: string) =>
    (await api.listNamespacedLease({ namespace: NS, labelSelector })).items
      .map((l) => l.metadata?.name)
      .sort();

  it.each([
    ['role=cp', ['sel-a', 'sel-b']],
    ['role==cp', ['sel-a', 'sel-b']],
    ['role!=cp,zone', ['sel-c']],
    ['zone in (b,d)', ['sel-a', 'sel-c']],
    // notin also holds where the label is absent (sel-d has no zone), as in Go.
    ['role,zone notin (b)', ['sel-b', 'sel-d']],
    ['pinned', ['sel-a']],
    ['role,!pinned,role notin (worker)', ['sel-b', 'sel-c']],
    ['role in (cp),zone=c', ['sel-b']],
  ])('selects %j', async (selector, expected) => {
    expect(await names(selector)).toEqual(expected);
  });

  it('lists across all namespaces with a selector', async () => {
    const all = await api.listLeaseForAllNamespaces({ labelSelector: 'role=cp' });
    expect(all.items.map((l) => `${l.metadata?.namespace}/${l.metadata?.name}`)).toEqual([
      'hacp-system/sel-e',
      'kube-system/sel-a',
      'kube-system/sel-b',
    ]);
  });

  it('refuses an unparsable selector with 400 BadRequest', async () => {
    for (const labelSelector of ['role in (cp', 'role=cp,,', 'bad key=x', 'zone in cp']) {
      const { code, body } = await refusal(api.listNamespacedLease({ namespace: NS, labelSelector }));
      expect(code).toBe(400);
      expect(body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 });
    }
  });

  it('filters by field selector and refuses an unindexed field', async () => {
    const listed = await api.listNamespacedLease({ namespace: NS, fieldSelector: 'metadata.name=sel-c' });
    expect(listed.items.map((l) => l.metadata?.name)).toEqual(['sel-c']);
    const { code, body } = await refusal(
      api.listNamespacedLease({ namespace: NS, fieldSelector: 'spec.holderIdentity=cp-1' }),
    );
    expect(code).toBe(400);
    expect(body.message).toBe(
      '"spec.holderIdentity" is not a known field selector: only "metadata.name", "metadata.namespace"',
    );
  });

  it('pages with limit and continue over one consistent snapshot', async () => {
    const first = await api.listNamespacedLease({ namespace: NS, labelSelector: 'role', limit: 2 });
    expect(first.items.map((l) => l.metadata?.name)).toEqual(['sel-a', 'sel-b']);
    expect(first.metadata?._continue).toBeTruthy();
    // Written between the pages: a consistent list must not show it, nor the change to sel-d.
    await createLease('sel-c2', { labels: { role: 'late' } });
    server.writeLease(NS, { metadata: { name: 'sel-d', labels: { role: 'changed' } }, spec: {} });
    const second = await api.listNamespacedLease({
      namespace: NS,
      labelSelector: 'role',
      limit: 2,
      _continue: first.metadata?._continue,
    });
    expect(second.items.map((l) => l.metadata?.name)).toEqual(['sel-c', 'sel-d']);
    expect(second.items[1]?.metadata?.labels).toEqual({ role: 'worker' });
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(second.metadata?._continue).toBeUndefined();
    const fresh = await names('role');
    expect(fresh).toContain('sel-c2');
  });

  it('reports remainingItemCount when nothing is filtered', async () => {
    const page = await raw({ path: `${LEASES}?limit=1&fieldSelector=` });
    const total = (await raw({ path: LEASES })).json.items.length;
    expect(page.json.items).toHaveLength(1);
    expect(page.json.metadata.remainingItemCount).toBe(total - 1);
  });

  it('answers 410 Expired with a fresh continue token once the snapshot is compacted', async () => {
    const first = await raw({ path: `${LEASES}?limit=1` });
    await createLease('after-compaction-point');
    server.compact();
    const expired = await raw({
      path: `${LEASES}?limit=1&continue=${encodeURIComponent(first.json.metadata.continue)}`,
    });
    expect(expired.status).toBe(410);
    expect(expired.json).toMatchObject({ reason: 'Expired', code: 410 });
    expect(expired.json.metadata.continue).toBeTruthy();
    // The fresh token continues after the same key, at the newest revision.
    const resumed = await raw({
      path: `${LEASES}?limit=100&continue=${encodeURIComponent(expired.json.metadata.continue)}`,
    });
    expect(resumed.status).toBe(200);
    const now: string[] = (await raw({ path: LEASES })).json.items.map((l: V1Lease) => l.metadata?.name);
    const firstName = first.json.items[0].metadata.name;
    expect(resumed.json.items.map((l: V1Lease) => l.metadata?.name)).toEqual(
      now.slice(now.indexOf(firstName) + 1),
    );
    expect(resumed.json.metadata.resourceVersion).toBe(server.resourceVersion);
  });

  it('refuses a malformed continue token and a resourceVersion newer than the store', async () => {
    const bad = await raw({ path: `${LEASES}?continue=not-a-token` });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/^invalid continue token: continue key is not valid/);
    const ahead = await raw({ path: `${LEASES}?resourceVersion=${Number(server.resourceVersion) + 10}` });
    expect(ahead.status).toBe(504);
    expect(ahead.json).toMatchObject({
      reason: 'Timeout',
      details: { causes: [{ reason: 'ResourceVersionTooLarge' }] },
    });
  });
});

describe('optimistic concurrency', () => {
  it('refuses a replace with a stale resourceVersion with 409 Conflict and keeps the store', async () => {
    const created = await createLease('stale');
    await api.replaceNamespacedLease({
      namespace: NS,
      name: 'stale',
      body: { ...created, spec: { ...created.spec, holderIdentity: 'winner', renewTime: microNow() } },
    });
    const stored = server.lease(NS, 'stale');
    const { code, body } = await refusal(
      api.replaceNamespacedLease({
        namespace: NS,
        name: 'stale',
        body: { ...created, spec: { ...created.spec, holderIdentity: 'loser' } },
      }),
    );
    expect(code).toBe(409);
    expect(body).toMatchObject({
      reason: 'Conflict',
      message:
        'Operation cannot be fulfilled on leases.coordination.k8s.io "stale": the object has been modified; please apply your changes to the latest version and try again',
      details: { name: 'stale', group: 'coordination.k8s.io', kind: 'leases' },
    });
    expect(server.lease(NS, 'stale')).toEqual(stored);
  });

  it('refuses a replace without resourceVersion with 422, as the Lease strategy disallows unconditional updates', async () => {
    const created = await createLease('unconditional');
    const stored = server.lease(NS, 'unconditional');
    const { metadata } = created;
    const { code, body } = await refusal(
      api.replaceNamespacedLease({
        namespace: NS,
        name: 'unconditional',
        body: { metadata: { name: metadata?.name }, spec: { holderIdentity: 'x' } },
      }),
    );
    expect(code).toBe(422);
    expect(body).toMatchObject({
      reason: 'Invalid',
      message:
        'leases.coordination.k8s.io "unconditional" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
      details: { causes: [{ reason: 'FieldValueInvalid', field: 'metadata.resourceVersion' }] },
    });
    expect(server.lease(NS, 'unconditional')).toEqual(stored);
  });

  it('creates on PUT when the lease is missing (AllowCreateOnUpdate), answering 201', async () => {
    const response = await raw({
      method: 'PUT',
      path: `${LEASES}/put-created`,
      body: JSON.stringify({ metadata: { name: 'put-created' }, spec: { holderIdentity: 'cp-1' } }),
    });
    expect(response.status).toBe(201);
    expect(server.lease(NS, 'put-created')).toMatchObject({ spec: { holderIdentity: 'cp-1' } });
  });

  it('refuses a PUT that sets deletionTimestamp on a live lease with 422 (field is immutable)', async () => {
    const created = await createLease('immortal');
    const stored = server.lease(NS, 'immortal');
    const { code, body } = await refusal(
      api.replaceNamespacedLease({
        namespace: NS,
        name: 'immortal',
        body: { ...created, metadata: { ...created.metadata, deletionTimestamp: new Date() } },
      }),
    );
    expect(code).toBe(422);
    expect(body.details.causes).toEqual([
      expect.objectContaining({
        field: 'metadata.deletionTimestamp',
        message: expect.stringMatching(/field is immutable$/),
      }),
    ]);
    expect(server.lease(NS, 'immortal')).toEqual(stored);
  });

  it('refuses a PUT whose body names another object with 400', async () => {
    const created = await createLease('named');
    const stored = server.lease(NS, 'named');
    const { code, body } = await refusal(
      api.replaceNamespacedLease({
        namespace: NS,
        name: 'named',
        body: { ...created, metadata: { ...created.metadata, name: 'other' } },
      }),
    );
    expect(code).toBe(400);
    expect(body.message).toBe('the name of the object (other) does not match the name on the URL (named)');
    expect(server.lease(NS, 'named')).toEqual(stored);
  });

  it('does not bump resourceVersion for a replace that changes nothing (etcd3 skips the write)', async () => {
    const created = await createLease('no-op');
    const again = await api.replaceNamespacedLease({ namespace: NS, name: 'no-op', body: created });
    expect(again.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
  });

  it('patches with JSON patch and merge patch', async () => {
    await createLease('patched');
    const jsonPatched = await api.patchNamespacedLease({
      namespace: NS,
      name: 'patched',
      body: [{ op: 'replace', path: '/spec/holderIdentity', value: 'cp-9' }],
    });
    expect(jsonPatched.spec?.holderIdentity).toBe('cp-9');
    const merged = await api.patchNamespacedLease(
      { namespace: NS, name: 'patched', body: { metadata: { labels: { patched: 'yes' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merged.metadata?.labels).toEqual({ patched: 'yes' });
    expect(server.lease(NS, 'patched')).toMatchObject({
      metadata: { labels: { patched: 'yes' } },
      spec: { holderIdentity: 'cp-9' },
    });
  });
});

describe('delete preconditions', () => {
  it('keeps the lease on a resourceVersion mismatch and deletes on a match', async () => {
    const created = await createLease('precondition');
    const stored = server.lease(NS, 'precondition');
    const { code, body } = await refusal(
      api.deleteNamespacedLease({
        namespace: NS,
        name: 'precondition',
        body: { preconditions: { resourceVersion: '1' } },
      }),
    );
    expect(code).toBe(409);
    expect(body).toMatchObject({
      reason: 'Conflict',
      message: `Operation cannot be fulfilled on Lease.coordination.k8s.io "precondition": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (${created.metadata?.resourceVersion}). The object might have been modified`,
      details: { name: 'precondition', group: 'coordination.k8s.io', kind: 'Lease' },
    });
    expect(server.lease(NS, 'precondition')).toEqual(stored);

    await api.deleteNamespacedLease({
      namespace: NS,
      name: 'precondition',
      body: {
        preconditions: { resourceVersion: created.metadata?.resourceVersion, uid: created.metadata?.uid },
      },
    });
    expect(server.lease(NS, 'precondition')).toBeUndefined();
  });

  it('keeps the lease on a uid mismatch', async () => {
    await createLease('uid-precondition');
    const stored = server.lease(NS, 'uid-precondition');
    const { code, body } = await refusal(
      api.deleteNamespacedLease({
        namespace: NS,
        name: 'uid-precondition',
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 'someone-else' } },
      }),
    );
    expect(code).toBe(409);
    expect(body.message).toMatch(
      /the UID in the precondition \(someone-else\) does not match the UID in record/,
    );
    expect(server.lease(NS, 'uid-precondition')).toEqual(stored);
  });

  it('marks a lease with finalizers for deletion instead of deleting it', async () => {
    await api.createNamespacedLease({
      namespace: NS,
      body: { metadata: { name: 'finalized', finalizers: ['hacp.dev/keep'] }, spec: {} },
    });
    const answered = await raw({ method: 'DELETE', path: `${LEASES}/finalized` });
    expect(answered.status).toBe(200);
    expect(answered.json.kind).toBe('Lease');
    expect(server.lease(NS, 'finalized')).toMatchObject({ metadata: { deletionGracePeriodSeconds: 0 } });
    const marked = await api.readNamespacedLease({ namespace: NS, name: 'finalized' });
    const markedStored = server.lease(NS, 'finalized');
    const added = await refusal(
      api.replaceNamespacedLease({
        namespace: NS,
        name: 'finalized',
        body: { ...marked, metadata: { ...marked.metadata, finalizers: ['hacp.dev/keep', 'hacp.dev/more'] } },
      }),
    );
    expect(added.code).toBe(422);
    expect(added.body.details.causes).toEqual([
      expect.objectContaining({ reason: 'FieldValueForbidden', field: 'metadata.finalizers' }),
    ]);
    expect(server.lease(NS, 'finalized')).toEqual(markedStored);
    await api.replaceNamespacedLease({
      namespace: NS,
      name: 'finalized',
      body: { ...marked, metadata: { ...marked.metadata, finalizers: [] } },
    });
    expect(server.lease(NS, 'finalized')).toBeUndefined();
  });
});

describe('not found', () => {
  it('answers 404 NotFound for a missing lease on get, delete and patch, with the apiserver Status', async () => {
    const expected = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'leases.coordination.k8s.io "ghost" not found',
      reason: 'NotFound',
      details: { name: 'ghost', group: 'coordination.k8s.io', kind: 'leases' },
      code: 404,
    };
    expect(await refusal(api.readNamespacedLease({ namespace: NS, name: 'ghost' }))).toEqual({
      code: 404,
      body: expected,
    });
    expect(await refusal(api.deleteNamespacedLease({ namespace: NS, name: 'ghost' }))).toEqual({
      code: 404,
      body: expected,
    });
    const patch = await raw({
      method: 'PATCH',
      path: `${LEASES}/ghost`,
      body: '{}',
      contentType: 'application/merge-patch+json',
    });
    expect(patch.status).toBe(404);
    expect(server.lease(NS, 'ghost')).toBeUndefined();
  });

  it('refuses a create in a missing namespace with 404 namespaces "x" not found, then accepts it once created', async () => {
    const { code, body } = await refusal(createLease('homeless', { namespace: 'nowhere' }));
    expect(code).toBe(404);
    expect(body).toMatchObject({
      reason: 'NotFound',
      message: 'namespaces "nowhere" not found',
      details: { name: 'nowhere', kind: 'namespaces' },
    });
    expect(server.lease('nowhere', 'homeless')).toBeUndefined();
    server.createNamespace('nowhere');
    await createLease('homeless', { namespace: 'nowhere' });
    expect(server.lease('nowhere', 'homeless')).toBeDefined();
  });

  it('answers 404 for a path it does not serve, and 405 for a method it does not allow', async () => {
    const missing = await raw({ path: '/api/v1/namespaces/kube-system/pods' });
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/json');
    expect(missing.json).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server could not find the requested resource',
      reason: 'NotFound',
      details: {},
      code: 404,
    });
    const before = server.resourceVersion;
    const post = await raw({ method: 'POST', path: `${LEASES}/x`, body: '{"metadata":{"name":"x"}}' });
    expect(post.status).toBe(405);
    expect(post.json.reason).toBe('MethodNotAllowed');
    expect(server.lease(NS, 'x')).toBeUndefined();
    expect(server.resourceVersion).toBe(before);
  });
});

describe('decoding and validation', () => {
  it('refuses a three-digit MicroTime with 400 and stores nothing', async () => {
    const body = JSON.stringify({
      metadata: { name: 'millis' },
      spec: { holderIdentity: 'cp-1', renewTime: '2026-11-23T19:04:28.205Z' },
    });
    const response = await raw({ method: 'POST', path: LEASES, body });
    expect(response.status).toBe(400);
    expect(response.json).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Lease in version "v1" cannot be handled as a Lease: parsing time "2026-11-23T19:04:28.205Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".205Z" as ".000000"',
      reason: 'BadRequest',
      code: 400,
    });
    // A plain Date through the client serialises with three digits: the same refusal.
    const viaClient = await refusal(
      api.createNamespacedLease({
        namespace: NS,
        body: { metadata: { name: 'millis' }, spec: { renewTime: new Date() } },
      }),
    );
    expect(viaClient.code).toBe(400);
    expect(server.lease(NS, 'millis')).toBeUndefined();
  });

  it('refuses leaseDurationSeconds 0 with 422 Invalid and causes', async () => {
    const { code, body } = await refusal(
      api.createNamespacedLease({
        namespace: NS,
        body: { metadata: { name: 'zero' }, spec: { leaseDurationSeconds: 0 } },
      }),
    );
    expect(code).toBe(422);
    expect(body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Lease.coordination.k8s.io "zero" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0',
      reason: 'Invalid',
      details: {
        name: 'zero',
        group: 'coordination.k8s.io',
        kind: 'Lease',
        causes: [
          {
            reason: 'FieldValueInvalid',
            message: 'Invalid value: 0: must be greater than 0',
            field: 'spec.leaseDurationSeconds',
          },
        ],
      },
      code: 422,
    });
    expect(server.lease(NS, 'zero')).toBeUndefined();
  });

  it('refuses a name that is not a DNS-1123 subdomain with 422', async () => {
    const { code, body } = await refusal(
      api.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'Bad_Name' } } }),
    );
    expect(code).toBe(422);
    expect(body.details.causes).toEqual([
      expect.objectContaining({ field: 'metadata.name', reason: 'FieldValueInvalid' }),
    ]);
    expect(server.lease(NS, 'Bad_Name')).toBeUndefined();
  });

  it('refuses malformed JSON with 400 and survives it', async () => {
    const before = server.resourceVersion;
    for (const body of ['{"metadata":', 'null', '[1,2]', '{"spec":{"leaseDurationSeconds":"15"}}']) {
      const response = await raw({ method: 'POST', path: LEASES, body });
      expect(response.status).toBe(400);
      expect(response.json.reason).toBe('BadRequest');
    }
    expect(server.resourceVersion).toBe(before);
    expect((await raw({ path: LEASES })).status).toBe(200);
  });

  it('drops unknown fields with a warning, or refuses them under fieldValidation=Strict', async () => {
    const body = JSON.stringify({
      metadata: { name: 'unknown-fields' },
      spec: { holderIdentity: 'a', holder: 'b' },
    });
    const strict = await raw({ method: 'POST', path: `${LEASES}?fieldValidation=Strict`, body });
    expect(strict.status).toBe(400);
    expect(strict.json.message).toBe('strict decoding error: unknown field "spec.holder"');
    expect(server.lease(NS, 'unknown-fields')).toBeUndefined();
    const warned = await raw({ method: 'POST', path: LEASES, body });
    expect(warned.status).toBe(201);
    expect(warned.headers.warning).toBe('299 - "unknown field \\"spec.holder\\""');
    expect(server.lease(NS, 'unknown-fields')).toMatchObject({ spec: { holderIdentity: 'a' } });
    expect(
      (server.lease(NS, 'unknown-fields')?.spec as Record<string, unknown> | undefined)?.holder,
    ).toBeUndefined();
  });

  it('serves labels in key order, as Go encodes maps, and a reordered replace is a no-op', async () => {
    const created = await api.createNamespacedLease({
      namespace: NS,
      body: { metadata: { name: 'ordered', labels: { zeta: '1', alpha: '2' } }, spec: {} },
    });
    const response = await raw({ path: `${LEASES}/ordered` });
    expect(Object.keys(response.json.metadata.labels)).toEqual(['alpha', 'zeta']);
    const replaced = await api.replaceNamespacedLease({
      namespace: NS,
      name: 'ordered',
      body: { ...created, metadata: { ...created.metadata, labels: { zeta: '1', alpha: '2' } } },
    });
    expect(replaced.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
  });

  it('refuses a body in a non-JSON media type with 415', async () => {
    const before = server.resourceVersion;
    const response = await raw({
      method: 'POST',
      path: LEASES,
      body: JSON.stringify({ metadata: { name: 'yaml' } }),
      contentType: 'application/yaml',
    });
    expect(response.status).toBe(415);
    expect(response.json.reason).toBe('UnsupportedMediaType');
    expect(server.lease(NS, 'yaml')).toBeUndefined();
    expect(server.resourceVersion).toBe(before);
  });
});

describe('authentication and authorization', () => {
  it('answers 401 Unauthorized without a token or with an unknown one, and stores nothing', async () => {
    const before = server.resourceVersion;
    const body = JSON.stringify({ metadata: { name: 'anonymous' }, spec: {} });
    for (const token of [null, 'not-a-token']) {
      const response = await raw({ method: 'POST', path: LEASES, body, token });
      expect(response.status).toBe(401);
      expect(response.json).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      });
    }
    const viaClient = await refusal(
      clientFor({ token: 'not-a-token' }).readNamespacedLease({ namespace: NS, name: 'x' }),
    );
    expect(viaClient.code).toBe(401);
    expect(server.lease(NS, 'anonymous')).toBeUndefined();
    expect(server.resourceVersion).toBe(before);
  });

  it('answers 403 Forbidden to the forbidden token, naming user, verb, resource and namespace', async () => {
    await createLease('guarded');
    const stored = server.lease(NS, 'guarded');
    const forbiddenApi = clientFor({ token: server.forbiddenToken });
    const user = 'system:serviceaccount:kube-system:hacp-lease-forbidden';
    const get = await refusal(forbiddenApi.readNamespacedLease({ namespace: NS, name: 'guarded' }));
    expect(get).toEqual({
      code: 403,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `leases.coordination.k8s.io "guarded" is forbidden: User "${user}" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "kube-system"`,
        reason: 'Forbidden',
        details: { name: 'guarded', group: 'coordination.k8s.io', kind: 'leases' },
        code: 403,
      },
    });
    const list = await refusal(forbiddenApi.listNamespacedLease({ namespace: NS }));
    expect(list.body.message).toBe(
      `leases.coordination.k8s.io is forbidden: User "${user}" cannot list resource "leases" in API group "coordination.k8s.io" in the namespace "kube-system"`,
    );
    expect(list.body.details).toEqual({ group: 'coordination.k8s.io', kind: 'leases' });
    const all = await refusal(forbiddenApi.listLeaseForAllNamespaces());
    expect(all.body.message).toMatch(
      /cannot list resource "leases" in API group "coordination.k8s.io" at the cluster scope$/,
    );
    const deleted = await refusal(forbiddenApi.deleteNamespacedLease({ namespace: NS, name: 'guarded' }));
    expect(deleted.body.message).toMatch(/cannot delete resource "leases"/);
    const renewed = await refusal(
      forbiddenApi.replaceNamespacedLease({ namespace: NS, name: 'guarded', body: stored as V1Lease }),
    );
    expect(renewed.body.message).toMatch(/cannot update resource "leases"/);
    expect(server.lease(NS, 'guarded')).toEqual(stored);
  });
});

describe('TLS', () => {
  it('serves a certificate that verifies against caPem for 127.0.0.1 and localhost', async () => {
    expect((await raw({ path: '/healthz', token: null })).text).toBe('ok');
    const viaLocalhost = await new Promise<number>((resolve, reject) => {
      const url = new URL('/healthz', server.url.replace('127.0.0.1', 'localhost'));
      httpsRequest(
        url,
        { ca: server.caPem, lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end();
    });
    expect(viaLocalhost).toBe(200);
  });

  it('is refused by a client that does not trust the CA', async () => {
    const error = await raw({ path: '/healthz', token: null, ca: null }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(error?.code).toMatch(
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT/,
    );
    const untrusting = server.kubeconfig().replace(
      /certificate-authority-data: .*/,
      `certificate-authority-data: ${Buffer.from(
        await startLeaseApiServer().then(async (other) => {
          await other.stop();
          return other.caPem;
        }),
      ).toString('base64')}`,
    );
    await expect(
      clientFor({ kubeconfig: untrusting }).readNamespacedLease({ namespace: NS, name: 'x' }),
    ).rejects.toThrow(/certificate|self[- ]signed/i);
  });
});

describe('beforeRequest and the request log', () => {
  it('runs hooks after auth and before the store is read, so a renewal between a list and a delete wins', async () => {
    await createLease('contended');
    const listed = await api.listNamespacedLease({ namespace: NS, fieldSelector: 'metadata.name=contended' });
    const seen = listed.items[0];
    const order: string[] = [];
    const unsubscribe = server.beforeRequest(async (request) => {
      order.push(`hook ${request.method} status=${String(request.status)}`);
      if (request.method !== 'DELETE') return;
      await new Promise((resolve) => setTimeout(resolve, 5));
      // Another holder renews between our list and our delete.
      server.writeLease(NS, {
        ...(server.lease(NS, 'contended') ?? {}),
        spec: { holderIdentity: 'other', renewTime: '2026-01-01T00:00:00.000000Z' },
      });
      order.push('renewed');
    });
    try {
      const { code } = await refusal(
        api.deleteNamespacedLease({
          namespace: NS,
          name: 'contended',
          body: { preconditions: { resourceVersion: seen?.metadata?.resourceVersion } },
        }),
      );
      expect(code).toBe(409);
    } finally {
      unsubscribe();
    }
    expect(order).toEqual(['hook DELETE status=undefined', 'renewed']);
    expect(server.lease(NS, 'contended')).toMatchObject({ spec: { holderIdentity: 'other' } });
    await api.readNamespacedLease({ namespace: NS, name: 'contended' });
    expect(order).toHaveLength(2);
  });

  it('runs several hooks in subscription order, each awaited before the next', async () => {
    const order: string[] = [];
    const first = server.beforeRequest(async (request) => {
      order.push(`first start ${request.verb}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      order.push('first end');
    });
    const second = server.beforeRequest(() => {
      order.push('second');
    });
    try {
      await api.readNamespacedLease({ namespace: NS, name: 'contended' });
    } finally {
      first();
      second();
    }
    await api.readNamespacedLease({ namespace: NS, name: 'contended' });
    expect(order).toEqual(['first start get', 'first end', 'second']);
  });

  it('does not run hooks for refused authentication or authorization', async () => {
    let calls = 0;
    const unsubscribe = server.beforeRequest(() => {
      calls += 1;
    });
    try {
      await raw({ path: LEASES, token: null });
      await raw({ path: LEASES, token: server.forbiddenToken });
      expect(calls).toBe(0);
      await raw({ path: LEASES });
      expect(calls).toBe(1);
    } finally {
      unsubscribe();
    }
  });

  it('answers 500 when a hook throws, and leaves the store alone', async () => {
    const before = server.resourceVersion;
    const unsubscribe = server.beforeRequest(() => {
      throw new Error('hook exploded');
    });
    try {
      const response = await raw({
        method: 'POST',
        path: LEASES,
        body: JSON.stringify({ metadata: { name: 'hooked' } }),
      });
      expect(response.status).toBe(500);
      expect(response.json).toMatchObject({
        reason: 'InternalError',
        message: 'Internal error occurred: Error: hook exploded',
      });
    } finally {
      unsubscribe();
    }
    expect(server.resourceVersion).toBe(before);
    expect(server.lease(NS, 'hooked')).toBeUndefined();
  });

  it('records every request in order with method, path, query, token, status, verb and time', async () => {
    const from = server.requests.length;
    const start = Date.now();
    await createLease('logged');
    await api.listNamespacedLease({ namespace: NS, labelSelector: 'a=b', limit: 5 });
    await raw({ path: `${LEASES}/logged`, token: 'wrong' });
    const logged = server.requests.slice(from);
    expect(logged.map((r) => [r.method, r.path, r.status, r.verb])).toEqual([
      ['POST', LEASES, 201, 'create'],
      ['GET', LEASES, 200, 'list'],
      ['GET', `${LEASES}/logged`, 401, 'get'],
    ]);
    expect(logged[1]?.query).toEqual({ labelSelector: 'a=b', limit: '5' });
    expect(logged[0]?.token).toBe(server.token);
    expect(logged[2]?.token).toBe('wrong');
    expect(logged[0]?.body).toMatchObject({ metadata: { name: 'logged' } });
    expect(logged[0]?.namespace).toBe(NS);
    expect(logged[2]?.name).toBe('logged');
    for (const request of logged) {
      expect(request.time.getTime()).toBeGreaterThanOrEqual(start - 1);
      expect(request.time.getTime()).toBeLessThanOrEqual(Date.now());
    }
  });
});

const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!kubectl)('kubectl', () => {
  it('gets, creates, labels and deletes leases, and words a missing lease as the apiserver does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lease-kubectl-'));
    const kubeconfig = join(dir, 'config');
    await writeFile(kubeconfig, server.kubeconfig({ namespace: 'hacp-system' }), { mode: 0o600 });
    const run = (args: string[], input?: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(
          'kubectl',
          ['--kubeconfig', kubeconfig, '--request-timeout=10s', ...args],
          { timeout: 30_000 },
          (error, stdout, stderr) => resolve({ code: error === null ? 0 : 1, stdout, stderr }),
        );
        child.stdin?.end(input);
      });
    try {
      const missing = await run(['get', 'lease', 'absent']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(
        'Error from server (NotFound): leases.coordination.k8s.io "absent" not found',
      );
      const manifest = [
        'apiVersion: coordination.k8s.io/v1',
        'kind: Lease',
        'metadata: {name: from-kubectl}',
        'spec: {holderIdentity: kubectl, leaseDurationSeconds: 10}',
      ].join('\n');
      expect((await run(['create', '--validate=false', '-f', '-'], manifest)).stdout).toContain('created');
      expect((await run(['label', 'lease', 'from-kubectl', 'origin=kubectl'])).stdout).toContain('labeled');
      expect(server.lease('hacp-system', 'from-kubectl')).toMatchObject({
        metadata: { labels: { origin: 'kubectl' } },
        spec: { holderIdentity: 'kubectl', leaseDurationSeconds: 10 },
      });
      expect((await run(['get', 'leases', '-l', 'origin=kubectl', '-o', 'name'])).stdout.trim()).toBe(
        'lease.coordination.k8s.io/from-kubectl',
      );
      expect((await run(['delete', 'lease', 'from-kubectl'])).code).toBe(0);
      expect(server.lease('hacp-system', 'from-kubectl')).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('kubeconfig and helpers', () => {
  it('sets the context namespace and token', async () => {
    server.createNamespace('team-a');
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig({ namespace: 'team-a', token: server.forbiddenToken }));
    expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe('team-a');
    expect(kc.getCurrentUser()?.token).toBe(server.forbiddenToken);
    expect(kc.getCurrentCluster()?.server).toBe(server.url);
  });

  it('refuses invalid namespace names with a HacpError', () => {
    expect(() => server.createNamespace('Not_A_Label')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => server.kubeconfig({ namespace: 'x/y' })).toThrow(/not a valid namespace name/);
  });

  it('writeLease refuses what the API would refuse, as a HacpError', () => {
    let caught: unknown;
    try {
      server.writeLease(NS, { metadata: { name: 'bad' }, spec: { renewTime: '2026-01-01T00:00:00Z' } });
    } catch (error) {
      caught = error;
    }
    expect(isHacpError(caught, 'INVALID_ARGUMENT')).toBe(true);
    expect(server.lease(NS, 'bad')).toBeUndefined();
  });
});

describe('stop', () => {
  it('closes the port at once, even with a request held in a hook, and is idempotent', async () => {
    const own = await startLeaseApiServer();
    const port = Number(new URL(own.url).port);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = () => {};
    const inHook = new Promise<void>((resolve) => {
      entered = resolve;
    });
    own.beforeRequest(async () => {
      entered();
      await held;
    });
    const inFlight = new Promise<string>((resolve) => {
      httpsRequest(
        new URL('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases', own.url),
        { ca: own.caPem, headers: { authorization: `Bearer ${own.token}` } },
        (res) => resolve(String(res.statusCode)),
      )
        .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
        .end();
    });
    await inHook;
    // A plain server.close() would wait for the held request to finish.
    const started = Date.now();
    await own.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await inFlight).toBe('ECONNRESET');
    await own.stop();
    release();
    const refused = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});
