import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../ports.js';
import { ProbeCounter, runProbeAttempt } from './probes.js';

describe('ProbeCounter', () => {
  it('starts readiness failed, liveness succeeded, startup unknown', () => {
    const thresholds = { failureThreshold: 3, successThreshold: 1 };
    expect(new ProbeCounter('readiness', thresholds).result).toBe('failure');
    expect(new ProbeCounter('liveness', thresholds).result).toBe('success');
    expect(new ProbeCounter('startup', thresholds).result).toBe('unknown');
  });

  it('changes a readiness result only after the threshold of attempts in a row', () => {
    const counter = new ProbeCounter('readiness', { failureThreshold: 2, successThreshold: 2 });
    expect(counter.record(true)).toBeUndefined();
    expect(counter.record(false)).toBeUndefined();
    expect(counter.record(true)).toBeUndefined();
    expect(counter.record(true)).toBe('success');
    expect(counter.record(false)).toBeUndefined();
    expect(counter.record(false)).toBe('failure');
    expect(counter.record(false)).toBeUndefined(); // unchanged
    expect(counter.result).toBe('failure');
  });

  it('puts a liveness probe on hold once it failed: the container is restarted', () => {
    const counter = new ProbeCounter('liveness', { failureThreshold: 3, successThreshold: 1 });
    expect([false, false, true, false, false].map((ok) => counter.record(ok))).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(counter.record(false)).toBe('failure');
    expect(counter.record(true)).toBeUndefined();
    expect(counter.result).toBe('failure');
  });

  it('passes a startup probe at its first success', () => {
    const counter = new ProbeCounter('startup', { failureThreshold: 30, successThreshold: 1 });
    expect(counter.record(false)).toBeUndefined();
    expect(counter.record(true)).toBe('success');
  });
});

describe('runProbeAttempt', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function serve(status: (path: string, headers: Record<string, unknown>) => number): Promise<number> {
    const port = await freePort();
    server = createServer((request, response) => {
      response.statusCode = status(request.url ?? '', request.headers);
      response.end();
    });
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
    return port;
  }

  const context = { nodeIp: '127.0.0.1', timeoutMs: 2000, ports: [] };

  it('counts 200 to 399 as success, sends the headers, and names a failure as the kubelet does', async () => {
    let seen: Record<string, unknown> = {};
    const port = await serve((path, headers) => {
      seen = headers;
      return path === '/healthz' ? 200 : path === '/moved' ? 302 : 503;
    });
    const get = (path: string) =>
      runProbeAttempt(
        { kind: 'httpGet', port, path, scheme: 'HTTP', headers: [{ name: 'X-Probe', value: 'yes' }] },
        context,
      );
    expect((await get('/healthz')).ok).toBe(true);
    expect(seen['user-agent']).toBe('kube-probe/1.32');
    expect(seen['x-probe']).toBe('yes');
    expect((await get('/moved')).ok).toBe(true);
    expect(await get('/readyz')).toEqual({ ok: false, output: 'HTTP probe failed with statuscode: 503' });
  });

  it('resolves a named port and fails on a closed one', async () => {
    const port = await serve(() => 200);
    expect(
      (
        await runProbeAttempt(
          { kind: 'httpGet', port: 'metrics', path: '/', scheme: 'HTTP', headers: [] },
          { ...context, ports: [{ name: 'metrics', containerPort: port }] },
        )
      ).ok,
    ).toBe(true);
    const closed = await freePort();
    const attempt = await runProbeAttempt({ kind: 'tcpSocket', port: closed }, context);
    expect(attempt.ok).toBe(false);
    expect(attempt.output).toContain(`dial tcp 127.0.0.1:${closed}`);
    expect((await runProbeAttempt({ kind: 'tcpSocket', port }, context)).ok).toBe(true);
  });

  it('runs an exec probe: exit 0 is success, and its output is kept', async () => {
    const exec = (command: string[]) =>
      runProbeAttempt(
        { kind: 'exec', command },
        { ...context, exec: { command, env: { PATH: process.env.PATH } } },
      );
    expect(await exec(['sh', '-c', 'echo fine'])).toEqual({ ok: true, output: 'fine' });
    expect(await exec(['sh', '-c', 'echo broken >&2; exit 3'])).toEqual({ ok: false, output: 'broken' });
    expect((await exec(['/no/such/program'])).ok).toBe(false);
  });
});
