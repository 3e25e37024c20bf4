import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { connect, isIPv4 } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ErrorCode, HacpError, type HealthCheck, invalidArgument, isHacpError, waitUntil } from '@hacp/core';
import {
  dependencyMissing,
  ensureDir,
  findProgram,
  isAlive,
  jsonFiles,
  type EndpointListener as KitEndpointListener,
  type EndpointServer as KitEndpointServer,
  type ProcessRecord,
  startDetached,
  stopProcess,
  writeFileAtomically,
} from '@hacp/core/provider-kit';
import { type ConfiguredServer, parseServersState, renderServerState } from './server-state.js';

/**
 * One target of a listener: a replica's address and port, and where its health check goes (the
 * kit's EndpointServer; HAProxy needs no zone). Names are [A-Za-z0-9._-], hosts IPv4 literals.
 */
export type EndpointServer = Omit<KitEndpointServer, 'zone'>;

/** A TCP port of the endpoint address (`apiserver`, `etcd`), passed through to its servers. */
export type EndpointListener = Omit<KitEndpointListener, 'servers'> & { servers: readonly EndpointServer[] };

/**
 * What one HAProxy serves: a kit EndpointPlan. Without `healthCheck` it is the "instance" mode (the
 * address belongs to one replica, servers are not checked); with it, the "load-balancer" mode (only
 * healthy servers get connections).
 */
export interface EndpointConfig {
  listeners: readonly EndpointListener[];
  healthCheck?: HealthCheck;
}

/** The health of one server as the running HAProxy sees it. */
export interface EndpointServerState {
  listener: string;
  server: string;
  /** As HAProxy reports it: 'UP', 'DOWN', 'no check', 'UP 1/2', 'DOWN 1/2', 'MAINT', ... */
  status: string;
  /** Whether it gets new connections: the status starts with 'UP' or is 'no check'. */
  up: boolean;
}

/** HAProxy 2.6 refuses longer unix socket paths ("too long (max 97)"): it binds `<path>.<pid>.tmp` first. */
const MAX_SOCKET_PATH_BYTES = 97;
/** Far below PATH_MAX; a path in the config longer than this is refused, not truncated. */
const MAX_CONFIG_PATH_BYTES = 1024;
/** Characters a path may have to appear unquoted in the config: nothing HAProxy would interpret. */
const SAFE_PATH = /^\/[A-Za-z0-9._/+@=,~-]*$/;
const SAFE_NAME = /^[A-Za-z0-9._-]+$/;
/** An http(s) check path: no whitespace, quotes, backslash, '#' or '$', which the config parser reads. */
const SAFE_CHECK_PATH = /^\/[A-Za-z0-9._~!&*+,;=:@%/?()-]*$/;

const READY_TIMEOUT_MS = 10_000;
const VALIDATE_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const FRONTEND_PREFIX = 'fe_';
/** haproxy.json, the master's record, in the format of every state file of the local provider. */
const stateFiles = jsonFiles({ writer: 'hacp' });
const BACKEND_PREFIX = 'be_';

/** The files of an endpoint folder. */
function endpointFiles(dir: string) {
  const root = resolve(dir);
  return {
    root,
    config: join(root, 'haproxy.cfg'),
    nextConfig: join(root, 'haproxy.cfg.next'),
    record: join(root, 'haproxy.json'),
    log: join(root, 'haproxy.log'),
  };
}

/** `<dir>/<name>`, or a stable `<os.tmpdir()>/hacp-haproxy-<digest><suffix>` where that will not do. */
function endpointPath(dir: string, name: string, suffix: string, maxBytes: number): string {
  const root = resolve(dir);
  const inside = join(root, name);
  if (Buffer.byteLength(inside) <= maxBytes && SAFE_PATH.test(inside)) return inside;
  const digest = createHash('sha256').update(root).digest('hex').slice(0, 16);
  return join(tmpdir(), `hacp-haproxy-${digest}${suffix}`);
}

