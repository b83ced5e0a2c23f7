// The rules of `<NAME>_FILE`, decided without touching a file: the table gives every
// secret one, which files the layer reads, and what decodeSettings makes of what a
// read gave (the files themselves: test/unit/layers/secretFiles.test.ts).
import { assert, describe, it } from "@effect/vitest"
import { Option, Redacted, Result } from "effect"
import { type Problem } from "../../../src/domain/EnvProblems.ts"
import { inspectPrivateKey } from "../../../src/domain/MantaKey.ts"
import { type FileRead } from "../../../src/domain/SecretFiles.ts"
import { decodeSettings, secretFiles, secretFilesToRead, type Settings, variables } from "../../../src/domain/Settings.ts"
import { hostFacts } from "../../support/scenarios.ts"

type Env = Readonly<Record<string, string>>

/** What the layer would hand over: each file variable's read. */
const reading = (reads: Readonly<Record<string, FileRead>>): ReadonlyMap<string, FileRead> => new Map(Object.entries(reads))
const holding = (text: string): FileRead => Result.succeed(text)

const decoded = (env: Env, reads: Readonly<Record<string, FileRead>> = {}): Settings => {
  const r = decodeSettings(env, hostFacts, inspectPrivateKey, reading(reads))
  return Result.isSuccess(r) ? r.success : assert.fail(JSON.stringify(r.failure))
}
const problemsOf = (env: Env, reads: Readonly<Record<string, FileRead>> = {}): ReadonlyArray<Problem> => {
  const r = decodeSettings(env, hostFacts, inspectPrivateKey, reading(reads))
  return Result.isFailure(r) ? r.failure : assert.fail(`expected ${JSON.stringify(env)} to be refused`)
}
const passwordOf = (s: Settings) => Option.map(s.redis.password, Redacted.value).pipe(Option.getOrNull)

describe("the variables table", () => {
  it("follows each secret with its <NAME>_FILE, in the secret's group, itself no secret (it holds a path); nothing else but the TLS files ends in _FILE", () => {
    const names = Object.keys(variables)
    const secrets = Object.entries(variables).filter(([, v]) => "secret" in v).map(([name]) => name)
    assert.isAbove(secrets.length, 0)
    for (const secret of secrets) {
      const file = `${secret}_FILE`
      assert.strictEqual(names[names.indexOf(secret) + 1], file)
      const doc = Object.entries(variables).find(([name]) => name === file)?.[1] ?? assert.fail(`${file} missing`)
      assert.strictEqual(doc.group, Object.entries(variables).find(([name]) => name === secret)?.[1].group)
      assert.isFalse("secret" in doc, file)
      assert.include(doc.expects, `not together with ${secret}`)
    }
    // TLS_*_FILE name PEM files Redis itself reads, not a secret's value.
    assert.sameMembers(names.filter((n) => n.endsWith("_FILE") && !n.startsWith("TLS_")), secrets.map((s) => `${s}_FILE`))
    assert.deepStrictEqual(secretFiles.map((s) => [s.secret, s.file, s.maxBytes]), [
      ["CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", 4096],
      ["REDIS_PASSWORD", "REDIS_PASSWORD_FILE", 4096],
      ["REDIS_PASSWORD_ACCEPTED", "REDIS_PASSWORD_ACCEPTED_FILE", 4096],
      ["REDIS_APP_PASSWORD", "REDIS_APP_PASSWORD_FILE", 4096],
      ["REDIS_APP_PASSWORD_ACCEPTED", "REDIS_APP_PASSWORD_ACCEPTED_FILE", 4096],
      ["MANTA_PRIVATE_KEY", "MANTA_PRIVATE_KEY_FILE", 16_384]
    ])
  })
})

describe("which files the layer reads", () => {
  it("each file variable set, with its limit; none whose secret is also set (refused whatever it holds); empty counts as unset", () => {
    assert.deepStrictEqual(secretFilesToRead({ REDIS_PASSWORD_FILE: "/run/secrets/pw", MANTA_PRIVATE_KEY_FILE: "/run/secrets/key" }), [
      { file: "REDIS_PASSWORD_FILE", path: "/run/secrets/pw", maxBytes: 4096 },
      { file: "MANTA_PRIVATE_KEY_FILE", path: "/run/secrets/key", maxBytes: 16_384 }
    ])
    assert.deepStrictEqual(secretFilesToRead({ REDIS_PASSWORD_FILE: "/run/secrets/pw", REDIS_PASSWORD: "pw" }), [])
    assert.deepStrictEqual(secretFilesToRead({ REDIS_PASSWORD_FILE: "/run/secrets/pw", REDIS_PASSWORD: "" }), [{ file: "REDIS_PASSWORD_FILE", path: "/run/secrets/pw", maxBytes: 4096 }])
    assert.deepStrictEqual(secretFilesToRead({ CONSUL_HTTP_TOKEN_FILE: "" }), [])
  })
})

