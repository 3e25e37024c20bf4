import assert from 'node:assert/strict';
import type { Address, AddressHolder, AddressRef, InstanceRef } from '@hacp/core';
import { expectHacpError, expectSuccess } from '../assertions.js';
import type { CheckRegistry, Sandbox } from '../sandbox.js';

/** A holder in words, which is also how two holders are compared. */
export function holderText(holder: AddressHolder | undefined): string {
  if (holder === undefined) return 'nothing';
  if (holder.kind === 'instance') return `instance ${holder.instance?.name} in ${holder.instance?.zone}`;
  if (holder.kind === 'load-balancer') return `load balancer ${holder.name}`;
  return `an unknown holder ${JSON.stringify(holder)}`;
}

/** Asserts the address is still reserved at its IP and held by `holder` (nothing when undefined). */
export async function assertAddress(
  sandbox: Sandbox,
  reserved: Address,
  holder: AddressHolder | undefined,
  after: string,
): Promise<void> {
  const address = await sandbox.provider.addresses.get({ name: reserved.name, region: reserved.region });
  assert.ok(
    address !== undefined,
    `After ${after}, address ${reserved.name} is gone; it should still be reserved.`,
  );
  assert.equal(
    address.ip,
    reserved.ip,
    `After ${after}, address ${reserved.name} has IP ${address.ip}; it was reserved as ${reserved.ip}.`,
  );
  assert.equal(
    holderText(address.holder),
    holderText(holder),
    `After ${after}, address ${reserved.name} is held by ${holderText(address.holder)}; it should be held by ${holderText(holder)}.`,
  );
}

/** The holder an address has when `instance` holds it. */
export const instanceHolder = (instance: InstanceRef): AddressHolder => ({
  kind: 'instance',
  instance: { name: instance.name, zone: instance.zone },
});

/** The endpoint address reserved, and two instances of the cluster in its region. */
export async function addressAndTwoInstances(
  sandbox: Sandbox,
): Promise<{ ref: AddressRef; address: Address; a: InstanceRef; b: InstanceRef }> {
  const address = await sandbox.reserveAddress();
  const a = await sandbox.createInstance({ zone: sandbox.zone });
  const b = await sandbox.createInstance({ zone: sandbox.peerZone });
  return {
    ref: sandbox.addressRef(),
    address,
    a: { name: a.name, zone: a.zone },
    b: { name: b.name, zone: b.zone },
  };
}

