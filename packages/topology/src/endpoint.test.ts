import { ErrorCode, HacpError, isHacpError } from '@hacp/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyEndpointStep,
  checkEndpointInvariant,
  DEFAULT_HEALTH_CHECK,
  type EndpointModel,
  endpointModelState,
  endpointTeardown,
  endpointTransition,
  initialEndpoint,
  newEndpointModel,
  withoutReplica,
  withReplica,
} from './endpoint.js';
import { thrown } from './test-support.js';
import type { EndpointChange, EndpointState, EndpointStep } from './types.js';

const A = 'kubernetes-master';
const B = 'kubernetes-master-0b3';
const C = 'kubernetes-master-1c4';
const D = 'kubernetes-master-2d5';

const attached = (replica: string): EndpointState => ({ mode: 'attached', replica });
const balanced = (...targets: string[]): EndpointState => ({ mode: 'load-balanced', targets });
const add = (replica: string): EndpointChange => ({ kind: 'add-replica', replica });
const remove = (replica: string): EndpointChange => ({ kind: 'remove-replica', replica });

/** Applies steps one by one, checking the invariant after each. */
function applyAll(model: EndpointModel, steps: readonly EndpointStep[]): EndpointModel {
  let current = model;
  for (const step of steps) {
    current = applyEndpointStep(current, step);
    expect(checkEndpointInvariant(current), `after ${step.action}`).toBeUndefined();
  }
  return current;
}

/** A model whose endpoint is in `state`, built through the model's own steps. */
function modelIn(state: EndpointState): EndpointModel {
  const names = state.mode === 'attached' ? [state.replica] : [...state.targets];
  let model = names.reduce(withReplica, newEndpointModel());
  const [first, ...rest] = names;
  model = applyAll(model, [{ action: 'attach-address', replica: first! }]);
  if (state.mode === 'load-balanced') {
    model = applyAll(model, [
      { action: 'create-load-balancer', targets: [first!], healthCheck: DEFAULT_HEALTH_CHECK },
      { action: 'move-address-to-load-balancer', from: first! },
      ...rest.map((replica): EndpointStep => ({ action: 'add-target', replica, whenReady: true })),
    ]);
  }
  expect(endpointModelState(model)).toEqual(state);
  return model;
}

