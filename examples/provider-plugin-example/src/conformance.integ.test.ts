import { rm } from 'node:fs/promises';
import { providerConformance } from '@hacp/provider-conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { createExampleProvider } from './provider.js';
import { ProcessLedger, pidFiles, tempStateDir } from './test-support.js';

const ledger = new ProcessLedger();
const stateDirs: string[] = [];

providerConformance({
  describe,
  it,
  name: 'Example Cloud passes the conformance kit',
  create: async () => {
    const stateDir = await tempStateDir('hacp-example-conformance-');
    stateDirs.push(stateDir);
    // A shorter start check than the default keeps the ~60 instances of the kit quick.
    return createExampleProvider({ stateDir, logger: ledger.logger, startCheckMs: 300, stopGraceMs: 2_000 });
  },
  capabilities: { stopStart: true, failedStartRollsBack: true },
});

afterAll(async () => {
  // The kit deletes what each test made: no pid file may be left, and no process it ever started may run.
  const leftFiles: string[] = [];
  for (const stateDir of stateDirs) {
    leftFiles.push(...(await pidFiles(stateDir)).map((file) => `${stateDir}/${file}`));
  }
  const running = ledger.killLeftovers();
  try {
    expect(leftFiles).toEqual([]);
    expect(running).toEqual([]);
    // Proves the ledger saw the kit's processes at all, so the check above can fail.
    expect(ledger.records.length).toBeGreaterThan(20);
  } finally {
    for (const stateDir of stateDirs) await rm(stateDir, { recursive: true, force: true });
  }
});
