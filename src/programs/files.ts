// Small file operations the handlers share: atomic writes (a reader, Redis or
// Sentinel, never sees half a file), optional reads, bounded reads of files that must
// be small regular files, and a tagged error that names the file for the operator.
import { constants } from "node:fs"
import { open as openFile } from "node:fs/promises"
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

const kinds: Readonly<Record<FileSystem.File.Type, string>> = {
  File: "a regular file",
  Directory: "a directory",
  SymbolicLink: "a symbolic link",
  BlockDevice: "a block device",
  CharacterDevice: "a character device",
  FIFO: "a FIFO (named pipe)",
  Socket: "a socket",
  Unknown: "not a regular file"
}

/** "a FIFO (named pipe)", "a character device", …: what a non-regular file is, for messages. */
export const describeFileType = (type: FileSystem.File.Type): string => kinds[type]

/** Why a file that must be small, regular and UTF-8 could not be read as one. */
export class NotASmallFile extends Schema.TaggedError<NotASmallFile>()("NotASmallFile", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * The text of a regular file of at most `maxBytes`, read without ever blocking on or
 * touching anything else. The type is checked before opening (opening a device can
 * act: a watchdog starts, a tape rewinds), the open is non-blocking (a FIFO swapped in
 * meanwhile does not wait for a writer; a blocked open would hold the process even
 * past exit) and re-checked on the descriptor, and at most `maxBytes + 1` bytes are
 * read (a file that reports size 0 and never ends, like /proc files, stays bounded).
 */
export const readSmallFile = (path: string, maxBytes: number): Effect.Effect<string, NotASmallFile, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const refused = (reason: string) => new NotASmallFile({ path, reason })
    const info = yield* fs.stat(path).pipe(
      Effect.mapError((e) => refused(e.reason._tag === "NotFound" ? "no such file" : e.reason._tag === "PermissionDenied" ? "permission denied" : e.message))
    )
    if (info.type !== "File") return yield* refused(`is ${describeFileType(info.type)}, not a regular file`)
    if (Number(info.size) > maxBytes) return yield* refused(`is larger than ${maxBytes} bytes`)
    const failed = (what: string) => (e: unknown) => refused(`cannot be ${what} (${e instanceof Error && "code" in e ? String(e.code) : "error"})`)
    const bytes = yield* Effect.acquireUseRelease(
      Effect.tryPromise({ try: () => openFile(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY), catch: failed("opened") }),
      (handle) =>
        Effect.gen(function*() {
          const opened = yield* Effect.tryPromise({ try: () => handle.stat(), catch: failed("read") })
          if (!opened.isFile()) return yield* refused("changed into something other than a regular file while being opened")
          const buffer = Buffer.alloc(maxBytes + 1)
          let filled = 0
          while (filled < buffer.length) {
            const { bytesRead } = yield* Effect.tryPromise({ try: () => handle.read(buffer, filled, buffer.length - filled, null), catch: failed("read") })
            if (bytesRead === 0) break
            filled += bytesRead
          }
          return buffer.subarray(0, filled)
        }),
      (handle) => Effect.promise(() => handle.close())
    )
    if (bytes.length > maxBytes) return yield* refused(`is larger than ${maxBytes} bytes`)
    return yield* Effect.try({ try: () => utf8.decode(bytes), catch: () => refused("is not UTF-8 text") })
  })
