/**
 * HAProxy's server-state file (format 1, as `show servers state` writes it), which a starting worker
 * applies before it serves. HAProxy 2.6 starts a checked server UP (before any check, and on every
 * reload); this file is how the endpoint starts every server DOWN instead, except those the running
 * worker has seen pass their checks at the same address.
 */

/** One server of a `show servers state` answer, the fields hacp reads. */
export interface ServerStateEntry {
  backend: string;
  server: string;
  address: string;
  port: number;
  /** The health check's port; absent in answers that do not have the column. */
  checkPort?: number;
  /** 0 stopped (DOWN), 1 starting, 2 running (UP), 3 stopping. */
  operationalState: number;
  /** HAProxy's own code of the last check's status, copied as it is. */
  checkStatus: number;
  /** 0 unknown (never checked, or not checked at all), 1 neutral, 2 failed, 3 passed, 4 conditionally passed. */
  checkResult: number;
}

/** A server as the new configuration has it. */
export interface ConfiguredServer {
  backend: string;
  server: string;
  address: string;
  port: number;
  checkPort: number;
}

const RUNNING = 2;
const STOPPED = 0;
const CHECK_PASSED = 3;
// HAProxy's HCHK_STATUS_INI. With 0 (unknown) instead, 2.6.12 never starts the server's checks: it
// stays DOWN with "* UNK" for good.
const CHECK_STATUS_INITIALIZING = 1;
// CHK_ST_CONFIGURED | CHK_ST_ENABLED: the check stays enabled.
const CHECK_ENABLED = 6;

/**
 * The servers of a `show servers state` answer; lines it cannot read are left out (their servers
 * then start DOWN, the safe side).
 *
 * @example
 * parseServersState('1\n# be_id be_name srv_id srv_name srv_addr srv_op_state ...\n3 be_apiserver 1 r1 127.77.12.6 2 ...\n');
 */
export function parseServersState(text: string): ServerStateEntry[] {
  const lines = text.split('\n');
  const header = lines.find((line) => line.startsWith('# '));
  if (lines[0]?.trim() !== '1' || header === undefined) return [];
  const columns = header.slice(2).trim().split(/\s+/);
  const entries: ServerStateEntry[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const values = line.trim().split(/\s+/);
    const field = (name: string) => values[columns.indexOf(name)];
    const number = (name: string) => {
      const value = field(name);
      return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
    };
    const [backend, server, address] = [field('be_name'), field('srv_name'), field('srv_addr')];
    const [port, operationalState] = [number('srv_port'), number('srv_op_state')];
    const [checkStatus, checkResult] = [number('srv_check_status'), number('srv_check_result')];
    if (
      backend === undefined ||
      server === undefined ||
      address === undefined ||
      port === undefined ||
      operationalState === undefined ||
      checkStatus === undefined ||
      checkResult === undefined
    ) {
      continue;
    }
    const checkPort = number('srv_check_port');
    entries.push({
      backend,
      server,
      address,
      port,
      ...(checkPort === undefined ? {} : { checkPort }),
      operationalState,
      checkStatus,
      checkResult,
    });
  }
  return entries;
}

/** Whether the running worker saw `server` pass its checks, at the address and ports it has now. */
function passedAsConfigured(
  server: ConfiguredServer,
  previous: readonly ServerStateEntry[],
): ServerStateEntry | undefined {
  const entry = previous.find(
    (candidate) => candidate.backend === server.backend && candidate.server === server.server,
  );
  if (entry === undefined) return undefined;
  const sameTarget =
    entry.address === server.address &&
    entry.port === server.port &&
    (entry.checkPort === undefined || entry.checkPort === server.checkPort);
  return sameTarget && entry.operationalState === RUNNING && entry.checkResult === CHECK_PASSED
    ? entry
    : undefined;
}

/**
 * The server-state file for a configuration: a server the running worker had UP on a passed check,
 * at the same address and ports, stays UP; every other server (new, down, going up, unchecked,
 * moved) starts DOWN and gets traffic only after `rise` passing checks. Each line is written from
 * the new configuration (address `-`, its own port), so nothing but the state carries over.
 *
 * @example
 * renderServerState([{ backend: 'be_apiserver', server: 'r1', address: '127.77.12.6', port: 6443, checkPort: 6443 }], []);
 * // '1\n# be_id be_name ...\n0 be_apiserver 0 r1 - 0 0 1 1 0 1 0 0 6 0 0 0 - 6443 -\n'
 */
export function renderServerState(
  servers: readonly ConfiguredServer[],
  previous: readonly ServerStateEntry[],
): string {
  const lines = [
    '1',
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord',
  ];
  for (const server of servers) {
    const passed = passedAsConfigured(server, previous);
    // For a global file HAProxy matches lines by backend and server name; the ids are not read.
    const state = passed
      ? [RUNNING, passed.checkStatus, CHECK_PASSED]
      : [STOPPED, CHECK_STATUS_INITIALIZING, 0];
    const [operationalState, checkStatus, checkResult] = state;
    lines.push(
      [
        0,
        server.backend,
        0,
        server.server,
        '-',
        operationalState,
        0,
        1,
        1,
        0,
        checkStatus,
        checkResult,
        0,
        CHECK_ENABLED,
        0,
        0,
        0,
        '-',
        server.port,
        '-',
      ].join(' '),
    );
  }
  return `${lines.join('\n')}\n`;
}