describe("what a file's content becomes", () => {
  const env = { REDIS_PASSWORD_FILE: "/run/secrets/pw" }

  it("trailing line breaks (echo, printf '%s\\n', a CRLF editor) are dropped; anything else is the variable's check", () => {
    for (const written of ["pw-1\n", "pw-1\r\n", "pw-1\n\n", "pw-1"]) assert.strictEqual(passwordOf(decoded(env, { REDIS_PASSWORD_FILE: holding(written) })), "pw-1", JSON.stringify(written))
    for (const written of [" pw-1\n", "pw-1 \n", "pw-1\npw-2\n", "pw 1"]) {
      assert.deepStrictEqual(problemsOf(env, { REDIS_PASSWORD_FILE: holding(written) }).map((p) => p.variable), ["REDIS_PASSWORD_FILE"], JSON.stringify(written))
    }
  })

  it("an empty file is refused, not taken as unset: a blank password is not 'no password'", () => {
    for (const written of ["", "\n"]) {
      assert.deepStrictEqual(problemsOf(env, { REDIS_PASSWORD_FILE: holding(written) }).map((p) => p.message), [
        `REDIS_PASSWORD_FILE (value not shown): the file is empty, expected ${variables.REDIS_PASSWORD_FILE.expects}`
      ])
    }
  })

  it("a file that could not be read: its reason, and never silently unset when no read was handed over", () => {
    assert.deepStrictEqual(problemsOf(env, { REDIS_PASSWORD_FILE: Result.fail("no such file") }).map((p) => p.message), [
      `REDIS_PASSWORD_FILE (value not shown): no such file, expected ${variables.REDIS_PASSWORD_FILE.expects}`
    ])
    assert.deepStrictEqual(problemsOf(env).map((p) => p.variable), ["REDIS_PASSWORD_FILE"])
  })
})

describe("a secret set both ways", () => {
  it("refused naming both, beside the variable's own flaw when it has one", () => {
    const both = { REDIS_PASSWORD: "pw-1", REDIS_PASSWORD_FILE: "/run/secrets/pw" }
    assert.deepStrictEqual(problemsOf(both, { REDIS_PASSWORD_FILE: holding("pw-1") }), [
      { variable: "REDIS_PASSWORD_FILE", message: "REDIS_PASSWORD and REDIS_PASSWORD_FILE are both set: expected only one of them" }
    ])
    assert.deepStrictEqual(problemsOf({ ...both, REDIS_PASSWORD: "pw 1" }).map((p) => p.variable), ["REDIS_PASSWORD", "REDIS_PASSWORD_FILE"])
  })
})

describe("the key from a file, among the rules between variables", () => {
  const key = "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n"

  it("a key file that cannot be used is reported once, not also as 'MANTA_PRIVATE_KEY is not set'", () => {
    const env = { MANTA_USER: "acme", MANTA_PRIVATE_KEY_FILE: "/run/secrets/key" }
    assert.deepStrictEqual(problemsOf(env, { MANTA_PRIVATE_KEY_FILE: Result.fail("is a directory, not a regular file") }).map((p) => p.variable), ["MANTA_PRIVATE_KEY_FILE"])
    assert.deepStrictEqual(problemsOf({ ...env, MANTA_PRIVATE_KEY: key }).map((p) => p.variable), ["MANTA_PRIVATE_KEY_FILE"], "set both ways: the variable is not inspected either")
  })

  it("a key Manta cannot use, read from a file, names the file variable", () => {
    assert.deepStrictEqual(problemsOf({ MANTA_USER: "acme", MANTA_PRIVATE_KEY_FILE: "/run/secrets/key" }, { MANTA_PRIVATE_KEY_FILE: holding(key) }).map((p) => p.message), [
      "MANTA_PRIVATE_KEY_FILE (secret, value not shown): not a private key in PEM or OpenSSH format"
    ])
  })
})
