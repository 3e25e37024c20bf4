/**
 * The cluster endpoint: one reserved address that one replica's VM holds, or, from two replicas on, a
 * health-checked load balancer. This module decides the provider steps that move the address as the
 * replica set changes, and models what those steps do to the provider so tests can check that the
 * address always has exactly one holder and is released only by `down`.
 *
 * kube-up took the address off the VM before the forwarding rule existed (an outage of up to twenty
 * minutes) and its load balancer had no health check; here the load balancer is built first, with a
 * health check, and only then takes the address.
 */
import { ErrorCode, HacpError, invalidArgument } from '@hacp/core';
import type { EndpointChange, EndpointHealthCheck, EndpointState, EndpointStep } from './types.js';

/**
 * The health check a new load balancer gets unless the caller gives another: kube-apiserver's
 * readiness endpoint on its secure port.
 */
export const DEFAULT_HEALTH_CHECK: EndpointHealthCheck = Object.freeze({
  protocol: 'https',
  port: 6443,
  path: '/readyz',
});

/** Options of {@link endpointTransition}. */
export interface EndpointTransitionOptions {
  /** The health check of a load balancer created by this transition; {@link DEFAULT_HEALTH_CHECK} if absent. */
  healthCheck?: EndpointHealthCheck;
}

/** The provider steps of an endpoint change, in order, and the state they reach. */
export interface EndpointTransition {
  steps: EndpointStep[];
  next: EndpointState;
}

/**
 * The provider steps that make the endpoint follow one change of the replica set, in the order they
 * must run, and the state they reach.
 *
 * - attached to A, add B: create the load balancer with A as its only target and the health check,
 *   move the address from A's VM to it, then add B as a target once B is ready. The address leaves
 *   the VM only when the load balancer exists.
 * - load-balanced, add X: add X as a target once ready.
 * - load-balanced with three or more targets, remove X: remove X's target and let it drain.
 * - load-balanced with two targets, remove X: remove X's target, move the address back to the other
 *   replica's VM, then delete the load balancer.
 *
 * A load balancer with a single target (met half-way through a transition) is a valid state.
 *
 * @example
 * endpointTransition({ mode: 'attached', replica: 'kubernetes-master' }, {
 *   kind: 'add-replica',
 *   replica: 'kubernetes-master-a1f',
 * });
 * // steps: create-load-balancer { targets: ['kubernetes-master'], healthCheck },
 * //        move-address-to-load-balancer { from: 'kubernetes-master' },
 * //        add-target { replica: 'kubernetes-master-a1f', whenReady: true }
 * // next:  { mode: 'load-balanced', targets: ['kubernetes-master', 'kubernetes-master-a1f'] }
 * @throws HacpError LAST_REPLICA when the change removes the only replica behind the endpoint: that
 *   is `hacp down`.
 * @throws HacpError REPLICA_NOT_FOUND when the removed replica is not behind the endpoint;
 *   `details.replicas` lists those that are.
 * @throws HacpError INVALID_ARGUMENT (`details.field`: `replica` when the added replica is already
 *   behind the endpoint or a name is empty; `state`, `change.kind` or `healthCheck.*` for malformed
 *   input).
 */
