import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isManifestFile, parsePodManifest, readManifestFolder } from './manifests.js';

// hacp's health pod as provider-gce renders it (static-pods.ts).
const HEALTH_POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'hacp-health', namespace: 'kube-system', labels: { component: 'hacp-health' } },
  spec: {
    hostNetwork: true,
    priorityClassName: 'system-node-critical',
    priority: 2_000_001_000,
    containers: [
      {
        name: 'haproxy',
        image: 'docker.io/library/haproxy:2.8-alpine',
        imagePullPolicy: 'IfNotPresent',
        command: ['haproxy', '-db', '-f', '/mnt/disks/master-pd/health/haproxy.cfg'],
        resources: { requests: { cpu: '10m', memory: '16Mi' } },
        securityContext: { runAsUser: 0, runAsGroup: 0, allowPrivilegeEscalation: false },
        volumeMounts: [{ name: 'health-config', mountPath: '/mnt/disks/master-pd/health', readOnly: true }],
        livenessProbe: {
          httpGet: { host: '127.0.0.1', port: 8081, path: '/healthz', scheme: 'HTTP' },
          initialDelaySeconds: 10,
          periodSeconds: 10,
          timeoutSeconds: 15,
          failureThreshold: 8,
        },
      },
    ],
    volumes: [
      { name: 'health-config', hostPath: { path: '/mnt/disks/master-pd/health', type: 'DirectoryOrCreate' } },
    ],
  },
};

describe('parsePodManifest', () => {
  it('reads hacp’s health pod with the kubelet’s defaults', () => {
    const result = parsePodManifest(JSON.stringify(HEALTH_POD));
    if (!('pod' in result)) throw new Error(result.problem);
    expect(result.pod).toMatchObject({
      name: 'hacp-health',
      namespace: 'kube-system',
      hostNetwork: true,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      volumes: [
        {
          name: 'health-config',
          kind: 'hostPath',
          path: '/mnt/disks/master-pd/health',
          type: 'DirectoryOrCreate',
        },
      ],
    });
    expect(result.pod.containers[0]?.livenessProbe).toEqual({
      handler: {
        kind: 'httpGet',
        host: '127.0.0.1',
        port: 8081,
        path: '/healthz',
        scheme: 'HTTP',
        headers: [],
      },
      initialDelaySeconds: 10,
      periodSeconds: 10,
      timeoutSeconds: 15,
      failureThreshold: 8,
      successThreshold: 1,
    });
  });

  it('says why a manifest cannot run, naming the field', () => {
    const withContainer = (container: object) =>
      JSON.stringify({
        ...HEALTH_POD,
        spec: { ...HEALTH_POD.spec, containers: [{ ...HEALTH_POD.spec.containers[0], ...container }] },
      });
    expect(parsePodManifest('kind: Pod\n')).toEqual({
      problem: expect.stringMatching(/^the manifest is not JSON/),
    });
    expect(parsePodManifest('{"kind":"Service","apiVersion":"v1"}')).toEqual({
      problem: 'the manifest is not a v1 Pod',
    });
    expect(
      parsePodManifest(withContainer({ env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: {} } }] })),
    ).toEqual({
      problem:
        'spec.containers[0].env[0] (TOKEN) uses valueFrom, which the kubelet stand-in does not support',
    });
    expect(parsePodManifest(withContainer({ volumeMounts: [{ name: 'other', mountPath: '/x' }] }))).toEqual({
      problem: 'spec.containers[0] mounts volume other, which spec.volumes does not have',
    });
    expect(
      parsePodManifest(withContainer({ livenessProbe: { tcpSocket: { port: 1 }, successThreshold: 2 } })),
    ).toEqual({ problem: 'spec.containers[0].livenessProbe.successThreshold must be 1' });
  });
});

describe('the manifest folder', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('skips hidden files (the startup script’s temporary ones) and other extensions', () => {
    expect(isManifestFile('hacp-etcd.json')).toBe(true);
    expect(isManifestFile('pod.yml')).toBe(true);
    expect(isManifestFile('.hacp-etcd.json.hacp.Ab12Cd')).toBe(false);
    expect(isManifestFile('hacp-etcd.json.bak')).toBe(false);
  });

  it('reads every manifest with its hash, and a problem for one it cannot run', () => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-manifests-'));
    writeFileSync(join(dir, 'hacp-health.json'), JSON.stringify(HEALTH_POD));
    writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: v1\n');
    writeFileSync(join(dir, '.hacp-health.json.hacp.XXXX'), '{');
    mkdirSync(join(dir, 'folder.json'));
    const manifests = readManifestFolder(dir);
    expect(manifests?.map((m) => [m.file, 'pod' in m ? m.pod.name : m.problem])).toEqual([
      ['broken.yaml', expect.stringMatching(/not JSON/)],
      ['hacp-health.json', 'hacp-health'],
    ]);
    expect(manifests?.[1]?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(readManifestFolder(join(dir, 'missing'))).toBeUndefined();
  });
});
