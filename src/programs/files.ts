// Small file operations the handlers share: atomic writes (a reader, Redis or
// Sentinel, never sees half a file), optional reads, and a tagged error that names the
// file for the operator. Bounded reads of operator-named files are SmallFile.ts's.
import { Effect, FileSystem, Option, Schema } from "effect"
import { PlatformError } from "effect/PlatformError"

export class FileError extends Schema.TaggedError<FileError>()("FileError", {
  path: Schema.String,
  operation: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} ${this.path}: ${this.detail}`
  }
}

export const fileError = (path: string, operation: string) => (e: PlatformError): FileError =>
  new FileError({ path, operation, detail: e.message })

/**
 * Writes through a temporary file and a rename; `mode` applies before the file is
 * visible. The temporary name is created exclusively (a stale one from a crashed run
 * is removed first), so a symlink planted there is never followed.
 */
export const writeAtomic = (path: string, content: string, mode: number): Effect.Effect<void, FileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const partial = `${path}.partial-${process.pid}`
    yield* fs.remove(partial, { force: true })
    yield* fs.writeFileString(partial, content, { mode, flag: "wx" })
    yield* fs.chmod(partial, mode)
    yield* fs.rename(partial, path)
  }).pipe(
    Effect.catchIf((e): e is PlatformError => e instanceof PlatformError, (e) => Effect.fail(fileError(path, "write")(e)))
  )

/** The file's text, or None when it does not exist. */
export const readOptional = (path: string): Effect.Effect<Option.Option<string>, FileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    return yield* fs.readFileString(path).pipe(
      Effect.map(Option.some),
      Effect.catch((e) => (e.reason._tag === "NotFound" ? Effect.succeed(Option.none()) : Effect.fail(fileError(path, "read")(e))))
    )
  })

export const removeIfPresent = (path: string): Effect.Effect<void, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* fs.remove(path, { force: true }).pipe(Effect.ignore)
  })
