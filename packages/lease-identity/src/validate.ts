/** Checks of caller input, made before anything is sent: bad input never reaches the API server. */
import { invalidArgument } from '@hacp/core';

// RFC 1123 subdomain (object names) and label (namespaces), as the API server validates them.
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** @throws HacpError INVALID_ARGUMENT unless `name` is a valid Lease name. */
export function assertLeaseName(name: unknown, field = 'name'): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 253 || !SUBDOMAIN.test(name)) {
    throw invalidArgument({
      field,
      message: `${JSON.stringify(name)} is not a valid Lease name: use lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit.`,
      ...(typeof name === 'string' ? { value: name } : {}),
    });
  }
}

/** @throws HacpError INVALID_ARGUMENT unless `namespace` is a valid namespace name. */
export function assertNamespace(namespace: unknown): asserts namespace is string {
  if (
    typeof namespace !== 'string' ||
    namespace.length === 0 ||
    namespace.length > 63 ||
    !DNS_LABEL.test(namespace)
  ) {
    throw invalidArgument({
      field: 'namespace',
      message: `${JSON.stringify(namespace)} is not a valid namespace name: use lowercase letters, digits and '-', at most 63 characters.`,
      ...(typeof namespace === 'string' ? { value: namespace } : {}),
    });
  }
}

/** `value` when it is a finite number of milliseconds above zero. @throws HacpError INVALID_ARGUMENT otherwise. */
export function positiveMs(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalidArgument({
      field,
      message: `${field} must be a number of milliseconds above zero (got ${String(value)}).`,
      ...(typeof value === 'number' ? { value } : {}),
    });
  }
  return value;
}
