// One contract for our Consul service, run against the live layer (the `consul`
// package over the HTTP emulator) and against the in-memory layer the program tests
// use, so the two cannot drift apart. Transport failures are live-only.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option } from "effect"
import { Consul } from "../../../src/layers/Consul.ts"
import { ConsulWorld } from "../../../src/layers/ConsulMemory.ts"
import { Settings } from "../../../src/layers/Settings.ts"
import { Timings } from "../../../src/domain/Timings.ts"
import { type ConsulEmulator, startConsulEmulator } from "../../support/consul/ConsulEmulator.ts"
import { fastTimings } from "../../support/harness.ts"

const liveOn = (emulator: ConsulEmulator) =>
  Consul.layer.pipe(Layer.provide(Layer.mergeAll(Settings.layerFrom({ CONSUL: emulator.address, ANNOUNCE_IP: "10.0.0.1" }), Layer.succeed(Timings, fastTimings))), Layer.orDie)

const session = { name: "test", ttl: Duration.seconds(15), lockDelay: Duration.seconds(1), behavior: "release" as const }

const contract = (name: string, layer: () => Effect.Effect<Layer.Layer<Consul>, never, import("effect").Scope.Scope>) =>
  describe(`Consul service contract: ${name}`, () => {
    const run = <A, E>(f: (consul: Consul["Service"]) => Effect.Effect<A, E>) =>
      Effect.gen(function*() {
        const l = yield* layer()
        return yield* Consul.use(f).pipe(Effect.provide(l))
      }).pipe(Effect.scoped)

    it.live("acquire: the first session wins, a second loses with false (not an error), the holder re-acquires", () =>
      run((consul) =>
        Effect.gen(function*() {
          const a = yield* consul.createSession(session)
          const b = yield* consul.createSession(session)
          assert.isTrue(yield* consul.acquire("t/lock", "a", a))
          assert.isFalse(yield* consul.acquire("t/lock", "b", b))
          assert.isTrue(yield* consul.acquire("t/lock", "a2", a))
          const entry = yield* consul.get("t/lock")
          assert.isTrue(Option.exists(entry, (e) => Option.contains(e.session, a) && e.value === "a2"))
          assert.isFalse(yield* consul.release("t/lock", "x", b), "only the holder releases")
          assert.isTrue(yield* consul.release("t/lock", "released by a", a))
          const after = yield* consul.get("t/lock")
          assert.isTrue(Option.exists(after, (e) => Option.isNone(e.session) && e.value === "released by a"))
        })))

    it.live("lock-delay: a lock whose session was destroyed is not acquirable until it passes; a release sets none", () =>
      run((consul) =>
        Effect.gen(function*() {
          const a = yield* consul.createSession(session)
          const b = yield* consul.createSession(session)
          assert.isTrue(yield* consul.acquire("t/released", "a", a))
          assert.isTrue(yield* consul.release("t/released", "a", a))
          assert.isTrue(yield* consul.acquire("t/released", "b", b), "a release is not an invalidation")
          assert.isTrue(yield* consul.acquire("t/delayed", "a", a))
          yield* consul.destroySession(a)
          assert.isFalse(yield* consul.acquire("t/delayed", "b", b), "within lock-delay (1 s)")
          yield* Effect.sleep("1100 millis")
          assert.isTrue(yield* consul.acquire("t/delayed", "b", b), "after lock-delay")
        })))

    it.live("put with cas: 0 creates only; a stale index loses with false", () =>
      run((consul) =>
        Effect.gen(function*() {
          assert.isTrue(yield* consul.put("t/cas", "1", { cas: 0 }))
          assert.isFalse(yield* consul.put("t/cas", "2", { cas: 0 }))
          const entry = Option.getOrThrow(yield* consul.get("t/cas"))
          assert.isTrue(yield* consul.put("t/cas", "3", { cas: entry.modifyIndex }))
          assert.isFalse(yield* consul.put("t/cas", "4", { cas: entry.modifyIndex }))
        })))

    it.live("renewing a destroyed session answers false; a missing key is None; a prefix lists its entries", () =>
      run((consul) =>
        Effect.gen(function*() {
          const s = yield* consul.createSession(session)
          assert.isTrue(yield* consul.renewSession(s))
          yield* consul.destroySession(s)
          assert.isFalse(yield* consul.renewSession(s))
          assert.isTrue(Option.isNone(yield* consul.get("t/missing")))
          yield* consul.put("t/p/a", "1")
          yield* consul.put("t/p/b", "2")
          assert.deepStrictEqual((yield* consul.list("t/p/")).map((e) => [e.key, e.value]), [["t/p/a", "1"], ["t/p/b", "2"]])
          assert.deepStrictEqual(yield* consul.list("t/none/"), [])
        })))

    it.live("register + setCheck: a registered TTL check turns passing/critical; an unknown check answers false", () =>
      run((consul) =>
        Effect.gen(function*() {
          yield* consul.register({ id: "redis-n1", name: "redis", address: "10.0.0.1", port: 6379, ttl: Duration.seconds(15), status: "passing" })
          const passing = (yield* consul.instances("redis")).find((i) => i.id === "redis-n1")
          assert.strictEqual(passing?.passing, true)
          assert.isTrue(yield* consul.setCheck("service:redis-n1", "critical", "demoted"))
          const failed = (yield* consul.instances("redis")).find((i) => i.id === "redis-n1")
          assert.strictEqual(failed?.passing, false)
          assert.isFalse(yield* consul.setCheck("service:nope", "passing", ""))
          assert.deepStrictEqual(yield* consul.instances("unknown-service"), [])
        })))
  })

contract("live layer over the emulator", () =>
  Effect.acquireRelease(Effect.promise(() => startConsulEmulator()), (e) => Effect.promise(() => e.close())).pipe(Effect.map(liveOn)))
contract("in-memory layer", () => Effect.succeed(Consul.layerTest(new ConsulWorld())))

describe("Consul live layer under failure", () => {
  const withMode = (mode: "down" | "hang" | "garbage") =>
    Effect.gen(function*() {
      const emulator = yield* Effect.acquireRelease(Effect.promise(() => startConsulEmulator()), (e) => Effect.promise(() => e.close()))
      yield* Effect.promise(() => emulator.setMode(mode))
      const started = Date.now()
      const result = yield* Consul.use((c) => c.get("service/redis/locks/master")).pipe(Effect.provide(liveOn(emulator)), Effect.flip)
      return { error: result, ms: Date.now() - started }
    }).pipe(Effect.scoped)

  it.live("down: unreachable, retried, fails fast", () =>
    Effect.gen(function*() {
      const { error, ms } = yield* withMode("down")
      assert.strictEqual(error.reason, "unreachable")
      assert.isBelow(ms, 1000)
    }))

  it.live("hanging: times out per call and gives up after its retries, bounded", () =>
    Effect.gen(function*() {
      const { error, ms } = yield* withMode("hang")
      assert.strictEqual(error.reason, "timeout")
      // 3 attempts of 300 ms plus short backoff.
      assert.isBelow(ms, 1500)
    }))

  it.live("garbage: an unexpected reply, not retried", () =>
    Effect.gen(function*() {
      const { error, ms } = yield* withMode("garbage")
      assert.strictEqual(error.reason, "unexpected-reply")
      assert.isBelow(ms, 500)
    }))
})
