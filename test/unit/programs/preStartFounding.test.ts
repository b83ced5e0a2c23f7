// Pre-start's founding over in-memory layers (DESIGN.md §5, "Never found over data
// that exists somewhere"): simultaneous starts where one node lost its volume, an
// empty node alone on a cluster that held data (grace, then restore, or a plain "the
// data is gone"), a cluster that never held data (no grace), Consul empty while PEERS
// names the live cluster, the announcement's life, and the cluster's record.
import { assert, describe, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { Effect, Exit, Fiber, Layer, Logger } from "effect"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { preStart } from "../../../src/programs/preStart.ts"
import { makeWorlds, manifestOf, memoryLayers, passingSentinel, redisAt, testNode, type TestNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")
const redisConf = (n: TestNode) => readFileSync(join(n.env.CONFIG_DIR ?? "", "redis.conf"), "utf8")
const replicaOf = (n: TestNode) => /^replicaof (\S+) (\d+)$/m.exec(redisConf(n))?.slice(1).join(":")
const rdb = Buffer.from("REDIS0010\xfa\tredis-ver\x067.0.15\xff", "latin1")

const putKv = (w: Worlds, key: string, value: string) => w.consul.kv.set(key, { value, session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
const record = (w: Worlds) => JSON.parse(w.consul.kv.get(names.cluster)?.value ?? "null")

/** The cluster's record as an agent leaves it: held data, `lastMaster` its last master. */
const heldData = (w: Worlds, lastMaster?: number) =>
  putKv(w, names.cluster, JSON.stringify({
    heldData: true,
    ...(lastMaster === undefined ? {} : { lastMaster: { node: `node-${lastMaster}`, address: redisAt(lastMaster).host, port: 6379, seenAt: "2026-11-24T19:05:57.000Z" } })
  }))

const recordBackup = (w: Worlds) => {
  const gz = gzipSync(rdb)
  w.objects.set("redis-20261124T190557Z-node-9.rdb.gz", gz)
  putKv(w, names.lastBackup, JSON.stringify(manifestOf(gz)))
}

/** A dataset in node n's data directory, as Redis 7 leaves it. */
const withDataset = (n: TestNode) =>
  Effect.promise(async () => {
    const dir = join(n.env.DATA_DIR ?? "", "appendonlydir")
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, "appendonly.aof.1.base.rdb"), "mine")
  })

/** Runs pre-start for a node and keeps every line it logs. */
const run = (n: TestNode, w: Worlds, lines: Array<string>) =>
  preStart.pipe(
    Effect.provide(Layer.mergeAll(memoryLayers(n, w), Logger.layer([Logger.make(({ message }) => lines.push([message].flat().map(String).join(" ")))]))),
    Effect.exit
  )

/** Waits until `done` holds of the worlds (each poll yields to the nodes' fibers). */
const until = (done: () => boolean) => Effect.sync(done).pipe(Effect.repeat({ until: (x) => x }), Effect.delay("5 millis"))

const env = { MASTER_WAIT_TIMEOUT: "8s", FOUNDING_GRACE: "2s" }

describe("pre-start: founding never goes over data", () => {
  it.live("the whole cluster restarts at once and the last master lost its volume: the node holding data founds, the empty one joins it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      heldData(w, 1)
      recordBackup(w)
      const empty = yield* testNode(1, env)
      const holder = yield* testNode(2, env)
      yield* withDataset(holder)
      const emptyLog: Array<string> = []
      const holderLog: Array<string> = []
      const fe = yield* run(empty, w, emptyLog).pipe(Effect.forkChild)
      const fh = yield* run(holder, w, holderLog).pipe(Effect.forkChild)
      const holderExit = yield* Fiber.join(fh)
      assert.isTrue(Exit.isSuccess(holderExit), failureOf(holderExit))
      assert.isUndefined(replicaOf(holder), "the data holder starts as master")
      w.redis.master(redisAt(2))
      const emptyExit = yield* Fiber.join(fe)
      assert.isTrue(Exit.isSuccess(emptyExit), failureOf(emptyExit))
      assert.strictEqual(replicaOf(empty), "10.0.0.12:6379")
      assert.deepStrictEqual(readdirSync(empty.env.DATA_DIR ?? ""), [], "the empty node restored nothing: it copies the live data")
      assert.isFalse(emptyLog.some((l) => /took the bootstrap lock|founding the cluster/.test(l)), emptyLog.join("\n"))
      assert.isTrue(holderLog.some((l) => /founding the cluster at 10\.0\.0\.12:6379: .*this node holds data written \S+ and ranks first/.test(l)), holderLog.join("\n"))
      assert.deepStrictEqual({ ...record(w).founded, at: "" }, { node: "node-2", address: "10.0.0.12", port: 6379, at: "" })
      assert.isTrue(record(w).heldData)
    }))

  it.live("an empty node alone on a cluster that held data: no lock during FOUNDING_GRACE, then it founds restoring the backup", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      heldData(w)
      recordBackup(w)
      const n = yield* testNode(1, { MASTER_WAIT_TIMEOUT: "8s", FOUNDING_GRACE: "2s" })
      const lines: Array<string> = []
      const started = Date.now()
      const fiber = yield* run(n, w, lines).pipe(Effect.forkChild)
      yield* until(() => w.consul.calls.includes(`kv.acquire ${names.masterLock}`))
      assert.isAtLeast(Date.now() - started, 2000, "the lock is not even tried before the grace is over")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isTrue(lines.some((l) => /the cluster held data \(its record in Consul says so\): waiting 2s more of FOUNDING_GRACE \(2s\) for a node holding data; no other node has announced itself/.test(l)), lines.join("\n"))
      assert.isTrue(lines.some((l) => /no node holding data showed up within FOUNDING_GRACE \(2s\)/.test(l)), lines.join("\n"))
      assert.lengthOf(lines.filter((l) => /more of FOUNDING_GRACE/.test(l)), 1, "a wait that only counts down is logged once")
      assert.isTrue(existsSync(join(n.env.DATA_DIR ?? "", "appendonlydir", "appendonly.aof.1.base.rdb")), "restored the newest backup")
    }))

  it.live("an empty founder of a cluster that held data, with no backup anywhere, says plainly that the data is gone", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      heldData(w)
      const n = yield* testNode(1, { MASTER_WAIT_TIMEOUT: "4s", FOUNDING_GRACE: "200ms" })
      const lines: Array<string> = []
      const exit = yield* run(n, w, lines)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isTrue(lines.some((l) => /founding an EMPTY cluster, and the data is gone: the cluster held data \(its record in Consul says so\)/.test(l)), lines.join("\n"))
      assert.isTrue(record(w).heldData, "the record still says it held data")
    }))

  it.live("a cluster that never held data: three empty nodes at once, exactly one founds, nobody waits a grace", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const nodes = [yield* testNode(1, env), yield* testNode(2, env), yield* testNode(3, env)]
      const logs = nodes.map((): Array<string> => [])
      const fibers = yield* Effect.forEach(nodes, (n, i) => run(n, w, logs[i] ?? []).pipe(Effect.forkChild))
      yield* until(() => w.consul.kv.get(names.masterLock)?.session !== undefined && existsSync(join(nodes[Number(JSON.parse(w.consul.kv.get(names.masterLock)?.value ?? "{}").node?.slice(5) ?? 1) - 1]?.env.CONFIG_DIR ?? "", "redis.conf")))
      const founder = Number(JSON.parse(w.consul.kv.get(names.masterLock)?.value ?? "{}").node.slice(5))
      w.redis.master(redisAt(founder))
      const exits = yield* Effect.forEach(fibers, Fiber.join)
      for (const exit of exits) assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const masters = nodes.filter((n) => replicaOf(n) === undefined)
      assert.lengthOf(masters, 1)
      for (const n of nodes) if (n.index !== founder) assert.strictEqual(replicaOf(n), `10.0.0.${10 + founder}:6379`)
      const all = logs.flat()
      assert.isFalse(all.some((l) => /FOUNDING_GRACE/.test(l)), all.join("\n"))
      assert.isTrue(all.some((l) => /founding the cluster at .*the cluster never held data \(Consul holds no record of it and the backup store holds no backup\)/.test(l)), all.join("\n"))
    }))

  it.live("the announcement lives exactly as long as pre-start: whether this node holds data, then gone", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      // Another node is founding: this one waits for it.
      w.consul.sessions.set("s-9", { behavior: "release" })
      w.consul.kv.set(names.masterLock, { value: JSON.stringify({ node: "node-9", address: "10.0.0.19", port: 6379 }), session: "s-9", modifyIndex: w.consul.next(), lockIndex: 1 })
      const n = yield* testNode(1, env)
      yield* withDataset(n)
      const fiber = yield* run(n, w, []).pipe(Effect.forkChild)
      const key = `${names.starting}node-1`
      yield* until(() => w.consul.kv.get(key) !== undefined)
      const announced = JSON.parse(w.consul.kv.get(key)?.value ?? "{}")
      assert.deepStrictEqual({ ...announced, lastWrite: typeof announced.lastWrite }, { node: "node-1", address: "10.0.0.11", port: 6379, data: true, lastWrite: "string" })
      assert.isDefined(w.consul.kv.get(key)?.session, "held by the pre-start's session")
      w.redis.master(redisAt(9))
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isUndefined(w.consul.kv.get(key), "gone with its session once pre-start ends")
    }))
})

