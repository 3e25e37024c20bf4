import { invalidArgument } from './errors.js';
import type { Secret } from './redact.js';

/**
 * One file a replica needs, with its mode. The path is relative to the replica's root (the local
 * provider's replica folder, the data disk `/mnt/disks/master-pd` on a GCE instance); folders are created 0700.
 */
export interface NodeFile {
  /** Relative POSIX path, such as `pki/etcd/peer.key`. No `..`, no leading `/`. */
  path: string;
  /** File mode: 0o600 for keys, 0o644 for certificates and configs. */
  mode: number;
  /** The contents. A Secret for keys, so that a NodeConfig can be logged safely. */
  contents: string | Secret;
}

/** A process a replica runs: the etcd member, kube-apiserver, the health endpoint. */
export interface NodeProcess {
  /** Stable name within the replica: `etcd`, `kube-apiserver`, `health`. */
  name: string;
  /** The program, as a name looked up on the replica (`etcd`) or an absolute path. */
  command: string;
  /** Arguments; file paths in them are relative to the replica's root unless absolute. */
  args: readonly string[];
  /** Extra environment. */
  env?: Readonly<Record<string, string>>;
  /** TCP ports the process listens on, by role, so providers can open, forward or check them. */
  ports?: Readonly<Record<string, number>>;
  /**
   * How long it gets to exit after SIGTERM before it is killed (a pod's
   * `terminationGracePeriodSeconds`). Default: the provider's own.
   */
  stopGraceSeconds?: number;
}

/**
 * Everything a provider needs to materialise one replica. The SDK renders it (etcd flags with
 * @hacp/etcd, certificates with @hacp/certs); a provider only writes the files and runs the
 * processes, and never renders flags or certificates itself.
 */
export interface NodeConfig {
  files: readonly NodeFile[];
  processes: readonly NodeProcess[];
  /**
   * The Kubernetes version its Kubernetes processes are (`v1.23.16`), the cluster's recorded one;
   * absent for an etcd-only replica. A provider that runs images (GCE's static pods) picks them by it.
   */
  kubernetesVersion?: string;
}

// Segments of safe characters joined by single slashes: no leading or trailing `/`, no `//` (which
// would let `a//b` duplicate `a/b`), and no `.` or `..` segment.
const SAFE_PATH = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/**
 * Checks a NodeConfig: relative paths without `..`, unique paths and process names, modes within
 * 0o777.
 *
 * @throws HacpError INVALID_ARGUMENT naming the offending field.
 */
export function assertNodeConfig(config: NodeConfig): void {
  const paths = new Set<string>();
  for (const [index, file] of config.files.entries()) {
    if (!SAFE_PATH.test(file.path)) {
      throw invalidArgument({
        field: `files[${index}].path`,
        value: file.path,
        message: `File path "${file.path}" must be relative, without empty, "." or ".." parts.`,
      });
    }
    if (paths.has(file.path)) {
      throw invalidArgument({
        field: `files[${index}].path`,
        value: file.path,
        message: `File path "${file.path}" appears twice.`,
      });
    }
    paths.add(file.path);
    if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > 0o777) {
      throw invalidArgument({
        field: `files[${index}].mode`,
        value: file.mode,
        message: `File mode ${file.mode} for "${file.path}" must be between 0o000 and 0o777.`,
      });
    }
  }
  const names = new Set<string>();
  for (const [index, process] of config.processes.entries()) {
    if (!/^[a-z][a-z0-9-]*$/.test(process.name) || names.has(process.name)) {
      throw invalidArgument({
        field: `processes[${index}].name`,
        value: process.name,
        message: `Process name "${process.name}" must be unique, lowercase letters, digits and dashes.`,
      });
    }
    names.add(process.name);
    if (process.command.length === 0) {
      throw invalidArgument({
        field: `processes[${index}].command`,
        message: `Process "${process.name}" has no command.`,
      });
    }
    const grace = process.stopGraceSeconds;
    if (grace !== undefined && (!Number.isInteger(grace) || grace < 0 || grace > 3600)) {
      throw invalidArgument({
        field: `processes[${index}].stopGraceSeconds`,
        value: grace,
        message: `Process "${process.name}" has stopGraceSeconds ${grace}: use a whole number from 0 to 3600.`,
      });
    }
  }
}
