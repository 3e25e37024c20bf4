import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { ErrorCode, HacpError, invalidArgument, isHacpError, type Logger, resolveLogger } from '@hacp/core';
import { type SpawnedProcess, spawnTracked } from '../processes.js';

/** What the Compute API server knows of an instance when it boots it. */
export interface VmSpec {
  name: string;
  zone: string;
  /** A 127.x.y.z address; the processes listen on it themselves (their args say so). */
  networkIP: string;
  /** The instance metadata items, key → value. */
  metadata: Record<string, string>;
  /** Attached disks. The one whose deviceName is `master-pd` holds the node's rootDir. */
  disks: { name: string; deviceName: string; boot: boolean }[];
}

/**
 * Runs inserted instances on this machine: each VM's node configuration (instance metadata items
 * `hacp-files` and `hacp-node-config`, the ones a real VM's startup script reads) becomes files in a
 * folder and local processes.
 */
export interface VmRuntime {
  /** Writes the VM's files and starts its processes. Idempotent: a booted VM is left running. */
  boot(vm: VmSpec): Promise<void>;
  /** Stops the VM's processes (SIGTERM, SIGKILL after 5 s) and keeps its files. No-op for an unknown VM. */
  stop(name: string, zone: string): Promise<void>;
  /**
   * Boots a stopped VM again with the spec it was booted with (files rewritten, as the startup script
   * does on every boot).
   *
   * @throws HacpError NOT_FOUND when the VM was never booted (or was removed).
   */
  start(name: string, zone: string): Promise<void>;
  /** Stops the VM and deletes its own folder; the folders of its persistent disks stay. */
  remove(name: string, zone: string): Promise<void>;
  /** Stops every VM this runtime started. Boots after this are refused. */
  close(): Promise<void>;
  /** Pids of running VM processes, for tests. */
  pids(): number[];
}

/** The deviceName whose disk is mounted at the node's rootDir (kube-up's master PD). */
const ROOT_DEVICE_NAME = 'master-pd';
/** How long a process gets between SIGTERM and SIGKILL, as on a GCE instance stop. */
const STOP_GRACE_MS = 5000;
const NODE_CONFIG_FORMAT = 1;
// GCE resource names (RFC 1035 labels): safe as folder names.
const RESOURCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
// Relative POSIX path of safe segments, no `.`/`..` segment, no empty segment (as @hacp/core's NodeFile).
const SAFE_PATH = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const ABSOLUTE_PATH = /^(?!.*\/\.\.?(\/|$))(\/[A-Za-z0-9._-]+)+$/;
const FILE_LINE = /^([0-7]{3,4}) (\S+)(?: ([A-Za-z0-9+/]*={0,2}))?$/;
const PROCESS_NAME = /^[a-z][a-z0-9-]*$/;

interface VmFile {
  path: string;
  mode: number;
  contents: Buffer;
}

