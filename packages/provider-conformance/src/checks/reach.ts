import assert from 'node:assert/strict';
import { expectHacpError, expectSuccess } from '../assertions.js';
import type { CheckRegistry } from '../sandbox.js';

/** Reaching a replica's port from this machine. */
export function reachChecks({ check }: CheckRegistry): void {
  check("reach gives a host and port for an instance's port; close is fine", async (sandbox) => {
    const instance = await sandbox.createInstance();
    const reach = await sandbox.provider.reach({ name: instance.name, zone: instance.zone }, 2379);
    try {
      assert.ok(
        typeof reach.host === 'string' && reach.host.length > 0,
        `reach returned host ${JSON.stringify(reach.host)}; it should be a host name or IP.`,
      );
      assert.ok(
        Number.isInteger(reach.port) && reach.port >= 1 && reach.port <= 65535,
        `reach returned port ${JSON.stringify(reach.port)}; it should be an integer from 1 to 65535.`,
      );
    } finally {
      await expectSuccess(reach.close(), 'closing a reach');
    }
  });

  check('reach of a missing instance is NOT_FOUND', async (sandbox) => {
    const ghost = { name: sandbox.instanceName(), zone: sandbox.zone };
    await expectHacpError(
      sandbox.provider.reach(ghost, 2379),
      'NOT_FOUND',
      `reaching port 2379 of ${ghost.name}, an instance that does not exist`,
    );
  });
}
