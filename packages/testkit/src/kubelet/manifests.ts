/**
 * Static pod manifests: which files of the folder are manifests, and the part of a Pod the stand-in
 * runs, checked. A manifest it cannot run is refused with a plain reason, never half-run.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/** How a probe reaches the container. */
export type ProbeHandler =
  | {
      kind: 'httpGet';
      host?: string;
      port: number | string;
      path: string;
      scheme: 'HTTP' | 'HTTPS';
      headers: { name: string; value: string }[];
    }
  | { kind: 'tcpSocket'; host?: string; port: number | string }
  | { kind: 'exec'; command: string[] };

/** A probe with the kubelet's defaults filled in. */
export interface ProbeSpec {
  handler: ProbeHandler;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  successThreshold: number;
  /** The probe's own grace when it kills the container (a Pod field since 1.25). */
  terminationGracePeriodSeconds?: number;
}

export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env: { name: string; value: string }[];
  volumeMounts: { name: string; mountPath: string; subPath?: string; readOnly: boolean }[];
  ports: { name?: string; containerPort: number }[];
  startupProbe?: ProbeSpec;
  livenessProbe?: ProbeSpec;
  readinessProbe?: ProbeSpec;
}

export type HostPathType =
  | ''
  | 'DirectoryOrCreate'
  | 'Directory'
  | 'FileOrCreate'
  | 'File'
  | 'Socket'
  | 'CharDevice'
  | 'BlockDevice';

export type VolumeSpec =
  | { name: string; kind: 'hostPath'; path: string; type: HostPathType }
  | { name: string; kind: 'emptyDir' };

export interface PodSpec {
  name: string;
  namespace: string;
  hostNetwork: boolean;
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  terminationGracePeriodSeconds: number;
  containers: ContainerSpec[];
  volumes: VolumeSpec[];
}

/** A manifest file of the folder: its name, content hash and the pod, or why it cannot run. */
export type ManifestFile = { file: string; hash: string } & ({ pod: PodSpec } | { problem: string });

const MANIFEST_EXTENSIONS = /\.(json|ya?ml)$/;
const HOST_PATH_TYPES: readonly HostPathType[] = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
  'CharDevice',
  'BlockDevice',
];

/** A refusal of the manifest, with the field it concerns. */
class ManifestProblem extends Error {}

const refuse = (message: string): never => {
  throw new ManifestProblem(message);
};

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function objectAt(value: unknown, where: string): Json {
  return isObject(value) ? value : refuse(`${where} is not an object`);
}

function listAt(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : refuse(`${where} is not a list`);
}

function stringAt(value: unknown, where: string): string {
  return typeof value === 'string' && value !== '' ? value : refuse(`${where} is not a non-empty string`);
}

function stringsAt(value: unknown, where: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    return refuse(`${where} is not a list of strings`);
  }
  return value as string[];
}

function countAt(value: unknown, where: string, fallback: number, minimum: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum) {
    return refuse(`${where} is not a whole number >= ${minimum}`);
  }
  return value;
}

function absolutePathAt(value: unknown, where: string): string {
  const path = stringAt(value, where);
  if (!path.startsWith('/')) refuse(`${where} "${path}" is not an absolute path`);
  const normal = posix.normalize(path);
  return normal.length > 1 ? normal.replace(/\/$/, '') : normal;
}

function portAt(value: unknown, where: string): number | string {
  if (typeof value === 'string' && value !== '') return /^\d+$/.test(value) ? Number(value) : value;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65_535) return value;
  return refuse(`${where} is not a port number or name`);
}

function probeHandler(probe: Json, where: string): ProbeHandler {
  const kinds = ['httpGet', 'tcpSocket', 'exec', 'grpc'].filter((kind) => probe[kind] !== undefined);
  if (kinds.length !== 1) return refuse(`${where} needs exactly one of httpGet, tcpSocket or exec`);
  if (kinds[0] === 'httpGet') {
    const http = objectAt(probe.httpGet, `${where}.httpGet`);
    const scheme = http.scheme ?? 'HTTP';
    if (scheme !== 'HTTP' && scheme !== 'HTTPS') refuse(`${where}.httpGet.scheme is not HTTP or HTTPS`);
    const headers = listAt(http.httpHeaders, `${where}.httpGet.httpHeaders`).map((item, index) => {
      const header = objectAt(item, `${where}.httpGet.httpHeaders[${index}]`);
      return {
        name: stringAt(header.name, `${where}.httpGet.httpHeaders[${index}].name`),
        value: typeof header.value === 'string' ? header.value : '',
      };
    });
    const path = http.path === undefined ? '/' : stringAt(http.path, `${where}.httpGet.path`);
    return {
      kind: 'httpGet',
      ...(typeof http.host === 'string' && http.host !== '' ? { host: http.host } : {}),
      port: portAt(http.port, `${where}.httpGet.port`),
      path: path.startsWith('/') ? path : `/${path}`,
      scheme: scheme as 'HTTP' | 'HTTPS',
      headers,
    };
  }
  if (kinds[0] === 'tcpSocket') {
    const tcp = objectAt(probe.tcpSocket, `${where}.tcpSocket`);
    return {
      kind: 'tcpSocket',
      ...(typeof tcp.host === 'string' && tcp.host !== '' ? { host: tcp.host } : {}),
      port: portAt(tcp.port, `${where}.tcpSocket.port`),
    };
  }
  if (kinds[0] === 'exec') {
    const command = stringsAt(objectAt(probe.exec, `${where}.exec`).command, `${where}.exec.command`);
    if (command === undefined || command.length === 0) return refuse(`${where}.exec.command is empty`);
    return { kind: 'exec', command };
  }
  return refuse(`${where}.grpc probes are not supported by the kubelet stand-in`);
}

