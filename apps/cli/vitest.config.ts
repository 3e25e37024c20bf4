import { defineConfig } from 'vitest/config';
import { packageTestConfig } from '../../vitest.shared.js';

// The shared unit and integration projects, plus `e2e`: the built CLI run as a process, one file
// at a time. The testkit's global setup kills by pid whatever a crashed test left running.
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
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
