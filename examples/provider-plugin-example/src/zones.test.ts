import { rm } from 'node:fs/promises';
import { isHacpError, regionOfZone } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createExampleProvider, type ExampleProvider } from './provider.js';
import { tempStateDir } from './test-support.js';

const stateDirs: string[] = [];

async function provider(): Promise<ExampleProvider> {
  const stateDir = await tempStateDir();
  stateDirs.push(stateDir);
  return createExampleProvider({ stateDir });
}

afterEach(async () => {
  for (const stateDir of stateDirs.splice(0)) await rm(stateDir, { recursive: true, force: true });
});

describe('Example Cloud zones', () => {
  it('lists moon-east-a..c and moon-west-a..b, each in the region regionOfZone gives', async () => {
    const zones = await (await provider()).zones.list();
    expect(zones).toEqual([
      { name: 'moon-east-a', region: 'moon-east' },
      { name: 'moon-east-b', region: 'moon-east' },
      { name: 'moon-east-c', region: 'moon-east' },
      { name: 'moon-west-a', region: 'moon-west' },
      { name: 'moon-west-b', region: 'moon-west' },
    ]);
    for (const zone of zones) expect(regionOfZone(zone.name)).toBe(zone.region);
  });

  it('refuses a zone it does not offer with ZONE_INVALID, and allocates nothing', async () => {
    const cloud = await provider();
    for (const zone of ['moon-east-d', 'moon-north-a', 'local-a', 'nozone']) {
      const error = await cloud.instances
        .allocateNetwork({ name: 'moon-master', zone, cluster: 'moon' }, { requestId: `r-${zone}` })
        .catch((thrown: unknown) => thrown);
      expect(isHacpError(error, 'ZONE_INVALID'), `zone ${zone}`).toBe(true);
    }
    // Nothing was allocated: the name is still free for a zone of another region.
    await expect(
      cloud.instances.allocateNetwork(
        { name: 'moon-master', zone: 'moon-west-a', cluster: 'moon' },
        { requestId: 'r-west' },
      ),
    ).resolves.toMatchObject({ hostname: 'moon-master.moon-west-a.example.internal' });
  });

  it('refuses an address in a region it does not have with INVALID_ARGUMENT naming the region', async () => {
    const error = await (await provider()).addresses
      .reserve({ name: 'moon-master-ip', region: 'moon-north' }, { requestId: 'r1' })
      .catch((thrown: unknown) => thrown);
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as { details: unknown }).details).toEqual({ field: 'region', value: 'moon-north' });
  });
});
