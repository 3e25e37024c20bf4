import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@hacp/core';
import { type SpawnedProcess, spawnTracked } from '../processes.js';
import { type ImageSources, imageMap, manifestImages } from './guest-images.js';
import type { StandIns } from './guest-stand-ins.js';

/** Where one VM's guest lives on this machine, and what it reaches. */
export interface GuestLayout {
  /** `vms/<zone>/<name>/`: the serial console, the kubelet's log and the VM's root filesystem `fs/`. */
  folder: string;
  /** The boot disk: what `/` is for the VM (kept across stop and start, deleted with the VM). */
  fs: string;
  /** The data disk's folder (the "device"), or a path that does not exist when none is attached. */
  device: string;
  namespace: string;
  networkIP: string;
}

/** What a guest needs from the runtime. */
export interface GuestContext {
  standIns: StandIns;
  metadataUrl: string;
  releaseUrl: string;
  images: ImageSources;
  kubeletSyncMs: number;
  /** Overrides laid over the startup script's environment (VmRuntimeOptions.startupEnv). */
  startupEnv: Readonly<Record<string, string>>;
  logger: Logger;
}

/** Paths inside the VM that the startup script is told about through its HACP_* overrides. */
const VM_PATHS = {
  root: 'mnt/disks/master-pd',
  manifests: 'etc/kubernetes/manifests',
  kubeletConfig: 'etc/kubernetes',
  bin: 'home/kubernetes/bin',
  systemd: 'etc/systemd/system',
  containerdSocket: 'run/containerd/containerd.sock',
  containerdConfig: 'etc/containerd/config.toml',
  containerdCertsDir: 'etc/containerd/certs.d',
} as const;

const KUBELET_UNIT = 'kubelet.service';
/** How long the kubelet gets between SIGTERM and SIGKILL, as systemd's default stop timeout would be cut short on a GCE stop. */
const KUBELET_STOP_GRACE_MS = 10_000;
/** How often the runtime looks for the unit requests the startup script makes while it runs. */
const UNIT_REQUEST_POLL_MS = 250;
const RESTART_SEC = /^RestartSec=(\d+)/m;
const EXEC_START = /^ExecStart=(.+)$/m;

/** Appends a line to the VM's serial console, as the guest agent logs to it. */
export function serialLine(layout: GuestLayout, line: string): void {
  appendFileSync(join(layout.folder, 'serial.log'), `${new Date().toISOString()} ${line}\n`, { mode: 0o600 });
}

function env(layout: GuestLayout, context: GuestContext): Record<string, string> {
  const at = (path: string) => join(layout.fs, path);
  mkdirSync(at('tmp'), { recursive: true, mode: 0o1777 });
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    TMPDIR: at('tmp'),
    HACP_METADATA_URL: context.metadataUrl,
    HACP_RELEASE_URL: context.releaseUrl,
    HACP_ROOT: at(VM_PATHS.root),
    HACP_DEVICE: layout.device,
    HACP_DEVICE_WAIT_SECONDS: '10',
    HACP_MANIFESTS_DIR: at(VM_PATHS.manifests),
    HACP_KUBELET_CONFIG_DIR: at(VM_PATHS.kubeletConfig),
    HACP_BIN_DIR: at(VM_PATHS.bin),
    HACP_SYSTEMD_DIR: at(VM_PATHS.systemd),
    HACP_CONTAINERD_SOCKET: at(VM_PATHS.containerdSocket),
    HACP_CONTAINERD_CONFIG: at(VM_PATHS.containerdConfig),
    HACP_CONTAINERD_CERTS_DIR: at(VM_PATHS.containerdCertsDir),
    HACP_CONTAINERD: context.standIns.containerd,
    HACP_MOUNT: context.standIns.mount,
    HACP_MKFS: context.standIns.mkfs,
    HACP_BLKID: context.standIns.blkid,
    HACP_MOUNTPOINT: context.standIns.mountpoint,
    HACP_SYSTEMCTL: context.standIns.systemctl,
    HACP_VM_MOUNTS: join(layout.folder, 'mounts'),
    HACP_VM_SYSTEMD_STATE: join(layout.folder, 'systemd'),
    HACP_VM_ROOT: layout.fs,
    HACP_VM_IP: layout.networkIP,
    HACP_VM_IMAGES: join(layout.folder, 'images.json'),
    HACP_KUBELET_SYNC_MS: String(context.kubeletSyncMs),
  };
}

