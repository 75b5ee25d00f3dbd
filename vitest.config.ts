import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ when it is older than src/ (the e2e tests spawn bin/run.js).
    globalSetup: ['test/global-setup.ts'],
    // Every property runs with lengths up to its bounds (test/helpers/fast-check-size.ts).
    setupFiles: ['test/helpers/fast-check-size.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // End-to-end tests spawn the built CLI and bind real sockets; two cores.
    maxWorkers: 2,
  },
})
