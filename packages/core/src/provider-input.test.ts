import { describe, expect, it } from 'vitest';
import { ErrorCode, isHacpError } from './errors.js';
import {
  assertExpectedVersion,
  assertFirewallRule,
  assertHealthCheck,
  assertLockRequest,
  assertPort,
  assertRegionName,
  assertResourceName,
  assertStateKey,
  throwIfAborted,
} from './provider-input.js';

/** The code and field of what `call` throws. */
function refusal(call: () => void): { code: string; field: unknown } {
  try {
    call();
  } catch (error) {
    if (isHacpError(error)) return { code: error.code, field: error.details.field };
    throw error;
  }
  throw new Error('expected a HacpError');
}

describe('provider input rules', () => {
  it.each(['kubernetes-master', 'a', 'k8s-master-1f3', `a${'b'.repeat(62)}`])(
    'accepts the resource name %s',
    (name) => {
      expect(() => assertResourceName('name', name)).not.toThrow();
    },
  );

  it.each(['', 'Bad_Name', '1master', 'master-', `a${'b'.repeat(63)}`, 'a b', undefined])(
    'refuses the resource name %s naming the field',
    (name) => {
      expect(refusal(() => assertResourceName('address', name))).toEqual({
        code: ErrorCode.INVALID_ARGUMENT,
        field: 'address',
      });
    },
  );

  it('checks regions and ports', () => {
    expect(() => assertRegionName('europe-west1')).not.toThrow();
    expect(refusal(() => assertRegionName('Europe')).field).toBe('region');
    expect(() => assertPort('port', 6443)).not.toThrow();
    for (const port of [0, 65_536, 1.5, '6443'])
      expect(refusal(() => assertPort('port', port)).field).toBe('port');
  });

  it('checks state keys, versions and locks', () => {
    expect(() => assertStateKey('key', 'clusters/kubernetes/record')).not.toThrow();
    expect(() => assertStateKey('prefix', '', { allowEmpty: true })).not.toThrow();
    for (const key of ['', 'a\u0000b', 'x'.repeat(257), 7])
      expect(refusal(() => assertStateKey('key', key)).field).toBe('key');
    expect(() => assertExpectedVersion(0)).not.toThrow();
    for (const version of [-1, 1.5, '1']) {
      expect(refusal(() => assertExpectedVersion(version)).field).toBe('expectedVersion');
    }
    expect(() => assertLockRequest('cluster', 'hacp up', 30_000)).not.toThrow();
    expect(refusal(() => assertLockRequest('cluster', '', 30_000)).field).toBe('holder');
    expect(refusal(() => assertLockRequest('cluster', 'me', 0)).field).toBe('ttlMs');
    expect(refusal(() => assertLockRequest('cluster', 'me', 25 * 3600 * 1000)).field).toBe('ttlMs');
  });

  it('checks health checks', () => {
    expect(() =>
      assertHealthCheck({ protocol: 'https', port: 6443, path: '/readyz', intervalSeconds: 2 }),
    ).not.toThrow();
    expect(refusal(() => assertHealthCheck({ protocol: 'udp' as never, port: 1 })).field).toBe(
      'healthCheck.protocol',
    );
    expect(refusal(() => assertHealthCheck({ protocol: 'http', port: 80, path: '/a b' })).field).toBe(
      'healthCheck.path',
    );
    expect(refusal(() => assertHealthCheck({ protocol: 'tcp', port: 80, unhealthyThreshold: 0 })).field).toBe(
      'healthCheck.unhealthyThreshold',
    );
  });

  it('checks firewall rules, naming the bad port', () => {
    const rule = {
      name: 'kubernetes-etcd',
      cluster: 'kubernetes',
      protocol: 'tcp',
      ports: ['2379-2381', '6443'],
      from: 'replicas',
    } as const;
    expect(() => assertFirewallRule(rule)).not.toThrow();
    expect(refusal(() => assertFirewallRule({ ...rule, ports: ['6443', 'abc'] })).field).toBe('ports[1]');
    expect(refusal(() => assertFirewallRule({ ...rule, ports: ['2381-2379'] })).field).toBe('ports[0]');
    expect(refusal(() => assertFirewallRule({ ...rule, ports: [] })).field).toBe('ports');
    expect(refusal(() => assertFirewallRule({ ...rule, from: 'world' as never })).field).toBe('from');
  });

  it('throws ABORTED for an aborted signal only', () => {
    expect(() => throwIfAborted(undefined)).not.toThrow();
    expect(() => throwIfAborted(new AbortController().signal)).not.toThrow();
    expect(refusal(() => throwIfAborted(AbortSignal.abort())).code).toBe(ErrorCode.ABORTED);
  });
});