export function endpointTransition(
  state: EndpointState,
  change: EndpointChange,
  options: EndpointTransitionOptions = {},
): EndpointTransition {
  const known = replicasOf(state);
  assertReplicaName(change.replica);
  const replica = change.replica;

  switch (change.kind) {
    case 'add-replica': {
      if (known.includes(replica)) {
        throw invalidArgument({
          field: 'replica',
          value: replica,
          message: `Replica ${replica} is already behind the endpoint (${describe(state)}); it cannot be added again.`,
          actions: ['Add the new replica under a name no replica has.'],
        });
      }
      const add: EndpointStep = { action: 'add-target', replica, whenReady: true };
      if (state.mode === 'attached') {
        const healthCheck = checkedHealthCheck(options.healthCheck ?? DEFAULT_HEALTH_CHECK);
        return {
          steps: [
            { action: 'create-load-balancer', targets: [state.replica], healthCheck },
            { action: 'move-address-to-load-balancer', from: state.replica, targets: [state.replica] },
            add,
          ],
          next: { mode: 'load-balanced', targets: sortedNames([state.replica, replica]) },
        };
      }
      return { steps: [add], next: { mode: 'load-balanced', targets: sortedNames([...known, replica]) } };
    }
    case 'remove-replica': {
      if (!known.includes(replica)) {
        throw new HacpError({
          code: ErrorCode.REPLICA_NOT_FOUND,
          message: `Replica ${replica} is not behind the endpoint; the replicas behind it are ${listOrNone(known)}.`,
          actions: ['Give one of those names exactly (`hacp status` lists them).'],
          details: { replica, replicas: known },
        });
      }
      if (known.length === 1) {
        throw new HacpError({
          code: ErrorCode.LAST_REPLICA,
          message: `Replica ${replica} is the only replica behind the endpoint: removing it would leave the cluster without a control plane.`,
          actions: [
            'To delete the whole cluster, run `hacp down`.',
            'To replace this replica, add another one first (`hacp replicate`), then remove it.',
          ],
          details: { replica },
        });
      }
      // Only `load-balanced` reaches here: an attached endpoint knows one replica.
      const remove: EndpointStep = { action: 'remove-target', replica, drain: true };
      const remaining = known.filter((name) => name !== replica);
      const [last] = remaining;
      if (remaining.length === 1 && last !== undefined) {
        return {
          steps: [
            remove,
            { action: 'move-address-to-replica', replica: last },
            { action: 'delete-load-balancer' },
          ],
          next: { mode: 'attached', replica: last },
        };
      }
      return { steps: [remove], next: { mode: 'load-balanced', targets: remaining } };
    }
    default:
      throw invalidArgument({
        field: 'change.kind',
        value: String((change as { kind: unknown }).kind),
        message: `Unknown endpoint change ${String((change as { kind: unknown }).kind)}: expected add-replica or remove-replica.`,
      });
  }
}

/**
 * The endpoint of a new cluster (`hacp up`): attach the reserved address to the first replica's VM.
 *
 * @example
 * initialEndpoint('kubernetes-master');
 * // { steps: [{ action: 'attach-address', replica: 'kubernetes-master' }],
 * //   next: { mode: 'attached', replica: 'kubernetes-master' } }
 * @throws HacpError INVALID_ARGUMENT (`details.field = 'replica'`) for an empty name.
 */
export function initialEndpoint(replica: string): EndpointTransition {
  assertReplicaName(replica);
  return { steps: [{ action: 'attach-address', replica }], next: { mode: 'attached', replica } };
}

/**
 * The steps that take the endpoint away, for `hacp down` only, and the only place the address is
 * released. Run them before deleting the replicas' instances: a load-balanced endpoint deletes its
 * load balancer (which frees the address) and then releases the address; an attached one releases
 * the address, which detaches it from the VM first.
 *
 * @example
 * endpointTeardown({ mode: 'load-balanced', targets: ['kubernetes-master', 'kubernetes-master-a1f'] });
 * // [{ action: 'delete-load-balancer' }, { action: 'release-address' }]
 * endpointTeardown({ mode: 'attached', replica: 'kubernetes-master' });
 * // [{ action: 'release-address' }]
 * @throws HacpError INVALID_ARGUMENT (`details.field = 'state'` or `state.*`) for a malformed state.
 */
export function endpointTeardown(state: EndpointState): EndpointStep[] {
  replicasOf(state);
  return state.mode === 'load-balanced'
    ? [{ action: 'delete-load-balancer' }, { action: 'release-address' }]
    : [{ action: 'release-address' }];
}

// ---------------------------------------------------------------------------------------------------
// The provider-side model.