interface VmProcess {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** What booting a VM does, or why a real VM's startup script would fail on it. */
type BootPlan = { files: VmFile[]; processes: VmProcess[] } | { problem: string };

function parseFiles(text: string | undefined): VmFile[] | string {
  const files: VmFile[] = [];
  const seen = new Set<string>();
  for (const [index, line] of (text ?? '').split('\n').entries()) {
    if (line.trim() === '') continue;
    const match = FILE_LINE.exec(line);
    const path = match?.[2] ?? '';
    if (match === null || !SAFE_PATH.test(path)) {
      return `hacp-files line ${index + 1} is not "<octal mode> <relative path> <base64 contents>"`;
    }
    const mode = Number.parseInt(match[1] as string, 8);
    if (mode > 0o777) return `hacp-files line ${index + 1}: mode ${match[1]} is above 0777`;
    if (seen.has(path)) return `hacp-files names ${path} twice`;
    seen.add(path);
    files.push({ path, mode, contents: Buffer.from(match[3] ?? '', 'base64') });
  }
  return files;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

/**
 * Replaces `rootDir` by `folder` where it starts a path: at the start of the value or after `=`,
 * `,` or `:` (flag values, lists), and followed by `/`, the end, `,` or `:`. So
 * `--data-dir=/mnt/disks/master-pd/etcd` moves, `/mnt/disks/master-pd-2` does not.
 */
function relocate(value: string, rootDir: string, folder: string): string {
  const escaped = rootDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return value.replace(
    new RegExp(`(^|[=,:])${escaped}(?=/|$|[,:])`, 'g'),
    (_, before: string) => before + folder,
  );
}

function parseProcesses(text: string | undefined, folder: string): VmProcess[] | string {
  if (text === undefined) return [];
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    return 'hacp-node-config is not JSON';
  }
  if (typeof config !== 'object' || config === null) return 'hacp-node-config is not a JSON object';
  const { format, rootDir, processes } = config as Record<string, unknown>;
  if (format !== NODE_CONFIG_FORMAT) {
    return `hacp-node-config has format ${JSON.stringify(format)}; this runtime reads format ${NODE_CONFIG_FORMAT}`;
  }
  if (typeof rootDir !== 'string' || !ABSOLUTE_PATH.test(rootDir)) {
    return 'hacp-node-config.rootDir is not an absolute path below /';
  }
  if (!Array.isArray(processes)) return 'hacp-node-config.processes is not a list';
  const result: VmProcess[] = [];
  for (const [index, item] of processes.entries()) {
    const { name, command, args = [], env = {} } = (item ?? {}) as Record<string, unknown>;
    const where = `hacp-node-config.processes[${index}]`;
    if (typeof name !== 'string' || !PROCESS_NAME.test(name) || result.some((p) => p.name === name)) {
      return `${where}.name is not a unique lowercase name`;
    }
    if (typeof command !== 'string' || command === '') return `${where}.command is empty`;
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
      return `${where}.args is not a list of strings`;
    }
    if (!isStringRecord(env)) return `${where}.env is not an object of strings`;
    result.push({
      name,
      command: relocate(command, rootDir, folder),
      args: args.map((a) => relocate(a, rootDir, folder)),
      env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, relocate(v, rootDir, folder)])),
    });
  }
  return result;
}

function planBoot(spec: VmSpec, rootFolder: string): BootPlan {
  const files = parseFiles(spec.metadata['hacp-files']);
  if (typeof files === 'string') return { problem: files };
  const processes = parseProcesses(spec.metadata['hacp-node-config'], rootFolder);
  if (typeof processes === 'string') return { problem: processes };
  return { files, processes };
}

/** Writes a file with exactly `mode` (not masked by the umask), replacing it atomically. */
function writeNodeFile(root: string, file: VmFile): void {
  const target = join(root, file.path);
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const temporary = `${target}.${process.pid}.tmp`;
  writeFileSync(temporary, file.contents, { mode: file.mode });
  chmodSync(temporary, file.mode);
  renameSync(temporary, target);
}

interface VmState {
  spec: VmSpec;
  running: boolean;
  processes: Map<string, SpawnedProcess>;
  /** Processes being stopped on purpose, whose exit is not worth a warning. */
  stopping: Set<SpawnedProcess>;
}

/**
 * A VM runtime keeping its folders under `dir`: `vms/<zone>/<name>/` (process logs, and `root/` when
 * no `master-pd` disk is attached) and `disks/<zone>/<disk>/` (a persistent disk's contents, which
 * outlive the VM, so a replacement VM attaching the same disk finds the old data). The node's
 * rootDir maps to the disk folder (or `root/`), in file paths and in every process arg and env value.
 *
 * @example
 * const runtime = createVmRuntime({ dir: '/tmp/compute', logger });
 * await runtime.boot({ name: 'cp-1', zone: 'europe-west1-b', networkIP: '127.100.0.2',
 *   metadata: { 'hacp-files': files, 'hacp-node-config': nodeConfig },
 *   disks: [{ name: 'cp-1-pd', deviceName: 'master-pd', boot: false }] });
 * await runtime.close();
 */
