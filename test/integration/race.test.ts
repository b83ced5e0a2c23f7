// Given three nodes started at the same instant on an empty Consul, they always end
// with exactly one master (repeated: the race must not be won twice, ever).
import { describe, expect, it } from "vitest"
import { roleOf, scenario, waitForTopology } from "../support/scenario.ts"

describe("three nodes started at the same instant", () => {
  for (let round = 1; round <= 5; round++) {
    it(`end with exactly one master (round ${round})`, async () => {
      const s = await scenario(3)
      try {
        const t = await waitForTopology(s.cluster, [1, 2, 3], 60_000)
        const roles = await Promise.all([1, 2, 3].map((i) => roleOf(s.cluster, i)))
        expect(roles.filter((r) => r === "master")).toHaveLength(1)
        expect(roles.filter((r) => r === "slave")).toHaveLength(2)
        expect(t.masters).toHaveLength(1)
      } finally {
        await s.close()
      }
    })
  }
})
