import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reapRecordedVpcs } from './compute-api/vpc.js';
import { reapRecordedProcesses } from './processes.js';

/**
 * Vitest global setup: gives the run a pid folder (inherited by the workers through
 * `HACP_TESTKIT_PID_DIR`) and, at teardown, kills by pid whatever the tests started and did not
 * stop, and the test VPCs' network namespaces, even when a worker crashed. Use it as `globalSetup: ['@hacp/testkit/global-setup']`.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'hacp-testkit-pids-'));
  process.env.HACP_TESTKIT_PID_DIR = dir;
  return () => {
    reapRecordedProcesses(dir);
    reapRecordedVpcs(dir);
    rmSync(dir, { recursive: true, force: true });
  };
}