/** Who holds the address in an {@link EndpointModel}. */
export type EndpointHolder = { kind: 'replica'; replica: string } | { kind: 'load-balancer' };

/** The load balancer in an {@link EndpointModel}. */
export interface EndpointModelLoadBalancer {
  /** Sorted by name, no duplicates. */
  targets: readonly string[];
  healthCheck: EndpointHealthCheck;
}

/**
 * The provider side of the endpoint as plain data, for tests: {@link applyEndpointStep} runs steps
 * against it and {@link checkEndpointInvariant} checks it between steps.
 */
export interface EndpointModel {
  /** Reserved from `up` until `down` releases it. */
  reserved: boolean;
  /** Who holds the address; undefined before the first attach, once freed by teardown, and once released. */
  holder: EndpointHolder | undefined;
  loadBalancer: EndpointModelLoadBalancer | undefined;
  /** Replicas whose VM exists. */
  replicas: readonly string[];
  /**
   * Set when deleting the load balancer that held the address freed it: `down`'s teardown has begun,
   * and nothing may hold the address again; only `release-address` may follow. This is what tells
   * teardown apart from a plan that deletes the load balancer before moving the address back.
   */
  freed: boolean;
}

/**
 * A model right after `up` reserved the address: nothing holds it, no load balancer, no replica.
 *
 * @example
 * let model = withReplica(newEndpointModel(), 'kubernetes-master');
 * model = applyEndpointStep(model, { action: 'attach-address', replica: 'kubernetes-master' });
 * endpointModelState(model); // { mode: 'attached', replica: 'kubernetes-master' }
 */
export function newEndpointModel(): EndpointModel {
  return { reserved: true, holder: undefined, loadBalancer: undefined, replicas: [], freed: false };
}

/**
 * The model after the replica's VM was created; creating one that exists changes nothing.
 *
 * @throws HacpError INTERNAL for an empty name.
 */
export function withReplica(model: EndpointModel, replica: string): EndpointModel {
  if (typeof replica !== 'string' || replica === '')
    throw impossible('create a VM', 'the replica has no name');
  return model.replicas.includes(replica)
    ? { ...model, replicas: [...model.replicas] }
    : { ...model, replicas: [...model.replicas, replica] };
}

/**
 * The model after the replica's VM was deleted; deleting one that does not exist changes nothing.
 *
 * @throws HacpError INTERNAL while the VM holds the address or is a target of the load balancer: take
 *   it out of the endpoint first (`down` releases the address before deleting VMs).
 */
export function withoutReplica(
  model: EndpointModel,
  replica: string,
  options: { detach?: boolean } = {},
): EndpointModel {
  const step = `delete the VM of ${replica}`;
  if (model.holder?.kind === 'replica' && model.holder.replica === replica) {
    // A cloud detaches the address from a VM it deletes and keeps it reserved: `recover` deletes a
    // dead holder so, and attaches the address to the replica that serves again.
    if (options.detach === true) {
      return { ...model, holder: undefined, replicas: model.replicas.filter((name) => name !== replica) };
    }
    throw impossible(step, 'it holds the endpoint address; move or release the address first');
  }
  if (model.loadBalancer?.targets.includes(replica)) {
    throw impossible(step, 'it is still a load-balancer target; remove the target first');
  }
  return { ...model, replicas: model.replicas.filter((name) => name !== replica) };
}

