// The BackupStore service: where backup objects live (DESIGN.md §7). `put` is atomic:
// an object becomes visible under its name only once complete, so a failed or killed
// upload never leaves a half-written backup. Objects are streamed both ways; nothing
// holds a whole backup in memory. The Manta store is loaded only when configured,
// so handlers that never touch backups do not pay for its client.
import { Context, Effect, FileSystem, Layer, Option, Path, Schema, Stream } from "effect"
import { PlatformError } from "effect/PlatformError"
import { Settings } from "./Settings.ts"
import { silenceUrlParseDeprecation } from "./UrlParseWarning.ts"

export class BackupStoreError extends Schema.TaggedError<BackupStoreError>()("BackupStoreError", {
  store: Schema.String,
  operation: Schema.String,
  reason: Schema.Literals(["unreachable", "timeout", "rejected", "not-found", "unexpected-reply", "not-configured"]),
  detail: Schema.String
}) {
  get retryable(): boolean {
    return this.reason === "unreachable" || this.reason === "timeout"
  }
  override get message(): string {
    return `backup store ${this.store} ${this.operation}: ${this.reason} (${this.detail})`
  }
}

export interface StoredObject {
  readonly name: string
  readonly bytes: number
}

export interface BackupStoreShape {
  readonly kind: "manta" | "local" | "none"
  /** Where an object lives, as recorded in the manifest (a path in the store). */
  readonly location: (name: string) => string
  /** Streams `content` into `name`; visible only once complete. */
  readonly put: <E>(name: string, content: Stream.Stream<Uint8Array, E>) => Effect.Effect<StoredObject, BackupStoreError | E>
  readonly get: (name: string) => Stream.Stream<Uint8Array, BackupStoreError>
  readonly stat: (name: string) => Effect.Effect<Option.Option<StoredObject>, BackupStoreError>
  readonly list: Effect.Effect<ReadonlyArray<StoredObject>, BackupStoreError>
  readonly remove: (name: string) => Effect.Effect<void, BackupStoreError>
}

export class BackupStore extends Context.Service<BackupStore, BackupStoreShape>()("autopilot-redis/BackupStore") {
  static readonly layer: Layer.Layer<BackupStore, BackupStoreError, Settings | FileSystem.FileSystem | Path.Path> = Layer.effect(
    BackupStore,
    Effect.gen(function*() {
      const { backup } = yield* Settings
      switch (backup.target._tag) {
        case "none":
          return none
        case "local":
          return yield* makeLocalStore(backup.target.dir)
        case "manta": {
          const target = backup.target
          silenceUrlParseDeprecation()
          const { makeMantaStore } = yield* Effect.promise(() => import("./MantaStore.ts"))
          return yield* makeMantaStore(target, backup.stallTimeout)
        }
      }
    })
  )

  /** In memory; `objects` is shared with the test for assertions and corruption. */
  static readonly layerTest = (objects: Map<string, Uint8Array>, kind: "local" | "manta" = "local"): Layer.Layer<BackupStore> =>
    Layer.succeed(BackupStore, makeMemoryStore(objects, kind))
}

export const makeMemoryStore = (objects: Map<string, Uint8Array>, kind: "local" | "manta"): BackupStoreShape => ({
  kind,
  location: (name) => `/memory/${name}`,
  put: (name, content) =>
    Stream.runCollect(content).pipe(
      Effect.map((chunks) => {
        const bytes = Buffer.concat([...chunks])
        objects.set(name, bytes)
        return { name, bytes: bytes.byteLength }
      })
    ),
  get: (name) => {
    const bytes = objects.get(name)
    return bytes === undefined
      ? Stream.fail(new BackupStoreError({ store: "memory", operation: `get ${name}`, reason: "not-found", detail: "no such object" }))
      : Stream.make(bytes)
  },
  stat: (name) => Effect.sync(() => Option.map(Option.fromUndefinedOr(objects.get(name)), (b) => ({ name, bytes: b.byteLength }))),
  list: Effect.sync(() => [...objects].map(([name, b]) => ({ name, bytes: b.byteLength }))),
  remove: (name) => Effect.sync(() => void objects.delete(name))
})

