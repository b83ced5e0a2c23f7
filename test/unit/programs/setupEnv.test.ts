// `manage setup-env` as a program: the key round-trips into an `_env` compose reads and
// the Manta emulator accepts; weak, unsupported and mixed key files are refused;
// exactly one line sets each variable afterwards; a file that never answers ends at
// the deadline. The refusals of devices, FIFOs and symlinks run against the built
// `manage` in test/unit/manage-input.test.ts.
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { generateKeyPairSync } from "node:crypto"
import { lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Effect, Exit, Fiber, FileSystem, Layer } from "effect"
import { TestClock } from "effect/testing"
import { setEnvVariable } from "../../../src/domain/MantaKey.ts"
import { Timings } from "../../../src/domain/Timings.ts"
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

describe("setup-env refuses keys Manta should not be signed with", () => {
  const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } }).privateKey
  const dsa = generateKeyPairSync("dsa", { modulusLength: 2048, divisorLength: 256, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } }).privateKey
  const ed = generateTestKey("ed25519").privateKey
  const rsa = generateTestKey("rsa").privateKey
  for (const [what, text, expected] of [
    ["an RSA key of 1024 bits", rsa1024, /an RSA key of 1024 bits is too weak \(at least 2048\)/],
    ["a DSA key", dsa, /a DSA key is too weak/],
    ["a file with two keys", `${ed}\n${rsa}`, /holds more than one key/],
    ["a key followed by other text", `${ed}\nextra`, /not a private key in PEM or OpenSSH format/]
  ] as const) {
    it.live(`refuses ${what}, writes nothing, exit code 2`, () =>
      withDir((dir) =>
        Effect.gen(function*() {
          yield* Effect.promise(() => writeFile(join(dir, "id"), text, { mode: 0o600 }))
          const exit = yield* setupEnv(join(dir, "id"), join(dir, "_env")).pipe(Effect.provide(platform), Effect.exit)
          assert.match(failureOf(exit), expected)
          assert.match(failureOf(exit), /KeyRejected/)
          assert.isFalse(yield* Effect.promise(() => stat(join(dir, "_env")).then(() => true, () => false)))
        })))
  }
})

describe("setup-env leaves exactly one line setting each variable", () => {
  const settingLines = (text: string, name: string) => text.split("\n").filter((l) => new RegExp(`^\\s*#?\\s*(export\\s+)?${name}\\s*=`).test(l))

  it("a commented line before an uncommented one: the uncommented one is replaced, the commented one dropped", () => {
    const before = "#MANTA_PRIVATE_KEY=old-commented\nLOG_LEVEL=debug\nMANTA_PRIVATE_KEY=old-live\n# MANTA_PRIVATE_KEY is written by setup-env\n"
    const after = setEnvVariable(before, "MANTA_PRIVATE_KEY", "new")
    assert.strictEqual(after, "LOG_LEVEL=debug\nMANTA_PRIVATE_KEY=new\n# MANTA_PRIVATE_KEY is written by setup-env\n")
  })

  it("export forms, spaces around '=' and repeats all count as settings", () => {
    const after = setEnvVariable("export MANTA_KEY_ID=a\nMANTA_KEY_ID = b\nMANTA_KEY_IDX=c\n", "MANTA_KEY_ID", "new")
    assert.deepStrictEqual(settingLines(after, "MANTA_KEY_ID"), ["MANTA_KEY_ID=new"])
    assert.include(after, "MANTA_KEY_IDX=c")
  })

  it.live("through the program: compose sees the new key, and no older line survives", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const key = generateTestKey("ed25519")
        yield* Effect.promise(() => writeFile(join(dir, "id"), key.privateKey, { mode: 0o600 }))
        const old = "#MANTA_KEY_ID=00:11\n#MANTA_PRIVATE_KEY=-----BEGIN OLD#x\nMANTA_USER=alice\nMANTA_KEY_ID=aa:bb\nMANTA_PRIVATE_KEY=-----BEGIN OLD-LIVE#y\n"
        yield* Effect.promise(() => writeFile(join(dir, "_env"), old))
        const exit = yield* setupEnv(join(dir, "id"), join(dir, "_env")).pipe(Effect.provide(platform), Effect.exit)
        assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
        const written = yield* Effect.promise(() => readFile(join(dir, "_env"), "utf8"))
        assert.lengthOf(settingLines(written, "MANTA_KEY_ID"), 1)
        assert.lengthOf(settingLines(written, "MANTA_PRIVATE_KEY"), 1)
        assert.strictEqual(composeEnv(written).MANTA_KEY_ID, key.fingerprintMd5)
        assert.notInclude(written, "OLD")
      })))
})

