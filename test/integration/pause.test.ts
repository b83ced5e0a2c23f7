// Maintenance mode and REPLICA_PRIORITY on real processes. Nodes 1 and 2 found the
// cluster together; node 3 joins with REPLICA_PRIORITY=0. Given `manage pause`, when
// the master is killed, then Sentinel gives up its failover (`-failover-abort-no-good-
// slave`, awaited on the surviving sentinels' event channels) and nobody is promoted; `manage resume` puts
// every REPLICA_PRIORITY back and Sentinel fails over to the other founder, never to
// node 3. When that master is frozen, node 3, now the only replica, is never promoted.
import { rmSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Cluster, startCluster } from "../support/cluster/Cluster.ts"
import { indexOf, logsOf, roleOf, scenarioEnv, scratchDir, sentinelOf, topology, waitFor, waitForSentinelsToKnowReplicas, waitForTopology } from "../support/scenario.ts"
import { manage, priorityOf, sentinelMasters } from "../support/controls.ts"

/**
 * Resolves once one of these nodes' sentinels publishes `event` (subscribed before
 * `trigger` runs): only the sentinel elected to lead a failover tells of its abort.
 */
const awaitEvent = async (c: Cluster, nodes: ReadonlyArray<number>, event: string, ms: number, trigger: () => Promise<void> | void): Promise<string> => {
  const clients = nodes.map((i) => sentinelOf(c, i))
  try {
    const heard = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${event} not published by the sentinels of nodes ${nodes.join(", ")} within ${ms} ms`)), ms)
      for (const client of clients) {
        client.on("message", (channel: string, message: string) => {
          if (channel !== event) return
          clearTimeout(timer)
          resolve(message)
        })
      }
    })
    await Promise.all(clients.map((client) => client.subscribe(event)))
    await trigger()
    return await heard
  } finally {
    for (const client of clients) client.disconnect()
  }
}

describe("manage pause / resume, REPLICA_PRIORITY=0", () => {
  let c: Cluster
  let root: string
  const frozen: Array<number> = []

  beforeAll(async () => {
    root = scratchDir("pause")
    c = await startCluster({
      nodes: 2,
      root,
      consulPort: 0,
      // Sentinel retries an aborted failover after 2 × failover-timeout.
      env: { ...scenarioEnv, SENTINEL_FAILOVER_TIMEOUT: "5s" },
      perNodeEnv: (i) => (i === 3 ? { REPLICA_PRIORITY: "0" } : {})
    })
    await waitForTopology(c, [1, 2], 60_000)
    await c.addNode()
    await waitForTopology(c, [1, 2, 3], 60_000)
    await waitForSentinelsToKnowReplicas(c, [1, 2, 3], 2, 30_000)
  })
  afterAll(async () => {
    for (const i of frozen) c?.freezeProcess(i, "redis-server", false)
    await c?.close()
    if (process.env.KEEP_SCENARIO === undefined) rmSync(root, { recursive: true, force: true })
  })

  it("paused: the master killed, no failover; resumed: priorities back, then a failover, never to the REPLICA_PRIORITY=0 node; that node is never promoted", async () => {
    const t = await topology(c)
    const master = indexOf(c, t.masters[0]?.address ?? "")
    const other = master === 1 ? 2 : 1
    expect(await priorityOf(c, 3)).toBe(0)

    const paused = await manage(c, 3, ["pause"])
    expect(paused.code, paused.stderr).toBe(0)
    expect(paused.stderr).toContain("paused: no automatic failover")
    for (const i of [other, 3]) expect(await priorityOf(c, i), `node ${i} paused`).toBe(0)
    const listed = await manage(c, 3, ["list"])
    expect(listed.stdout).toContain("maintenance mode: paused")

    await awaitEvent(c, [other, 3], "-failover-abort-no-good-slave", 30_000, () => c.killNode(master))
    expect(await roleOf(c, other)).toBe("slave")
    expect(await roleOf(c, 3)).toBe("slave")
    expect(await sentinelMasters(c, [other, 3])).toEqual([c.node(master).address, c.node(master).address])

    const resumed = await manage(c, 3, ["resume"])
    expect(resumed.code, resumed.stderr).toBe(0)
    // resume waits for the agents that answer; one too busy to answer puts its priority back on its next look.
    await waitFor("node's REPLICA_PRIORITY back", 15_000, () => priorityOf(c, other), (p) => p === 100)
    expect(await priorityOf(c, 3)).toBe(0)
    await waitFor("Sentinel failing over to the other founder after the resume", 40_000, () => sentinelMasters(c, [other, 3]), (m) =>
      m.every((a) => a === c.node(other).address)).catch((e) => {
      throw new Error(`${String(e)}\n${logsOf(c, other)}`)
    })
    await waitFor("node 3 following it", 20_000, () => roleOf(c, 3), (r) => r === "slave")

    // Node 3 is now the only replica: with its priority 0, Sentinel must give up again.
    frozen.push(other)
    await awaitEvent(c, [other, 3], "-failover-abort-no-good-slave", 30_000, () => c.freezeProcess(other, "redis-server", true))
    expect(await roleOf(c, 3)).toBe("slave")
    expect(await sentinelMasters(c, [3])).toEqual([c.node(other).address])
  })
})
