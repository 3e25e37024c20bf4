import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, type ProcessRecord } from './processes.js';

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
 * at teardown this stops by pid (checked against its start time) whatever a failed test left.
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
        try {
          process.kill(-record.pid, 'SIGKILL');
        } catch {
          try {
            process.kill(record.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
    }
    rmSync(root, { recursive: true, force: true });
    if (leftovers.length > 0) {
      // A test left these running; the tests assert cleanup themselves, this only keeps the machine clean.
      process.stderr.write(`provider-local tests left processes running; killed ${leftovers.join(', ')}\n`);
    }
  };
}
