// The agent's observation cycle, one cycle at a time on the TestClock: it wakes the
// registrar exactly when a verdict changes (also one the fence let lapse while the
// look ran), counts its cycles and their trigger, learns the peer sentinels from its
// own at most once per registry interval (keeping the last list when its Sentinel does
// not answer), and counts a failover once.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Ref } from "effect"
import { TestClock } from "effect/testing"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { type AgentState, initialState } from "../../../src/programs/agent/AgentState.ts"
import { observeCycle, recordSwitch } from "../../../src/programs/agent/observer.ts"
import { fastTimings, makeWorlds, memoryLayers, passingSentinel, redisAt, sentinelAt, testNode, type Worlds } from "../../support/harness.ts"

const masterOne = (w: Worlds) => {
  w.redis.master(redisAt(1))
  for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(1))
}

const setUp = (w: Worlds) =>
  Effect.gen(function*() {
    const n = yield* testNode(1)
    const state = yield* Ref.make<AgentState>(initialState(0))
    const wakes = yield* Ref.make(0)
    const cycle = (trigger: string) => observeCycle(state, Ref.update(wakes, (x) => x + 1))(trigger).pipe(Effect.provide(memoryLayers(n, w)))
    return { state, wakes, cycle }
  })

describe("agent observer", () => {
  it.effect("the first cycle wakes the registrar; a cycle that changes no verdict does not; a change does", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      const { state, wakes, cycle } = yield* setUp(w)
      yield* TestClock.adjust(fastTimings.registrySyncEvery) // the agent starts long after the epoch
      yield* cycle("start")
      assert.strictEqual(yield* Ref.get(wakes), 1)
      const first = yield* Ref.get(state)
      assert.isTrue(Option.exists(first.verdicts, (v) => v.master.pass))
      assert.strictEqual(first.cycles, 1)
      assert.deepStrictEqual(Option.map(first.lastCycle, (c) => c.trigger), Option.some("start"))
      yield* TestClock.adjust("1 second")
      yield* cycle("tick")
      assert.strictEqual(yield* Ref.get(wakes), 1, "nothing changed: Consul is not bothered")
      assert.strictEqual((yield* Ref.get(state)).cycles, 2)
      w.redis.switchMaster("mymaster", redisAt(2))
      yield* cycle("+switch-master from sentinel 10.0.0.12:26379")
      assert.strictEqual(yield* Ref.get(wakes), 2)
      const after = yield* Ref.get(state)
      assert.isFalse(Option.exists(after.verdicts, (v) => v.master.pass))
      assert.deepStrictEqual(Option.map(after.lastCycle, (c) => [c.at, c.trigger]), Option.some([Duration.toMillis(fastTimings.registrySyncEvery) + 1000, "+switch-master from sentinel 10.0.0.12:26379"]))
    }))

  it.effect("a look that confirms the master after its lease lapsed meanwhile is a change: the registrar is woken, the pass dates from the look", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      const { state, wakes, cycle } = yield* setUp(w)
      yield* TestClock.adjust(fastTimings.registrySyncEvery)
      yield* cycle("start")
      assert.strictEqual(yield* Ref.get(wakes), 1)
      // A silent peer keeps the next look open (for silentPeerAnswer) after the other two
      // sentinels named this node; meanwhile the fence lets the lease lapse.
      w.redis.hanging.add(formatEndpoint(sentinelAt(3)))
      const lookStarted = Duration.toMillis(fastTimings.registrySyncEvery) + 1000
      yield* TestClock.adjust("1 second")
      const look = yield* Effect.forkChild(cycle("tick"))
      yield* TestClock.adjust(Duration.millis(1))
      yield* Ref.update(state, (s) => ({ ...s, verdicts: Option.map(s.verdicts, (v) => ({ ...v, master: { ...v.master, pass: false, reason: "lapsed" } })) }))
      yield* TestClock.adjust(fastTimings.observation)
      yield* Fiber.join(look)
      assert.strictEqual(yield* Ref.get(wakes), 2, "Consul hears the master is confirmed again")
      const master = Option.map((yield* Ref.get(state)).verdicts, (v) => [v.master.pass, v.master.confirmedAt])
      assert.deepStrictEqual(master, Option.some([true, lookStarted]))
    }))

  it.effect("learns the peer sentinels from its own, again only once the registry interval has passed, and keeps them when its Sentinel does not answer", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      const { state, cycle } = yield* setUp(w)
      yield* TestClock.adjust(fastTimings.registrySyncEvery)
      yield* cycle("tick")
      const peers = () => Effect.map(Ref.get(state), (s) => s.peers.fromSentinel.map(formatEndpoint).sort())
      assert.deepStrictEqual(yield* peers(), ["10.0.0.12:26379", "10.0.0.13:26379"])
      passingSentinel(w, 4, redisAt(1))
      yield* TestClock.adjust(Duration.subtract(fastTimings.registrySyncEvery, Duration.millis(1)))
      yield* cycle("tick")
      assert.deepStrictEqual(yield* peers(), ["10.0.0.12:26379", "10.0.0.13:26379"], "not asked again within the interval")
      yield* TestClock.adjust(Duration.millis(1))
      yield* cycle("tick")
      assert.deepStrictEqual(yield* peers(), ["10.0.0.12:26379", "10.0.0.13:26379", "10.0.0.14:26379"])
      w.redis.failing.set(`${formatEndpoint(sentinelAt(1))} SENTINEL SENTINELS`, "timeout")
      yield* TestClock.adjust(fastTimings.registrySyncEvery)
      yield* cycle("tick")
      assert.deepStrictEqual(yield* peers(), ["10.0.0.12:26379", "10.0.0.13:26379", "10.0.0.14:26379"], "the last list stays")
    }))

  it.effect("a failover is counted once, whichever sentinels tell of it", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make<AgentState>(initialState(0))
      const change = { from: redisAt(1), to: redisAt(2) }
      assert.isTrue(yield* recordSwitch(state, change))
      assert.isFalse(yield* recordSwitch(state, change))
      assert.isTrue(yield* recordSwitch(state, { from: redisAt(2), to: redisAt(1) }))
      const s = yield* Ref.get(state)
      assert.strictEqual(s.failovers.seen, 2)
      assert.deepStrictEqual(Option.map(s.failovers.last, (l) => l.to), Option.some(redisAt(1)))
    }))
})
