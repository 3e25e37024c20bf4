/**
 * The SDK on the GCE provider when the Compute API fails (gce.test-support.ts): retried rate limits
 * and server errors, and faults that outlast the retries, before the promote step (rolled back) and
 * after it (resumable).
 */
import { isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { CLUSTER, expectConsistent, useGceWorlds, ZONES } from './gce.test-support.js';
import { journalKey } from './record.js';

const worlds = useGceWorlds();

describe('the SDK on the GCE provider when the Compute API fails', () => {
  it('retries rate limits and server errors in the middle of replicate, with the same request ids', async () => {
    const w = await worlds.create();
    await w.controlPlane.up({ zone: ZONES[0], multizone: true });
    w.server.faults.add({
      match: { method: 'compute.instances.insert' },
      effect: { kind: 'http', status: 429 },
    });
    w.server.faults.add({
      match: { method: 'compute.forwardingRules.insert' },
      effect: { kind: 'http', status: 503 },
    });
    await w.controlPlane.replicate({ zone: ZONES[1] });
    await expectConsistent(w, 2);
    const inserts = w.server.requests.filter((request) => request.method === 'compute.instances.insert');
    expect(inserts.map((request) => request.status)).toEqual([200, 429, 200]);
    // The retried insert is the same GCE request as the refused one.
    expect(inserts[2]?.requestId).toBe(inserts[1]?.requestId);
  }, 180_000);

  // Faults that outlast the retries: before the promote step the replicate rolls back cleanly and
  // runs again; after it the journal stays, and `resume` finishes.
  it.each([
    ['compute.disks.insert', 'rolled back'],
    ['compute.instances.insert', 'rolled back'],
    ['compute.targetPools.insert', 'resumable'],
    ['compute.forwardingRules.insert', 'resumable'],
    ['compute.targetPools.addInstance', 'resumable'],
  ])(
    'replicate 1→2 with %s failing: %s, then finished',
    async (method, outcome) => {
      const w = await worlds.create();
      await w.controlPlane.up({ zone: ZONES[0], multizone: true });
      await w.etcdctl(['put', 'hacp/kept', 'yes']);
      const quota = method === 'compute.instances.insert';
      w.server.faults.add({
        match: { method },
        times: 10,
        effect: quota ? { kind: 'operation-error', code: 'QUOTA_EXCEEDED' } : { kind: 'http', status: 500 },
      });
      const error = await w.controlPlane.replicate({ zone: ZONES[1] }).catch((caught: unknown) => caught);
      expect(isHacpError(error)).toBe(true);
      if (quota) expect((error as { code: string }).code).toBe('QUOTA_EXCEEDED');
      w.server.faults.clear();
      const record = await w.provider.state.get(journalKey(CLUSTER));
      if (outcome === 'rolled back') {
        expect((error as { details: Record<string, unknown> }).details.rolledBack).toBe(true);
        expect(record).toBeUndefined();
        await expectConsistent(w, 1);
        await w.controlPlane.replicate({ zone: ZONES[1] });
      } else {
        expect(record).toBeDefined();
        await w.controlPlane.resume();
      }
      await expectConsistent(w, 2);
      expect(await w.etcdctl(['get', '--print-value-only', 'hacp/kept'])).toBe('yes');
    },
    180_000,
  );

  it.each([
    'compute.targetPools.removeInstance',
    'compute.forwardingRules.delete',
    'compute.instances.deleteAccessConfig',
    'compute.instances.delete',
  ])(
    'remove 2→1 with %s failing: the journal stays, and resume finishes',
    async (method) => {
      const w = await worlds.create();
      await w.controlPlane.up({ zone: ZONES[0], multizone: true });
      await w.controlPlane.replicate({ zone: ZONES[1] });
      await w.etcdctl(['put', 'hacp/kept', 'yes']);
      w.server.faults.add({ match: { method }, times: 10, effect: { kind: 'http', status: 500 } });
      const error = await w.controlPlane.remove({ zone: ZONES[1] }).catch((caught: unknown) => caught);
      expect(isHacpError(error)).toBe(true);
      expect(await w.provider.state.get(journalKey(CLUSTER))).toBeDefined();
      w.server.faults.clear();
      await w.controlPlane.resume();
      await expectConsistent(w, 1);
      expect(await w.etcdctl(['get', '--print-value-only', 'hacp/kept'])).toBe('yes');
    },
    180_000,
  );
});
