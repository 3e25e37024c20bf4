import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PodSpec, VolumeSpec } from './manifests.js';
import { containerMounts, type PathMount, pathMapper, prepareMount } from './paths.js';

const hostPath = (path: string, type: 'DirectoryOrCreate' | 'Directory' | '' = ''): VolumeSpec => ({
  name: 'v',
  kind: 'hostPath',
  path,
  type,
});
const mount = (containerPath: string, host: string): PathMount => ({
  containerPath,
  hostPath: host,
  volume: hostPath(containerPath),
});

describe('pathMapper', () => {
  const map = pathMapper([
    mount('/mnt/disks/master-pd', '/vm/mnt/disks/master-pd'),
    mount('/mnt/disks/master-pd/health', '/vm/health'),
  ]);

  it('maps paths in flags, lists and plain values', () => {
    expect(map('/mnt/disks/master-pd')).toBe('/vm/mnt/disks/master-pd');
    expect(map('--data-dir=/mnt/disks/master-pd/etcd')).toBe('--data-dir=/vm/mnt/disks/master-pd/etcd');
    expect(map('--a=/mnt/disks/master-pd/a,/mnt/disks/master-pd/b:/mnt/disks/master-pd/c')).toBe(
      '--a=/vm/mnt/disks/master-pd/a,/vm/mnt/disks/master-pd/b:/vm/mnt/disks/master-pd/c',
    );
    expect(map('--kubeconfig /mnt/disks/master-pd/k --v=2')).toBe(
      '--kubeconfig /vm/mnt/disks/master-pd/k --v=2',
    );
  });

  it('maps whole path segments only, the longest mount first', () => {
    expect(map('/mnt/disks/master-pd-2/x')).toBe('/mnt/disks/master-pd-2/x');
    expect(map('/mnt/disks/master-pd/health/haproxy.cfg')).toBe('/vm/health/haproxy.cfg');
    expect(map('/mnt/disks/master-pd/healthy')).toBe('/vm/mnt/disks/master-pd/healthy');
    expect(map('/usr/bin/etcd')).toBe('/usr/bin/etcd');
    expect(map('x/mnt/disks/master-pd')).toBe('x/mnt/disks/master-pd');
  });

  it('does not map a value twice', () => {
    const nested = pathMapper([mount('/a', '/a/a')]);
    expect(nested('/a/b')).toBe('/a/a/b');
  });
});

describe('containerMounts', () => {
  it('puts each mount under the VM root, with its subPath, longest first', () => {
    const pod: PodSpec = {
      name: 'p',
      namespace: 'kube-system',
      hostNetwork: true,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      volumes: [
        { name: 'root', kind: 'hostPath', path: '/mnt/disks/master-pd', type: 'DirectoryOrCreate' },
        { name: 'scratch', kind: 'emptyDir' },
      ],
      containers: [],
    };
    const mounts = containerMounts({
      vmRoot: '/vm',
      pod,
      container: {
        name: 'c',
        image: 'i',
        env: [],
        ports: [],
        volumeMounts: [
          { name: 'root', mountPath: '/data', readOnly: false },
          { name: 'root', mountPath: '/data/etc/x', subPath: 'etc', readOnly: true },
          { name: 'scratch', mountPath: '/tmp', readOnly: false },
        ],
      },
    });
    expect(mounts.map((m) => [m.containerPath, m.hostPath])).toEqual([
      ['/data/etc/x', '/vm/mnt/disks/master-pd/etc'],
      ['/data', '/vm/mnt/disks/master-pd'],
      ['/tmp', '/vm/var/lib/kubelet/pods/p/volumes/kubernetes.io~empty-dir/scratch'],
    ]);
  });
});

describe('prepareMount', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates a DirectoryOrCreate folder with mode 0755, and checks a Directory', () => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-mounts-'));
    const created = join(dir, 'mnt/disks/master-pd');
    expect(
      prepareMount({ containerPath: '/x', hostPath: created, volume: hostPath('/x', 'DirectoryOrCreate') }),
    ).toBe(undefined);
    expect(statSync(created).mode & 0o777).toBe(0o755);
    const missing = join(dir, 'missing');
    expect(
      prepareMount({ containerPath: '/x', hostPath: missing, volume: hostPath('/x', 'Directory') }),
    ).toBe(`hostPath type check failed: ${missing} is not a directory`);
    const file = join(dir, 'file');
    writeFileSync(file, '');
    expect(
      prepareMount({ containerPath: '/x', hostPath: file, volume: hostPath('/x', 'DirectoryOrCreate') }),
    ).toMatch(/is not a directory/);
  });
});
