import { randomInt } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerStatus, KubeletStatus } from './kubelet/status.js';
import { KUBELET_STAND_IN_CLI } from './kubelet-stand-in.js';
import { freePort } from './ports.js';
import { isAlive, type SpawnedProcess, spawnTracked } from './processes.js';

const ROOT = '/mnt/disks/master-pd';
/** Generous: two busy cores. The stand-in reads manifests every 200 ms and backs off from 500 ms. */
const WAIT_MS = 90_000;
const TEST_MS = 180_000;

const IMAGES = {
  'etcd:3.5.16-0': { command: ['/usr/bin/etcd'] },
  'haproxy:2.8-alpine': { command: ['/usr/sbin/haproxy'] },
  'shell:1': { command: ['/bin/sh'] },
  'sleeper:1': { command: ['/bin/sleep'] },
};

interface StandIn {
  vmRoot: string;
  manifestsDir: string;
  process: SpawnedProcess;
  status(): KubeletStatus | undefined;
  container(pod: string, container?: string): ContainerStatus | undefined;
  kubeletLog(): string;
  writeManifest(file: string, pod: object): void;
  /** Adds an image to the map, which the stand-in reads at every start. */
  addImage(key: string, entry: object): void;
}

const started: StandIn[] = [];

function startStandIn(options: { nodeIp?: string } = {}): StandIn {
  const vmRoot = mkdtempSync(join(tmpdir(), 'hacp-kubelet-vm-'));
  const manifestsDir = join(vmRoot, 'etc/kubernetes/manifests');
  mkdirSync(manifestsDir, { recursive: true });
  const config = join(vmRoot, 'etc/kubernetes/kubelet-config.yaml');
  // As provider-gce's startup script writes it, with its overrides.
  writeFileSync(
    config,
    `# Written by hacp.\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPath: ${manifestsDir}\nauthentication:\n  anonymous:\n    enabled: false\n`,
  );
  const images = join(vmRoot, 'images.json');
  const imageMap: Record<string, object> = { ...IMAGES };
  writeFileSync(images, JSON.stringify(imageMap));
  const logFile = join(vmRoot, 'kubelet.log');
  const process = spawnTracked({
    command: globalThis.process.execPath,
    args: [KUBELET_STAND_IN_CLI, `--config=${config}`, '--v=2', '--container-runtime-endpoint=unix:///none'],
    logFile,
    marker: config,
    env: {
      HACP_VM_ROOT: vmRoot,
      HACP_VM_IMAGES: images,
      HACP_KUBELET_SYNC_MS: '200',
      HACP_KUBELET_BACKOFF_MS: '500',
      ...(options.nodeIp === undefined ? {} : { HACP_VM_IP: options.nodeIp }),
    },
  });
  const statusFile = join(vmRoot, 'var/lib/kubelet/hacp-pods.json');
  const status = () =>
    existsSync(statusFile) ? (JSON.parse(readFileSync(statusFile, 'utf8')) as KubeletStatus) : undefined;
  const standIn: StandIn = {
    vmRoot,
    manifestsDir,
    process,
    status,
    container: (pod, container) =>
      status()
        ?.pods.find((candidate) => candidate.name === pod)
        ?.containers.find((candidate) => container === undefined || candidate.name === container),
    kubeletLog: () => readFileSync(logFile, 'utf8'),
    addImage: (key, entry) => {
      imageMap[key] = entry;
      writeFileSync(`${images}.tmp`, JSON.stringify(imageMap));
      renameSync(`${images}.tmp`, images);
    },
    writeManifest: (file, pod) => {
      // As the startup script does: a hidden temporary file, renamed.
      const temporary = join(manifestsDir, `.${file}.hacp.tmp`);
      writeFileSync(temporary, JSON.stringify(pod));
      renameSync(temporary, join(manifestsDir, file));
    },
  };
  started.push(standIn);
  return standIn;
}

afterEach(async () => {
  for (const standIn of started.splice(0)) {
    // Containers of a stand-in that did not stop them: by pid, as recorded in its status.
    const pids = (standIn.status()?.pods ?? []).flatMap((pod) => pod.containers.map((c) => c.pid ?? 0));
    await standIn.process.stop({ graceMs: 40_000 });
    for (const pid of pids.filter((p) => p > 0 && isAlive(p))) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(standIn.vmRoot, { recursive: true, force: true });
  }
});