/** Recursively frozen, so a mutation throws. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

describe('endpointTransition: the seed scenarios', () => {
  it('1→2 builds the load balancer around the first replica, then moves the address, then adds the new target', () => {
    const { steps, next } = endpointTransition(attached(A), add(B));
    expect(steps).toEqual([
      {
        action: 'create-load-balancer',
        targets: [A],
        healthCheck: { protocol: 'https', port: 6443, path: '/readyz' },
      },
      { action: 'move-address-to-load-balancer', from: A, targets: [A] },
      { action: 'add-target', replica: B, whenReady: true },
    ]);
    expect(next).toEqual({ mode: 'load-balanced', targets: [A, B] });
  });

  it('1→2 uses the health check it is given', () => {
    const healthCheck = { protocol: 'http', port: 8080, path: '/healthz' } as const;
    const [create] = endpointTransition(attached(A), add(B), { healthCheck }).steps;
    expect(create).toEqual({ action: 'create-load-balancer', targets: [A], healthCheck });
  });

  it('1→2 sorts the targets by name whatever the order of the replicas', () => {
    expect(endpointTransition(attached(C), add(B)).next).toEqual(balanced(B, C));
  });

  it('2→3 only adds a target', () => {
    const { steps, next } = endpointTransition(balanced(A, B), add(C));
    expect(steps).toEqual([{ action: 'add-target', replica: C, whenReady: true }]);
    expect(next).toEqual(balanced(A, B, C));
  });

  it('adds a target to a load balancer left with a single target half-way through a transition', () => {
    const { steps, next } = endpointTransition(balanced(C), add(A));
    expect(steps).toEqual([{ action: 'add-target', replica: A, whenReady: true }]);
    expect(next).toEqual(balanced(A, C));
  });

  it('3→2 only removes a target, letting it drain', () => {
    const { steps, next } = endpointTransition(balanced(A, B, C), remove(B));
    expect(steps).toEqual([{ action: 'remove-target', replica: B, drain: true }]);
    expect(next).toEqual(balanced(A, C));
  });

  it('removing the penultimate replica removes its target, gives the address back, then deletes the load balancer', () => {
    const { steps, next } = endpointTransition(balanced(A, B), remove(A));
    expect(steps).toEqual([
      { action: 'remove-target', replica: A, drain: true },
      { action: 'move-address-to-replica', replica: B },
      { action: 'delete-load-balancer' },
    ]);
    expect(next).toEqual(attached(B));
  });

  it('refuses the last replica with LAST_REPLICA, pointing at hacp down', () => {
    const error = thrown(() => endpointTransition(attached(A), remove(A)));
    expect(error.code).toBe(ErrorCode.LAST_REPLICA);
    expect(error.details).toEqual({ replica: A });
    expect(error.actions.some((action) => action.includes('hacp down'))).toBe(true);
    expect(error.exitCode).toBe(3);
  });

  it('refuses the only target of a load balancer with LAST_REPLICA', () => {
    expect(thrown(() => endpointTransition(balanced(A), remove(A))).code).toBe(ErrorCode.LAST_REPLICA);
  });

  it('does not change the state it is given', () => {
    const state = deepFreeze(balanced(B, A, C));
    expect(endpointTransition(state, remove(A)).next).toEqual(balanced(B, C));
    expect(endpointTransition(state, add(D)).next).toEqual(balanced(A, B, C, D));
  });
});

describe('endpointTransition: errors', () => {
  it.each([
    ['the attached replica', attached(A), A],
    ['a target', balanced(A, B), B],
    ['the single target', balanced(A), A],
  ])('refuses adding %s again with INVALID_ARGUMENT on field replica', (_, state, replica) => {
    const error = thrown(() => endpointTransition(state, add(replica)));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.details).toEqual({ field: 'replica', value: replica });
    expect(error.message).toContain(replica);
  });

  it.each([
    ['an attached endpoint', attached(A), [A]],
    ['a load balancer', balanced(C, A, B), [A, B, C]],
    ['a load balancer with no targets', balanced(), []],
  ])(
    'refuses removing an unknown replica from %s with REPLICA_NOT_FOUND listing the known ones',
    (_, state, known) => {
      const error = thrown(() => endpointTransition(state, remove(D)));
      expect(error.code).toBe(ErrorCode.REPLICA_NOT_FOUND);
      expect(error.details).toEqual({ replica: D, replicas: known });
      expect(error.message).toContain(known.length === 0 ? 'none' : known.join(', '));
    },
  );

  it('matches names exactly, never by prefix', () => {
    expect(thrown(() => endpointTransition(attached(B), remove(A))).code).toBe(ErrorCode.REPLICA_NOT_FOUND);
    expect(endpointTransition(attached(A), add(`${A}-0b3`)).next).toEqual(balanced(A, `${A}-0b3`));
  });

  it.each([
    ['an empty replica name', attached(A), add(''), 'replica'],
    ['a blank replica name', balanced(A, B), remove('  '), 'replica'],
    ['an attached state without a replica', attached(''), add(B), 'state.replica'],
    ['a target listed twice', balanced(A, A), add(B), 'state.targets'],
    ['an unknown mode', { mode: 'direct', replica: A } as unknown as EndpointState, add(B), 'state.mode'],
    [
      'an unknown change',
      attached(A),
      { kind: 'rename', replica: B } as unknown as EndpointChange,
      'change.kind',
    ],
  ])('refuses %s with INVALID_ARGUMENT naming the field', (_, state, change, field) => {
    const error = thrown(() => endpointTransition(state, change));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.details.field).toBe(field);
  });

  it.each([
    [{ protocol: 'udp', port: 6443 }, 'healthCheck.protocol'],
    [{ protocol: 'https', port: 0 }, 'healthCheck.port'],
    [{ protocol: 'https', port: 65536 }, 'healthCheck.port'],
    [{ protocol: 'https', port: 64.5 }, 'healthCheck.port'],
    [{ protocol: 'https', port: 6443, path: 'readyz' }, 'healthCheck.path'],
    [{ protocol: 'tcp', port: 6443, path: '/readyz' }, 'healthCheck.path'],
  ])('refuses the health check %o with INVALID_ARGUMENT on %s', (healthCheck, field) => {
    const error = thrown(() =>
      endpointTransition(attached(A), add(B), { healthCheck: healthCheck as typeof DEFAULT_HEALTH_CHECK }),
    );
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.details.field).toBe(field);
  });
});

describe('initialEndpoint and endpointTeardown', () => {
  it('up attaches the address to the first replica', () => {
    expect(initialEndpoint(A)).toEqual({
      steps: [{ action: 'attach-address', replica: A }],
      next: attached(A),
    });
  });

  it('up refuses an empty name', () => {
    expect(thrown(() => initialEndpoint('')).details).toEqual({ field: 'replica', value: '' });
  });

  it('down deletes the load balancer, then releases the address', () => {
    expect(endpointTeardown(balanced(A, B))).toEqual([
      { action: 'delete-load-balancer' },
      { action: 'release-address' },
    ]);
  });

  it('down releases an attached address', () => {
    expect(endpointTeardown(attached(A))).toEqual([{ action: 'release-address' }]);
  });

  it('down refuses a malformed state', () => {
    expect(thrown(() => endpointTeardown({ mode: 'gone' } as unknown as EndpointState)).details.field).toBe(
      'state.mode',
    );
  });

  it.each([
    ['attached', attached(A)],
    ['load-balanced', balanced(A, B, C)],
  ])('down from %s leaves the address released, no load balancer, and every VM deletable', (_, state) => {
    let model = applyAll(modelIn(state), endpointTeardown(state));
    expect(model).toMatchObject({ reserved: false, holder: undefined, loadBalancer: undefined });
    expect(endpointModelState(model)).toBeUndefined();
    for (const replica of model.replicas) model = withoutReplica(model, replica);
    expect(model.replicas).toEqual([]);
    expect(checkEndpointInvariant(model)).toBeUndefined();
  });
});

describe('the endpoint model', () => {
  it('starts reserved, held by nothing, with no load balancer and no replica', () => {
    expect(newEndpointModel()).toEqual({
      reserved: true,
      holder: undefined,
      loadBalancer: undefined,
      replicas: [],
      freed: false,
    });
    expect(checkEndpointInvariant(newEndpointModel())).toBeUndefined();
    expect(endpointModelState(newEndpointModel())).toBeUndefined();
  });

  it('walks 1→2→3→2→1 through the steps, in the states the transitions promise', () => {
    let model = modelIn(attached(A));
    model = applyAll(withReplica(model, B), endpointTransition(attached(A), add(B)).steps);
    expect(endpointModelState(model)).toEqual(balanced(A, B));
    expect(model.loadBalancer?.healthCheck).toEqual(DEFAULT_HEALTH_CHECK);
    model = applyAll(withReplica(model, C), endpointTransition(balanced(A, B), add(C)).steps);
    expect(endpointModelState(model)).toEqual(balanced(A, B, C));
    model = withoutReplica(applyAll(model, endpointTransition(balanced(A, B, C), remove(A)).steps), A);
    expect(endpointModelState(model)).toEqual(balanced(B, C));
    model = withoutReplica(applyAll(model, endpointTransition(balanced(B, C), remove(C)).steps), C);
    expect(endpointModelState(model)).toEqual(attached(B));
    expect(model).toEqual({
      reserved: true,
      holder: { kind: 'replica', replica: B },
      loadBalancer: undefined,
      replicas: [B],
      freed: false,
    });
  });

  it('is half-way (no endpoint state) while the address and a load balancer coexist on a VM', () => {
    const model = applyEndpointStep(withReplica(modelIn(attached(A)), B), {
      action: 'create-load-balancer',
      targets: [A],
      healthCheck: DEFAULT_HEALTH_CHECK,
    });
    expect(endpointModelState(model)).toBeUndefined();
    expect(checkEndpointInvariant(model)).toBeUndefined();
  });

  it('never changes the model it is given', () => {
    const before = deepFreeze(withReplica(modelIn(attached(A)), B));
    const steps = endpointTransition(attached(A), add(B)).steps;
    let model: EndpointModel = before;
    for (const step of steps) model = deepFreeze(applyEndpointStep(model, step));
    expect(before).toEqual({
      ...newEndpointModel(),
      holder: { kind: 'replica', replica: A },
      replicas: [A, B],
    });
    expect(endpointModelState(model)).toEqual(balanced(A, B));
  });

  it('repeating a step that succeeded changes nothing (every step is idempotent)', () => {
    let model = withReplica(modelIn(attached(A)), B);
    const steps: EndpointStep[] = [
      ...endpointTransition(attached(A), add(B)).steps,
      ...endpointTransition(balanced(A, B), remove(B)).steps,
      ...endpointTeardown(attached(A)),
    ];
    for (const step of steps) {
      model = applyEndpointStep(model, step);
      expect(applyEndpointStep(model, step), step.action).toEqual(model);
    }
  });

  it('withReplica and withoutReplica create and delete VMs, idempotently', () => {
    const model = withReplica(withReplica(newEndpointModel(), A), A);
    expect(model.replicas).toEqual([A]);
    expect(withoutReplica(withoutReplica(model, A), A).replicas).toEqual([]);
    expect(thrown(() => withReplica(model, '')).code).toBe(ErrorCode.INTERNAL);
  });

  it('refuses to delete the VM that holds the address or is a target', () => {
    expect(thrown(() => withoutReplica(modelIn(attached(A)), A)).message).toContain(
      'holds the endpoint address',
    );
    const model = applyEndpointStep(modelIn(balanced(A, B)), {
      action: 'move-address-to-replica',
      replica: A,
    });
    expect(thrown(() => withoutReplica(model, B)).message).toContain('load-balancer target');
  });
});

describe('the endpoint model refuses impossible steps', () => {
  const lb: EndpointStep = {
    action: 'create-load-balancer',
    targets: [A],
    healthCheck: DEFAULT_HEALTH_CHECK,
  };
  const twoVms = () => withReplica(modelIn(attached(A)), B);
  const cases: [string, () => EndpointModel, EndpointStep, string][] = [
    // kube-up's create-loadbalancer: the address left the VM before the forwarding rule existed.
    [
      'moving the address to a load balancer that does not exist',
      twoVms,
      { action: 'move-address-to-load-balancer', from: A },
      'no load balancer exists',
    ],
    [
      'moving the address from a replica that does not hold it',
      () => applyEndpointStep(twoVms(), lb),
      { action: 'move-address-to-load-balancer', from: B },
      `${B} does not hold the address`,
    ],
    [
      'adding a target whose VM does not exist',
      () => modelIn(balanced(A)),
      { action: 'add-target', replica: B, whenReady: true },
      `replica ${B} has no VM`,
    ],
    [
      'adding a target without a load balancer',
      twoVms,
      { action: 'add-target', replica: B, whenReady: true },
      'no load balancer exists',
    ],
    [
      'removing a target without a load balancer',
      twoVms,
      { action: 'remove-target', replica: B, drain: true },
      'no load balancer exists',
    ],
    [
      'attaching the address that another replica holds',
      twoVms,
      { action: 'attach-address', replica: B },
      `held by replica ${A}`,
    ],
    [
      'attaching the address that the load balancer holds',
      () => withReplica(modelIn(balanced(A)), B),
      { action: 'attach-address', replica: B },
      'held by the load balancer',
    ],
    [
      'attaching the address to a replica without a VM',
      () => newEndpointModel(),
      { action: 'attach-address', replica: A },
      `replica ${A} has no VM`,
    ],
    [
      'creating a load balancer with a target without a VM',
      () => modelIn(attached(A)),
      { ...lb, targets: [A, B] },
      `replica ${B} has no VM`,
    ],
    [
      'creating a load balancer with no targets',
      () => modelIn(attached(A)),
      { ...lb, targets: [] },
      'at least one target',
    ],
    [
      'creating a load balancer with a target twice',
      () => modelIn(attached(A)),
      { ...lb, targets: [A, A] },
      'listed twice',
    ],
    [
      'creating a second, different load balancer',
      () => applyEndpointStep(twoVms(), lb),
      { ...lb, targets: [A, B] },
      'a different load balancer exists',
    ],
    [
      'moving the address back while a VM holds it',
      () => applyEndpointStep(twoVms(), lb),
      { action: 'move-address-to-replica', replica: B },
      'the load balancer does not hold the address',
    ],
    [
      'moving the address back to a replica without a VM',
      () => modelIn(balanced(A)),
      { action: 'move-address-to-replica', replica: B },
      `replica ${B} has no VM`,
    ],
    [
      'releasing the address the load balancer holds',
      () => modelIn(balanced(A, B)),
      { action: 'release-address' },
      'delete it first',
    ],
    [
      'attaching a released address',
      () => applyEndpointStep(modelIn(attached(A)), { action: 'release-address' }),
      { action: 'attach-address', replica: A },
      'the address was released',
    ],
    // The 2→1 order done wrong: deleting the load balancer frees the address, which nothing may take again.
    [
      'moving the address back after its load balancer was deleted',
      () => applyEndpointStep(modelIn(balanced(A)), { action: 'delete-load-balancer' }),
      { action: 'move-address-to-replica', replica: A },
      'freed for teardown',
    ],
    [
      're-attaching the address after its load balancer was deleted',
      () => applyEndpointStep(modelIn(balanced(A)), { action: 'delete-load-balancer' }),
      { action: 'attach-address', replica: A },
      'freed for teardown',
    ],
    [
      'an unknown step',
      () => newEndpointModel(),
      { action: 'teleport' } as unknown as EndpointStep,
      'unknown endpoint step',
    ],
  ];

  it.each(cases)('%s', (_, model, step, reason) => {
    const error = thrown(() => applyEndpointStep(model(), step));
    expect(error.code).toBe(ErrorCode.INTERNAL);
    expect(error.message).toContain(reason);
    expect(error.details).toMatchObject({ step: step.action });
  });
});

describe('checkEndpointInvariant', () => {
  const base = (): EndpointModel => ({ ...newEndpointModel(), replicas: [A, B] });
  const cases: [string, EndpointModel, string][] = [
    [
      'a load balancer holding the address with no targets',
      {
        ...base(),
        holder: { kind: 'load-balancer' },
        loadBalancer: { targets: [], healthCheck: DEFAULT_HEALTH_CHECK },
      },
      'has no targets',
    ],
    [
      'a target without a VM',
      {
        ...base(),
        holder: { kind: 'load-balancer' },
        loadBalancer: { targets: [A, C], healthCheck: DEFAULT_HEALTH_CHECK },
      },
      `target ${C} has no VM`,
    ],
    [
      'a target listed twice',
      {
        ...base(),
        holder: { kind: 'load-balancer' },
        loadBalancer: { targets: [A, A], healthCheck: DEFAULT_HEALTH_CHECK },
      },
      `target ${A} is listed twice`,
    ],
    [
      'a load balancer holding the address that does not exist',
      { ...base(), holder: { kind: 'load-balancer' } },
      'does not exist',
    ],
    [
      'a holder without a VM',
      { ...base(), holder: { kind: 'replica', replica: C } },
      `replica ${C} holds the address but has no VM`,
    ],
    ['no holder while two replicas exist', base(), 'nothing holds the address while 2 replicas exist'],
    [
      'no holder while a load balancer exists',
      { ...base(), replicas: [A], loadBalancer: { targets: [A], healthCheck: DEFAULT_HEALTH_CHECK } },
      'nothing holds the address while a load balancer exists',
    ],
    [
      'a holder after the address was freed',
      { ...base(), freed: true, holder: { kind: 'replica', replica: A } },
      'freed for teardown',
    ],
    [
      'a holder after release',
      { ...base(), reserved: false, holder: { kind: 'replica', replica: A } },
      'released but replica',
    ],
    [
      'a load balancer left after release',
      { ...base(), reserved: false, loadBalancer: { targets: [A], healthCheck: DEFAULT_HEALTH_CHECK } },
      'load balancer is left',
    ],
    ['a replica listed twice', { ...base(), replicas: [A, A] }, `replica ${A} is listed twice`],
  ];

  it.each(cases)('reports %s', (_, model, violation) => {
    expect(checkEndpointInvariant(model)).toContain(violation);
  });

  it.each([
    ['before the first VM', newEndpointModel()],
    ['before the first attach, with the first VM', withReplica(newEndpointModel(), A)],
    ['freed for teardown with VMs left', { ...base(), freed: true }],
    ['released with VMs left (down deletes them next)', { ...base(), reserved: false }],
  ])('accepts no holder %s', (_, model) => {
    expect(checkEndpointInvariant(model)).toBeUndefined();
  });

  it('a removed target leaves the load balancer without targets: the invariant catches a plan that removes the last one', () => {
    const model = applyEndpointStep(modelIn(balanced(A)), {
      action: 'remove-target',
      replica: A,
      drain: true,
    });
    expect(checkEndpointInvariant(model)).toBe('the load balancer holds the address but has no targets');
  });
});

// ---------------------------------------------------------------------------------------------------
// Property: random add/remove sequences over a pool, applied step by step to the model.

const POOL = [A, B, C, D, 'kubernetes-master-3e6', 'kubernetes-master-4f7'] as const;

type Command =
  | { kind: 'add'; replica: string; repeat: boolean }
  /** The VM is deleted after step `deleteAfter` (≥ 1: after its target is removed) of the removal. */
  | { kind: 'remove'; replica: string; deleteAfter: number; repeat: boolean };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), replica: fc.constantFrom(...POOL), repeat: fc.boolean() }),
  fc.record({
    kind: fc.constant('remove' as const),
    replica: fc.constantFrom(...POOL),
    deleteAfter: fc.integer({ min: 1, max: 3 }),
    repeat: fc.boolean(),
  }),
);

