// Given a three-node cluster holding a dataset, when a node is stopped gracefully (as
// `docker stop` or a rolling upgrade does) and started again, then it copies from its
// master only what it missed (a partial resync, not the whole dataset), holds every
// write made while it was down, and is durable again: its AOF back on, redis.conf
// saying so, resync.rdb gone. The master's own restart, after its handover, too.
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseInfo } from "../../src/domain/RedisReplies.ts"
import { indexOf, logsOf, redisOf, type Scenario, scenario, topology, waitFor, waitForSentinelsToKnowReplicas, waitForTopology } from "../support/scenario.ts"
import { type Cluster } from "../support/cluster/Cluster.ts"

/** How many full and partial resyncs node i has served as a master. */
const syncsServed = async (c: Cluster, i: number) => {
  const client = redisOf(c, i)
  try {
    const stats = parseInfo(await client.info("stats"))
    return { full: Number(stats["sync_full"]), partial: Number(stats["sync_partial_ok"]) }
  } finally {
    client.disconnect()
  }
}

const replicationOffset = async (c: Cluster, i: number): Promise<number> => {
  const client = redisOf(c, i)
  try {
    return Number(parseInfo(await client.info("replication"))["master_repl_offset"])
  } catch {
    return -1
  } finally {
    client.disconnect()
  }
}

const appendOnly = async (c: Cluster, i: number): Promise<string> => {
  const client = redisOf(c, i)
  try {
    return (await client.config("GET", "appendonly") as Array<string>).join(" ")
  } catch (e) {
    return String(e)
  } finally {
    client.disconnect()
  }
}

const priorityOf = async (c: Cluster, i: number): Promise<string> => {
  const client = redisOf(c, i)
  try {
    return (await client.config("GET", "replica-priority") as Array<string>)[1] ?? ""
  } catch (e) {
    return String(e)
  } finally {
    client.disconnect()
  }
}

/** `count` keys of 1 KiB under `prefix`, written to node i in one pipeline. */
const write = async (c: Cluster, i: number, prefix: string, count: number) => {
  const client = redisOf(c, i)
  try {
    const pipeline = client.pipeline()
    for (let k = 0; k < count; k++) pipeline.set(`${prefix}:${k}`, `${prefix}:${k}:`.padEnd(1024, "x"))
    const refused = (await pipeline.exec() ?? []).flatMap(([e]) => (e === null ? [] : [String(e)]))
    expect(refused, `writes to node ${i} refused`).toEqual([])
  } finally {
    client.disconnect()
  }
}

/** Node i holds every key `write` wrote under `prefix`. */
const holds = async (c: Cluster, i: number, prefix: string, count: number): Promise<number> => {
  const client = redisOf(c, i)
  try {
    const values = await client.mget(Array.from({ length: count }, (_, k) => `${prefix}:${k}`))
    return values.filter((v, k) => v === `${prefix}:${k}:`.padEnd(1024, "x")).length
  } finally {
    client.disconnect()
  }
}

describe("a graceful restart resyncs partially", () => {
  let s: Scenario
  beforeAll(async () => {
    s = await scenario(3)
  })
  afterAll(async () => s?.close())

  /** Stops node i, writes `during` keys to the master meanwhile, starts it again; returns what the master served. */
  const restart = async (c: Cluster, i: number, master: () => Promise<number>, prefix: string) => {
    await c.stopNode(i)
    expect(existsSync(join(c.node(i).dataDir, "resync.rdb")), `pre-stop saved resync.rdb\n${logsOf(c, i)}`).toBe(true)
    const m = await master()
    const before = await syncsServed(c, m)
    await write(c, m, prefix, 300)
    await c.startNode(i)
    await waitForTopology(c, [1, 2, 3], 60_000).catch((e) => {
      throw new Error(`${String(e)}\n${logsOf(c, i)}`)
    })
    const target = await replicationOffset(c, m)
    await waitFor(`node ${i} caught up with the master`, 30_000, () => replicationOffset(c, i), (o) => o >= target)
    return { m, before, after: await syncsServed(c, m) }
  }

  it("a replica copies only what it missed, holds the writes made while it was down, and has its AOF back", async () => {
    const c = s.cluster
    const t = await waitForTopology(c, [1, 2, 3], 60_000)
    const m = indexOf(c, t.masters[0]?.address ?? "")
    const r = indexOf(c, t.replicas[0]?.address ?? "")
    await write(c, m, "base", 2_000)
    // Both replicas in sync first: with none left in sync while one is down, the
    // master would rightly refuse writes (min-replicas-to-write).
    const target = await replicationOffset(c, m)
    for (const replica of t.replicas.map((x) => indexOf(c, x.address))) {
      await waitFor(`node ${replica} holding the dataset`, 30_000, () => replicationOffset(c, replica), (o) => o >= target)
    }

    const { before, after } = await restart(c, r, async () => m, "during")
    expect(after.partial, `node ${m} served a partial resync\n${logsOf(c, r)}`).toBe(before.partial + 1)
    expect(after.full, "and no full one").toBe(before.full)
    expect(await holds(c, r, "during", 300)).toBe(300)
    expect(await holds(c, r, "base", 2_000)).toBe(2_000)

    // A crashed Redis restarts from redis.conf: it must come to name the AOF.
    const confFile = join(c.node(r).configDir, "redis.conf")
    const conf = await waitFor(`node ${r}'s redis.conf with the AOF on`, 30_000, async () => readFileSync(confFile, "utf8"), (x) => /^appendonly yes$/m.test(x))
    expect(conf).toMatch(/^dbfilename "?dump\.rdb"?$/m)
    expect(await appendOnly(c, r)).toBe("appendonly yes")
    // Never promoted before then: 0 until the AOF is written, REPLICA_PRIORITY after.
    await waitFor(`node ${r} promotable again`, 30_000, () => priorityOf(c, r), (p) => p === "100")
    expect(existsSync(join(c.node(r).dataDir, "resync.rdb")), "taken by the start").toBe(false)
  })

  it("the master hands over, and rejoins as a replica that copies only what it missed", async () => {
    const c = s.cluster
    await waitForSentinelsToKnowReplicas(c, [1, 2, 3], 2, 60_000)
    const t = await waitForTopology(c, [1, 2, 3], 60_000)
    const old = indexOf(c, t.masters[0]?.address ?? "")
    const newMaster = async () => {
      const now = await waitFor("another node passing as master", 30_000, () => topology(c), (x) => x.masters.length === 1 && x.masters[0]?.address !== c.node(old).address)
      return indexOf(c, now.masters[0]?.address ?? "")
    }
    const { m, before, after } = await restart(c, old, newMaster, "handover")
    expect(after.partial, `node ${m} served the old master a partial resync\n${logsOf(c, old)}`).toBe(before.partial + 1)
    expect(after.full, "and no full one").toBe(before.full)
    expect(await holds(c, old, "handover", 300)).toBe(300)
    expect(await holds(c, old, "base", 2_000)).toBe(2_000)
  })
})
