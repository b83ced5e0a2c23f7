// Every secret can come from a file (`<NAME>_FILE`, as Docker and Swarm hand secrets
// over), through the Settings layer and real files: the value reaches Settings
// without the line break `echo` writes; both forms at once, a file that is no small
// regular file and a value the variable would refuse are each one more problem in
// the one invalid-environment message, naming the file variable, never the file's
// content or its path, and a FIFO never holds the run.
import { execFileSync } from "node:child_process"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { secretFiles, variables } from "../../../src/domain/Settings.ts"
import { type InvalidEnvironment, Settings } from "../../../src/layers/Settings.ts"
import { generateTestKey } from "../../support/manta/keys.ts"

/** In every file below: it must never reach a message. */
const marker = "S3CR3T-marker-7f3a"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "secret-files-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const write = (path: string, content: string) => Effect.promise(() => writeFile(path, content, { mode: 0o600 }))

/** Well past a file read; a read that blocks (a FIFO waiting for a writer) fails the test here. */
const bound = "5 seconds"

const settingsFrom = (env: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    return yield* Settings
  }).pipe(Effect.provide(Settings.layerFrom(env)), Effect.timeout(bound))

const refusal = (env: Readonly<Record<string, string>>) =>
  settingsFrom(env).pipe(
    Effect.flip,
    Effect.flatMap((e): Effect.Effect<InvalidEnvironment, string> => (e._tag === "InvalidEnvironment" ? Effect.succeed(e) : Effect.fail(`${e._tag} instead of a refusal`)))
  )

const named = (e: InvalidEnvironment): ReadonlyArray<string> => e.problems.map((p) => p.variable)

const testKey = generateTestKey("ed25519")

/** A valid value for each secret given directly (the key in its `_env` form). */
const direct: Readonly<Record<string, string>> = {
  REDIS_PASSWORD: "s3cret-pw",
  REDIS_APP_PASSWORD: "app-s3cret-pw",
  REDIS_PASSWORD_ACCEPTED: "next-s3cret-pw",
  REDIS_APP_PASSWORD_ACCEPTED: "app-next-s3cret-pw",
  CONSUL_HTTP_TOKEN: "tok-0c1d-secret",
  MANTA_PRIVATE_KEY: testKey.privateKey.trim().replaceAll("\n", "#")
}

/** The key is needed only for Manta; with it, a key file that cannot be used must not also read as "not set". */
const needing = (file: string): Readonly<Record<string, string>> =>
  ({
    MANTA_PRIVATE_KEY_FILE: { MANTA_USER: "acme" },
    REDIS_PASSWORD_ACCEPTED_FILE: { REDIS_PASSWORD: "s3cret-pw" },
    REDIS_APP_PASSWORD_FILE: { REDIS_PASSWORD: "s3cret-pw" },
    REDIS_APP_PASSWORD_ACCEPTED_FILE: { REDIS_PASSWORD: "s3cret-pw", REDIS_APP_PASSWORD: "app-pw" }
  })[file] ?? {}

