/**
 * The input rules of the memory provider: the ones the kit expects of every provider (names,
 * zones, state keys, versions, ports), and the few it adds (zones are `<region>-<letter>`). Each
 * throws the HacpError a caller can act on, naming the field.
 */
import {
  assertClusterName,
  assertZone,
  ErrorCode,
  type FirewallRule,
  HacpError,
  type InstanceRef,
  invalidArgument,
  type LoadBalancerSpec,
} from '@hacp/core';

const NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const REGION = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const PORT_RANGE = /^(\d{1,5})(?:-(\d{1,5}))?$/;
const CONTROL_CHARACTER = /\p{Cc}/u;
const HEALTH_CHECK_PROTOCOLS: readonly unknown[] = ['http', 'https', 'tcp'];

/** A resource name (instance, address, load balancer, firewall rule), as a replica name or a GCE name. */
export function assertName(field: string, value: unknown): void {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw invalidArgument({
      field,
      value: String(value),
      message: `${field} "${String(value)}" is not a valid name: use 1-63 lowercase letters, digits and dashes, starting with a letter and not ending with a dash.`,
    });
  }
}

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
  assertName('name', ref?.name);
  assertLetterZone(ref.zone);
}

/** The name and region of an address or load balancer. */
export function assertRegionalRef(ref: { name: string; region: string }): void {
  assertName('name', ref?.name);
  if (typeof ref.region !== 'string' || !REGION.test(ref.region)) {
    throw invalidArgument({
      field: 'region',
      value: String(ref.region),
      message: `"${ref.region}" is not a region.`,
    });
  }
}

/** A TCP port: a whole number from 1 to 65535. */
export function assertPort(field: string, port: unknown): void {
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
    throw invalidArgument({
      field,
      value: String(port),
      message: `${field} ${String(port)} is not a port (1-65535).`,
    });
  }
}

/** A state key or lock name: 1-256 characters, none of them control characters (a prefix may be empty). */
export function assertStateKey(field: string, key: unknown, { allowEmpty = false } = {}): void {
  const length = typeof key === 'string' ? key.length : -1;
  if (length < (allowEmpty ? 0 : 1) || length > 256 || CONTROL_CHARACTER.test(key as string)) {
    throw invalidArgument({
      field,
      value: String(key),
      message: `${field} ${JSON.stringify(key)} is not valid: use 1-256 characters without control characters.`,
    });
  }
}

/** A lock's name, its holder (not empty) and its ttl (a whole number of milliseconds from 1). */
export function assertLockRequest(name: string, holder: string, ttlMs: number): void {
  assertStateKey('name', name);
  if (typeof holder !== 'string' || holder.length === 0) {
    throw invalidArgument({ field: 'holder', message: 'A lock needs a non-empty holder.' });
  }
  if (!Number.isInteger(ttlMs) || ttlMs < 1) {
    throw invalidArgument({ field: 'ttlMs', value: ttlMs, message: 'ttlMs must be a whole number from 1.' });
  }
}

/** A compare-and-swap version: a whole number from 0, where 0 means "must not exist". */
export function assertExpectedVersion(version: unknown): void {
  if (!Number.isInteger(version) || (version as number) < 0) {
    throw invalidArgument({
      field: 'expectedVersion',
      value: String(version),
      message: `expectedVersion ${String(version)} is not a version: use 0 (must not exist) or a record's version.`,
    });
  }
}

/** A load balancer's targets: a list of instance refs. */
export function assertTargets(targets: readonly InstanceRef[]): void {
  if (!Array.isArray(targets)) throw invalidArgument({ field: 'targets', message: 'targets is not a list.' });
  for (const target of targets) assertInstanceRef(target);
}

/** A load balancer spec: names, ports, health check protocol and port, targets. */
export function assertLoadBalancerSpec(spec: LoadBalancerSpec): void {
  assertRegionalRef(spec);
  assertName('address', spec.address);
  assertPort('port', spec.port);
  if (spec.targetPort !== undefined) assertPort('targetPort', spec.targetPort);
  if (!HEALTH_CHECK_PROTOCOLS.includes(spec.healthCheck?.protocol)) {
    throw invalidArgument({
      field: 'healthCheck.protocol',
      message: 'The health check protocol is http, https or tcp.',
    });
  }
  assertPort('healthCheck.port', spec.healthCheck.port);
  assertTargets(spec.targets);
}

/** A firewall port is `N` or `N-M`, within 1-65535, with N <= M. */
export function assertFirewallRule(rule: FirewallRule): void {
  assertName('name', rule?.name);
  assertClusterName(rule.cluster);
  if (rule.protocol !== 'tcp' && rule.protocol !== 'udp') {
    throw invalidArgument({
      field: 'protocol',
      value: String(rule.protocol),
      message: 'protocol is tcp or udp.',
    });
  }
  if (rule.from !== 'replicas' && rule.from !== 'any') {
    throw invalidArgument({ field: 'from', value: String(rule.from), message: 'from is replicas or any.' });
  }
  if (!Array.isArray(rule.ports) || rule.ports.length === 0) {
    throw invalidArgument({ field: 'ports', message: 'A firewall rule needs at least one port.' });
  }
  for (const [index, port] of rule.ports.entries()) {
    const match = typeof port === 'string' ? PORT_RANGE.exec(port) : null;
    const low = Number(match?.[1]);
    const high = Number(match?.[2] ?? match?.[1]);
    if (match === null || low < 1 || high > 65535 || low > high) {
      throw invalidArgument({
        field: `ports[${index}]`,
        value: String(port),
        message: `Firewall port "${String(port)}" is not a port or range such as 6443 or 2379-2380.`,
      });
    }
  }
}

/** Every call checks its signal first, so that an aborted call changes nothing. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new HacpError({ code: ErrorCode.ABORTED, message: 'The call was aborted.', cause: signal.reason });
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