/**
 * The stats socket of the HAProxy in `dir`: `<dir>/stats.sock`, or, when that path is too long for
 * HAProxy (97 bytes) or has characters its config would interpret,
 * `<os.tmpdir()>/hacp-haproxy-<first 16 hex of sha256(dir)>.sock`.
 *
 * @example
 * statsSocketPath('/var/lib/hacp/endpoint'); // '/var/lib/hacp/endpoint/stats.sock'
 */
export function statsSocketPath(dir: string): string {
  return endpointPath(dir, 'stats.sock', '.sock', MAX_SOCKET_PATH_BYTES);
}

/**
 * The server-state file of the HAProxy in `dir` (see server-state.ts): `<dir>/server-state`, or,
 * when that path has characters its config would interpret, `<os.tmpdir()>/hacp-haproxy-<digest>.state`.
 *
 * @example
 * serverStatePath('/var/lib/hacp/endpoint'); // '/var/lib/hacp/endpoint/server-state'
 */
export function serverStatePath(dir: string): string {
  return endpointPath(dir, 'server-state', '.state', MAX_CONFIG_PATH_BYTES);
}

function assertName(field: string, value: unknown): void {
  if (typeof value !== 'string' || !SAFE_NAME.test(value)) {
    throw invalidArgument({
      field,
      message: `${field} must be letters, digits, '.', '_' or '-' (got ${JSON.stringify(value)}).`,
      actions: ['Use a name such as apiserver or etcd-1.'],
    });
  }
}

function assertIpv4(field: string, value: unknown): void {
  if (typeof value !== 'string' || !isIPv4(value)) {
    throw invalidArgument({
      field,
      message: `${field} must be an IPv4 address such as 127.77.12.5 (got ${JSON.stringify(value)}).`,
    });
  }
}

function assertPort(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65_535) {
    throw invalidArgument({
      field,
      message: `${field} must be a whole number from 1 to 65535 (got ${JSON.stringify(value)}).`,
    });
  }
}

function assertWholeNumber(field: string, value: unknown, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw invalidArgument({
      field,
      message: `${field} must be a whole number from 1 to ${max} (got ${JSON.stringify(value)}).`,
    });
  }
}

function assertHealthCheck(check: HealthCheck): void {
  if (!['http', 'https', 'tcp'].includes(check.protocol)) {
    throw invalidArgument({
      field: 'healthCheck.protocol',
      message: `healthCheck.protocol must be http, https or tcp (got ${JSON.stringify(check.protocol)}).`,
    });
  }
  assertPort('healthCheck.port', check.port);
  if (check.path !== undefined && (typeof check.path !== 'string' || !SAFE_CHECK_PATH.test(check.path))) {
    throw invalidArgument({
      field: 'healthCheck.path',
      message: `healthCheck.path must start with '/' and have no spaces, quotes, '#', '$' or backslashes (got ${JSON.stringify(check.path)}).`,
      actions: ['Use a path such as /readyz.'],
    });
  }
  if (check.intervalSeconds !== undefined)
    assertWholeNumber('healthCheck.intervalSeconds', check.intervalSeconds, 3600);
  if (check.timeoutSeconds !== undefined)
    assertWholeNumber('healthCheck.timeoutSeconds', check.timeoutSeconds, 3600);
  if (check.healthyThreshold !== undefined)
    assertWholeNumber('healthCheck.healthyThreshold', check.healthyThreshold, 100);
  if (check.unhealthyThreshold !== undefined) {
    assertWholeNumber('healthCheck.unhealthyThreshold', check.unhealthyThreshold, 100);
  }
}

