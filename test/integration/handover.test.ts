// Given a master with two replicas and an application writing through Sentinel, when
// the master is stopped gracefully (pre-stop), then another node takes over and every
// write the application saw acknowledged is readable afterwards.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { indexOf, logsOf, redisOf, type Scenario, scenario, sentinelClient, topology, waitFor, waitForTopology } from "../support/scenario.ts"

describe("graceful stop of the master", () => {
  let s: Scenario
  beforeAll(async () => {
    s = await scenario(3)
  })
  afterAll(async () => s?.close())

  it("hands over to a replica while a Sentinel client keeps writing: every acknowledged write survives", async () => {
    const c = s.cluster
    const t = await waitForTopology(c, [1, 2, 3], 60_000)
    const oldMaster = indexOf(c, t.masters[0]?.address ?? "")
    const client = sentinelClient(c, t.sentinels)
    const acked: Array<number> = []
    let failed = 0
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        try {
          await client.set(`w:${i}`, String(i))
          acked.push(i)
        } catch {
          failed += 1
          await new Promise((r) => setTimeout(r, 50))
        }
      }
    })()
    await waitFor("the client writing", 10_000, async () => acked.length, (n) => n > 200)
    const beforeStop = acked.length
    await c.stopNode(oldMaster)
    const after = await waitFor("another node passing as redis", 30_000, () => topology(c), (x) =>
      x.masters.length === 1 && x.masters[0]?.address !== c.node(oldMaster).address).catch((e) => {
      throw new Error(`${String(e)}\n${logsOf(c, oldMaster)}`)
    })
    await waitFor("the client writing again after the handover", 20_000, async () => acked.length, (n) => n > beforeStop + 200)
    writing = false
    await writer
    client.disconnect()

    const newMaster = indexOf(c, after.masters[0]?.address ?? "")
    const reader = redisOf(c, newMaster)
    const missing: Array<number> = []
    for (const i of acked) if ((await reader.get(`w:${i}`)) !== String(i)) missing.push(i)
    reader.disconnect()
    console.log(`acknowledged ${acked.length} writes (${failed} refused or retried during the handover); missing ${missing.length}`)
    expect(missing).toEqual([])
  })
})
