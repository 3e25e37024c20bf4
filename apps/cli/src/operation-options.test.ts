import { describe, expect, it } from 'vitest';
import { exitCodeOf, isHacpError } from './errors.js';
import { kubernetesOptions, planRequest, upOptions } from './operation-options.js';

function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('kubernetesOptions', () => {
  it('runs Kubernetes by default, at the version the SDK picks', () => {
    expect(kubernetesOptions({}, {})).toEqual({ kubernetes: true });
  });

  it('takes --kubernetes-version, else HACP_KUBERNETES_VERSION', () => {
    expect(kubernetesOptions({ 'kubernetes-version': '1.23' }, { HACP_KUBERNETES_VERSION: '1.32' })).toEqual({
      kubernetes: true,
      kubernetesVersion: '1.23',
    });
    expect(kubernetesOptions({}, { HACP_KUBERNETES_VERSION: 'latest-1.32' })).toEqual({
      kubernetes: true,
      kubernetesVersion: 'latest-1.32',
    });
    expect(kubernetesOptions({ kubernetes: true }, { HACP_KUBERNETES_VERSION: 'stable-1.23' })).toEqual({
      kubernetes: true,
      kubernetesVersion: 'stable-1.23',
    });
  });

  it('takes --no-kubernetes, else HACP_KUBERNETES=false', () => {
    expect(kubernetesOptions({ kubernetes: false }, {})).toEqual({ kubernetes: false });
    expect(kubernetesOptions({}, { HACP_KUBERNETES: 'false' })).toEqual({ kubernetes: false });
    expect(kubernetesOptions({}, { HACP_KUBERNETES: 'true' })).toEqual({ kubernetes: true });
  });

  it('lets a flag win over both variables', () => {
    // The flag asks for a version: HACP_KUBERNETES=false (say, left in a shell) does not turn it off.
    expect(kubernetesOptions({ 'kubernetes-version': 'v1.23.16' }, { HACP_KUBERNETES: 'false' })).toEqual({
      kubernetes: true,
      kubernetesVersion: 'v1.23.16',
    });
    expect(kubernetesOptions({ kubernetes: false }, { HACP_KUBERNETES_VERSION: '1.23' })).toEqual({
      kubernetes: false,
    });
    // With its flag given, HACP_KUBERNETES is not read, so a malformed one does not matter.
    expect(kubernetesOptions({ kubernetes: true }, { HACP_KUBERNETES: 'maybe' })).toEqual({
      kubernetes: true,
    });
  });

  it('refuses --no-kubernetes with --kubernetes-version as INVALID_ARGUMENT, exit 2', () => {
    const error = thrown(() => kubernetesOptions({ kubernetes: false, 'kubernetes-version': '1.23' }, {}));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect(exitCodeOf(error)).toBe(2);
    expect((error as Error).message).toBe(
      '--no-kubernetes and --kubernetes-version 1.23 contradict each other: an etcd-only cluster runs no Kubernetes version.',
    );
    expect((error as { details: unknown }).details).toEqual({ field: 'kubernetes-version', value: '1.23' });
  });

  it('refuses the same pair as variables, and a malformed HACP_KUBERNETES', () => {
    const pair = thrown(() =>
      kubernetesOptions({}, { HACP_KUBERNETES: 'false', HACP_KUBERNETES_VERSION: 'v1.23.16' }),
    );
    expect(isHacpError(pair, 'INVALID_ARGUMENT')).toBe(true);
    const malformed = thrown(() => kubernetesOptions({}, { HACP_KUBERNETES: 'False' }));
    expect(isHacpError(malformed, 'INVALID_ARGUMENT')).toBe(true);
    expect((malformed as Error).message).toContain('HACP_KUBERNETES="False" is not a boolean');
  });
});

describe('upOptions and plan up', () => {
  it('carries the Kubernetes choice into up and plan up alike', () => {
    const flags = { zone: 'local-a', 'kubernetes-version': 'stable-1.23' };
    expect(upOptions(flags, {})).toEqual({
      zone: 'local-a',
      multizone: false,
      quorumReads: false,
      kubernetes: true,
      kubernetesVersion: 'stable-1.23',
    });
    expect(planRequest('up', flags, {})).toEqual({ operation: 'up', ...upOptions(flags, {}) });
  });

  it('refuses the Kubernetes flags for an operation other than up', () => {
    for (const flags of [{ 'kubernetes-version': '1.23' }, { kubernetes: false }]) {
      const error = thrown(() => planRequest('replicate', flags, {}));
      expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toMatch(
        /^--(no-)?kubernetes(-version)? does not apply to replicate\.$/,
      );
    }
  });
});
