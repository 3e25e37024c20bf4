import { describe, expect, it } from 'vitest';
import { isAlive, procStat, selfRecord, stopProcess } from './processes.js';

describe('process records', () => {
  it('a record is alive only while its pid has the start time recorded', () => {
    const me = selfRecord();
    expect(me.startTime).toMatch(/^\d+$/);
    expect(isAlive(me)).toBe(true);
    // The same pid with another start time is another process (a reused pid): not ours.
    expect(isAlive({ ...me, startTime: '1' })).toBe(false);
    expect(procStat(2 ** 22 + 1)).toBeUndefined();
  });

  it('never signals a pid whose start time does not match', async () => {
    // If stopProcess signalled it, this test process would get SIGTERM and the run would fail.
    await stopProcess({ ...selfRecord(), startTime: '1' }, 100);
    expect(isAlive(selfRecord())).toBe(true);
  });
});
