/**
 * The health endpoint's configuration served by the real HAProxy (Debian's), against real local
 * backends: a plain http one standing in for etcd's metrics listener and an https one for
 * kube-apiserver.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '@hacp/core';
import { freePort, type SpawnedProcess, spawnTracked } from '@hacp/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiserverProcess, etcdProcess } from './fixtures.test-support.js';
import { renderHealthEndpointConfig } from './health-endpoint.js';

const randomLoopback = () =>
  `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;

let dir: string;
let haproxy: SpawnedProcess | undefined;
let backend: Server | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hacp-health-'));
});

afterEach(async () => {
  await haproxy?.stop({ graceMs: 5_000 });
  haproxy = undefined;
  if (backend?.listening) await new Promise((resolve) => backend?.close(resolve));
  backend = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A backend answering `state.status` on every path, recording the paths it was asked. */
function answering(state: { status: number; paths: string[] }) {
  return (request: { url?: string }, response: { statusCode: number; end(body: string): void }) => {
    state.paths.push(request.url ?? '');
    response.statusCode = state.status;
    response.end(state.status === 200 ? 'ok' : 'not ready');
  };
}

async function listen(server: Server, host: string): Promise<number> {
  const port = await freePort(host);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return port;
}

async function startHaproxy(config: string): Promise<string> {
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  execFileSync('haproxy', ['-c', '-q', '-f', file]);
  haproxy = spawnTracked({
    command: 'haproxy',
    args: ['-db', '-f', file],
    logFile: join(dir, 'haproxy.log'),
    marker: file,
  });
  return file;
}

async function status(url: string): Promise<number | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
}

async function expectStatus(url: string, expected: number): Promise<void> {
  let last: number | undefined;
  try {
    await waitUntil({
      description: `${url} to answer ${expected}`,
      timeoutMs: 10_000,
      minDelayMs: 100,
      maxDelayMs: 250,
      check: async () => {
        last = await status(url);
        return last === expected
          ? { done: true, value: undefined }
          : { done: false, reason: `answered ${last}` };
      },
    });
  } catch (error) {
    throw new Error(
      `${url} answered ${last}, not ${expected}\n${readFileSync(join(dir, 'haproxy.log'), 'utf8')}`,
      {
        cause: error,
      },
    );
  }
}

describe('the health endpoint under the real HAProxy', () => {
  it("answers 200 only while etcd's metrics /health does, 503 once it fails or is gone", async () => {
    const backendHost = randomLoopback();
    const state = { status: 200, paths: [] as string[] };
    backend = createHttpServer(answering(state));
    const metricsPort = await listen(backend, backendHost);
    const etcd = etcdProcess(backendHost);
    const args = etcd.args.map((arg) =>
      arg.startsWith('--listen-metrics-urls=')
        ? `--listen-metrics-urls=http://${backendHost}:${metricsPort}`
        : arg,
    );
    const nodeConfig = {
      files: [],
      processes: [{ ...etcd, args, ports: { ...etcd.ports, metrics: metricsPort } }],
    };

    const address = randomLoopback();
    const port = await freePort(address);
    await startHaproxy(renderHealthEndpointConfig(nodeConfig, { address, port }));
    const url = `http://${address}:${port}/healthz`;

    await expectStatus(url, 200);
    expect(state.paths).toContain('/health');
    // Only the monitor URI answers: nothing is proxied to the replica.
    expect(await status(`http://${address}:${port}/v3/kv/range`)).toBe(404);

    state.status = 503;
    await expectStatus(url, 503);
    state.status = 200;
    await expectStatus(url, 200);

    await new Promise((resolve) => backend?.close(resolve));
    await expectStatus(url, 503);
  });

  it("checks kube-apiserver's /readyz over https without verifying its certificate", async () => {
    const key = join(dir, 'apiserver.key');
    const cert = join(dir, 'apiserver.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=kube-apiserver',
        '-days',
        '1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const backendHost = randomLoopback();
    const state = { status: 200, paths: [] as string[] };
    backend = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, answering(state));
    const securePort = await listen(backend, backendHost);
    const apiserver = apiserverProcess(backendHost);
    const args = apiserver.args.map((arg) =>
      arg.startsWith('--secure-port=') ? `--secure-port=${securePort}` : arg,
    );
    const nodeConfig = {
      files: [],
      processes: [etcdProcess(backendHost), { ...apiserver, args, ports: { secure: securePort } }],
    };

    const address = randomLoopback();
    const port = await freePort(address);
    await startHaproxy(renderHealthEndpointConfig(nodeConfig, { address, port }));
    const url = `http://${address}:${port}/healthz`;

    await expectStatus(url, 200);
    // HAProxy counts a server up before its first check: on a busy machine the first 200 can come
    // before the check has reached the apiserver. Its checks ask for /readyz, and nothing else.
    await expect.poll(() => [...new Set(state.paths)], { timeout: 10_000 }).toEqual(['/readyz']);
    state.status = 500;
    await expectStatus(url, 503);
    state.status = 200;
    await expectStatus(url, 200);
    await new Promise((resolve) => backend?.close(resolve));
    await expectStatus(url, 503);
  });
});