/** Throws INVALID_ARGUMENT unless every value is safe to write into the config as it is. */
function assertEndpointConfig(config: EndpointConfig): void {
  if (typeof config !== 'object' || config === null || !Array.isArray(config.listeners as unknown)) {
    throw invalidArgument({ field: 'listeners', message: 'An endpoint config needs a listeners array.' });
  }
  if (config.healthCheck !== undefined) assertHealthCheck(config.healthCheck);
  const listenerNames = new Set<string>();
  const binds = new Set<string>();
  config.listeners.forEach((listener, i) => {
    const at = `listeners[${i}]`;
    assertName(`${at}.name`, listener.name);
    if (listenerNames.has(listener.name)) {
      throw invalidArgument({
        field: `${at}.name`,
        message: `Listener name ${listener.name} is used twice.`,
        value: listener.name,
      });
    }
    listenerNames.add(listener.name);
    assertIpv4(`${at}.bindHost`, listener.bindHost);
    assertPort(`${at}.bindPort`, listener.bindPort);
    const bind = `${listener.bindHost}:${listener.bindPort}`;
    if (binds.has(bind)) {
      throw invalidArgument({
        field: `${at}.bindPort`,
        message: `Two listeners bind ${bind}.`,
        value: bind,
      });
    }
    binds.add(bind);
    if (!Array.isArray(listener.servers as unknown)) {
      throw invalidArgument({ field: `${at}.servers`, message: `${at}.servers must be an array.` });
    }
    const serverNames = new Set<string>();
    listener.servers.forEach((server, j) => {
      const serverAt = `${at}.servers[${j}]`;
      assertName(`${serverAt}.name`, server.name);
      if (serverNames.has(server.name)) {
        throw invalidArgument({
          field: `${serverAt}.name`,
          message: `Server name ${server.name} is used twice in listener ${listener.name}.`,
          value: server.name,
        });
      }
      serverNames.add(server.name);
      assertIpv4(`${serverAt}.host`, server.host);
      assertPort(`${serverAt}.port`, server.port);
      if (server.checkPort !== undefined) assertPort(`${serverAt}.checkPort`, server.checkPort);
    });
  });
}

/** Throws INVALID_ARGUMENT unless `path` can appear unquoted in the config. */
function assertConfigPath(field: string, path: unknown, maxBytes: number, helper: string): void {
  if (typeof path !== 'string' || !SAFE_PATH.test(path) || Buffer.byteLength(path) > maxBytes) {
    throw invalidArgument({
      field,
      message: `${field} must be an absolute path of at most ${maxBytes} bytes without spaces or quotes (got ${JSON.stringify(path)}).`,
      actions: [`Use ${helper}(dir), which falls back to a short path under the temporary folder.`],
    });
  }
}

/**
 * The HAProxy configuration for an endpoint: master-worker, an admin stats socket, and per listener a
 * TCP frontend `fe_<name>` and backend `be_<name>` (leastconn). With a health check every server is
 * checked, and with `serverStateFile` too, the servers' first state comes from that file (written
 * by renderServerState), so that none gets traffic before its checks pass; without, none is checked.
 *
 * @throws HacpError INVALID_ARGUMENT when a name, address, port, path or the socket path is not safe
 *   to write into the config as it is (nothing is ever quoted or escaped, so nothing can be injected).
 * @example
 * renderHaproxyConfig(
 *   { listeners: [{ name: 'apiserver', bindHost: '127.77.12.5', bindPort: 6443,
 *     servers: [{ name: 'r1', host: '127.77.12.6', port: 6443 }] }] },
 *   { statsSocket: '/var/lib/hacp/endpoint/stats.sock' },
 * );
 */
