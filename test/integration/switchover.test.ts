// The operator's switchover on real processes (nodes 1 and 2 founded together, node 3
// added with REPLICA_PRIORITY=50, so Sentinel on its own would prefer node 3):
// - refused, changing nothing, when the target is unknown, already master, lagging
//   (its Redis frozen while the master takes a 2 MiB write), or the cluster is paused;
// - `--to` the other replica, under an application writing through Sentinel: every
//   acknowledged write survives, the chosen node ends master in every Sentinel and in
//   Consul, and every replica-priority is back to its configured value.
import { rmSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Cluster, startCluster } from "../support/cluster/Cluster.ts"
import { manage, priorityOf, sentinelMasters } from "../support/controls.ts"
import { indexOf, logsOf, redisOf, roleOf, scenarioEnv, scratchDir, sentinelClient, topology, waitFor, waitForSentinelsToKnowReplicas, waitForTopology } from "../support/scenario.ts"

/** What master i reports as this replica's lag in bytes (its ROLE), or -1 when not listed. */
const lagOf = async (c: Cluster, master: number, replica: number): Promise<number> => {
  const client = redisOf(c, master)
  try {
    const role = await client.call("ROLE")
    if (!Array.isArray(role)) return -1
    const offset = Number(role[1])
    const rows: ReadonlyArray<unknown> = Array.isArray(role[2]) ? role[2] : []
    const row = rows.find((r) => Array.isArray(r) && r[0] === c.node(replica).address)
    return Array.isArray(row) ? offset - Number(row[2]) : -1
  } finally {
    client.disconnect()
  }
}

describe("manage switchover", () => {
  let c: Cluster
  let root: string
  let master = 0
  let other = 0
  const configured: Record<number, number> = { 1: 100, 2: 100, 3: 50 }

  beforeAll(async () => {
    root = scratchDir("switchover")
    c = await startCluster({ nodes: 2, root, consulPort: 0, env: scenarioEnv, perNodeEnv: (i) => (i === 3 ? { REPLICA_PRIORITY: "50" } : {}) })
    const t = await waitForTopology(c, [1, 2], 60_000)
    master = indexOf(c, t.masters[0]?.address ?? "")
    other = master === 1 ? 2 : 1
    await c.addNode()
    await waitForTopology(c, [1, 2, 3], 60_000)
    await waitForSentinelsToKnowReplicas(c, [1, 2, 3], 2, 30_000)
  })
  afterAll(async () => {
    await c?.close()
    if (process.env.KEEP_SCENARIO === undefined) rmSync(root, { recursive: true, force: true })
  })

  /** Nothing changed: the same master everywhere, every priority as configured, writes accepted at once. */
  const unchanged = async () => {
    expect(await sentinelMasters(c, [1, 2, 3])).toEqual([c.node(master).address, c.node(master).address, c.node(master).address])
    for (const i of [1, 2, 3]) expect(await priorityOf(c, i), `priority of node ${i}`).toBe(configured[i])
    const client = redisOf(c, master)
    try {
      expect(await client.set("unchanged", "yes")).toBe("OK")
    } finally {
      client.disconnect()
    }
  }

  it("refuses an unknown node, the master itself and a paused cluster, with the reason, changing nothing", async () => {
    const unknown = await manage(c, 1, ["switchover", "--to", "node-9"])
    expect(unknown.code, unknown.stderr).toBe(1)
    expect(unknown.stderr).toContain("unknown node \\\"node-9\\\"")
    const self = await manage(c, 1, ["switchover", "--to", c.node(master).address])
    expect(self.code, self.stderr).toBe(1)
    expect(self.stderr).toContain("is already the master")
    const put = await fetch(`http://${c.consulAddress}/v1/kv/service/redis/paused`, { method: "PUT", body: "{}" })
    expect(put.ok).toBe(true)
    try {
      const paused = await manage(c, 1, ["switchover"])
      expect(paused.code, paused.stderr).toBe(1)
      expect(paused.stderr).toContain("the cluster is paused")
    } finally {
      await fetch(`http://${c.consulAddress}/v1/kv/service/redis/paused`, { method: "DELETE" })
    }
    // The agents held the replicas at 0 while the key was there; they put REPLICA_PRIORITY back.
    await waitFor("priorities back after the pause key went", 10_000, () => Promise.all([1, 2, 3].map((i) => priorityOf(c, i))), (ps) =>
      ps.every((p, k) => p === configured[k + 1]))
    await unchanged()
  })

  it("refuses a lagging replica (its Redis frozen while the master takes a 2 MiB write), changing nothing", async () => {
    c.freezeProcess(3, "redis-server", true)
    try {
      const client = redisOf(c, master)
      await client.set("big", "x".repeat(2 * 1024 * 1024))
      client.disconnect()
      await waitFor("node 3 more than 1 MiB behind", 10_000, () => lagOf(c, master, 3), (lag) => lag > 1024 * 1024)
      const lagging = await manage(c, 1, ["switchover", "--to", "node-3"])
      expect(lagging.code, lagging.stderr).toBe(1)
      expect(lagging.stderr).toMatch(/node-3 \(.*\) is not a caught-up replica that may be promoted: it is \d+ bytes behind the master/)
    } finally {
      c.freezeProcess(3, "redis-server", false)
    }
    await waitFor("node 3 caught up again", 20_000, () => lagOf(c, master, 3), (lag) => lag >= 0 && lag < 1024)
    await unchanged()
  })

  it("--to the replica Sentinel would not pick: every acknowledged write survives, the chosen node is master in Sentinel and Consul, priorities restored", async () => {
    const t = await topology(c)
    const client = sentinelClient(c, t.sentinels)
    const acked: Array<number> = []
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        try {
          await client.set(`s:${i}`, String(i))
          acked.push(i)
        } catch {
          await new Promise((r) => setTimeout(r, 20))
        }
      }
    })()
    try {
      await waitFor("the client writing", 10_000, async () => acked.length, (n) => n > 200)
      const run = await manage(c, 1, ["switchover", "--to", `node-${other}`])
      console.log(run.stderr)
      expect(run.code, `${run.stderr}\n${logsOf(c, master)}`).toBe(0)
      const before = acked.length
      await waitFor("the client writing again after the switchover", 20_000, async () => acked.length, (n) => n > before + 200)
    } finally {
      writing = false
      await writer
      client.disconnect()
    }
    const target = c.node(other).address
    expect(await sentinelMasters(c, [1, 2, 3])).toEqual([target, target, target])
    const after = await topology(c)
    expect(after.masters.map((m) => m.address)).toEqual([target])
    expect(await roleOf(c, master)).toBe("slave")
    for (const i of [1, 2, 3]) expect(await priorityOf(c, i), `priority of node ${i}`).toBe(configured[i])
    const reader = redisOf(c, other)
    const missing: Array<number> = []
    try {
      for (const i of acked) if ((await reader.get(`s:${i}`)) !== String(i)) missing.push(i)
    } finally {
      reader.disconnect()
    }
    console.log(`switchover under load: ${acked.length} writes acknowledged, ${missing.length} missing`)
    expect(missing).toEqual([])
  })
})
