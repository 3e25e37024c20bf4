import { ErrorCode, isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import { apiserverProcess, etcdProcess, INTERNAL_IP } from './fixtures.test-support.js';
import { healthTarget, renderHealthEndpointConfig } from './health-endpoint.js';

describe('healthTarget', () => {
  it("checks kube-apiserver's /readyz over https where it runs, else etcd's /health over http", () => {
    expect(healthTarget({ files: [], processes: [etcdProcess(), apiserverProcess()] })).toEqual({
      process: 'kube-apiserver',
      scheme: 'https',
      host: INTERNAL_IP,
      port: 6443,
      path: '/readyz',
    });
    expect(healthTarget({ files: [], processes: [etcdProcess()] })).toEqual({
      process: 'etcd',
      scheme: 'http',
      host: INTERNAL_IP,
      port: 2381,
      path: '/health',
    });
  });

  it('finds kube-apiserver and etcd by process name, as the static pods do, not by command', () => {
    const byPath = { ...apiserverProcess(), command: '/usr/local/bin/kube-apiserver' };
    expect(healthTarget({ files: [], processes: [etcdProcess(), byPath] }).process).toBe('kube-apiserver');
    const renamed = { ...apiserverProcess(), name: 'api' };
    expect(healthTarget({ files: [], processes: [etcdProcess(), renamed] }).process).toBe('etcd');
  });

  it('checks loopback when kube-apiserver binds every address or has no --bind-address', () => {
    const args = apiserverProcess().args.filter((arg) => !arg.startsWith('--bind-address'));
    const process = { ...apiserverProcess(), args };
    expect(healthTarget({ files: [], processes: [process] }).host).toBe('127.0.0.1');
    const wildcard = { ...apiserverProcess(), args: [...args, '--bind-address', '0.0.0.0'] };
    expect(healthTarget({ files: [], processes: [wildcard] }).host).toBe('127.0.0.1');
  });
});

describe('renderHealthEndpointConfig', () => {
  it('binds every address on 8081 by default and answers /healthz from the one backend', () => {
    const config = renderHealthEndpointConfig({ files: [], processes: [etcdProcess(), apiserverProcess()] });
    expect(config).toContain('  bind *:8081\n');
    expect(config).toContain('  monitor-uri /healthz\n');
    expect(config).toContain('  monitor fail if { nbsrv(replica) lt 1 }\n');
    expect(config).toContain('  option httpchk GET /readyz\n');
    expect(config).toContain(
      `  server kube-apiserver ${INTERNAL_IP}:6443 check check-ssl verify none inter 1s`,
    );
  });

  it('refuses a bind that is neither * nor IPv4, and a port out of range', () => {
    const nodeConfig = { files: [], processes: [etcdProcess()] };
    for (const bind of [{ address: 'localhost' }, { address: '::1' }, { port: 0 }, { port: 70_000 }]) {
      let error: unknown;
      try {
        renderHealthEndpointConfig(nodeConfig, bind);
      } catch (caught) {
        error = caught;
      }
      expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT), JSON.stringify(bind)).toBe(true);
    }
  });
});
