import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, type HacpError, isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import {
  applyEndpoint,
  type EndpointConfig,
  endpointServerStates,
  markServerDown,
  parseServerStates,
  renderHaproxyConfig,
  serverStatePath,
  statsSocketPath,
} from './haproxy.js';

const SOCKET = '/var/lib/hacp/endpoint/stats.sock';

function listener(name: string, port: number, servers: EndpointConfig['listeners'][number]['servers']) {
  return { name, bindHost: '127.77.12.5', bindPort: port, servers };
}

const TWO_LISTENERS: EndpointConfig = {
  listeners: [
    listener('apiserver', 6443, [
      { name: 'r1', host: '127.77.12.6', port: 6443 },
      { name: 'r2', host: '127.77.12.7', port: 6443, checkPort: 8443 },
    ]),
    listener('etcd', 2379, [{ name: 'r1', host: '127.77.12.6', port: 2379 }]),
  ],
};

function lines(text: string): string[] {
  return text.split('\n').map((line) => line.trim());
}

/** The lines of one section (`frontend x`, `backend x`, `global`...), up to the next blank line. */
function section(text: string, header: string): string[] {
  const all = lines(text);
  const start = all.indexOf(header);
  expect(start, `section ${header}`).toBeGreaterThanOrEqual(0);
  const end = all.indexOf('', start);
  return all.slice(start + 1, end === -1 ? undefined : end);
}

function thrown(fn: () => unknown): HacpError {
  try {
    fn();
  } catch (error) {
    if (isHacpError(error)) return error;
    throw error;
  }
  throw new Error('expected a HacpError');
}

