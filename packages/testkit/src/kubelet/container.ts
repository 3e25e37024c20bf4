/**
 * One container of a static pod, run as a host process: "pulled" through the image map, its paths
 * mapped to its volumes, started in its own process group, probed, and restarted with back-off as
 * its pod's restartPolicy says.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@hacp/core';
import { RestartBackOff } from './back-off.js';
import { containerProcess, findImage, imageKey, readImageMap } from './images.js';
import type { ContainerSpec, PodSpec, ProbeSpec } from './manifests.js';
import { containerMounts, pathMapper, prepareMount, vmHostPath } from './paths.js';
import {
  type ProbeAttempt,
  ProbeCounter,
  type ProbeKind,
  type ProbeResult,
  runProbeAttempt,
} from './probes.js';
import type { ContainerStatus, ContainerTermination } from './status.js';

/** What every container of a kubelet shares. */
export interface ContainerRuntime {
  vmRoot: string;
  imagesFile?: string;
  nodeIp: string;
  backoffMs: number;
  logger: Logger;
  /** Process groups running now, for the stand-in's exit hook. */
  groups: Set<number>;
  /** Called after every status change. */
  onChange: () => void;
}

/** The kubelet enforces at least 2 s between SIGTERM and SIGKILL (minimumGracePeriodInSeconds). */
const MINIMUM_GRACE_SECONDS = 2;
/** The back-off's cap as a multiple of its base: the kubelet's 10 s to 5 min. */
const BACKOFF_CAP_FACTOR = 30;
const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGTERM: 15,
};

interface Instance {
  child: ChildProcess;
  pid: number;
  startedAt: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  probes: AbortController;
  started: boolean;
  killTimer?: NodeJS.Timeout;
  forgetRecord: () => void;
}

/** The folder of pid records of the testkit's reaper, when a vitest run with its global setup started us. */
function recordForReaper(pid: number, marker: string): () => void {
  const dir = process.env.HACP_TESTKIT_PID_DIR;
  if (!dir) return () => {};
  const file = join(dir, String(pid));
  try {
    writeFileSync(file, marker);
  } catch {
    return () => {};
  }
  return () => rmSync(file, { force: true });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the whole group is gone
  }
}

