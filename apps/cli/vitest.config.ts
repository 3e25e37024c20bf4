import { defineConfig } from 'vitest/config';
import { packageTestConfig } from '../../vitest.shared.js';

// The shared unit and integration projects, plus `e2e`: the built CLI run as a process, two files
// at a time (each file's clusters live in a state folder of their own, on random loopback
// addresses, and mostly wait on their processes). The testkit's global setup kills by pid whatever
// a crashed test left running.
const shared = packageTestConfig({
  globalSetup: ['@hacp/testkit/global-setup', '@hacp/provider-local/test-global-setup'],
});

export default defineConfig({
  ...shared,
  test: {
    ...shared.test,
    projects: [
      ...(shared.test?.projects ?? []),
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['src/**/*.e2e.test.ts'],
          sequence: { groupOrder: 2 },
          testTimeout: 300_000,
          hookTimeout: 300_000,
          maxWorkers: 2,
        },
      },
    ],
  },
});
