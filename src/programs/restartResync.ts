// pre-stop's and pre-start's halves of a partial resync after a graceful restart
// (RestartResync.ts, DESIGN.md §6): the stop has Redis save its dataset at shutdown and
// keeps that RDB as resync.rdb; the next start has Redis load it (a replica, with the
// AOF off) or makes it the AOF's base (a master), and removes one the AOF has
// outdated. The agent's half is agent/aof.ts.
import { Effect, FileSystem, Option, Path, Schedule } from "effect"
import { type Endpoint } from "../domain/Endpoint.ts"
import { type RenderStart } from "../domain/RedisConf.ts"
import { type FileStamp, rdbFile, resyncRdbFile, savedAtShutdown, startFrom } from "../domain/RestartResync.ts"
import { Timings } from "../domain/Timings.ts"
import { Redis } from "../layers/Redis.ts"
import { Settings } from "../layers/Settings.ts"
import { type FileError, fileError } from "./files.ts"
import { aofLastWrite, datasetFiles } from "./observeRole.ts"
import { aofBaseFile, aofManifest } from "./restore.ts"

const stampOf = (file: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    return yield* fs.stat(file).pipe(
      Effect.map((info) =>
        Option.all({ inode: info.ino, modifiedMs: Option.map(info.mtime, (d) => d.getTime()) }).pipe(Option.map((s): FileStamp => s))
      ),
      Effect.orElseSucceed(() => Option.none<FileStamp>())
    )
  })

/**
 * `SHUTDOWN SAVE`: Redis flushes the AOF, then saves the RDB through a temporary file
 * and a rename, and exits. Returns dump.rdb as it was before, for `keepForRestart`; None
 * when Redis refused the save (a full disk): it is then stopped without one, and the
 * next start copies the whole dataset. The save takes seconds per GiB, longer than a
 * command may: no answer in time means Redis is saving, and the caller waits for its
 * exit. Redis also refuses while it writes a first AOF (after a full sync, or the
 * agent's turning it on after a start from resync.rdb): that is waited for, once.
 * Bounded by the caller.
 */
export const shutdownSaving = (self: Endpoint) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const redis = yield* Redis
    const timings = yield* Timings
    const path = yield* Path.Path
    const before = yield* stampOf(path.join(settings.dataDir, rdbFile))
    const shutdown = redis.shutdown(self, { save: true }).pipe(
      Effect.catchIf((e) => e.reason === "timeout", () => Effect.log("pre-stop: Redis is saving its dataset before it exits"))
    )
    const writingAof = redis.persistence(self).pipe(
      Effect.map((p) => p.aof_rewrite_in_progress === 1 || p.aof_rewrite_scheduled === 1),
      Effect.orElseSucceed(() => false)
    )
    return yield* shutdown.pipe(
      Effect.catchIf((e) => e.reason === "refused", (e) =>
        Effect.gen(function*() {
          if (!(yield* writingAof)) return yield* e
          yield* Effect.log("pre-stop: Redis is writing its AOF and refuses to exit until it is written; waiting")
          yield* writingAof.pipe(Effect.repeat({ schedule: Schedule.spaced(timings.pollEvery), until: (writing) => !writing }))
          yield* shutdown
        })),
      Effect.as(Option.some(before)),
      Effect.catchIf((e) => e.reason === "refused", (e) =>
        Effect.logWarning(`pre-stop: SHUTDOWN SAVE refused (${e.detail}); shutting down without saving, so the next start copies the whole dataset`).pipe(
          Effect.andThen(redis.shutdown(self, { save: false })),
          Effect.as(Option.none<Option.Option<FileStamp>>())
        ))
    )
  })

/** Once Redis has exited: the RDB its shutdown saved becomes resync.rdb, out of a backup's way. */
export const keepForRestart = (before: Option.Option<FileStamp>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const saved = path.join(settings.dataDir, rdbFile)
    if (!savedAtShutdown(before, yield* stampOf(saved))) {
      return yield* Effect.logWarning(`pre-stop: no ${rdbFile} saved at shutdown, so the next start copies the whole dataset`)
    }
    yield* fs.rename(saved, path.join(settings.dataDir, resyncRdbFile)).pipe(Effect.mapError(fileError(saved, `rename to ${resyncRdbFile}`)))
    yield* Effect.log(`pre-stop: kept the dataset Redis saved at shutdown as ${resyncRdbFile}: the next start resyncs only what it missed`)
  })

