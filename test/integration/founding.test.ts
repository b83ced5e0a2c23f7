// Founding never goes over data that exists somewhere (DESIGN.md §5), with real
// processes:
// - the whole cluster stops, then every node starts at the same instant with one
//   node's data directory removed, once for each node (the master's first): every
//   node ends with every key, exactly one master;
// - Consul loses its state, then a node is added with PEERS naming the live nodes: it
//   joins as a replica, one master remains;
// - three empty nodes on a cluster that never held data, FOUNDING_GRACE ten minutes:
//   exactly one founder, and the cluster passes long before any grace could end.
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Cluster } from "../support/cluster/Cluster.ts"
import { indexOf, logsOf, redisOf, roleOf, type Scenario, scenario, waitFor, waitForTopology } from "../support/scenario.ts"

const keys = 1000

const writeKeys = async (c: Cluster, master: number) => {
  const client = redisOf(c, master)
  try {
    for (let k = 0; k < keys; k += 100) {
      const batch = client.multi()
      for (let j = k; j < k + 100; j++) batch.set(`key:${j}`, `value ${j}`)
      await batch.exec()
    }
  } finally {
    client.disconnect()
  }
}

/** Every given node serves every key (and one of them, by value). */
const everyNodeHoldsEveryKey = async (c: Cluster, nodes: ReadonlyArray<number>, ms: number) => {
  for (const i of nodes) {
    const client = redisOf(c, i)
    try {
      await waitFor(`node ${i} holds ${keys} keys`, ms, () => client.dbsize(), (n) => n === keys)
      expect(await client.get("key:123")).toBe("value 123")
    } finally {
      client.disconnect()
    }
  }
}

const kv = async (c: Cluster, key: string): Promise<unknown> => {
  const r = await fetch(`http://${c.consulAddress}/v1/kv/${key}?raw`)
  return r.status === 200 ? JSON.parse(await r.text()) : undefined
}

const roles = (c: Cluster, nodes: ReadonlyArray<number>) => Promise.all(nodes.map((i) => roleOf(c, i)))

describe("the whole cluster stops and starts at once with one node's volume lost", () => {
  let s: Scenario
  const nodes = [1, 2, 3]
  const wiped = new Set<number>()

  beforeAll(async () => {
    s = await scenario(3)
    const t = await waitForTopology(s.cluster, nodes, 60_000)
    await writeKeys(s.cluster, indexOf(s.cluster, t.masters[0]?.address ?? ""))
  })
  afterAll(async () => s?.close())

  for (const which of ["the master", "a replica", "the node not yet wiped"] as const) {
    it(`${which}'s data directory removed: every node ends with every key, one master`, async () => {
      const c = s.cluster
      const t = await waitForTopology(c, nodes, 90_000)
      const master = indexOf(c, t.masters[0]?.address ?? "")
      const victim = which === "the master" ? master : nodes.find((i) => !wiped.has(i) && (which !== "a replica" || i !== master)) ?? 0
      wiped.add(victim)
      await everyNodeHoldsEveryKey(c, nodes, 30_000)
      // What the agents leave behind for the next start: the master is the last one seen, and there was data.
      await waitFor("the cluster's record names the master and says data", 20_000, () => kv(c, "service/redis/cluster"), (r) =>
        typeof r === "object" && r !== null && "heldData" in r && r.heldData === true && "lastMaster" in r &&
        JSON.stringify(r.lastMaster).includes(`"address":"${c.node(master).address}"`))

      await c.stopNodes(nodes)
      const startedAt = Date.now()
      await c.startNodes(nodes, { wipeData: [victim] })
      try {
        await waitForTopology(c, nodes, 90_000)
        await everyNodeHoldsEveryKey(c, nodes, 60_000)
      } catch (e) {
        throw new Error(`${String(e)}\n${nodes.map((i) => `== node ${i}\n${logsOf(c, i)}`).join("\n")}`)
      }
      console.log(`node ${victim} (${victim === master ? "master" : "replica"}) lost its data: every node passing with every key ${Date.now() - startedAt} ms after the start`)
      expect((await roles(c, nodes)).filter((r) => r === "master")).toHaveLength(1)
    }, 300_000)
  }
})

describe("Consul loses its state while the cluster runs", () => {
  let s: Scenario
  beforeAll(async () => {
    s = await scenario(3, {}, { perNodeEnv: (_, addressOf) => ({ PEERS: [1, 2, 3].map(addressOf).join(",") }) })
  })
  afterAll(async () => s?.close())

  it("a node added with PEERS naming the live nodes joins as a replica; one master remains", async () => {
    const c = s.cluster
    const consul = c.consul
    if (consul === undefined) throw new Error("this scenario needs a Consul the runner started (it wipes it)")
    const t = await waitForTopology(c, [1, 2, 3], 60_000)
    const master = indexOf(c, t.masters[0]?.address ?? "")
    await writeKeys(c, master)
    await consul.restartEmpty()
    const added = await c.addNode()
    try {
      await waitFor(`node ${added} a replica`, 60_000, () => roleOf(c, added), (r) => r === "slave")
      await everyNodeHoldsEveryKey(c, [added], 30_000)
    } catch (e) {
      throw new Error(`${String(e)}\n${logsOf(c, added)}`)
    }
    const all = [1, 2, 3, added]
    expect(await roles(c, all)).toEqual(all.map((i) => (i === master ? "master" : "slave")))
    await waitForTopology(c, all, 60_000)
  }, 180_000)
})

describe("a cluster that never held data", () => {
  let s: Scenario | undefined
  afterAll(async () => s?.close())

  it("three empty nodes started at once, FOUNDING_GRACE ten minutes: exactly one founder, no grace wait", async () => {
    const startedAt = Date.now()
    s = await scenario(3, { FOUNDING_GRACE: "10m", MASTER_WAIT_TIMEOUT: "30m", PRESTART_TIMEOUT: "40m" })
    const c = s.cluster
    await waitForTopology(c, [1, 2, 3], 60_000)
    console.log(`three empty nodes fully passing ${Date.now() - startedAt} ms after the start`)
    expect((await roles(c, [1, 2, 3])).filter((r) => r === "master")).toHaveLength(1)
    const logs = [1, 2, 3].map((i) => {
      const file = join(c.node(i).logDir, "preStart.log")
      return existsSync(file) ? readFileSync(file, "utf8") : ""
    })
    expect(logs.filter((l) => /founding the cluster at .*the cluster never held data/.test(l))).toHaveLength(1)
    expect(logs.join("\n")).not.toMatch(/FOUNDING_GRACE/)
  }, 120_000)
})
