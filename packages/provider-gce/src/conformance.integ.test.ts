/**
 * The whole conformance kit against the GCE provider, through the real @google-cloud/compute
 * clients, on the testkit's Compute API server whose VM runtime really boots every inserted
 * instance (the kit's `sleep` process) on this machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { providerConformance } from '@hacp/provider-conformance';
import { type ComputeApiServer, createRecordingLogger, startComputeApiServer } from '@hacp/testkit';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGceProvider } from './provider.js';
import { replicaNodeConfig } from './test-support.js';

const PROJECT = 'hacp-test';
const root = mkdtempSync(join(tmpdir(), 'hacp-gce-conformance-'));
const logger = createRecordingLogger();
let server: ComputeApiServer;

beforeAll(async () => {
  server = await startComputeApiServer({
    projects: [PROJECT],
    operationDelayMs: 5,
    runtime: { dir: join(root, 'vms') },
  });
});

afterAll(async () => {
  try {
    // What the kit asserted through the provider, checked on the wire: GCE request ids on every
    // mutating call, loopback only, and no VM left behind or failing in the runtime.
    const mutating = server.requests.filter(
      (request) =>
        request.method !== undefined && !/\.(get|list|aggregatedList|wait|getHealth)$/.test(request.method),
    );
    expect(mutating.length).toBeGreaterThan(100);
    for (const request of mutating) {
      expect(request.requestId, `${request.httpMethod} ${request.path}`).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
    }
    expect(server.requests.every((request) => request.remoteAddress?.startsWith('127.'))).toBe(true);
    expect(server.state()[PROJECT]?.instances).toEqual([]);
    expect(server.runtimeErrors).toEqual([]);
  } finally {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  }
});

providerConformance({
  name: 'the GCE provider passes the conformance kit (Compute API test server)',
  describe,
  it,
  create: () =>
    createGceProvider({
      project: PROJECT,
      clientOptions: server.clientOptions,
      authClient: new PassThroughClient(),
      reach: 'direct',
      logger,
      retry: { attempts: 5, baseDelayMs: 20 },
    }),
  capabilities: {
    stopStart: true,
    deleteLeftovers: true,
    zones: ['europe-west1-b', 'europe-west1-c'],
    nodeConfig: replicaNodeConfig,
    timeoutMs: 60_000,
  },
});
