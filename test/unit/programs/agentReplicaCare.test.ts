// The agent moving its stranded replica, one care round at a time (careForReplica):
// a replica following another master than the sentinels name is pointed at theirs
// only after the grace, only when that node answers as master, never while paused,
// and never on a guess (no observation, Redis unseen).
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Ref } from "effect"
import { TestClock } from "effect/testing"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { type NodeObservation } from "../../../src/domain/Health.ts"
import { type AgentState, initialState } from "../../../src/programs/agent/AgentState.ts"
import { careForReplica } from "../../../src/programs/agent/care.ts"
import { fastTimings, makeWorlds, memoryLayers, redisAt, testNode, type Worlds } from "../../support/harness.ts"

const grace = Duration.toMillis(fastTimings.strandedGrace)
const self = formatEndpoint(redisAt(1))

/** Node 1 follows node 3 (the old master, back as a master nobody names); the sentinels name node 2. */
const stranded = (w: Worlds) => {
  w.redis.replica(redisAt(1), redisAt(3)).master(redisAt(2)).master(redisAt(3))
}

const seen = (w: Worlds): NodeObservation => {
  const role = w.redis.servers.get(self)?.role
  return {
    self: redisAt(1),
    masterName: "mymaster",
    role: role === undefined ? { _tag: "Unseen", reason: "connect ECONNREFUSED" } : { _tag: "Seen", value: role },
    localSentinel: { _tag: "Seen", value: Option.none() },
    sentinels: { known: 3, answers: [Option.some(redisAt(2)), Option.some(redisAt(2)), Option.some(redisAt(2))] }
  }
}

const round = (w: Worlds, patch: Partial<AgentState>) =>
  Effect.gen(function*() {
    const n = yield* testNode(1)
    const state = yield* Ref.make<AgentState>({ ...initialState(0), observation: Option.some(seen(w)), strandedSince: Option.some(0), ...patch })
    yield* careForReplica(state).pipe(Effect.provide(memoryLayers(n, w)))
  })

const following = (w: Worlds) => {
  const role = w.redis.servers.get(self)?.role
  return role?._tag === "Replica" ? formatEndpoint(role.master) : undefined
}

describe("agent replica care", () => {
  it.effect("stranded for the grace, the sentinels' master answering as master: moved to it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      stranded(w)
      yield* TestClock.adjust(Duration.millis(grace))
      yield* round(w, {})
      assert.strictEqual(following(w), "10.0.0.12:6379")
    }))

  it.effect("within the grace (Sentinel may still be reconfiguring it): left alone, the named master not even asked", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      stranded(w)
      yield* TestClock.adjust(Duration.millis(grace - 1))
      yield* round(w, {})
      assert.strictEqual(following(w), "10.0.0.13:6379")
      assert.notInclude(w.redis.calls, `${formatEndpoint(redisAt(2))} ROLE`)
    }))

  it.effect("the node the sentinels name does not answer as master: left alone", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      stranded(w)
      w.redis.replica(redisAt(2), redisAt(3))
      yield* TestClock.adjust(Duration.millis(grace))
      yield* round(w, {})
      assert.strictEqual(following(w), "10.0.0.13:6379")
      w.redis.stop(redisAt(2))
      yield* round(w, {})
      assert.strictEqual(following(w), "10.0.0.13:6379")
    }))

  it.effect("not stranded, no observation yet, Redis unseen, or paused: no command to Redis at all", () =>
    Effect.gen(function*() {
      for (const patch of [
        { strandedSince: Option.none() },
        { observation: Option.none() }
      ] satisfies ReadonlyArray<Partial<AgentState>>) {
        const w = makeWorlds()
        stranded(w)
        yield* TestClock.adjust(Duration.millis(grace))
        yield* round(w, patch)
        assert.deepStrictEqual(w.redis.calls, [], JSON.stringify(Object.keys(patch)))
      }
      const unseen = makeWorlds()
      stranded(unseen)
      const observation = { ...seen(unseen), role: { _tag: "Unseen" as const, reason: "timeout" } }
      yield* round(unseen, { observation: Option.some(observation) })
      assert.deepStrictEqual(unseen.redis.calls, [])
      const paused = makeWorlds()
      stranded(paused)
      yield* round(paused, { consul: { ...initialState(0).consul, paused: true } })
      assert.deepStrictEqual(paused.redis.calls, [])
    }))
})
