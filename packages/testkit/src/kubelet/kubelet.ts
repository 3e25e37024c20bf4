/**
 * A standalone kubelet's static pod loop: it re-reads the manifest folder, starts the pods added,
 * restarts the ones changed, stops the ones removed, and keeps the status file current.
 */
import { resolve } from 'node:path';
import { type Logger, resolveLogger } from '@hacp/core';
import { KUBELET_DEFAULTS, type KubeletConfig, readKubeletConfig } from './config.js';
import { ContainerRunner, type ContainerRuntime } from './container.js';
import { type ManifestFile, type PodSpec, readManifestFolder } from './manifests.js';
import { type KubeletStatus, type PodStatus, statusFilePath, writeStatusFile } from './status.js';

/** What runKubelet needs: the configuration file and the VM it runs in. */
export interface RunKubeletOptions {
  /** The KubeletConfiguration file (`--config`); staticPodPath is a real path on this machine. */
  configFile: string;
  /** The host folder the VM's `/` maps to (HACP_VM_ROOT): hostPath volumes, logs and status live under it. */
  vmRoot: string;
  /** The image map file (HACP_VM_IMAGES); without it every image fails to pull. */
  imagesFile?: string;
  /** The node's IP (HACP_VM_IP), the default host of probes; default 127.0.0.1. */
  nodeIp?: string;
  /** How often the manifest folder is read (HACP_KUBELET_SYNC_MS); default the config's fileCheckFrequency, else 1000. */
  syncMs?: number;
  /** The first restart back-off (HACP_KUBELET_BACKOFF_MS), doubling up to 30 times it; default 10 000. */
  backoffMs?: number;
  /** Where the kubelet's events go (pod started, probe failed, ...), one line each. */
  logger?: Logger;
}

/** A running kubelet stand-in. */
export interface Kubelet {
  readonly config: KubeletConfig;
  /** `<vmRoot>/var/lib/kubelet/hacp-pods.json`. */
  readonly statusFile: string;
  readonly syncMs: number;
  /** The status as the status file has it. */
  status(): KubeletStatus;
  /** Stops every container (each with its pod's grace period) and the manifest loop. */
  stop(): Promise<void>;
}

interface PodEntry {
  manifest: ManifestFile;
  runners: ContainerRunner[];
  /** Resolves when the pod's previous instance (same manifest file) has stopped. */
  after: Promise<void>;
}

/**
 * Starts a kubelet stand-in on this machine: the static pods of the config's staticPodPath run as
 * host processes (each image mapped to a program by the image map), with their probes, restarts and
 * back-off as a standalone kubelet has them.
 *
 * @throws HacpError NOT_FOUND when the configuration cannot be read; INVALID_ARGUMENT when it has no
 *   staticPodPath.
 * @example
 * const kubelet = await runKubelet({ configFile: '/tmp/vm/etc/kubernetes/kubelet-config.yaml', vmRoot: '/tmp/vm',
 *   imagesFile: '/tmp/images.json', logger });
 * // ... read kubelet.statusFile ...
 * await kubelet.stop();
 */