export function renderHaproxyConfig(
  config: EndpointConfig,
  options: { statsSocket: string; serverStateFile?: string },
): string {
  assertEndpointConfig(config);
  assertConfigPath('statsSocket', options.statsSocket, MAX_SOCKET_PATH_BYTES, 'statsSocketPath');
  if (options.serverStateFile !== undefined) {
    assertConfigPath('serverStateFile', options.serverStateFile, MAX_CONFIG_PATH_BYTES, 'serverStatePath');
  }
  const check = config.healthCheck;
  const stateFile = check === undefined ? undefined : options.serverStateFile;
  const lines = [
    '# Written by hacp: changes are overwritten by the next apply.',
    'global',
    '  master-worker',
    // Without it a second HAProxy could bind the same address and silently share its traffic;
    // reloads do not need it, the new worker takes the listening sockets over (-x).
    '  noreuseport',
    `  stats socket ${options.statsSocket} mode 600 level admin`,
    // Workers left by a reload keep serving their established connections for this long.
    '  hard-stop-after 10m',
    ...(stateFile === undefined ? [] : [`  server-state-file ${stateFile}`]),
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  option redispatch',
    '  retries 3',
    ...(stateFile === undefined ? [] : ['  load-server-state-from-file global']),
  ];
  for (const listener of config.listeners) {
    lines.push(
      '',
      `frontend ${FRONTEND_PREFIX}${listener.name}`,
      `  bind ${listener.bindHost}:${listener.bindPort}`,
      `  default_backend ${BACKEND_PREFIX}${listener.name}`,
      '',
      `backend ${BACKEND_PREFIX}${listener.name}`,
      '  balance leastconn',
    );
    if (check !== undefined && check.protocol !== 'tcp') {
      lines.push(`  option httpchk GET ${check.path ?? '/'}`, '  http-check expect status 200');
    }
    if (check?.timeoutSeconds !== undefined) lines.push(`  timeout check ${check.timeoutSeconds}s`);
    for (const server of listener.servers) {
      let line = `  server ${server.name} ${server.host}:${server.port}`;
      if (check !== undefined) {
        line +=
          ` check port ${server.checkPort ?? check.port} inter ${check.intervalSeconds ?? 2}s` +
          ` fall ${check.unhealthyThreshold ?? 2} rise ${check.healthyThreshold ?? 2}`;
        if (check.protocol === 'https') line += ' check-ssl verify none';
      }
      lines.push(line);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** What haproxy.json holds: the master's record and the stats socket its config names. */
interface EndpointRecordFile extends Record<string, unknown> {
  pid: number;
  startTime?: string;
  command: string;
  startedAt: string;
  statsSocket?: string;
}

async function readRecordFile(dir: string): Promise<EndpointRecordFile | undefined> {
  const file = endpointFiles(dir).record;
  const body = await stateFiles.read<EndpointRecordFile>(file);
  if (body === undefined) return undefined;
  if (
    !Number.isInteger(body.pid) ||
    body.pid <= 0 ||
    typeof body.command !== 'string' ||
    (body.startTime !== undefined && typeof body.startTime !== 'string')
  ) {
    throw new HacpError({
      code: ErrorCode.STATE_CORRUPT,
      message: `${file} cannot be read: it does not hold a process record. It was left untouched.`,
      actions: [`Look at ${file}; move it away once no HAProxy runs with ${endpointFiles(dir).config}.`],
      details: { path: file },
    });
  }
  return body;
}

function toProcessRecord(body: EndpointRecordFile): ProcessRecord {
  return {
    pid: body.pid,
    ...(body.startTime === undefined ? {} : { startTime: body.startTime }),
    command: body.command,
    startedAt: typeof body.startedAt === 'string' ? body.startedAt : '',
  };
}

/**
 * The record of the HAProxy master of the endpoint in `dir` (pid and start time), or undefined when
 * none was started there. It may have exited since: check with isAlive.
 *
 * @throws HacpError STATE_CORRUPT when haproxy.json is unreadable.
 */
export async function endpointProcess(dir: string | { dir: string }): Promise<ProcessRecord | undefined> {
  const body = await readRecordFile(typeof dir === 'string' ? dir : dir.dir);
  return body === undefined ? undefined : toProcessRecord(body);
}

/** Whether the HAProxy master recorded in `dir` runs (same pid and start time as recorded). */
export async function endpointRunning(options: { dir: string }): Promise<boolean> {
  const record = await endpointProcess(options.dir);
  return record !== undefined && isAlive(record);
}

function unavailable(
  message: string,
  options: { actions?: string[]; details?: Record<string, unknown>; cause?: unknown; retryable?: boolean },
): HacpError {
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message,
    actions: options.actions ?? [],
    details: options.details ?? {},
    ...(options.retryable === undefined ? {} : { retryable: options.retryable }),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}

/** Sends one command to an HAProxy stats socket and returns the whole answer. */
function statsCommand(socketPath: string, command: string, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect(socketPath);
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolvePromise(Buffer.concat(chunks).toString('utf8'));
      else {
        reject(
          unavailable(`The HAProxy stats socket ${socketPath} did not answer ${JSON.stringify(command)}.`, {
            details: { socket: socketPath },
            cause: error,
          }),
        );
      }
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // HAProxy closes the connection after answering a command in non-interactive mode.
    socket.on('end', () => finish());
    socket.on('error', (error) => finish(error));
  });
}

/** Splits one CSV line; HAProxy quotes a field only when it holds a comma or a quote. */
function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      fields.push(field);
      field = '';
    } else field += char;
  }
  fields.push(field);
  return fields;
}