function probeAt(value: unknown, where: string, kind: 'startup' | 'liveness' | 'readiness') {
  if (value === undefined || value === null) return undefined;
  const probe = objectAt(value, where);
  const spec: ProbeSpec = {
    handler: probeHandler(probe, where),
    initialDelaySeconds: countAt(probe.initialDelaySeconds, `${where}.initialDelaySeconds`, 0, 0),
    periodSeconds: countAt(probe.periodSeconds, `${where}.periodSeconds`, 10, 1),
    timeoutSeconds: countAt(probe.timeoutSeconds, `${where}.timeoutSeconds`, 1, 1),
    failureThreshold: countAt(probe.failureThreshold, `${where}.failureThreshold`, 3, 1),
    successThreshold: countAt(probe.successThreshold, `${where}.successThreshold`, 1, 1),
  };
  // The API server's validation, which a static pod also goes through.
  if (kind !== 'readiness' && spec.successThreshold !== 1) refuse(`${where}.successThreshold must be 1`);
  if (probe.terminationGracePeriodSeconds !== undefined && kind !== 'readiness') {
    spec.terminationGracePeriodSeconds = countAt(
      probe.terminationGracePeriodSeconds,
      `${where}.terminationGracePeriodSeconds`,
      0,
      1,
    );
  }
  return spec;
}

function containerAt(value: unknown, where: string): ContainerSpec {
  const container = objectAt(value, where);
  const env = listAt(container.env, `${where}.env`).map((item, index) => {
    const variable = objectAt(item, `${where}.env[${index}]`);
    const name = stringAt(variable.name, `${where}.env[${index}].name`);
    if (variable.valueFrom !== undefined) {
      refuse(`${where}.env[${index}] (${name}) uses valueFrom, which the kubelet stand-in does not support`);
    }
    return { name, value: typeof variable.value === 'string' ? variable.value : '' };
  });
  if (container.envFrom !== undefined) refuse(`${where}.envFrom is not supported by the kubelet stand-in`);
  const volumeMounts = listAt(container.volumeMounts, `${where}.volumeMounts`).map((item, index) => {
    const mount = objectAt(item, `${where}.volumeMounts[${index}]`);
    const mountPath = absolutePathAt(mount.mountPath, `${where}.volumeMounts[${index}].mountPath`);
    if (mountPath === '/') refuse(`${where}.volumeMounts[${index}] mounts over /`);
    const subPath = mount.subPath === undefined || mount.subPath === '' ? undefined : mount.subPath;
    if (
      subPath !== undefined &&
      (typeof subPath !== 'string' || subPath.startsWith('/') || /(^|\/)\.\.(\/|$)/.test(subPath))
    ) {
      refuse(`${where}.volumeMounts[${index}].subPath is not a relative path inside the volume`);
    }
    return {
      name: stringAt(mount.name, `${where}.volumeMounts[${index}].name`),
      mountPath,
      ...(subPath === undefined ? {} : { subPath: subPath as string }),
      readOnly: mount.readOnly === true,
    };
  });
  const ports = listAt(container.ports, `${where}.ports`).map((item, index) => {
    const port = objectAt(item, `${where}.ports[${index}]`);
    const containerPort = portAt(port.containerPort, `${where}.ports[${index}].containerPort`);
    if (typeof containerPort !== 'number') refuse(`${where}.ports[${index}].containerPort is not a number`);
    return {
      ...(typeof port.name === 'string' && port.name !== '' ? { name: port.name } : {}),
      containerPort: containerPort as number,
    };
  });
  const command = stringsAt(container.command, `${where}.command`);
  const args = stringsAt(container.args, `${where}.args`);
  const spec: ContainerSpec = {
    name: stringAt(container.name, `${where}.name`),
    image: stringAt(container.image, `${where}.image`),
    ...(command === undefined || command.length === 0 ? {} : { command }),
    ...(args === undefined ? {} : { args }),
    ...(container.workingDir === undefined || container.workingDir === ''
      ? {}
      : { workingDir: absolutePathAt(container.workingDir, `${where}.workingDir`) }),
    env,
    volumeMounts,
    ports,
  };
  for (const kind of ['startup', 'liveness', 'readiness'] as const) {
    const probe = probeAt(container[`${kind}Probe`], `${where}.${kind}Probe`, kind);
    if (probe !== undefined) spec[`${kind}Probe`] = probe;
  }
  return spec;
}