async function waitFor<T>(description: string, check: () => T | undefined | false): Promise<T> {
  return waitUntil({
    description,
    timeoutMs: WAIT_MS,
    minDelayMs: 50,
    maxDelayMs: 200,
    check: async () => {
      const value = check();
      return value === undefined || value === false
        ? { done: false, reason: 'not yet' }
        : { done: true, value };
    },
  });
}

function pod(name: string, container: object, spec: object = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'kube-system' },
    spec: { hostNetwork: true, containers: [{ name, ...container }], ...spec },
  };
}

const rootVolume = { name: 'replica-root', hostPath: { path: ROOT, type: 'DirectoryOrCreate' } };
const rootMount = { name: 'replica-root', mountPath: ROOT };

/** The process's command line, or undefined once it is gone. */
function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** Pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A random 127.x.y.z address (every 127/8 address is local on Linux), away from 127.0.x.y. */
function randomLoopbackIp(): string {
  return `127.${randomInt(200, 250)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

describe('the kubelet stand-in CLI', () => {
  it(
    'runs real etcd from a static pod: data under the hostPath volume, probes on the node IP, running and ready',
    async () => {
      const ip = randomLoopbackIp();
      const [client, peer, metrics] = [await freePort(ip), await freePort(ip), await freePort(ip)];
      const standIn = startStandIn({ nodeIp: ip });
      // kubeadm's shape with short periods; no probe host, so the probes go to HACP_VM_IP.
      const health = {
        httpGet: { port: metrics, path: '/health', scheme: 'HTTP' },
        periodSeconds: 1,
        timeoutSeconds: 5,
      };
      standIn.writeManifest(
        'hacp-etcd.json',
        pod(
          'etcd',
          {
            image: 'registry.k8s.io/etcd:3.5.16-0',
            command: [
              'etcd',
              '--name=etcd-1',
              `--data-dir=${ROOT}/etcd`,
              `--listen-client-urls=http://${ip}:${client}`,
              `--advertise-client-urls=http://${ip}:${client}`,
              `--listen-peer-urls=http://${ip}:${peer}`,
              `--initial-advertise-peer-urls=http://${ip}:${peer}`,
              `--initial-cluster=etcd-1=http://${ip}:${peer}`,
              `--listen-metrics-urls=http://${ip}:${metrics}`,
            ],
            workingDir: ROOT,
            startupProbe: { ...health, failureThreshold: 60 },
            livenessProbe: { ...health, failureThreshold: 5 },
            volumeMounts: [rootMount],
          },
          { volumes: [rootVolume] },
        ),
      );
      const etcd = await waitFor('etcd running, started and ready', () => {
        const status = standIn.container('etcd');
        return status?.state === 'running' && status.started && status.ready ? status : undefined;
      });
      expect(etcd).toMatchObject({ image: 'registry.k8s.io/etcd:3.5.16-0', restartCount: 0 });
      expect(standIn.status()?.pods[0]).toMatchObject({ name: 'etcd', manifest: 'hacp-etcd.json' });
      const dataDir = join(standIn.vmRoot, ROOT, 'etcd');
      expect(existsSync(join(dataDir, 'member'))).toBe(true);
      expect(statSync(join(standIn.vmRoot, ROOT)).mode & 0o777).toBe(0o755);
      expect(commandLine(etcd.pid as number)).toContain(`--data-dir=${dataDir}`);
      const answer = await fetch(`http://${ip}:${client}/health`);
      expect(await answer.json()).toEqual({ health: 'true' });
      const log = readFileSync(join(standIn.vmRoot, 'var/log/pods/etcd/etcd.log'), 'utf8');
      expect(log).toMatch(/hacp-kubelet: starting container etcd\/etcd: \/usr\/bin\/etcd/);
      expect(log).toContain('ready to serve client requests');
      expect(standIn.kubeletLog()).toContain('container etcd/etcd started: startup probe succeeded');
    },
    TEST_MS,
  );

  it(
    'reports an image it has no program for as ErrImagePull and starts nothing',
    async () => {
      const standIn = startStandIn();
      standIn.writeManifest(
        'hacp-kube-scheduler.json',
        pod('kube-scheduler', {
          image: 'registry.k8s.io/kube-scheduler:v1.32.2',
          command: ['kube-scheduler'],
        }),
      );
      const status = await waitFor('ErrImagePull', () => {
        const container = standIn.container('kube-scheduler');
        return container?.reason === 'ErrImagePull' ? container : undefined;
      });
      expect(status).toMatchObject({ state: 'waiting', ready: false, started: false, restartCount: 0 });
      expect(status.pid).toBeUndefined();
      expect(status.message).toContain('Failed to pull image "registry.k8s.io/kube-scheduler:v1.32.2"');
      expect(status.message).toContain('kube-scheduler:v1.32.2');
      expect(childrenOf(standIn.process.pid)).toEqual([]);
      expect(standIn.kubeletLog()).toContain('Failed to pull image "registry.k8s.io/kube-scheduler:v1.32.2"');
    },
    TEST_MS,
  );

  it(
    'runs an image’s entrypoint when the container has no command, with the env’s paths mapped, as the add-on manager’s pod',
    async () => {
      const standIn = startStandIn();
      // A stand-in for hacp's add-on manager program: it records its arguments and stays up.
      const program = join(standIn.vmRoot, 'fake-addon-manager.mjs');
      writeFileSync(
        program,
        "import { writeFileSync } from 'node:fs';\n" +
          "writeFileSync(process.env.HOME + '/argv.json', JSON.stringify(process.argv.slice(2)));\n" +
          'setInterval(() => {}, 1000);\n',
      );
      // kube-addons-main.sh reads ADDON_PATH and KUBECTL_OPTS; hacp's program takes flags.
      standIn.addImage('kube-addon-manager:v9.1.8', {
        command: ['/bin/sh'],
        entrypoint: [
          '/bin/sh',
          '-c',
          `exec "${process.execPath}" "${program}" $KUBECTL_OPTS --addons-dir "$ADDON_PATH"`,
          'kube-addon-manager',
        ],
      });
      standIn.writeManifest(
        'hacp-kube-addon-manager.json',
        pod(
          'kube-addon-manager',
          {
            image: 'registry.k8s.io/addon-manager/kube-addon-manager:v9.1.8',
            env: [
              { name: 'ADDON_PATH', value: `${ROOT}/addons` },
              { name: 'KUBECTL_OPTS', value: `--kubeconfig=${ROOT}/addon-manager.kubeconfig` },
            ],
            volumeMounts: [{ ...rootMount, readOnly: true }],
          },
          { volumes: [rootVolume] },
        ),
      );
      writeFileSync(join(standIn.manifestsDir, 'broken.json'), '{"apiVersion":"v1","kind":"Service"}');
      const argvFile = join(standIn.vmRoot, 'root/argv.json');
      await waitFor('the add-on manager’s arguments', () => existsSync(argvFile));
      const root = join(standIn.vmRoot, ROOT);
      expect(JSON.parse(readFileSync(argvFile, 'utf8'))).toEqual([
        `--kubeconfig=${root}/addon-manager.kubeconfig`,
        '--addons-dir',
        `${root}/addons`,
      ]);
      expect(standIn.container('kube-addon-manager')).toMatchObject({ state: 'running', ready: true });
      expect(standIn.status()?.pods.find((p) => p.manifest === 'broken.json')).toEqual({
        name: 'broken.json',
        manifest: 'broken.json',
        problem: 'the manifest is not a v1 Pod',
        containers: [],
      });
      expect(standIn.kubeletLog()).toContain('manifest broken.json not run: the manifest is not a v1 Pod');
    },
    TEST_MS,
  );

  it(
    'kills and restarts a container whose liveness probe fails',
    async () => {
      const standIn = startStandIn();
      const closed = await freePort();
      standIn.writeManifest(
        'sleeper.json',
        pod(
          'sleeper',
          {
            image: 'example.com/tools/sleeper:1',
            command: ['sleep', '1000'],
            livenessProbe: { tcpSocket: { port: closed }, periodSeconds: 1, failureThreshold: 2 },
          },
          { terminationGracePeriodSeconds: 2 },
        ),
      );
      const first = await waitFor('the first sleeper', () => standIn.container('sleeper')?.pid);
      const second = await waitFor('a restarted sleeper', () => {
        const status = standIn.container('sleeper');
        return status?.pid !== undefined && status.pid !== first && status.restartCount >= 1
          ? status
          : undefined;
      });
      await waitFor('the first sleeper gone', () => !isAlive(first));
      expect(second.lastState).toMatchObject({ reason: 'Error', signal: 'SIGTERM', exitCode: 143 });
      expect(standIn.kubeletLog()).toContain(
        'container sleeper/sleeper failed liveness probe, will be restarted',
      );
      expect(standIn.kubeletLog()).toContain('Liveness probe failed: dial tcp');
    },
    TEST_MS,
  );

  it(
    'restarts a container that exits, with back-off in between',
    async () => {
      const standIn = startStandIn();
      standIn.writeManifest(
        'crasher.json',
        pod('crasher', { image: 'shell:1', command: ['sh', '-c', 'echo running; exit 3'] }),
      );
      const backingOff = await waitFor('CrashLoopBackOff', () => {
        const status = standIn.container('crasher');
        return status?.reason === 'CrashLoopBackOff' ? status : undefined;
      });
      expect(backingOff).toMatchObject({ state: 'waiting', lastState: { reason: 'Error', exitCode: 3 } });
      expect(backingOff.message).toMatch(
        /^back-off [\d.]+s restarting failed container=crasher pod=crasher$/,
      );
      const restarted = await waitFor('three restarts', () => {
        const status = standIn.container('crasher');
        return status !== undefined && status.restartCount >= 3 ? status : undefined;
      });
      expect(restarted.restartCount).toBeGreaterThanOrEqual(3);
      const log = readFileSync(join(standIn.vmRoot, 'var/log/pods/crasher/crasher.log'), 'utf8');
      expect(log.match(/^running$/gm)?.length).toBeGreaterThanOrEqual(3);
      expect(log).toContain('hacp-kubelet: restarting (restart 3) container crasher/crasher');
      // Back-off doubles from 500 ms: the third restart comes at least 0.5 + 1 s after the first exit.
      const starts = [...log.matchAll(/^==> (\S+) hacp-kubelet: (?:starting|restarting)/gm)].map((m) =>
        Date.parse(m[1] as string),
      );
      expect((starts[3] as number) - (starts[1] as number)).toBeGreaterThanOrEqual(1400);
    },
    TEST_MS,
  );

  it(
    'restarts a pod whose manifest changed with the new arguments, and stops it when removed',
    async () => {
      const standIn = startStandIn();
      const sleeper = (seconds: string) =>
        pod(
          'sleeper',
          { image: 'sleeper:1', command: ['sleep'], args: [seconds] },
          { terminationGracePeriodSeconds: 5 },
        );
      standIn.writeManifest('sleeper.json', sleeper('1000'));
      const first = await waitFor('the sleeper', () => standIn.container('sleeper')?.pid);
      expect(commandLine(first)).toBe('/bin/sleep 1000');
      standIn.writeManifest('sleeper.json', sleeper('1001'));
      const second = await waitFor('the sleeper with its new arguments', () => {
        const pid = standIn.container('sleeper')?.pid;
        return pid !== undefined && pid !== first ? pid : undefined;
      });
      expect(commandLine(second)).toBe('/bin/sleep 1001');
      expect(isAlive(first)).toBe(false);
      expect(standIn.container('sleeper')?.restartCount).toBe(0); // a new pod, not a restart
      rmSync(join(standIn.manifestsDir, 'sleeper.json'));
      await waitFor('the pod gone from the status', () => standIn.status()?.pods.length === 0);
      await waitFor('the sleeper stopped', () => !isAlive(second));
      expect(standIn.kubeletLog()).toContain('manifest sleeper.json removed');
    },
    TEST_MS,
  );

  it(
    'kills a container that ignores SIGTERM once its grace period is over',
    async () => {
      const standIn = startStandIn();
      // `trap "" TERM` is inherited by the sleeps: the whole group ignores SIGTERM.
      standIn.writeManifest(
        'stubborn.json',
        pod(
          'stubborn',
          { image: 'shell:1', command: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.2; done'] },
          { terminationGracePeriodSeconds: 3 },
        ),
      );
      const pid = await waitFor('the stubborn container', () => standIn.container('stubborn')?.pid);
      const removedAt = Date.now();
      rmSync(join(standIn.manifestsDir, 'stubborn.json'));
      await waitFor('the stubborn container killed', () => !isAlive(pid));
      expect(Date.now() - removedAt).toBeGreaterThanOrEqual(3000);
      await waitFor('the kill logged', () =>
        standIn.kubeletLog().includes('container stubborn/stubborn was ended by SIGKILL'),
      );
    },
    TEST_MS,
  );

  it(
    'stops every container, whole process trees, on SIGTERM and exits 0',
    async () => {
      const standIn = startStandIn();
      standIn.writeManifest(
        'tree.json',
        pod('tree', { image: 'shell:1', command: ['sh', '-c', 'sleep 1000 & sleep 1001 & wait'] }),
      );
      standIn.writeManifest(
        'sleeper.json',
        pod('sleeper', { image: 'sleeper:1', command: ['sleep', '1002'] }),
      );
      const roots = await waitFor('both pods running', () => {
        const pids = ['tree', 'sleeper'].map((name) => standIn.container(name)?.pid);
        return pids.every((pid) => pid !== undefined) ? (pids as number[]) : undefined;
      });
      const tree = await waitFor('the tree’s two children', () => {
        const children = childrenOf(roots[0] as number);
        return children.length === 2 ? children : undefined;
      });
      const all = [...roots, ...tree];
      process.kill(standIn.process.pid, 'SIGTERM');
      expect(await standIn.process.exited).toEqual({ code: 0, signal: null });
      await waitFor('every container process gone', () => all.every((pid) => !isAlive(pid)));
      expect(standIn.status()?.pods.flatMap((p) => p.containers.map((c) => c.state))).toEqual([
        'terminated',
        'terminated',
      ]);
      expect(standIn.kubeletLog()).toContain('kubelet stand-in stopped');
    },
    TEST_MS,
  );

  it(
    'runs hacp’s health pod: HAProxy with its configuration under a hostPath volume',
    async () => {
      const standIn = startStandIn();
      const [port, backendPort] = [await freePort(), await freePort()];
      let backendStatus = 200;
      const backend: Server = createServer((_, response) => {
        response.statusCode = backendStatus;
        response.end();
      });
      await new Promise<void>((resolve) => backend.listen(backendPort, '127.0.0.1', resolve));
      try {
        const configDir = join(standIn.vmRoot, ROOT, 'health');
        mkdirSync(configDir, { recursive: true });
        // What provider-gce's renderHealthEndpointConfig does, in short, bound to a test port.
        writeFileSync(
          join(configDir, 'haproxy.cfg'),
          [
            'defaults',
            '  mode http',
            '  timeout connect 1s',
            '  timeout check 1s',
            'frontend health',
            `  bind 127.0.0.1:${port}`,
            '  monitor-uri /healthz',
            '  monitor fail if { nbsrv(replica) lt 1 }',
            'backend replica',
            '  option httpchk GET /readyz',
            `  server etcd 127.0.0.1:${backendPort} check inter 200ms rise 1 fall 1`,
            '',
          ].join('\n'),
        );
        standIn.writeManifest(
          'hacp-health.json',
          pod(
            'hacp-health',
            {
              name: 'haproxy',
              image: 'docker.io/library/haproxy:2.8-alpine',
              command: ['haproxy', '-db', '-f', `${ROOT}/health/haproxy.cfg`],
              volumeMounts: [{ name: 'health-config', mountPath: `${ROOT}/health`, readOnly: true }],
              livenessProbe: { tcpSocket: { host: '127.0.0.1', port }, periodSeconds: 1 },
            },
            {
              volumes: [
                { name: 'health-config', hostPath: { path: `${ROOT}/health`, type: 'DirectoryOrCreate' } },
              ],
            },
          ),
        );
        const haproxy = await waitFor(
          'HAProxy running',
          () => standIn.container('hacp-health', 'haproxy')?.pid,
        );
        expect(commandLine(haproxy)).toBe(`/usr/sbin/haproxy -db -f ${configDir}/haproxy.cfg`);
        const healthz = async () => {
          try {
            return (await fetch(`http://127.0.0.1:${port}/healthz`)).status;
          } catch {
            return 0;
          }
        };
        await waitUntil({
          description: '/healthz 200',
          timeoutMs: WAIT_MS,
          check: async () =>
            (await healthz()) === 200 ? { done: true, value: 200 } : { done: false, reason: 'not 200' },
        });
        backendStatus = 503;
        await waitUntil({
          description: '/healthz 503 once the backend fails',
          timeoutMs: WAIT_MS,
          check: async () =>
            (await healthz()) === 503 ? { done: true, value: 503 } : { done: false, reason: 'not 503' },
        });
        expect(standIn.container('hacp-health', 'haproxy')).toMatchObject({ pid: haproxy, restartCount: 0 });
      } finally {
        await new Promise<void>((resolve) => backend.close(() => resolve()));
      }
    },
    TEST_MS,
  );
});