/**
 * resync.rdb as the base of a new AOF, swapped in for the old one. resync.rdb goes
 * last: a start cut short before the swap finds it again (newer than any AOF, or with
 * none) and does this once more; after the swap the new AOF (its base a link to
 * resync.rdb) is the newer, and resync.rdb is discarded.
 */
const becomeAof = (dataDir: string, rdb: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const staging = path.join(dataDir, ".resync-start")
    const aofDir = path.join(staging, datasetFiles[0])
    const current = path.join(dataDir, datasetFiles[0])
    yield* fs.remove(staging, { recursive: true, force: true })
    yield* fs.makeDirectory(aofDir, { recursive: true })
    yield* fs.link(rdb, path.join(aofDir, aofBaseFile))
    yield* fs.writeFileString(path.join(aofDir, aofManifest.name), aofManifest.content)
    if (yield* fs.exists(current)) yield* fs.rename(current, path.join(staging, "replaced"))
    yield* fs.rename(aofDir, current)
    yield* fs.remove(rdb)
    yield* fs.remove(staging, { recursive: true, force: true })
  }).pipe(Effect.mapError(fileError(rdb, "make the AOF's base from")))

/**
 * An RDB save cut short (a shutdown that outlasted PRESTOP_TIMEOUT) leaves its
 * temporary file, the size of the dataset, under a name with the pid of a Redis that
 * is gone; Redis itself removes only its background children's. Redis is not running
 * while pre-start is.
 */
const removeUnfinishedSaves = (dataDir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = yield* fs.readDirectory(dataDir).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
    for (const name of names.filter((n) => /^temp-\d+\.rdb$/.test(n))) {
      yield* fs.remove(path.join(dataDir, name)).pipe(Effect.ignore)
      yield* Effect.log(`removed ${name}, an RDB save cut short`)
    }
  })

/** What Redis loads at this start, resync.rdb put in place or removed as RestartResync.ts decides. */
export const prepareStart = (asReplica: boolean): Effect.Effect<RenderStart, FileError, Settings | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* removeUnfinishedSaves(settings.dataDir)
    const rdb = path.join(settings.dataDir, resyncRdbFile)
    const written = yield* stampOf(rdb)
    const decision = startFrom({ asReplica, resyncRdb: Option.map(written, (s) => s.modifiedMs), aofLastWrite: yield* aofLastWrite(settings.dataDir) })
    switch (decision._tag) {
      case "Aof":
        if (decision.discard) {
          yield* fs.remove(rdb).pipe(Effect.mapError(fileError(rdb, "remove")))
          yield* Effect.log(`removed ${resyncRdbFile}: the AOF changed after it was saved, so the AOF is the newer dataset`)
        }
        return "aof"
      case "ResyncRdb": {
        // Redis loads dump.rdb with the AOF off (a backup's dump.rdb there is older).
        // resync.rdb stays until the agent has the AOF written: a start before that
        // finds it again, newer than the AOF, and does not load the old AOF.
        const loaded = path.join(settings.dataDir, rdbFile)
        yield* fs.remove(loaded, { force: true }).pipe(Effect.andThen(fs.link(rdb, loaded)), Effect.mapError(fileError(rdb, `link as ${rdbFile}`)))
        yield* Effect.log(`starting from the dataset saved at this node's last stop, with the AOF off: a replica started from it keeps its replication ID and resyncs only what it missed; the agent turns the AOF on once it caught up`)
        return "resync-rdb"
      }
      case "AofFromResyncRdb":
        yield* becomeAof(settings.dataDir, rdb)
        yield* Effect.log(`starting as master from the dataset saved at this node's last stop (${resyncRdbFile}), made the AOF's base`)
        return "aof"
    }
  })
