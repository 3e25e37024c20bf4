/**
 * The startup script run for real by bash, twice, as GCE would on two boots: a loopback server
 * plays the metadata server (it wants `Metadata-Flavor: Google`, like the real one) and another
 * dl.k8s.io; mount, mkfs, blkid, mountpoint and systemctl are recording stubs.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NodeConfig, Secret } from '@hacp/core';
import { freePort, type SpawnedProcess, spawnTracked } from '@hacp/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RegistryMirrors } from './containerd.js';
import { etcdProcess, replicaNodeConfig, sdkReplicaNodeConfig } from './fixtures.test-support.js';
import { STARTUP_LOG } from './layout.js';
import { renderReplicaMetadata } from './metadata.js';
import { renderStartupScript } from './startup-script.js';
import { renderStaticPods } from './static-pods.js';

const VERSION = '1.31.2';
/** The kubelets the fake release location has: a release, and a CI build (with a `+`). */
const RELEASED = [VERSION, '1.32.0-beta.0.0+cd13ec4ae44e'];
const FAKE_KUBELET = '#!/bin/sh\necho "fake kubelet $*"\n';
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

interface Boot {
  dir: string;
  script: string;
  root: string;
  manifests: string;
  bin: string;
  systemd: string;
  kubeletConfigDir: string;
  stubLog: string;
  stubState: string;
  env: NodeJS.ProcessEnv;
  /** The metadata the fake metadata server serves; replace items to change it between boots. */
  metadata: Map<string, string>;
  /** The sha256 the fake release server publishes for the kubelet. */
  publishedSha: string;
  /** Requests by path, on both servers. */
  requests: Map<string, number>;
  /** Metadata requests refused for a missing Metadata-Flavor header. */
  refused: number;
  /** The instance id the metadata server answers: a new one is a new instance on the same disk. */
  instanceId: string;
  /** What the fake health endpoint answers, one status a request, the last one from then on. */
  healthStatuses: number[];
}

let boot: Boot;
let servers: Server[] = [];
let running: SpawnedProcess[] = [];

