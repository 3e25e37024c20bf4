/**
 * The input rules of the memory provider: core's rules that every provider applies (names, state
 * keys, versions, ports, locks, health checks, firewall rules), and the few it adds (zones are
 * `<region>-<letter>`). Each throws the HacpError a caller can act on, naming the field.
 */
import {
  assertHealthCheck,
  assertPort,
  assertRegionName,
  assertResourceName,
  assertZone,
  ErrorCode,
  HacpError,
  type InstanceRef,
  invalidArgument,
  type LoadBalancerSpec,
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

// A syncFiles update's rule is the provider kit's, written once for every provider.
export { assertFileUpdate } from '@hacp/core/provider-kit';

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