/** The rows of a `show stat` answer, as objects keyed by the header's column names. */
function parseCsv(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines.find((line) => line.startsWith('# '));
  if (header === undefined) return [];
  const columns = splitCsvLine(header.slice(2));
  return lines
    .filter((line) => !line.startsWith('#'))
    .map((line) => {
      const values = splitCsvLine(line);
      const row: Record<string, string> = {};
      columns.forEach((column, i) => {
        row[column] = values[i] ?? '';
      });
      return row;
    });
}

/**
 * The servers in an HAProxy `show stat` answer (CSV), one entry per server of each backend hacp wrote
 * (`be_<listener>`); frontend and backend summary rows are skipped.
 *
 * @example
 * parseServerStates('# pxname,svname,status,\nbe_etcd,r1,UP,\n');
 * // [{ listener: 'etcd', server: 'r1', status: 'UP', up: true }]
 */
export function parseServerStates(csv: string): EndpointServerState[] {
  const states: EndpointServerState[] = [];
  for (const row of parseCsv(csv)) {
    const proxy = row.pxname ?? '';
    const server = row.svname ?? '';
    if (!proxy.startsWith(BACKEND_PREFIX) || server === 'FRONTEND' || server === 'BACKEND' || server === '') {
      continue;
    }
    const status = row.status ?? '';
    // A checked server reads UP before its first check has run (check_status INI): not healthy yet.
    const unchecked = /\bINI\b/.test(row.check_status ?? '');
    states.push({
      listener: proxy.slice(BACKEND_PREFIX.length),
      server,
      status,
      up: (status.startsWith('UP') && !unchecked) || status === 'no check',
    });
  }
  return states;
}

/** The `Pid:` of a `show info` answer: the worker that answered. */
function workerPid(info: string): number | undefined {
  const match = /^Pid: (\d+)$/m.exec(info);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Whether the answering HAProxy has exactly the servers of `config`, listener by listener. */
function servesConfig(states: readonly EndpointServerState[], config: EndpointConfig): boolean {
  const seen = new Map<string, string[]>();
  for (const state of states) seen.set(state.listener, [...(seen.get(state.listener) ?? []), state.server]);
  const expected = new Map<string, string[]>();
  for (const listener of config.listeners) {
    expected.set(
      listener.name,
      listener.servers.map((server) => server.name),
    );
  }
  for (const [listener, servers] of seen) {
    if (!expected.has(listener) && servers.length > 0) return false;
  }
  for (const [listener, servers] of expected) {
    const actual = seen.get(listener) ?? [];
    if (actual.length !== servers.length || servers.some((server) => !actual.includes(server))) return false;
  }
  return true;
}

/** Whether the answering HAProxy has a frontend for every listener of `config`. */
function hasFrontends(csv: string, config: EndpointConfig): boolean {
  const frontends = new Set(
    parseCsv(csv)
      .filter((row) => row.svname === 'FRONTEND')
      .map((row) => row.pxname),
  );
  return config.listeners.every((listener) => frontends.has(`${FRONTEND_PREFIX}${listener.name}`));
}

/** The lines a log gained since `offset`, at most the last `lines`. */
async function logSince(file: string, offset: number, lines = 20): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.max(0, size - offset);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, offset);
      return buffer.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

function abortedError(signal: AbortSignal, what: string): HacpError {
  return new HacpError({
    code: ErrorCode.ABORTED,
    message: `Stopped ${what}: the operation was aborted.`,
    actions: ['Run the same command again to continue.'],
    cause: signal.reason,
  });
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortedError(signal, what);
}

