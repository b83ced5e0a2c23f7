import { assert, describe, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { Duration, Effect, Exit, Fiber, Layer, Option, Stream } from "effect"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { sentinelMyId } from "../../../src/domain/RedisConf.ts"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { BackupStore, makeMemoryStore } from "../../../src/layers/BackupStore.ts"
import { preStart } from "../../../src/programs/preStart.ts"
import { fastTimings, manifestOf, memoryLayers, testNode, makeWorlds, redisAt, runFor, sentinelAt, type TestNode, type Worlds, passingSentinel } from "../../support/harness.ts"

const names = consulNames("redis")
const redisConf = (n: TestNode) => readFileSync(join(n.env.CONFIG_DIR ?? "", "redis.conf"), "utf8")
const sentinelConf = (n: TestNode) => readFileSync(join(n.env.CONFIG_DIR ?? "", "sentinel.conf"), "utf8")
const replicaOf = (n: TestNode) => /^replicaof (\S+) (\d+)$/m.exec(redisConf(n))?.slice(1).join(":")
const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")

/** Nodes 2..n as a healthy cluster: node `master` is master, the others its replicas, each with a passing sentinel. */
const runningCluster = (w: Worlds, master: number, replicas: ReadonlyArray<number>) => {
  w.redis.master(redisAt(master), replicas.map(redisAt))
  for (const r of replicas) w.redis.replica(redisAt(r), redisAt(master))
  for (const i of [master, ...replicas]) {
    passingSentinel(w, i, redisAt(master))
  }
  w.consul.register(`redis-node-${master}`, "redis", redisAt(master).host, 6379)
  for (const r of replicas) w.consul.register(`redis-replica-node-${r}`, "redis-replica", redisAt(r).host, 6379)
}

const rdb = Buffer.from("REDIS0010\xfa\tredis-ver\x067.0.15\xff", "latin1")

/** Records `content` as the newest backup, gzip-compressed as a backup run stores it unless `stored` says otherwise. */
const recordBackup = (w: Worlds, content: Buffer, recordedSha?: string, stored: "gzip" | "raw" = "gzip") => {
  const gz = stored === "gzip" ? gzipSync(content) : content
  w.objects.set("redis-20261124T190557Z-node-9.rdb.gz", gz)
  w.consul.kv.set(names.lastBackup, {
    value: JSON.stringify(recordedSha === undefined ? manifestOf(gz) : { ...manifestOf(gz), sha256: recordedSha }),
    session: undefined,
    modifyIndex: w.consul.next(),
    lockIndex: 0
  })
}

describe("pre-start", () => {
  it.live("founds a new cluster: takes the bootstrap lock, renders a master config, records the session for health", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isUndefined(replicaOf(n))
      assert.match(sentinelConf(n), /^sentinel monitor mymaster 10\.0\.0\.11 6379 2$/m)
      const lock = w.consul.kv.get(names.masterLock)
      assert.isDefined(lock?.session)
      assert.deepStrictEqual(JSON.parse(lock?.value ?? "{}"), { node: "node-1", address: "10.0.0.11", port: 6379 })
      assert.strictEqual(readFileSync(join(n.env.CONFIG_DIR ?? "", "bootstrap-session"), "utf8"), lock?.session)
    }))

  it.live("joins a running cluster as a replica of the master the sentinels report", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      runningCluster(w, 2, [3])
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(replicaOf(n), "10.0.0.12:6379")
      assert.match(sentinelConf(n), /^sentinel monitor mymaster 10\.0\.0\.12 6379 2$/m)
      assert.isFalse(w.consul.calls.some((c) => c === `kv.acquire ${names.masterLock}`), "a replica never takes the bootstrap lock")
    }))

  it.live("two nodes racing for the bootstrap lock end with exactly one master", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const a = yield* testNode(1, { MASTER_WAIT_TIMEOUT: "5s" })
      const b = yield* testNode(2, { MASTER_WAIT_TIMEOUT: "5s" })
      const fa = yield* runFor(preStart, a, w).pipe(Effect.forkChild)
      const fb = yield* runFor(preStart, b, w).pipe(Effect.forkChild)
      // The winner finishes; its Redis then starts as master, which releases the loser.
      const holder = yield* Effect.sync(() => JSON.parse(w.consul.kv.get(names.masterLock)?.value ?? "{}").node).pipe(
        Effect.repeat({ until: (node) => node !== undefined }),
        Effect.delay("10 millis")
      )
      const [winner, loser, winnerFiber, loserFiber] = holder === "node-1" ? [a, b, fa, fb] : [b, a, fb, fa]
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(winnerFiber)))
      w.redis.master(redisAt(winner.index))
      const loserExit = yield* Fiber.join(loserFiber)
      assert.isTrue(Exit.isSuccess(loserExit), failureOf(loserExit))
      assert.isUndefined(replicaOf(winner))
      assert.strictEqual(replicaOf(loser), formatEndpoint(redisAt(winner.index)))
      assert.isFalse(existsSync(join(loser.env.CONFIG_DIR ?? "", "bootstrap-session")))
    }))

  it.live("a restarted master with an empty data directory waits for Sentinel to promote a replica, then joins it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      // Sentinels still name node 1 (this node) master; nodes 2 and 3 answer as its replicas.
      w.redis.replica(redisAt(2), redisAt(1)).replica(redisAt(3), redisAt(1))
      for (const i of [1, 2, 3]) {
        passingSentinel(w, i, redisAt(1))
      }
      w.consul.register("redis-replica-node-2", "redis-replica", redisAt(2).host, 6379)
      w.consul.register("redis-replica-node-3", "redis-replica", redisAt(3).host, 6379)
      w.redis.stop(sentinelAt(1))
      const n = yield* testNode(1, { MASTER_WAIT_TIMEOUT: "5s" })
      const fiber = yield* runFor(preStart, n, w).pipe(Effect.forkChild)
      yield* Effect.sleep("200 millis")
      assert.isFalse(existsSync(join(n.env.CONFIG_DIR ?? "", "redis.conf")), "nothing rendered while waiting")
      assert.isFalse(w.consul.calls.some((c) => c === `kv.acquire ${names.masterLock}`), "never tries to found while replicas hold data")
      // Sentinel promotes node 2.
      w.redis.master(redisAt(2), [redisAt(3)]).replica(redisAt(3), redisAt(2))
      w.redis.switchMaster("mymaster", redisAt(2))
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(replicaOf(n), "10.0.0.12:6379")
    }))

  it.live("a restarted master with an empty data directory fails, never starts empty, when no promotion comes", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.replica(redisAt(2), redisAt(1))
      for (const i of [2, 3]) {
        passingSentinel(w, i, redisAt(1))
      }
      w.consul.register("redis-replica-node-2", "redis-replica", redisAt(2).host, 6379)
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isFailure(exit))
      assert.match(failureOf(exit), /no safe role after waiting 1s: .*data directory is empty: waiting for Sentinel to promote one of the replicas 10\.0\.0\.12:6379/)
      assert.isFalse(existsSync(join(n.env.CONFIG_DIR ?? "", "redis.conf")))
    }))

  it.live("regression: replicas whose checks are critical (their master is dead) still count: never found an empty cluster over them", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      // Node 1 (this node) was master and died; the failover failed. Nodes 2 and 3
      // still answer as its replicas, but their `redis-replica` checks are critical
      // (link down), and one of them is not registered at all, only known to Sentinel.
      w.redis.replica(redisAt(2), redisAt(1), "connect").replica(redisAt(3), redisAt(1), "connect")
      for (const i of [2, 3]) {
        passingSentinel(w, i, redisAt(1))
        w.redis.sentinels.get(formatEndpoint(sentinelAt(i)))?.replicas.push({ endpoint: redisAt(3), runId: "r3", flags: ["slave"] })
      }
      w.consul.register("redis-replica-node-2", "redis-replica", redisAt(2).host, 6379, "critical")
      recordBackup(w, rdb)
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isFailure(exit), "must not start")
      assert.match(failureOf(exit), /data directory is empty: waiting for Sentinel to promote one of the replicas 10\.0\.0\.12:6379, 10\.0\.0\.13:6379/)
      assert.isFalse(w.consul.calls.some((c) => c === `kv.acquire ${names.masterLock}`))
      assert.deepStrictEqual(readdirSync(n.env.DATA_DIR ?? ""), [], "and nothing restored")
    }))

  it.live("a restarted master that holds its data resumes as master without the lock", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.replica(redisAt(2), redisAt(1))
      for (const i of [2, 3]) {
        passingSentinel(w, i, redisAt(1))
      }
      const n = yield* testNode(1)
      yield* Effect.promise(() => mkdir(join(n.env.DATA_DIR ?? "", "appendonlydir"), { recursive: true }))
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isUndefined(replicaOf(n))
      assert.isFalse(w.consul.calls.some((c) => c === `kv.acquire ${names.masterLock}`))
    }))

  it.live("founding with an empty data directory restores the recorded backup, verified, as the AOF base", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      recordBackup(w, rdb)
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const aof = join(n.env.DATA_DIR ?? "", "appendonlydir")
      assert.deepStrictEqual(readFileSync(join(aof, "appendonly.aof.1.base.rdb")), rdb)
      assert.strictEqual(readFileSync(join(aof, "appendonly.aof.manifest"), "utf8"), "file appendonly.aof.1.base.rdb seq 1 type b\n")
      assert.deepStrictEqual(readdirSync(n.env.DATA_DIR ?? "").sort(), ["appendonlydir"], "no staging files left")
    }))

  it.live("a restore longer than the session TTL: pre-start keeps renewing, so it still holds the lock and founds", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      recordBackup(w, rdb)
      const n = yield* testNode(1)
      // The download takes four TTLs; Consul (the world) invalidates a session not renewed within one.
      const memory = makeMemoryStore(w.objects, "local")
      // A 1 s TTL: the world is stricter than Consul (1× TTL, not up to 2×), and a shorter
      // one lapsed in a stall of a loaded machine between two renewals.
      const slow = Layer.succeed(BackupStore, { ...memory, get: (name) => Stream.fromEffect(Effect.sleep("4 seconds")).pipe(Stream.drain, Stream.concat(memory.get(name))) })
      const timings = { ...fastTimings, lockSessionTtl: Duration.seconds(1) }
      const exit = yield* preStart.pipe(Effect.provide(memoryLayers(n, w, slow, timings)), Effect.exit)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const held = w.consul.kv.get(names.masterLock)?.session
      assert.isDefined(held, "the bootstrap lock is still held")
      assert.isTrue(w.consul.sessions.has(held ?? ""), "by a live session")
      assert.deepStrictEqual(readFileSync(join(n.env.DATA_DIR ?? "", "appendonlydir", "appendonly.aof.1.base.rdb")), rdb)
    }))

  it.live("a brand-new cluster (empty Consul) restores the newest backup whose manifest is in the store", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      recordBackup(w, rdb)
      const manifest = w.consul.kv.get(names.lastBackup)?.value ?? ""
      w.consul.kv.delete(names.lastBackup)
      w.objects.set("redis-20261124T190557Z-node-9.manifest.json", Buffer.from(manifest))
      // An older backup in the store must not win.
      w.objects.set("redis-20250101T000000Z-node-9.manifest.json", Buffer.from(manifest.replace("20261124T190557Z", "20250101T000000Z")))
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(readFileSync(join(n.env.DATA_DIR ?? "", "appendonlydir", "appendonly.aof.1.base.rdb")), rdb)
    }))

  it.live("a restore whose checksum does not match fails and leaves the data directory untouched", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      recordBackup(w, rdb, "0".repeat(64))
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isFailure(exit))
      assert.match(failureOf(exit), /restore of redis-20261124T190557Z-node-9 failed, the data directory is untouched: checksum mismatch/)
      assert.deepStrictEqual(readdirSync(n.env.DATA_DIR ?? ""), [])
      assert.isFalse(existsSync(join(n.env.CONFIG_DIR ?? "", "redis.conf")), "Redis must not start")
      assert.isUndefined(w.consul.kv.get(names.masterLock)?.session, "the bootstrap lock is given back")
    }))

  it.live("a backup that is not gzip or not an RDB fails the restore and leaves nothing behind", () =>
    Effect.gen(function*() {
      for (const [stored, expected] of [["gzip", /not an RDB file/], ["raw", /not a gzip stream/]] as const) {
        const w = makeWorlds()
        // Its checksum matches (recorded from the stored bytes): only what is inside is wrong.
        recordBackup(w, stored === "raw" ? rdb : Buffer.from("not an rdb at all"), undefined, stored)
        const n = yield* testNode(1)
        const exit = yield* runFor(preStart, n, w)
        assert.match(failureOf(exit), expected)
        assert.deepStrictEqual(readdirSync(n.env.DATA_DIR ?? ""), [], "nothing left, dot-files (the staging directory) included")
      }
    }))

  for (const existing of ["appendonlydir", "dump.rdb", "appendonly.aof"]) {
    it.live(`never restores over an existing ${existing}`, () =>
      Effect.gen(function*() {
        const w = makeWorlds()
        recordBackup(w, rdb)
        const n = yield* testNode(1)
        const data = n.env.DATA_DIR ?? ""
        yield* Effect.promise(async () => {
          await mkdir(data, { recursive: true })
          if (existing === "appendonlydir") {
            await mkdir(join(data, existing))
            await writeFile(join(data, existing, "appendonly.aof.manifest"), "mine")
          } else await writeFile(join(data, existing), "mine")
        })
        const exit = yield* runFor(preStart, n, w)
        assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
        assert.deepStrictEqual(readdirSync(data), [existing])
        const kept = existing === "appendonlydir" ? join(data, existing, "appendonly.aof.manifest") : join(data, existing)
        assert.strictEqual(readFileSync(kept, "utf8"), "mine")
      }))
  }

  it.live("Consul down: no role is chosen, pre-start fails within MASTER_WAIT_TIMEOUT naming Consul, nothing is rendered", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.outage = "unreachable"
      const n = yield* testNode(1)
      const started = Date.now()
      const exit = yield* runFor(preStart, n, w)
      assert.isBelow(Date.now() - started, 3000)
      assert.match(failureOf(exit), /no safe role after waiting 1s: Consul is unreachable/)
      assert.isFalse(existsSync(join(n.env.CONFIG_DIR ?? "", "redis.conf")))
    }))

  it.live("Consul lists a master that does not answer: waits for it rather than founding beside it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.register("redis-node-2", "redis", redisAt(2).host, 6379)
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.match(failureOf(exit), /Consul lists 10\.0\.0\.12:6379 as master but it does not answer/)
      assert.isFalse(w.consul.calls.some((c) => c === `kv.acquire ${names.masterLock}`))
    }))

  it.live("the bootstrap lock lost during a restore: fails rather than start a possible second master", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      recordBackup(w, rdb)
      // Consul invalidates the session while the download runs.
      const original = w.objects
      const n = yield* testNode(1)
      const fiber = yield* runFor(preStart, n, w).pipe(Effect.forkChild)
      const session = yield* Effect.sync(() => w.consul.kv.get(names.masterLock)?.session).pipe(
        Effect.repeat({ until: (s) => s !== undefined }),
        Effect.delay("1 millis")
      )
      w.consul.invalidate(session ?? "")
      const exit = yield* Fiber.join(fiber)
      // Either the restore was already done (then the final check catches it) or not: never success.
      assert.isTrue(Exit.isFailure(exit), "must not start as master without the lock")
      assert.match(failureOf(exit), /lost the bootstrap lock before Redis started/)
      assert.isFalse(existsSync(join(n.env.CONFIG_DIR ?? "", "redis.conf")))
      void original
    }))

  it.live("takes Sentinel tuning overrides from Consul KV and ignores bad ones", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const put = (k: string, v: string) => w.consul.kv.set(`service/redis-sentinel/${k}`, { value: v, session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      put("quorum", "3")
      put("down-after", "2500")
      put("failover-timeout", "soon")
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.match(sentinelConf(n), /^sentinel monitor mymaster 10\.0\.0\.11 6379 3$/m)
      assert.match(sentinelConf(n), /^sentinel down-after-milliseconds mymaster 2500$/m)
      assert.match(sentinelConf(n), /^sentinel failover-timeout mymaster 30000$/m)
    }))

  it.live("the new sentinel starts knowing the sentinels and replicas passing in Consul, under their ids, and no others", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      runningCluster(w, 2, [3, 4])
      w.consul.register("redis-sentinel-node-5", "redis-sentinel", sentinelAt(5).host, 26379, "critical")
      w.consul.register("handmade", "redis-sentinel", sentinelAt(6).host, 26379)
      w.consul.register("redis-replica-node-7", "redis-replica", redisAt(7).host, 6379, "critical")
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const known = sentinelConf(n).split("\n").filter((l) => l.includes(" known-")).map((l) => l.split(" ").slice(0, 5).join(" "))
      assert.deepStrictEqual(known.sort(), [
        "sentinel known-replica mymaster 10.0.0.13 6379",
        "sentinel known-replica mymaster 10.0.0.14 6379",
        "sentinel known-sentinel mymaster 10.0.0.12 26379",
        "sentinel known-sentinel mymaster 10.0.0.13 26379",
        "sentinel known-sentinel mymaster 10.0.0.14 26379"
      ])
      const ids = sentinelConf(n).split("\n").filter((l) => l.includes(" known-sentinel ")).map((l) => l.split(" ")[5])
      assert.deepStrictEqual(ids, [2, 3, 4].map((i) => sentinelMyId("redis", `node-${i}`)), "each under the id its own node derives from its name")
    }))

  it.live("Consul failing the read of the Sentinel tuning: the environment's settings are used and pre-start goes on", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.failing.set(`kv.get ${names.sentinelTuning} recurse`, "timeout")
      const n = yield* testNode(1, { SENTINEL_QUORUM: "1" })
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.match(sentinelConf(n), /^sentinel monitor mymaster 10\.0\.0\.11 6379 1$/m)
    }))

  it.live("another node takes the bootstrap lock first: this one does not found, and joins it once it is master", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.meanwhile.set(`kv.acquire ${names.masterLock}`, () => {
        w.consul.sessions.set("s-2", { behavior: "release" })
        w.consul.kv.set(names.masterLock, { value: JSON.stringify({ node: "node-2", address: redisAt(2).host, port: 6379 }), session: "s-2", modifyIndex: w.consul.next(), lockIndex: 1 })
        runningCluster(w, 2, [])
      })
      const n = yield* testNode(1)
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(replicaOf(n), "10.0.0.12:6379")
      assert.strictEqual(w.consul.kv.get(names.masterLock)?.session, "s-2")
      assert.isFalse(existsSync(join(n.env.CONFIG_DIR ?? "", "bootstrap-session")))
    }))

  it.live("the lock won, but a master answers on the second look: the lock is given back and this node joins it; a stale session marker is removed", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      // Node 2 became master just as this node took the lock (it founded through a lock that had lapsed).
      w.consul.meanwhile.set(`kv.acquire ${names.masterLock}`, () => runningCluster(w, 2, []))
      const n = yield* testNode(1)
      yield* Effect.promise(async () => {
        await mkdir(n.env.CONFIG_DIR ?? "", { recursive: true })
        await writeFile(join(n.env.CONFIG_DIR ?? "", "bootstrap-session"), "s-of-an-earlier-start")
      })
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(replicaOf(n), "10.0.0.12:6379")
      assert.isUndefined(w.consul.kv.get(names.masterLock)?.session, "the lock is free again")
      assert.isFalse(existsSync(join(n.env.CONFIG_DIR ?? "", "bootstrap-session")), "no marker for the agent to renew")
    }))

  it.live("an invalid environment fails before touching anything", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1, { REDIS_PORT: "abc", SENTINEL_QUORUM: "0" })
      const exit = yield* runFor(preStart, n, w)
      assert.match(failureOf(exit), /REDIS_PORT \(value not shown\): expected a TCP port.*SENTINEL_QUORUM="0"/)
      assert.deepStrictEqual(w.consul.calls, [])
      assert.isTrue(Option.isNone(Option.fromUndefinedOr(w.consul.kv.get(names.masterLock))))
    }))
})
