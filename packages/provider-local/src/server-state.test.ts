import { describe, expect, it } from 'vitest';
import {
  type ConfiguredServer,
  parseServersState,
  renderServerState,
  type ServerStateEntry,
} from './server-state.js';

// `show servers state` of HAProxy 2.6.12: r1 up on a passed https check, r2 down, r3 unchecked.
const SHOWN = [
  '1',
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port',
  '3 be_apiserver 1 r1 127.77.12.6 2 0 1 1 6 15 3 3 6 0 0 0 - 6443 - 0 6443 - - 6443',
  '3 be_apiserver 2 r2 127.77.12.7 0 0 1 1 5 17 2 0 6 0 0 0 - 6443 - 0 6443 - - 6443',
  '4 be_etcd 1 r3 127.77.12.8 2 0 1 1 9 0 0 0 0 0 0 0 - 2379 - 0 0 - - 0',
  '',
].join('\n');

const server = (name: string, host: string, port = 6443, checkPort = 6443): ConfiguredServer => ({
  backend: 'be_apiserver',
  server: name,
  address: host,
  port,
  checkPort,
});

/** The state a rendered file gives each server: its srv_op_state, by name. */
function states(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line !== '' && line !== '1' && !line.startsWith('#'))
      .map((line) => line.split(' '))
      .map((fields) => [`${fields[1]}/${fields[3]}`, fields[5] as string]),
  );
}

describe('parseServersState', () => {
  it('reads each server by its column names', () => {
    expect(parseServersState(SHOWN)).toEqual<ServerStateEntry[]>([
      {
        backend: 'be_apiserver',
        server: 'r1',
        address: '127.77.12.6',
        port: 6443,
        checkPort: 6443,
        operationalState: 2,
        checkStatus: 15,
        checkResult: 3,
      },
      {
        backend: 'be_apiserver',
        server: 'r2',
        address: '127.77.12.7',
        port: 6443,
        checkPort: 6443,
        operationalState: 0,
        checkStatus: 17,
        checkResult: 2,
      },
      {
        backend: 'be_etcd',
        server: 'r3',
        address: '127.77.12.8',
        port: 2379,
        checkPort: 0,
        operationalState: 2,
        checkStatus: 0,
        checkResult: 0,
      },
    ]);
  });

  it('reads nothing from another format, an error answer or a short line', () => {
    expect(parseServersState(SHOWN.replace(/^1\n/, '2\n'))).toEqual([]);
    expect(parseServersState('Unknown command.\n')).toEqual([]);
    expect(parseServersState('')).toEqual([]);
    const [version, header] = SHOWN.split('\n');
    expect(parseServersState(`${version}\n${header}\n3 be_apiserver 1 r1 127.77.12.6 2\n`)).toEqual([]);
  });
});

describe('renderServerState', () => {
  it('starts every server DOWN when nothing ran before, each line from the new configuration', () => {
    const text = renderServerState([server('r1', '127.77.12.6'), server('r2', '127.77.12.7', 7443)], []);
    expect(text.split('\n')).toEqual([
      '1',
      expect.stringMatching(/^# be_id be_name srv_id srv_name srv_addr srv_op_state .* srv_port srvrecord$/),
      '0 be_apiserver 0 r1 - 0 0 1 1 0 1 0 0 6 0 0 0 - 6443 -',
      '0 be_apiserver 0 r2 - 0 0 1 1 0 1 0 0 6 0 0 0 - 7443 -',
      '',
    ]);
  });

  it('keeps UP only a server that passed its check at the same address and ports', () => {
    const previous = parseServersState(SHOWN);
    const text = renderServerState(
      [
        server('r1', '127.77.12.6'),
        server('r2', '127.77.12.7'),
        { backend: 'be_etcd', server: 'r3', address: '127.77.12.8', port: 2379, checkPort: 6443 },
        server('r4', '127.77.12.9'),
      ],
      previous,
    );
    expect(states(text)).toEqual({
      'be_apiserver/r1': '2',
      'be_apiserver/r2': '0',
      // Up without a check (instance mode): nothing says it is ready.
      'be_etcd/r3': '0',
      'be_apiserver/r4': '0',
    });
    expect(text).toContain('0 be_apiserver 0 r1 - 2 0 1 1 0 15 3 0 6 0 0 0 - 6443 -');
  });

  it.each([
    ['another address', server('r1', '127.77.12.99')],
    ['another port', server('r1', '127.77.12.6', 7443)],
    ['another check port', server('r1', '127.77.12.6', 6443, 2381)],
    ['another backend', { ...server('r1', '127.77.12.6'), backend: 'be_etcd' }],
  ])('starts a server DOWN at %s than the one that passed', (_, moved) => {
    expect(Object.values(states(renderServerState([moved], parseServersState(SHOWN))))).toEqual(['0']);
  });
});