/** The cluster's endpoint address: reserve, attach, detach, release, and their refusals. */
export function addressChecks({ check }: CheckRegistry): void {
  check('reserve returns an address, and reserving it again returns the same one', async (sandbox) => {
    const { addresses } = sandbox.provider;
    const ref = sandbox.addressRef();
    const requestId = sandbox.requestId();
    const address = await addresses.reserve(ref, { requestId });
    assert.equal(
      address.name,
      ref.name,
      `reserve returned an address named ${address.name}, not ${ref.name}.`,
    );
    assert.equal(address.region, ref.region, `reserve returned region ${address.region}, not ${ref.region}.`);
    assert.ok(
      typeof address.ip === 'string' && address.ip.length > 0,
      'reserve returned an address without an ip.',
    );
    assert.equal(address.holder, undefined, `A new address is held by ${holderText(address.holder)}.`);
    const retried = await expectSuccess(
      addresses.reserve(ref, { requestId }),
      'repeating a successful reserve with its requestId',
    );
    assert.equal(retried.ip, address.ip, `Repeating reserve gave IP ${retried.ip}, not ${address.ip}.`);
    const again = await expectSuccess(
      addresses.reserve(ref, { requestId: sandbox.requestId() }),
      'reserving an address that exists',
    );
    assert.equal(again.ip, address.ip, `Reserving ${ref.name} again gave IP ${again.ip}, not ${address.ip}.`);
    await assertAddress(sandbox, address, undefined, 'reserving it');
  });

  check('attach gives the address to an instance; attaching it there again is fine', async (sandbox) => {
    const { addresses } = sandbox.provider;
    const { ref, address, a } = await addressAndTwoInstances(sandbox);
    const attached = await addresses.attach(ref, a, { requestId: sandbox.requestId() });
    assert.equal(
      holderText(attached.holder),
      holderText(instanceHolder(a)),
      `attach returned the address held by ${holderText(attached.holder)}, not by ${a.name}.`,
    );
    await assertAddress(sandbox, address, instanceHolder(a), `attaching it to ${a.name}`);
    await expectSuccess(
      addresses.attach(ref, a, { requestId: sandbox.requestId() }),
      'attaching an address to the instance that holds it',
    );
    await assertAddress(sandbox, address, instanceHolder(a), `attaching it to ${a.name} again`);
  });

  check(
    'attach to another instance while one holds it is CONFLICT and the holder is unchanged',
    async (sandbox) => {
      const { addresses } = sandbox.provider;
      const { ref, address, a, b } = await addressAndTwoInstances(sandbox);
      await addresses.attach(ref, a, { requestId: sandbox.requestId() });
      await expectHacpError(
        addresses.attach(ref, b, { requestId: sandbox.requestId() }),
        'CONFLICT',
        `attaching ${ref.name} to ${b.name} while ${a.name} holds it`,
      );
      await assertAddress(sandbox, address, instanceHolder(a), `the refused attach to ${b.name}`);
    },
  );

  check('release while an instance holds it is CONFLICT and it stays reserved', async (sandbox) => {
    const { addresses } = sandbox.provider;
    const { ref, address, a } = await addressAndTwoInstances(sandbox);
    await addresses.attach(ref, a, { requestId: sandbox.requestId() });
    await expectHacpError(
      addresses.release(ref, { requestId: sandbox.requestId() }),
      'CONFLICT',
      `releasing ${ref.name} while ${a.name} holds it`,
    );
    await assertAddress(sandbox, address, instanceHolder(a), 'the refused release');
  });

  check(
    'attach to a missing instance, or of a missing address, is NOT_FOUND and changes nothing',
    async (sandbox) => {
      const { addresses } = sandbox.provider;
      const { ref, address, a } = await addressAndTwoInstances(sandbox);
      const ghost = { name: sandbox.instanceName(), zone: sandbox.zone };
      await expectHacpError(
        addresses.attach(ref, ghost, { requestId: sandbox.requestId() }),
        'NOT_FOUND',
        `attaching ${ref.name} to ${ghost.name}, an instance that does not exist`,
      );
      await assertAddress(sandbox, address, undefined, 'the refused attach to a missing instance');
      const missing = { name: `${sandbox.cluster}-missing-ip`, region: sandbox.region };
      sandbox.trackAddress(missing);
      await expectHacpError(
        addresses.attach(missing, a, { requestId: sandbox.requestId() }),
        'NOT_FOUND',
        `attaching ${missing.name}, an address never reserved, to ${a.name}`,
      );
      const created = await addresses.get(missing);
      assert.equal(
        created,
        undefined,
        `A refused attach of a missing address reserved it: ${JSON.stringify(created)}.`,
      );
    },
  );

  check('detach frees the address; detaching a free address is fine', async (sandbox) => {
    const { addresses } = sandbox.provider;
    const { ref, address, a } = await addressAndTwoInstances(sandbox);
    await addresses.attach(ref, a, { requestId: sandbox.requestId() });
    const detached = await addresses.detach(ref, { requestId: sandbox.requestId() });
    assert.equal(
      detached.holder,
      undefined,
      `detach returned the address still held by ${holderText(detached.holder)}.`,
    );
    await assertAddress(sandbox, address, undefined, 'detach');
    await expectSuccess(
      addresses.detach(ref, { requestId: sandbox.requestId() }),
      'detaching a free address',
    );
    await assertAddress(sandbox, address, undefined, 'detaching it again');
  });

  check('release deletes the address; releasing a missing address is fine', async (sandbox) => {
    const { addresses } = sandbox.provider;
    const ref = sandbox.addressRef();
    await addresses.reserve(ref, { requestId: sandbox.requestId() });
    const requestId = sandbox.requestId();
    await addresses.release(ref, { requestId });
    const gone = await addresses.get(ref);
    assert.equal(gone, undefined, `After release, get still returns address ${ref.name}.`);
    await expectSuccess(
      addresses.release(ref, { requestId }),
      'repeating a successful release with its requestId',
    );
    await expectSuccess(
      addresses.release(ref, { requestId: sandbox.requestId() }),
      'releasing an address that is already gone',
    );
    const stillGone = await addresses.get(ref);
    assert.equal(stillGone, undefined, `After releasing it twice, get returns address ${ref.name} again.`);
  });
}
