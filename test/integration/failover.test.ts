// Given a master and two replicas, when the master's node is killed (SIGKILL of its
// Redis and everything else, like a crashed container), then Sentinel promotes a
// replica, Consul shows the new master passing and the old one not, and writes reach
// the remaining replica. When the killed node comes back with an empty data
// directory, it rejoins as a replica, never serving as an empty master, and no key
// is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { indexOf, logsOf, redisOf, roleOf, type Scenario, scenario, topology, waitFor, waitForSentinelsToKnowReplicas, waitForTopology } from "../support/scenario.ts"

describe("the master dies", () => {
  let s: Scenario
  let oldMaster = 0
  let newMaster = 0
  let survivor = 0
  const keys = 200

  beforeAll(async () => {
    s = await scenario(3)
    const t = await waitForTopology(s.cluster, [1, 2, 3], 60_000)
    oldMaster = indexOf(s.cluster, t.masters[0]?.address ?? "")
    const master = redisOf(s.cluster, oldMaster)
    for (let k = 0; k < keys; k++) await master.set(`key:${k}`, String(k))
    master.disconnect()
    for (const i of [1, 2, 3].filter((n) => n !== oldMaster)) {
      const r = redisOf(s.cluster, i)
      await waitFor(`node ${i} holds the keys`, 10_000, () => r.dbsize(), (n) => n === keys)
      r.disconnect()
    }
    await waitForSentinelsToKnowReplicas(s.cluster, [1, 2, 3], 2, 30_000)
  })
  afterAll(async () => s?.close())

  it("Sentinel promotes a replica; Consul shows it passing as redis and the old master not passing", async () => {
    const c = s.cluster
    const killedAt = Date.now()
    await c.killNode(oldMaster)
    const t = await waitFor("another node passing as redis, the old one not", 20_000, () => topology(c), (t) =>
      t.masters.length === 1 && t.masters[0]?.address !== c.node(oldMaster).address)
    newMaster = indexOf(c, t.masters[0]?.address ?? "")
    survivor = [1, 2, 3].find((i) => i !== oldMaster && i !== newMaster) ?? 0
    expect(await roleOf(c, newMaster)).toBe("master")
    console.log(`registry turned over ${Date.now() - killedAt} ms after the kill (SENTINEL_DOWN_AFTER=2s)`)
  })

  it("writes to the new master reach the remaining replica", async () => {
    const c = s.cluster
    const master = redisOf(c, newMaster)
    await master.set("after-failover", "yes")
    master.disconnect()
    const replica = redisOf(c, survivor)
    await waitFor(`node ${survivor} follows the new master`, 20_000, () => replica.get("after-failover"), (v) => v === "yes")
    replica.disconnect()
  })

  it("the killed node comes back with an empty data directory: rejoins as a replica, never an empty master, no key lost", async () => {
    const c = s.cluster
    const seen = new Set<string>()
    let watching = true
    const watcher = (async () => {
      while (watching) {
        seen.add(await roleOf(c, oldMaster))
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    await c.startNode(oldMaster, { wipeData: true })
    try {
      await waitFor("the returned node passing as a replica", 60_000, () => topology(c), (t) =>
        t.replicas.some((r) => r.address === c.node(oldMaster).address) && t.sentinels.length === 3)
    } catch (e) {
      throw new Error(`${String(e)}\n${logsOf(c, oldMaster)}`)
    } finally {
      watching = false
      await watcher
    }
    expect([...seen]).not.toContain("master")
    for (const i of [1, 2, 3]) {
      const r = redisOf(c, i)
      await waitFor(`node ${i} holds every key`, 20_000, () => r.dbsize(), (n) => n === keys + 1)
      r.disconnect()
    }
  })
})