describe("pre-start: the lock of this node's previous start", () => {
  it.live("a session of this node's previous start still holds the bootstrap lock (it stopped before its agent let go): released, no wait for Consul to expire it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.sessions.set("s-old", { behavior: "release" })
      w.consul.kv.set(names.masterLock, { value: JSON.stringify({ node: "node-1", address: "10.0.0.11", port: 6379 }), session: "s-old", modifyIndex: w.consul.next(), lockIndex: 1 })
      const n = yield* testNode(1, { MASTER_WAIT_TIMEOUT: "2s" })
      yield* withDataset(n)
      const lines: Array<string> = []
      const exit = yield* run(n, w, lines)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isUndefined(replicaOf(n), "founds as master")
      assert.isFalse(w.consul.sessions.has("s-old"), "the stale session is ended")
      assert.isTrue(lines.some((l) => /the bootstrap lock is still held by session s-old of this node's previous start \(10\.0\.0\.11:6379\), which is over: releasing it/.test(l)), lines.join("\n"))
    }))

  it.live("a lock whose value names another node, or this name at another address, is not this node's to release", () =>
    Effect.gen(function*() {
      for (const value of [{ node: "node-2", address: "10.0.0.12", port: 6379 }, { node: "node-1", address: "10.0.0.99", port: 6379 }]) {
        const w = makeWorlds()
        w.consul.sessions.set("s-other", { behavior: "release" })
        w.consul.kv.set(names.masterLock, { value: JSON.stringify(value), session: "s-other", modifyIndex: w.consul.next(), lockIndex: 1 })
        const n = yield* testNode(1, { MASTER_WAIT_TIMEOUT: "1s" })
        const exit = yield* run(n, w, [])
        assert.match(failureOf(exit), /no safe role after waiting 1s: .*holds the bootstrap lock: waiting for it to become master/)
        assert.isTrue(w.consul.sessions.has("s-other"))
      }
    }))
})