describe('renderHaproxyConfig', () => {
  it('writes the global and defaults sections', () => {
    const text = renderHaproxyConfig(TWO_LISTENERS, { statsSocket: SOCKET });
    expect(section(text, 'global')).toEqual([
      'master-worker',
      'noreuseport',
      `stats socket ${SOCKET} mode 600 level admin`,
      'hard-stop-after 10m',
    ]);
    expect(section(text, 'defaults')).toEqual([
      'mode tcp',
      'timeout connect 2s',
      'timeout client 1h',
      'timeout server 1h',
      'option redispatch',
      'retries 3',
    ]);
  });

  it('instance mode: one frontend and backend per listener, servers without checks', () => {
    const text = renderHaproxyConfig(TWO_LISTENERS, { statsSocket: SOCKET });
    expect(section(text, 'frontend fe_apiserver')).toEqual([
      'bind 127.77.12.5:6443',
      'default_backend be_apiserver',
    ]);
    expect(section(text, 'backend be_apiserver')).toEqual([
      'balance leastconn',
      'server r1 127.77.12.6:6443',
      'server r2 127.77.12.7:6443',
    ]);
    expect(section(text, 'frontend fe_etcd')).toEqual(['bind 127.77.12.5:2379', 'default_backend be_etcd']);
    expect(section(text, 'backend be_etcd')).toEqual(['balance leastconn', 'server r1 127.77.12.6:2379']);
    expect(text).not.toMatch(/check|httpchk/);
  });

  it('load-balancer mode with a tcp check: every server checked, defaults 2s/2/2', () => {
    const text = renderHaproxyConfig(
      { ...TWO_LISTENERS, healthCheck: { protocol: 'tcp', port: 6443 } },
      {
        statsSocket: SOCKET,
      },
    );
    expect(section(text, 'backend be_apiserver')).toEqual([
      'balance leastconn',
      'server r1 127.77.12.6:6443 check port 6443 inter 2s fall 2 rise 2',
      'server r2 127.77.12.7:6443 check port 8443 inter 2s fall 2 rise 2',
    ]);
    expect(section(text, 'backend be_etcd')).toEqual([
      'balance leastconn',
      'server r1 127.77.12.6:2379 check port 6443 inter 2s fall 2 rise 2',
    ]);
  });

  it('load-balancer mode with an http check: httpchk, expect 200, the given timings', () => {
    const text = renderHaproxyConfig(
      {
        listeners: [TWO_LISTENERS.listeners[0]!],
        healthCheck: {
          protocol: 'http',
          port: 8080,
          path: '/readyz?verbose',
          intervalSeconds: 5,
          timeoutSeconds: 3,
          healthyThreshold: 4,
          unhealthyThreshold: 1,
        },
      },
      { statsSocket: SOCKET },
    );
    expect(section(text, 'backend be_apiserver')).toEqual([
      'balance leastconn',
      'option httpchk GET /readyz?verbose',
      'http-check expect status 200',
      'timeout check 3s',
      'server r1 127.77.12.6:6443 check port 8080 inter 5s fall 1 rise 4',
      'server r2 127.77.12.7:6443 check port 8443 inter 5s fall 1 rise 4',
    ]);
  });

  it("load-balancer mode with an https check: check-ssl without verification, path '/' by default", () => {
    const text = renderHaproxyConfig(
      {
        listeners: [listener('apiserver', 6443, [{ name: 'r1', host: '127.77.12.6', port: 6443 }])],
        healthCheck: { protocol: 'https', port: 6443 },
      },
      { statsSocket: SOCKET },
    );
    expect(section(text, 'backend be_apiserver')).toEqual([
      'balance leastconn',
      'option httpchk GET /',
      'http-check expect status 200',
      'server r1 127.77.12.6:6443 check port 6443 inter 2s fall 2 rise 2 check-ssl verify none',
    ]);
  });

  it('load-balancer mode with a server-state file: the servers start as that file says', () => {
    const text = renderHaproxyConfig(
      { ...TWO_LISTENERS, healthCheck: { protocol: 'https', port: 6443, path: '/readyz' } },
      { statsSocket: SOCKET, serverStateFile: '/var/lib/hacp/endpoint/server-state' },
    );
    expect(section(text, 'global')).toContain('server-state-file /var/lib/hacp/endpoint/server-state');
    expect(section(text, 'defaults')).toContain('load-server-state-from-file global');
  });

  it('instance mode ignores the server-state file: an unchecked server loaded DOWN would never come up', () => {
    const text = renderHaproxyConfig(TWO_LISTENERS, {
      statsSocket: SOCKET,
      serverStateFile: '/var/lib/hacp/endpoint/server-state',
    });
    expect(text).not.toMatch(/server-state/);
  });

  it('refuses a server-state file path the config would interpret', () => {
    const error = thrown(() =>
      renderHaproxyConfig(
        { ...TWO_LISTENERS, healthCheck: { protocol: 'tcp', port: 6443 } },
        { statsSocket: SOCKET, serverStateFile: '/tmp/my state' },
      ),
    );
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.details).toMatchObject({ field: 'serverStateFile' });
  });

  it('a listener without servers gets an empty backend', () => {
    const text = renderHaproxyConfig({ listeners: [listener('etcd', 2379, [])] }, { statsSocket: SOCKET });
    expect(section(text, 'backend be_etcd')).toEqual(['balance leastconn']);
    expect(section(text, 'frontend fe_etcd')).toEqual(['bind 127.77.12.5:2379', 'default_backend be_etcd']);
  });

  it.each([
    [
      'a host with a newline',
      {
        listeners: [
          listener('etcd', 2379, [{ name: 'r1', host: '1.2.3.4\n  server evil 6.6.6.6:1', port: 2379 }]),
        ],
      },
      'listeners[0].servers[0].host',
    ],
    [
      'a host name',
      { listeners: [listener('etcd', 2379, [{ name: 'r1', host: 'localhost', port: 2379 }])] },
      'listeners[0].servers[0].host',
    ],
    [
      'an IPv4 with a leading zero',
      { listeners: [listener('etcd', 2379, [{ name: 'r1', host: '127.0.0.01', port: 2379 }])] },
      'listeners[0].servers[0].host',
    ],
    [
      'a bind host with a space',
      { listeners: [{ name: 'etcd', bindHost: '127.0.0.1 ssl', bindPort: 2379, servers: [] }] },
      'listeners[0].bindHost',
    ],
    ['port 0', { listeners: [listener('etcd', 0, [])] }, 'listeners[0].bindPort'],
    [
      'port 65536',
      { listeners: [listener('etcd', 2379, [{ name: 'r1', host: '127.0.0.2', port: 65_536 }])] },
      'listeners[0].servers[0].port',
    ],
    ['a fractional port', { listeners: [listener('etcd', 2379.5, [])] }, 'listeners[0].bindPort'],
    [
      'a check port out of range',
      { listeners: [listener('etcd', 2379, [{ name: 'r1', host: '127.0.0.2', port: 2379, checkPort: -1 }])] },
      'listeners[0].servers[0].checkPort',
    ],
    ['a listener name with a space', { listeners: [listener('etcd x', 2379, [])] }, 'listeners[0].name'],
    ['an empty listener name', { listeners: [listener('', 2379, [])] }, 'listeners[0].name'],
    [
      'a server name with a newline',
      { listeners: [listener('etcd', 2379, [{ name: 'r1\nbackend x', host: '127.0.0.2', port: 2379 }])] },
      'listeners[0].servers[0].name',
    ],
    [
      'a listener name used twice',
      { listeners: [listener('etcd', 2379, []), listener('etcd', 2380, [])] },
      'listeners[1].name',
    ],
    [
      'a server name used twice',
      {
        listeners: [
          listener('etcd', 2379, [
            { name: 'r1', host: '127.0.0.2', port: 1 },
            { name: 'r1', host: '127.0.0.3', port: 1 },
          ]),
        ],
      },
      'listeners[0].servers[1].name',
    ],
    [
      'an address bound twice',
      { listeners: [listener('etcd', 2379, []), listener('apiserver', 2379, [])] },
      'listeners[1].bindPort',
    ],
    [
      'a check path with a space',
      { listeners: [], healthCheck: { protocol: 'http', port: 1, path: '/x HTTP/1.1\r\nHost: y' } },
      'healthCheck.path',
    ],
    [
      'a check path with a comment',
      { listeners: [], healthCheck: { protocol: 'http', port: 1, path: '/#x' } },
      'healthCheck.path',
    ],
    [
      'a relative check path',
      { listeners: [], healthCheck: { protocol: 'http', port: 1, path: 'readyz' } },
      'healthCheck.path',
    ],
    [
      'an unknown protocol',
      { listeners: [], healthCheck: { protocol: 'udp' as 'tcp', port: 1 } },
      'healthCheck.protocol',
    ],
    [
      'a zero interval',
      { listeners: [], healthCheck: { protocol: 'tcp', port: 1, intervalSeconds: 0 } },
      'healthCheck.intervalSeconds',
    ],
    [
      'a fractional threshold',
      { listeners: [], healthCheck: { protocol: 'tcp', port: 1, healthyThreshold: 1.5 } },
      'healthCheck.healthyThreshold',
    ],
  ] satisfies [string, EndpointConfig, string][])(
    'refuses %s with INVALID_ARGUMENT naming the field',
    (_, config, field) => {
      const error = thrown(() => renderHaproxyConfig(config, { statsSocket: SOCKET }));
      expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(error.details).toMatchObject({ field });
    },
  );

  it.each([
    ['a relative path', 'stats.sock'],
    ['a space', '/tmp/my dir/stats.sock'],
    ['a quote', '/tmp/x"/stats.sock'],
    ['a newline', '/tmp/x\nglobal/stats.sock'],
    ['more than 97 bytes', `/${'x'.repeat(97)}`],
  ])('refuses a stats socket path with %s', (_, statsSocket) => {
    const error = thrown(() => renderHaproxyConfig(TWO_LISTENERS, { statsSocket }));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.details).toMatchObject({ field: 'statsSocket' });
  });
});

