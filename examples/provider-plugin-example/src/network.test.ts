import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { listeningPorts, pickLoopbackIp } from './network.js';

/** A random source that returns `values` in turn. */
function sequence(values: readonly number[]): () => number {
  let index = 0;
  return () => values[index++ % values.length] as number;
}

/** The draws (a, b, c) that make pickLoopbackIp choose 127.1.0.<c>. */
const host = (c: number) => [0, 0, (c - 0.5) / 254];

describe('loopback addresses', () => {
  it('picks 127.a.b.c with a in 1..63, never 127.0.x.x nor the local provider range', () => {
    expect(pickLoopbackIp(new Set(), sequence([0, 0, 0]))).toBe('127.1.0.1');
    expect(pickLoopbackIp(new Set(), sequence([0.9999, 0.9999, 0.9999]))).toBe('127.63.255.254');
    for (let draw = 0; draw < 50; draw++) {
      const [, a] = pickLoopbackIp(new Set()).split('.').map(Number);
      expect(a).toBeGreaterThanOrEqual(1);
      expect(a).toBeLessThanOrEqual(63);
    }
  });

  it('skips an address the state has given out already', () => {
    expect(pickLoopbackIp(new Set(['127.1.0.1']), sequence([...host(1), ...host(2)]))).toBe('127.1.0.2');
  });

  it('skips an address something listens on, as /proc/net/tcp shows', async () => {
    const server = net.createServer();
    await new Promise<void>((done) => server.listen(0, '127.1.0.3', done));
    try {
      const { port } = server.address() as net.AddressInfo;
      expect(listeningPorts('127.1.0.3')).toContain(port);
      expect(pickLoopbackIp(new Set(), sequence([...host(3), ...host(4)]))).toBe('127.1.0.4');
    } finally {
      await new Promise((done) => server.close(done));
    }
    expect(listeningPorts('127.1.0.3')).toEqual([]);
  });
});