/**
 * One VM's guest: on each boot it runs the instance's `startup-script` with real bash inside the VM's
 * network namespace (as GCE's guest agent does, output to the serial console). As systemd does, a unit
 * the script starts (`enable --now`, `start`, `restart`) starts while the script still runs: the
 * runtime acts on the systemctl stand-in's requests every UNIT_REQUEST_POLL_MS, and once more when the
 * script ends. Only kubelet.service is run (systemd's part here); its ExecStart runs in a pid namespace
 * of its own, so everything it starts dies with it.
 */
export class Guest {
  private script: SpawnedProcess | undefined;
  private kubelet: SpawnedProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  /** The unit requests being acted on, which halt waits for so that nothing starts after it. */
  private unitWork: Promise<void> = Promise.resolve();
  private running = false;
  /** Why the last boot did not bring the kubelet up, if it did not. */
  problem: string | undefined;

  constructor(
    readonly layout: GuestLayout,
    private readonly context: GuestContext,
  ) {}

  /** Runs one boot: the startup script and the units it starts. Resolves when the script has finished. */
  async boot(metadata: Readonly<Record<string, string>>): Promise<void> {
    this.running = true;
    this.problem = undefined;
    const { layout } = this;
    // A reboot starts with nothing mounted and no unit requests pending.
    rmSync(join(layout.folder, 'mounts'), { force: true });
    rmSync(join(layout.folder, 'systemd'), { recursive: true, force: true });
    serialLine(layout, `Booting instance ${layout.networkIP}`);
    const script = metadata['startup-script'];
    if (script === undefined) {
      serialLine(layout, 'google_metadata_script_runner: No startup scripts to run.');
      return;
    }
    const file = join(layout.folder, 'startup-script');
    writeFileSync(file, script, { mode: 0o700 });
    serialLine(layout, 'google_metadata_script_runner: Starting startup scripts.');
    const process = spawnTracked({
      command: 'ip',
      args: ['netns', 'exec', layout.namespace, 'bash', file],
      logFile: join(layout.folder, 'serial.log'),
      marker: file,
      env: { ...env(layout, this.context), ...this.context.startupEnv },
    });
    this.script = process;
    let scriptRunning = true;
    const exited = process.exited.finally(() => {
      scriptRunning = false;
    });
    while (scriptRunning && this.running) {
      await this.actOnUnitRequests();
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, UNIT_REQUEST_POLL_MS))]);
    }
    const { code, signal } = await exited;
    this.script = undefined;
    if (!this.running) return;
    // Requests made just before the script ended.
    await this.actOnUnitRequests();
    serialLine(layout, `google_metadata_script_runner: startup-script exit status ${code ?? signal}`);
    if (code !== 0) {
      // What the script started keeps running, as under systemd.
      this.problem = `the startup script exited with ${code ?? signal}`;
      this.context.logger.warn('VM startup script failed', { folder: layout.folder, code, signal });
    }
  }

  /** Takes (removes) one request file of the systemctl stand-in; true when it was there. */
  private takeUnitRequest(suffix: string): boolean {
    const file = join(this.layout.folder, 'systemd', `${KUBELET_UNIT}.${suffix}`);
    if (!existsSync(file)) return false;
    rmSync(file, { force: true });
    return true;
  }

  /** `restart` stops and starts the unit; `start` (and `enable --now`) starts it unless it runs. */
  private actOnUnitRequests(): Promise<void> {
    return this.unitTask(async () => {
      const restart = this.takeUnitRequest('restart');
      const start = this.takeUnitRequest('start');
      if (restart) {
        await this.stopKubelet();
        await this.startKubelet();
      } else if (start && !this.kubelet?.isRunning()) {
        await this.startKubelet();
      }
    });
  }

  /** Runs `task` after the unit work before it (one at a time, so no two kubelets start), while the VM runs. */
  private unitTask(task: () => Promise<void>): Promise<void> {
    const work = this.unitWork.then(() => (this.running ? task() : undefined));
    this.unitWork = work.catch(() => undefined);
    return work;
  }

  private async startKubelet(): Promise<void> {
    const { layout } = this;
    const unitFile = join(layout.fs, VM_PATHS.systemd, KUBELET_UNIT);
    const unit = existsSync(unitFile) ? readFileSync(unitFile, 'utf8') : '';
    const execStart = EXEC_START.exec(unit)?.[1]?.trim();
    if (execStart === undefined) {
      this.problem = `${KUBELET_UNIT} has no ExecStart`;
      serialLine(layout, `systemd: ${KUBELET_UNIT}: ${this.problem}`);
      return;
    }
    const argv = execStart.split(/\s+/);
    const images = await imageMap(manifestImages(join(layout.fs, VM_PATHS.manifests)), this.context.images);
    if (!this.running) return;
    writeFileSync(join(layout.folder, 'images.json'), JSON.stringify(images, null, 2), { mode: 0o600 });
    const kubelet = spawnTracked({
      command: 'ip',
      args: ['netns', 'exec', layout.namespace, 'unshare', '--pid', '--fork', '--kill-child', ...argv],
      logFile: join(layout.folder, 'kubelet.log'),
      marker: execStart,
      env: env(layout, this.context),
    });
    this.kubelet = kubelet;
    serialLine(layout, `systemd: Started ${KUBELET_UNIT}.`);
    const restartSeconds = Number(RESTART_SEC.exec(unit)?.[1] ?? 5);
    void kubelet.exited.then(({ code, signal }) => {
      if (this.kubelet !== kubelet || !this.running) return;
      serialLine(
        layout,
        `systemd: ${KUBELET_UNIT}: exited (${code ?? signal}); restarting in ${restartSeconds}s.`,
      );
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.unitTask(async () => {
          if (this.kubelet === kubelet) await this.startKubelet();
        }).catch((error: unknown) => {
          this.context.logger.warn('VM kubelet restart failed', {
            folder: layout.folder,
            error: String(error),
          });
        });
      }, restartSeconds * 1000);
    });
  }

  /** SIGTERM to the kubelet itself (inside the pid namespace), so it stops its pods; then the namespace. */
  private async stopKubelet(): Promise<void> {
    const kubelet = this.kubelet;
    this.kubelet = undefined;
    if (kubelet === undefined || !kubelet.isRunning()) return;
    for (const child of childrenOf(kubelet.pid)) {
      try {
        process.kill(child, 'SIGTERM');
      } catch {
        // gone
      }
    }
    // unshare exits with the kubelet; SIGCONT only wakes nothing, and after the grace it is killed,
    // and with it (--kill-child) whatever is left in the namespace.
    await kubelet.stop({ signal: 'SIGCONT', graceMs: KUBELET_STOP_GRACE_MS });
  }

  /** Stops the boot in progress and every process of the VM; its files stay. */
  async halt(): Promise<void> {
    this.running = false;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const script = this.script;
    if (script !== undefined) await script.stop({ signal: 'SIGKILL', graceMs: 1000 });
    await this.unitWork;
    await this.stopKubelet();
  }

  pids(): number[] {
    return [this.script, this.kubelet].filter((p) => p?.isRunning()).map((p) => (p as SpawnedProcess).pid);
  }

  /** The kubelet stand-in's pod status file, parsed; undefined before it wrote one. */
  podStatus(): unknown {
    try {
      return JSON.parse(readFileSync(join(this.layout.fs, 'var/lib/kubelet/hacp-pods.json'), 'utf8'));
    } catch {
      return undefined;
    }
  }
}

/** The direct children of a process, by /proc: the kubelet that `unshare --fork` started. */
function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}
