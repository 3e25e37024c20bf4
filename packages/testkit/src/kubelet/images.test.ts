import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { containerProcess, findImage, imageKey, readImageMap } from './images.js';
import type { ContainerSpec } from './manifests.js';

const container = (fields: Partial<ContainerSpec>): ContainerSpec => ({
  name: 'c',
  image: 'i',
  env: [],
  volumeMounts: [],
  ports: [],
  ...fields,
});

describe('imageKey and findImage', () => {
  it('match an image by its last path segment and tag, whatever the registry', () => {
    const map = {
      'kube-apiserver:v1.32.2': { command: ['/k/kube-apiserver'] },
      'haproxy:2.8-alpine': { command: ['/usr/sbin/haproxy'] },
    };
    expect(findImage(map, 'registry.k8s.io/kube-apiserver:v1.32.2')?.command).toEqual(['/k/kube-apiserver']);
    expect(findImage(map, 'mirror.example/k8s/kube-apiserver:v1.32.2')?.command).toEqual([
      '/k/kube-apiserver',
    ]);
    expect(findImage(map, 'docker.io/library/haproxy:2.8-alpine')?.command).toEqual(['/usr/sbin/haproxy']);
    expect(findImage(map, 'registry.k8s.io/kube-apiserver:v1.32.1')).toBeUndefined();
    expect(findImage(map, 'registry.k8s.io/kube-scheduler:v1.32.2')).toBeUndefined();
  });

  it('read a registry port as no tag, and no tag as :latest', () => {
    expect(imageKey('localhost:5000/etcd')).toBe('etcd:latest');
    expect(imageKey('etcd@sha256:abc')).toBe('etcd@sha256:abc');
    expect(findImage({ etcd: { command: ['/usr/bin/etcd'] } }, 'localhost:5000/etcd')).toBeDefined();
  });

  it('prefer a key that is the whole reference', () => {
    const map = {
      'etcd:3.5': { command: ['/a'] },
      'other.example/etcd:3.5': { command: ['/b'] },
    };
    expect(findImage(map, 'other.example/etcd:3.5')?.command).toEqual(['/b']);
    expect(findImage(map, 'registry.k8s.io/etcd:3.5')?.command).toEqual(['/a']);
  });
});

describe('containerProcess', () => {
  it('replaces the program of a container command, keeping its other words and the args', () => {
    expect(
      containerProcess(container({ command: ['etcd', '--name=a'], args: ['--x'] }), {
        command: ['node', '/m.js'],
      }),
    ).toEqual({ program: 'node', args: ['/m.js', '--name=a', '--x'], imageEnv: {} });
  });

  it('runs the entrypoint with the args when the container has no command', () => {
    const entry = {
      command: ['/bin/x'],
      entrypoint: ['/bin/sh', '/main.sh'],
      cmd: ['--default'],
      env: { A: '1' },
    };
    expect(containerProcess(container({}), entry)).toEqual({
      program: '/bin/sh',
      args: ['/main.sh', '--default'],
      imageEnv: { A: '1' },
    });
    expect(containerProcess(container({ args: ['--mine'] }), entry).args).toEqual(['/main.sh', '--mine']);
    expect(containerProcess(container({}), { command: ['/usr/sbin/haproxy'] }).program).toBe(
      '/usr/sbin/haproxy',
    );
  });
});

describe('readImageMap', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads a map, and says why one cannot be used', () => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-images-'));
    const file = join(dir, 'images.json');
    writeFileSync(file, JSON.stringify({ 'etcd:3.5': { command: ['/usr/bin/etcd'] } }));
    expect(readImageMap(file)).toEqual({ map: { 'etcd:3.5': { command: ['/usr/bin/etcd'] } } });
    writeFileSync(file, JSON.stringify({ 'etcd:3.5': { command: '/usr/bin/etcd' } }));
    expect(readImageMap(file)).toEqual({ problem: expect.stringMatching(/entry "etcd:3.5" needs command/) });
    writeFileSync(file, '{');
    expect(readImageMap(file)).toEqual({ problem: `the image map ${file} is not JSON` });
    expect(readImageMap(join(dir, 'none.json'))).toEqual({ problem: expect.stringMatching(/ENOENT/) });
  });
});
