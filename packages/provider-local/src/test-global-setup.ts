import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, type ProcessRecord, signalProcess } from '@hacp/core/provider-kit';

/** Every pid file under a state folder: replica processes and endpoint HAProxies. */
function recordedProcesses(stateDir: string): ProcessRecord[] {
  const records: ProcessRecord[] = [];
  const read = (path: string, pick: (body: Record<string, unknown>) => unknown) => {
    try {
      const record = pick(JSON.parse(readFileSync(path, 'utf8'))) as ProcessRecord | undefined;
      if (record && typeof record.pid === 'number') records.push(record);
    } catch {
      // not a pid file
    }
  };
  const list = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  for (const replica of list(join(stateDir, 'replicas'))) {
    for (const file of list(join(stateDir, 'replicas', replica, 'run'))) {
      read(join(stateDir, 'replicas', replica, 'run', file), (body) => body.process);
    }
  }
  for (const endpoint of list(join(stateDir, 'endpoints'))) {
    read(join(stateDir, 'endpoints', endpoint, 'haproxy.json'), (body) => body.process ?? body);
  }
  return records;
}

/**
 * The local provider's processes outlive the process that started them, on purpose, so the
 * testkit's reaper does not know them. Tests make their state folders under HACP_LOCAL_TEST_ROOT;
 * at teardown this stops by pid (checked against its start time) whatever a test left, and fails
 * the run if there was anything.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'hacp-local-tests-'));
  process.env.HACP_LOCAL_TEST_ROOT = root;
  return () => {
    const leftovers: number[] = [];
    for (const stateDir of readdirSync(root)) {
      for (const record of recordedProcesses(join(root, stateDir))) {
        if (!isAlive(record)) continue;
        leftovers.push(record.pid);
        signalProcess(record, 'SIGKILL');
      }
    }
    rmSync(root, { recursive: true, force: true });
    if (leftovers.length > 0) {
      // Killed above so the machine stays clean; the run still fails: a test left them running.
      // (vitest reports an error thrown here but keeps exit code 0, hence exitCode too.)
      process.exitCode = 1;
      throw new Error(
        `provider-local tests left processes running (now killed by pid): ${leftovers.join(', ')}`,
      );
    }
  };
}
