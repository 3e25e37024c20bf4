import { ErrorCode, isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import {
  assertImageHasContainerRuntime,
  assertRegistryMirrors,
  pauseImage,
  renderContainerdConfig,
  renderRegistryHosts,
} from './containerd.js';
import { replicaNodeConfig } from './fixtures.test-support.js';
import { renderReplicaMetadata } from './metadata.js';

function refusal(run: () => unknown) {
  try {
    run();
  } catch (error) {
    if (!isHacpError(error)) throw error;
    return error;
  }
  throw new Error('expected a refusal');
}

describe('pauseImage', () => {
  it.each([
    ['1.20.15', '3.2'],
    ['1.23.16', '3.6'],
    ['v1.25.0', '3.8'],
    ['1.28.4', '3.9'],
    ['1.30.0', '3.9'],
    ['1.31.2', '3.10'],
    ['1.33.1', '3.10'],
    ['1.35.8', '3.10.1'],
    ['1.32.0-beta.0.0+cd13ec4ae44e', '3.10'],
  ])("is kubeadm's for %s: pause %s", (version, pause) => {
    expect(pauseImage(version)).toBe(`registry.k8s.io/pause:${pause}`);
  });
});

describe('renderContainerdConfig', () => {
  it('runs runc under the systemd cgroup driver with the version pause image and the mirrors folder', () => {
    const config = renderContainerdConfig('1.24.17');
    expect(config).toContain('version = 2\n');
    expect(config).toContain(
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n',
    );
    expect(config).toContain('sandbox_image = "registry.k8s.io/pause:3.7"\n');
    expect(config).toContain(
      '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n',
    );
  });
});

describe('renderRegistryHosts', () => {
  it('lists the mirrors in order, then falls back to the registry (Docker Hub by its API host)', () => {
    expect(renderRegistryHosts('docker.io', ['https://mirror.gcr.io', 'http://10.0.0.5:5000'])).toBe(
      '# Written by hacp.\nserver = "https://registry-1.docker.io"\n' +
        '\n[host."https://mirror.gcr.io"]\n  capabilities = ["pull", "resolve"]\n' +
        '\n[host."http://10.0.0.5:5000"]\n  capabilities = ["pull", "resolve"]\n',
    );
    expect(renderRegistryHosts('registry.k8s.io', ['https://m.example'])).toContain(
      'server = "https://registry.k8s.io"\n',
    );
  });
});

describe('assertRegistryMirrors', () => {
  it('takes URLs and host names, and gives every mirror as a URL', () => {
    expect(
      assertRegistryMirrors({
        'docker.io': ['mirror.gcr.io', 'https://hub.example.com/v2-proxy/'],
        'registry.k8s.io': ['http://10.1.2.3:5000'],
        'localhost:5000': ['https://cache.internal:8443'],
      }),
    ).toEqual({
      'docker.io': ['https://mirror.gcr.io', 'https://hub.example.com/v2-proxy'],
      'registry.k8s.io': ['http://10.1.2.3:5000'],
      'localhost:5000': ['https://cache.internal:8443'],
    });
    expect(assertRegistryMirrors({})).toEqual({});
  });

  it.each([
    [{ 'docker.io': ['ftp://mirror.example.com'] }, 'registryMirrors["docker.io"][0]'],
    [{ 'docker.io': ['https://mirror.gcr.io', 'not a host'] }, 'registryMirrors["docker.io"][1]'],
    [{ 'docker.io': ['https://user:secret@mirror.example.com'] }, 'registryMirrors["docker.io"][0]'],
    [{ 'docker.io': ['https://mirror.example.com/?x=1'] }, 'registryMirrors["docker.io"][0]'],
    [{ 'docker.io': ['https://mirror"x.example.com'] }, 'registryMirrors["docker.io"][0]'],
    [{ 'docker.io': [] }, 'registryMirrors["docker.io"]'],
    [{ 'docker.io': 'https://mirror.gcr.io' }, 'registryMirrors["docker.io"]'],
    [{ 'Docker Hub': ['https://mirror.gcr.io'] }, 'registryMirrors["Docker Hub"]'],
    [{ '../etc': ['https://mirror.gcr.io'] }, 'registryMirrors["../etc"]'],
    [['https://mirror.gcr.io'], 'registryMirrors'],
  ])('refuses %j with INVALID_ARGUMENT naming %s', (mirrors, field) => {
    const error = refusal(() => assertRegistryMirrors(mirrors));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.details.field).toBe(field);
    expect(error.message).toContain(field);
  });
});