interface Harness {
  model: EndpointModel;
  /** The replicas that exist, by the test's own book-keeping. */
  replicas: Set<string>;
}

/** Applies one step, checking what must hold after every step; with `repeat`, applies it twice. */
function step(harness: Harness, endpointStep: EndpointStep, repeat: boolean): void {
  harness.model = applyEndpointStep(harness.model, endpointStep);
  if (repeat) expect(applyEndpointStep(harness.model, endpointStep)).toEqual(harness.model);
  expect(checkEndpointInvariant(harness.model), `after ${endpointStep.action}`).toBeUndefined();
  expect(harness.model.reserved, 'the address is never released outside down').toBe(true);
}

/** Runs one command against the model, as replicate/remove would; returns what it observed. */
function run(harness: Harness, command: Command, transition = endpointTransition): void {
  const state = endpointModelState(harness.model);
  if (state === undefined) throw new Error('the endpoint has no state between transitions');
  const known = [...harness.replicas].sort();
  if (command.kind === 'add') {
    if (harness.replicas.has(command.replica)) {
      const error = thrown(() => transition(state, add(command.replica)));
      expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(error.details.field).toBe('replica');
      return;
    }
    const { steps, next } = transition(state, add(command.replica));
    harness.model = withReplica(harness.model, command.replica);
    expect(checkEndpointInvariant(harness.model)).toBeUndefined();
    for (const endpointStep of steps) step(harness, endpointStep, command.repeat);
    harness.replicas.add(command.replica);
    expect(endpointModelState(harness.model)).toEqual(next);
  } else {
    let outcome: ReturnType<typeof endpointTransition> | HacpError;
    try {
      outcome = transition(state, remove(command.replica));
    } catch (error) {
      if (!isHacpError(error)) throw error;
      outcome = error;
    }
    const last = harness.replicas.size === 1 && harness.replicas.has(command.replica);
    expect(outcome instanceof HacpError && outcome.code === ErrorCode.LAST_REPLICA, 'LAST_REPLICA').toBe(
      last,
    );
    if (outcome instanceof HacpError) {
      if (!last) {
        expect(outcome.code).toBe(ErrorCode.REPLICA_NOT_FOUND);
        expect(outcome.details).toEqual({ replica: command.replica, replicas: known });
        expect(harness.replicas.has(command.replica)).toBe(false);
      }
      return;
    }
    const { steps, next } = outcome;
    const deleteAfter = Math.min(command.deleteAfter, steps.length);
    steps.forEach((endpointStep, index) => {
      step(harness, endpointStep, command.repeat);
      if (index + 1 === deleteAfter) {
        harness.model = withoutReplica(harness.model, command.replica);
        expect(checkEndpointInvariant(harness.model), 'after deleting the VM').toBeUndefined();
      }
    });
    harness.replicas.delete(command.replica);
    expect(endpointModelState(harness.model)).toEqual(next);
  }
  const after = endpointModelState(harness.model);
  const behind = after?.mode === 'attached' ? [after.replica] : [...(after?.targets ?? [])];
  expect(behind).toEqual([...harness.replicas].sort());
  expect(after?.mode).toBe(harness.replicas.size === 1 ? 'attached' : 'load-balanced');
}

