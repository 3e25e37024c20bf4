import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../wait.js';
import {
  findProgram,
  isAlive,
  type ProcessRecord,
  processStat,
  selfRecord,
  signalProcess,
  startDetached,
  stopProcess,
} from './processes.js';
import { tempFolders } from './test-support.js';

const folders = tempFolders();
const started: ProcessRecord[] = [];
afterEach(async () => {
  // Whatever a failed test left running is stopped by pid (and start time).
  for (const record of started.splice(0)) await stopProcess(record, { graceMs: 0 });
  await folders.cleanUp();
});

function start(dir: string, script: string): ProcessRecord {
  const { record } = startDetached({
    command: process.execPath,
    args: ['-e', script],
    cwd: dir,
    logFile: join(dir, 'out.log'),
  });
  started.push(record);
  return record;
}

const said = (dir: string, text: string) =>
  waitUntil({
    description: `the process to say ${text}`,
    timeoutMs: 15_000,
    minDelayMs: 10,
    maxDelayMs: 100,
    check: async () =>
      (await readFile(join(dir, 'out.log'), 'utf8').catch(() => '')).includes(text)
        ? { done: true, value: undefined }
        : { done: false },
  });

describe('detached processes', () => {
  it('start in a process group and session of their own, with the start time of /proc', async () => {
    const dir = await folders.make();
    const record = start(dir, "console.log('up'); setInterval(() => {}, 1000)");
    await said(dir, 'up');

    const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
    const [, , pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    expect(Number(pgrp)).toBe(record.pid);
    expect(Number(session)).toBe(record.pid);
    expect(record.startTime).toBe(processStat(record.pid)?.startTime);
    expect(isAlive(record)).toBe(true);
  });

  it('stop with SIGTERM, and with SIGKILL after the grace when SIGTERM is ignored', async () => {
    const dir = await folders.make();
    const polite = start(
      dir,
      "process.on('SIGTERM', () => process.exit(0)); console.log('polite'); setInterval(() => {}, 1000)",
    );
    const stubborn = start(
      dir,
      "process.on('SIGTERM', () => {}); console.log('stubborn'); setInterval(() => {}, 1000)",
    );
    await said(dir, 'polite');
    await said(dir, 'stubborn');

    await stopProcess(polite, { graceMs: 10_000 });
    expect(isAlive(polite)).toBe(false);
    const before = performance.now();
    await stopProcess(stubborn, { graceMs: 300 });
    expect(isAlive(stubborn)).toBe(false);
    expect(performance.now() - before).toBeGreaterThanOrEqual(250);
  });

  it('never signal a pid whose start time is not the one recorded', async () => {
    const dir = await folders.make();
    const record = start(dir, "console.log('up'); setInterval(() => {}, 1000)");
    await said(dir, 'up');
    const reused = { ...record, startTime: '1' };

    expect(isAlive(reused)).toBe(false);
    signalProcess(reused, 'SIGKILL');
    await stopProcess(reused, { graceMs: 0 });
    expect(isAlive(record)).toBe(true);
    expect(isAlive(selfRecord())).toBe(true);
  });

  it('find programs on PATH and in the sbin folders, and relative ones under a folder', async () => {
    const dir = await folders.make();
    expect(findProgram('sleep')).toMatch(/\/sleep$/);
    expect(findProgram('no-such-program-here')).toBeUndefined();
    expect(findProgram(process.execPath)).toBe(process.execPath);
    expect(findProgram('bin/missing', { cwd: dir })).toBeUndefined();
  });
});