describe('assertImageHasContainerRuntime', () => {
  it.each([
    'projects/cos-cloud/global/images/family/cos-stable',
    'projects/cos-cloud/global/images/family/cos-113-lts',
    'https://www.googleapis.com/compute/v1/projects/cos-cloud/global/images/cos-117-18613-75-37',
    'projects/ubuntu-os-gke-cloud/global/images/family/ubuntu-gke-2204-1-30-amd64',
    'projects/my-project/global/images/my-control-plane-image',
    'global/images/my-own-image',
  ])('accepts %s', (image) => {
    expect(() => assertImageHasContainerRuntime(image)).not.toThrow();
  });

  it.each([
    ['projects/debian-cloud/global/images/family/debian-12', 'Debian'],
    [
      'https://compute.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20240110',
      'Debian',
    ],
    ['projects/centos-cloud/global/images/family/centos-stream-9', 'CentOS'],
    ['projects/rocky-linux-cloud/global/images/family/rocky-linux-9', 'Rocky Linux'],
    ['projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts', "Ubuntu's plain images"],
    ['projects/ubuntu-os-cloud/global/images/family/ubuntu-minimal-2404-lts-amd64', "Ubuntu's plain images"],
    ['projects/my-project/global/images/debian-12-with-tools', 'Debian'],
    ['projects/windows-cloud/global/images/family/windows-2022', 'Windows'],
  ])('refuses %s (%s), naming it and what to use instead', (image, what) => {
    const error = refusal(() => assertImageHasContainerRuntime(image));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.details).toMatchObject({ field: 'image', value: image });
    expect(error.message).toContain(`Image ${image} (${what}) has no container runtime`);
    expect(error.actions.join('\n')).toContain('projects/cos-cloud/global/images/family/cos-stable');
    expect(error.actions.join('\n')).toContain('projects/ubuntu-os-gke-cloud');
  });
});

describe('the replica metadata', () => {
  const render = (registryMirrors?: Record<string, readonly string[]>) =>
    new Map(
      renderReplicaMetadata({
        cluster: 'prod',
        replica: 'prod-master',
        nodeConfig: replicaNodeConfig().nodeConfig,
        kubernetesVersion: '1.26.3',
        ...(registryMirrors === undefined ? {} : { registryMirrors }),
      }).map((item) => [item.key, item.value]),
    );

  it("carries containerd's configuration for the version, and kube-up's Docker Hub mirror by default", () => {
    const metadata = render();
    expect(metadata.get('hacp-containerd-config')).toBe(renderContainerdConfig('1.26.3'));
    expect(metadata.get('hacp-containerd-config')).toContain('registry.k8s.io/pause:3.9');
    expect(metadata.get('hacp-registry-hosts')).toBe(
      `docker.io ${Buffer.from(renderRegistryHosts('docker.io', ['https://mirror.gcr.io'])).toString('base64')}`,
    );
  });

  it('carries the mirrors given, one line a registry, and none for {}', () => {
    const lines = render({ 'docker.io': ['https://a.example'], 'registry.k8s.io': ['https://b.example'] })
      .get('hacp-registry-hosts')
      ?.split('\n');
    expect(lines?.map((line) => line.split(' ')[0])).toEqual(['docker.io', 'registry.k8s.io']);
    expect(render({}).get('hacp-registry-hosts')).toBe('');
  });
});
