import { describe, it } from 'vitest';
import { createMemoryProvider, type MemoryProvider } from './index.js';
import { providerConformance } from './kit.js';

providerConformance({
  describe,
  it,
  create: () => createMemoryProvider(),
  capabilities: {
    stopStart: true,
    deleteLeftovers: true,
    stopProcesses: true,
    syncFiles: true,
    readFiles: async ({ provider, ref, prefix }) => (provider as MemoryProvider).instanceFiles(ref, prefix),
  },
});
