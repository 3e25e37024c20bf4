/**
 * The stand-in's container runtime has no images: an image map names the program on this machine
 * that each image runs. An image without an entry cannot be "pulled".
 */
import { readFileSync } from 'node:fs';
import type { ContainerSpec } from './manifests.js';

/** What an image runs, in host paths. */
export interface ImageEntry {
  /** Replaces the container's `command[0]`, the program: `["/usr/bin/etcd"]` or `["node", "/abs/main.js"]`. */
  command: string[];
  /** The image's ENTRYPOINT, run when the container has no `command`; default `command`. */
  entrypoint?: string[];
  /** The image's CMD, the arguments when the container has neither `command` nor `args`. */
  cmd?: string[];
  /** The image's ENV, under the container's own `env`. */
  env?: Record<string, string>;
}

/** Image map keys (`kube-apiserver:v1.32.2`, or a whole reference) to what they run. */
export type ImageMap = Record<string, ImageEntry>;

/** What a container runs on this machine, before its container paths are mapped. */
export interface ContainerProcess {
  program: string;
  args: string[];
  imageEnv: Record<string, string>;
}

const isStrings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

/**
 * The key an image matches in the map: its last path segment with its tag or digest, `:latest` when
 * it has neither (as Docker reads it). The registry's port is not mistaken for a tag.
 *
 * @example
 * imageKey('registry.k8s.io/kube-apiserver:v1.32.2'); // 'kube-apiserver:v1.32.2'
 * imageKey('localhost:5000/etcd'); // 'etcd:latest'
 */
export function imageKey(image: string): string {
  const last = image.slice(image.lastIndexOf('/') + 1);
  return last.includes(':') || last.includes('@') ? last : `${last}:latest`;
}

/**
 * The map's entry for an image: a key equal to the whole reference, else the key equal to its
 * imageKey (a key without a tag means `:latest`).
 */
export function findImage(map: ImageMap, image: string): ImageEntry | undefined {
  if (Object.hasOwn(map, image)) return map[image];
  const key = imageKey(image);
  for (const [candidate, entry] of Object.entries(map)) {
    if (!candidate.includes('/') && imageKey(candidate) === key) return entry;
  }
  return undefined;
}

/**
 * Reads and checks an image map file.
 *
 * @returns the map, or why it cannot be used.
 */
export function readImageMap(file: string): { map: ImageMap } | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      problem: code ? `cannot read the image map ${file} (${code})` : `the image map ${file} is not JSON`,
    };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { problem: `the image map ${file} is not a JSON object` };
  }
  for (const [key, entry] of Object.entries(parsed)) {
    const { command, entrypoint, cmd, env } = (entry ?? {}) as Record<string, unknown>;
    const envOk =
      env === undefined ||
      (typeof env === 'object' &&
        env !== null &&
        !Array.isArray(env) &&
        Object.values(env).every((value) => typeof value === 'string'));
    if (
      !isStrings(command) ||
      command.length === 0 ||
      (entrypoint !== undefined && (!isStrings(entrypoint) || entrypoint.length === 0)) ||
      (cmd !== undefined && !isStrings(cmd)) ||
      !envOk
    ) {
      return {
        problem: `the image map ${file}: entry "${key}" needs command (a non-empty list of strings); entrypoint and cmd are lists, env an object of strings`,
      };
    }
  }
  return { map: parsed as ImageMap };
}

/**
 * What a container runs, as a container runtime combines image and container: a container
 * `command` replaces the image's entrypoint (here: its first word, the program, becomes the entry's
 * `command`); without one, the image's entrypoint runs; `args` follow, or the image's CMD when the
 * container has no `command` and no `args`.
 *
 * @example
 * containerProcess({ command: ['etcd', '--name=a'], ... }, { command: ['/usr/bin/etcd'] });
 * // { program: '/usr/bin/etcd', args: ['--name=a'], imageEnv: {} }
 */
export function containerProcess(container: ContainerSpec, entry: ImageEntry): ContainerProcess {
  let words: string[];
  if (container.command !== undefined) {
    words = [...entry.command, ...container.command.slice(1), ...(container.args ?? [])];
  } else {
    words = [...(entry.entrypoint ?? entry.command), ...(container.args ?? entry.cmd ?? [])];
  }
  return { program: words[0] as string, args: words.slice(1), imageEnv: { ...(entry.env ?? {}) } };
}
