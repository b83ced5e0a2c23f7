// The agent's half of a restart from resync.rdb: the AOF turned on once the replica
// caught up (at once on a master), and when Redis has written it, redis.conf rewritten
// with it on; each step taken again after a failure; nothing at all after a start
// with the AOF on.
import { assert, describe, it } from "@effect/vitest"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { existsSync } from "node:fs"
import { Duration, Effect, Exit, Fiber, Ref } from "effect"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { renderRedisConf } from "../../../src/domain/RedisConf.ts"
import { settingsFrom } from "../../support/scenarios.ts"
import { aofPendingAtStart, careForAof } from "../../../src/programs/agent/aof.ts"
import { type AgentState, initialState } from "../../../src/programs/agent/AgentState.ts"
import { eventually, makeWorlds, redisAt, runFor, testNode, type TestNode, type Worlds } from "../../support/harness.ts"

const at = formatEndpoint(redisAt(1))
const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")

/** Node 1 as pre-start left it: redis.conf rendered for `start`, resync.rdb kept until the AOF is written. */
const started = (n: TestNode, start: "aof" | "resync-rdb") =>
  Effect.promise(async () => {
    const conf = renderRedisConf(settingsFrom({ ANNOUNCE_IP: redisAt(1).host }), { _tag: "Replica", master: redisAt(2) }, start)
    await mkdir(n.env.CONFIG_DIR ?? "", { recursive: true })
    await mkdir(n.env.DATA_DIR ?? "", { recursive: true })
    await writeFile(join(n.env.CONFIG_DIR ?? "", "redis.conf"), conf)
    await writeFile(join(n.env.DATA_DIR ?? "", "resync.rdb"), "REDIS0010")
  })

/** The agent's loop as the agent runs it: its state read from redis.conf at start. */
const care = (n: TestNode, w: Worlds) =>
  Effect.gen(function*() {
    const pending = yield* runFor(aofPendingAtStart, n, w)
    const state = yield* Ref.make<AgentState>(initialState(0, Exit.isSuccess(pending) && pending.value))
    return { state, run: runFor(careForAof(state), n, w) }
  })

/** Node 1's Redis as a start from resync.rdb runs it: a replica of node 2, AOF off. */
const fromRdb = (w: Worlds, state: "connected" | "sync" | "connect" = "connected") => {
  w.redis.master(redisAt(2), [redisAt(1)])
  w.redis.replica(redisAt(1), redisAt(2), state)
  const s = w.redis.servers.get(at)
  if (s !== undefined) Object.assign(s, { appendonly: false })
}

const done = ["CONFIG SET appendonly yes", "CONFIG REWRITE"]

const writesOf = (w: Worlds) => w.redis.calls.filter((c) => c.startsWith(at) && /CONFIG (SET|REWRITE)/.test(c)).map((c) => c.slice(at.length + 1))

