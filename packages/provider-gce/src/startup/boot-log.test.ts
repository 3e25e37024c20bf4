import { describe, expect, it } from 'vitest';
import { HEALTH_ENDPOINT_PENDING, lastBootOutcome } from './boot-log.js';
import { STARTUP_LOG } from './layout.js';

const line = (text: string) => `${STARTUP_LOG.prefix}${text}`;

/** One boot as the Compute API test server's console has it. */
function testServerBoot(...script: string[]): string {
  return [
    '2026-12-07T19:00:00.000Z Booting instance 10.0.0.2',
    '2026-12-07T19:00:00.001Z google_metadata_script_runner: Starting startup scripts.',
    line(`${STARTUP_LOG.booting} prod`),
    ...script,
    '',
  ].join('\n');
}

/** One boot as GCE's guest agent logs it to the serial console (its lines prefixed). */
function gceBoot(...script: string[]): string {
  const agent = 'Dec  7 19:00:00 prod-master google_metadata_script_runner[712]:';
  return [
    '[    0.000000] Linux version 6.1.0 (builder@cos)',
    `${agent} Starting startup scripts (version 20231214.00).`,
    `${agent} Found startup-script in metadata.`,
    ...[line(`${STARTUP_LOG.booting} prod`), ...script].map((text) => `${agent} startup-script: ${text}`),
    '',
  ].join('\n');
}

const waiting = line(`${STARTUP_LOG.healthWaiting} at http://127.0.0.1:8081/healthz (0 s so far)`);
const answers = line(STARTUP_LOG.healthAnswers);
const silent = `${STARTUP_LOG.errorPrefix}${STARTUP_LOG.healthSilent} 1800 s`;

describe('lastBootOutcome', () => {
  it('is pending until the script says the health endpoint answers, then done', () => {
    for (const boot of [testServerBoot, gceBoot]) {
      expect(lastBootOutcome('')).toEqual({ state: 'pending', waitingFor: HEALTH_ENDPOINT_PENDING });
      expect(lastBootOutcome(boot(waiting))).toEqual({
        state: 'pending',
        waitingFor: HEALTH_ENDPOINT_PENDING,
      });
      expect(lastBootOutcome(boot(waiting, answers))).toEqual({ state: 'done' });
    }
    expect(HEALTH_ENDPOINT_PENDING).toBe('its health endpoint (:8081/healthz) to answer');
  });

  it("fails on the script's error line, quoting it, before or without an exit status", () => {
    const expected = { state: 'failed', reason: `${STARTUP_LOG.healthSilent} 1800 s`, line: silent };
    expect(lastBootOutcome(testServerBoot(waiting, silent))).toEqual(expected);
    expect(
      lastBootOutcome(
        testServerBoot(waiting, silent, 'google_metadata_script_runner: startup-script exit status 1'),
      ),
    ).toEqual(expected);
    expect(lastBootOutcome(gceBoot(waiting, silent))).toEqual(expected);
  });

  it('fails on a non-zero exit status without an error line, in either agent wording', () => {
    const older = `${testServerBoot()}google_metadata_script_runner: startup-script exit status 127\n`;
    expect(lastBootOutcome(older)).toEqual({
      state: 'failed',
      reason: 'the startup script exited with status 127',
      line: 'google_metadata_script_runner: startup-script exit status 127',
    });
    const newer = `${gceBoot()}google_metadata_script_runner[712]: Script "startup-script" failed with error: exit status 2\n`;
    expect(lastBootOutcome(newer)).toMatchObject({
      state: 'failed',
      reason: 'the startup script exited with status 2',
    });
    expect(
      lastBootOutcome(
        `${testServerBoot(answers)}google_metadata_script_runner: startup-script exit status 0\n`,
      ),
    ).toEqual({ state: 'done' });
  });

  it("is done when the script ended with status 0 without a word on the health endpoint (an older hacp's script)", () => {
    const older = `${testServerBoot(line('static pods: 6 of 6 written'))}google_metadata_script_runner: startup-script exit status 0\n`;
    expect(lastBootOutcome(older)).toEqual({ state: 'done' });
  });

  it('reads the latest boot only', () => {
    const failedThenBooting = testServerBoot(waiting, silent) + testServerBoot(waiting);
    expect(lastBootOutcome(failedThenBooting)).toEqual({
      state: 'pending',
      waitingFor: HEALTH_ENDPOINT_PENDING,
    });
    const doneThenFailed =
      gceBoot(waiting, answers) +
      gceBoot(`${STARTUP_LOG.errorPrefix}could not read instance metadata hacp-files`);
    expect(lastBootOutcome(doneThenFailed)).toMatchObject({
      state: 'failed',
      line: `${STARTUP_LOG.errorPrefix}could not read instance metadata hacp-files`,
    });
    // A console whose agent lines were lost (GCE keeps its last 1 MB): the script's first line marks the boot.
    const scriptOnly = `${line(`${STARTUP_LOG.booting} prod`)}\n${silent}\n${line(`${STARTUP_LOG.booting} prod`)}\n${answers}\n`;
    expect(lastBootOutcome(scriptOnly)).toEqual({ state: 'done' });
  });
});