describe("pre-start: peers beyond Consul", () => {
  /** The live cluster at 10.0.0.12 (master) and .13, its sentinels answering, none of it in Consul (Consul lost its state). */
  const liveClusterUnknownToConsul = (w: Worlds) => {
    w.redis.master(redisAt(2), [redisAt(3)]).replica(redisAt(3), redisAt(2))
    for (const i of [2, 3]) passingSentinel(w, i, redisAt(2))
    w.consul.wipe()
    w.dns.set("redis", ["10.0.0.11", "10.0.0.12", "10.0.0.13"])
  }

  it.live("Consul is empty and PEERS names the live cluster: the new node joins it as a replica, never founds", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      liveClusterUnknownToConsul(w)
      const n = yield* testNode(1, { PEERS: "redis" })
      const exit = yield* run(n, w, [])
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(replicaOf(n), "10.0.0.12:6379")
      assert.isFalse(w.consul.calls.includes(`kv.acquire ${names.masterLock}`))
    }))

  it.live("the same without PEERS: nothing tells it of the live cluster, and it founds a second one (why PEERS exists)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      liveClusterUnknownToConsul(w)
      const n = yield* testNode(1)
      const exit = yield* run(n, w, [])
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isUndefined(replicaOf(n))
    }))

  it.live("a PEERS name that does not resolve is logged once, and the other names still count", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      liveClusterUnknownToConsul(w)
      const n = yield* testNode(1, { PEERS: "nowhere.invalid,redis" })
      const lines: Array<string> = []
      const exit = yield* run(n, w, lines)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(replicaOf(n), "10.0.0.12:6379")
      assert.lengthOf(lines.filter((l) => /PEERS: DNS lookup of nowhere\.invalid: not-found/.test(l)), 1, lines.join("\n"))
    }))
})
