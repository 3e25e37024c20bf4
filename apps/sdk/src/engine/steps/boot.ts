/**
 * A replica's own boot as its provider sees it (InstanceApi.bootProgress), beyond the NodeConfig's
 * processes: waited for until nothing is pending, and watched while the SDK waits for those
 * processes, so that a boot that failed ends the operation at once with the provider's error.
 */

import { setTimeout as delay } from 'node:timers/promises';
import { type BootProgress, ErrorCode, isHacpError, waitUntil } from '@hacp/core';
import { announceWait, type StepContext } from '../context.js';

/** How often a wait for a replica's processes looks at its boot. */
const BOOT_WATCH_INTERVAL_MS = 2000;

/** The replica's zone: from the plan's step that makes or starts it, else from the instances listed. */
async function zoneOfReplica(context: StepContext, replica: string): Promise<string | undefined> {
  const known = context.journal.networks[replica]?.zone;
  if (known !== undefined) return known;
  for (const { action } of context.journal.plan.steps) {
    if ((action.kind === 'create-instance' || action.kind === 'start-instance') && action.replica === replica)
      return action.zone;
  }
  return (await context.session.instances(context.signal)).find((i) => i.name === replica)?.zone;
}

/** The provider's bootProgress of the replica, or undefined without one (or an instance to ask about). */
async function bootProgressOf(
  context: StepContext,
  replica: string,
): Promise<((signal: AbortSignal) => Promise<BootProgress>) | undefined> {
  const { instances } = context.provider;
  const bootProgress = instances.bootProgress;
  if (bootProgress === undefined) return undefined;
  const zone = await zoneOfReplica(context, replica);
  if (zone === undefined) return undefined;
  const ref = { name: replica, zone };
  return (signal) => bootProgress.call(instances, ref, { signal });
}

/**
 * Whether bootProgress's error says the boot failed, rather than that the read may go better (a
 * retryable error) or the instance is not there yet (NOT_FOUND, which the wait itself deals with).
 */
function bootFailed(error: unknown): boolean {
  return !isHacpError(error) || (!error.retryable && !isHacpError(error, ErrorCode.NOT_FOUND));
}

/**
 * Runs `wait` (given the context, with a signal of its own) while looking at the replica's boot
 * every BOOT_WATCH_INTERVAL_MS: a boot that failed stops the wait and throws the provider's error
 * once the wait has stopped. Without bootProgress, only runs the wait.
 */
export async function watchingBoot<T>(
  context: StepContext,
  replica: string,
  wait: (context: StepContext) => Promise<T>,
): Promise<T> {
  const bootProgress = await bootProgressOf(context, replica);
  if (bootProgress === undefined) return wait(context);
  const stop = new AbortController();
  const signal = AbortSignal.any([context.signal, stop.signal]);
  const watch = async (): Promise<unknown> => {
    while (!signal.aborted) {
      try {
        await bootProgress(signal);
      } catch (error) {
        if (!signal.aborted && bootFailed(error)) return error;
      }
      await delay(BOOT_WATCH_INTERVAL_MS, undefined, { signal }).catch(() => undefined);
    }
    return undefined;
  };
  const waiting = wait({ ...context, signal });
  const failure = await Promise.race([
    watch(),
    waiting.then(
      () => undefined,
      () => undefined,
    ),
  ]);
  stop.abort();
  if (failure === undefined) return waiting;
  // The wait stops before the error goes up, so nothing it does overlaps what runs after (a rollback).
  await waiting.catch(() => undefined);
  throw failure;
}

/**
 * Waits, within `timeouts.healthy`, until the provider sees nothing pending in the replica's boot,
 * saying what it waits for (the provider's words: GCE's health endpoint).
 * @throws the provider's error when the boot failed; TIMEOUT naming what is still pending.
 */
export async function waitBootDone(context: StepContext, replica: string): Promise<void> {
  const bootProgress = await bootProgressOf(context, replica);
  if (bootProgress === undefined) return;
  let announced: string | undefined;
  await waitUntil({
    description: `${replica}'s boot to finish`,
    timeoutMs: context.timeouts.healthy,
    signal: context.signal,
    minDelayMs: 500,
    maxDelayMs: 5000,
    retryOn: (error) => !bootFailed(error),
    check: async () => {
      const { pending } = await bootProgress(context.signal);
      if (pending.length === 0) return { done: true, value: undefined };
      const waitingFor = pending.join(' and ');
      if (waitingFor !== announced) announceWait(context, `${replica}'s boot to finish: ${waitingFor}`);
      announced = waitingFor;
      return { done: false, reason: `${replica} is waiting for ${waitingFor}` };
    },
  });
}