describe("setup-env writes through a symlink only when told to", () => {
  it.live("--follow-symlinks writes the target and keeps the link", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "id")])
        yield* Effect.promise(() => writeFile(join(dir, "real.env"), "A=1\n"))
        yield* Effect.promise(() => symlink(join(dir, "real.env"), join(dir, "_env")))
        const refused = yield* setupEnv(join(dir, "id"), join(dir, "_env")).pipe(Effect.provide(platform), Effect.exit)
        assert.match(failureOf(refused), /is a symbolic link; pass --follow-symlinks/)
        assert.strictEqual(yield* Effect.promise(() => readFile(join(dir, "real.env"), "utf8")), "A=1\n")
        const exit = yield* setupEnv(join(dir, "id"), join(dir, "_env"), { followSymlinks: true }).pipe(Effect.provide(platform), Effect.exit)
        assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
        assert.match(yield* Effect.promise(() => readFile(join(dir, "real.env"), "utf8")), /^A=1\nMANTA_KEY_ID=/)
        assert.isTrue((yield* Effect.promise(() => lstat(join(dir, "_env")))).isSymbolicLink())
      })))
})

describe("setup-env refuses outputs it must not write, and writes nothing", () => {
  it.live("a link to nothing, the key file itself (through a hard link or a followed symlink), a directory", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "id")])
        const key = yield* Effect.promise(() => readFile(join(dir, "id"), "utf8"))
        yield* Effect.promise(async () => {
          await symlink(join(dir, "gone.env"), join(dir, "dangling"))
          await symlink(join(dir, "id"), join(dir, "to-key"))
          execFileSync("ln", [join(dir, "id"), join(dir, "hard")])
          execFileSync("mkdir", [join(dir, "sub")])
        })
        for (const [out, expected] of [
          ["dangling", "is a symbolic link to nothing"],
          ["to-key", "is the key file itself"],
          ["hard", "is the key file itself"],
          ["sub", "is a directory; setup-env writes only regular files"]
        ] as const) {
          const exit = yield* setupEnv(join(dir, "id"), join(dir, out), { followSymlinks: true }).pipe(Effect.provide(platform), Effect.exit)
          assert.include(failureOf(exit), expected, out)
        }
        assert.strictEqual(yield* Effect.promise(() => readFile(join(dir, "id"), "utf8")), key, "the key is untouched")
      })))
})

describe("setup-env gives up at its deadline", () => {
  // A file system whose every call hangs, as on a dead network mount.
  const hanging = Layer.succeed(FileSystem.FileSystem, FileSystem.makeNoop({ stat: () => Effect.never, lstat: () => Effect.never }))

  it.effect("a stat that never returns ends with SetupEnvTimeout once Timings.setupEnvDeadline passed", () =>
    Effect.gen(function*() {
      const fiber = yield* setupEnv("/keys/id", "/work/_env").pipe(Effect.provide(hanging), Effect.exit, Effect.forkChild)
      yield* TestClock.adjust(Duration.seconds(9))
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust(Duration.seconds(2))
      const exit = yield* Fiber.join(fiber)
      assert.match(failureOf(exit), /setup-env: gave up after 10s/)
    }).pipe(Effect.provide(Layer.succeed(Timings, { ...Timings.defaultValue(), setupEnvDeadline: Duration.seconds(10) }))))
})
