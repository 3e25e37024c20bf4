import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, HacpError, invalidArgument, type Logger, resolveLogger } from '@hacp/core';
import { KUBELET_STAND_IN_CLI } from '../kubelet-stand-in.js';
import { testKubernetesBinaries } from '../kubernetes.js';
import type { ImageSources } from './guest-images.js';
import { type GuestServices, startGuestServices } from './guest-services.js';
import { writeStandIns } from './guest-stand-ins.js';
import { Guest, serialLine } from './vm-guest.js';
import { createVpc, type Vpc } from './vpc.js';

/** What the Compute API server knows of an instance when it boots it. */
export interface VmSpec {
  name: string;
  zone: string;
  /** The instance's id: GCE's number, the same across stops and starts, new for a new instance. */
  id?: string;
  /** The instance's internal IP, from the VPC's range: the address of its network namespace. */
  networkIP: string;
  /** The instance metadata items, key → value: what the metadata server answers it. */
  metadata: Record<string, string>;
  /** Attached disks. The one whose deviceName is `master-pd` is the data disk the startup script mounts. */
  disks: { name: string; deviceName: string; boot: boolean }[];
}

/**
 * Runs inserted instances on this machine the way GCE boots them: each VM gets a network namespace of
 * its own in the server's VPC and a root folder; after the boot delay its `startup-script` runs with
 * real bash, reading the metadata server and downloading the kubelet; the kubelet it enables (the
 * testkit's stand-in) runs the static pods the script wrote, with the real binaries.
 */
export interface VmRuntime {
  /** The VPC the VMs live in. */
  readonly vpc: Vpc;
  /** Starts the VM: its network now, its startup script after the boot delay. A running VM is left alone. */
  boot(vm: VmSpec): Promise<void>;
  /** Stops the VM's processes (the kubelet stops its pods) and keeps its files and disks. No-op for an unknown VM. */
  stop(name: string, zone: string): Promise<void>;
  /**
   * Boots a stopped VM again with the spec it was booted with (its startup script runs again).
   *
   * @throws HacpError NOT_FOUND when the VM was never booted (or was removed).
   */
  start(name: string, zone: string): Promise<void>;
  /** Stops the VM and deletes its own folder and namespace; the folders of its persistent disks stay. */
  remove(name: string, zone: string): Promise<void>;
  /** Deletes a persistent disk's contents (the API deleted the disk): a new disk of that name starts empty. */
  deleteDisk(name: string, zone: string): Promise<void>;
  /** Stops every VM, the guest services and the VPC. Boots after this are refused. */
  close(): Promise<void>;
  /** Pids of running VM processes (startup scripts and kubelets), for tests. */
  pids(): number[];
  /** What the VM printed to its serial console: boot lines and the startup script's output ('' if never booted). */
  serialOutput(name: string, zone: string): string;
  /** The kubelet's pod status (its hacp-pods.json), if the VM's kubelet wrote one. */
  podStatus(name: string, zone: string): unknown;
  /** Resolves when the VM's current boot has run its startup script (at once for an unknown VM). */
  booted(name: string, zone: string): Promise<void>;
  /** GETs `url` from inside the VM's network namespace (as a health check reaches it): true for HTTP 200. */
  probeFrom(name: string, zone: string, url: string, timeoutMs: number): Promise<boolean>;
}

/** Options of createVmRuntime. */
export interface VmRuntimeOptions {
  dir: string;
  logger?: Logger;
  /** From insert (or start) to the startup script; default 1000 ms (GCE: 20–40 s, scaled down for tests). */
  bootDelayMs?: number;
  /**
   * The programs this machine has for the pods' images; the Kubernetes images default to the test
   * runs' binaries of their version from HACP_KUBE_RELEASE_URL (testKubernetesBinaries), the add-on
   * manager's to this workspace's build of hacp's add-on manager.
   */
  images?: ImageSources;
  /** What the served `kubelet` runs (its arguments appended); default the testkit's kubelet stand-in. */
  kubeletCommand?: readonly string[];
  /** How often the kubelet re-reads its manifest folder; default 500 ms. */
  kubeletSyncMs?: number;
  /**
   * More HACP_* overrides for every startup script, over the runtime's own (a test's shorter
   * `HACP_HEALTH_WAIT_SECONDS`, so that a replica whose health endpoint stays silent fails its boot).
   */
  startupEnv?: Readonly<Record<string, string>>;
}

