/**
 * The kit's assertions. They throw node's AssertionError, so any runner reports them, and their
 * messages say what the provider did wrong in plain words rather than `expected x to equal y`.
 */
import { AssertionError } from 'node:assert';
import { type ErrorCode, type HacpError, isHacpError } from '@hacp/core';

/** A pending call, or a function making it (which also catches a provider that throws synchronously). */
export type ProviderCall<T = unknown> = Promise<T> | (() => T | Promise<T>);

async function settle<T>(
  call: ProviderCall<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await (typeof call === 'function' ? call() : call) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** How an unexpected outcome reads in a message: `HacpError NOT_FOUND: ...`, `TypeError: ...`. */
export function describeOutcome(error: unknown): string {
  if (isHacpError(error)) return `HacpError ${error.code} ("${error.message}")`;
  if (error instanceof Error) return `${error.name} ("${error.message}"), which is not a HacpError`;
  return `${String(error)}, which is not a HacpError`;
}

/** `what` as the start of a sentence. */
function capitalized(what: string): string {
  return what.charAt(0).toUpperCase() + what.slice(1);
}

function describeValue(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 200 ? `${text.slice(0, 200)}...` : text;
  } catch {
    return String(value);
  }
}

/**
 * Awaits a provider call that must fail with a HacpError of `code` (of any code when `code` is
 * undefined), and returns that error.
 *
 * @param what What the call was, for the message: `'a put with a stale expectedVersion'`.
 * @example
 * await expectHacpError(
 *   provider.state.put(key, 2, { requestId, expectedVersion: 7 }),
 *   'CONFLICT',
 *   'a put with a stale expectedVersion',
 * );
 * @throws AssertionError when the call resolves, throws something that is not a HacpError, or a
 * HacpError with another code.
 */
export async function expectHacpError(
  call: ProviderCall,
  code: ErrorCode | undefined,
  what = 'the call',
): Promise<HacpError> {
  const expected = code === undefined ? 'a HacpError' : `HacpError ${code}`;
  const outcome = await settle(call);
  if (outcome.ok) {
    throw new AssertionError({
      message: `${capitalized(what)} should have failed with ${expected}, but it succeeded and returned ${describeValue(outcome.value)}.`,
    });
  }
  if (!isHacpError(outcome.error, code)) {
    throw new AssertionError({
      message: `${capitalized(what)} should have failed with ${expected}, but it threw ${describeOutcome(outcome.error)}.`,
    });
  }
  return outcome.error;
}

/**
 * Awaits a provider call that the contract says must succeed (`deleting a missing instance is
 * fine`), turning a failure into an AssertionError that says so.
 *
 * @example
 * await expectSuccess(provider.instances.delete(ref, { requestId }), 'deleting an instance that is already gone');
 * @throws AssertionError when the call throws.
 */
export async function expectSuccess<T>(call: ProviderCall<T>, what: string): Promise<T> {
  const outcome = await settle(call);
  if (!outcome.ok) {
    throw new AssertionError({
      message: `${capitalized(what)} should succeed, but it threw ${describeOutcome(outcome.error)}.`,
    });
  }
  return outcome.value;
}
