// The agent's pause care, one round at a time (carePause): what it remembers about
// the pause and its node's replica-priority, and when it touches Redis at all. The
// whole-agent behaviour (across restarts, with /status) is in agentPause.test.ts.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Ref } from "effect"
import { TestClock } from "effect/testing"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { type AgentState, initialState } from "../../../src/programs/agent/AgentState.ts"
import { carePause } from "../../../src/programs/agent/pause.ts"
import { makeWorlds, memoryLayers, redisAt, testNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const self = formatEndpoint(redisAt(1))
const priorityOf = (w: Worlds) => w.redis.servers.get(self)?.priority
const pause = (w: Worlds) => w.consul.kv.set(names.paused, { value: "{}", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
const commands = (w: Worlds) => w.redis.calls.filter((c) => c.startsWith(self))

const setUp = (env: Record<string, string> = {}, aofPending = false) =>
  Effect.gen(function*() {
    const w = makeWorlds()
    w.redis.replica(redisAt(1), redisAt(2))
    const n = yield* testNode(1, env)
    const state = yield* Ref.make<AgentState>(initialState(0, aofPending))
    const round = carePause(state).pipe(Effect.provide(memoryLayers(n, w)))
    return { w, state, round }
  })

describe("agent pause care, round by round", () => {
  it.effect("started from its last stop's RDB: held at 0 (redis.conf said 0, a restarted Redis too), nothing persisted, until the AOF is written; then REPLICA_PRIORITY back and persisted", () =>
    Effect.gen(function*() {
      const { w, state, round } = yield* setUp({ REPLICA_PRIORITY: "100" }, true)
      const server = w.redis.servers.get(self)
      if (server !== undefined) server.priority = 0
      yield* round
      assert.strictEqual(priorityOf(w), 0, "kept at 0 from the start")
      if (server !== undefined) server.priority = 100
      yield* TestClock.adjust("1 second")
      yield* round
      assert.strictEqual(priorityOf(w), 0, "set back to 0 while the AOF is pending")
      assert.notInclude(w.redis.calls, `${self} CONFIG REWRITE`, "redis.conf is not rewritten in the window: it would name the AOF too early")
      yield* Ref.update(state, (s) => ({ ...s, aofPending: false, priority: { ...s.priority, restorePending: true } }))
      yield* TestClock.adjust("1 second")
      yield* round
      assert.strictEqual(priorityOf(w), 100)
      assert.include(w.redis.calls, `${self} CONFIG REWRITE`)
    }))

  it.effect("a priority a switchover left at 0: read every priorityCheckEvery at rest, put back once it has been away for priorityStrayLimit, not at the first look", () =>
    Effect.gen(function*() {
      const { w, round } = yield* setUp({ REPLICA_PRIORITY: "100" })
      yield* round
      const server = w.redis.servers.get(self)
      if (server !== undefined) server.priority = 0
      w.redis.calls.length = 0
      yield* round
      assert.deepStrictEqual(commands(w), [], "between checks Redis is not asked")
      yield* TestClock.adjust("15 seconds")
      yield* round
      assert.deepStrictEqual(commands(w), [`${self} CONFIG GET replica-priority`])
      assert.strictEqual(priorityOf(w), 0, "a switchover may be holding it")
      for (let k = 0; k < 3; k++) {
        yield* TestClock.adjust("15 seconds")
        yield* round
        assert.strictEqual(priorityOf(w), 0, `still within priorityStrayLimit after ${15 * (k + 1)} s`)
      }
      yield* TestClock.adjust("15 seconds")
      yield* round
      assert.strictEqual(priorityOf(w), 100)
      assert.include(w.redis.calls, `${self} CONFIG REWRITE`)
    }))

  it.effect("at start REPLICA_PRIORITY is confirmed once; after that a round reads only the flag, never Redis", () =>
    Effect.gen(function*() {
      const { w, state, round } = yield* setUp({ REPLICA_PRIORITY: "100" })
      yield* round
      const s = yield* Ref.get(state)
      assert.deepStrictEqual(s.priority, { current: Option.some(100), restorePending: false })
      w.redis.calls.length = 0
      yield* round
      assert.deepStrictEqual(commands(w), [], "at rest a round costs one KV read")
    }))

  it.effect("a configured priority Redis does not run with yet is set and written to redis.conf", () =>
    Effect.gen(function*() {
      const { w, state, round } = yield* setUp({ REPLICA_PRIORITY: "40" })
      yield* round
      assert.strictEqual(priorityOf(w), 40)
      assert.include(w.redis.calls, `${self} CONFIG REWRITE`)
      assert.deepStrictEqual((yield* Ref.get(state)).priority, { current: Option.some(40), restorePending: false })
    }))

  it.effect("paused: held at 0 (not rewritten into redis.conf), remembered as to be restored; resumed: put back", () =>
    Effect.gen(function*() {
      const { w, state, round } = yield* setUp()
      yield* round
      pause(w)
      w.redis.calls.length = 0
      yield* round
      assert.strictEqual(priorityOf(w), 0)
      assert.notInclude(w.redis.calls, `${self} CONFIG REWRITE`)
      assert.deepStrictEqual((yield* Ref.get(state)).priority, { current: Option.some(0), restorePending: true })
      assert.isTrue((yield* Ref.get(state)).consul.paused)
      yield* round
      assert.strictEqual(priorityOf(w), 0, "still paused: kept")
      w.consul.kv.delete(names.paused)
      yield* round
      assert.strictEqual(priorityOf(w), 100)
      assert.deepStrictEqual((yield* Ref.get(state)).priority, { current: Option.some(100), restorePending: false })
      assert.isFalse((yield* Ref.get(state)).consul.paused)
    }))

  it.effect("a Consul that does not answer keeps the last known pause: a pause never turns into a resume", () =>
    Effect.gen(function*() {
      const { w, state, round } = yield* setUp()
      pause(w)
      yield* round
      w.consul.outage = "timeout"
      const server = w.redis.servers.get(self)
      if (server !== undefined) server.priority = 100 // Redis restarted from its redis.conf meanwhile
      yield* round
      assert.strictEqual(priorityOf(w), 0)
      assert.isTrue((yield* Ref.get(state)).consul.paused)
    }))

  it.effect("Redis not answering: the current priority is unknown, and nothing is remembered as done", () =>
    Effect.gen(function*() {
      const { w, state, round } = yield* setUp()
      pause(w)
      w.redis.failing.set(`${self} CONFIG GET replica-priority`, "timeout")
      yield* round
      assert.deepStrictEqual((yield* Ref.get(state)).priority, { current: Option.none(), restorePending: true })
      w.redis.failing.clear()
      w.redis.failing.set(`${self} CONFIG SET replica-priority 0`, "timeout")
      yield* round
      assert.deepStrictEqual((yield* Ref.get(state)).priority, { current: Option.none(), restorePending: true }, "a set that failed is not taken for done")
      w.redis.failing.clear()
      yield* round
      assert.strictEqual(priorityOf(w), 0)
    }))
})
