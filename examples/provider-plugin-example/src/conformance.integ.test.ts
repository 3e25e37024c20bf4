import { rm } from 'node:fs/promises';
import { PROCESS_CLOUD_CAPABILITIES } from '@hacp/core/provider-kit';
import { providerConformance } from '@hacp/provider-conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { createExampleProvider } from './provider.js';
import { ProcessLedger, pidFiles, tempStateDir } from './test-support.js';

const ledger = new ProcessLedger();
const stateDirs: string[] = [];

/** A fresh Example Cloud per test; a shorter start check than the default keeps the kit's ~60 instances quick. */
async function newCloud() {
  const stateDir = await tempStateDir('hacp-example-conformance-');
  stateDirs.push(stateDir);
  return createExampleProvider({ stateDir, logger: ledger.logger, startCheckMs: 300, stopGraceMs: 2_000 });
}

// Everything a process cloud of the provider kit can do, syncFiles read back from the instance roots.
providerConformance({
  describe,
  it,
  name: 'Example Cloud passes the conformance kit',
  create: newCloud,
  capabilities: PROCESS_CLOUD_CAPABILITIES,
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
