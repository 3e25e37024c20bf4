import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FIRST_PORT_OFFSET,
  listeningPorts,
  PORT_OFFSET_STEP,
  pickLoopbackIp,
  pickPortOffset,
} from './loopback.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((done) => server.close(done));
});

async function listen(host: string, port: number): Promise<void> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((done, fail) => server.once('error', fail).listen(port, host, () => done()));
}

describe('loopback addresses', () => {
  it('picks 127.a.b.c with a in the range, never 127.0.x.x', () => {
    for (let i = 0; i < 200; i++) {
      const [first, a, , c] = pickLoopbackIp(new Set(), { firstA: 1, lastA: 63 }).split('.').map(Number);
      expect(first).toBe(127);
      expect(a).toBeGreaterThanOrEqual(1);
      expect(a).toBeLessThanOrEqual(63);
      expect(c).toBeGreaterThanOrEqual(1);
    }
  });

  it('skips an address given out already and one something listens on', async () => {
    const picks = [0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75];
    const random = () => picks.shift() ?? 0.9;
    const range = { firstA: 64, lastA: 250 };
    const first = pickLoopbackIp(new Set(), range, () => 0.5);
    const second = pickLoopbackIp(new Set(), range, () => 0.25);
    await listen(second, 0);

    expect(listeningPorts(second)).toHaveLength(1);
    // The first attempt is given out, the second listened on, the third is free.
    expect(pickLoopbackIp(new Set([first]), range, random)).toBe(
      pickLoopbackIp(new Set(), range, () => 0.75),
    );
  });

  it('gives the smallest free port offset, past those taken and those with a port in use', async () => {
    const taken = new Set([FIRST_PORT_OFFSET]);
    const next = FIRST_PORT_OFFSET + PORT_OFFSET_STEP;
    const free = pickPortOffset(taken);
    expect(free).toBeGreaterThanOrEqual(next);
    await listen('127.0.0.1', 2380 + free);

    expect(pickPortOffset(taken)).toBeGreaterThan(free);
  });
});