function stub(dir: string, name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/bash\nprintf '%s\\n' "${name} $*" >>"$HACP_TEST_STUB_LOG"\n${body}\n`, {
    mode: 0o755,
  });
  return file;
}

async function serve(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<number> {
  const server = createServer(handler);
  const port = await freePort('127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  servers.push(server);
  return port;
}

beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hacp-startup-'));
  const stubs = join(dir, 'stubs');
  const stubState = join(dir, 'stub-state');
  mkdirSync(stubs);
  mkdirSync(stubState);
  mkdirSync(join(dir, 'dev'));
  const device = join(dir, 'dev', 'google-master-pd');
  writeFileSync(device, '');
  // The disk has a filesystem once mkfs ran; a path is mounted once mount named it last.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own expansion, in a bash stub.
  const mountKey = 'printf "%s" "${@: -1}" | sha256sum | cut -c1-16';
  const commands = {
    HACP_MKFS: stub(stubs, 'mkfs', `touch "${stubState}/formatted"`),
    HACP_BLKID: stub(
      stubs,
      'blkid',
      `[[ -e "${stubState}/blkid-broken" ]] && exit 4\n[[ -e "${stubState}/formatted" ]] || exit 2\necho ext4`,
    ),
    HACP_MOUNT: stub(stubs, 'mount', `touch "${stubState}/mounted-$(${mountKey})"`),
    HACP_MOUNTPOINT: stub(stubs, 'mountpoint', `[[ -e "${stubState}/mounted-$(${mountKey})" ]]`),
    HACP_SYSTEMCTL: stub(stubs, 'systemctl', ''),
    HACP_CONTAINERD: stub(stubs, 'containerd', ''),
  };
  const script = join(dir, 'startup-script.sh');
  writeFileSync(script, renderStartupScript());

  const metadata = new Map<string, string>();
  const requests = new Map<string, number>();
  const count = (path: string) => requests.set(path, (requests.get(path) ?? 0) + 1);
  const attributes = '/computeMetadata/v1/instance/attributes/';
  const metadataPort = await serve((request, response) => {
    const path = request.url ?? '';
    count(path);
    if (request.headers['metadata-flavor'] !== 'Google') {
      boot.refused++;
      response.writeHead(403).end('Missing Metadata-Flavor:Google header.');
      return;
    }
    const value = path.startsWith(attributes)
      ? metadata.get(path.slice(attributes.length))
      : path === '/computeMetadata/v1/instance/id'
        ? boot.instanceId
        : undefined;
    if (value === undefined) response.writeHead(404).end('not found');
    else response.writeHead(200, { 'content-type': 'application/text' }).end(value);
  });
  const releasePort = await serve((request, response) => {
    const path = request.url ?? '';
    count(path);
    const match = /^\/release\/v([^/]+)\/bin\/linux\/(amd64|arm64)\/kubelet(\.sha256)?$/.exec(path);
    if (match === null || !RELEASED.includes(match[1] as string)) response.writeHead(404).end('not found');
    else if (match[3] !== undefined) response.writeHead(200).end(boot.publishedSha);
    else response.writeHead(200).end(FAKE_KUBELET);
  });

  const healthPort = await serve((request, response) => {
    count(request.url ?? '');
    const status = boot.healthStatuses.length > 1 ? boot.healthStatuses.shift() : boot.healthStatuses[0];
    response.writeHead(status ?? 200).end();
  });

  const env: NodeJS.ProcessEnv = {
    // spawnTracked lays these over process.env: no_proxy keeps curl off any proxy the caller set.
    PATH: process.env.PATH,
    HOME: dir,
    LANG: 'C',
    no_proxy: '*',
    HACP_TEST_STUB_LOG: join(dir, 'stub.log'),
    HACP_METADATA_URL: `http://127.0.0.1:${metadataPort}${attributes.slice(0, -1)}`,
    HACP_RELEASE_URL: `http://127.0.0.1:${releasePort}/release`,
    HACP_ROOT: join(dir, 'mnt', 'disks', 'master-pd'),
    HACP_DEVICE: device,
    HACP_DEVICE_WAIT_SECONDS: '2',
    HACP_HEALTH_URL: `http://127.0.0.1:${healthPort}/healthz`,
    HACP_MANIFESTS_DIR: join(dir, 'etc', 'kubernetes', 'manifests'),
    HACP_KUBELET_CONFIG_DIR: join(dir, 'etc', 'kubernetes'),
    HACP_BIN_DIR: join(dir, 'home', 'kubernetes', 'bin'),
    HACP_SYSTEMD_DIR: join(dir, 'etc', 'systemd', 'system'),
    HACP_CONTAINERD_CONFIG: join(dir, 'etc', 'containerd', 'config.toml'),
    HACP_CONTAINERD_CERTS_DIR: join(dir, 'etc', 'containerd', 'certs.d'),
    ...commands,
  };
  boot = {
    dir,
    script,
    root: env.HACP_ROOT as string,
    manifests: env.HACP_MANIFESTS_DIR as string,
    bin: env.HACP_BIN_DIR as string,
    systemd: env.HACP_SYSTEMD_DIR as string,
    kubeletConfigDir: env.HACP_KUBELET_CONFIG_DIR as string,
    stubLog: env.HACP_TEST_STUB_LOG as string,
    stubState,
    env,
    metadata,
    requests,
    publishedSha: sha256(FAKE_KUBELET),
    refused: 0,
    instanceId: '4107215583417036201',
    healthStatuses: [200],
  };
});

afterEach(async () => {
  for (const process of running) await process.stop({ signal: 'SIGKILL', graceMs: 1_000 });
  running = [];
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  servers = [];
  rmSync(boot.dir, { recursive: true, force: true });
});

function serveReplica(
  nodeConfig: NodeConfig,
  options: { registryMirrors?: RegistryMirrors; dataDiskHandedOver?: boolean } = {},
): void {
  boot.metadata.clear();
  const items = renderReplicaMetadata({
    cluster: 'prod',
    replica: 'prod-master',
    nodeConfig,
    kubernetesVersion: VERSION,
    ...options,
  });
  for (const item of items) boot.metadata.set(item.key, item.value);
}