/**
 * The model after one endpoint step, as the provider would leave it. Returns a new model; the one
 * given is never changed. Like the real steps, each is idempotent: repeating a step that succeeded
 * changes nothing.
 *
 * Rules, beyond each step's own description:
 * - Nothing may take the address once it is released or freed (see {@link EndpointModel.freed}).
 * - `delete-load-balancer` is always allowed (deleting a missing one changes nothing). When the load
 *   balancer holds the address, deleting it frees the address and sets `freed`: that is the first
 *   step of `down`'s teardown, after which only `release-address` is allowed. A plan that deletes
 *   the load balancer before moving the address back therefore fails at its next address step, and
 *   its final state has no holder.
 * - `release-address` detaches the address from a VM first; it is refused while the load balancer
 *   holds the address (the cloud refuses to release an address in use by a forwarding rule).
 *
 * @example
 * let model = withReplica(withReplica(newEndpointModel(), 'a'), 'b');
 * model = applyEndpointStep(model, { action: 'attach-address', replica: 'a' });
 * applyEndpointStep(model, { action: 'move-address-to-load-balancer', from: 'a' });
 * // throws HacpError INTERNAL: no load balancer exists (kube-up's order)
 * @throws HacpError INTERNAL for a step that cannot do what it says: an unknown replica, a load
 *   balancer that does not exist (or exists already, differently), an address that another holder
 *   has, that was released or freed, or that the load balancer still holds when released.
 */
export function applyEndpointStep(model: EndpointModel, step: EndpointStep): EndpointModel {
  const name = step.action;
  const { holder, loadBalancer } = model;
  switch (step.action) {
    case 'attach-address': {
      assertAddressLive(model, name);
      assertVm(model, name, step.replica);
      if (holder?.kind === 'replica' && holder.replica === step.replica) return { ...model };
      if (holder !== undefined) throw impossible(name, `the address is held by ${describeHolder(holder)}`);
      return { ...model, holder: { kind: 'replica', replica: step.replica } };
    }
    case 'create-load-balancer': {
      assertAddressLive(model, name);
      const targets = sortedNames(step.targets);
      if (targets.length === 0) throw impossible(name, 'a load balancer needs at least one target');
      if (targets.length !== step.targets.length) throw impossible(name, 'a target is listed twice');
      for (const target of targets) assertVm(model, name, target);
      const healthCheck = { ...step.healthCheck };
      if (loadBalancer !== undefined) {
        if (
          sameNames(loadBalancer.targets, targets) &&
          sameHealthCheck(loadBalancer.healthCheck, healthCheck)
        ) {
          return { ...model };
        }
        throw impossible(
          name,
          `a different load balancer exists (targets ${listOrNone(loadBalancer.targets)})`,
        );
      }
      return { ...model, loadBalancer: { targets, healthCheck } };
    }
    case 'move-address-to-load-balancer': {
      assertAddressLive(model, name);
      if (loadBalancer === undefined) throw impossible(name, 'no load balancer exists');
      if (holder?.kind === 'load-balancer') return { ...model };
      if (holder?.kind !== 'replica' || holder.replica !== step.from) {
        throw impossible(name, `${step.from} does not hold the address (${describeHolder(holder)} does)`);
      }
      return { ...model, holder: { kind: 'load-balancer' } };
    }
    case 'add-target': {
      if (loadBalancer === undefined) throw impossible(name, 'no load balancer exists');
      assertVm(model, name, step.replica);
      if (loadBalancer.targets.includes(step.replica)) return { ...model };
      return {
        ...model,
        loadBalancer: { ...loadBalancer, targets: sortedNames([...loadBalancer.targets, step.replica]) },
      };
    }
    case 'remove-target':
    case 'drop-target': {
      if (loadBalancer === undefined) throw impossible(name, 'no load balancer exists');
      return {
        ...model,
        loadBalancer: { ...loadBalancer, targets: loadBalancer.targets.filter((t) => t !== step.replica) },
      };
    }
    case 'move-address-to-replica': {
      assertAddressLive(model, name);
      assertVm(model, name, step.replica);
      if (holder?.kind === 'replica' && holder.replica === step.replica) return { ...model };
      if (holder?.kind !== 'load-balancer') {
        throw impossible(
          name,
          `the load balancer does not hold the address (${describeHolder(holder)} does)`,
        );
      }
      return { ...model, holder: { kind: 'replica', replica: step.replica } };
    }
    case 'delete-load-balancer': {
      if (loadBalancer === undefined) return { ...model };
      if (holder?.kind === 'load-balancer')
        return { ...model, loadBalancer: undefined, holder: undefined, freed: true };
      return { ...model, loadBalancer: undefined };
    }
    case 'restore-endpoint': {
      assertAddressLive(model, name);
      return { ...model };
    }
    case 'release-address': {
      if (!model.reserved) return { ...model };
      if (holder?.kind === 'load-balancer')
        throw impossible(name, 'the load balancer holds the address; delete it first');
      return { ...model, reserved: false, holder: undefined };
    }
    default:
      throw impossible(String((step as { action: unknown }).action), 'unknown endpoint step');
  }
}

