// What an operator reads about a bad variable: its name, its value only when the
// value is short and shaped like a number, an address or a duration (shapes no
// password or key takes), hints that help find a hidden value, and every problem on
// one line.
import { assert, describe, it } from "@effect/vitest"
import { formatProblems, invalidValue, subject } from "../../../src/domain/EnvProblems.ts"

const portFlaw = { secret: false, flaws: [], expects: "an integer 1..65535" }

describe("which values are shown", () => {
  it("numbers, addresses, host:port digits and durations are shown quoted", () => {
    const shown = [
      ["REDIS_PORT", "70000"],
      ["REPLICA_PRIORITY", "-1"],
      ["SENTINEL_QUORUM", "+3"],
      ["ANNOUNCE_IP", "10.0.0.256"],
      ["CONSUL", "10.0.0.1:8500"],
      ["HEALTH_TIMEOUT", "2500ms"],
      ["SENTINEL_DOWN_AFTER", "5s"],
      ["BACKUP_INTERVAL", "1h30m"],
      ["MASTER_WAIT_TIMEOUT", "1.5h"]
    ] as const
    for (const [name, raw] of shown) assert.strictEqual(subject(name, raw, false), `${name}="${raw}"`)
  })

  it("up to the length of the longest IPv4 address (15 characters), not one more", () => {
    assert.strictEqual(subject("ANNOUNCE_IP", "255.255.255.255", false), `ANNOUNCE_IP="255.255.255.255"`)
    assert.strictEqual(subject("ANNOUNCE_IP", "255.255.255.2550", false), "ANNOUNCE_IP (value not shown)")
  })

  it("words, names, paths, URLs and values that only start or end like a number are not shown", () => {
    for (const raw of ["abc", "s3cret", "5x", "x5", "10s ", " 10", "1d", "/srv/data", "a.b:1", "1h-", "", "ms"]) {
      assert.strictEqual(subject("SERVICE_NAME", raw, false), "SERVICE_NAME (value not shown)", JSON.stringify(raw))
    }
  })

  it("a secret variable never shows its value, even a number, and says it is a secret", () => {
    assert.strictEqual(subject("REDIS_PASSWORD", "1234", true), "REDIS_PASSWORD (secret, value not shown)")
  })

  it("an unset variable is named as not set", () => {
    assert.strictEqual(subject("MANTA_USER", undefined, false), "MANTA_USER is not set")
    assert.strictEqual(subject("REDIS_PASSWORD", undefined, true), "REDIS_PASSWORD is not set")
  })
})

describe("the message about one invalid value", () => {
  it("names the variable, its flaws in order, then what is expected", () => {
    const problem = invalidValue("REDIS_PORT", "70000", { ...portFlaw, flaws: ["above 65535", "not a port"] })
    assert.deepStrictEqual(problem, { variable: "REDIS_PORT", message: `REDIS_PORT="70000": above 65535, not a port, expected an integer 1..65535` })
  })

  it("with no flaw found, only what is expected", () => {
    assert.strictEqual(invalidValue("REDIS_PORT", "abc", portFlaw).message, "REDIS_PORT (value not shown): expected an integer 1..65535")
  })

  it("a hidden private key is hinted at, whether its BEGIN or only its END line is there", () => {
    const expected = "BACKUP_DIR (value not shown): looks like a private key, expected an absolute path"
    for (const raw of ["-----BEGIN OPENSSH PRIVATE KEY-----#b3BlbnNzaC1rZXk", "-----BEGIN PRIVATE KEY-----", "AAAA#-----END RSA PRIVATE KEY-----"]) {
      assert.strictEqual(invalidValue("BACKUP_DIR", raw, { secret: false, flaws: [], expects: "an absolute path" }).message, expected)
    }
    const publicKey = invalidValue("BACKUP_DIR", "-----BEGIN PUBLIC KEY-----", { secret: false, flaws: [], expects: "an absolute path" })
    assert.strictEqual(publicKey.message, "BACKUP_DIR (value not shown): expected an absolute path")
  })

  it("a URL with user:password@ is hinted at as holding credentials; an '@' in its path is not", () => {
    const url = (raw: string) => invalidValue("MANTA_URL", raw, { secret: false, flaws: [], expects: "an https URL" }).message
    assert.strictEqual(url("https://alice:S3CR3T@manta.example.com"), "MANTA_URL (value not shown): holds credentials (user:password@), expected an https URL")
    assert.strictEqual(url("https://manta.example.com/alice@stor"), "MANTA_URL (value not shown): expected an https URL")
    assert.strictEqual(url("not a url alice:pw@host"), "MANTA_URL (value not shown): expected an https URL")
  })

  it("a leading zero is shown and hinted at (JSON5 reads 06379 as no number); a lone 0 or 10 is not hinted", () => {
    assert.strictEqual(invalidValue("REDIS_PORT", "06379", portFlaw).message, `REDIS_PORT="06379": has a leading zero, expected an integer 1..65535`)
    assert.strictEqual(invalidValue("REPLICA_PRIORITY", "-07", portFlaw).message, `REPLICA_PRIORITY="-07": has a leading zero, expected an integer 1..65535`)
    assert.strictEqual(invalidValue("REDIS_PORT", "0", portFlaw).message, `REDIS_PORT="0": expected an integer 1..65535`)
    assert.strictEqual(invalidValue("REDIS_PORT", "100000", portFlaw).message, `REDIS_PORT="100000": expected an integer 1..65535`)
  })

  it("flaws come before hints", () => {
    const problem = invalidValue("REDIS_PORT", "06379", { ...portFlaw, flaws: ["not canonical"] })
    assert.strictEqual(problem.message, `REDIS_PORT="06379": not canonical, has a leading zero, expected an integer 1..65535`)
  })
})

describe("every problem on one line", () => {
  it("joined by '; ' after 'invalid environment: ', in the order given", () => {
    const problems = [
      { variable: "REDIS_PORT", message: "REDIS_PORT=\"0\": expected an integer 1..65535" },
      { variable: "MANTA_USER", message: "MANTA_USER is not set" }
    ]
    assert.strictEqual(formatProblems(problems), `invalid environment: REDIS_PORT="0": expected an integer 1..65535; MANTA_USER is not set`)
  })

  it("a ';' or newline inside one message cannot split it: they become ',' and ' '", () => {
    const problems = [{ variable: "PEERS", message: "PEERS: a;b;c\nexpected names" }, { variable: "CONSUL", message: "CONSUL is not set" }]
    assert.strictEqual(formatProblems(problems), "invalid environment: PEERS: a,b,c expected names; CONSUL is not set")
  })
})

describe("hints at the edges", () => {
  const dir = (raw: string) => invalidValue("BACKUP_DIR", raw, { secret: false, flaws: [], expects: "an absolute path" }).message
  it("a private key's BEGIN line cut before its dashes is still recognised", () => {
    assert.strictEqual(dir("-----BEGIN RSA PRIVATE KEY"), "BACKUP_DIR (value not shown): looks like a private key, expected an absolute path")
  })

  it("a URL with credentials only counts at the start of the value", () => {
    assert.strictEqual(dir("see https://alice:pw@host"), "BACKUP_DIR (value not shown): expected an absolute path")
  })
})
