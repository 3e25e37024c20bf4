import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHacpError } from '@hacp/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePorts } from './ports.js';
import { isAlive as alive, reapRecordedProcesses, spawnTracked, trackedPids } from './processes.js';

/** A process that runs 30 s and carries `marker` in its command line. */
const idle = (marker: string) => ['-e', 'setTimeout(() => {}, 30000)', marker];

async function waitDead(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

describe('process tracking', () => {
  let dir: string;
  let previous: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-testkit-unit-'));
    previous = process.env.HACP_TESTKIT_PID_DIR;
    process.env.HACP_TESTKIT_PID_DIR = join(dir, 'pids');
  });
  afterEach(() => {
    if (previous === undefined) delete process.env.HACP_TESTKIT_PID_DIR;
    else process.env.HACP_TESTKIT_PID_DIR = previous;
    rmSync(dir, { recursive: true, force: true });
  });

  it('records a pid file while the process runs and removes it when it exits', async () => {
    const marker = join(dir, 'marker-a');
    const sleeper = spawnTracked({
      command: process.execPath,
      args: idle(marker),
      logFile: join(dir, 'a.log'),
      marker,
    });
    expect(readdirSync(join(dir, 'pids'))).toEqual([String(sleeper.pid)]);
    expect(trackedPids()).toContain(sleeper.pid);
    await sleeper.stop();
    await sleeper.exited;
    expect(alive(sleeper.pid)).toBe(false);
    await new Promise((r) => setTimeout(r, 10));
    expect(readdirSync(join(dir, 'pids'))).toEqual([]);
    expect(trackedPids()).not.toContain(sleeper.pid);
  });

  it('reaps a recorded process whose command line still carries its marker', async () => {
    const marker = join(dir, 'marker-b');
    const sleeper = spawnTracked({
      command: process.execPath,
      args: idle(marker),
      logFile: join(dir, 'b.log'),
      marker,
    });
    // Until exec, the child's command line is still node's.
    for (let i = 0; i < 100 && !readFileSync(`/proc/${sleeper.pid}/cmdline`, 'utf8').includes(marker); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(reapRecordedProcesses(join(dir, 'pids'))).toEqual([sleeper.pid]);
    expect(await waitDead(sleeper.pid)).toBe(true);
  });

  it('never kills a pid whose command line lacks the marker (a reused pid)', async () => {
    // A process without the recorded marker stands for one that reused the pid.
    const stranger = spawn(process.execPath, idle('no-marker-here'), { stdio: 'ignore' });
    const pid = stranger.pid as number;
    try {
      const pids = join(dir, 'pids');
      const { mkdirSync, writeFileSync } = await import('node:fs');
      mkdirSync(pids, { recursive: true });
      writeFileSync(join(pids, String(pid)), join(dir, 'marker-of-someone-else'));
      expect(reapRecordedProcesses(pids)).toEqual([]);
      expect(alive(pid)).toBe(true);
      expect(existsSync(join(pids, String(pid)))).toBe(false);
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  it('escalates to SIGKILL when a process ignores SIGTERM', async () => {
    const marker = join(dir, 'marker-c');
    const stubborn = spawnTracked({
      command: process.execPath,
      args: [
        '-e',
        "process.on('SIGTERM', () => {}); console.log('ready'); setTimeout(() => {}, 30000)",
        marker,
      ],
      logFile: join(dir, 'c.log'),
      marker,
    });
    for (let i = 0; i < 500 && !readFileSync(join(dir, 'c.log'), 'utf8').includes('ready'); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const started = Date.now();
    await stubborn.stop({ signal: 'SIGTERM', graceMs: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect((await stubborn.exited).signal).toBe('SIGKILL');
  });

  it('fails with DEPENDENCY_MISSING for a command that does not exist, and records nothing', () => {
    let error: unknown;
    try {
      spawnTracked({ command: '/nonexistent/etcd', args: [], logFile: join(dir, 'd.log'), marker: 'x' });
    } catch (caught) {
      error = caught;
    }
    expect(isHacpError(error, 'DEPENDENCY_MISSING')).toBe(true);
    expect(existsSync(join(dir, 'pids'))).toBe(false);
  });
});

describe('freePorts', () => {
  it('returns distinct ports that can be listened on', async () => {
    const ports = await freePorts(6);
    expect(new Set(ports).size).toBe(6);
    for (const port of ports) expect(port).toBeGreaterThan(1023);
  });
});
