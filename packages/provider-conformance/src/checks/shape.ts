import assert from 'node:assert/strict';
import { assertZone, isHacpError, missingProviderV1Members, regionOfZone } from '@hacp/core';
import type { CheckRegistry } from '../sandbox.js';

/** The provider's shape: every v1 member, its version and name. */
export function shapeChecks({ check, capabilities }: CheckRegistry): void {
  check('has every v1 member, specificationVersion v1 and a name', async ({ provider }) => {
    const missing = missingProviderV1Members(provider);
    assert.deepEqual(missing, [], `The provider lacks these v1 members: ${missing.join(', ')}.`);
    assert.equal(
      provider.specificationVersion,
      'v1',
      `specificationVersion is ${JSON.stringify(provider.specificationVersion)}; a v1 provider says 'v1'.`,
    );
    assert.ok(
      typeof provider.name === 'string' && provider.name.length > 0,
      `The provider's name is ${JSON.stringify(provider.name)}; it should be the non-empty name --provider takes.`,
    );
    if (capabilities.stopStart) {
      assert.ok(
        typeof provider.instances.stop === 'function' && typeof provider.instances.start === 'function',
        'The stopStart capability is set, but instances.stop or instances.start is not a function.',
      );
    }
    if (capabilities.deleteLeftovers) {
      assert.ok(
        typeof provider.deleteLeftovers === 'function',
        'The deleteLeftovers capability is set, but provider.deleteLeftovers is not a function.',
      );
    }
  });
}

/** The zones the provider offers, and their regions. */
export function zoneChecks({ check }: CheckRegistry): void {
  check('lists at least one zone, each valid and in the region regionOfZone gives', async ({ provider }) => {
    const zones = await provider.zones.list();
    assert.ok(
      Array.isArray(zones) && zones.length > 0,
      `zones.list() returned ${JSON.stringify(zones)}, no zone.`,
    );
    const names = new Set<string>();
    for (const zone of zones) {
      try {
        assertZone(zone.name);
      } catch (error) {
        if (!isHacpError(error)) throw error;
        assert.fail(`zones.list() offers "${zone.name}", which is not a zone name (<region>-<suffix>).`);
      }
      assert.equal(
        zone.region,
        regionOfZone(zone.name),
        `zones.list() puts zone ${zone.name} in region ${zone.region}; it is in ${regionOfZone(zone.name)} (the zone without its last -x part).`,
      );
      assert.ok(
        zone.status === undefined || zone.status === 'up' || zone.status === 'down',
        `zones.list() gives zone ${zone.name} the status ${JSON.stringify(zone.status)}; it is 'up', 'down' or absent.`,
      );
      assert.ok(!names.has(zone.name), `zones.list() offers zone ${zone.name} twice.`);
      names.add(zone.name);
    }
  });
}