export function createVmRuntime(options: { dir: string; logger?: Logger }): VmRuntime {
  const logger = resolveLogger(options.logger);
  const vms = new Map<string, VmState>();
  // One operation at a time per VM, so a stop during a boot waits for the boot's processes.
  const queues = new Map<string, Promise<unknown>>();
  let closed = false;

  const keyOf = (name: string, zone: string) => `${zone}/${name}`;
  const vmFolder = (name: string, zone: string) => join(options.dir, 'vms', zone, name);

  function checkNames(name: string, zone: string): void {
    for (const [field, value] of [
      ['name', name],
      ['zone', zone],
    ] as const) {
      if (!RESOURCE_NAME.test(value)) {
        throw invalidArgument({
          field,
          value,
          message: `VM ${field} "${value}" is not a GCE resource name.`,
        });
      }
    }
  }

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

  function rootFolder(spec: VmSpec): string {
    const disk = spec.disks.find((d) => d.deviceName === ROOT_DEVICE_NAME);
    if (disk === undefined) return join(vmFolder(spec.name, spec.zone), 'root');
    if (!RESOURCE_NAME.test(disk.name)) {
      throw invalidArgument({
        field: 'disks.name',
        value: disk.name,
        message: `Disk name "${disk.name}" is not a GCE resource name.`,
      });
    }
    return join(options.dir, 'disks', spec.zone, disk.name);
  }

  /** Boots the VM; if that fails half-way, stops what it started and rethrows. */
  async function launch(state: VmState): Promise<void> {
    try {
      bootProcesses(state);
    } catch (error) {
      await halt(state);
      throw error;
    }
  }

  function bootProcesses(state: VmState): void {
    const { spec } = state;
    const folder = vmFolder(spec.name, spec.zone);
    const root = rootFolder(spec);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    mkdirSync(root, { recursive: true, mode: 0o700 });
    state.running = true;
    const plan = planBoot(spec, root);
    if ('problem' in plan) {
      // A real VM's startup script would fail here too: the VM runs, with nothing on it.
      logger.error('VM booted without its node configuration', {
        vm: spec.name,
        zone: spec.zone,
        problem: plan.problem,
      });
      return;
    }
    for (const file of plan.files) writeNodeFile(root, file);
    for (const definition of plan.processes) {
      const logFile = join(folder, `${definition.name}.log`);
      let spawned: SpawnedProcess;
      try {
        spawned = spawnTracked({
          command: definition.command,
          args: definition.args,
          logFile,
          // The whole command line: the global setup's reaper only kills a pid still running it.
          marker: [definition.command, ...definition.args].join(' '),
          env: definition.env,
        });
      } catch (error) {
        if (!isHacpError(error, ErrorCode.DEPENDENCY_MISSING)) throw error;
        logger.error('VM process not started: its command is not installed', {
          vm: spec.name,
          zone: spec.zone,
          process: definition.name,
          command: definition.command,
        });
        continue;
      }
      state.processes.set(definition.name, spawned);
      void spawned.exited.then(({ code, signal }) => {
        if (state.stopping.has(spawned)) return;
        logger.warn('VM process exited', {
          vm: spec.name,
          zone: spec.zone,
          process: definition.name,
          code,
          signal,
          logFile,
        });
      });
    }
    logger.info('VM booted', {
      vm: spec.name,
      zone: spec.zone,
      networkIP: spec.networkIP,
      root,
      files: plan.files.length,
      processes: [...state.processes.keys()],
    });
  }

  async function halt(state: VmState): Promise<void> {
    const processes = [...state.processes.values()];
    for (const p of processes) state.stopping.add(p);
    await Promise.all(processes.map((p) => p.stop({ signal: 'SIGTERM', graceMs: STOP_GRACE_MS })));
    state.processes.clear();
    state.stopping.clear();
    state.running = false;
  }

  return {
    async boot(vm) {
      checkNames(vm.name, vm.zone);
      const spec: VmSpec = structuredClone(vm);
      return serially(keyOf(vm.name, vm.zone), async () => {
        refuseWhenClosed(vm.name);
        const existing = vms.get(keyOf(vm.name, vm.zone));
        if (existing?.running) return;
        const state: VmState = { spec, running: false, processes: new Map(), stopping: new Set() };
        vms.set(keyOf(vm.name, vm.zone), state);
        await launch(state);
      });
    },

    async start(name, zone) {
      checkNames(name, zone);
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
      checkNames(name, zone);
      return serially(keyOf(name, zone), async () => {
        const state = vms.get(keyOf(name, zone));
        if (state !== undefined) await halt(state);
      });
    },

    async remove(name, zone) {
      checkNames(name, zone);
      return serially(keyOf(name, zone), async () => {
        const state = vms.get(keyOf(name, zone));
        if (state !== undefined) await halt(state);
        vms.delete(keyOf(name, zone));
        rmSync(vmFolder(name, zone), { recursive: true, force: true });
      });
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
    },

    pids() {
      return [...vms.values()].flatMap((state) =>
        [...state.processes.values()].filter((p) => p.isRunning()).map((p) => p.pid),
      );
    },
  };
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
