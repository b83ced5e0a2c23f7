import { defineConfig } from "vitest/config"

// The unit tests that judge src/domain and src/programs, for `npm run mutation` only
// (stryker.config.json). Left out: the failure matrices (agentFaults, failureMatrix:
// real sockets and real timeouts, seconds per test, and they assert bounds rather
// than decisions), the emulator suites and the tests of the built `manage` (they
// test test support or dist/, which Stryker does not mutate).
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts"],
    exclude: [
      "test/unit/programs/failureMatrix.test.ts",
      "test/unit/programs/agentFaults.test.ts",
      "test/unit/consul-emulator.test.ts",
      "test/unit/manta-emulator.test.ts",
      "test/unit/manage-input.test.ts",
      "test/unit/swarm-stack.test.ts"
    ],
    testTimeout: 20_000
  }
})
