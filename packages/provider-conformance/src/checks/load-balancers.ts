import assert from 'node:assert/strict';
import type { Address, AddressHolder, InstanceRef, LoadBalancer, LoadBalancerSpec } from '@hacp/core';
import { expectHacpError, expectSuccess } from '../assertions.js';
import type { CheckRegistry, Sandbox } from '../sandbox.js';
import { addressAndTwoInstances, assertAddress, instanceHolder } from './addresses.js';

function targetNames(targets: readonly InstanceRef[] | undefined): string[] {
  return (targets ?? []).map((target) => `${target.name} in ${target.zone}`).sort();
}

function loadBalancerSpec(sandbox: Sandbox, targets: readonly InstanceRef[]): LoadBalancerSpec {
  return {
    ...sandbox.loadBalancerRef(),
    address: sandbox.addressRef().name,
    port: 6443,
    healthCheck: { protocol: 'tcp', port: 6443 },
    targets,
  };
}

/** Asserts `balancer` (as `what` returned it) matches the spec, with a health entry per target. */
function assertMatchesSpec(balancer: LoadBalancer | undefined, spec: LoadBalancerSpec, what: string): void {
  assert.ok(balancer !== undefined, `${what} returned undefined; load balancer ${spec.name} should exist.`);
  for (const field of ['name', 'region', 'address', 'port'] as const) {
    assert.equal(
      balancer[field],
      spec[field],
      `${what} returned ${field} ${JSON.stringify(balancer[field])} for load balancer ${spec.name}; the spec says ${JSON.stringify(spec[field])}.`,
    );
  }
  const expected = targetNames(spec.targets);
  const targets = targetNames(balancer.targets);
  assert.deepEqual(
    targets,
    expected,
    `${what} returned targets ${JSON.stringify(targets)} for load balancer ${spec.name}; expected ${JSON.stringify(expected)}.`,
  );
  const health = targetNames((balancer.targetHealth ?? []).map((entry) => entry.instance));
  assert.deepEqual(
    health,
    expected,
    `${what} returned targetHealth for ${JSON.stringify(health)}; there should be one entry per target, ${JSON.stringify(expected)}.`,
  );
  for (const entry of balancer.targetHealth) {
    assert.equal(
      typeof entry.healthy,
      'boolean',
      `${what} returned targetHealth for ${entry.instance.name} without a boolean healthy.`,
    );
  }
}

const balancerHolder = (name: string): AddressHolder => ({ kind: 'load-balancer', name });

/** A load balancer serving the endpoint address with target `a`; `b` is a second instance. */
async function serving(
  sandbox: Sandbox,
): Promise<{ spec: LoadBalancerSpec; address: Address; a: InstanceRef; b: InstanceRef }> {
  const { address, a, b } = await addressAndTwoInstances(sandbox);
  const spec = loadBalancerSpec(sandbox, [a]);
  await sandbox.provider.loadBalancers.ensure(spec, { requestId: sandbox.requestId() });
  return { spec, address, a, b };
}

