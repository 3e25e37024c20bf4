import { isHacpError } from '@hacp/core';
import { GoogleAuth } from 'google-auth-library';
import { describe, expect, it } from 'vitest';
import { createGceProvider } from './index.js';

describe('credentials', () => {
  it('says UNAUTHENTICATED, once, with what to run, when Application Default Credentials cannot load', async () => {
    // A key file that does not exist fails the lookup at once, before any network call.
    const provider = createGceProvider({
      project: 'hacp-test',
      authClient: new GoogleAuth({ keyFilename: '/nonexistent/hacp-test/key.json' }),
      reach: 'direct',
    });
    try {
      for (const call of [
        () => provider.zones.list(),
        () => provider.state.get('hacp/clusters/kubernetes/record'),
      ]) {
        const error = await call().catch((caught: unknown) => caught);
        expect(isHacpError(error, 'UNAUTHENTICATED')).toBe(true);
        expect((error as { actions: string[] }).actions[0]).toMatch(/gcloud auth application-default login/);
      }
    } finally {
      await provider.close();
    }
  });
});
