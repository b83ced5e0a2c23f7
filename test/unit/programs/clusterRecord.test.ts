// The cluster's record under concurrent writers (updateClusterRecord): a write that
// lost a race starts over from a fresh read, so neither writer's change is lost; a
// missing record is created by one writer only; after three lost races it gives up
// without writing. And keepAlive: a session Consul no longer knows is reported lost,
// a renewal Consul fails is not.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Ref } from "effect"
import { TestClock } from "effect/testing"
import { recordBackup } from "../../../src/domain/ClusterRecord.ts"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { updateClusterRecord } from "../../../src/programs/clusterRecord.ts"
import { keepAlive } from "../../../src/programs/sessions.ts"
import { makeWorlds, memoryLayers, testNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const op = `kv.set ${names.cluster}`
const lastMaster = { node: "node-2", address: "10.0.0.12", port: 6379, seenAt: "2026-12-03T06:00:00.000Z" }
const record = (w: Worlds) => JSON.parse(w.consul.kv.get(names.cluster)?.value ?? "null")
/** Another node writes the record just before this node's write lands. */
const racer = (w: Worlds, value: unknown) => () =>
  void w.consul.kv.set(names.cluster, { value: JSON.stringify(value), session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })

const markHeldData = Effect.gen(function*() {
  const w = makeWorlds()
  const n = yield* testNode(1)
  const run = updateClusterRecord((prev) => Effect.succeed(recordBackup(prev))).pipe(Effect.provide(memoryLayers(n, w)))
  return { w, run }
})

describe("updateClusterRecord", () => {
  it.effect("a missing record, and another node creates it first: this write starts over and keeps the other's change", () =>
    Effect.gen(function*() {
      const { w, run } = yield* markHeldData
      w.consul.meanwhile.set(op, racer(w, { heldData: false, lastMaster }))
      const written = yield* run
      assert.isTrue(Option.isSome(written))
      assert.deepStrictEqual(record(w), { heldData: true, lastMaster })
      assert.strictEqual(w.consul.calls.filter((c) => c === op).length, 2)
    }))

  it.effect("a present record changed between the read and the write: the same, from a fresh read", () =>
    Effect.gen(function*() {
      const { w, run } = yield* markHeldData
      w.consul.kv.set(names.cluster, { value: JSON.stringify({ heldData: false }), session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      w.consul.meanwhile.set(op, racer(w, { heldData: false, lastMaster }))
      yield* run
      assert.deepStrictEqual(record(w), { heldData: true, lastMaster })
    }))

  it.effect("three races lost in a row: gives up, writing nothing of its own", () =>
    Effect.gen(function*() {
      const { w, run } = yield* markHeldData
      const again = () => {
        racer(w, { heldData: false, lastMaster })()
        w.consul.meanwhile.set(op, again)
      }
      w.consul.meanwhile.set(op, again)
      assert.deepStrictEqual(yield* run, Option.none())
      assert.deepStrictEqual(record(w), { heldData: false, lastMaster })
      assert.strictEqual(w.consul.calls.filter((c) => c === op).length, 3)
    }))
})

describe("keepAlive", () => {
  it.effect("renews every interval; a session Consul no longer knows is lost; a renewal that fails is not (Consul may be back next time)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.sessions.set("s-1", { behavior: "release" })
      const n = yield* testNode(1)
      const lost = yield* keepAlive("s-1", Duration.seconds(1)).pipe(Effect.provide(memoryLayers(n, w)))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(w.consul.calls.filter((c) => c === "session.renew s-1").length, 3)
      w.consul.failing.set("session.renew s-1", "timeout")
      yield* TestClock.adjust("1 second")
      assert.isFalse(yield* Ref.get(lost))
      w.consul.failing.clear()
      w.consul.sessions.delete("s-1")
      yield* TestClock.adjust("1 second")
      assert.isTrue(yield* Ref.get(lost))
    }))
})
