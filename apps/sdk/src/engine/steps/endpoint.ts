/**
 * The endpoint steps: the address attached to one replica, or held by a health-checked load
 * balancer, and the moves between the two with the shortest gap the provider allows.
 */
import { ErrorCode, HacpError, type LoadBalancerSpec, waitUntil } from '@hacp/core';
import type { EndpointStep, PlanStep } from '@hacp/topology';
import { REPLICA_PORTS } from '../../render.js';
import type { StepStatus } from '../../types.js';
import {
  addressRef,
  announceWait,
  instanceRef,
  loadBalancerRef,
  requireRecord,
  type StepContext,
  type StepHandler,
  sleep,
} from '../context.js';
import { waitMemberHealthy } from './members.js';

type Handler<A extends EndpointStep['action']> = (
  context: StepContext,
  step: Extract<EndpointStep, { action: A }>,
  plan: readonly PlanStep[],
) => Promise<StepStatus>;

/** The targets' health: one health read where the provider has it, else the whole load balancer. */
export async function targetHealth(context: StepContext) {
  const { loadBalancers } = context.provider;
  const ref = loadBalancerRef(context);
  if (loadBalancers.health !== undefined) return loadBalancers.health(ref, { signal: context.signal });
  return (await loadBalancers.get(ref, { signal: context.signal }))?.targetHealth;
}

/** Waits until the load balancer reports the replica healthy (its health check passes). */
export async function waitTargetHealthy(context: StepContext, replica: string): Promise<void> {
  const description = `the load balancer's health check to pass for ${replica}`;
  announceWait(context, description);
  await waitUntil({
    description,
    timeoutMs: context.timeouts.target,
    signal: context.signal,
    minDelayMs: 200,
    maxDelayMs: 1000,
    check: async () => {
      const health = await targetHealth(context);
      const healthy = health?.some((entry) => entry.instance.name === replica && entry.healthy);
      return healthy ? { done: true, value: true } : { done: false };
    },
  });
}

/** The load balancer the endpoint moves to: the API port, the record's health check, these targets. */
async function loadBalancerSpec(
  context: StepContext,
  targetNames: readonly string[],
): Promise<LoadBalancerSpec> {
  const record = await requireRecord(context);
  return {
    ...loadBalancerRef(context),
    address: context.journal.target.addressName,
    port: REPLICA_PORTS.apiserver,
    healthCheck: record.healthCheck,
    targets: await Promise.all(targetNames.map((name) => instanceRef(context, name))),
  };
}

function missingLoadBalancer(context: StepContext): HacpError {
  return new HacpError({
    code: ErrorCode.STATE_CORRUPT,
    message: `Cluster ${context.cluster} has no load balancer, but the plan needs one.`,
    actions: ['Run `hacp status`, then `hacp repair`.'],
  });
}

const mutation = (context: StepContext) => ({ requestId: context.requestId(), signal: context.signal });

const attachAddress: Handler<'attach-address'> = async (context, step) => {
  const current = await context.provider.addresses.get(addressRef(context), { signal: context.signal });
  const held = current?.holder?.kind === 'instance' && current.holder.instance.name === step.replica;
  // Held but not served (the local provider's HAProxy is gone): attaching again starts it.
  if (held && current?.serving !== false) return 'skipped';
  await context.provider.addresses.attach(
    addressRef(context),
    await instanceRef(context, step.replica),
    mutation(context),
  );
  return 'done';
};

/**
 * The contract's load balancer is created on the address (ensure takes it over), so this step checks
 * what the move needs: every first target is healthy before its address moves. A provider that can
 * build the parts that need no address (GCE: health check, target pool) builds them now, so that the
 * move's gap is only detach and take-over.
 */
const createLoadBalancer: Handler<'create-load-balancer'> = async (context, step) => {
  for (const target of step.targets) await waitMemberHealthy(context, target);
  const prepare = context.provider.loadBalancers.prepare;
  if (prepare === undefined) return 'done';
  await prepare.call(
    context.provider.loadBalancers,
    await loadBalancerSpec(context, step.targets),
    mutation(context),
  );
  return 'done';
};