function volumeAt(value: unknown, where: string): VolumeSpec {
  const volume = objectAt(value, where);
  const name = stringAt(volume.name, `${where}.name`);
  if (volume.hostPath !== undefined) {
    const hostPath = objectAt(volume.hostPath, `${where}.hostPath`);
    const type = (hostPath.type ?? '') as HostPathType;
    if (!HOST_PATH_TYPES.includes(type))
      refuse(`${where}.hostPath.type "${String(type)}" is not a hostPath type`);
    return { name, kind: 'hostPath', path: absolutePathAt(hostPath.path, `${where}.hostPath.path`), type };
  }
  if (volume.emptyDir !== undefined) return { name, kind: 'emptyDir' };
  return refuse(
    `${where} is neither a hostPath nor an emptyDir volume, the kinds the kubelet stand-in mounts`,
  );
}

/**
 * The pod of a manifest's text, with the kubelet's defaults. Manifests are read as JSON: the
 * workspace has no YAML parser, and hacp writes its static pods as JSON (which is YAML too).
 *
 * @returns the pod, or the reason it cannot run (no secret: it names fields, never quotes values).
 * @example
 * parsePodManifest('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"etcd"},"spec":{...}}');
 */
export function parsePodManifest(text: string): { pod: PodSpec } | { problem: string } {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return {
      problem:
        'the manifest is not JSON (the kubelet stand-in reads manifests written as JSON; YAML block syntax is not supported)',
    };
  }
  try {
    const pod = objectAt(document, 'the manifest');
    if (pod.kind !== 'Pod' || pod.apiVersion !== 'v1') refuse('the manifest is not a v1 Pod');
    const metadata = objectAt(pod.metadata, 'metadata');
    const spec = objectAt(pod.spec, 'spec');
    if (spec.initContainers !== undefined && listAt(spec.initContainers, 'spec.initContainers').length > 0) {
      refuse('spec.initContainers are not supported by the kubelet stand-in');
    }
    const containers = listAt(spec.containers, 'spec.containers').map((item, index) =>
      containerAt(item, `spec.containers[${index}]`),
    );
    if (containers.length === 0) refuse('spec.containers is empty');
    const names = containers.map((container) => container.name);
    const twice = names.find((name, index) => names.indexOf(name) !== index);
    if (twice !== undefined) refuse(`spec.containers has two containers named ${twice}`);
    const volumes = listAt(spec.volumes, 'spec.volumes').map((item, index) =>
      volumeAt(item, `spec.volumes[${index}]`),
    );
    for (const [index, container] of containers.entries()) {
      for (const mount of container.volumeMounts) {
        if (!volumes.some((volume) => volume.name === mount.name)) {
          refuse(`spec.containers[${index}] mounts volume ${mount.name}, which spec.volumes does not have`);
        }
      }
    }
    const restartPolicy = spec.restartPolicy ?? 'Always';
    if (restartPolicy !== 'Always' && restartPolicy !== 'OnFailure' && restartPolicy !== 'Never') {
      refuse('spec.restartPolicy is not Always, OnFailure or Never');
    }
    return {
      pod: {
        name: stringAt(metadata.name, 'metadata.name'),
        namespace:
          typeof metadata.namespace === 'string' && metadata.namespace !== ''
            ? metadata.namespace
            : 'default',
        hostNetwork: spec.hostNetwork === true,
        restartPolicy: restartPolicy as PodSpec['restartPolicy'],
        terminationGracePeriodSeconds: countAt(
          spec.terminationGracePeriodSeconds,
          'spec.terminationGracePeriodSeconds',
          30,
          0,
        ),
        containers,
        volumes,
      },
    };
  } catch (error) {
    if (error instanceof ManifestProblem) return { problem: error.message };
    throw error;
  }
}

/** Whether a file of the manifest folder is a manifest: not hidden (the kubelet skips dotfiles), JSON or YAML. */
export function isManifestFile(name: string): boolean {
  return !name.startsWith('.') && MANIFEST_EXTENSIONS.test(name);
}

/**
 * The manifests of the folder, sorted by file name; undefined when the folder cannot be read.
 * A file that vanishes between the listing and the read is skipped, as if listed a moment later.
 */
export function readManifestFolder(dir: string): ManifestFile[] | undefined {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && isManifestFile(entry.name))
      .map((entry) => entry.name)
      .sort();
  } catch {
    return undefined;
  }
  const manifests: ManifestFile[] = [];
  for (const file of names) {
    let text: string;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch {
      continue;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    manifests.push({ file, hash, ...parsePodManifest(text) });
  }
  return manifests;
}