// GCE resource names (RFC 1035 labels): safe as folder names.
const RESOURCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** The deviceName of the data disk the startup script mounts (kube-up's master PD). */
const DATA_DEVICE_NAME = 'master-pd';

interface VmState {
  spec: VmSpec;
  guest: Guest;
  running: boolean;
  bootTimer: NodeJS.Timeout | undefined;
  boot: Promise<void>;
}

function checkName(field: 'name' | 'zone' | 'disks.name', value: string): void {
  if (!RESOURCE_NAME.test(value)) {
    throw invalidArgument({ field, value, message: `VM ${field} "${value}" is not a GCE resource name.` });
  }
}

/**
 * hacp's add-on manager as this workspace builds it (packages/addon-manager/dist/main.js, beside this
 * package), run by this machine's Node; undefined where it is not built.
 */
function workspaceAddonManager(): string[] | undefined {
  // This module runs from dist/ (built) or src/compute-api/ (vitest): packages/ is two or three up.
  for (const up of ['../../', '../../../']) {
    const main = fileURLToPath(new URL(`${up}addon-manager/dist/main.js`, import.meta.url));
    if (existsSync(main)) return [process.execPath, main];
  }
  return undefined;
}

/** The Kubernetes binaries of `version` from the test runs' release location, if it has them. */
async function releaseBinaries(version: string): Promise<Readonly<Record<string, string>> | undefined> {
  const found = await testKubernetesBinaries(`v${version}`);
  return found.binaries?.paths;
}

/**
 * A VM runtime keeping its folders under `dir`: `vms/<zone>/<name>/` (the serial console, the kubelet's
 * log and `fs/`, the VM's root filesystem) and `disks/<zone>/<disk>/` (a persistent disk, which outlives
 * the VM, so a replacement VM attaching the same disk finds the old data).
 *
 * @example
 * const runtime = await createVmRuntime({ dir: '/tmp/compute', logger });
 * await runtime.boot({ name: 'cp-1', zone: 'europe-west1-b', networkIP: runtime.vpc.gateway ...,
 *   metadata: { 'startup-script': script }, disks: [{ name: 'cp-1-pd', deviceName: 'master-pd', boot: false }] });
 * await runtime.close();
 * @throws HacpError DEPENDENCY_MISSING when this machine cannot make network namespaces.
 */
export async function createVmRuntime(options: VmRuntimeOptions): Promise<VmRuntime> {
  const logger = resolveLogger(options.logger);
  const bootDelayMs = options.bootDelayMs ?? 1000;
  const vpc = await createVpc();
  const vms = new Map<string, VmState>();
  const queues = new Map<string, Promise<unknown>>();
  let closed = false;
  const keyOf = (name: string, zone: string) => `${zone}/${name}`;
  const vmFolder = (name: string, zone: string) => join(options.dir, 'vms', zone, name);
  const standIns = writeStandIns(join(options.dir, 'stand-ins'));
  const services: GuestServices = await startGuestServices({
    host: vpc.gateway,
    vmAt: (ip) => [...vms.values()].find((state) => state.spec.networkIP === ip && state.running)?.spec,
    kubeletCommand: options.kubeletCommand ?? [process.execPath, KUBELET_STAND_IN_CLI],
  }).catch(async (error) => {
    await vpc.close();
    throw error;
  });
  const context = {
    standIns,
    metadataUrl: services.metadataUrl,
    releaseUrl: services.releaseUrl,
    images: { kubernetes: releaseBinaries, addonManager: workspaceAddonManager(), ...options.images },
    kubeletSyncMs: options.kubeletSyncMs ?? 500,
    startupEnv: options.startupEnv ?? {},
    logger,
  };

  function serially<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = queues.get(key) ?? Promise.resolve();
    const next = previous.then(operation, operation);
    const settled = next.catch(() => undefined);
    queues.set(key, settled);
    void settled.then(() => {
      if (queues.get(key) === settled) queues.delete(key);
    });
    return next;
  }

  function refuseWhenClosed(name: string): void {
    if (closed) {
      throw new HacpError({
        code: ErrorCode.UNAVAILABLE,
        message: `Cannot boot VM ${name}: the VM runtime is closed.`,
        retryable: false,
      });
    }
  }

  function deviceOf(spec: VmSpec): string {
    const disk = spec.disks.find((d) => d.deviceName === DATA_DEVICE_NAME);
    if (disk === undefined) return join(vmFolder(spec.name, spec.zone), 'no-data-disk');
    checkName('disks.name', disk.name);
    const folder = join(options.dir, 'disks', spec.zone, disk.name);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    return folder;
  }

  /** Network now; the startup script after the boot delay, as a GCE VM is RUNNING before its guest is up. */
  async function launch(state: VmState): Promise<void> {
    const { spec } = state;
    state.running = true;
    state.guest.layout.namespace = await vpc.attach(keyOf(spec.name, spec.zone), spec.networkIP);
    state.boot = new Promise<void>((resolve) => {
      state.bootTimer = setTimeout(() => {
        state.bootTimer = undefined;
        if (!state.running) return resolve();
        state.guest.boot(spec.metadata).then(resolve, (error: unknown) => {
          logger.error('VM boot failed', { vm: spec.name, zone: spec.zone, error: String(error) });
          serialLine(state.guest.layout, `boot failed: ${String(error)}`);
          resolve();
        });
      }, bootDelayMs);
    });
  }

  async function halt(state: VmState): Promise<void> {
    state.running = false;
    if (state.bootTimer !== undefined) clearTimeout(state.bootTimer);
    state.bootTimer = undefined;
    await state.guest.halt();
  }

  function newState(spec: VmSpec): VmState {
    const folder = vmFolder(spec.name, spec.zone);
    const fs = join(folder, 'fs');
    mkdirSync(fs, { recursive: true, mode: 0o755 });
    const guest = new Guest(
      { folder, fs, device: deviceOf(spec), namespace: '', networkIP: spec.networkIP },
      context,
    );
    return { spec, guest, running: false, bootTimer: undefined, boot: Promise.resolve() };
  }

  return {
    vpc,

    async boot(vm) {
      checkName('name', vm.name);
      checkName('zone', vm.zone);
      const spec: VmSpec = structuredClone(vm);
      return serially(keyOf(vm.name, vm.zone), async () => {
        refuseWhenClosed(vm.name);
        const existing = vms.get(keyOf(vm.name, vm.zone));
        if (existing?.running) return;
        const state = newState(spec);
        vms.set(keyOf(vm.name, vm.zone), state);
        await launch(state);
      });
    },

    async start(name, zone) {
      checkName('name', name);
      checkName('zone', zone);
      return serially(keyOf(name, zone), async () => {
        refuseWhenClosed(name);
        const state = vms.get(keyOf(name, zone));
        if (state === undefined) {
          throw new HacpError({
            code: ErrorCode.NOT_FOUND,
            message: `VM ${name} in ${zone} was never booted by this runtime.`,
            details: { vm: name, zone },
          });
        }
        if (!state.running) await launch(state);
      });
    },

    async stop(name, zone) {
      checkName('name', name);
      checkName('zone', zone);
      return serially(keyOf(name, zone), async () => {
        const state = vms.get(keyOf(name, zone));
        if (state === undefined || !state.running) return;
        await halt(state);
        serialLine(state.guest.layout, 'Instance stopped.');
      });
    },

    async remove(name, zone) {
      checkName('name', name);
      checkName('zone', zone);
      return serially(keyOf(name, zone), async () => {
        const state = vms.get(keyOf(name, zone));
        if (state !== undefined) await halt(state);
        vms.delete(keyOf(name, zone));
        await vpc.detach(keyOf(name, zone));
        rmSync(vmFolder(name, zone), { recursive: true, force: true });
      });
    },

    async deleteDisk(name, zone) {
      checkName('disks.name', name);
      checkName('zone', zone);
      rmSync(join(options.dir, 'disks', zone, name), { recursive: true, force: true });
    },

    async close() {
      closed = true;
      await Promise.all(
        [...vms.keys()].map((key) =>
          serially(key, async () => {
            const state = vms.get(key);
            if (state !== undefined) await halt(state);
          }),
        ),
      );
      await services.close();
      await vpc.close();
    },

    pids() {
      return [...vms.values()].flatMap((state) => state.guest.pids());
    },

    serialOutput(name, zone) {
      try {
        return readFileSync(join(vmFolder(name, zone), 'serial.log'), 'utf8');
      } catch {
        return '';
      }
    },

    podStatus(name, zone) {
      return vms.get(keyOf(name, zone))?.guest.podStatus();
    },

    async booted(name, zone) {
      await vms.get(keyOf(name, zone))?.boot;
    },

    probeFrom(name, zone, url, timeoutMs) {
      const namespace = vpc.namespaceOf(keyOf(name, zone));
      if (namespace === undefined) return Promise.resolve(false);
      return probeInNamespace(namespace, url, timeoutMs);
    },
  };
}

