// Given three nodes started at the same instant on an empty Consul, they always end
// with exactly one master (repeated: the race must not be won twice, ever). Three
// rounds in CI (the founding rules' property tests cover every start order);
// RACE_ROUNDS=20 for a longer hunt.
import { describe, expect, it } from "vitest"
import { roleOf, scenario, waitForTopology } from "../support/scenario.ts"

const rounds = Number(process.env["RACE_ROUNDS"] ?? 3)

describe("three nodes started at the same instant", () => {
  for (let round = 1; round <= rounds; round++) {
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