describe("a secret read from its <NAME>_FILE", () => {
  it("the table has one for every secret, so each is tested below", () => {
    assert.sameMembers(secretFiles.map((s) => s.file), [
      "CONSUL_HTTP_TOKEN_FILE",
      "REDIS_PASSWORD_FILE",
      "REDIS_PASSWORD_ACCEPTED_FILE",
      "REDIS_APP_PASSWORD_FILE",
      "REDIS_APP_PASSWORD_ACCEPTED_FILE",
      "MANTA_PRIVATE_KEY_FILE"
    ])
  })

  it.live("every secret through its file: the value reaches Settings, the trailing line break dropped", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(join(dir, "redis_password"), "hunter2-pw\n")
      yield* write(join(dir, "redis_app_password"), "app-pw\n")
      yield* write(join(dir, "redis_password_accepted"), "next-pw\n")
      yield* write(join(dir, "redis_app_password_accepted"), "app-next-pw\n")
      yield* write(join(dir, "consul_http_token"), "tok-0c1d-secret\r\n")
      yield* write(join(dir, "manta_private_key"), testKey.privateKey)
      const s = yield* settingsFrom({
        REDIS_PASSWORD_FILE: join(dir, "redis_password"),
        REDIS_APP_PASSWORD_FILE: join(dir, "redis_app_password"),
        REDIS_PASSWORD_ACCEPTED_FILE: join(dir, "redis_password_accepted"),
        REDIS_APP_PASSWORD_ACCEPTED_FILE: join(dir, "redis_app_password_accepted"),
        CONSUL_HTTP_TOKEN_FILE: join(dir, "consul_http_token"),
        MANTA_PRIVATE_KEY_FILE: join(dir, "manta_private_key"),
        MANTA_USER: "acme",
        MANTA_KEY_ID: testKey.fingerprintMd5
      })
      assert.strictEqual(Option.map(s.redis.password, Redacted.value).pipe(Option.getOrNull), "hunter2-pw")
      assert.strictEqual(Option.map(s.redis.app, (a) => Redacted.value(a.password)).pipe(Option.getOrNull), "app-pw")
      assert.strictEqual(Option.map(s.redis.accepted, Redacted.value).pipe(Option.getOrNull), "next-pw")
      assert.strictEqual(Option.flatMap(s.redis.app, (a) => a.accepted).pipe(Option.map(Redacted.value), Option.getOrNull), "app-next-pw")
      assert.strictEqual(Option.map(s.consul.token, Redacted.value).pipe(Option.getOrNull), "tok-0c1d-secret")
      const target = s.backup.target
      if (target._tag !== "manta") return assert.fail(`target ${target._tag}`)
      assert.strictEqual(Redacted.value(target.privateKey), testKey.privateKey.trim())
    }))

  it.live("an empty <NAME>_FILE counts as unset, like every variable", () =>
    Effect.gen(function*() {
      const s = yield* settingsFrom({ REDIS_PASSWORD_FILE: "", CONSUL_HTTP_TOKEN_FILE: "" })
      assert.isTrue(Option.isNone(s.redis.password))
      assert.isTrue(Option.isNone(s.consul.token))
    }))
})

describe("refused, each naming the variable, never the content or the path", () => {
  it.live("a secret set both ways: refused naming both, whatever the file holds", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(join(dir, "secret"), `${marker}\n`)
      for (const { secret, file } of secretFiles) {
        const e = yield* refusal({ [secret]: direct[secret] ?? "", [file]: join(dir, "secret"), ...needing(file) })
        assert.deepStrictEqual(named(e), [file], e.message)
        assert.include(e.message, `${secret} and ${file} are both set`)
        assert.notInclude(e.message, marker)
      }
    }))

  it.live("a directory, a FIFO, a device, a file over the limit, a missing file: the reason, at once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.promise(() => mkdir(join(dir, "a-directory")))
      execFileSync("mkfifo", [join(dir, "a-fifo")])
      yield* write(join(dir, "big-password"), marker.repeat(Math.ceil(4097 / marker.length)).slice(0, 4097))
      yield* write(join(dir, "big-key"), marker.repeat(Math.ceil(16_385 / marker.length)).slice(0, 16_385))
      const cases: ReadonlyArray<readonly [string, string, string]> = [
        ["REDIS_PASSWORD_FILE", join(dir, "a-directory"), "is a directory, not a regular file"],
        ["REDIS_PASSWORD_FILE", join(dir, "a-fifo"), "is a FIFO (named pipe), not a regular file"],
        ["CONSUL_HTTP_TOKEN_FILE", "/dev/null", "is a character device, not a regular file"],
        ["REDIS_PASSWORD_FILE", join(dir, "big-password"), "is larger than 4096 bytes"],
        ["MANTA_PRIVATE_KEY_FILE", join(dir, "big-key"), "is larger than 16384 bytes"],
        ["CONSUL_HTTP_TOKEN_FILE", join(dir, "missing"), "no such file"]
      ]
      for (const [file, path, reason] of cases) {
        const e = yield* refusal({ [file]: path, ...needing(file) })
        assert.deepStrictEqual(named(e), [file], e.message)
        assert.include(e.message, `${file} (value not shown): ${reason}, expected the path of a regular file`)
        assert.notInclude(e.message, marker)
        assert.notInclude(e.message, path)
      }
    }))

  it.live("at the limit a file is read: a key file of 16 KiB (the variable's own limit), a password file of 4 KiB", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(join(dir, "key"), `${testKey.privateKey}${"\n".repeat(16_384 - testKey.privateKey.length)}`)
      yield* write(join(dir, "password"), "p".repeat(4096))
      const s = yield* settingsFrom({ MANTA_PRIVATE_KEY_FILE: join(dir, "key"), MANTA_USER: "acme" })
      assert.strictEqual(s.backup.target._tag === "manta" ? Redacted.value(s.backup.target.privateKey) : s.backup.target._tag, testKey.privateKey.trim())
      // Read, then refused for what it holds rather than for its size.
      const e = yield* refusal({ REDIS_PASSWORD_FILE: join(dir, "password") })
      assert.strictEqual(e.message, `invalid environment: REDIS_PASSWORD_FILE (secret, value not shown): is longer than 1024 characters, expected ${variables.REDIS_PASSWORD.expects}`)
    }))

  it.live("a file holding what the variable would refuse: the variable's own check, naming the file variable", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(join(dir, "spaced"), `${marker} with spaces\n`)
      yield* write(join(dir, "public-key"), `-----BEGIN PRIVATE KEY-----\n${marker}\n-----END PRIVATE KEY-----\n`)
      const password = yield* refusal({ REDIS_PASSWORD_FILE: join(dir, "spaced") })
      assert.deepStrictEqual(named(password), ["REDIS_PASSWORD_FILE"])
      assert.include(password.message, "REDIS_PASSWORD_FILE (secret, value not shown): expected 1-1024 printable characters, no spaces")
      const token = yield* refusal({ CONSUL_HTTP_TOKEN_FILE: join(dir, "spaced") })
      assert.deepStrictEqual(named(token), ["CONSUL_HTTP_TOKEN_FILE"])
      const key = yield* refusal({ MANTA_PRIVATE_KEY_FILE: join(dir, "public-key"), MANTA_USER: "acme" })
      assert.deepStrictEqual(named(key), ["MANTA_PRIVATE_KEY_FILE"])
      assert.include(key.message, "MANTA_PRIVATE_KEY_FILE (secret, value not shown): not a private key in PEM or OpenSSH format")
      for (const e of [password, token, key]) {
        assert.notInclude(e.message, marker)
        assert.notInclude(e.message, dir)
      }
    }))

  it.live("reported in the one message beside every other bad variable", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const e = yield* refusal({ REDIS_PORT: "x", REDIS_PASSWORD_FILE: join(dir, "missing"), SENTINEL_QUORUM: "0" })
      assert.deepStrictEqual(named(e), ["REDIS_PORT", "REDIS_PASSWORD_FILE", "SENTINEL_QUORUM"])
      assert.match(e.message, /^invalid environment: REDIS_PORT .*; REDIS_PASSWORD_FILE \(value not shown\): no such file.*; SENTINEL_QUORUM="0"/)
    }))
})