describe("agent: the AOF back after a start from resync.rdb", () => {
  it.live("a replica that caught up: AOF on, and once Redis has written it, redis.conf rewritten with it on, resync.rdb removed, promotable again", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      fromRdb(w)
      w.redis.aofRewriteTakes = Duration.millis(300)
      const n = yield* testNode(1)
      yield* started(n, "resync-rdb")
      const { run, state } = yield* care(n, w)
      const fiber = yield* run.pipe(Effect.forkChild)
      yield* eventually("the AOF turned on", 2_000, () => writesOf(w).length > 0)
      const looks = () => w.redis.calls.filter((c) => c === `${at} INFO persistence`).length
      const before = looks()
      yield* eventually("two looks while Redis writes the AOF", 2_000, () => looks() >= before + 2)
      assert.deepStrictEqual(writesOf(w), ["CONFIG SET appendonly yes"], "redis.conf keeps the AOF off while it is written: a crashed Redis then loads the RDB, not the old AOF")
      assert.isTrue(existsSync(join(n.env.DATA_DIR ?? "", "resync.rdb")), "kept while the AOF is written: a start now must not load the old AOF")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(writesOf(w), done)
      assert.isFalse(existsSync(join(n.env.DATA_DIR ?? "", "resync.rdb")))
      const s = yield* Ref.get(state)
      assert.isFalse(s.aofPending, "promotable again: the pause care puts REPLICA_PRIORITY back")
      assert.isTrue(s.priority.restorePending)
    }))

  it.live("a replica still receiving a full copy: the AOF stays off until it has caught up", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      fromRdb(w, "sync")
      const n = yield* testNode(1)
      yield* started(n, "resync-rdb")
      const { run } = yield* care(n, w)
      const fiber = yield* run.pipe(Effect.forkChild)
      yield* eventually("a few looks", 2_000, () => w.redis.calls.filter((c) => c === `${at} CONFIG GET appendonly`).length >= 3)
      assert.deepStrictEqual(writesOf(w), [])
      w.redis.replica(redisAt(1), redisAt(2), "connected")
      Object.assign(w.redis.servers.get(at) ?? {}, { appendonly: false })
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(writesOf(w), done)
    }))

  it.live("promoted before it caught up: the AOF on at once, as a master's data is the only copy", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      fromRdb(w, "connect")
      const s = w.redis.servers.get(at)
      if (s !== undefined) s.role = { _tag: "Master", offset: 1000, replicas: [] }
      const n = yield* testNode(1)
      yield* started(n, "resync-rdb")
      const { run } = yield* care(n, w)
      const exit = yield* run
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(writesOf(w)[0], "CONFIG SET appendonly yes")
    }))

  it.live("a rewrite Redis only scheduled (a backup's save running), or one that failed (Redis schedules it again): not finished until one succeeded", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      fromRdb(w)
      const n = yield* testNode(1)
      yield* started(n, "resync-rdb")
      const { run } = yield* care(n, w)
      const fiber = yield* run.pipe(Effect.forkChild)
      yield* eventually("the AOF turned on", 2_000, () => writesOf(w).length > 0)
      const server = w.redis.servers.get(at)
      const looks = () => w.redis.calls.filter((c) => c === `${at} INFO persistence`).length
      for (const state of [{ aof_rewrite_scheduled: 1 }, { aof_rewrite_scheduled: 0, aof_last_bgrewrite_status: "err" }]) {
        if (server !== undefined) server.persistence = { ...server.persistence, aof_rewrite_in_progress: 0, ...state }
        const before = looks()
        yield* eventually("two looks", 2_000, () => looks() >= before + 2)
        assert.deepStrictEqual(writesOf(w), ["CONFIG SET appendonly yes"], JSON.stringify(state))
      }
      if (server !== undefined) server.persistence = { ...server.persistence, aof_last_bgrewrite_status: "ok" }
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(writesOf(w), done)
    }))

  it.live("a CONFIG REWRITE that fails is taken again until one succeeds", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      fromRdb(w)
      w.redis.failing.set(`${at} CONFIG REWRITE`, "refused")
      const n = yield* testNode(1)
      yield* started(n, "resync-rdb")
      const { run } = yield* care(n, w)
      const fiber = yield* run.pipe(Effect.forkChild)
      yield* eventually("the rewrite tried twice", 2_000, () => w.redis.calls.filter((c) => c === `${at} CONFIG REWRITE`).length >= 2)
      assert.isTrue(existsSync(join(n.env.DATA_DIR ?? "", "resync.rdb")), "kept until redis.conf names the AOF")
      w.redis.failing.clear()
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
    }))

  it.live("a Redis that crashed and came back from redis.conf with its AOF off meanwhile: turned on again", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      fromRdb(w)
      w.redis.aofRewriteTakes = Duration.millis(200)
      const n = yield* testNode(1)
      yield* started(n, "resync-rdb")
      const { run } = yield* care(n, w)
      const fiber = yield* run.pipe(Effect.forkChild)
      yield* eventually("the AOF turned on", 2_000, () => writesOf(w).length > 0)
      fromRdb(w)
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(writesOf(w), ["CONFIG SET appendonly yes", ...done])
    }))

  it.live("Redis not answering yet: the agent keeps looking, and finishes once it answers", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      yield* started(n, "resync-rdb")
      const { run } = yield* care(n, w)
      const fiber = yield* run.pipe(Effect.forkChild)
      yield* eventually("a few refused looks", 2_000, () => w.redis.calls.filter((c) => c.startsWith(`${at} CONFIG GET`)).length >= 3)
      fromRdb(w)
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(writesOf(w), done)
    }))

  it.live("after a start with the AOF on, nothing at all: not one command", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      fromRdb(w)
      const n = yield* testNode(1)
      yield* started(n, "aof")
      const { run } = yield* care(n, w)
      const exit = yield* run
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(w.redis.calls, [])
    }))
})