/** A container of a pod, from its first start to its stop. */
export class ContainerRunner {
  readonly status: ContainerStatus;
  private readonly podLabel: string;
  private readonly restartBackOff: RestartBackOff;
  private readonly retryBackOff: RestartBackOff;
  private instance: Instance | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private instances = 0;
  private lastProblem: string | undefined;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly pod: PodSpec,
    private readonly container: ContainerSpec,
    private readonly runtime: ContainerRuntime,
  ) {
    this.podLabel = `${pod.name}/${container.name}`;
    this.restartBackOff = new RestartBackOff(runtime.backoffMs, runtime.backoffMs * BACKOFF_CAP_FACTOR);
    this.retryBackOff = new RestartBackOff(runtime.backoffMs, runtime.backoffMs * BACKOFF_CAP_FACTOR);
    this.status = {
      name: container.name,
      image: container.image,
      state: 'waiting',
      reason: 'ContainerCreating',
      ready: false,
      started: false,
      restartCount: 0,
    };
  }

  /** The container's log file on this machine: `<vm root>/var/log/pods/<pod>/<container>.log`. */
  get logFile(): string {
    return vmHostPath(this.runtime.vmRoot, `/var/log/pods/${this.pod.name}/${this.container.name}.log`);
  }

  /** Starts the container (and keeps restarting it as the restart policy says) until stop(). */
  start(): void {
    this.attempt();
  }

  /**
   * Stops the container: SIGTERM to its process group, SIGKILL after the grace period (the pod's
   * terminationGracePeriodSeconds unless given), and no more restarts.
   */
  async stop(graceSeconds = this.pod.terminationGracePeriodSeconds): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const instance = this.instance;
    if (instance !== undefined) this.kill(instance, graceSeconds);
    else if (this.status.state === 'waiting') {
      this.set({ state: 'terminated', reason: undefined, message: undefined, ready: false, started: false });
    }
    await this.done;
  }

  private set(change: Partial<ContainerStatus>): void {
    for (const [key, value] of Object.entries(change)) {
      if (value === undefined) delete (this.status as unknown as Record<string, unknown>)[key];
      else (this.status as unknown as Record<string, unknown>)[key] = value;
    }
    this.runtime.onChange();
  }

  /** Waits (ErrImagePull, ContainerCreating), logging a problem once until it changes. */
  private retryLater(reason: 'ErrImagePull' | 'ContainerCreating', message: string): void {
    if (message !== this.lastProblem) this.runtime.logger.warn(`container ${this.podLabel}: ${message}`);
    this.lastProblem = message;
    this.set({ state: 'waiting', reason, message });
    this.retryTimer = setTimeout(() => this.attempt(), this.retryBackOff.nextRetry());
  }

  /** One start attempt; a failure of this machine (a folder that cannot be made) is retried as a failed mount. */
  private attempt(): void {
    if (this.stopped) return;
    try {
      this.tryStart();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.retryLater(
        'ContainerCreating',
        `cannot prepare the container: ${code ?? (error as Error).message}`,
      );
    }
  }

  /** Appends a line of the stand-in's own to the container's log; a log that cannot be written is no reason to fail. */
  private logLine(line: string): void {
    try {
      appendFileSync(this.logFile, `==> ${new Date().toISOString()} hacp-kubelet: ${line}\n`);
    } catch {
      // the VM's folder is gone or full
    }
  }

  private tryStart(): void {
    const { runtime, container, pod } = this;
    if (runtime.imagesFile === undefined) {
      this.retryLater(
        'ErrImagePull',
        `Failed to pull image "${container.image}": no image map (HACP_VM_IMAGES is not set)`,
      );
      return;
    }
    const images = readImageMap(runtime.imagesFile);
    if ('problem' in images) {
      this.retryLater('ErrImagePull', `Failed to pull image "${container.image}": ${images.problem}`);
      return;
    }
    const entry = findImage(images.map, container.image);
    if (entry === undefined) {
      this.retryLater(
        'ErrImagePull',
        `Failed to pull image "${container.image}": not found (no entry "${imageKey(container.image)}" in the image map ${runtime.imagesFile})`,
      );
      return;
    }
    const mounts = containerMounts({ vmRoot: runtime.vmRoot, pod, container });
    for (const mount of mounts) {
      const problem = prepareMount(mount);
      if (problem !== undefined) {
        this.retryLater(
          'ContainerCreating',
          `MountVolume.SetUp failed for volume "${mount.volume.name}": ${problem}`,
        );
        return;
      }
    }
    this.lastProblem = undefined;
    const mapPath = pathMapper(mounts);
    const mapped: ContainerSpec = {
      ...container,
      ...(container.command === undefined ? {} : { command: container.command.map(mapPath) }),
      ...(container.args === undefined ? {} : { args: container.args.map(mapPath) }),
    };
    const { program, args, imageEnv } = containerProcess(mapped, entry);
    const home = vmHostPath(runtime.vmRoot, '/root');
    mkdirSync(home, { recursive: true, mode: 0o700 });
    // A container's environment: the image's and its own, never the stand-in's (PATH aside, so
    // that an image map may name `node`).
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOSTNAME: hostname(),
      HOME: home,
      ...imageEnv,
      ...Object.fromEntries(container.env.map((variable) => [variable.name, mapPath(variable.value)])),
    };
    const cwd = container.workingDir === undefined ? runtime.vmRoot : mapPath(container.workingDir);
    if (cwd !== container.workingDir && !existsSync(cwd)) mkdirSync(cwd, { recursive: true, mode: 0o755 });
    this.spawnInstance({ program, args, env, cwd, mapPath });
  }

  private spawnInstance(command: {
    program: string;
    args: string[];
    env: NodeJS.ProcessEnv;
    cwd: string;
    mapPath: (value: string) => string;
  }): void {
    const { runtime, container } = this;
    const restart = this.instances;
    this.instances += 1;
    mkdirSync(join(this.logFile, '..'), { recursive: true, mode: 0o755 });
    const now = new Date().toISOString();
    this.logLine(
      `${restart === 0 ? 'starting' : `restarting (restart ${restart})`} container ${this.podLabel}: ${command.program}`,
    );
    let cwdProblem: string | undefined;
    try {
      if (!statSync(command.cwd).isDirectory()) cwdProblem = `working folder ${command.cwd} is not a folder`;
    } catch {
      cwdProblem = `working folder ${command.cwd} does not exist`;
    }
    let child: ChildProcess | undefined;
    let startError: string | undefined = cwdProblem;
    if (cwdProblem === undefined) {
      const log = openSync(this.logFile, 'a');
      try {
        // detached: a process group (and session) of its own, so a stop reaches its whole tree.
        child = spawn(command.program, command.args, {
          cwd: command.cwd,
          env: command.env,
          detached: true,
          stdio: ['ignore', log, log],
        });
      } catch (error) {
        startError = (error as Error).message;
      } finally {
        closeSync(log);
      }
    }
    if (restart > 0) this.set({ restartCount: this.status.restartCount + 1 });
    if (child === undefined || child.pid === undefined) {
      const finish = (message: string) =>
        this.onExit(undefined, { code: null, signal: null }, { startedAt: now, startError: message });
      if (child === undefined) finish(startError ?? 'could not start');
      else
        child.once('error', (error) =>
          finish(
            `failed to start "${command.program}": ${(error as NodeJS.ErrnoException).code ?? error.message}`,
          ),
        );
      return;
    }
    const pid = child.pid;
    runtime.groups.add(pid);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    const instance: Instance = {
      child,
      pid,
      startedAt: now,
      exited,
      probes: new AbortController(),
      started: container.startupProbe === undefined,
      forgetRecord: recordForReaper(pid, [command.program, ...command.args].join(' ')),
    };
    this.instance = instance;
    runtime.logger.info(
      `container ${this.podLabel} started, pid ${pid}${restart > 0 ? ` (restart ${restart})` : ''}`,
    );
    this.set({
      state: 'running',
      reason: undefined,
      message: undefined,
      exitCode: undefined,
      pid,
      startedAt: now,
      started: instance.started,
      ready: instance.started && container.readinessProbe === undefined,
    });
    this.startProbes(instance, command);
    const finished = exited.then((exit) => this.onExit(instance, exit, { startedAt: now }));
    this.done = finished;
  }

  private onExit(
    instance: Instance | undefined,
    exit: { code: number | null; signal: NodeJS.Signals | null },
    context: { startedAt: string; startError?: string },
  ): void {
    const finishedAt = new Date();
    if (instance !== undefined) {
      instance.probes.abort();
      clearTimeout(instance.killTimer);
      // As when a container's init process dies: nothing of its tree outlives it.
      killGroup(instance.pid, 'SIGKILL');
      this.runtime.groups.delete(instance.pid);
      instance.forgetRecord();
      this.instance = undefined;
    }
    const exitCode = exit.code ?? (exit.signal === null ? 128 : 128 + (SIGNAL_NUMBERS[exit.signal] ?? 0));
    const termination: ContainerTermination = {
      reason: context.startError !== undefined ? 'StartError' : exitCode === 0 ? 'Completed' : 'Error',
      exitCode,
      ...(exit.signal === null ? {} : { signal: exit.signal }),
      ...(context.startError === undefined ? {} : { message: context.startError }),
      startedAt: context.startedAt,
      finishedAt: finishedAt.toISOString(),
    };
    const how =
      context.startError !== undefined
        ? `could not start: ${context.startError}`
        : exit.signal !== null
          ? `was ended by ${exit.signal}`
          : `exited with code ${exitCode}`;
    this.runtime.logger.info(`container ${this.podLabel} ${how}`);
    this.logLine(`container ${this.podLabel} ${how}`);
    const policy = this.pod.restartPolicy;
    const restart = !this.stopped && (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0));
    if (!restart) {
      this.set({
        state: 'terminated',
        reason: termination.reason,
        message: context.startError,
        exitCode,
        pid: undefined,
        startedAt: context.startedAt,
        ready: false,
        started: false,
      });
      return;
    }
    const delay = this.restartBackOff.delayAfter(finishedAt.getTime(), Date.now());
    if (delay === 0) {
      this.set({ lastState: termination, pid: undefined, ready: false, started: false });
      this.attempt();
      return;
    }
    const message = `back-off ${Math.round(delay / 100) / 10}s restarting failed container=${this.container.name} pod=${this.pod.name}`;
    this.runtime.logger.info(`container ${this.podLabel}: ${message}`);
    this.set({
      state: 'waiting',
      reason: 'CrashLoopBackOff',
      message,
      lastState: termination,
      pid: undefined,
      startedAt: undefined,
      exitCode: undefined,
      ready: false,
      started: false,
    });
    this.retryTimer = setTimeout(() => this.attempt(), delay);
  }

  /** SIGTERM to the group, SIGKILL after the grace; the exit handler does the rest. */
  private kill(instance: Instance, graceSeconds: number): void {
    instance.probes.abort();
    if (instance.killTimer !== undefined) return;
    killGroup(instance.pid, 'SIGTERM');
    instance.killTimer = setTimeout(
      () => killGroup(instance.pid, 'SIGKILL'),
      Math.max(graceSeconds, MINIMUM_GRACE_SECONDS) * 1000,
    );
  }

  private startProbes(
    instance: Instance,
    command: { env: NodeJS.ProcessEnv; cwd: string; mapPath: (value: string) => string },
  ): void {
    for (const kind of ['startup', 'liveness', 'readiness'] as const) {
      const spec = this.container[`${kind}Probe`];
      if (spec !== undefined) void this.probeLoop(instance, kind, spec, command);
    }
  }

  private async probeLoop(
    instance: Instance,
    kind: ProbeKind,
    spec: ProbeSpec,
    command: { env: NodeJS.ProcessEnv; cwd: string; mapPath: (value: string) => string },
  ): Promise<void> {
    const signal = instance.probes.signal;
    const counter = new ProbeCounter(kind, spec);
    const wait = (ms: number) =>
      sleep(ms, undefined, { signal }).then(
        () => true,
        () => false,
      );
    if (!(await wait(spec.initialDelaySeconds * 1000))) return;
    while (!signal.aborted) {
      // The startup probe gates the others, and stops once it has passed.
      if (kind === 'startup' && instance.started) return;
      if (kind === 'startup' || instance.started) {
        const attempt = await runProbeAttempt(spec.handler, {
          nodeIp: this.runtime.nodeIp,
          timeoutMs: spec.timeoutSeconds * 1000,
          ports: this.container.ports,
          ...(spec.handler.kind === 'exec'
            ? {
                exec: {
                  command: spec.handler.command.map(command.mapPath),
                  env: command.env,
                  cwd: command.cwd,
                },
              }
            : {}),
        });
        if (signal.aborted) return;
        if (!attempt.ok) {
          this.runtime.logger.info(
            `container ${this.podLabel}: ${capitalized(kind)} probe failed: ${attempt.output.slice(0, 300)}`,
          );
        }
        const changed = counter.record(attempt.ok);
        if (changed !== undefined) this.onProbeResult(instance, kind, changed, spec, attempt);
        if (changed === 'failure' && kind !== 'readiness') return;
      }
      if (!(await wait(spec.periodSeconds * 1000))) return;
    }
  }

  private onProbeResult(
    instance: Instance,
    kind: ProbeKind,
    result: ProbeResult,
    spec: ProbeSpec,
    attempt: ProbeAttempt,
  ): void {
    const { logger } = this.runtime;
    if (kind === 'readiness') {
      logger.info(`container ${this.podLabel} is ${result === 'success' ? 'ready' : 'not ready'}`);
      this.set({ ready: result === 'success' });
      return;
    }
    if (result === 'success') {
      if (kind === 'startup') {
        instance.started = true;
        logger.info(`container ${this.podLabel} started: startup probe succeeded`);
        this.set({ started: true, ready: this.container.readinessProbe === undefined });
      }
      return;
    }
    logger.warn(
      `container ${this.podLabel} failed ${kind} probe, will be restarted (${attempt.output.slice(0, 300)})`,
    );
    this.kill(instance, spec.terminationGracePeriodSeconds ?? this.pod.terminationGracePeriodSeconds);
  }
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