/** Runs `<binary> -c -f <file>`; resolves when HAProxy accepts the file. */
function validateConfigFile(options: { binary: string; file: string; signal?: AbortSignal }): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      options.binary,
      ['-c', '-f', options.file],
      {
        timeout: VALIDATE_TIMEOUT_MS,
        maxBuffer: 1024 * 1024,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolvePromise();
          return;
        }
        if (options.signal?.aborted) {
          reject(abortedError(options.signal, 'validating the HAProxy configuration'));
          return;
        }
        const output = `${stdout}${stderr}`.trimEnd().split('\n').slice(-20).join('\n');
        reject(
          new HacpError({
            code: ErrorCode.PROVIDER_ERROR,
            message: `HAProxy rejected the configuration ${options.file}; the running endpoint keeps its configuration.\n${output}`,
            actions: [`Look at ${options.file} and the output above.`],
            details: { file: options.file, binary: options.binary },
            cause: error,
          }),
        );
      },
    );
  });
}

/** Every checked server of `config`, as the server-state file names them. */
function configuredServers(config: EndpointConfig): ConfiguredServer[] {
  const checkPort = config.healthCheck?.port;
  return config.listeners.flatMap((listener) =>
    listener.servers.map((server) => ({
      backend: `${BACKEND_PREFIX}${listener.name}`,
      server: server.name,
      address: server.host,
      port: server.port,
      checkPort: server.checkPort ?? checkPort ?? server.port,
    })),
  );
}

/**
 * Makes the HAProxy in `dir` serve `config`: writes and validates `haproxy.cfg`, then reloads the
 * running master (SIGUSR2; established connections stay on the old worker) or starts a detached one
 * (`haproxy -W`, recorded in `haproxy.json`, output in `haproxy.log`). Resolves once HAProxy answers
 * with exactly the new servers. Calls for one `dir` must not overlap (the caller holds its lock).
 *
 * With a health check, a server gets connections only once its check has passed `rise` times: the
 * new worker starts each server DOWN, except one the running worker had UP on a passed check at the
 * same address (so a reload takes no healthy server out).
 *
 * @throws HacpError DEPENDENCY_MISSING when `binary` is not an executable; INVALID_ARGUMENT for a bad
 *   config (nothing is written); PROVIDER_ERROR when `haproxy -c` rejects it (the running config is
 *   untouched); UNAVAILABLE when HAProxy exits at start (an address in use, say: nothing is left
 *   running) or does not load the config within 10 s; ABORTED on `signal` (a started HAProxy stays
 *   recorded, and the next apply reloads it).
 * @example
 * await applyEndpoint({
 *   binary: '/usr/sbin/haproxy',
 *   dir: '/var/lib/hacp/clusters/c1/endpoint',
 *   config: { listeners: [{ name: 'etcd', bindHost: '127.77.12.5', bindPort: 2379,
 *     servers: [{ name: 'r1', host: '127.77.12.6', port: 2379 }] }] },
 * });
 */
export async function applyEndpoint(options: {
  binary: string;
  dir: string;
  config: EndpointConfig;
  signal?: AbortSignal;
}): Promise<void> {
  const { config, signal } = options;
  const binary = findProgram(options.binary);
  if (binary === undefined)
    throw dependencyMissing('haproxy', { hint: `hacp looked for ${options.binary}.` });
  throwIfAborted(signal, 'applying the HAProxy configuration');
  const files = endpointFiles(options.dir);
  const previous = await readRecordFile(files.root);
  const running = previous !== undefined && isAlive(toProcessRecord(previous));
  // A running master keeps the socket path it started with, even if the temporary folder changed.
  const statsSocket =
    running && previous.statsSocket !== undefined ? previous.statsSocket : statsSocketPath(files.root);
  const serverStateFile = serverStatePath(files.root);
  const text = renderHaproxyConfig(config, { statsSocket, serverStateFile });

  await ensureDir(files.root);
  if (config.healthCheck !== undefined) {
    // What the running worker saw, read just before the reload; unreadable means every server
    // starts DOWN, the safe side.
    const seen = running ? await statsCommand(statsSocket, 'show servers state').catch(() => '') : '';
    await writeFileAtomically(
      serverStateFile,
      renderServerState(configuredServers(config), parseServersState(seen)),
    );
  }
  await writeFileAtomically(files.nextConfig, text);
  await validateConfigFile({ binary, file: files.nextConfig, ...(signal === undefined ? {} : { signal }) });
  await rename(files.nextConfig, files.config);
  throwIfAborted(signal, 'applying the HAProxy configuration');

  if (running) {
    await reload({ record: toProcessRecord(previous), statsSocket, config, log: files.log, signal });
    return;
  }
  await start({ binary, files, statsSocket, config, signal });
}

