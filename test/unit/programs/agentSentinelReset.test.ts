// The agent's sentinel reset (DESIGN.md §6) across nodes: a sentinel still counting a
// dead peer forgets it, one sentinel per spacing cluster-wide, the turn claimed by a
// compare-and-set on `service/<name>/sentinel-reset` that two agents racing for the
// same turn cannot both win. Time is the TestClock's, which the in-memory Consul shares.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Ref } from "effect"
import { TestClock } from "effect/testing"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { careForSentinel } from "../../../src/programs/agent/care.ts"
import { initialState } from "../../../src/programs/agent/AgentState.ts"
import { fastTimings, makeWorlds, memoryLayers, registeredCluster, sentinelAt, testNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
/** A sentinel that was replaced (a new IP): down, and registered nowhere. */
const gone = { endpoint: { host: "10.0.0.99", port: 26379 }, runId: "gone", flags: ["sentinel", "s_down"] }

/** Node 1 is master with replicas 2 and 3; every sentinel still counts the one that is gone. */
const clusterWithAGoneSentinel = (w: Worlds) => {
  registeredCluster(w, 1, [2, 3])
  for (const i of [1, 2, 3]) {
    w.redis.sentinels.get(formatEndpoint(sentinelAt(i)))?.sentinels.push(...[1, 2, 3].filter((p) => p !== i).map((p) => ({ endpoint: sentinelAt(p), runId: `s${p}`, flags: ["sentinel"] })), gone)
  }
}

const resetsOf = (w: Worlds, i: number) => w.redis.sentinels.get(formatEndpoint(sentinelAt(i)))?.resets
const claim = (w: Worlds) => Option.map(Option.fromUndefinedOr(w.consul.kv.get(names.sentinelReset)?.value ?? undefined), (v) => JSON.parse(v).node)

/** One turn of node i's sentinel care, as its agent runs it every spacing. */
const careOn = (i: number, w: Worlds, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const node = yield* testNode(i, env)
    const state = yield* Ref.make(initialState(0))
    yield* careForSentinel(state).pipe(Effect.provide(memoryLayers(node, w)))
    return state
  })

describe("agent: forgetting a replaced sentinel", () => {
  it.effect("a sentinel counting a dead peer is reset, and the turn is recorded in Consul", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithAGoneSentinel(w)
      yield* careOn(1, w)
      assert.strictEqual(resetsOf(w, 1), 1)
      assert.deepStrictEqual(claim(w), Option.some("node-1"))
    }))

  it.effect("one sentinel per spacing cluster-wide: the next node waits until the spacing has passed", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithAGoneSentinel(w)
      yield* careOn(1, w)
      yield* TestClock.adjust(Duration.subtract(fastTimings.sentinelResetSpacing, Duration.millis(1)))
      yield* careOn(2, w)
      assert.deepStrictEqual([resetsOf(w, 1), resetsOf(w, 2)], [1, 0], "node 2 waits while node 1's sentinel rebuilds its view")
      yield* TestClock.adjust(Duration.millis(1))
      yield* careOn(2, w)
      assert.deepStrictEqual([resetsOf(w, 1), resetsOf(w, 2)], [1, 1])
      assert.deepStrictEqual(claim(w), Option.some("node-2"))
    }))

  it.effect("two agents racing for the same turn: the one whose claim lands second does not reset", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithAGoneSentinel(w)
      // Node 2 read the same record as node 1 and its claim lands between node 1's read and node 1's claim.
      w.consul.meanwhile.set(`kv.set ${names.sentinelReset}`, () =>
        w.consul.kv.set(names.sentinelReset, { value: JSON.stringify({ node: "node-2", at: w.consul.now }), session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 }))
      yield* careOn(1, w)
      assert.strictEqual(resetsOf(w, 1), 0, "resetting now would make two sentinels rebuild their views at once")
      assert.deepStrictEqual(claim(w), Option.some("node-2"))
    }))

  it.effect("a record of an earlier reset is claimed over by compare-and-set too, not overwritten", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithAGoneSentinel(w)
      yield* careOn(1, w)
      yield* TestClock.adjust(fastTimings.sentinelResetSpacing)
      w.consul.meanwhile.set(`kv.set ${names.sentinelReset}`, () =>
        w.consul.kv.set(names.sentinelReset, { value: JSON.stringify({ node: "node-3", at: w.consul.now }), session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 }))
      yield* careOn(2, w)
      assert.deepStrictEqual([resetsOf(w, 2), resetsOf(w, 3)], [0, 0])
      assert.deepStrictEqual(claim(w), Option.some("node-3"))
    }))

  it.effect("while paused, no sentinel is reset and no turn is claimed", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithAGoneSentinel(w)
      const node = yield* testNode(1)
      const state = yield* Ref.make(initialState(0))
      yield* Ref.update(state, (s) => ({ ...s, consul: { ...s.consul, paused: true } }))
      yield* careForSentinel(state).pipe(Effect.provide(memoryLayers(node, w)))
      assert.strictEqual(resetsOf(w, 1), 0)
      assert.isUndefined(w.consul.kv.get(names.sentinelReset))
    }))

  it.effect("Consul failing the read of the last reset: no reset (any doubt means no action), and the agent carries on", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithAGoneSentinel(w)
      w.consul.failing.set(`kv.get ${names.sentinelReset}`, "timeout")
      yield* careOn(1, w)
      assert.strictEqual(resetsOf(w, 1), 0)
      assert.isUndefined(w.consul.kv.get(names.sentinelReset))
    }))

  it.effect("the claim failing to reach Consul: no reset", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithAGoneSentinel(w)
      w.consul.failing.set(`kv.set ${names.sentinelReset}`, "timeout")
      yield* careOn(1, w)
      assert.strictEqual(resetsOf(w, 1), 0)
    }))

  it.effect("a dead peer that is registered passing again (a restart at the same address) is not stale: no reset", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithAGoneSentinel(w)
      w.consul.register("redis-sentinel-node-99", "redis-sentinel", gone.endpoint.host, gone.endpoint.port)
      yield* careOn(1, w)
      assert.strictEqual(resetsOf(w, 1), 0)
      assert.isUndefined(w.consul.kv.get(names.sentinelReset))
    }))
})
