import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PROCESS_CLOUD_CAPABILITIES } from '@hacp/core/provider-kit';
import { providerConformance } from '@hacp/provider-conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalProvider } from './provider.js';
import { tempStateDir } from './test-support.js';

const stateDirs: Awaited<ReturnType<typeof tempStateDir>>[] = [];

providerConformance({
  describe,
  it,
  name: 'the local provider passes the conformance kit',
  create: async () => {
    const temp = await tempStateDir('hacp-conformance-');
    stateDirs.push(temp);
    return createLocalProvider({ stateDir: temp.dir, stopGraceMs: 3_000 });
  },
  capabilities: PROCESS_CLOUD_CAPABILITIES,
});

afterAll(async () => {
  // The kit deletes what each test made; nothing may still be recorded as running.
  const leftovers: string[] = [];
  for (const temp of stateDirs) {
    for (const replica of await readdir(join(temp.dir, 'replicas')).catch(() => [] as string[])) {
      const run = await readdir(join(temp.dir, 'replicas', replica, 'run')).catch(() => [] as string[]);
      leftovers.push(...run.map((file) => `${replica}/${file}`));
    }
    const endpoints = await readdir(join(temp.dir, 'endpoints')).catch(() => [] as string[]);
    leftovers.push(...endpoints.map((endpoint) => `endpoint ${endpoint}`));
  }
  try {
    expect(leftovers).toEqual([]);
  } finally {
    for (const temp of stateDirs) await temp.remove();
  }
});