/** The load balancer in front of the replicas: ensure, targets, and the address it takes over. */
export function loadBalancerChecks({ check }: CheckRegistry): void {
  check('ensure while an instance holds the address is CONFLICT and changes nothing', async (sandbox) => {
    const { addresses, loadBalancers } = sandbox.provider;
    const { ref, address, a } = await addressAndTwoInstances(sandbox);
    await addresses.attach(ref, a, { requestId: sandbox.requestId() });
    const spec = loadBalancerSpec(sandbox, [a]);
    await expectHacpError(
      loadBalancers.ensure(spec, { requestId: sandbox.requestId() }),
      'CONFLICT',
      `ensuring load balancer ${spec.name} on address ${ref.name} while instance ${a.name} holds it`,
    );
    await assertAddress(sandbox, address, instanceHolder(a), 'the refused ensure');
    const made = await loadBalancers.get(spec);
    assert.equal(made, undefined, `The refused ensure still made load balancer ${spec.name}.`);
  });

  check("ensure takes over the address and serves the spec's targets", async (sandbox) => {
    const { addresses, loadBalancers } = sandbox.provider;
    const { ref, address, a } = await addressAndTwoInstances(sandbox);
    await addresses.attach(ref, a, { requestId: sandbox.requestId() });
    await addresses.detach(ref, { requestId: sandbox.requestId() });
    const spec = loadBalancerSpec(sandbox, [a]);
    const ensured = await loadBalancers.ensure(spec, { requestId: sandbox.requestId() });
    assertMatchesSpec(ensured, spec, 'ensure');
    assertMatchesSpec(await loadBalancers.get(spec), spec, 'get');
    await assertAddress(sandbox, address, balancerHolder(spec.name), `ensuring load balancer ${spec.name}`);
  });

  check('ensure again with the same spec is idempotent', async (sandbox) => {
    const { loadBalancers } = sandbox.provider;
    const { spec, address } = await serving(sandbox);
    const again = await expectSuccess(
      loadBalancers.ensure(spec, { requestId: sandbox.requestId() }),
      'ensuring a load balancer that matches the spec already',
    );
    assertMatchesSpec(again, spec, 'ensure repeated');
    assertMatchesSpec(await loadBalancers.get(spec), spec, 'get after ensure repeated');
    await assertAddress(sandbox, address, balancerHolder(spec.name), 'ensuring the load balancer again');
  });

  check('setTargets replaces the targets', async (sandbox) => {
    const { loadBalancers } = sandbox.provider;
    const { spec, address, a, b } = await serving(sandbox);
    const updated = await loadBalancers.setTargets(spec, [a, b], { requestId: sandbox.requestId() });
    const expected = { ...spec, targets: [a, b] };
    assertMatchesSpec(updated, expected, 'setTargets');
    assertMatchesSpec(await loadBalancers.get(spec), expected, 'get after setTargets');
    const narrowed = await loadBalancers.setTargets(spec, [b], { requestId: sandbox.requestId() });
    assertMatchesSpec(narrowed, { ...spec, targets: [b] }, 'setTargets to the second instance only');
    await assertAddress(sandbox, address, balancerHolder(spec.name), 'setTargets');
  });

  check('setTargets on a missing load balancer is NOT_FOUND', async (sandbox) => {
    const { loadBalancers } = sandbox.provider;
    const instance = await sandbox.createInstance();
    const ref = sandbox.loadBalancerRef();
    await expectHacpError(
      loadBalancers.setTargets(ref, [instance], { requestId: sandbox.requestId() }),
      'NOT_FOUND',
      `setTargets on ${ref.name}, a load balancer that does not exist`,
    );
    const made = await loadBalancers.get(ref);
    assert.equal(made, undefined, `The refused setTargets made load balancer ${ref.name}.`);
  });

  check('attach and release are CONFLICT while the load balancer holds the address', async (sandbox) => {
    const { addresses } = sandbox.provider;
    const { spec, address, a } = await serving(sandbox);
    const ref = sandbox.addressRef();
    await expectHacpError(
      addresses.attach(ref, a, { requestId: sandbox.requestId() }),
      'CONFLICT',
      `attaching ${ref.name} to ${a.name} while load balancer ${spec.name} holds it`,
    );
    await assertAddress(sandbox, address, balancerHolder(spec.name), 'the refused attach');
    await expectHacpError(
      addresses.release(ref, { requestId: sandbox.requestId() }),
      'CONFLICT',
      `releasing ${ref.name} while load balancer ${spec.name} holds it`,
    );
    await assertAddress(sandbox, address, balancerHolder(spec.name), 'the refused release');
  });

  check('detach while the load balancer holds the address changes nothing', async (sandbox) => {
    const { spec, address } = await serving(sandbox);
    const ref = sandbox.addressRef();
    await expectSuccess(
      sandbox.provider.addresses.detach(ref, { requestId: sandbox.requestId() }),
      `detaching ${ref.name} while load balancer ${spec.name} holds it (a resumed move repeats its detach)`,
    );
    await assertAddress(
      sandbox,
      address,
      balancerHolder(spec.name),
      'a detach while the load balancer holds it',
    );
  });

  check('delete frees the address, which stays reserved; deleting again is fine', async (sandbox) => {
    const { loadBalancers } = sandbox.provider;
    const { spec, address } = await serving(sandbox);
    const ref = { name: spec.name, region: spec.region };
    const requestId = sandbox.requestId();
    await loadBalancers.delete(ref, { requestId });
    const gone = await loadBalancers.get(ref);
    assert.equal(gone, undefined, `After delete, get still returns load balancer ${spec.name}.`);
    await assertAddress(sandbox, address, undefined, `deleting load balancer ${spec.name}`);
    await expectSuccess(
      loadBalancers.delete(ref, { requestId }),
      'repeating a successful load balancer delete with its requestId',
    );
    await expectSuccess(
      loadBalancers.delete(ref, { requestId: sandbox.requestId() }),
      'deleting a load balancer that is already gone',
    );
    await assertAddress(sandbox, address, undefined, `deleting load balancer ${spec.name} again`);
  });
}
