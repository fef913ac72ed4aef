import { defineConfig } from 'vitest/config';

// Three projects, one command: `npm test` runs them all. Integration tests share one embedded local stack,
// started once by the global setup (or reused when TEM_LOCAL_STATE points at a running one's state file).
export default defineConfig({
  test: {
    // The SDK warns that it will drop Node 20 in 2027; the project runs on 20 and 22 until then.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' } },
      // Local-stack components over loopback, their collaborators replaced: no emulator needed.
      { test: { name: 'component', include: ['test/component/**/*.test.ts'] } },
      { test: { name: 'infra', include: ['test/infra/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
