import { defineConfig } from "vitest/config"

// Two tiers (DESIGN.md §9): unit tests run in parallel over in-memory layers and
// emulators; integration tests start real redis-server/redis-sentinel processes on
// fixed loopback addresses, so they run one file at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 20_000
        }
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000
        }
      },
      {
        // Needs a Docker engine; reports itself skipped where none answers.
        test: {
          name: "docker",
          include: ["test/docker/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 1_200_000
        }
      }
    ]
  }
})
