/**
 * The input rules of Provider contract v1 that every provider applies the same way (and the
 * conformance kit checks): resource names, regions, ports, state keys, versions, locks, health
 * checks, firewall rules and aborted signals. Zone rules stay with each provider: which zones
 * exist is the provider's to say.
 */
import { assertClusterName } from './domain.js';
import { ErrorCode, HacpError, invalidArgument } from './errors.js';
import type { FirewallRule, HealthCheck } from './provider.js';

const RESOURCE_NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const REGION = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const PORT_RANGE = /^(\d{1,5})(?:-(\d{1,5}))?$/;
const CONTROL_CHARACTER = /\p{Cc}/u;
const HEALTH_CHECK_PATH = /^\/[\x21-\x7e]*$/;

/** The longest a state key or lock name may be. */
export const MAX_STATE_KEY_LENGTH = 256;
/** The longest a lock may be taken for at once: a day. Renew it to hold it longer. */
export const MAX_LOCK_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * A resource name (instance, address, load balancer, firewall rule): 1-63 lowercase letters, digits
 * and dashes, starting with a letter and not ending with a dash, as GCE requires and replica names are.
 *
 * @throws HacpError INVALID_ARGUMENT naming `field`.
 */
export function assertResourceName(field: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || !RESOURCE_NAME.test(value)) {
    throw invalidArgument({
      field,
      value: String(value),
      message: `${field} "${String(value)}" is not a valid name: use 1-63 lowercase letters, digits and dashes, starting with a letter and not ending with a dash.`,
    });
  }
}

/** A region name such as `local` or `europe-west1`. @throws HacpError INVALID_ARGUMENT (`region`). */
export function assertRegionName(region: unknown): asserts region is string {
  if (typeof region !== 'string' || !REGION.test(region)) {
    throw invalidArgument({
      field: 'region',
      value: String(region),
      message: `"${String(region)}" is not a region name, such as local or europe-west1.`,
    });
  }
}

/** A TCP port: a whole number from 1 to 65535. @throws HacpError INVALID_ARGUMENT naming `field`. */
export function assertPort(field: string, port: unknown): asserts port is number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw invalidArgument({
      field,
      value: String(port),
      message: `${field} ${String(port)} is not a port (1-65535).`,
    });
  }
}

/**
 * A state key or lock name: 1-256 characters without control characters (a list prefix may be
 * empty with `allowEmpty`).
 *
 * @throws HacpError INVALID_ARGUMENT naming `field`.
 */
export function assertStateKey(
  field: string,
  key: unknown,
  options: { allowEmpty?: boolean } = {},
): asserts key is string {
  const length = typeof key === 'string' ? key.length : -1;
  if (
    length < (options.allowEmpty ? 0 : 1) ||
    length > MAX_STATE_KEY_LENGTH ||
    CONTROL_CHARACTER.test(key as string)
  ) {
    throw invalidArgument({
      field,
      value: typeof key === 'string' ? key.slice(0, 80) : String(key),
      message: `${field} ${JSON.stringify(key)} is not valid: use 1-${MAX_STATE_KEY_LENGTH} characters without control characters.`,
    });
  }
}

/**
 * A compare-and-swap version: a whole number from 0, where 0 means "must not exist yet".
 *
 * @throws HacpError INVALID_ARGUMENT (`expectedVersion`).
 */
export function assertExpectedVersion(version: unknown): asserts version is number {
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
    throw invalidArgument({
      field: 'expectedVersion',
      value: String(version),
      message: `expectedVersion ${String(version)} is not a version: use 0 (must not exist yet) or a record's version.`,
    });
  }
}

/**
 * A lock request: a valid name, a non-empty holder, and a ttl of 1 ms to a day.
 *
 * @throws HacpError INVALID_ARGUMENT naming `name`, `holder` or `ttlMs`.
 */
export function assertLockRequest(name: unknown, holder: unknown, ttlMs: unknown): void {
  assertStateKey('name', name);
  assertStateKey('holder', holder);
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_LOCK_TTL_MS) {
    throw invalidArgument({
      field: 'ttlMs',
      value: String(ttlMs),
      message: `ttlMs must be a whole number of milliseconds from 1 to ${MAX_LOCK_TTL_MS}; renew the lock to hold it longer.`,
    });
  }
}

/**
 * A load balancer's health check: protocol http, https or tcp; a port; a path without spaces for
 * http(s); intervals and thresholds from 1 to 300.
 *
 * @throws HacpError INVALID_ARGUMENT naming `healthCheck.<field>`.
 */
export function assertHealthCheck(check: HealthCheck): void {
  if (typeof check !== 'object' || check === null || !['http', 'https', 'tcp'].includes(check.protocol)) {
    throw invalidArgument({
      field: 'healthCheck.protocol',
      value: String(check?.protocol),
      message: 'healthCheck.protocol must be http, https or tcp.',
    });
  }
  assertPort('healthCheck.port', check.port);
  if (check.path !== undefined && (typeof check.path !== 'string' || !HEALTH_CHECK_PATH.test(check.path))) {
    throw invalidArgument({
      field: 'healthCheck.path',
      value: String(check.path),
      message: 'healthCheck.path must start with / and contain no spaces or control characters.',
    });
  }
  for (const field of [
    'intervalSeconds',
    'timeoutSeconds',
    'healthyThreshold',
    'unhealthyThreshold',
  ] as const) {
    const value = check[field];
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > 300)) {
      throw invalidArgument({
        field: `healthCheck.${field}`,
        value: String(value),
        message: `healthCheck.${field} must be a whole number from 1 to 300.`,
      });
    }
  }
}

/**
 * A firewall rule: a resource name, a cluster, tcp or udp, `replicas` or `any`, and at least one
 * port `N` or range `N-M` within 1-65535.
 *
 * @throws HacpError INVALID_ARGUMENT naming the field (`ports[1]`, ...).
 */
export function assertFirewallRule(rule: FirewallRule): void {
  assertResourceName('name', rule?.name);
  assertClusterName(rule.cluster);
  if (rule.protocol !== 'tcp' && rule.protocol !== 'udp') {
    throw invalidArgument({
      field: 'protocol',
      value: String(rule.protocol),
      message: 'protocol must be tcp or udp.',
    });
  }
  if (rule.from !== 'replicas' && rule.from !== 'any') {
    throw invalidArgument({
      field: 'from',
      value: String(rule.from),
      message: 'from must be replicas or any.',
    });
  }
  if (!Array.isArray(rule.ports) || rule.ports.length === 0) {
    throw invalidArgument({ field: 'ports', message: 'A firewall rule needs at least one port or range.' });
  }
  for (const [index, port] of rule.ports.entries()) {
    const match = typeof port === 'string' ? PORT_RANGE.exec(port) : null;
    const low = Number(match?.[1]);
    const high = Number(match?.[2] ?? match?.[1]);
    if (match === null || low < 1 || high > 65_535 || low > high) {
      throw invalidArgument({
        field: `ports[${index}]`,
        value: String(port),
        message: `Firewall port "${String(port)}" is not a port or range such as 6443 or 2379-2381.`,
      });
    }
  }
}

/**
 * Throws ABORTED when the signal is aborted. Providers call it before they change anything, so an
 * aborted call leaves everything as it was.
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new HacpError({
      code: ErrorCode.ABORTED,
      message: 'The call was aborted before it changed anything.',
      actions: ['Run it again, or hacp resume.'],
      cause: signal.reason,
    });
  }
}
