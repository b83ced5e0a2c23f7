// Given a running cluster, when Consul is unreachable for 20 s, then the health checks
// still answer within their timeout, Redis keeps serving, and once Consul returns the
// registry shows the same master, replicas and sentinels again.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runManage } from "../support/cluster/Cluster.ts"
import { addresses, indexOf, redisOf, type Scenario, scenario, waitForTopology } from "../support/scenario.ts"

describe("Consul unavailable for 20 s", () => {
  let s: Scenario
  beforeAll(async () => {
    s = await scenario(3)
  })
  afterAll(async () => s?.close())

  it("health checks answer in time, Redis serves, the registry is right again afterwards", async () => {
    const c = s.cluster
    const before = await waitForTopology(c, [1, 2, 3], 60_000)
    const master = indexOf(c, before.masters[0]?.address ?? "")
    const replica = indexOf(c, before.replicas[0]?.address ?? "")
    const consul = c.consul
    if (consul === undefined) throw new Error("this scenario needs the emulator (it takes Consul down)")

    await consul.setMode("down")
    const downSince = Date.now()
    const client = redisOf(c, master)
    const checkTimes: Array<number> = []
    let writes = 0
    try {
      while (Date.now() - downSince < 20_000) {
        for (const [i, args] of [[master, ["health", "master"]], [replica, ["health", "replica"]], [master, ["health-sentinel"]]] as const) {
          const started = Date.now()
          await runManage(c.node(i).env, args)
          checkTimes.push(Date.now() - started)
        }
        await client.set(`during-outage:${writes}`, "ok")
        writes += 1
      }
    } finally {
      client.disconnect()
      await consul.setMode("normal")
    }
    console.log(`during the outage: ${checkTimes.length} checks passed, slowest ${Math.max(...checkTimes)} ms; ${writes} writes served`)
    expect(Math.max(...checkTimes)).toBeLessThan(2000)
    expect(writes).toBeGreaterThan(5)

    const after = await waitForTopology(c, [1, 2, 3], 30_000)
    expect(addresses(after.masters)).toEqual(addresses(before.masters))
    expect(addresses(after.replicas)).toEqual(addresses(before.replicas))
  })
})
