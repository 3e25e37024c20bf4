/** recover interrupted at every step converges (see interruptions.test-support.ts). */
import { isHacpError } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { describeInterruptions } from './interruptions.test-support.js';
import { grow, SCENARIOS } from './scenarios.test-support.js';
import { convergenceProblems, createWorld, type World } from './world.test-support.js';

describeInterruptions(['recover at 3']);

describe('recover cut short after its survivor serves alone', () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.dispose();
    world = undefined;
  });

  it("plans what the same command does now (the journal's plan), not a refusal for a quorum that is back", async () => {
    const scenario = SCENARIOS.find((candidate) => candidate.name === 'recover at 3');
    if (scenario === undefined) throw new Error('no recover scenario');
    world = await createWorld(scenario.world);
    await grow(world, 3);
    await scenario.prepare?.(world);
    const planned = await world.controlPlane().plan({ operation: 'recover' });
    const forceNew = planned.steps.findIndex(
      (step) => step.action.kind === 'create-instance' && step.action.etcdState === 'force-new-cluster',
    );
    expect(forceNew).toBeGreaterThan(0);

    const controller = new AbortController();
    const interrupted = world.controlPlane({
      onEvent: (event) => {
        if (event.type === 'step-done' && event.index === forceNew + 1) controller.abort();
      },
    });
    const error = await interrupted.recover({ signal: controller.signal }).catch((thrown: unknown) => thrown);
    expect(isHacpError(error, 'ABORTED')).toBe(true);

    // The survivor serves alone: quorum is back, yet the command that started it is not refused.
    const again = await world.controlPlane().plan({ operation: 'recover' });
    expect(again.steps.map((step) => step.id)).toEqual(planned.steps.map((step) => step.id));
    await world.controlPlane().recover();
    expect(await convergenceProblems(world, 3)).toEqual([]);
  });
});