/**
 * The endpoint state the model is in: `attached` when a replica holds the address and no load
 * balancer exists, `load-balanced` when the load balancer holds it, undefined otherwise (half-way
 * through a transition, before the first attach, during teardown, after release).
 */
export function endpointModelState(model: EndpointModel): EndpointState | undefined {
  if (!model.reserved) return undefined;
  const { holder, loadBalancer } = model;
  if (holder?.kind === 'replica' && loadBalancer === undefined)
    return { mode: 'attached', replica: holder.replica };
  if (holder?.kind === 'load-balancer' && loadBalancer !== undefined) {
    return { mode: 'load-balanced', targets: sortedNames(loadBalancer.targets) };
  }
  return undefined;
}

/**
 * The first violation of the endpoint invariant in the model, or undefined when it holds:
 *
 * - While reserved, the address has exactly one holder, except (a) before the first attach in `up`,
 *   when no load balancer exists and at most the first replica's VM does, and (b) once freed by
 *   `down`'s teardown, when no load balancer exists. The model's steps reach no other holderless
 *   state: only teardown takes the holder away.
 * - A replica that holds the address has a VM.
 * - A load balancer that holds the address has at least one target; every target of a load balancer
 *   is a replica whose VM exists.
 * - Once released, nothing holds the address and no load balancer is left.
 */
export function checkEndpointInvariant(model: EndpointModel): string | undefined {
  const { holder, loadBalancer, replicas } = model;
  const duplicate = replicas.find((name, index) => replicas.indexOf(name) !== index);
  if (duplicate !== undefined) return `replica ${duplicate} is listed twice`;
  if (!model.reserved) {
    if (holder !== undefined) return `the address was released but ${describeHolder(holder)} holds it`;
    if (loadBalancer !== undefined) return 'the address was released but the load balancer is left';
    return undefined;
  }
  if (loadBalancer !== undefined) {
    const targets = loadBalancer.targets;
    const twice = targets.find((name, index) => targets.indexOf(name) !== index);
    if (twice !== undefined) return `load-balancer target ${twice} is listed twice`;
    const orphan = targets.find((name) => !replicas.includes(name));
    if (orphan !== undefined) return `load-balancer target ${orphan} has no VM`;
  }
  if (holder === undefined) {
    if (loadBalancer !== undefined) return 'nothing holds the address while a load balancer exists';
    if (!model.freed && replicas.length > 1) {
      return `nothing holds the address while ${replicas.length} replicas exist (${replicas.join(', ')})`;
    }
    return undefined;
  }
  if (model.freed) return `the address was freed for teardown but ${describeHolder(holder)} holds it`;
  if (holder.kind === 'replica') {
    if (!replicas.includes(holder.replica))
      return `replica ${holder.replica} holds the address but has no VM`;
    return undefined;
  }
  if (loadBalancer === undefined) return 'the load balancer holds the address but does not exist';
  if (loadBalancer.targets.length === 0) return 'the load balancer holds the address but has no targets';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorted, without duplicates. */
function sortedNames(names: readonly string[]): string[] {
  return [...new Set(names)].sort(byName);
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, index) => name === b[index]);
}

function sameHealthCheck(a: EndpointHealthCheck, b: EndpointHealthCheck): boolean {
  return a.protocol === b.protocol && a.port === b.port && a.path === b.path;
}

