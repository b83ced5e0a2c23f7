import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Layer } from "effect"
import { BackupStore } from "../../../src/layers/BackupStore.ts"
import { Settings } from "../../../src/layers/Settings.ts"
import { setupEnv } from "../../../src/programs/setupEnv.ts"
import { startMantaEmulator } from "../../support/manta/MantaEmulator.ts"
import { generateTestKey } from "../../support/manta/keys.ts"
import { platform } from "../../support/harness.ts"

/**
 * Reads an env file the way compose's env_file does: `#` lines are comments, an
 * unquoted value ends at " #" (whitespace then '#'), a '#' inside a value is kept.
 */
const composeEnv = (text: string): Record<string, string> =>
  Object.fromEntries(
    text.split("\n").filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#")).map((l) => {
      const eq = l.indexOf("=")
      const raw = l.slice(eq + 1)
      const comment = raw.search(/\s#/)
      return [l.slice(0, eq).trim(), (comment >= 0 ? raw.slice(0, comment) : raw).trim()]
    })
  )

const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")

const withDir = <A, E, R>(f: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "setup-env-"))),
    f,
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

describe("setup-env", () => {
  for (const type of ["rsa", "ed25519"] as const) {
    it.live(`round-trips a generated ${type} key: the written MANTA_PRIVATE_KEY signs requests the Manta emulator accepts`, () =>
      withDir((dir) =>
        Effect.gen(function*() {
          const key = generateTestKey(type)
          const keyFile = join(dir, "id")
          const envFile = join(dir, "_env")
          yield* Effect.promise(() => writeFile(keyFile, key.privateKey, { mode: 0o600 }))
          yield* Effect.promise(() => writeFile(envFile, "MANTA_USER=alice\n#MANTA_KEY_ID=\nLOG_LEVEL=debug\n"))
          const exit = yield* setupEnv(keyFile, envFile).pipe(Effect.provide(platform), Effect.exit)
          assert.isTrue(Exit.isSuccess(exit), failureOf(exit))

          const written = yield* Effect.promise(() => readFile(envFile, "utf8"))
          assert.strictEqual((yield* Effect.promise(() => stat(envFile))).mode & 0o777, 0o600)
          assert.match(written, /^MANTA_USER=alice$/m, "other lines are kept")
          assert.match(written, /^LOG_LEVEL=debug$/m)
          assert.notMatch(written, /^#MANTA_KEY_ID/m, "the commented-out line is replaced")
          const env = composeEnv(written)
          assert.strictEqual(env.MANTA_KEY_ID, key.fingerprintMd5)
          assert.notInclude(env.MANTA_PRIVATE_KEY ?? "", "\n")

          const manta = yield* Effect.acquireRelease(
            Effect.promise(() => startMantaEmulator({ accounts: [{ login: "alice", keys: [key.publicKeySsh] }] })),
            (m) => Effect.promise(() => m.close())
          )
          const settings = Settings.layerFrom({ ...env, MANTA_URL: manta.url, ANNOUNCE_IP: "10.0.0.1" })
          const listed = yield* BackupStore.use((store) => store.list).pipe(
            Effect.provide(BackupStore.layer.pipe(Layer.provide(Layer.mergeAll(settings, platform)))),
            Effect.exit
          )
          assert.isTrue(Exit.isSuccess(listed), failureOf(listed))
          assert.isTrue(manta.requests().length > 0 && manta.requests().every((r) => r.signed && r.status !== 403))
        }).pipe(Effect.scoped)))
  }

  it.live("an ssh-keygen ed25519 key in OpenSSH format is accepted", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const keyFile = join(dir, "id_ed25519")
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile])
        const exit = yield* setupEnv(keyFile, join(dir, "_env")).pipe(Effect.provide(platform), Effect.exit)
        assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
        const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "md5", "-f", keyFile], { encoding: "utf8" }).split(" ")[1]?.replace(/^MD5:/, "")
        assert.match(yield* Effect.promise(() => readFile(join(dir, "_env"), "utf8")), new RegExp(`^MANTA_KEY_ID=${fingerprint}$`, "m"))
      })))

  for (const [what, prepare, expected] of [
    ["a public key", (dir: string) => { execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "k")]); return join(dir, "k.pub") }, /this is a public key/],
    ["a passphrase-protected key", (dir: string) => { execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret phrase", "-f", join(dir, "k")]); return join(dir, "k") }, /protected by a passphrase/],
    ["a missing file", (dir: string) => join(dir, "nope"), /no such file/],
    ["garbage", (dir: string) => { execFileSync("sh", ["-c", `echo hello > ${join(dir, "g")}`]); return join(dir, "g") }, /not a private key/]
  ] as const) {
    it.live(`rejects ${what} with a clear message and writes nothing`, () =>
      withDir((dir) =>
        Effect.gen(function*() {
          const keyFile = prepare(dir)
          const exit = yield* setupEnv(keyFile, join(dir, "_env")).pipe(Effect.provide(platform), Effect.exit)
          assert.match(failureOf(exit), expected)
          const exists = yield* Effect.promise(() => stat(join(dir, "_env")).then(() => true, () => false))
          assert.isFalse(exists)
        })))
  }
})