async function reload(options: {
  record: ProcessRecord;
  statsSocket: string;
  config: EndpointConfig;
  log: string;
  signal: AbortSignal | undefined;
}): Promise<void> {
  const { record, statsSocket, config, signal } = options;
  const oldWorker = await statsCommand(statsSocket, 'show info').then(workerPid, () => undefined);
  const logOffset = await fileSize(options.log);
  try {
    // The master only: it re-executes itself and forks the new worker; the old one drains.
    process.kill(record.pid, 'SIGUSR2');
  } catch (error) {
    throw unavailable(`Could not signal the HAProxy master ${record.pid} to reload.`, {
      details: { pid: record.pid },
      cause: error,
    });
  }
  try {
    await waitUntil({
      description: `HAProxy ${record.pid} to load the new configuration`,
      timeoutMs: READY_TIMEOUT_MS,
      minDelayMs: 50,
      maxDelayMs: 500,
      ...(signal === undefined ? {} : { signal }),
      check: async () => {
        if (!isAlive(record)) {
          throw unavailable(`The HAProxy master ${record.pid} exited during the reload.`, {
            retryable: false,
          });
        }
        const worker = workerPid(await statsCommand(statsSocket, 'show info'));
        if (oldWorker !== undefined && worker === oldWorker)
          return { done: false, reason: 'the old worker still answers' };
        const states = parseServerStates(await statsCommand(statsSocket, 'show stat'));
        return servesConfig(states, config)
          ? { done: true, value: undefined }
          : { done: false, reason: 'the servers differ from the new configuration' };
      },
    });
  } catch (error) {
    if (isHacpError(error, ErrorCode.ABORTED)) throw error;
    const tail = await logSince(options.log, logOffset);
    throw unavailable(
      `HAProxy ${record.pid} did not load the new configuration; its previous one may still serve.${tail ? `\n${tail}` : ''}`,
      {
        actions: [`Look at ${options.log}, fix the cause (an address in use, say), and apply again.`],
        details: { pid: record.pid, log: options.log },
        cause: error,
      },
    );
  }
}

async function start(options: {
  binary: string;
  files: ReturnType<typeof endpointFiles>;
  statsSocket: string;
  config: EndpointConfig;
  signal: AbortSignal | undefined;
}): Promise<void> {
  const { binary, files, statsSocket, config, signal } = options;
  const logOffset = await fileSize(files.log);
  const started = startDetached({
    command: binary,
    args: ['-W', '-f', files.config],
    cwd: files.root,
    logFile: files.log,
  });
  const record = started.record;
  let exited = false;
  void started.exited.then(() => {
    exited = true;
  });
  // Recorded before anything else can fail, so it is never left running unknown.
  try {
    await stateFiles.write(files.record, { ...record, statsSocket });
  } catch (error) {
    await stopProcess(record, { graceMs: STOP_GRACE_MS });
    throw error;
  }
  try {
    await waitUntil({
      description: `HAProxy ${record.pid} to serve ${files.config}`,
      timeoutMs: READY_TIMEOUT_MS,
      minDelayMs: 50,
      maxDelayMs: 500,
      ...(signal === undefined ? {} : { signal }),
      check: async () => {
        if (exited || !isAlive(record)) {
          throw unavailable(`HAProxy ${record.pid} exited at start.`, { retryable: false });
        }
        // The master binds every listener before it forks the worker, so a worker answering with
        // all frontends is listening; probing the ports would open connections to the replicas.
        const csv = await statsCommand(statsSocket, 'show stat');
        return hasFrontends(csv, config) && servesConfig(parseServerStates(csv), config)
          ? { done: true, value: undefined }
          : { done: false, reason: 'its configuration is not loaded yet' };
      },
    });
  } catch (error) {
    if (isHacpError(error, ErrorCode.ABORTED)) throw error;
    await stopProcess(record, { graceMs: STOP_GRACE_MS });
    await rm(files.record, { force: true });
    const tail = await logSince(files.log, logOffset);
    throw unavailable(`HAProxy did not start for ${files.config}.${tail ? `\n${tail}` : ''}`, {
      actions: [
        `Look at ${files.log}; if an address is in use, stop what listens there (ss -ltnp), then apply again.`,
      ],
      details: { pid: record.pid, log: files.log },
      cause: error,
    });
  }
}

