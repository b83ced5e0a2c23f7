// This node's announcement while pre-start runs (announce): held by a session of its
// own, made again when that session is lost (keeping the first time it was visible),
// taking over a key a killed earlier start of this node left, and gone with the scope.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { type Candidate } from "../../../src/domain/Founding.ts"
import { announce } from "../../../src/programs/announce.ts"
import { makeWorlds, memoryLayers, redisAt, testNode } from "../../support/harness.ts"

const names = consulNames("redis")
const key = `${names.starting}node-1`
const me: Candidate = { node: "node-1", endpoint: redisAt(1), data: { _tag: "Empty" } }

describe("announce", () => {
  it.effect("visible under its own session, since the first time; again after the session was lost, keeping that time; gone with the scope", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      const scope = yield* Scope.make()
      const { ensure } = yield* announce(me).pipe(Effect.provide(memoryLayers(n, w)), Scope.provide(scope))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* ensure.pipe(Effect.provide(memoryLayers(n, w))), Option.some(1_000))
      const first = w.consul.kv.get(key)?.session
      assert.isDefined(first)
      assert.deepStrictEqual(JSON.parse(w.consul.kv.get(key)?.value ?? "{}"), { node: "node-1", address: redisAt(1).host, port: 6379, data: false })
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* ensure.pipe(Effect.provide(memoryLayers(n, w))), Option.some(1_000), "still held: nothing redone")
      assert.strictEqual(w.consul.calls.filter((c) => c.startsWith("session.create")).length, 1)
      w.consul.invalidate(first ?? "")
      yield* TestClock.adjust("1 second") // the renewal notices the loss
      assert.deepStrictEqual(yield* ensure.pipe(Effect.provide(memoryLayers(n, w))), Option.some(1_000), "announced since the first time")
      const second = w.consul.kv.get(key)?.session
      assert.isDefined(second)
      assert.notStrictEqual(second, first)
      yield* Scope.close(scope, Exit.void)
      assert.isUndefined(w.consul.kv.get(key), "the key goes with its session")
    }))

  it.effect("a key an earlier start of this node left: its session is ended and the key taken over", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.sessions.set("s-old", { behavior: "delete" })
      w.consul.kv.set(key, { value: "{}", session: "s-old", modifyIndex: w.consul.next(), lockIndex: 1 })
      const n = yield* testNode(1)
      const { ensure } = yield* announce(me).pipe(Effect.provide(memoryLayers(n, w)))
      assert.isTrue(Option.isSome(yield* ensure.pipe(Effect.provide(memoryLayers(n, w)))))
      assert.isFalse(w.consul.sessions.has("s-old"))
      assert.notStrictEqual(w.consul.kv.get(key)?.session, "s-old")
    }))

  it.effect("the key still held by another session that cannot be ended: None, and the new session is given back", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.sessions.set("s-old", { behavior: "delete" })
      w.consul.kv.set(key, { value: "{}", session: "s-old", modifyIndex: w.consul.next(), lockIndex: 1 })
      w.consul.failing.set("session.destroy s-old", "timeout")
      const n = yield* testNode(1)
      const { ensure } = yield* announce(me).pipe(Effect.provide(memoryLayers(n, w)))
      const sessionsBefore = new Set(w.consul.sessions.keys())
      const exit = yield* ensure.pipe(Effect.provide(memoryLayers(n, w)), Effect.exit)
      assert.strictEqual(exit._tag, "Failure", "Consul failing the takeover fails the attempt")
      assert.deepStrictEqual([...w.consul.sessions.keys()].filter((id) => !sessionsBefore.has(id)), [], "and its new session is given back, not left to lapse")
      w.consul.failing.clear()
      w.consul.meanwhile.set("session.destroy s-old", () => void w.consul.kv.set(key, { value: "{}", session: "s-other", modifyIndex: w.consul.next(), lockIndex: 2 }))
      w.consul.sessions.set("s-other", { behavior: "delete" })
      const before = new Set(w.consul.sessions.keys())
      assert.deepStrictEqual(yield* ensure.pipe(Effect.provide(memoryLayers(n, w))), Option.none())
      assert.deepStrictEqual([...w.consul.sessions.keys()].filter((id) => !before.has(id)), [], "this attempt's session was destroyed")
    }))
})