const notConfigured = (operation: string) =>
  new BackupStoreError({ store: "none", operation, reason: "not-configured", detail: "BACKUP_STORE=none" })

export const none: BackupStoreShape = {
  kind: "none",
  location: (name) => name,
  put: (name) => Effect.fail(notConfigured(`put ${name}`)),
  get: (name) => Stream.fail(notConfigured(`get ${name}`)),
  stat: () => Effect.succeed(Option.none()),
  list: Effect.succeed([]),
  remove: (name) => Effect.fail(notConfigured(`remove ${name}`))
}

/** Only plain names: an object name never reaches outside the store's directory. */
const plainName = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

/**
 * A directory, e.g. a volume shared by all nodes. Writes go to a hidden partial file
 * that is fsynced and renamed into place.
 */
export const makeLocalStore = (dir: string): Effect.Effect<BackupStoreShape, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const store = `local ${dir}`
    const failed = (operation: string) => (e: PlatformError): BackupStoreError =>
      new BackupStoreError({ store, operation, reason: e.reason._tag === "NotFound" ? "not-found" : "rejected", detail: e.message })
    const file = (operation: string, name: string): Effect.Effect<string, BackupStoreError> =>
      plainName.test(name)
        ? Effect.succeed(path.join(dir, name))
        : Effect.fail(new BackupStoreError({ store, operation, reason: "rejected", detail: `invalid object name ${JSON.stringify(name)}` }))

    const stat = (name: string): Effect.Effect<Option.Option<StoredObject>, BackupStoreError> =>
      file(`stat ${name}`, name).pipe(
        Effect.flatMap((p) =>
          fs.stat(p).pipe(
            Effect.map((info): Option.Option<StoredObject> => Option.some({ name, bytes: Number(info.size) })),
            Effect.catch((e) => (e.reason._tag === "NotFound" ? Effect.succeed(Option.none()) : Effect.fail(failed(`stat ${name}`)(e))))
          )
        )
      )

    const put = <E>(name: string, content: Stream.Stream<Uint8Array, E>): Effect.Effect<StoredObject, BackupStoreError | E> =>
      Effect.gen(function*() {
        const target = yield* file(`put ${name}`, name)
        const partial = path.join(dir, `.${name}.partial-${process.pid}`)
        const write = Effect.gen(function*() {
          yield* fs.makeDirectory(dir, { recursive: true })
          yield* Stream.run(content, fs.sink(partial))
          const handle = yield* fs.open(partial, { flag: "r+" })
          yield* handle.sync
          yield* fs.rename(partial, target)
        }).pipe(
          Effect.scoped,
          Effect.catchIf((e): e is PlatformError => e instanceof PlatformError, (e) => Effect.fail(failed(`put ${name}`)(e))),
          Effect.onError(() => fs.remove(partial).pipe(Effect.ignore))
        )
        yield* write
        const stored = yield* stat(name)
        return Option.getOrElse(stored, () => ({ name, bytes: 0 }))
      })

    const list: Effect.Effect<ReadonlyArray<StoredObject>, BackupStoreError> = fs.readDirectory(dir).pipe(
      Effect.catch((e) => (e.reason._tag === "NotFound" ? Effect.succeed<ReadonlyArray<string>>([]) : Effect.fail(failed("list")(e)))),
      Effect.flatMap((names) => Effect.forEach(names.filter((n) => plainName.test(n)), stat, { concurrency: 4 })),
      Effect.map((stats) => stats.flatMap((o) => Option.toArray(o)))
    )

    return {
      kind: "local",
      location: (name) => path.join(dir, name),
      put,
      get: (name) =>
        Stream.unwrap(file(`get ${name}`, name).pipe(Effect.map((p) => fs.stream(p).pipe(Stream.mapError(failed(`get ${name}`)))))),
      stat,
      list,
      remove: (name) =>
        file(`remove ${name}`, name).pipe(Effect.flatMap((p) => fs.remove(p).pipe(Effect.mapError(failed(`remove ${name}`)))))
    } satisfies BackupStoreShape
  })