function listOrNone(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ');
}

function describe(state: EndpointState): string {
  return state.mode === 'attached'
    ? `attached to ${state.replica}`
    : `load-balanced across ${listOrNone(state.targets)}`;
}

function describeHolder(holder: EndpointHolder | undefined): string {
  if (holder === undefined) return 'nothing';
  return holder.kind === 'replica' ? `replica ${holder.replica}` : 'the load balancer';
}

function assertReplicaName(replica: unknown, field = 'replica'): asserts replica is string {
  if (typeof replica !== 'string' || replica.trim() === '') {
    throw invalidArgument({
      field,
      message: 'A replica name must be a non-empty string.',
      ...(typeof replica === 'string' ? { value: replica } : {}),
    });
  }
}

/** The replicas behind a well-formed endpoint state, sorted. */
function replicasOf(state: EndpointState): string[] {
  if (typeof state !== 'object' || state === null) {
    throw invalidArgument({ field: 'state', message: 'The endpoint state is missing.' });
  }
  if (state.mode === 'attached') {
    assertReplicaName(state.replica, 'state.replica');
    return [state.replica];
  }
  if (state.mode === 'load-balanced') {
    if (!Array.isArray(state.targets)) {
      throw invalidArgument({
        field: 'state.targets',
        message: 'A load-balanced endpoint lists its targets.',
      });
    }
    for (const target of state.targets) assertReplicaName(target, 'state.targets');
    const targets = sortedNames(state.targets);
    if (targets.length !== state.targets.length) {
      throw invalidArgument({
        field: 'state.targets',
        message: `The load balancer lists a target twice: ${state.targets.join(', ')}.`,
      });
    }
    return targets;
  }
  throw invalidArgument({
    field: 'state.mode',
    value: String((state as { mode: unknown }).mode),
    message: `Unknown endpoint mode ${String((state as { mode: unknown }).mode)}: expected attached or load-balanced.`,
  });
}

const PROTOCOLS: readonly string[] = ['http', 'https', 'tcp'];

/** A validated copy of the health check. */
function checkedHealthCheck(check: EndpointHealthCheck): EndpointHealthCheck {
  if (!PROTOCOLS.includes(check.protocol)) {
    throw invalidArgument({
      field: 'healthCheck.protocol',
      value: String(check.protocol),
      message: `Health-check protocol ${String(check.protocol)} is not one of ${PROTOCOLS.join(', ')}.`,
    });
  }
  if (!Number.isSafeInteger(check.port) || check.port < 1 || check.port > 65535) {
    throw invalidArgument({
      field: 'healthCheck.port',
      value: check.port,
      message: `Health-check port ${check.port} is not a port number (1-65535).`,
    });
  }
  if (check.path !== undefined) {
    if (check.protocol === 'tcp') {
      throw invalidArgument({
        field: 'healthCheck.path',
        value: check.path,
        message: 'A tcp health check has no path; use http or https, or leave the path out.',
      });
    }
    if (!check.path.startsWith('/')) {
      throw invalidArgument({
        field: 'healthCheck.path',
        value: check.path,
        message: `Health-check path ${check.path} must start with /.`,
      });
    }
    return { protocol: check.protocol, port: check.port, path: check.path };
  }
  return { protocol: check.protocol, port: check.port };
}

function impossible(step: string, reason: string): HacpError {
  return new HacpError({
    code: ErrorCode.INTERNAL,
    message: `Impossible endpoint step ${step}: ${reason}.`,
    details: { step, reason },
  });
}

function assertAddressLive(model: EndpointModel, step: string): void {
  if (!model.reserved) throw impossible(step, 'the address was released');
  if (model.freed)
    throw impossible(step, 'the address was freed for teardown; only release-address may follow');
}

function assertVm(model: EndpointModel, step: string, replica: string): void {
  if (!model.replicas.includes(replica)) throw impossible(step, `replica ${replica} has no VM`);
}
