/**
 * What the package's tests share: temporary state folders, and a ledger of every process a provider
 * started (read from its log lines), so that tests can prove none is left and stop, by pid, any a
 * failed test left behind.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LogFields, type Logger, type NodeConfig, waitUntil } from '@hacp/core';
import { isAlive, listeningPorts, type ProcessRecord, signalProcess } from '@hacp/core/provider-kit';
import { createExampleProvider, type ExampleProvider, type ExampleProviderSettings } from './provider.js';

/** Every process the providers of a test file started, as their `started ...` log lines said. */
export class ProcessLedger {
  readonly records: ProcessRecord[] = [];

  /** A logger that records `started process` and `started forwarder` lines, and drops the rest. */
  readonly logger: Logger = {
    debug: () => {},
    info: (message: string, fields?: LogFields) => {
      if (!message.startsWith('started ') || typeof fields?.pid !== 'number') return;
      this.records.push({
        pid: fields.pid,
        ...(typeof fields.startTime === 'string' ? { startTime: fields.startTime } : {}),
        command: message,
        startedAt: new Date().toISOString(),
      });
    },
    warn: () => {},
    error: () => {},
  };

  /** The recorded processes that still run. */
  alive(): ProcessRecord[] {
    return this.records.filter(isAlive);
  }

  /** Kills (SIGKILL, by pid and process group) every recorded process still running; returns their pids. */
  killLeftovers(): number[] {
    const left = this.alive();
    for (const record of left) signalProcess(record, 'SIGKILL');
    return left.map((record) => record.pid);
  }
}

/** A fresh state folder under the OS temp folder. */
export async function tempStateDir(prefix = 'hacp-example-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * A test's Example Cloud over a fresh state folder, recording its processes in `ledger`; `remove`
 * deletes the folder. Short start check and stop grace keep tests quick.
 */
export async function testCloud(
  ledger: ProcessLedger,
  settings: Partial<ExampleProviderSettings> = {},
): Promise<{ provider: ExampleProvider; stateDir: string; remove(): Promise<void> }> {
  const stateDir = await tempStateDir();
  const provider = createExampleProvider({
    stateDir,
    logger: ledger.logger,
    startCheckMs: 400,
    stopGraceMs: 2_000,
    ...settings,
  });
  return { provider, stateDir, remove: () => rm(stateDir, { recursive: true, force: true }) };
}

/** The pid files under a state folder: instances' processes and endpoints' forwarders. */
export async function pidFiles(stateDir: string): Promise<string[]> {
  const found: string[] = [];
  const list = (dir: string) => readdir(dir).catch(() => [] as string[]);
  for (const instance of await list(join(stateDir, 'replicas'))) {
    for (const file of await list(join(stateDir, 'replicas', instance, 'run'))) {
      found.push(join('replicas', instance, 'run', file));
    }
  }
  for (const endpoint of await list(join(stateDir, 'endpoints'))) {
    for (const file of await list(join(stateDir, 'endpoints', endpoint))) {
      if (file.endsWith('.pid.json')) found.push(join('endpoints', endpoint, file));
    }
  }
  return found;
}

/** The process a pid file records. */
export async function readPidFile(path: string): Promise<ProcessRecord> {
  return (JSON.parse(await readFile(path, 'utf8')) as { process: ProcessRecord }).process;
}

/**
 * A node program for test replicas: it listens on `<ip>` at each TCP port given and answers every
 * line with `<name>:<line>`, and serves HTTP 200 at /healthz on `<healthPort>`.
 * Arguments: `<name> <ip> <healthPort> <port>...`.
 */
export const ECHO_SERVER = `
const net = require('node:net');
const http = require('node:http');
const [name, ip, healthPort, ...ports] = process.argv.slice(2);
for (const port of ports) {
  net.createServer((socket) => {
    socket.setEncoding('utf8');
    socket.on('data', (data) => socket.write(name + ':' + data));
    socket.on('error', () => {});
  }).listen(Number(port), ip);
}
http.createServer((request, response) => {
  response.statusCode = request.url === '/healthz' ? 200 : 404;
  response.end(String(response.statusCode));
}).listen(Number(healthPort), ip);
console.log(name + ' listening on ' + ip + ' ' + ports.join(','));
`;

/** The port test replicas serve /healthz on. */
export const HEALTH_PORT = 8080;

/**
 * A replica that runs ECHO_SERVER from a file it writes (`bin/echo.js`, a relative path resolved in
 * the instance root) on its internal IP, ports 6443 and 2379, health on HEALTH_PORT.
 */
export function echoNodeConfig(name: string, internalIp: string): NodeConfig {
  return {
    files: [{ path: 'bin/echo.js', mode: 0o644, contents: ECHO_SERVER }],
    processes: [
      {
        name: 'echo',
        command: process.execPath,
        args: ['bin/echo.js', name, internalIp, String(HEALTH_PORT), '6443', '2379'],
      },
    ],
  };
}

/**
 * Waits until something listens on each of `ports` at `ip` (a created replica's server may still be
 * starting: create only waits for processes that exit early).
 */
export async function waitForListening(ip: string, ports: readonly number[]): Promise<void> {
  await waitUntil({
    description: `${ip} to listen on ${ports.join(', ')}`,
    timeoutMs: 15_000,
    minDelayMs: 20,
    maxDelayMs: 200,
    check: () => {
      const listening = listeningPorts(ip);
      const missing = ports.filter((port) => !listening.includes(port));
      return missing.length === 0
        ? { done: true, value: undefined }
        : { done: false, reason: `not ${missing}` };
    },
  });
}

/** Waits until `file` contains `text` (a process saying it is ready). */
export async function waitForText(file: string, text: string): Promise<void> {
  await waitUntil({
    description: `${file} to say ${text}`,
    timeoutMs: 15_000,
    minDelayMs: 20,
    maxDelayMs: 200,
    check: async () =>
      (await readFile(file, 'utf8').catch(() => '')).includes(text)
        ? { done: true, value: undefined }
        : { done: false },
  });
}
