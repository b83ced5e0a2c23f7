// Given nothing, when one node starts, then it becomes master and passes as `redis`;
// when two more join, they become replicas holding the master's keys, and three
// sentinels pass.
import { afterAll, describe, expect, it } from "vitest"
import { addresses, redisOf, roleOf, type Scenario, scenario, topology, waitFor, waitForTopology } from "../support/scenario.ts"

describe("bootstrap", () => {
  let s: Scenario | undefined
  afterAll(async () => s?.close())

  it("one node becomes master and passes as redis and redis-sentinel", async () => {
    s = await scenario(1)
    const t = await waitFor("node 1 passing", 30_000, () => topology(s!.cluster), (t) => t.masters.length === 1 && t.sentinels.length === 1)
    expect(addresses(t.masters)).toEqual([s.cluster.node(1).address])
    expect(t.replicas).toEqual([])
    expect(await roleOf(s.cluster, 1)).toBe("master")
    const master = redisOf(s.cluster, 1)
    for (let k = 0; k < 100; k++) await master.set(`key:${k}`, `value ${k}`)
    master.disconnect()
  })

  it("two more nodes join as replicas that hold the master's keys; three sentinels pass", async () => {
    const c = s!.cluster
    await c.addNode()
    await c.addNode()
    const t = await waitForTopology(c, [1, 2, 3], 45_000)
    expect(addresses(t.masters)).toEqual([c.node(1).address])
    expect(addresses(t.replicas)).toEqual([c.node(2).address, c.node(3).address])
    for (const i of [2, 3]) {
      const replica = redisOf(c, i)
      expect(await replica.dbsize()).toBe(100)
      expect(await replica.get("key:42")).toBe("value 42")
      replica.disconnect()
    }
  })
})