describe('statsSocketPath', () => {
  it('is inside the folder when the path is short', () => {
    expect(statsSocketPath('/var/lib/hacp/c1/endpoint')).toBe('/var/lib/hacp/c1/endpoint/stats.sock');
  });

  it('falls back to a stable path under the temporary folder for a long folder', () => {
    const dir = `/var/lib/hacp/${'d'.repeat(90)}/endpoint`;
    const path = statsSocketPath(dir);
    const digest = createHash('sha256').update(dir).digest('hex').slice(0, 16);
    expect(path).toBe(join(tmpdir(), `hacp-haproxy-${digest}.sock`));
    expect(statsSocketPath(dir)).toBe(path);
    expect(statsSocketPath(`${dir}2`)).not.toBe(path);
  });

  it('keeps a 97-byte path and moves a 98-byte one (the limit of HAProxy 2.6)', () => {
    const at97 = `/${'a'.repeat(85)}`; // + '/stats.sock' (11 bytes) = 97
    expect(statsSocketPath(at97)).toBe(`${at97}/stats.sock`);
    expect(statsSocketPath(`${at97}b`).startsWith(tmpdir())).toBe(true);
  });

  it('falls back for a folder whose name the config would interpret', () => {
    expect(statsSocketPath('/tmp/my endpoint').startsWith(`${tmpdir()}/hacp-haproxy-`)).toBe(true);
  });

  it('gives a path that renderHaproxyConfig accepts', () => {
    const path = statsSocketPath(`/var/lib/hacp/${'d'.repeat(200)}`);
    expect(renderHaproxyConfig(TWO_LISTENERS, { statsSocket: path })).toContain(
      `stats socket ${path} mode 600`,
    );
  });
});

