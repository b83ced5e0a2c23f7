// One look at the node (observeNode) on the TestClock: it ends as soon as the
// sentinels' answers decide the master, but not before every peer not known silent has
// answered or had `silentPeerAnswer`; a peer silent last time is not waited for once
// the others decide; a peer merely slower than the others is not taken for silent; and
// without a decision the look waits for the silent peer up to its bound.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { type Endpoint, formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { observeNode } from "../../../src/programs/observeNode.ts"
import { fastTimings, makeWorlds, memoryLayers, passingSentinel, redisAt, sentinelAt, testNode, type Worlds } from "../../support/harness.ts"

const peers = [sentinelAt(2), sentinelAt(3)]
const grace = Duration.toMillis(fastTimings.silentPeerAnswer)

/** Node 1 master; the sentinels on nodes 1-3 name `named[i - 1]`. */
const world = (named: ReadonlyArray<number> = [1, 1, 1]) => {
  const w = makeWorlds()
  w.redis.master(redisAt(1))
  named.forEach((m, i) => passingSentinel(w, i + 1, redisAt(m)))
  return w
}

/** Starts node 1's look in the background and lets it run as far as it can without time passing. */
const startLook = (w: Worlds, silentBefore: ReadonlyArray<Endpoint> = []) =>
  Effect.gen(function*() {
    const n = yield* testNode(1)
    const fiber = yield* observeNode(peers, silentBefore).pipe(Effect.provide(memoryLayers(n, w)), Effect.forkChild)
    yield* TestClock.adjust(Duration.zero)
    return fiber
  })

const silentOf = (o: { readonly sentinels: { readonly silent?: ReadonlyArray<Endpoint> } }) => (o.sentinels.silent ?? []).map(formatEndpoint)

describe("observeNode: when a look ends", () => {
  it.effect("a peer falls silent while the others decide: the look ends once it had silentPeerAnswer, not the command bound, and names it silent", () =>
    Effect.gen(function*() {
      const w = world()
      w.redis.hanging.add(formatEndpoint(sentinelAt(3)))
      const look = yield* startLook(w)
      yield* TestClock.adjust(Duration.millis(grace - 1))
      assert.isUndefined(look.pollUnsafe(), "a peer not known silent gets silentPeerAnswer")
      yield* TestClock.adjust(Duration.millis(1))
      const o = yield* Fiber.join(look)
      assert.strictEqual(o.sentinels.answers.length, 2)
      assert.deepStrictEqual(silentOf(o), ["10.0.0.13:26379"])
    }))

  it.effect("a peer slower than the others, within silentPeerAnswer, is waited for and not taken for silent", () =>
    Effect.gen(function*() {
      const w = world()
      w.redis.slow.set(formatEndpoint(sentinelAt(3)), Duration.millis(grace / 2))
      const look = yield* startLook(w)
      yield* TestClock.adjust(Duration.millis(grace / 2))
      const o = yield* Fiber.join(look)
      assert.strictEqual(o.sentinels.answers.length, 3)
      assert.deepStrictEqual(silentOf(o), [])
    }))

  it.effect("a peer silent last time is not waited for once the others decide", () =>
    Effect.gen(function*() {
      const w = world()
      w.redis.hanging.add(formatEndpoint(sentinelAt(3)))
      const look = yield* startLook(w, [sentinelAt(3)])
      const o = look.pollUnsafe()
      assert.isDefined(o, "ended without time passing")
      const done = yield* Fiber.join(look)
      assert.deepStrictEqual(silentOf(done), ["10.0.0.13:26379"])
    }))

  it.effect("the others split: no decision without the silent peer, which is waited for up to the look's bound", () =>
    Effect.gen(function*() {
      const w = world([1, 2, 1])
      w.redis.hanging.add(formatEndpoint(sentinelAt(3)))
      const look = yield* startLook(w)
      yield* TestClock.adjust(Duration.subtract(fastTimings.observation, Duration.millis(1)))
      assert.isUndefined(look.pollUnsafe())
      yield* TestClock.adjust(Duration.millis(1))
      const o = yield* Fiber.join(look)
      assert.strictEqual(o.sentinels.answers.length, 2)
      assert.deepStrictEqual(silentOf(o), ["10.0.0.13:26379"])
    }))
})