/** The targets the move hands the address to: the step's own, else (an older journal) the create step's. */
function moveTargets(
  step: Extract<EndpointStep, { action: 'move-address-to-load-balancer' }>,
  plan: readonly PlanStep[],
) {
  if (step.targets !== undefined) return step.targets;
  for (const planned of plan) {
    if (planned.action.kind === 'endpoint' && planned.action.step.action === 'create-load-balancer')
      return planned.action.step.targets;
  }
  return [step.from];
}

const moveAddressToLoadBalancer: Handler<'move-address-to-load-balancer'> = async (context, step, plan) => {
  const { provider, signal } = context;
  const [lb, current] = await Promise.all([
    provider.loadBalancers.get(loadBalancerRef(context), { signal }),
    provider.addresses.get(addressRef(context), { signal }),
  ]);
  if (lb !== undefined && current?.holder?.kind === 'load-balancer' && lb.serving !== false) {
    await waitTargetHealthy(context, step.from);
    return 'skipped';
  }
  const spec = await loadBalancerSpec(context, moveTargets(step, plan));
  // The shortest gap: detach and take over back to back, then wait for the health check.
  if (current?.holder?.kind === 'instance')
    await provider.addresses.detach(addressRef(context), mutation(context));
  await provider.loadBalancers.ensure(spec, mutation(context));
  await waitTargetHealthy(context, step.from);
  return 'done';
};

const addTarget: Handler<'add-target'> = async (context, step) => {
  await waitMemberHealthy(context, step.replica);
  const { provider, signal } = context;
  const lb = await provider.loadBalancers.get(loadBalancerRef(context), { signal });
  if (lb === undefined) throw missingLoadBalancer(context);
  if (lb.targets.some((target) => target.name === step.replica) && lb.serving !== false) {
    await waitTargetHealthy(context, step.replica);
    return 'skipped';
  }
  const targets = lb.targets.filter((target) => target.name !== step.replica);
  const target = await instanceRef(context, step.replica);
  await provider.loadBalancers.setTargets(loadBalancerRef(context), [...targets, target], mutation(context));
  await waitTargetHealthy(context, step.replica);
  return 'done';
};

const removeTarget: Handler<'remove-target'> = (context, step) =>
  takeOutOfLoadBalancer(context, step.replica);

/** Takes the replica out of the load balancer (where there is one) and lets its connections drain. */
export async function takeOutOfLoadBalancer(context: StepContext, replica: string): Promise<StepStatus> {
  const { provider, signal } = context;
  const lb = await provider.loadBalancers.get(loadBalancerRef(context), { signal });
  if (lb === undefined || !lb.targets.some((target) => target.name === replica)) return 'skipped';
  const targets = lb.targets.filter((target) => target.name !== replica);
  await provider.loadBalancers.setTargets(loadBalancerRef(context), targets, mutation(context));
  announceWait(context, `connections to ${replica} to drain`);
  await sleep(context.timeouts.drain, signal);
  return 'done';
}

/**
 * A target whose instance is gone goes at once (nothing to drain). Other targets without an instance
 * go with it: the provider cannot keep a target it cannot find (GCE refuses the pool's update).
 */
const dropTarget: Handler<'drop-target'> = async (context, step) => {
  const { provider, signal } = context;
  const lb = await provider.loadBalancers.get(loadBalancerRef(context), { signal });
  if (lb === undefined || !lb.targets.some((target) => target.name === step.replica)) return 'skipped';
  const instances = new Set((await context.session.instances(signal)).map((instance) => instance.name));
  if (instances.has(step.replica)) {
    throw new HacpError({
      code: ErrorCode.CONFLICT,
      message: `${step.replica}'s instance exists again, so its target is not dropped.`,
      actions: ['Run `hacp status`, then `hacp repair` again.'],
      details: { replica: step.replica },
    });
  }
  const targets = lb.targets.filter((target) => target.name !== step.replica && instances.has(target.name));
  await provider.loadBalancers.setTargets(loadBalancerRef(context), targets, mutation(context));
  return 'done';
};

