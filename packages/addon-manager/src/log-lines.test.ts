import { describe, expect, it } from 'vitest';
import { type AddonLogMemory, passLogLines } from './log-lines.js';
import type { AddonPassReport } from './run.js';

const empty: AddonPassReport = {
  applied: [],
  created: [],
  unchanged: [],
  pruned: [],
  ignored: [],
  failed: [],
  problems: [],
};

describe('passLogLines', () => {
  it('sums up a pass: counts, and the names of what changed', () => {
    const lines = passLogLines(
      {
        ...empty,
        created: ['ConfigMap/default/a'],
        pruned: ['Service/default/old'],
        unchanged: ['Namespace/x'],
      },
      { ignored: new Set() },
    );
    expect(lines).toEqual([
      {
        level: 'info',
        event: 'pass',
        counts: { created: 1, applied: 0, unchanged: 1, pruned: 1, ignored: 0, failed: 0, problems: 0 },
        changed: { created: ['ConfigMap/default/a'], pruned: ['Service/default/old'] },
      },
    ]);
  });

  it('gives a line per problem and failure at every pass, an ignored object only the first time', () => {
    const memory: AddonLogMemory = { ignored: new Set() };
    const report: AddonPassReport = {
      ...empty,
      ignored: ['ConfigMap/default/plain'],
      failed: [{ object: 'Deployment/default/d', message: '422 Invalid: bad' }],
      problems: [{ file: 'x.yaml', message: 'x.yaml, document 1: it has no kind.' }],
      pruneSkipped: '1 file(s) of the add-on folder could not be read',
    };
    const first = passLogLines(report, memory).map((line) => line.event);
    expect(first).toEqual(['problem', 'ignored', 'failed', 'prune-skipped', 'pass']);
    const second = passLogLines(report, memory);
    expect(second.map((line) => line.event)).toEqual(['problem', 'failed', 'pass']);
    expect(second.at(-1)?.level).toBe('warn');
    const fixed = passLogLines({ ...empty, ignored: ['ConfigMap/default/plain'] }, memory);
    expect(fixed.map((line) => line.event)).toEqual(['prune-resumed', 'pass']);
  });
});
