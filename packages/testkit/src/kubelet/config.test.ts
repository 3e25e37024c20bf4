import { describe, expect, it } from 'vitest';
import { kubeletEnvironment, parseGoDuration, parseKubeletConfig } from './config.js';

// The shape provider-gce's startup script writes: top-level scalars and nested mappings.
const STARTUP_SCRIPT_CONFIG = `# Written by hacp.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: /tmp/vm-1/etc/kubernetes/manifests
authentication:
  anonymous:
    enabled: false
readOnlyPort: 0
`;

describe('parseKubeletConfig', () => {
  it('reads staticPodPath from the startup script’s configuration', () => {
    expect(parseKubeletConfig(STARTUP_SCRIPT_CONFIG)).toEqual({
      staticPodPath: '/tmp/vm-1/etc/kubernetes/manifests',
    });
  });

  it('reads fileCheckFrequency as a Go duration, quotes and comments aside', () => {
    expect(
      parseKubeletConfig(
        'staticPodPath: "/etc/kubernetes/manifests" # the folder\nfileCheckFrequency: 1m30s\n',
      ),
    ).toEqual({ staticPodPath: '/etc/kubernetes/manifests', fileCheckFrequencyMs: 90_000 });
  });

  it('reads a JSON configuration', () => {
    expect(
      parseKubeletConfig('{"kind":"KubeletConfiguration","staticPodPath":"/m","fileCheckFrequency":"500ms"}'),
    ).toEqual({
      staticPodPath: '/m',
      fileCheckFrequencyMs: 500,
    });
  });

  it('refuses a configuration without staticPodPath, or an indented one', () => {
    expect(() =>
      parseKubeletConfig('kind: KubeletConfiguration\nnested:\n  staticPodPath: /m\n', 'k.yaml'),
    ).toThrow(/k\.yaml has no staticPodPath/);
    expect(() => parseKubeletConfig('staticPodPath: manifests\n')).toThrow(/no staticPodPath/);
  });

  it('refuses a fileCheckFrequency that is not a duration', () => {
    expect(() => parseKubeletConfig('staticPodPath: /m\nfileCheckFrequency: soon\n')).toThrow(
      /not a duration/,
    );
  });
});

describe('parseGoDuration', () => {
  it('reads Go durations and nothing else', () => {
    expect(parseGoDuration('20s')).toBe(20_000);
    expect(parseGoDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('20')).toBeUndefined();
    expect(parseGoDuration('s')).toBeUndefined();
  });
});

describe('kubeletEnvironment', () => {
  it('reads the HACP_* variables, empty ones as unset', () => {
    expect(
      kubeletEnvironment({
        HACP_VM_ROOT: '/tmp/vm',
        HACP_VM_IMAGES: '/tmp/images.json',
        HACP_VM_IP: '',
        HACP_KUBELET_SYNC_MS: '200',
        HACP_KUBELET_BACKOFF_MS: '500',
      }),
    ).toEqual({ vmRoot: '/tmp/vm', imagesFile: '/tmp/images.json', syncMs: 200, backoffMs: 500 });
  });

  it('refuses a number of milliseconds that is not a positive whole number', () => {
    expect(() => kubeletEnvironment({ HACP_KUBELET_SYNC_MS: '0.5' })).toThrow(/HACP_KUBELET_SYNC_MS must be/);
  });
});
