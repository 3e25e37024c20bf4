import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';
import { packageTestConfig } from '../../vitest.shared.js';

// The shared unit and integration projects, plus `kubernetes`: the suites that run the real
// Kubernetes binaries (several minutes), one file at a time. They are a turbo task of their own
// (`test:kubernetes`), so that they run beside the etcd suites rather than after them.
const shared = packageTestConfig({
  globalSetup: ['@hacp/testkit/global-setup', '@hacp/provider-local/test-global-setup'],
});
const KUBERNETES_SUITES = 'src/**/kubernetes*.integ.test.ts';

export default defineConfig({
  ...shared,
  test: {
    ...shared.test,
    projects: [
      ...(shared.test?.projects ?? []).map((project) => {
        const inline = project as TestProjectInlineConfiguration;
        // The real-etcd files (each with clusters of its own on random loopback addresses, mostly
        // waiting on their processes) run two at a time.
        if (inline.test?.name === 'integration')
          return {
            ...inline,
            test: { ...inline.test, exclude: [KUBERNETES_SUITES], fileParallelism: true, maxWorkers: 2 },
          };
        // The engine's unit cases (memory provider, fake etcd, no processes, no timing budget) are
        // most of the time: two workers run their files side by side even where vitest would take one
        // (it takes one fewer than the cores).
        if (inline.test?.name === 'unit') return { ...inline, test: { ...inline.test, maxWorkers: 2 } };
        return project;
      }),
      {
        extends: true,
        test: {
          name: 'kubernetes',
          include: [KUBERNETES_SUITES],
          sequence: { groupOrder: 2 },
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