export async function runKubelet(options: RunKubeletOptions): Promise<Kubelet> {
  const config = readKubeletConfig(options.configFile);
  const logger = resolveLogger(options.logger);
  // Containers run in other folders: a relative root would mean another place to each of them.
  const vmRoot = resolve(options.vmRoot);
  const syncMs = options.syncMs ?? config.fileCheckFrequencyMs ?? KUBELET_DEFAULTS.syncMs;
  const statusFile = statusFilePath(vmRoot);
  const pods = new Map<string, PodEntry>();
  const leaving = new Set<Promise<void>>();
  let stopped = false;
  let writeQueued = false;
  let missingLogged = false;

  const status = (): KubeletStatus => ({
    kubeletPid: process.pid,
    updatedAt: new Date().toISOString(),
    pods: [...pods.values()]
      .sort((a, b) => a.manifest.file.localeCompare(b.manifest.file))
      .map(({ manifest, runners }): PodStatus => {
        if ('problem' in manifest) {
          return { name: manifest.file, manifest: manifest.file, problem: manifest.problem, containers: [] };
        }
        return {
          name: manifest.pod.name,
          manifest: manifest.file,
          containers: runners.map((runner) => ({ ...runner.status })),
        };
      }),
  });
  const writeStatus = () => {
    writeQueued = false;
    try {
      writeStatusFile(statusFile, status());
    } catch (error) {
      logger.error(
        `cannot write the status file ${statusFile}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  };
  // Changes come in bursts (one status per field): one write per burst.
  const onChange = () => {
    if (writeQueued) return;
    writeQueued = true;
    queueMicrotask(writeStatus);
  };

  const groups = new Set<number>();
  const runtime: ContainerRuntime = {
    vmRoot,
    nodeIp: options.nodeIp ?? '127.0.0.1',
    backoffMs: options.backoffMs ?? KUBELET_DEFAULTS.backoffMs,
    logger,
    groups,
    onChange,
    ...(options.imagesFile === undefined ? {} : { imagesFile: options.imagesFile }),
  };
  // Whatever ends this process, no container outlives it (a SIGKILL aside: then the caller's pid namespace does it).
  const killAll = () => {
    for (const pid of groups) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
  process.once('exit', killAll);

  const stopPod = (entry: PodEntry, why: string): Promise<void> => {
    if (entry.runners.length === 0) return entry.after;
    const name = 'pod' in entry.manifest ? entry.manifest.pod.name : entry.manifest.file;
    // A pod not started yet is stopped once the instance before it is: a third version waits for the first.
    const stopping = Promise.all([entry.after, ...entry.runners.map((runner) => runner.stop())]).then(() => {
      logger.info(`pod ${name} (${entry.manifest.file}) stopped: ${why}`);
    });
    leaving.add(stopping);
    void stopping.finally(() => leaving.delete(stopping));
    return stopping;
  };

  const startPod = (manifest: ManifestFile & { pod: PodSpec }, after: Promise<void>): PodEntry => {
    const runners = manifest.pod.containers.map(
      (container) => new ContainerRunner(manifest.pod, container, runtime),
    );
    const entry: PodEntry = { manifest, runners, after };
    // A changed pod starts once its old instance is gone, as the kubelet does for a static pod.
    void after.then(() => {
      if (stopped || pods.get(manifest.file) !== entry) return;
      logger.info(`pod ${manifest.pod.name} (${manifest.file}) starting`);
      for (const runner of runners) runner.start();
    });
    return entry;
  };

  const sync = () => {
    const manifests = readManifestFolder(config.staticPodPath);
    if (manifests === undefined) {
      if (!missingLogged)
        logger.warn(`staticPodPath ${config.staticPodPath} cannot be read; pods are left as they are`);
      missingLogged = true;
      return;
    }
    missingLogged = false;
    const files = new Set(manifests.map((manifest) => manifest.file));
    for (const [file, entry] of pods) {
      if (!files.has(file)) {
        pods.delete(file);
        logger.info(`manifest ${file} removed`);
        void stopPod(entry, 'its manifest was removed');
        onChange();
      }
    }
    for (const manifest of manifests) {
      const existing = pods.get(manifest.file);
      if (existing?.manifest.hash === manifest.hash) continue;
      let after = Promise.resolve();
      if (existing !== undefined) {
        logger.info(`manifest ${manifest.file} changed`);
        after = stopPod(existing, 'its manifest changed');
      }
      if ('problem' in manifest) {
        logger.error(`manifest ${manifest.file} not run: ${manifest.problem}`);
        pods.set(manifest.file, { manifest, runners: [], after });
      } else {
        const taken = [...pods.values()].find(
          (entry) =>
            'pod' in entry.manifest &&
            entry.manifest.pod.name === manifest.pod.name &&
            entry.manifest.file !== manifest.file,
        );
        if (taken !== undefined) {
          const problem = `a pod named ${manifest.pod.name} runs from ${taken.manifest.file} already`;
          logger.error(`manifest ${manifest.file} not run: ${problem}`);
          pods.set(manifest.file, {
            manifest: { file: manifest.file, hash: manifest.hash, problem },
            runners: [],
            after,
          });
        } else {
          pods.set(manifest.file, startPod(manifest, after));
        }
      }
      onChange();
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopped) return;
    try {
      sync();
    } catch (error) {
      logger.error(`reading the manifests failed: ${(error as Error).message}`);
    }
    timer = setTimeout(loop, syncMs);
  };
  logger.info(
    `kubelet stand-in started: staticPodPath ${config.staticPodPath}, VM root ${vmRoot}, reading the manifests every ${syncMs} ms`,
  );
  writeStatus();
  loop();

  return {
    config,
    statusFile,
    syncMs,
    status,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      const all = [...pods.values()].map((entry) => stopPod(entry, 'the kubelet is stopping'));
      await Promise.all([...all, ...leaving]);
      writeStatus();
      process.off('exit', killAll);
      logger.info('kubelet stand-in stopped');
    },
  };
}
