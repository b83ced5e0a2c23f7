// restore() on its own: what it refuses before downloading anything, and that a
// dataset appearing in the data directory while the backup downloads is never
// overwritten. The verified happy path and corrupt backups are in preStart.test.ts.
import { assert, describe, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { Effect, Exit, Layer, Stream } from "effect"
import { type Manifest } from "../../../src/domain/Backup.ts"
import { BackupStore, makeMemoryStore } from "../../../src/layers/BackupStore.ts"
import { Settings } from "../../../src/layers/Settings.ts"
import { restore } from "../../../src/programs/restore.ts"
import { manifestOf, platform, testNode, type TestNode } from "../../support/harness.ts"

const rdb = Buffer.from("REDIS0010\xfa\tredis-ver\x067.0.15\xff", "latin1")
const gz = gzipSync(rdb)
const manifest = manifestOf(gz)

const run = (n: TestNode, store: Layer.Layer<BackupStore>, m: Manifest = manifest) =>
  restore(m).pipe(Effect.provide(Layer.mergeAll(store, Settings.layerFrom(n.env), platform)), Effect.exit)
const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")

describe("restore", () => {
  it.live("the backup is in another kind of store than BACKUP_STORE: refused before any download", () =>
    Effect.gen(function*() {
      const n = yield* testNode(1)
      const objects = new Map([["redis-20261124T190557Z-node-9.rdb.gz", new Uint8Array(gz)]])
      const exit = yield* run(n, Layer.succeed(BackupStore, makeMemoryStore(objects, "local")), { ...manifest, store: "manta" })
      assert.include(failureOf(exit), "the backup is in the manta store but BACKUP_STORE is local")
      assert.isFalse(existsSync(n.env.DATA_DIR ?? ""), "nothing was created")
    }))

  it.live("a dataset appears in the data directory while the backup downloads: it is kept, the restore fails, no staging left", () =>
    Effect.gen(function*() {
      const n = yield* testNode(1)
      const dataDir = n.env.DATA_DIR ?? ""
      const memory = makeMemoryStore(new Map([["redis-20261124T190557Z-node-9.rdb.gz", new Uint8Array(gz)]]), "local")
      // Redis (started by hand, or a second pre-start) writes its own dump.rdb meanwhile.
      const store = Layer.succeed(BackupStore, {
        ...memory,
        get: (name) => Stream.concat(Stream.fromEffect(Effect.promise(() => writeFile(join(dataDir, "dump.rdb"), "REDIS0010 theirs"))).pipe(Stream.drain), memory.get(name))
      })
      yield* Effect.promise(() => mkdir(dataDir, { recursive: true }))
      const exit = yield* run(n, store)
      assert.include(failureOf(exit), "a dataset appeared in the data directory during the restore")
      assert.deepStrictEqual(readdirSync(dataDir), ["dump.rdb"])
      assert.strictEqual(readFileSync(join(dataDir, "dump.rdb"), "latin1"), "REDIS0010 theirs")
    }))

  it.live("an empty data directory: the RDB becomes the AOF base, with its manifest, and nothing else is left", () =>
    Effect.gen(function*() {
      const n = yield* testNode(1)
      const dataDir = n.env.DATA_DIR ?? ""
      yield* Effect.promise(() => mkdir(dataDir, { recursive: true }))
      const exit = yield* run(n, Layer.succeed(BackupStore, makeMemoryStore(new Map([["redis-20261124T190557Z-node-9.rdb.gz", new Uint8Array(gz)]]), "local")))
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(readdirSync(dataDir), ["appendonlydir"])
      assert.deepStrictEqual(readdirSync(join(dataDir, "appendonlydir")).sort(), ["appendonly.aof.1.base.rdb", "appendonly.aof.manifest"])
      assert.deepStrictEqual(readFileSync(join(dataDir, "appendonlydir", "appendonly.aof.1.base.rdb")), rdb)
      assert.strictEqual(readFileSync(join(dataDir, "appendonlydir", "appendonly.aof.manifest"), "utf8"), "file appendonly.aof.1.base.rdb seq 1 type b\n")
    }))
})
