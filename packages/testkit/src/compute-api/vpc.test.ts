import { describe, expect, it } from 'vitest';
import { routesInBlock } from './vpc.js';

// `ip -4 route show table all` as a killed test run leaves it: a bridge's route at the start of a
// line, the unreachable external half, a forwarding route.
const LEFTOVERS = [
  'default via 192.0.2.1 dev eth0',
  '100.72.152.0/22 dev hb86b562 proto kernel scope link src 100.72.152.1',
  'unreachable 100.68.92.0/22',
  '100.76.45.203 via 100.76.41.212 dev hba73901',
].join('\n');

describe('routesInBlock', () => {
  it('finds a block whose bridge route starts a line (block 275 is 100.72.152.0/21)', () => {
    expect(routesInBlock(LEFTOVERS, 275)).toBe(true);
  });

  it('finds a block of which only the unreachable external half is left (100.68.88.0/21)', () => {
    expect(routesInBlock(LEFTOVERS, 139)).toBe(true);
  });

  it('finds a block named only by a forwarding route (100.76.40.0/21, 389)', () => {
    expect(routesInBlock(LEFTOVERS, 389)).toBe(true);
  });

  it('leaves a block no route touches free, also its neighbours', () => {
    expect(routesInBlock(LEFTOVERS, 274)).toBe(false);
    expect(routesInBlock(LEFTOVERS, 276)).toBe(false);
    expect(routesInBlock('', 0)).toBe(false);
  });
});