/**
 * Stops the HAProxy of `dir` (SIGTERM to its process group, SIGKILL after 10 s) and removes its
 * record, stats socket and server-state file. Stopping one that does not run is fine.
 *
 * @throws HacpError UNAVAILABLE when it survives SIGKILL; STATE_CORRUPT when haproxy.json is unreadable.
 */
export async function stopEndpoint(options: { dir: string }): Promise<void> {
  const files = endpointFiles(options.dir);
  const body = await readRecordFile(files.root);
  if (body !== undefined) await stopProcess(toProcessRecord(body), { graceMs: STOP_GRACE_MS });
  await rm(files.record, { force: true });
  const sockets = new Set([statsSocketPath(files.root), ...(body?.statsSocket ? [body.statsSocket] : [])]);
  for (const socket of sockets) await rm(socket, { force: true });
  await rm(serverStatePath(files.root), { force: true });
}

/** The stats socket of the running HAProxy in `dir`, or undefined when none runs. */
async function runningSocket(dir: string): Promise<string | undefined> {
  const body = await readRecordFile(dir);
  if (body === undefined || !isAlive(toProcessRecord(body))) return undefined;
  return body.statsSocket ?? statsSocketPath(dir);
}

/** One stats command, retried for a second: a reload replaces the socket, give it a moment. */
async function statsCommandRetried(socket: string, command: string): Promise<string> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await statsCommand(socket, command);
    } catch (error) {
      lastError = error;
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 200));
    }
  }
  throw lastError;
}

/**
 * The health of every server of the HAProxy in `dir`, from its stats socket; [] when it does not run.
 *
 * @throws HacpError UNAVAILABLE when it runs and its stats socket does not answer (mid-reload, say).
 */
export async function endpointServerStates(options: { dir: string }): Promise<EndpointServerState[]> {
  const socket = await runningSocket(options.dir);
  if (socket === undefined) return [];
  return parseServerStates(await statsCommandRetried(socket, 'show stat'));
}

/**
 * Marks the checked server `server` DOWN in every listener of the HAProxy in `dir` (`set server
 * <backend>/<server> health down`): it gets no new connections until its check passes `rise` times
 * again; established ones stay. For a replica whose processes start again, faster than the checks
 * would notice they had stopped. Unchecked servers (the instance mode) are left alone.
 *
 * @returns the listeners where it was marked; [] when HAProxy does not run or has no such server.
 * @throws HacpError UNAVAILABLE when the stats socket does not answer or HAProxy refuses the command.
 * @example
 * await markServerDown({ dir: '/var/lib/hacp/endpoints/local.kubernetes-master-ip', server: 'kubernetes-master' });
 */
export async function markServerDown(options: { dir: string; server: string }): Promise<string[]> {
  assertName('server', options.server);
  const socket = await runningSocket(options.dir);
  if (socket === undefined) return [];
  const states = parseServerStates(await statsCommandRetried(socket, 'show stat'));
  const marked: string[] = [];
  for (const state of states) {
    if (state.server !== options.server || state.status === 'no check') continue;
    const command = `set server ${BACKEND_PREFIX}${state.listener}/${state.server} health down`;
    const answer = (await statsCommandRetried(socket, command)).trim();
    if (answer !== '') {
      throw unavailable(`HAProxy refused ${JSON.stringify(command)}: ${answer}`, {
        details: { socket, server: options.server },
      });
    }
    marked.push(state.listener);
  }
  return marked;
}
