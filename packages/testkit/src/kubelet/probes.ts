/**
 * Container probes as the kubelet's prober runs them: one attempt (httpGet, tcpSocket, exec) with its
 * timeout, and the thresholds that turn attempts into the probe's result.
 */
import { spawn } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { ProbeHandler } from './manifests.js';

/** One probe attempt's outcome and what the kubelet would log about it. */
export interface ProbeAttempt {
  ok: boolean;
  output: string;
}

/** What a probe needs beyond its spec: the node's address, the container's ports, how to exec. */
export interface ProbeContext {
  /** The default host of httpGet and tcpSocket probes: the pod's IP, on hostNetwork the node's. */
  nodeIp: string;
  timeoutMs: number;
  /** The container's named ports. */
  ports: readonly { name?: string; containerPort: number }[];
  /** How an exec probe runs, already mapped to host paths. */
  exec?: { command: string[]; env: NodeJS.ProcessEnv; cwd?: string };
}

/** The kubelet's User-Agent for probes (`kube-probe/<major>.<minor>`); hacp's replicas run 1.23 to 1.32. */
const USER_AGENT = 'kube-probe/1.32';
/** The kubelet keeps at most 10 KiB of a probe's output. */
const MAX_OUTPUT = 10 * 1024;

function resolvePort(port: number | string, context: ProbeContext): number | undefined {
  if (typeof port === 'number') return port;
  return context.ports.find((candidate) => candidate.name === port)?.containerPort;
}

const hostPort = (host: string, port: number) =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

function httpProbe(
  handler: Extract<ProbeHandler, { kind: 'httpGet' }>,
  port: number,
  context: ProbeContext,
): Promise<ProbeAttempt> {
  const scheme = handler.scheme === 'HTTPS' ? 'https' : 'http';
  const url = `${scheme}://${hostPort(handler.host ?? context.nodeIp, port)}${handler.path}`;
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT, Accept: '*/*' };
  for (const header of handler.headers) {
    // The spec's headers replace the defaults, whatever their case.
    for (const key of Object.keys(headers))
      if (key.toLowerCase() === header.name.toLowerCase()) delete headers[key];
    headers[header.name] = header.value;
  }
  return new Promise((resolve) => {
    let settled = false;
    const finish = (attempt: ProbeAttempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(attempt);
    };
    const onResponse = (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      response.resume();
      // The kubelet's rule: 200 to 399 is success (a redirect is not followed here).
      finish(
        status >= 200 && status < 400
          ? { ok: true, output: `HTTP ${status}` }
          : { ok: false, output: `HTTP probe failed with statuscode: ${status}` },
      );
    };
    // agent: false, a fresh connection per probe, as the kubelet's prober (keep-alive off).
    const options = { method: 'GET', headers, agent: false } as const;
    const request =
      scheme === 'https'
        ? httpsRequest(url, { ...options, rejectUnauthorized: false }, onResponse)
        : httpRequest(url, options, onResponse);
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          output: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
        }),
      context.timeoutMs,
    );
    request.on('error', (error) => finish({ ok: false, output: `Get "${url}": ${error.message}` }));
    request.end();
  });
}

function tcpProbe(
  handler: Extract<ProbeHandler, { kind: 'tcpSocket' }>,
  port: number,
  context: ProbeContext,
): Promise<ProbeAttempt> {
  const host = handler.host ?? context.nodeIp;
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (attempt: ProbeAttempt) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(attempt);
    };
    const timer = setTimeout(
      () => finish({ ok: false, output: `dial tcp ${hostPort(host, port)}: i/o timeout` }),
      context.timeoutMs,
    );
    socket.once('connect', () => finish({ ok: true, output: '' }));
    socket.once('error', (error) =>
      finish({ ok: false, output: `dial tcp ${hostPort(host, port)}: ${error.message}` }),
    );
  });
}

function execProbe(context: ProbeContext): Promise<ProbeAttempt> {
  const exec = context.exec;
  if (exec === undefined || exec.command.length === 0)
    return Promise.resolve({ ok: false, output: 'no command' });
  const [program, ...args] = exec.command as [string, ...string[]];
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
    const child = spawn(program, args, {
      env: exec.env,
      ...(exec.cwd === undefined ? {} : { cwd: exec.cwd }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const keep = (chunk: Buffer) => {
      if (output.length < MAX_OUTPUT) output = (output + chunk.toString('utf8')).slice(0, MAX_OUTPUT);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const finish = (attempt: ProbeAttempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(attempt);
    };
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      finish({ ok: false, output: `command timed out after ${context.timeoutMs / 1000}s` });
    }, context.timeoutMs);
    child.once('error', (error) => finish({ ok: false, output: error.message }));
    child.once('close', (code) => {
      finish(
        code === 0
          ? { ok: true, output: output.trim() }
          : { ok: false, output: output.trim() || `command exited with ${code}` },
      );
    });
  });
}

/**
 * Runs one probe attempt. Never throws: a probe that cannot run has failed.
 *
 * @example
 * await runProbeAttempt({ kind: 'tcpSocket', port: 2379 }, { nodeIp: '127.0.0.1', timeoutMs: 1000, ports: [] });
 */
export function runProbeAttempt(handler: ProbeHandler, context: ProbeContext): Promise<ProbeAttempt> {
  if (handler.kind === 'exec') return execProbe(context);
  const port = resolvePort(handler.port, context);
  if (port === undefined) {
    return Promise.resolve({ ok: false, output: `unknown port name "${handler.port}"` });
  }
  return handler.kind === 'httpGet' ? httpProbe(handler, port, context) : tcpProbe(handler, port, context);
}

export type ProbeKind = 'startup' | 'liveness' | 'readiness';
export type ProbeResult = 'success' | 'failure' | 'unknown';

/**
 * The thresholds of one probe of one container instance, as the kubelet's prober worker keeps them:
 * a result counts once `failureThreshold` (or `successThreshold`) attempts in a row agree. A
 * liveness or startup probe that fails is put on hold: the container is killed, and a new
 * instance gets a new counter.
 */
export class ProbeCounter {
  /** The probe's result: readiness starts failed, liveness succeeded, startup unknown. */
  result: ProbeResult;
  private last: ProbeResult = 'unknown';
  private run = 0;
  private onHold = false;

  constructor(
    private readonly kind: ProbeKind,
    private readonly thresholds: { failureThreshold: number; successThreshold: number },
  ) {
    this.result = kind === 'readiness' ? 'failure' : kind === 'liveness' ? 'success' : 'unknown';
  }

  /** Counts one attempt; returns the new result when it changed, else undefined. */
  record(ok: boolean): ProbeResult | undefined {
    if (this.onHold) return undefined;
    const attempt: ProbeResult = ok ? 'success' : 'failure';
    if (attempt === this.last) this.run += 1;
    else {
      this.last = attempt;
      this.run = 1;
    }
    const threshold = ok ? this.thresholds.successThreshold : this.thresholds.failureThreshold;
    if (this.run < threshold) return undefined;
    const before = this.result;
    this.result = attempt;
    if (!ok && this.kind !== 'readiness') {
      this.onHold = true;
      this.run = 0;
    }
    return before === attempt ? undefined : attempt;
  }
}
