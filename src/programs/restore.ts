// Restores the recorded backup into an empty data directory (DESIGN.md §7). The
// download is verified against the manifest's sha256 and size before anything is
// decompressed, and the dataset is assembled in a staging directory and renamed into
// place only if the data directory is still empty: existing data is never touched.
// Redis 7 loads an RDB given as the base of a multi-part AOF, so no temporary server
// is needed to convert it.
import { Effect, FileSystem, Path, Schema, Stream } from "effect"
import { type Manifest } from "../domain/Backup.ts"
import { BackupStore } from "../layers/BackupStore.ts"
import { Settings } from "../layers/Settings.ts"
import { hasLocalData } from "./observeRole.ts"
import { digesting, gunzip } from "./streams.ts"

export class RestoreFailed extends Schema.TaggedError<RestoreFailed>()("RestoreFailed", {
  backup: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `restore of ${this.backup} failed, the data directory is untouched: ${this.reason}`
  }
}

/** A multi-part AOF whose base is an RDB: Redis 7 loads it as it loads its own. */
export const aofBaseFile = "appendonly.aof.1.base.rdb"
export const aofManifest = { name: "appendonly.aof.manifest", content: `file ${aofBaseFile} seq 1 type b\n` } as const
const rdbMagic = "REDIS"

export const restore = (manifest: Manifest): Effect.Effect<void, RestoreFailed, Settings | BackupStore | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const store = yield* BackupStore
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const failed = (reason: string) => new RestoreFailed({ backup: manifest.id, reason })

    if (store.kind !== manifest.store) {
      return yield* failed(`the backup is in the ${manifest.store} store but BACKUP_STORE is ${store.kind}`)
    }
    const staging = path.join(settings.dataDir, `.restore-${process.pid}`)
    const download = path.join(staging, "backup.rdb.gz")
    const aofDir = path.join(staging, "appendonlydir")

    const run = Effect.gen(function*() {
      yield* fs.makeDirectory(aofDir, { recursive: true })
      yield* Effect.log(`restoring ${manifest.id} (${manifest.bytes} bytes) from ${store.kind} ${manifest.path}`)

      const measured = digesting(store.get(path.basename(manifest.path)))
      yield* Stream.run(measured.stream, fs.sink(download))
      const got = yield* measured.digest
      if (got.sha256 !== manifest.sha256 || got.bytes !== manifest.bytes) {
        return yield* failed(
          `checksum mismatch: the manifest records sha256 ${manifest.sha256} (${manifest.bytes} bytes), the download has ${got.sha256} (${got.bytes} bytes)`
        )
      }

      const rdb = path.join(aofDir, aofBaseFile)
      yield* Stream.run(gunzip(fs.stream(download), (cause) => failed(`not a gzip stream: ${String(cause)}`)), fs.sink(rdb))
      const head = yield* fs.stream(rdb, { bytesToRead: rdbMagic.length }).pipe(Stream.decodeText(), Stream.mkString)
      if (head !== rdbMagic) return yield* failed("the decompressed backup is not an RDB file")
      yield* fs.writeFileString(path.join(aofDir, aofManifest.name), aofManifest.content)

      if (yield* hasLocalData(settings.dataDir)) {
        return yield* failed("a dataset appeared in the data directory during the restore")
      }
      yield* fs.rename(aofDir, path.join(settings.dataDir, "appendonlydir"))
      yield* Effect.log(`restored ${manifest.id}: sha256 verified`)
    })

    yield* run.pipe(
      Effect.mapError((e) => (e instanceof RestoreFailed ? e : failed(e.message))),
      Effect.ensuring(fs.remove(staging, { recursive: true, force: true }).pipe(Effect.ignore))
    )
  })
