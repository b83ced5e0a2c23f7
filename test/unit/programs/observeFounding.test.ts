// What the founding rules see, attempt after attempt (observeFounding): the starting
// nodes' live announcements (stale, garbled and this node's own left out), every data
// holder seen during this start remembered even once it is gone, the cluster's past
// from its record or, only when the record does not settle it, from the backup store
// (asked once per start), and how long this node has watched.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { type Candidate } from "../../../src/domain/Founding.ts"
import { BackupStore, BackupStoreError, makeMemoryStore, none } from "../../../src/layers/BackupStore.ts"
import { makeWatch, observeFounding } from "../../../src/programs/observeFounding.ts"
import { makeWorlds, memoryLayers, redisAt, testNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const me: Candidate = { node: "node-1", endpoint: redisAt(1), data: { _tag: "Held", lastWrite: Option.some(5_000) } }

const announce = (w: Worlds, node: string, value: string, live = true) => {
  const session = live ? `s-${node}` : undefined
  if (session !== undefined) w.consul.sessions.set(session, { behavior: "delete" })
  w.consul.kv.set(`${names.starting}${node}`, { value, session, modifyIndex: w.consul.next(), lockIndex: session === undefined ? 0 : 1 })
}
const holder = (i: number, data = true) => JSON.stringify({ node: `node-${i}`, address: redisAt(i).host, port: 6379, data })

describe("observeFounding", () => {
  it.effect("announcements: only live ones of other nodes; data holders remembered for the rest of this start, once each", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      announce(w, "node-2", holder(2))
      announce(w, "node-3", holder(3, false))
      announce(w, "node-4", holder(4), false) // stale: its pre-start is over
      announce(w, "node-5", "garbage")
      announce(w, "node-1", holder(1)) // this node's own
      const n = yield* testNode(1)
      const watch = yield* makeWatch
      const look = observeFounding(watch, me, 0).pipe(Effect.provide(memoryLayers(n, w)))
      const first = yield* look
      assert.deepStrictEqual(first.others.map((c) => c.node).sort(), ["node-2", "node-3"])
      assert.deepStrictEqual(first.seenHolders.map((c) => c.node), ["node-2"])
      assert.deepStrictEqual(first.lastWrite, Option.some(5_000))
      yield* look
      w.consul.kv.delete(`${names.starting}node-2`)
      announce(w, "node-6", holder(6))
      const later = yield* look
      assert.deepStrictEqual(later.others.map((c) => c.node).sort(), ["node-3", "node-6"])
      assert.deepStrictEqual(later.seenHolders.map((c) => c.node), ["node-2", "node-6"], "node 2 is gone but was seen; nobody twice")
    }))

  it.effect("how long this node has watched, and the grace it has", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1, { FOUNDING_GRACE: "400ms" })
      const watch = yield* makeWatch
      yield* TestClock.adjust("3 seconds")
      const view = yield* observeFounding(watch, { ...me, data: { _tag: "Empty" } }, 1_000).pipe(Effect.provide(memoryLayers(n, w)))
      assert.deepStrictEqual([view.watchedMs, view.graceMs, view.lastWrite], [2_000, 400, Option.none()])
    }))

  it.effect("a record saying the cluster held data settles it: the store is not asked", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.kv.set(names.cluster, { value: JSON.stringify({ heldData: true }), session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      const n = yield* testNode(1)
      let listed = 0
      const memory = makeMemoryStore(w.objects, "local")
      const store = Layer.succeed(BackupStore, { ...memory, list: Effect.suspend(() => ((listed += 1), memory.list)) })
      const view = yield* observeFounding(yield* makeWatch, me, 0).pipe(Effect.provide(memoryLayers(n, w, store)))
      assert.strictEqual(view.history._tag, "HeldData")
      assert.strictEqual(listed, 0)
    }))

  it.effect("no record: the store is asked once per start; what it says decides the past", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      let listed = 0
      const memory = makeMemoryStore(w.objects, "local")
      const counting = Layer.succeed(BackupStore, { ...memory, list: Effect.suspend(() => ((listed += 1), memory.list)) })
      const watch = yield* makeWatch
      const look = observeFounding(watch, me, 0).pipe(Effect.provide(memoryLayers(n, w, counting)))
      assert.strictEqual((yield* look).history._tag, "NeverHeldData")
      w.objects.set("redis-20261124T190557Z-node-9.manifest.json", new TextEncoder().encode("{}"))
      assert.strictEqual((yield* look).history._tag, "NeverHeldData", "asked once: the first answer holds for this start")
      assert.strictEqual(listed, 1)

      const failing = Layer.succeed(BackupStore, {
        ...memory,
        list: Effect.fail(new BackupStoreError({ store: "memory", operation: "list", reason: "timeout", detail: "simulated" }))
      })
      const unreadable = yield* observeFounding(yield* makeWatch, me, 0).pipe(Effect.provide(memoryLayers(n, makeWorlds(), failing)))
      assert.deepStrictEqual(unreadable.history._tag, "HeldData", "a store that cannot be read: data is assumed")
      const noStore = yield* observeFounding(yield* makeWatch, me, 0).pipe(Effect.provide(memoryLayers(n, makeWorlds(), Layer.succeed(BackupStore, none))))
      assert.strictEqual(noStore.history._tag, "NeverHeldData")
      assert.include(noStore.history.evidence, "BACKUP_STORE is none")
    }))
})
