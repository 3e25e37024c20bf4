import { defineConfig } from 'vitest/config';

/**
 * The two test projects every package uses: `unit` (`*.test.ts`, fast, no processes) and `integration`
 * (`*.integ.test.ts`, real etcd and servers on loopback, run one file at a time). Packages that
 * start processes pass the testkit's global setup, which reaps by pid whatever a crashed worker left.
 */
export function packageTestConfig(options: { globalSetup?: string[] } = {}) {
  return defineConfig({
    test: {
      ...(options.globalSetup ? { globalSetup: options.globalSetup } : {}),
      projects: [
        {
          extends: true,
          test: {
            name: 'unit',
            include: ['src/**/*.test.ts'],
            // Projects run as groups in this order; a package may give a project more workers, and
            // vitest wants each such project in a group of its own.
            sequence: { groupOrder: 0 },
            exclude: ['src/**/*.integ.test.ts', 'src/**/*.e2e.test.ts'],
            // A guard against hangs, not a speed budget: on two busy cores a test that takes one
            // second idle (a first import, a schema compiled) can take well over vitest's 5 s.
            testTimeout: 30_000,
          },
        },
        {
          extends: true,
          test: {
            name: 'integration',
            include: ['src/**/*.integ.test.ts'],
            sequence: { groupOrder: 1 },
            testTimeout: 60_000,
            hookTimeout: 60_000,
            fileParallelism: false,
          },
        },
      ],
    },
  });
}
