// What pre-start sees before it decides a role (observeRole): every node that may be
// a master or hold data is asked ROLE (registered in any state, known to a sentinel,
// the last bootstrapper, PEERS, and the masters their replicas follow); only passing
// sentinels and PEERS sentinels that answer count toward the majority; the bootstrap
// lock is read as free, this start's, an earlier start's of this node, or another's;
// the data directory is read for a dataset and its last write.
import { assert, describe, it } from "@effect/vitest"
import { mkdir, utimes, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Exit, FileSystem, Option, Path } from "effect"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { type Endpoint, formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { type ProbedRole } from "../../../src/domain/RoleDecision.ts"
import { datasetLastWrite, hasLocalData, observeRole } from "../../../src/programs/observeRole.ts"
import { makeWorlds, memoryLayers, platform, redisAt, sentinelAt, testNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const at = formatEndpoint

const lockHeld = (w: Worlds, session: string, value: string) => {
  w.consul.sessions.set(session, { behavior: "release" })
  w.consul.kv.set(names.masterLock, { value, session, modifyIndex: w.consul.next(), lockIndex: 1 })
}

/** Node 9 starting (10.0.0.19) with PEERS, into a world built by `build`. */
const observe = (w: Worlds, session: Option.Option<string> = Option.none(), env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const n = yield* testNode(9, env)
    return yield* observeRole(session).pipe(Effect.provide(memoryLayers(n, w)), Effect.exit)
  })

describe("observeRole: who is asked", () => {
  it.live("registered nodes in any state, nodes a sentinel knows, the last bootstrapper, PEERS and the masters their replicas follow; never this node", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      // Consul: sentinel 1 passing, sentinel 2 critical; node 1 passing master, node 5 a critical master
      // registration; node 3 a critical replica.
      w.redis.sentinel(sentinelAt(1), "mymaster", redisAt(1))
      w.redis.sentinels.get(at(sentinelAt(1)))?.replicas.push({ endpoint: redisAt(3), runId: "r3", flags: ["slave"] })
      w.redis.sentinel(sentinelAt(2), "mymaster", redisAt(5))
      w.consul.register("redis-sentinel-node-1", "redis-sentinel", sentinelAt(1).host, 26379)
      w.consul.register("redis-sentinel-node-2", "redis-sentinel", sentinelAt(2).host, 26379, "critical")
      w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379)
      w.consul.register("redis-node-5", "redis", redisAt(5).host, 6379, "critical")
      w.consul.register("redis-replica-node-3", "redis-replica", redisAt(3).host, 6379, "critical")
      lockHeld(w, "s-4", JSON.stringify({ node: "node-4", address: redisAt(4).host, port: 6379 }))
      // PEERS: node 6 runs a sentinel Consul does not list (it answers: it counts), node 7 has none.
      w.redis.sentinel(sentinelAt(6), "mymaster", redisAt(1))
      w.dns.set("redis", [redisAt(1).host, redisAt(6).host, redisAt(7).host, redisAt(9).host])
      // Redis: 1 master, 3 follows 8 (registered nowhere), 4 and 7 unreachable, 6 follows 1, 8 master.
      w.redis.master(redisAt(1), [redisAt(6)]).replica(redisAt(3), redisAt(8)).replica(redisAt(6), redisAt(1)).master(redisAt(8))
      w.redis.master(redisAt(9)) // a stale answer at this node's own address is never asked

      const exit = yield* observe(w, Option.none(), { PEERS: "redis,missing.example" })
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      if (!Exit.isSuccess(exit)) return
      const seen = exit.value
      assert.deepStrictEqual(seen.self, redisAt(9))
      assert.deepStrictEqual(seen.sentinelReports, [Option.some(redisAt(1)), Option.some(redisAt(1))], "the passing sentinel, and the PEERS sentinel that answered")
      assert.deepStrictEqual(seen.registeredMasters, [redisAt(1)], "passing registrations only")
      const byHost = (ps: ReadonlyArray<{ endpoint: Endpoint; role: ProbedRole }>) =>
        [...ps].map((p) => `${at(p.endpoint)} ${p.role._tag === "Replica" ? `Replica of ${at(p.role.master)}` : p.role._tag}`).sort()
      assert.deepStrictEqual(byHost(seen.probes), [
        "10.0.0.11:6379 Master",
        "10.0.0.12:6379 Unreachable", // sentinel 2's node: registered, in any state
        "10.0.0.13:6379 Replica of 10.0.0.18:6379",
        "10.0.0.14:6379 Unreachable", // the last bootstrapper
        "10.0.0.15:6379 Unreachable",
        "10.0.0.16:6379 Replica of 10.0.0.11:6379",
        "10.0.0.17:6379 Unreachable",
        "10.0.0.18:6379 Master" // the second round: the master a replica follows
      ])
      assert.deepStrictEqual(seen.lock, { _tag: "HeldByOther", holder: "node-4" })
      assert.isFalse(seen.localData)
      assert.strictEqual(seen.unresolvedPeers.length, 1)
      assert.include(seen.unresolvedPeers[0], "missing.example")
    }))

  it.live("a PEERS sentinel that does not know the master does not count; each probe is asked once", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.sentinel(sentinelAt(6), "othermaster", redisAt(1))
      w.redis.master(redisAt(6))
      const exit = yield* observe(w, Option.none(), { PEERS: `${redisAt(6).host},${redisAt(6).host}` })
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      if (!Exit.isSuccess(exit)) return
      assert.deepStrictEqual(exit.value.sentinelReports, [])
      assert.deepStrictEqual(exit.value.probes, [{ endpoint: redisAt(6), role: { _tag: "Master" } }])
      assert.strictEqual(w.redis.calls.filter((c) => c === `${at(redisAt(6))} ROLE`).length, 1)
    }))

  it.live("Consul unreachable: fails (nothing can be known), rather than observing an empty cluster", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.outage = "unreachable"
      assert.isTrue(Exit.isFailure(yield* observe(w)))
    }))
})

