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
        return inline.test?.name === 'integration'
          ? { ...inline, test: { ...inline.test, exclude: [KUBERNETES_SUITES] } }
          : project;
      }),
      {
        extends: true,
        test: {
          name: 'kubernetes',
          include: [KUBERNETES_SUITES],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
