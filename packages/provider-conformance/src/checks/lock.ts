import assert from 'node:assert/strict';
import { expectHacpError, expectSuccess } from '../assertions.js';
import { type CheckRegistry, type Sandbox, sleep } from '../sandbox.js';

/** Long enough that no test waits for it to run out. */
const HELD_MS = 30_000;

/** Asserts that `holder` cannot take the lock because `current` holds it, and that the error says so. */
async function assertLockedBy(
  sandbox: Sandbox,
  holder: string,
  current: string,
  when: string,
): Promise<void> {
  const name = sandbox.lockName();
  const error = await expectHacpError(
    sandbox.provider.state.lock(name, { holder, ttlMs: HELD_MS }),
    'LOCKED',
    `taking lock ${name} as ${holder} ${when}`,
  );
  assert.equal(
    error.details.holder,
    current,
    `The LOCKED error should name the current holder ${current} in details.holder; its details are ${JSON.stringify(error.details)}.`,
  );
}

/** The StateStore's named locks: exclusive, expiring, renewable. */
export function lockChecks({ check }: CheckRegistry): void {
  check('the first holder gets the lock, with its holder and an expiry in the future', async (sandbox) => {
    const name = sandbox.lockName();
    const holder = `${sandbox.cluster}-a`;
    const lock = sandbox.trackLock(await sandbox.provider.state.lock(name, { holder, ttlMs: HELD_MS }));
    assert.equal(lock.name, name, `The lock returned is named ${lock.name}, not ${name}.`);
    assert.equal(lock.holder, holder, `The lock returned names the holder ${lock.holder}, not ${holder}.`);
    assert.ok(
      lock.expiresAt instanceof Date && !Number.isNaN(lock.expiresAt.getTime()),
      `The lock's expiresAt is ${String(lock.expiresAt)}, not a valid Date.`,
    );
    assert.ok(
      lock.expiresAt.getTime() > Date.now(),
      `A lock just taken for ${HELD_MS} ms expires at ${lock.expiresAt.toISOString()}, which is not in the future.`,
    );
  });

  check('a second holder gets LOCKED naming the holder until release, then gets it', async (sandbox) => {
    const a = `${sandbox.cluster}-a`;
    const b = `${sandbox.cluster}-b`;
    const first = sandbox.trackLock(
      await sandbox.provider.state.lock(sandbox.lockName(), { holder: a, ttlMs: HELD_MS }),
    );
    await assertLockedBy(sandbox, b, a, `while ${a} holds it`);
    // The refusal changed nothing: it is still refused, still naming the first holder.
    await assertLockedBy(sandbox, b, a, `a second time while ${a} holds it`);
    await first.release();
    const second = sandbox.trackLock(
      await expectSuccess(
        sandbox.provider.state.lock(sandbox.lockName(), { holder: b, ttlMs: HELD_MS }),
        `taking lock ${sandbox.lockName()} after its holder released it`,
      ),
    );
    assert.equal(second.holder, b, `The lock taken after release names ${second.holder}, not ${b}.`);
  });

  check('its own holder cannot take a live lock a second time', async (sandbox) => {
    const a = `${sandbox.cluster}-a`;
    sandbox.trackLock(await sandbox.provider.state.lock(sandbox.lockName(), { holder: a, ttlMs: HELD_MS }));
    await assertLockedBy(sandbox, a, a, `again while ${a} holds it`);
  });

  check('a second holder gets a lock whose holder let it expire', async (sandbox) => {
    const name = sandbox.lockName();
    sandbox.trackLock(
      await sandbox.provider.state.lock(name, { holder: `${sandbox.cluster}-a`, ttlMs: 400 }),
    );
    await sleep(1_000);
    const taken = sandbox.trackLock(
      await expectSuccess(
        sandbox.provider.state.lock(name, { holder: `${sandbox.cluster}-b`, ttlMs: HELD_MS }),
        `taking lock ${name} 600 ms after its 400 ms ttl ran out`,
      ),
    );
    assert.equal(
      taken.holder,
      `${sandbox.cluster}-b`,
      'The lock taken over after expiry does not name its new holder.',
    );
  });

  check('renew extends the lock past its first expiry', async (sandbox) => {
    const a = `${sandbox.cluster}-a`;
    const lock = sandbox.trackLock(
      await sandbox.provider.state.lock(sandbox.lockName(), { holder: a, ttlMs: 3_000 }),
    );
    const acquired = Date.now();
    await sleep(1_500);
    await lock.renew();
    // 700 ms past the first expiry and at least 800 ms before the renewed one.
    await sleep(acquired + 3_700 - Date.now());
    await assertLockedBy(
      sandbox,
      `${sandbox.cluster}-b`,
      a,
      `after ${a} renewed it, 700 ms past its first expiry`,
    );
  });

  check(
    "renew of a lost lock is LOCKED, and releasing it leaves the new holder's lock alone",
    async (sandbox) => {
      const name = sandbox.lockName();
      const a = `${sandbox.cluster}-a`;
      const b = `${sandbox.cluster}-b`;
      const lost = sandbox.trackLock(await sandbox.provider.state.lock(name, { holder: a, ttlMs: 400 }));
      await sleep(1_000);
      sandbox.trackLock(await sandbox.provider.state.lock(name, { holder: b, ttlMs: HELD_MS }));
      await expectHacpError(
        lost.renew(),
        'LOCKED',
        `renewing lock ${name} after it expired and ${b} took it`,
      );
      await expectSuccess(lost.release(), 'releasing a lost lock');
      await assertLockedBy(
        sandbox,
        `${sandbox.cluster}-c`,
        b,
        `after the lost holder ${a} released its old handle`,
      );
    },
  );

  check('releasing a lock twice is fine', async (sandbox) => {
    const name = sandbox.lockName();
    const lock = sandbox.trackLock(
      await sandbox.provider.state.lock(name, { holder: `${sandbox.cluster}-a`, ttlMs: HELD_MS }),
    );
    await lock.release();
    await expectSuccess(lock.release(), 'releasing a lock already released');
    sandbox.trackLock(
      await expectSuccess(
        sandbox.provider.state.lock(name, { holder: `${sandbox.cluster}-b`, ttlMs: HELD_MS }),
        `taking lock ${name} after it was released twice`,
      ),
    );
  });
}