describe("observeRole: the bootstrap lock", () => {
  const lockOf = (w: Worlds, session: Option.Option<string> = Option.none()) =>
    Effect.map(observe(w, session), (exit) => (Exit.isSuccess(exit) ? exit.value.lock : undefined))

  it.live("free, held by this start, by an earlier start of this node, by another node, or by a session whose value names nobody", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* lockOf(makeWorlds()), { _tag: "Free" })

      const self = JSON.stringify({ node: "node-9", address: redisAt(9).host, port: 6379 })
      const mine = makeWorlds()
      lockHeld(mine, "s-now", self)
      assert.deepStrictEqual(yield* lockOf(mine, Option.some("s-now")), { _tag: "HeldBySelf" })
      assert.deepStrictEqual(yield* lockOf(mine, Option.some("s-other")), { _tag: "HeldByEarlierSelf", session: "s-now" })
      assert.deepStrictEqual(yield* lockOf(mine), { _tag: "HeldByEarlierSelf", session: "s-now" })

      const sameNameElsewhere = makeWorlds()
      lockHeld(sameNameElsewhere, "s-1", JSON.stringify({ node: "node-9", address: redisAt(8).host, port: 6379 }))
      assert.deepStrictEqual(yield* lockOf(sameNameElsewhere), { _tag: "HeldByOther", holder: "node-9" }, "the same name at another address is another node")

      const samePortOther = makeWorlds()
      lockHeld(samePortOther, "s-1", JSON.stringify({ node: "node-9", address: redisAt(9).host, port: 6380 }))
      assert.deepStrictEqual(yield* lockOf(samePortOther), { _tag: "HeldByOther", holder: "node-9" })

      const garbled = makeWorlds()
      lockHeld(garbled, "s-7", "not json")
      assert.deepStrictEqual(yield* lockOf(garbled), { _tag: "HeldByOther", holder: "with session s-7" })

      const released = makeWorlds()
      released.consul.kv.set(names.masterLock, { value: self, session: undefined, modifyIndex: released.consul.next(), lockIndex: 1 })
      assert.deepStrictEqual(yield* lockOf(released), { _tag: "Free" }, "a value without a session is no lock")
    }))
})

describe("the data directory", () => {
  const inDir = <A>(f: (dir: string) => Effect.Effect<A, never, FileSystem.FileSystem | Path.Path>) =>
    Effect.gen(function*() {
      const n = yield* testNode(1)
      const dir = n.env.DATA_DIR ?? ""
      yield* Effect.promise(() => mkdir(dir, { recursive: true }))
      return { dir, run: f(dir).pipe(Effect.provide(platform)) }
    })

  it.live("a dataset is an AOF directory, a single AOF or an RDB; anything else is none", () =>
    Effect.gen(function*() {
      for (const [file, expected] of [["appendonlydir", true], ["appendonly.aof", true], ["dump.rdb", true], ["temp-123.rdb", false]] as const) {
        const { dir, run } = yield* inDir(hasLocalData)
        yield* Effect.promise(() => (file === "appendonlydir" ? mkdir(join(dir, file)) : writeFile(join(dir, file), "x")))
        assert.strictEqual(yield* run, expected, file)
      }
    }))

  it.live("its last write is the newest modification time among the AOF files, the AOF and the RDB", () =>
    Effect.gen(function*() {
      const { dir, run } = yield* inDir(datasetLastWrite)
      assert.deepStrictEqual(yield* run, Option.none(), "no dataset: no time")
      yield* Effect.promise(async () => {
        await mkdir(join(dir, "appendonlydir"))
        await writeFile(join(dir, "appendonlydir", "appendonly.aof.1.incr.aof"), "x")
        await writeFile(join(dir, "dump.rdb"), "x")
        await utimes(join(dir, "dump.rdb"), new Date(1_000_000), new Date(1_000_000))
        await utimes(join(dir, "appendonlydir", "appendonly.aof.1.incr.aof"), new Date(3_000_000), new Date(3_000_000))
      })
      assert.deepStrictEqual(yield* run, Option.some(3_000_000))
      yield* Effect.promise(() => utimes(join(dir, "dump.rdb"), new Date(5_000_000), new Date(5_000_000)))
      assert.deepStrictEqual(yield* run, Option.some(5_000_000))
    }))
})