// Captured from HAProxy 2.6.12 (`show stat` on the stats socket) with one server closing (UP 2/3),
// two never reachable, one disabled, a backend without checks and one without servers.
const SHOW_STAT = [
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,',
  'fe_apiserver,FRONTEND,,,0,0,9980,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,,,,,,,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,tcp,,0,0,0,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,',
  'be_apiserver,r1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,5,5,,1,3,1,,0,,2,0,,0,L4CON,,0,,,,,,,,,,,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,3,3,0,,,,127.98.1.2:6443,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'be_apiserver,r2,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 2/3,1,1,0,1,0,5,0,,1,3,2,,0,,2,0,,0,L4CON,,0,,,,,,,,,,,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,3,3,4,,,,127.98.1.3:6443,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'be_apiserver,r3,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,5,5,,1,3,3,,0,,2,0,,0,L4CON,,0,,,,,,,,,,,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,3,3,0,,,,127.98.1.4:6443,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'be_apiserver,r4,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,1,1,4,4,,1,3,4,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.98.1.5:6443,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'be_apiserver,BACKEND,0,0,0,0,998,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,5,0,,1,3,0,,0,,1,0,,0,,,,,,,,,,,,,,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,tcp,leastconn,,,,,,,0,0,0,,,,,0,0,0,0,0,,,,,1,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,18,18,308,96,0,0,',
  'fe_etcd,FRONTEND,,,0,0,9980,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,4,0,,,,0,0,0,0,,,,,,,,,,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,tcp,,0,0,0,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,',
  'be_etcd,r1,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,5,,,1,5,1,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.98.1.2:2379,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,',
  'be_etcd,BACKEND,0,0,0,0,998,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,5,0,,1,5,0,,0,,1,0,,0,,,,,,,,,,,,,,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,tcp,leastconn,,,,,,,0,0,0,,,,,0,0,0,0,0,,,,,1,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,',
  'fe_empty,FRONTEND,,,0,0,9980,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,6,0,,,,0,0,0,0,,,,,,,,,,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,tcp,,0,0,0,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,',
  'be_empty,BACKEND,0,0,0,0,998,0,0,0,0,0,,0,0,0,0,UP,0,0,0,,0,5,,,1,7,0,,0,,1,0,,0,,,,,,,,,,,,,,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,tcp,leastconn,,,,,,,0,0,0,,,,,0,0,0,0,0,,,,,0,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,',
].join('\n');

