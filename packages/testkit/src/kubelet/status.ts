/**
 * The stand-in's pod status file, `<vm root>/var/lib/kubelet/hacp-pods.json`: what a kubelet would
 * report to the API server, for the test server and its serial console to read.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { vmHostPath } from './paths.js';

/** The reasons a kubelet gives for a container's state. */
export type ContainerReason =
  | 'ContainerCreating'
  | 'ErrImagePull'
  | 'CrashLoopBackOff'
  | 'StartError'
  | 'Error'
  | 'Completed';

/** How a container instance ended. */
export interface ContainerTermination {
  reason: 'Error' | 'Completed' | 'StartError';
  /** Exit code; 128 + the signal's number when a signal ended it (as containerd reports). */
  exitCode: number;
  signal?: string;
  message?: string;
  startedAt?: string;
  finishedAt: string;
}

export interface ContainerStatus {
  name: string;
  image: string;
  state: 'waiting' | 'running' | 'terminated';
  reason?: ContainerReason;
  message?: string;
  /** Readiness: its readiness probe passes (or it has none and has started). */
  ready: boolean;
  /** Its startup probe passed (or it has none) in the running instance. */
  started: boolean;
  restartCount: number;
  /** The pid of the running instance. */
  pid?: number;
  /** When the running (or terminated) instance started. */
  startedAt?: string;
  /** Of a terminated container. */
  exitCode?: number;
  /** How the instance before this one ended. */
  lastState?: ContainerTermination;
}

export interface PodStatus {
  /** metadata.name; for a manifest that cannot run, the file's name. */
  name: string;
  /** The manifest's file name in staticPodPath. */
  manifest: string;
  /** Why the manifest is not run (unparseable, unsupported, a name taken); no containers then. */
  problem?: string;
  containers: ContainerStatus[];
}

export interface KubeletStatus {
  /** The stand-in's pid. */
  kubeletPid: number;
  updatedAt: string;
  pods: PodStatus[];
}

/** Where a VM's status file is on this machine. */
export function statusFilePath(vmRoot: string): string {
  return vmHostPath(vmRoot, '/var/lib/kubelet/hacp-pods.json');
}

/** Writes the status atomically (a temporary file renamed over it), readable by anyone (0644). */
export function writeStatusFile(file: string, status: KubeletStatus): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644 });
  renameSync(temporary, file);
}
