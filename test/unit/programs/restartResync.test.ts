// pre-start's half of a partial resync after a graceful restart: what Redis loads when
// the data directory holds resync.rdb (pre-stop's SHUTDOWN SAVE), by role and by age.
import { assert, describe, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { mkdir, rename, utimes, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { Effect, Exit } from "effect"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { preStart } from "../../../src/programs/preStart.ts"
import { manifestOf, makeWorlds, passingSentinel, redisAt, runFor, testNode, type TestNode, type Worlds } from "../../support/harness.ts"

const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")
const redisConf = (n: TestNode) => readFileSync(join(n.env.CONFIG_DIR ?? "", "redis.conf"), "utf8")
const directive = (n: TestNode, name: string) => new RegExp(`^${name} (.*)$`, "m").exec(redisConf(n))?.[1]

/** Node 2 master, node 3 its replica, sentinels passing: node 1 joins as a replica. */
const runningCluster = (w: Worlds) => {
  w.redis.master(redisAt(2), [redisAt(3)])
  w.redis.replica(redisAt(3), redisAt(2))
  for (const i of [2, 3]) passingSentinel(w, i, redisAt(2))
  w.consul.register("redis-node-2", "redis", redisAt(2).host, 6379)
}

const rdb = Buffer.from("REDIS0010\xfa\tredis-ver\x067.0.15\xff", "latin1")
const aofBase = "appendonly.aof.1.base.rdb"

/** An AOF last written at `aofAt` and a resync.rdb saved at `rdbAt` (epoch seconds), in node n's data directory. */
const dataDir = (n: TestNode, times: { readonly aofAt: number; readonly rdbAt?: number }) =>
  Effect.promise(async () => {
    const data = n.env.DATA_DIR ?? ""
    const aof = join(data, "appendonlydir")
    await mkdir(aof, { recursive: true })
    for (const [file, content] of [[aofBase, "old base"], ["appendonly.aof.1.incr.aof", "old incr"], ["appendonly.aof.manifest", "old manifest"]] as const) {
      await writeFile(join(aof, file), content)
      await utimes(join(aof, file), times.aofAt, times.aofAt)
    }
    if (times.rdbAt !== undefined) {
      await writeFile(join(data, "resync.rdb"), rdb)
      await utimes(join(data, "resync.rdb"), times.rdbAt, times.rdbAt)
    }
    return data
  })

describe("pre-start after a graceful stop (resync.rdb)", () => {
  it.live("a replica starts from resync.rdb (as dump.rdb, what Redis loads), saved after the AOF's last write, with the AOF off: it keeps its replication ID", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      runningCluster(w)
      const n = yield* testNode(1)
      const data = yield* dataDir(n, { aofAt: 1_000, rdbAt: 1_001 })
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(directive(n, "replicaof"), "10.0.0.12 6379")
      assert.strictEqual(directive(n, "appendonly"), "no")
      assert.strictEqual(directive(n, "dbfilename"), "dump.rdb")
      assert.strictEqual(directive(n, "replica-priority"), "0", "never promoted before its AOF is written")
      assert.deepStrictEqual(readFileSync(join(data, "dump.rdb")), rdb, "put where Redis loads it")
      assert.deepStrictEqual(readFileSync(join(data, "resync.rdb")), rdb, "kept until the agent has the AOF written")
      assert.strictEqual(readFileSync(join(data, "appendonlydir", aofBase), "utf8"), "old base", "the AOF untouched: Redis rewrites it once the agent turns it on")
    }))

  it.live("a resync.rdb the AOF changed after is outdated: removed, the AOF loaded", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      runningCluster(w)
      const n = yield* testNode(1)
      const data = yield* dataDir(n, { aofAt: 1_001, rdbAt: 1_000 })
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(directive(n, "appendonly"), "yes")
      assert.strictEqual(directive(n, "dbfilename"), "dump.rdb")
      assert.isFalse(existsSync(join(data, "resync.rdb")))
      assert.strictEqual(readFileSync(join(data, "appendonlydir", aofBase), "utf8"), "old base")
    }))

  it.live("without resync.rdb (a node killed, not stopped), the AOF as always", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      runningCluster(w)
      const n = yield* testNode(1)
      yield* dataDir(n, { aofAt: 1_000 })
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(directive(n, "appendonly"), "yes")
      assert.strictEqual(directive(n, "dbfilename"), "dump.rdb")
    }))

  it.live("a master makes resync.rdb its AOF's base and starts with the AOF on; a backup is not restored over it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const stored = gzipSync(Buffer.from("REDIS0010 a backup", "latin1"))
      w.objects.set("redis-20261124T190557Z-node-9.rdb.gz", stored)
      w.consul.kv.set(consulNames("redis").lastBackup, { value: JSON.stringify(manifestOf(stored)), session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      const n = yield* testNode(1)
      const data = yield* dataDir(n, { aofAt: 1_000, rdbAt: 1_001 })
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isUndefined(directive(n, "replicaof"))
      assert.strictEqual(directive(n, "appendonly"), "yes")
      assert.strictEqual(directive(n, "dbfilename"), "dump.rdb")
      assert.deepStrictEqual(readdirSync(data).sort(), ["appendonlydir"])
      assert.deepStrictEqual(readdirSync(join(data, "appendonlydir")).sort(), [aofBase, "appendonly.aof.manifest"])
      assert.deepStrictEqual(readFileSync(join(data, "appendonlydir", aofBase)), rdb)
      assert.strictEqual(readFileSync(join(data, "appendonlydir", "appendonly.aof.manifest"), "utf8"), `file ${aofBase} seq 1 type b\n`)
    }))

  it.live("a master whose last start was cut short after the old AOF was moved aside finds resync.rdb alone and installs it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      const data = n.env.DATA_DIR ?? ""
      yield* Effect.promise(async () => {
        await mkdir(join(data, ".resync-start", "replaced"), { recursive: true })
        await writeFile(join(data, ".resync-start", "replaced", aofBase), "old base")
        await writeFile(join(data, "resync.rdb"), rdb)
      })
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(readdirSync(data).sort(), ["appendonlydir"])
      assert.deepStrictEqual(readFileSync(join(data, "appendonlydir", aofBase)), rdb)
    }))

  it.live("a start before the agent had the AOF written (a container killed) finds resync.rdb again, not the old AOF", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      runningCluster(w)
      const n = yield* testNode(1)
      const data = yield* dataDir(n, { aofAt: 1_000, rdbAt: 1_001 })
      assert.isTrue(Exit.isSuccess(yield* runFor(preStart, n, w)))
      // Killed before the agent finished: a backup's BGSAVE meanwhile replaced dump.rdb (as Redis does, by rename).
      yield* Effect.promise(async () => {
        await writeFile(join(data, "temp-77.rdb"), "a backup's")
        await rename(join(data, "temp-77.rdb"), join(data, "dump.rdb"))
      })
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(directive(n, "appendonly"), "no")
      assert.deepStrictEqual(readFileSync(join(data, "dump.rdb")), rdb)
    }))

  it.live("RDB saves cut short (temp-<pid>.rdb, the size of the dataset) are removed; nothing else is", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      runningCluster(w)
      const n = yield* testNode(1)
      const data = yield* dataDir(n, { aofAt: 1_000 })
      yield* Effect.promise(async () => {
        await writeFile(join(data, "temp-4242.rdb"), "half a save")
        for (const name of ["temp-notes.rdb", "temp-1.rdb.keep", "old-temp-1.rdb"]) await writeFile(join(data, name), "not Redis's")
      })
      const exit = yield* runFor(preStart, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(readdirSync(data).sort(), ["appendonlydir", "old-temp-1.rdb", "temp-1.rdb.keep", "temp-notes.rdb"])
    }))
})
