import { HEALTH_ENDPOINT, STARTUP_LOG } from './layout.js';

/** How a replica's latest boot went, as its serial console tells it. */
export type BootOutcome =
  | { state: 'done' }
  | { state: 'pending'; waitingFor: string }
  | { state: 'failed'; reason: string; line: string };

/**
 * Where a boot starts on the serial console: the guest agent's line before it runs the startup
 * scripts (GCE's `Starting startup scripts (version …)`, the Compute API test server's too), the test
 * server's own boot line, and the script's first line, for a console that lost the others.
 */
const BOOT_MARKERS = [
  'Starting startup scripts',
  'Booting instance ',
  `${STARTUP_LOG.prefix}${STARTUP_LOG.booting}`,
] as const;

/**
 * The guest agent's line when the script ended: older agents `startup-script exit status N`, newer
 * ones `Script "startup-script" failed with error: exit status N`.
 */
const EXIT_STATUS = /startup-script"?(?: failed with error:)? exit status (\S+)/;

/** What the provider waits for while the boot has not said it is done. */
export const HEALTH_ENDPOINT_PENDING = `its health endpoint (:${HEALTH_ENDPOINT.port}${HEALTH_ENDPOINT.path}) to answer`;

/**
 * Reads the latest boot off a replica's serial console output: failed when the startup script printed
 * an error line or ended with a non-zero status, done once it printed that the health endpoint
 * answers or ended with status 0 (a script of an older hacp, which does not wait for it), else
 * pending. Lines before the latest boot marker are an earlier boot's.
 *
 * @example
 * lastBootOutcome(contents); // { state: 'pending', waitingFor: 'its health endpoint (:8081/healthz) to answer' }
 */
export function lastBootOutcome(serial: string): BootOutcome {
  const start = Math.max(0, ...BOOT_MARKERS.map((marker) => serial.lastIndexOf(marker)));
  const lines = serial.slice(start).split('\n');
  const error = lines.find((line) => line.includes(STARTUP_LOG.errorPrefix));
  if (error !== undefined) {
    const reason = error
      .slice(error.indexOf(STARTUP_LOG.errorPrefix) + STARTUP_LOG.errorPrefix.length)
      .trim();
    return { state: 'failed', reason, line: `${STARTUP_LOG.errorPrefix}${reason}` };
  }
  for (const line of lines) {
    const status = EXIT_STATUS.exec(line)?.[1];
    // A script that ended well is done: this one ends only once the health endpoint answers, and a
    // replica an older hacp made runs a script that never says so.
    if (status === '0') return { state: 'done' };
    if (status !== undefined) {
      return {
        state: 'failed',
        reason: `the startup script exited with status ${status}`,
        line: line.trim(),
      };
    }
  }
  if (lines.some((line) => line.includes(`${STARTUP_LOG.prefix}${STARTUP_LOG.healthAnswers}`))) {
    return { state: 'done' };
  }
  return { state: 'pending', waitingFor: HEALTH_ENDPOINT_PENDING };
}
