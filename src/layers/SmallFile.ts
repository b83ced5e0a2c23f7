// Bounded reads of files an operator names (a private key for setup-env, an env file,
// a secret's `<NAME>_FILE` for the Settings layer): such a path may name a directory,
// a FIFO, a device or a /proc file, and none of them may hang the run or act. Here,
// not in programs/, because the Settings layer reads secrets with it too. Reasons
// name neither the path nor the content: a path can be a secret on the wrong line.
import { constants } from "node:fs"
import { open as openFile } from "node:fs/promises"
import { Effect, FileSystem, Schema } from "effect"

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
  /** Names neither the path nor any content, so callers that must not show the path can show this. */
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The system's error code (ENOTDIR, ELOOP, …): a platform error's message would quote the path. */
const codeOf = (e: unknown): string => (e instanceof Error && "code" in e ? String(e.code) : "error")

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
      Effect.mapError((e) =>
        refused(e.reason._tag === "NotFound" ? "no such file" : e.reason._tag === "PermissionDenied" ? "permission denied" : `cannot be examined (${codeOf(e.reason.cause)})`)
      )
    )
    if (info.type !== "File") return yield* refused(`is ${describeFileType(info.type)}, not a regular file`)
    if (Number(info.size) > maxBytes) return yield* refused(`is larger than ${maxBytes} bytes`)
    const failed = (what: string) => (e: unknown) => refused(`cannot be ${what} (${codeOf(e)})`)
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
