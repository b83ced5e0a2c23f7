import { assert, describe, it } from "@effect/vitest"
import { existsSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Exit } from "effect"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { health } from "../../../src/programs/health.ts"
import { healthSentinel } from "../../../src/programs/healthSentinel.ts"
import { startConsulEmulator } from "../../support/consul/ConsulEmulator.ts"
import { closedPort, garbageRespServer, masterRespServer, silentServer } from "../../support/fakeServers.ts"
import { testNode, makeWorlds, redisAt, runFor, runLive, sentinelAt, scoped } from "../../support/harness.ts"

const names = consulNames("redis")
const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "passed")

/** Runs `f` and returns its exit with the elapsed wall time. */
const timed = <A, E, R>(f: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const exit = yield* f
    return { exit, ms: Date.now() - started }
  })

describe("health master / replica", () => {
  it.live("master passes on a master and fails, as an expected mismatch, on a replica", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      assert.isTrue(Exit.isSuccess(yield* runFor(health("master"), n, w)))
      const asReplica = yield* runFor(health("replica"), n, w)
      assert.match(failureOf(asReplica), /redis replica check failing: this node is master, not a replica/)
      w.redis.replica(redisAt(1), redisAt(2))
      assert.match(failureOf(yield* runFor(health("master"), n, w)), /this node is a replica of 10\.0\.0\.12:6379, not master/)
      assert.isTrue(Exit.isSuccess(yield* runFor(health("replica"), n, w)))
    }))

  it.live("a replica still syncing does not pass as a replica", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.replica(redisAt(1), redisAt(2), "sync")
      assert.match(failureOf(yield* runFor(health("replica"), n, w)), /replica of 10\.0\.0\.12:6379, link sync/)
    }))

  it.live("Redis down: fails at once", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const n = yield* testNode(1, { ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(port) })
      const { exit, ms } = yield* timed(runLive(health("master"), n))
      assert.match(failureOf(exit), /unreachable/)
      assert.isBelow(ms, 1000)
    }))

  it.live("Redis accepts and never answers: fails within HEALTH_TIMEOUT", () =>
    Effect.gen(function*() {
      const server = yield* scoped(silentServer)
      const n = yield* testNode(1, { ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(server.port), HEALTH_TIMEOUT: "2s" })
      const { exit, ms } = yield* timed(runLive(health("master"), n))
      assert.match(failureOf(exit), /timeout|no answer/)
      assert.isBelow(ms, 2000)
    }))

  it.live("Redis answers garbage: fails naming the unexpected reply", () =>
    Effect.gen(function*() {
      const server = yield* scoped(garbageRespServer)
      const n = yield* testNode(1, { ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(server.port) })
      const { exit, ms } = yield* timed(runLive(health("master"), n))
      assert.match(failureOf(exit), /ROLE: unexpected-reply/)
      assert.isBelow(ms, 2000)
    }))

  it.live("invalid environment: fails naming the variable", () =>
    Effect.gen(function*() {
      const n = yield* testNode(1, { HEALTH_TIMEOUT: "soon" })
      assert.match(failureOf(yield* runFor(health("master"), n, makeWorlds())), /HEALTH_TIMEOUT="soon": expected a duration/)
    }))
})

