// Reading and writing the node's own small files: an atomic write that never follows a
// planted link and leaves no partial file, an optional read, and a read of a small
// regular UTF-8 file that refuses anything else with a reason (the private key's path
// is operator input: a directory, a FIFO, /proc or /dev must never hang or act).
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Exit, Option } from "effect"
import { readSmallFile } from "../../../src/layers/SmallFile.ts"
import { readOptional, removeIfPresent, writeAtomic } from "../../../src/programs/files.ts"
import { platform, testNode } from "../../support/harness.ts"

const inDir = Effect.map(testNode(1), (n) => n.dir)
const reason = <A, E>(exit: Exit.Exit<A, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")

describe("writeAtomic", () => {
  it.live("writes with the mode already set, leaves no partial file, and replaces a link planted at the partial name instead of following it", () =>
    Effect.gen(function*() {
      const dir = yield* inDir
      const target = join(dir, "sentinel.conf")
      const elsewhere = join(dir, "elsewhere")
      yield* Effect.promise(async () => {
        await writeFile(elsewhere, "untouched")
        await symlink(elsewhere, `${target}.partial-${process.pid}`)
      })
      yield* writeAtomic(target, "port 26379\n", 0o600).pipe(Effect.provide(platform))
      const [content, mode, other, files] = yield* Effect.promise(() =>
        Promise.all([readFile(target, "utf8"), stat(target).then((s) => s.mode & 0o777), readFile(elsewhere, "utf8"), readdir(dir)])
      )
      assert.deepStrictEqual([content, mode, other], ["port 26379\n", 0o600, "untouched"])
      assert.deepStrictEqual(files.sort(), ["elsewhere", "sentinel.conf"])
    }))

  it.live("a directory that cannot be written: fails naming the file", () =>
    Effect.gen(function*() {
      const dir = yield* inDir
      const exit = yield* writeAtomic(join(dir, "missing", "x.conf"), "x", 0o600).pipe(Effect.provide(platform), Effect.exit)
      assert.include(reason(exit), `write ${join(dir, "missing", "x.conf")}`)
    }))
})

describe("readOptional and removeIfPresent", () => {
  it.live("a missing file is None, a present one its text; anything else unreadable fails; removing twice is fine", () =>
    Effect.gen(function*() {
      const dir = yield* inDir
      const file = join(dir, "bootstrap-session")
      const read = readOptional(file).pipe(Effect.provide(platform))
      assert.deepStrictEqual(yield* read, Option.none())
      yield* Effect.promise(() => writeFile(file, "s-1\n"))
      assert.deepStrictEqual(yield* read, Option.some("s-1\n"))
      const asDir = yield* readOptional(dir).pipe(Effect.provide(platform), Effect.exit)
      assert.include(reason(asDir), `read ${dir}`)
      yield* removeIfPresent(file).pipe(Effect.provide(platform))
      yield* removeIfPresent(file).pipe(Effect.provide(platform))
      assert.deepStrictEqual(yield* read, Option.none())
    }))
})

describe("readSmallFile", () => {
  const readIt = (path: string, max = 16) => readSmallFile(path, max).pipe(Effect.provide(platform), Effect.exit)

  it.live("a small regular UTF-8 file: its text, up to exactly the limit", () =>
    Effect.gen(function*() {
      const dir = yield* inDir
      const file = join(dir, "key")
      yield* Effect.promise(() => writeFile(file, "x".repeat(16)))
      assert.deepStrictEqual(yield* readIt(file), Exit.succeed("x".repeat(16)))
    }))

  it.live("refused, each with its reason: missing, a directory, a FIFO (without waiting for a writer), one byte over the limit, not UTF-8, an endless /proc file", () =>
    Effect.gen(function*() {
      const dir = yield* inDir
      const fifo = join(dir, "fifo")
      yield* Effect.promise(async () => {
        await writeFile(join(dir, "big"), "x".repeat(17))
        await writeFile(join(dir, "latin1"), Buffer.from([0x6b, 0xe9, 0x79]))
        await mkdir(join(dir, "sub"))
      })
      execFileSync("mkfifo", [fifo])
      for (const [path, expected] of [
        [join(dir, "nope"), "no such file"],
        [join(dir, "sub"), "is a directory, not a regular file"],
        [fifo, "is a FIFO (named pipe), not a regular file"],
        [join(dir, "big"), "is larger than 16 bytes"],
        [join(dir, "latin1"), "is not UTF-8 text"],
        ["/dev/null", "is a character device, not a regular file"]
      ] as const) {
        const exit = yield* readIt(path)
        assert.include(reason(exit), `${path}: ${expected}`, path)
      }
      assert.include(reason(yield* readIt("/proc/self/status", 64)), "is larger than 64 bytes", "a file that reports size 0 is still bounded")
    }))
})
