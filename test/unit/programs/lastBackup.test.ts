// Which backup a new cluster would restore (latestBackup): Consul's record first; the
// store's newest manifest only when Consul has none; anything unreadable is no backup.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { type Manifest } from "../../../src/domain/Backup.ts"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { BackupStore, none } from "../../../src/layers/BackupStore.ts"
import { latestBackup } from "../../../src/programs/lastBackup.ts"
import { makeWorlds, memoryLayers, testNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const manifest = (id: string): Manifest => ({
  id,
  createdAt: "2026-12-03T05:00:00.000Z",
  node: "node-2",
  bytes: 10,
  sha256: "e".repeat(64),
  store: "local",
  path: `/backups/${id}.rdb.gz`,
  redisVersion: "7.0.15"
})
const record = (w: Worlds, value: string | null) => w.consul.kv.set(names.lastBackup, { value, session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
const stored = (w: Worlds, id: string, text = JSON.stringify(manifest(id))) => w.objects.set(`${id}.manifest.json`, new TextEncoder().encode(text))

const latest = (w: Worlds, store?: Layer.Layer<BackupStore>) =>
  Effect.gen(function*() {
    const n = yield* testNode(1)
    return yield* latestBackup.pipe(Effect.provide(memoryLayers(n, w, store)))
  })

describe("latestBackup", () => {
  it.live("Consul's record wins over a newer manifest in the store", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      record(w, JSON.stringify(manifest("redis-20261203T050000000Z-node-2")))
      stored(w, "redis-20261203T060000000Z-node-3")
      assert.deepStrictEqual(yield* latest(w), Option.some(manifest("redis-20261203T050000000Z-node-2")))
    }))

  it.live("no record in Consul: the store's newest manifest of this service", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      stored(w, "redis-20261203T050000000Z-node-2")
      stored(w, "redis-20261203T060000000Z-node-3")
      stored(w, "cache-20261203T070000000Z-node-3")
      assert.deepStrictEqual(yield* latest(w), Option.some(manifest("redis-20261203T060000000Z-node-3")))
    }))

  it.live("unreadable anywhere is no backup: a record that is no manifest, an empty record, a stored manifest that is garbage, no store", () =>
    Effect.gen(function*() {
      const garbled = makeWorlds()
      record(garbled, "{\"id\": 1}")
      assert.deepStrictEqual(yield* latest(garbled), Option.none())
      const empty = makeWorlds()
      record(empty, null)
      stored(empty, "redis-20261203T050000000Z-node-2")
      assert.deepStrictEqual(yield* latest(empty), Option.some(manifest("redis-20261203T050000000Z-node-2")), "an empty record is no record")
      const badFile = makeWorlds()
      stored(badFile, "redis-20261203T050000000Z-node-2", "not json")
      assert.deepStrictEqual(yield* latest(badFile), Option.none())
      const noStore = makeWorlds()
      stored(noStore, "redis-20261203T050000000Z-node-2")
      assert.deepStrictEqual(yield* latest(noStore, Layer.succeed(BackupStore, none)), Option.none())
    }))
})
