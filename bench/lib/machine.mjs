// What every benchmark here records about the machine it ran on and the code it ran, and how it reads
// this process's and other processes' CPU time and state from /proc (Linux; elsewhere `unknown` or
// undefined).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, release, tmpdir, totalmem, type } from 'node:os';
import { join, relative } from 'node:path';

/** The machine: CPU model, cores, memory, OS and Node, the fields every results file starts with. */
export function describeHost() {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${type()} ${release()} ${arch()}`,
    node: process.version,
  };
}

/** The OS temp folder (links resolved) and the filesystem it is on, from the longest mount point that holds it. */
export function describeTmpFolder() {
  const tmp = realpathSync(tmpdir());
  let tmpFilesystem = 'unknown';
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .filter(
        ([, mountPoint]) =>
          mountPoint && (tmp === mountPoint || tmp.startsWith(`${mountPoint === '/' ? '' : mountPoint}/`)),
      )
      .sort((a, b) => b[1].length - a[1].length);
    if (mounts[0]) tmpFilesystem = `${mounts[0][2]} (${mounts[0][1]})`;
  } catch {}
  return { tmpdir: tmp, tmpFilesystem };
}

/** The first line a command prints (a tool's version), or `unknown` when it cannot run. */
export function firstLine(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]
      .trim();
  } catch {
    return 'unknown';
  }
}

/** The version a package.json names, or `unknown`. */
export function packageVersion(packageJson) {
  try {
    return JSON.parse(readFileSync(packageJson, 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** The version of the package `name` as the package at `packageJson` resolves it, or `unknown`. */
export function dependencyVersion(packageJson, name) {
  try {
    return packageVersion(createRequire(packageJson).resolve(`${name}/package.json`));
  } catch {
    return 'unknown';
  }
}

/** The first 16 hex digits of a file's SHA-256, to tell two builds of it apart. */
export function fileSha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
}

/**
 * The first 16 hex digits of a SHA-256 over every `.js` file under `dirs` (missing ones skipped), each
 * with its path relative to `root`, in name order: which build of the code a run loaded.
 */
export function builtCodeSha256({ root, dirs }) {
  const hash = createHash('sha256');
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js'))
        hash.update(`${relative(root, path)}\0`).update(readFileSync(path));
    }
  };
  for (const dir of dirs) walk(dir);
  return hash.digest('hex').slice(0, 16);
}

// --- /proc --------------------------------------------------------------------------------------------

/**
 * The fields of /proc/<pid>/stat after the command name, so that index 0 is field 3 (the state) and
 * index n is field n + 3; undefined when the process is gone or there is no /proc.
 */
export function procStat(pid = 'self') {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Clock ticks per second, the unit of /proc's CPU times. */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time of the children this process has waited for, in ms (cutime + cstime). */
export function childrenCpuMs() {
  const fields = procStat();
  return fields === undefined ? undefined : ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}

/** Clock ticks of the whole machine (busy and stolen, from /proc/stat) and of this process with its reaped children. */
export function cpuTicks() {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const fields = procStat().map(Number);
    // utime, stime, cutime, cstime: child processes count once they have exited.
    const mine = fields[11] + fields[12] + fields[13] + fields[14];
    return { busy: user + nice + system + irq + softirq, steal, mine };
  } catch {
    return undefined;
  }
}

/** How much of the machine's CPU went to this run, to other processes (and the kernel), and to other guests. */
export function cpuShare(start, end, wallMs) {
  if (start === undefined || end === undefined) return undefined;
  const seconds = (ticks) => Math.round((ticks / CLOCK_TICKS) * 10) / 10;
  const capacity = (wallMs / 1000) * cpus().length;
  // Both counts are sampled by the kernel at its tick; the difference can dip a little below zero.
  const others = Math.max(0, end.busy - start.busy - (end.mine - start.mine));
  return {
    thisRunSeconds: seconds(end.mine - start.mine),
    otherSeconds: seconds(others),
    stolenSeconds: seconds(end.steal - start.steal),
    otherPercentOfMachine: Math.round(((others / CLOCK_TICKS) * 100) / capacity),
  };
}