/** Runs the script once; its output (stdout and stderr) and exit code. */
async function runScript(): Promise<{ code: number | null; output: string; stubCalls: string[] }> {
  const logFile = join(boot.dir, `run-${running.length}.log`);
  const before = existsSync(boot.stubLog) ? readFileSync(boot.stubLog, 'utf8').split('\n').length - 1 : 0;
  const run = spawnTracked({
    command: 'bash',
    args: [boot.script],
    logFile,
    marker: boot.script,
    env: boot.env,
  });
  running.push(run);
  const { code } = await run.exited;
  const calls = existsSync(boot.stubLog)
    ? readFileSync(boot.stubLog, 'utf8').split('\n').slice(before, -1)
    : [];
  return { code, output: readFileSync(logFile, 'utf8'), stubCalls: calls };
}

const mode = (path: string) => statSync(path).mode & 0o777;

function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const stat = statSync(path);
        files.set(path, `${sha256(readFileSync(path))} ${stat.mode.toString(8)} ${stat.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return files;
}

describe('the startup script', () => {
  it('passes shellcheck', async () => {
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile('shellcheck', ['-s', 'bash', boot.script], (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code ?? 1), output: `${stdout}${stderr}` });
      });
    });
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('boots a replica, and boots it again changing nothing', async () => {
    const { nodeConfig, secrets } = replicaNodeConfig();
    serveReplica(nodeConfig);

    const first = await runScript();
    expect(first.code, first.output).toBe(0);
    expect(boot.refused).toBe(0);

    // The disk: formatted (it had no filesystem) and mounted at the root, which is 0700.
    expect(first.stubCalls.filter((call) => call.startsWith('mkfs '))).toEqual([
      `mkfs -F -m 0 -E lazy_itable_init=0,lazy_journal_init=0,discard ${boot.env.HACP_DEVICE}`,
    ]);
    expect(first.stubCalls).toContain(`mount -o discard,defaults ${boot.env.HACP_DEVICE} ${boot.root}`);
    expect(first.stubCalls).toContain(`mount -o remount,exec ${boot.bin}`);
    expect(mode(boot.root)).toBe(0o700);

    // Every file with its bytes and mode; folders 0700.
    for (const file of nodeConfig.files) {
      const path = join(boot.root, file.path);
      const contents = file.contents instanceof Secret ? file.contents.reveal() : String(file.contents);
      expect(readFileSync(path, 'utf8'), file.path).toBe(contents);
      expect(mode(path), file.path).toBe(file.mode);
    }
    expect(mode(join(boot.root, 'pki/etcd/peer.key'))).toBe(0o600);
    expect(mode(join(boot.root, 'pki/ca.crt'))).toBe(0o644);
    expect(mode(join(boot.root, 'pki/etcd'))).toBe(0o700);
    expect(readFileSync(join(boot.root, 'health/haproxy.cfg'), 'utf8')).toContain('bind *:8081');

    // The static pods, 0600, exactly as rendered.
    const pods = renderStaticPods({
      cluster: 'prod',
      replica: 'prod-master',
      nodeConfig,
      kubernetesVersion: VERSION,
    });
    expect(readdirSync(boot.manifests).sort()).toEqual(pods.map((pod) => pod.name).sort());
    for (const pod of pods) {
      const path = join(boot.manifests, pod.name);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(pod.manifest);
      expect(mode(path)).toBe(0o600);
    }

    // The kubelet: downloaded, verified, executable; a standalone config; a unit; enabled and started.
    const kubelet = join(boot.bin, 'kubelet');
    expect(readFileSync(kubelet, 'utf8')).toBe(FAKE_KUBELET);
    expect(mode(kubelet)).toBe(0o755);
    const config = readFileSync(join(boot.kubeletConfigDir, 'kubelet-config.yaml'), 'utf8');
    expect(config).toContain(`staticPodPath: ${boot.manifests}\n`);
    expect(config).toContain('cgroupDriver: systemd\n');
    expect(config).toContain('containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n');
    expect(config).toMatch(/anonymous:\n {4}enabled: false\n {2}webhook:\n {4}enabled: false/);
    const unit = readFileSync(join(boot.systemd, 'kubelet.service'), 'utf8');
    expect(unit).toContain(
      `ExecStart=${kubelet} --config=${join(boot.kubeletConfigDir, 'kubelet-config.yaml')} --v=2\n`,
    );
    expect(first.stubCalls.filter((call) => call.startsWith('systemctl '))).toEqual([
      'systemctl restart containerd.service',
      'systemctl daemon-reload',
      'systemctl enable kubelet.service',
      'systemctl restart kubelet.service',
    ]);
    expect(readdirSync(boot.bin)).toEqual(['kubelet', 'kubelet.hacp-version']);

    // The second boot: the disk has a filesystem, the kubelet is there, every file is the same.
    const before = snapshot(join(boot.dir, 'mnt'));
    const manifestsBefore = snapshot(boot.manifests);
    const second = await runScript();
    expect(second.code, second.output).toBe(0);
    expect(second.stubCalls.filter((call) => call.startsWith('mkfs '))).toEqual([]);
    expect(second.stubCalls.filter((call) => call.startsWith('mount '))).toEqual([]);
    // One download in two boots (the architecture is this machine's).
    const downloads = [...boot.requests].filter(([path]) => /\/bin\/linux\/[a-z0-9]+\/kubelet$/.test(path));
    expect(downloads.map(([, count]) => count)).toEqual([1]);
    expect(snapshot(join(boot.dir, 'mnt'))).toEqual(before);
    expect(snapshot(boot.manifests)).toEqual(manifestsBefore);
    expect(second.stubCalls.filter((call) => call.startsWith('systemctl '))).toEqual([
      'systemctl enable --now kubelet.service',
    ]);

    // No key ever reaches the output, in clear or base64.
    for (const output of [first.output, second.output]) {
      for (const secret of secrets) {
        for (const line of secret.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) {
          expect(output).not.toContain(line);
        }
        expect(output).not.toContain(Buffer.from(secret).toString('base64').slice(0, 32));
      }
    }

    // A third boot after the replica dropped kube-apiserver: its manifest goes, others' files stay.
    writeFileSync(join(boot.manifests, 'someone-else.yaml'), 'kind: Pod\n');
    serveReplica({ files: nodeConfig.files, processes: [etcdProcess()] });
    const third = await runScript();
    expect(third.code, third.output).toBe(0);
    expect(readdirSync(boot.manifests).sort()).toEqual([
      'hacp-etcd.json',
      'hacp-health.json',
      'someone-else.yaml',
    ]);
    expect(snapshot(boot.manifests).get(join(boot.manifests, 'hacp-etcd.json'))).toBe(
      manifestsBefore.get(join(boot.manifests, 'hacp-etcd.json')),
    );
    expect(readFileSync(join(boot.root, 'health/haproxy.cfg'), 'utf8')).toContain(
      'option httpchk GET /health\n',
    );
  });

  it("moves aside what another instance left on the data disk (an earlier member's etcd data), never what its own did", async () => {
    const { nodeConfig } = replicaNodeConfig();
    serveReplica(nodeConfig);
    const first = await runScript();
    expect(first.code, first.output).toBe(0);
    const owner = join(boot.root, '.hacp-instance-id');
    expect(readFileSync(owner, 'utf8')).toBe(`${boot.instanceId}\n`);
    expect(mode(owner)).toBe(0o600);
    // etcd ran: its data folder holds a member.
    mkdirSync(join(boot.root, 'etcd-data', 'member', 'wal'), { recursive: true });
    writeFileSync(join(boot.root, 'etcd-data', 'member', 'wal', '0.wal'), 'the first member');

    // The same instance again (a reboot, a stop and start): its data stays where it is.
    const again = await runScript();
    expect(again.code, again.output).toBe(0);
    expect(readFileSync(join(boot.root, 'etcd-data', 'member', 'wal', '0.wal'), 'utf8')).toBe(
      'the first member',
    );
    expect(readdirSync(boot.root).filter((name) => name.startsWith('stale-'))).toEqual([]);

    // A new instance of the same name on that disk: what the first left goes aside, whole, and the
    // new member's data folder starts empty; the replica's files are written afresh.
    const firstId = boot.instanceId;
    boot.instanceId = '4107215583417036999';
    const other = await runScript();
    expect(other.code, other.output).toBe(0);
    const aside = readdirSync(boot.root).filter((name) => name.startsWith('stale-'));
    expect(aside).toHaveLength(1);
    expect(other.output).toContain(`written by instance ${firstId}, not this one`);
    const stale = join(boot.root, aside[0] as string);
    expect(readFileSync(join(stale, 'etcd-data', 'member', 'wal', '0.wal'), 'utf8')).toBe('the first member');
    expect(existsSync(join(boot.root, 'etcd-data'))).toBe(false);
    expect(readFileSync(owner, 'utf8')).toBe(`${boot.instanceId}\n`);
    for (const file of nodeConfig.files) expect(existsSync(join(boot.root, file.path)), file.path).toBe(true);
    expect(existsSync(join(stale, '.hacp-instance-id'))).toBe(false);

    // A disk that names no instance (written before hacp kept it): left as it is.
    mkdirSync(join(boot.root, 'etcd-data', 'member'), { recursive: true });
    rmSync(owner);
    boot.instanceId = '4107215583417037777';
    const unnamed = await runScript();
    expect(unnamed.code, unnamed.output).toBe(0);
    expect(existsSync(join(boot.root, 'etcd-data', 'member'))).toBe(true);
    expect(readdirSync(boot.root).filter((name) => name.startsWith('stale-'))).toEqual(aside);
  });

  it('keeps what another instance wrote on a data disk handed over on purpose (member migration)', async () => {
    const { nodeConfig } = replicaNodeConfig();
    serveReplica(nodeConfig);
    const first = await runScript();
    expect(first.code, first.output).toBe(0);
    mkdirSync(join(boot.root, 'etcd-data', 'member', 'wal'), { recursive: true });
    writeFileSync(join(boot.root, 'etcd-data', 'member', 'wal', '0.wal'), 'the migrated member');

    // hacp deleted that instance keeping the disk, and made this one saying the disk is handed over.
    const firstId = boot.instanceId;
    boot.instanceId = '4107215583417038888';
    serveReplica(nodeConfig, { dataDiskHandedOver: true });
    const migrated = await runScript();
    expect(migrated.code, migrated.output).toBe(0);
    expect(migrated.output).toContain(`written by instance ${firstId} and handed over to this one`);
    expect(readdirSync(boot.root).filter((name) => name.startsWith('stale-'))).toEqual([]);
    expect(readFileSync(join(boot.root, 'etcd-data', 'member', 'wal', '0.wal'), 'utf8')).toBe(
      'the migrated member',
    );
    expect(readFileSync(join(boot.root, '.hacp-instance-id'), 'utf8')).toBe(`${boot.instanceId}\n`);
    for (const file of nodeConfig.files) expect(existsSync(join(boot.root, file.path)), file.path).toBe(true);
  });

  it("boots the whole control plane of a build version: six pods, the kubelet of the NodeConfig's version", async () => {
    const nodeConfig = sdkReplicaNodeConfig({ kubernetesVersion: 'v1.32.0-beta.0.0+cd13ec4ae44e' });
    serveReplica(nodeConfig);
    const result = await runScript();
    expect(result.code, result.output).toBe(0);
    const pods = renderStaticPods({
      cluster: 'prod',
      replica: 'prod-master',
      nodeConfig,
      kubernetesVersion: VERSION,
    });
    expect(pods).toHaveLength(6);
    expect(readdirSync(boot.manifests).sort()).toEqual(pods.map((pod) => pod.name).sort());
    for (const pod of pods) {
      expect(JSON.parse(readFileSync(join(boot.manifests, pod.name), 'utf8'))).toEqual(pod.manifest);
    }
    for (const file of ['controller-manager.conf', 'scheduler.conf', 'addon-manager.conf']) {
      expect(mode(join(boot.root, file)), file).toBe(0o600);
    }
    expect(readFileSync(join(boot.root, 'addons/namespace.yaml'), 'utf8')).toContain('kind: Namespace');
    // The `+` stays in the release path (dl.k8s.io's folder of that build) and in the stamp.
    const downloads = [...boot.requests.keys()].filter((path) => path.endsWith('/kubelet'));
    expect(downloads).toEqual([
      expect.stringMatching(
        /^\/release\/v1\.32\.0-beta\.0\.0\+cd13ec4ae44e\/bin\/linux\/[a-z0-9]+\/kubelet$/,
      ),
    ]);
    expect(readFileSync(join(boot.bin, 'kubelet.hacp-version'), 'utf8')).toMatch(
      /^v1\.32\.0-beta\.0\.0\+cd13ec4ae44e [0-9a-f]{64}\n$/,
    );
  });

  it('refuses a kubelet whose sha256 does not match, installing nothing', async () => {
    serveReplica(replicaNodeConfig().nodeConfig);
    boot.publishedSha = sha256('another kubelet');
    const result = await runScript();
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('does not match its sha256');
    expect(existsSync(join(boot.bin, 'kubelet'))).toBe(false);
    // Nothing half-written is left beside it, and the kubelet was never started (containerd,
    // step 0, was configured before).
    expect(readdirSync(boot.bin)).toEqual([]);
    expect(result.stubCalls.filter((call) => call.startsWith('systemctl '))).toEqual([
      'systemctl restart containerd.service',
    ]);
  });

  it('never formats a disk blkid cannot read', async () => {
    serveReplica(replicaNodeConfig().nodeConfig);
    writeFileSync(join(boot.stubState, 'blkid-broken'), '');
    const result = await runScript();
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('blkid could not read');
    expect(result.stubCalls.filter((call) => call.startsWith('mkfs ') || call.startsWith('mount '))).toEqual(
      [],
    );
  });

  it('stops when a metadata item is missing', async () => {
    serveReplica(replicaNodeConfig().nodeConfig);
    boot.metadata.delete('hacp-manifests');
    const result = await runScript();
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('could not read instance metadata hacp-manifests');
    // containerd was configured first (step 0); the kubelet was never started.
    expect(result.stubCalls.filter((call) => call.startsWith('systemctl '))).toEqual([
      'systemctl restart containerd.service',
    ]);
  });

  describe('the health endpoint', () => {
    it('ends the boot once the health endpoint answers 200, after the kubelet started', async () => {
      serveReplica(replicaNodeConfig().nodeConfig);
      boot.healthStatuses = [503, 503, 200];
      const result = await runScript();
      expect(result.code, result.output).toBe(0);
      expect(boot.requests.get('/healthz')).toBe(3);
      expect(result.output).toContain(
        `${STARTUP_LOG.prefix}${STARTUP_LOG.healthWaiting} at ${boot.env.HACP_HEALTH_URL}`,
      );
      const lines = result.output.trim().split('\n');
      expect(lines.at(-1)).toBe(`${STARTUP_LOG.prefix}${STARTUP_LOG.healthAnswers}`);
      expect(result.stubCalls.at(-1)).toBe('systemctl restart kubelet.service');
    });

    /** Boots with a health endpoint that answers 503 forever, waiting at most `wait` seconds. */
    async function bootWithSilentHealth(wait: string) {
      serveReplica(replicaNodeConfig().nodeConfig);
      boot.healthStatuses = [503];
      boot.env.HACP_HEALTH_WAIT_SECONDS = wait;
      return runScript();
    }

    it('fails when the health endpoint stays silent for HACP_HEALTH_WAIT_SECONDS', async () => {
      const result = await bootWithSilentHealth('2');
      expect(result.code).toBe(1);
      expect(result.output).toContain(`${STARTUP_LOG.errorPrefix}${STARTUP_LOG.healthSilent} 2 s\n`);
      expect(result.output).not.toContain(STARTUP_LOG.healthAnswers);
      expect(boot.requests.get('/healthz')).toBeGreaterThanOrEqual(2);
    });

    it('refuses a wait that is not a number of seconds', async () => {
      const result = await bootWithSilentHealth('1m');
      expect(result.code).toBe(1);
      expect(result.output).toContain(
        `${STARTUP_LOG.errorPrefix}HACP_HEALTH_WAIT_SECONDS is not a number of seconds`,
      );
    });
  });

  describe('containerd', () => {
    const config = () => boot.env.HACP_CONTAINERD_CONFIG as string;
    const certs = () => boot.env.HACP_CONTAINERD_CERTS_DIR as string;
    const containerdCalls = (calls: string[]) => calls.filter((call) => /^systemctl .*containerd/.test(call));

    it('writes its configuration once, restarts it only when that changed, and keeps the mirrors listed', async () => {
      const { nodeConfig } = replicaNodeConfig();
      serveReplica(nodeConfig);
      const first = await runScript();
      expect(first.code, first.output).toBe(0);
      const written = readFileSync(config(), 'utf8');
      expect(written).toContain(
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n',
      );
      // kubeadm's pause image for 1.31.
      expect(written).toContain('sandbox_image = "registry.k8s.io/pause:3.10"\n');
      expect(written).toContain(`config_path = "/etc/containerd/certs.d"`);
      expect(mode(config())).toBe(0o644);
      // kube-up's default mirror: Docker Hub through mirror.gcr.io.
      expect(readFileSync(join(certs(), 'docker.io', 'hosts.toml'), 'utf8')).toBe(
        '# Written by hacp.\nserver = "https://registry-1.docker.io"\n\n[host."https://mirror.gcr.io"]\n  capabilities = ["pull", "resolve"]\n',
      );
      expect(containerdCalls(first.stubCalls)).toEqual(['systemctl restart containerd.service']);
      // containerd restarts before the kubelet does, so the kubelet finds it configured.
      expect(
        first.stubCalls
          .filter((call) => call.startsWith('systemctl '))
          .indexOf('systemctl restart containerd.service'),
      ).toBe(0);

      // The same configuration on the next boot: the files untouched, containerd not restarted.
      const before = snapshot(join(boot.dir, 'etc', 'containerd'));
      const second = await runScript();
      expect(second.code, second.output).toBe(0);
      expect(snapshot(join(boot.dir, 'etc', 'containerd'))).toEqual(before);
      expect(containerdCalls(second.stubCalls)).toEqual([]);
      expect(second.output).toContain("containerd's configuration is unchanged");

      // Someone changed it (a cgroupfs driver): rewritten, containerd restarted once.
      writeFileSync(config(), written.replace('SystemdCgroup = true', 'SystemdCgroup = false'));
      // Other mirrors: registry.k8s.io's added, docker.io's (hacp's) removed, someone else's kept.
      mkdirSync(join(certs(), 'quay.io'));
      writeFileSync(join(certs(), 'quay.io', 'hosts.toml'), 'server = "https://quay.io"\n');
      serveReplica(nodeConfig, {
        registryMirrors: { 'registry.k8s.io': ['https://mirror.example.com/k8s'] },
      });
      const third = await runScript();
      expect(third.code, third.output).toBe(0);
      expect(readFileSync(config(), 'utf8')).toBe(written);
      expect(containerdCalls(third.stubCalls)).toEqual(['systemctl restart containerd.service']);
      expect(readdirSync(certs()).sort()).toEqual(['docker.io', 'quay.io', 'registry.k8s.io']);
      expect(existsSync(join(certs(), 'docker.io', 'hosts.toml'))).toBe(false);
      expect(readFileSync(join(certs(), 'quay.io', 'hosts.toml'), 'utf8')).toBe(
        'server = "https://quay.io"\n',
      );
      expect(readFileSync(join(certs(), 'registry.k8s.io', 'hosts.toml'), 'utf8')).toContain(
        '[host."https://mirror.example.com/k8s"]',
      );
    });

    it('stops on an image without containerd, naming images that have it, before touching the disk', async () => {
      serveReplica(replicaNodeConfig().nodeConfig);
      boot.env.HACP_CONTAINERD = join(boot.dir, 'no-such-containerd');
      const result = await runScript();
      expect(result.code).toBe(1);
      expect(result.output).toContain('hacp-startup: error: this image has no container runtime');
      expect(result.output).toContain(
        'Container-Optimized OS (projects/cos-cloud/global/images/family/cos-stable)',
      );
      expect(result.output).toContain('GKE Ubuntu image (projects/ubuntu-os-gke-cloud)');
      // Nothing was done: no disk formatted or mounted, no configuration, no service touched.
      expect(result.stubCalls).toEqual([]);
      expect(existsSync(join(boot.dir, 'etc'))).toBe(false);
      expect(existsSync(boot.root)).toBe(false);
    });
  });
});
