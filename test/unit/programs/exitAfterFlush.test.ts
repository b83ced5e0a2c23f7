// A process that exits right after a large write loses what the pipe could not take
// yet (64 KiB on Linux): `manage` cut its error line there. exitAfterFlush exits only
// once stdout and stderr are drained, also when the reader is slow.
import { spawn } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const helper = fileURLToPath(new URL("../../../src/programs/exitAfterFlush.ts", import.meta.url))

/** Runs a script that writes `bytes` to stderr and stdout, then exits with 3; the parent reads only after 300 ms. */
const run = (dir: string, bytes: number) =>
  Effect.promise(async () => {
    const script = join(dir, "probe.ts")
    await writeFile(
      script,
      [
        `import { exitAfterFlush } from ${JSON.stringify(helper)}`,
        `process.stderr.write("e".repeat(${bytes}))`,
        `process.stdout.write("o".repeat(${bytes}))`,
        "exitAfterFlush(3)"
      ].join("\n")
    )
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] })
    const counted = (stream: NodeJS.ReadableStream) =>
      new Promise<number>((resolve) => {
        let n = 0
        stream.pause()
        setTimeout(() => stream.on("data", (chunk: Buffer) => (n += chunk.length)).resume(), 300)
        stream.on("end", () => resolve(n))
      })
    const [err, out, code] = await Promise.all([
      counted(child.stderr),
      counted(child.stdout),
      new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)))
    ])
    return { err, out, code }
  })

describe("exitAfterFlush", () => {
  it.live("1 MiB on each stream reaches a slow reader in full before the exit code", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "flush-"))),
      (dir) =>
        Effect.gen(function*() {
          const { err, out, code } = yield* run(dir, 1 << 20)
          assert.strictEqual(code, 3)
          assert.strictEqual(err, 1 << 20)
          assert.strictEqual(out, 1 << 20)
        }),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    ))
})
