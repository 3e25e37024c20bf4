import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, isHacpError } from '@hacp/core';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, describe, expect, it } from 'vitest';
import { createGceProvider } from './provider.js';
import { findGcloud } from './reach.js';

const dir = mkdtempSync(join(tmpdir(), 'hacp-gce-reach-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A provider whose API is a closed loopback port: any API call would fail UNAVAILABLE, at once. */
function providerWith(gcloud: string, reach: 'iap' | 'ssh') {
  return createGceProvider({
    project: 'hacp-test',
    reach,
    gcloud,
    authClient: new PassThroughClient(),
    clientOptions: { apiEndpoint: '127.0.0.1', port: 1, protocol: 'http' },
    retry: { attempts: 1, baseDelayMs: 1 },
  });
}

describe('reach prerequisites', () => {
  it.each(['iap', 'ssh'] as const)(
    'with %s and a gcloud setting naming a missing file: DEPENDENCY_MISSING before any API call',
    async (reach) => {
      const provider = providerWith(join(dir, 'missing', 'gcloud'), reach);
      const error = await provider
        .reach({ name: 'k-master', zone: 'europe-west1-b' }, 2379)
        .catch((e: unknown) => e);
      await provider.close();
      expect(isHacpError(error, ErrorCode.DEPENDENCY_MISSING)).toBe(true);
      expect((error as { actions: string[] }).actions.join(' ')).toContain(
        'cloud.google.com/sdk/docs/install',
      );
      expect((error as { details: Record<string, unknown> }).details).toMatchObject({ program: 'gcloud' });
    },
  );

  it('refuses a gcloud that exists but cannot run', async () => {
    const path = join(dir, 'not-executable');
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o644);
    expect(() => findGcloud(path)).toThrow(expect.objectContaining({ code: ErrorCode.DEPENDENCY_MISSING }));
  });

  it('looks for gcloud on PATH, and says how to install it when it is not there', () => {
    const bin = join(dir, 'bin');
    expect(() => findGcloud(undefined, { PATH: bin })).toThrow(
      expect.objectContaining({ code: ErrorCode.DEPENDENCY_MISSING }),
    );
    const path = join(dir, 'gcloud');
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o755);
    expect(findGcloud(undefined, { PATH: `/nonexistent:${dir}` })).toBe(path);
  });

  it('with reach direct, creating the provider does not look for gcloud', async () => {
    const direct = createGceProvider({
      project: 'hacp-test',
      reach: 'direct',
      gcloud: '/nonexistent/gcloud',
      authClient: new PassThroughClient(),
    });
    expect(direct.settings.reach).toBe('direct');
    await direct.close();
  });
});
