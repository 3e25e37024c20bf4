import { describe, it } from 'vitest';
import { createMemoryProvider } from './index.js';
import { providerConformance } from './kit.js';

providerConformance({
  describe,
  it,
  create: () => createMemoryProvider(),
  capabilities: { stopStart: true },
});