/**
 * The load balancer lets go of the address, and the replica takes it straight after. Where the
 * provider can free the address alone (GCE: the forwarding rule), the rest of the load balancer
 * goes in the next step, after the replica holds the address.
 */
const moveAddressToReplica: Handler<'move-address-to-replica'> = async (context, step) => {
  const { provider, signal } = context;
  const current = await provider.addresses.get(addressRef(context), { signal });
  const held = current?.holder?.kind === 'instance' && current.holder.instance.name === step.replica;
  if (held && current?.serving !== false) return 'skipped';
  // Everything the attach needs is read before the address is let go: the gap is only the two calls.
  const replica = await instanceRef(context, step.replica);
  if (!held) {
    const release = provider.loadBalancers.releaseAddress ?? provider.loadBalancers.delete;
    await release.call(provider.loadBalancers, loadBalancerRef(context), mutation(context));
  }
  await provider.addresses.attach(addressRef(context), replica, mutation(context));
  return 'done';
};

const deleteLoadBalancer: Handler<'delete-load-balancer'> = async (context) => {
  const lb = await context.provider.loadBalancers.get(loadBalancerRef(context), { signal: context.signal });
  if (lb === undefined) return 'skipped';
  await context.provider.loadBalancers.delete(loadBalancerRef(context), mutation(context));
  return 'done';
};

const releaseAddress: Handler<'release-address'> = async (context) => {
  const { provider, signal } = context;
  const current = await provider.addresses.get(addressRef(context), { signal });
  if (current === undefined) return 'skipped';
  if (current.holder?.kind === 'instance')
    await provider.addresses.detach(addressRef(context), mutation(context));
  await provider.addresses.release(addressRef(context), mutation(context));
  return 'done';
};

/**
 * Makes the endpoint serve again where it is: the address attached again, or the load balancer
 * ensured again (which takes the address back when it lost it: GCE's forwarding rule made again on
 * the reserved address), with the targets whose instance exists.
 */
const restoreEndpoint: Handler<'restore-endpoint'> = async (context) => {
  const { provider, signal } = context;
  const [address, lb] = await Promise.all([
    provider.addresses.get(addressRef(context), { signal }),
    provider.loadBalancers.get(loadBalancerRef(context), { signal }),
  ]);
  const holder = address?.holder;
  if (holder?.kind === 'instance') {
    if (address?.serving !== false) return 'skipped';
    await provider.addresses.attach(addressRef(context), holder.instance, mutation(context));
    return 'done';
  }
  if (lb === undefined) {
    // No load balancer, and nothing holds the address: it goes back to the replica it belongs to,
    // the first one, as observation places it.
    const [first] = await context.session.instances(signal);
    if (address === undefined || first === undefined) return 'skipped';
    await provider.addresses.attach(
      addressRef(context),
      { name: first.name, zone: first.zone },
      mutation(context),
    );
    return 'done';
  }
  if (holder?.kind === 'load-balancer' && lb.serving !== false) return 'skipped';
  const instances = new Set((await context.session.instances(signal)).map((instance) => instance.name));
  const spec = await loadBalancerSpec(
    context,
    lb.targets.map((target) => target.name).filter((name) => instances.has(name)),
  );
  await provider.loadBalancers.ensure(spec, mutation(context));
  return 'done';
};

const endpointHandlers: { [A in EndpointStep['action']]: Handler<A> } = {
  'attach-address': attachAddress,
  'create-load-balancer': createLoadBalancer,
  'move-address-to-load-balancer': moveAddressToLoadBalancer,
  'add-target': addTarget,
  'remove-target': removeTarget,
  'drop-target': dropTarget,
  'move-address-to-replica': moveAddressToReplica,
  'delete-load-balancer': deleteLoadBalancer,
  'release-address': releaseAddress,
  'restore-endpoint': restoreEndpoint,
};

/** Runs one endpoint step by its action. */
export const endpoint: StepHandler<'endpoint'> = (context, action) => {
  const handler = endpointHandlers[action.step.action] as Handler<EndpointStep['action']>;
  return handler(context, action.step, context.journal.plan.steps);
};
