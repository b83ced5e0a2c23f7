import { defineConfig } from "vitest/config"

// The unit tests that judge src/domain or src/programs, for `npm run mutation` only
// (stryker.*.json). MUTATION_TIER=domain: the domain's own tests, so its score says
// how well the decisions are pinned down by their tests, not by the handlers' (and a
// mutant costs milliseconds, not the seconds of a handler test). MUTATION_TIER=programs:
// the handler tests over in-memory layers. Left out of both: the failure matrices
// (failureMatrix, agentFaults: real sockets and real timeouts, seconds per test, and
// they judge bounds rather than decisions), the emulator suites and the tests of the
// built `manage` (they test test support or dist/, which Stryker does not mutate).
const tiers = {
  domain: [
    "test/unit/domain/**/*.test.ts",
    "test/unit/environment-consumers.test.ts",
    "test/unit/containerpilot-config.test.ts",
    "test/unit/readme.test.ts"
  ],
  programs: ["test/unit/programs/**/*.test.ts"]
}

export default defineConfig({
  test: {
    include: process.env.MUTATION_TIER === "programs" ? tiers.programs : tiers.domain,
    exclude: ["test/unit/programs/failureMatrix.test.ts", "test/unit/programs/agentFaults.test.ts"],
    testTimeout: 20_000
  }
})
