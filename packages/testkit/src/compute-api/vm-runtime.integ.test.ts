/**
 * The VM runtime for real: network namespaces, real bash running a startup script that reads the
 * metadata server, formats and mounts its data disk through the stand-ins, downloads "the kubelet"
 * from the served release location (checksum verified) and enables its unit; the runtime then runs
 * the unit. The test's kubelet is a small HTTP server (the real stand-in has its own suite).
 */
import { randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@hacp/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../processes.js';
import { TEST_STARTUP_SCRIPT, testKubeletCommand, until } from './guest.test-support.js';
import { FILESYSTEM_MARKER } from './guest-stand-ins.js';
import { createVmRuntime, probeHttp, type VmRuntime, type VmSpec } from './vm-runtime.js';
import { canCreateVpc } from './vpc.js';

const ZONE = 'europe-west1-b';

/** A random 127.x.y.z address, away from 127.0.0.1 and the Compute server's 127.100-199 pools. */
function randomLoopbackIp(): string {
  return `127.${randomInt(200, 250)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

const PORT = 8081;

function vm(name: string, ip: string, disk?: string): VmSpec {
  return {
    name,
    zone: ZONE,
    networkIP: ip,
    metadata: {
      'hacp-cluster': 'c1',
      'test-port': String(PORT),
      'test-bind': '0.0.0.0',
      'startup-script': TEST_STARTUP_SCRIPT,
    },
    disks: [
      { name: `${name}-boot`, deviceName: 'persistent-disk-0', boot: true },
      ...(disk === undefined ? [] : [{ name: disk, deviceName: 'master-pd', boot: false }]),
    ],
  };
}

const answers = (ip: string) => probeHttp(`http://${ip}:${PORT}/`, 1000);

describe.skipIf(!canCreateVpc())('createVmRuntime', { timeout: 180_000 }, () => {
  let dir: string;
  let runtime: VmRuntime;
  const seen = new Set<number>();
  const ipAt = (offset: number) => {
    const { first } = runtime.vpc.ranges.INTERNAL;
    const n = first + offset;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-vm-runtime-'));
    runtime = await createVmRuntime({ dir, bootDelayMs: 200, kubeletCommand: await testKubeletCommand(dir) });
  });

  afterAll(async () => {
    for (const pid of runtime.pids()) seen.add(pid);
    await runtime.close();
    for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('boots through the startup script: metadata, data disk, kubelet download, the unit it enabled', async () => {
    const ip = ipAt(1);
    await runtime.boot({ ...vm('cp-1', ip, 'cp-1-pd'), id: '7001' });
    await runtime.booted('cp-1', ZONE);
    const serial = runtime.serialOutput('cp-1', ZONE);
    expect(serial).toContain('test-boot: cluster c1');
    expect(serial).toContain('test-boot: instance 7001');
    expect(serial).toContain('test-boot: no flavor, refused');
    expect(serial).toContain('test-boot: formatting');
    expect(serial).toContain('startup-script exit status 0');
    expect(serial).toContain('Started kubelet.service');
    // The kubelet listens on 0.0.0.0 inside the VM's namespace: this machine reaches it at the VM's IP.
    await until('the kubelet to answer', async () => ((await answers(ip)) ? true : undefined));
    const env = (await (await fetch(`http://${ip}:${PORT}/env`)).json()) as { root: string; started: number };
    expect(env.root).toBe(join(dir, 'vms', ZONE, 'cp-1', 'fs'));
    // The data disk holds a filesystem and what the script wrote to the mount point.
    const disk = join(dir, 'disks', ZONE, 'cp-1-pd');
    expect(existsSync(join(disk, FILESYSTEM_MARKER))).toBe(true);
    expect(readFileSync(join(disk, 'boots'), 'utf8').trim().split('\n')).toHaveLength(1);
    for (const pid of runtime.pids()) seen.add(pid);

    // Stop: nothing answers, nothing runs; start: the script runs again, the disk is not formatted again.
    await runtime.stop('cp-1', ZONE);
    expect(runtime.pids()).toEqual([]);
    expect(await answers(ip)).toBe(false);
    await runtime.start('cp-1', ZONE);
    await runtime.booted('cp-1', ZONE);
    await until('the kubelet to answer again', async () => ((await answers(ip)) ? true : undefined));
    expect(readFileSync(join(disk, 'boots'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(runtime.serialOutput('cp-1', ZONE).match(/test-boot: formatting/g)).toHaveLength(1);
    for (const pid of runtime.pids()) seen.add(pid);

    // Remove: the VM's folder and namespace go, its data disk stays for a replacement.
    await runtime.remove('cp-1', ZONE);
    expect(runtime.pids()).toEqual([]);
    expect(existsSync(join(dir, 'vms', ZONE, 'cp-1'))).toBe(false);
    expect(runtime.vpc.namespaceOf(`${ZONE}/cp-1`)).toBeUndefined();
    expect(existsSync(join(disk, 'boots'))).toBe(true);
  });

  it('restarts the unit when its process dies, as Restart=always does', async () => {
    const ip = ipAt(2);
    await runtime.boot(vm('cp-2', ip, 'cp-2-pd'));
    const startedAt = async () => {
      const response = await fetch(`http://${ip}:${PORT}/env`).catch(() => undefined);
      return response === undefined ? undefined : ((await response.json()) as { started: number }).started;
    };
    const first = await until('the kubelet to answer', startedAt);
    for (const pid of runtime.pids()) seen.add(pid);
    // The kubelet is the child of `unshare --fork` (pid 1 of its own pid namespace).
    const [unshare] = runtime.pids();
    const kubelet = Number(readFileSync(`/proc/${unshare}/task/${unshare}/children`, 'utf8').trim());
    process.kill(kubelet, 'SIGKILL');
    const second = await until('a new kubelet', async () => {
      const started = await startedAt();
      return started !== undefined && started !== first ? started : undefined;
    });
    expect(second).not.toBe(first);
    expect(runtime.serialOutput('cp-2', ZONE)).toMatch(/kubelet.service: exited .*restarting in 1s/);
    for (const pid of runtime.pids()) seen.add(pid);
    await runtime.remove('cp-2', ZONE);
  });

  it('starts a unit enabled with --now while the startup script still runs, as systemd does', async () => {
    const ip = ipAt(5);
    const spec = vm('cp-5', ip, 'cp-5-pd');
    spec.metadata['test-wait-url'] = `http://127.0.0.1:${PORT}/`;
    await runtime.boot(spec);
    await runtime.booted('cp-5', ZONE);
    for (const pid of runtime.pids()) seen.add(pid);
    const serial = runtime.serialOutput('cp-5', ZONE);
    expect(serial).toContain(`test-boot: http://127.0.0.1:${PORT}/ answered while the script ran`);
    // The kubelet started before the script ended, and only once.
    expect(serial.indexOf('Started kubelet.service')).toBeLessThan(
      serial.indexOf('startup-script exit status 0'),
    );
    expect(serial.match(/Started kubelet\.service/g)).toHaveLength(1);
    expect(runtime.pids()).toHaveLength(1);
    await runtime.remove('cp-5', ZONE);
    expect(runtime.pids()).toEqual([]);
  });

  it('probes from inside a VM, where a process bound to 0.0.0.0 answers on any local address', async () => {
    const ip = ipAt(3);
    await runtime.boot(vm('cp-3', ip, 'cp-3-pd'));
    await until('the kubelet to answer', async () => ((await answers(ip)) ? true : undefined));
    for (const pid of runtime.pids()) seen.add(pid);
    expect(await runtime.probeFrom('cp-3', ZONE, `http://127.0.0.1:${PORT}/`, 2000)).toBe(true);
    expect(await runtime.probeFrom('cp-3', ZONE, `http://${ip}:${PORT + 1}/`, 2000)).toBe(false);
    expect(await runtime.probeFrom('nope', ZONE, `http://${ip}:${PORT}/`, 2000)).toBe(false);
    await runtime.remove('cp-3', ZONE);
  });

  it('refuses names that are not GCE resource names, which would make paths', async () => {
    await expect(runtime.boot({ ...vm('cp-4', ipAt(4)), name: '../evil' })).rejects.toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    await expect(runtime.start('never-booted', ZONE)).rejects.toThrow(
      expect.objectContaining({ code: ErrorCode.NOT_FOUND }),
    );
  });
});

describe('probeHttp', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('is true for 200 and false for any other status', async () => {
    const url = await serve((request, response) => {
      response.statusCode = request.url === '/healthz' ? 200 : 503;
      response.end('ok');
    });
    expect(await probeHttp(`${url}/healthz`)).toBe(true);
    expect(await probeHttp(`${url}/other`)).toBe(false);
  });

  it('is false when nothing listens, the answer is late, or the URL is not http', async () => {
    const url = await serve(() => {
      // never answers
    });
    const started = Date.now();
    expect(await probeHttp(url, 300)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await probeHttp(`http://${randomLoopbackIp()}:1/`)).toBe(false);
    expect(await probeHttp('ftp://127.0.0.1/')).toBe(false);
    expect(await probeHttp('not a url')).toBe(false);
  });
});