describe("the TLS files and CONSUL_CACERT, read once at start as the secrets are", () => {
  const certificate = "-----BEGIN CERTIFICATE-----\nMIIBcertbody\n-----END CERTIFICATE-----\n"
  const key = `-----BEGIN PRIVATE KEY-----\n${marker}\n-----END PRIVATE KEY-----\n`

  it.live("what they hold reaches Settings (the key redacted); a FIFO, a directory or a key where the certificate belongs: refused at once, naming the variable, never the key", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(join(dir, "cert.pem"), certificate)
      yield* write(join(dir, "key.pem"), key)
      execFileSync("mkfifo", [join(dir, "a-fifo")])
      const files = { TLS_CERT_FILE: join(dir, "cert.pem"), TLS_KEY_FILE: join(dir, "key.pem"), TLS_CA_FILE: join(dir, "cert.pem") }
      const s = yield* settingsFrom({ ...files, CONSUL_HTTP_SSL: "true", CONSUL_CACERT: join(dir, "cert.pem") })
      const tls = Option.getOrThrow(s.tls)
      assert.strictEqual(tls.cert, certificate)
      assert.strictEqual(Redacted.value(tls.key), key)
      assert.strictEqual(Option.getOrUndefined(Option.flatMap(s.consul.https, (h) => h.ca)), certificate)

      const fifo = yield* refusal({ ...files, TLS_KEY_FILE: join(dir, "a-fifo") })
      assert.deepStrictEqual(named(fifo), ["TLS_KEY_FILE"])
      assert.include(fifo.message, "is a FIFO (named pipe), not a regular file, expected a PEM file holding a private key")
      const directory = yield* refusal({ ...files, TLS_CA_FILE: dir })
      assert.deepStrictEqual(named(directory), ["TLS_CA_FILE"])
      const swapped = yield* refusal({ ...files, TLS_CERT_FILE: join(dir, "key.pem") })
      assert.deepStrictEqual(named(swapped), ["TLS_CERT_FILE"])
      for (const e of [fifo, directory, swapped]) assert.notInclude(e.message, marker)
    }))
})