/** `up`, then the commands, then `down`'s teardown; checks everything along the way. */
function scenario(first: string, commands: readonly Command[], transition = endpointTransition): void {
  const harness: Harness = { model: withReplica(newEndpointModel(), first), replicas: new Set([first]) };
  expect(checkEndpointInvariant(harness.model)).toBeUndefined();
  const up = initialEndpoint(first);
  for (const endpointStep of up.steps) step(harness, endpointStep, false);
  expect(endpointModelState(harness.model)).toEqual(up.next);

  for (const command of commands) run(harness, command, transition);

  const state = endpointModelState(harness.model)!;
  for (const endpointStep of endpointTeardown(state)) {
    harness.model = applyEndpointStep(harness.model, endpointStep);
    expect(checkEndpointInvariant(harness.model), `teardown: after ${endpointStep.action}`).toBeUndefined();
  }
  expect(harness.model.reserved).toBe(false);
  expect(harness.model.holder).toBeUndefined();
  expect(harness.model.loadBalancer).toBeUndefined();
  for (const replica of harness.replicas) harness.model = withoutReplica(harness.model, replica);
  expect(checkEndpointInvariant(harness.model)).toBeUndefined();
}

describe('property: the address always has one holder and follows the replica set', () => {
  it('holds over random add/remove sequences from up to down', () => {
    fc.assert(
      fc.property(fc.constantFrom(...POOL), fc.array(commandArb, { maxLength: 30 }), (first, commands) => {
        scenario(first, commands);
      }),
      { numRuns: 500 },
    );
  });

  it('reaches every size from one to the whole pool and back', () => {
    const grow = POOL.slice(1).map((replica): Command => ({ kind: 'add', replica, repeat: true }));
    const shrink = POOL.slice(1).map(
      (replica): Command => ({ kind: 'remove', replica, deleteAfter: 1, repeat: true }),
    );
    expect(() => scenario(A, [...grow, ...shrink, ...grow])).not.toThrow();
  });

  // The harness must be able to fail: each broken transition below is caught by it.
  const broken: [string, typeof endpointTransition][] = [
    [
      "kube-up's order: the address leaves the VM before the load balancer exists",
      (state, change, options) => {
        const result = endpointTransition(state, change, options);
        const [create, move, ...rest] = result.steps;
        return create?.action === 'create-load-balancer' && move
          ? { ...result, steps: [move, create, ...rest] }
          : result;
      },
    ],
    [
      'deleting the load balancer before moving the address back',
      (state, change, options) => {
        const result = endpointTransition(state, change, options);
        const [removeTarget, moveBack, del] = result.steps;
        return del?.action === 'delete-load-balancer' && removeTarget && moveBack
          ? { ...result, steps: [removeTarget, del, moveBack] }
          : result;
      },
    ],
    [
      'removing the last target without moving the address back',
      (state, change, options) => {
        const result = endpointTransition(state, change, options);
        return result.next.mode === 'attached' && change.kind === 'remove-replica'
          ? {
              ...result,
              steps: [
                ...result.steps.slice(0, 1),
                { action: 'remove-target', replica: result.next.replica, drain: true },
                ...result.steps.slice(1),
              ],
            }
          : result;
      },
    ],
    [
      'a next state that is not where the steps lead',
      (state, change, options) => {
        const result = endpointTransition(state, change, options);
        return result.next.mode === 'load-balanced'
          ? { ...result, next: { ...result.next, targets: result.next.targets.slice(1) } }
          : result;
      },
    ],
  ];

  it.each(broken)('catches %s', (_, transition) => {
    const commands: Command[] = [
      { kind: 'add', replica: B, repeat: false },
      { kind: 'remove', replica: B, deleteAfter: 1, repeat: false },
    ];
    expect(() => scenario(A, commands)).not.toThrow();
    expect(() => scenario(A, commands, transition)).toThrow();
  });
});
