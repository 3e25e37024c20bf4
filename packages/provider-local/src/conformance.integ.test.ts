import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { providerConformance } from '@hacp/provider-conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalProvider } from './provider.js';
import { tempStateDir } from './test-support.js';

const stateDirs: Awaited<ReturnType<typeof tempStateDir>>[] = [];

/** Every file under `<root>/<prefix>/`, with its mode and contents, as the kit's syncFiles checks read it. */
async function filesUnder(root: string, prefix: string) {
  const entries = await readdir(join(root, prefix), { recursive: true, withFileTypes: true }).catch(() => []);
  const files = [];
  for (const entry of entries.filter((candidate) => candidate.isFile())) {
    const path = join(entry.parentPath, entry.name);
    files.push({
      path: relative(root, path),
      mode: (await stat(path)).mode & 0o777,
      contents: await readFile(path, 'utf8'),
    });
  }
  return files;
}

providerConformance({
  describe,
  it,
  name: 'the local provider passes the conformance kit',
  create: async () => {
    const temp = await tempStateDir('hacp-conformance-');
    stateDirs.push(temp);
    return createLocalProvider({ stateDir: temp.dir, stopGraceMs: 3_000 });
  },
  capabilities: {
    stopStart: true,
    failedStartRollsBack: true,
    stopProcesses: true,
    syncFiles: true,
    readFiles: async ({ rootDir, prefix }) => filesUnder(rootDir, prefix),
  },
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