describe("health master keeps the bootstrap lock of a founding master", () => {
  const founded = (w: ReturnType<typeof makeWorlds>, dir: string) =>
    Effect.promise(async () => {
      w.consul.sessions.set("s-1", { behavior: "release" })
      w.consul.kv.set(names.masterLock, { value: JSON.stringify({ node: "node-1", address: "10.0.0.11", port: 6379 }), session: "s-1", modifyIndex: w.consul.next(), lockIndex: 1 })
      await mkdir(join(dir, "conf"), { recursive: true })
      await writeFile(join(dir, "conf", "bootstrap-session"), "s-1")
    })

  it.live("renews it until Consul shows this node passing as redis, then releases it and forgets the session", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      yield* founded(w, n.dir)
      assert.isTrue(Exit.isSuccess(yield* runFor(health("master"), n, w)))
      assert.isTrue(w.consul.calls.includes("session.renew s-1"))
      assert.strictEqual(w.consul.kv.get(names.masterLock)?.session, "s-1", "held while not yet passing")
      w.consul.register("redis-node-1", "redis", "10.0.0.11", 6379, "passing")
      assert.isTrue(Exit.isSuccess(yield* runFor(health("master"), n, w)))
      assert.isUndefined(w.consul.kv.get(names.masterLock)?.session)
      assert.include(w.consul.kv.get(names.masterLock)?.value ?? "", "node-1", "the holder stays on record after release")
      assert.isFalse(existsSync(join(n.dir, "conf", "bootstrap-session")))
    }))

  it.live("Consul down does not change or delay the verdict", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      yield* founded(w, n.dir)
      w.consul.outage = "unreachable"
      const { exit, ms } = yield* timed(runFor(health("master"), n, w))
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isBelow(ms, 500)
    }))

  it.live("Consul hanging: a founding master still passes within HEALTH_TIMEOUT", () =>
    Effect.gen(function*() {
      const consul = yield* scoped(() => startConsulEmulator())
      const redis = yield* scoped(masterRespServer)
      yield* Effect.promise(() => consul.setMode("hang"))
      const n = yield* testNode(1, { CONSUL: consul.address, HEALTH_TIMEOUT: "2s", ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(redis.port) })
      yield* Effect.promise(async () => {
        await mkdir(join(n.dir, "conf"), { recursive: true })
        await writeFile(join(n.dir, "conf", "bootstrap-session"), "s-1")
      })
      const { exit, ms } = yield* timed(runLive(health("master"), n))
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isBelow(ms, 2000)
    }))

  it.live("Consul answering garbage: a founding master still passes", () =>
    Effect.gen(function*() {
      const consul = yield* scoped(() => startConsulEmulator())
      const redis = yield* scoped(masterRespServer)
      yield* Effect.promise(() => consul.setMode("garbage"))
      const n = yield* testNode(1, { CONSUL: consul.address, ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(redis.port) })
      yield* Effect.promise(async () => {
        await mkdir(join(n.dir, "conf"), { recursive: true })
        await writeFile(join(n.dir, "conf", "bootstrap-session"), "s-1")
      })
      const exit = yield* runLive(health("master"), n)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isTrue(existsSync(join(n.dir, "conf", "bootstrap-session")), "an unreadable answer is not proof the lock is gone")
    }))
})

describe("health-sentinel", () => {
  it.live("passes while the local Sentinel monitors MASTER_NAME, fails when it does not", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.sentinel(sentinelAt(1), "mymaster", redisAt(2))
      assert.isTrue(Exit.isSuccess(yield* runFor(healthSentinel, n, w)))
      w.redis.sentinel(sentinelAt(1), "mymaster", undefined)
      assert.match(failureOf(yield* runFor(healthSentinel, n, w)), /Sentinel does not monitor mymaster/)
      w.redis.stop(sentinelAt(1))
      assert.match(failureOf(yield* runFor(healthSentinel, n, w)), /unreachable/)
    }))

  for (const [what, make, expected] of [
    ["hangs", silentServer, /timeout|no answer/],
    ["answers garbage", garbageRespServer, /SENTINEL MASTER: unexpected-reply/]
  ] as const) {
    it.live(`Sentinel ${what}: fails within HEALTH_TIMEOUT`, () =>
      Effect.gen(function*() {
        const server = yield* Effect.promise(make)
        const n = yield* testNode(1, { ANNOUNCE_IP: "127.0.0.1", SENTINEL_PORT: String(server.port), HEALTH_TIMEOUT: "2s" })
        const { exit, ms } = yield* timed(runLive(healthSentinel, n))
        assert.match(failureOf(exit), expected)
        assert.isBelow(ms, 2000)
      }))
  }
})
