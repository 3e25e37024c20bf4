/**
 * The input rules of the memory provider: core's rules that every provider applies (names, state
 * keys, versions, ports, locks, health checks, firewall rules), and the few it adds (zones are
 * `<region>-<letter>`). Each throws the HacpError a caller can act on, naming the field.
 */
import {
  assertHealthCheck,
  assertNodeConfig,
  assertPort,
  assertRegionName,
  assertResourceName,
  assertZone,
  ErrorCode,
  HacpError,
  type InstanceRef,
  invalidArgument,
  type LoadBalancerSpec,
  type NodeFile,
} from '@hacp/core';

export {
  assertExpectedVersion,
  assertFirewallRule,
  assertLockRequest,
  assertPort,
  assertResourceName as assertName,
  assertStateKey,
  throwIfAborted,
} from '@hacp/core';

/** A zone the memory provider offers: any `<region>-<letter>`, so tests can place replicas anywhere. */
export function assertLetterZone(zone: string): void {
  assertZone(zone);
  if (!/-[a-z]$/.test(zone)) {
    throw new HacpError({
      code: ErrorCode.ZONE_INVALID,
      message: `There is no zone "${zone}": zones here are a region and one letter, such as local-a.`,
      details: { zone },
    });
  }
}

/** An instance's name and zone. */
export function assertInstanceRef(ref: InstanceRef): void {
  assertResourceName('name', ref?.name);
  assertLetterZone(ref.zone);
}

/** The name and region of an address or load balancer. */
export function assertRegionalRef(ref: { name: string; region: string }): void {
  assertResourceName('name', ref?.name);
  assertRegionName(ref.region);
}

/** A load balancer's targets: a list of instance refs. */
export function assertTargets(targets: readonly InstanceRef[]): void {
  if (!Array.isArray(targets)) throw invalidArgument({ field: 'targets', message: 'targets is not a list.' });
  for (const target of targets) assertInstanceRef(target);
}

/** A load balancer spec: names, ports, health check protocol and port, targets. */
export function assertLoadBalancerSpec(spec: LoadBalancerSpec): void {
  assertRegionalRef(spec);
  assertResourceName('address', spec.address);
  assertPort('port', spec.port);
  if (spec.targetPort !== undefined) assertPort('targetPort', spec.targetPort);
  assertHealthCheck(spec.healthCheck);
  assertTargets(spec.targets);
}

// NodeConfig's rule for paths (@hacp/core): safe segments joined by single slashes, no `.` or `..`.
const SAFE_PATH = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/**
 * A syncFiles update: a safe relative prefix, files valid as NodeConfig files (paths, modes, no
 * duplicates), each inside `<prefix>/`, none also the folder of another.
 */
export function assertFileUpdate(update: { prefix: string; files: readonly NodeFile[] }): void {
  if (typeof update?.prefix !== 'string' || !SAFE_PATH.test(update.prefix)) {
    throw invalidArgument({
      field: 'prefix',
      message: `The prefix ${JSON.stringify(update?.prefix)} must be a relative folder such as addons, without empty, "." or ".." parts.`,
    });
  }
  if (!Array.isArray(update.files)) {
    throw invalidArgument({ field: 'files', message: 'files must be a list of files.' });
  }
  assertNodeConfig({ files: update.files, processes: [] });
  const paths = new Set(update.files.map((file) => file.path));
  for (const [index, file] of update.files.entries()) {
    const field = `files[${index}].path`;
    if (!file.path.startsWith(`${update.prefix}/`)) {
      const message = `File path "${file.path}" is outside the folder "${update.prefix}".`;
      throw invalidArgument({ field, value: file.path, message });
    }
    const parts = file.path.split('/');
    for (let length = parts.length - 1; length > update.prefix.split('/').length; length--) {
      const folder = parts.slice(0, length).join('/');
      if (paths.has(folder)) {
        const message = `"${folder}" cannot be both a file and the folder of "${file.path}".`;
        throw invalidArgument({ field, value: file.path, message });
      }
    }
  }
}

/** The value as JSON text: the store keeps text, so a caller's later changes to its object never leak in. */
export function toJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw invalidArgument({
      field: 'value',
      message: `The value cannot be stored as JSON: ${String(error)}`,
    });
  }
  if (text === undefined)
    throw invalidArgument({ field: 'value', message: 'The value cannot be stored as JSON.' });
  return text;
}