describe('parseServerStates', () => {
  it('returns one entry per server of each backend, as HAProxy reports it', () => {
    expect(parseServerStates(SHOW_STAT)).toEqual([
      { listener: 'apiserver', server: 'r1', status: 'DOWN', up: false },
      { listener: 'apiserver', server: 'r2', status: 'UP 2/3', up: true },
      { listener: 'apiserver', server: 'r3', status: 'DOWN', up: false },
      { listener: 'apiserver', server: 'r4', status: 'MAINT', up: false },
      { listener: 'etcd', server: 'r1', status: 'no check', up: true },
    ]);
  });

  it('reads a quoted field holding a comma, and marks DOWN 1/2 as not up', () => {
    const csv =
      '# pxname,svname,last_chk,status,\nbe_etcd,r1,"refused, again",DOWN 1/2,\nbe_etcd,r2,"say ""hi""",UP,\n';
    expect(parseServerStates(csv)).toEqual([
      { listener: 'etcd', server: 'r1', status: 'DOWN 1/2', up: false },
      { listener: 'etcd', server: 'r2', status: 'UP', up: true },
    ]);
  });

  it('does not count a server as up before its first check has run', () => {
    const csv =
      '# pxname,svname,status,check_status,\nbe_api,r1,UP,* INI,\nbe_api,r2,UP,L4OK,\nbe_api,r3,UP 1/3,INI,\n';
    expect(parseServerStates(csv)).toEqual([
      { listener: 'api', server: 'r1', status: 'UP', up: false },
      { listener: 'api', server: 'r2', status: 'UP', up: true },
      { listener: 'api', server: 'r3', status: 'UP 1/3', up: false },
    ]);
  });

  it('ignores proxies hacp did not write and answers without a header', () => {
    expect(parseServerStates('# pxname,svname,status,\nstats,FRONTEND,OPEN,\nother,s1,UP,\n')).toEqual([]);
    expect(parseServerStates('Unknown command.\n')).toEqual([]);
  });
});

describe('applyEndpoint without a process', () => {
  it('throws DEPENDENCY_MISSING naming the Debian package, before writing anything', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'hacp-haproxy-unit-'));
    try {
      const dir = join(parent, 'endpoint');
      const error = await applyEndpoint({
        binary: join(parent, 'no-such-haproxy'),
        dir,
        config: TWO_LISTENERS,
      }).catch((caught: unknown) => caught);
      expect(isHacpError(error, ErrorCode.DEPENDENCY_MISSING)).toBe(true);
      expect((error as HacpError).details).toMatchObject({ program: 'haproxy', debianPackage: 'haproxy' });
      await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('throws INVALID_ARGUMENT for a bad config before creating the folder', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'hacp-haproxy-unit-'));
    try {
      const dir = join(parent, 'endpoint');
      const error = await applyEndpoint({
        binary: '/bin/true',
        dir,
        config: {
          listeners: [listener('etcd', 2379, [{ name: 'r1', host: '1.2.3.4\n  server evil', port: 1 }])],
        },
      }).catch((caught: unknown) => caught);
      expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
      await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('throws ABORTED when the signal is already aborted', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'hacp-haproxy-unit-'));
    try {
      const error = await applyEndpoint({
        binary: '/bin/true',
        dir: join(parent, 'endpoint'),
        config: TWO_LISTENERS,
        signal: AbortSignal.abort(),
      }).catch((caught: unknown) => caught);
      expect(isHacpError(error, ErrorCode.ABORTED)).toBe(true);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});

describe('serverStatePath', () => {
  it('is inside the folder, or under the temporary folder for a name the config would interpret', () => {
    expect(serverStatePath('/var/lib/hacp/c1/endpoint')).toBe('/var/lib/hacp/c1/endpoint/server-state');
    const fallback = serverStatePath('/tmp/my endpoint');
    const digest = createHash('sha256').update('/tmp/my endpoint').digest('hex').slice(0, 16);
    expect(fallback).toBe(join(tmpdir(), `hacp-haproxy-${digest}.state`));
  });
});

describe('endpointServerStates and markServerDown without a process', () => {
  it('return [] for a folder where nothing was started', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'hacp-haproxy-unit-'));
    try {
      await expect(endpointServerStates({ dir: parent })).resolves.toEqual([]);
      await expect(markServerDown({ dir: parent, server: 'r1' })).resolves.toEqual([]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('markServerDown refuses a server name it would have to quote', async () => {
    const error = await markServerDown({ dir: '/nonexistent', server: 'r1 health up;' }).catch(
      (caught: unknown) => caught,
    );
    expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
  });
});
