import { defineConfig } from 'vitest/config';

// Three depths, each runnable alone: `vitest run --project unit|docker|cluster`.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'docker',
          include: ['test/docker/**/*.test.ts'],
          globalSetup: ['test/support/docker-global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // one daemon, two cores: containers from parallel files would only slow each other down
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          // one cluster for all cluster test files: up before the first, down after the last
          globalSetup: ['test/cluster/support/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