/** curl inside a namespace: true for HTTP 200 within the time limit (certificates not verified). */
function probeInNamespace(namespace: string, url: string, timeoutMs: number): Promise<boolean> {
  const seconds = (Math.max(timeoutMs, 100) / 1000).toFixed(1);
  return new Promise((resolve) => {
    execFile(
      'ip',
      [
        'netns',
        'exec',
        namespace,
        'curl',
        '-sk',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-m',
        seconds,
        url,
      ],
      { timeout: timeoutMs + 5000 },
      (_error, stdout) => resolve(String(stdout).trim() === '200'),
    );
  });
}

/**
 * GETs `url` the way a GCE legacy HTTP health check does: healthy only on status 200 within the
 * time limit. HTTPS certificates are not verified (health checkers do not verify them either).
 *
 * @returns true for HTTP 200 within `timeoutMs` (default 1000); false on any other status or error.
 */
export function probeHttp(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve(false);
      return;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      resolve(false);
      return;
    }
    let settled = false;
    const finish = (healthy: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(healthy);
    };
    const onResponse = (response: IncomingMessage) => {
      response.resume();
      finish(response.statusCode === 200);
    };
    // agent: false — a fresh connection per probe, none kept alive after the answer.
    const request =
      target.protocol === 'https:'
        ? httpsRequest(target, { method: 'GET', agent: false, rejectUnauthorized: false }, onResponse)
        : httpRequest(target, { method: 'GET', agent: false }, onResponse);
    const timer = setTimeout(() => {
      finish(false);
      request.destroy();
    }, timeoutMs);
    request.on('error', () => finish(false));
    request.end();
  });
}
