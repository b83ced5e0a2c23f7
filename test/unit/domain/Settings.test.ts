// The environment contract (DESIGN.md §8) as the operator meets it: every default,
// every bad value named in one message, secrets never printed, `_env` quirks (empty
// values, '#' for newlines), ANNOUNCE_IP's fallbacks, cross-variable rules.
import { inspect } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Option, Redacted, Result } from "effect"
import fc from "fast-check"
import { formatProblems, type Problem } from "../../../src/domain/EnvProblems.ts"
import { inspectPrivateKey } from "../../../src/domain/MantaKey.ts"
import {
  decodeSettings,
  type HostFacts,
  logFormatOf,
  selfApi,
  selfRedis,
  selfSentinel,
  type Settings,
  variables
} from "../../../src/domain/Settings.ts"
import { generateTestKey } from "../../support/manta/keys.ts"
import { hostFacts, settingsFrom } from "../../support/scenarios.ts"

type Env = Readonly<Record<string, string>>

const problemsOf = (env: Env, host: HostFacts = hostFacts): ReadonlyArray<Problem> => {
  const r = decodeSettings(env, host, inspectPrivateKey)
  if (Result.isSuccess(r)) return assert.fail(`expected ${JSON.stringify(env)} to be rejected`)
  return r.failure
}
const messageOf = (env: Env, host: HostFacts = hostFacts): string => formatProblems(problemsOf(env, host))
const named = (env: Env, host: HostFacts = hostFacts): ReadonlyArray<string> => problemsOf(env, host).map((p) => p.variable)
const ms = (d: Duration.Duration): number => Duration.toMillis(d)

const testKey = generateTestKey("ed25519")
/** A real key in its `_env` form; its base64 body is the marker that must never leak. */
const mantaKey = testKey.privateKey.trim().replaceAll("\n", "#")
const keyBody = testKey.privateKey.split("\n")[1] ?? assert.fail("no key body")

describe("defaults: an empty environment", () => {
  const s = settingsFrom({}, { hostname: "node-7", ipv4: ["10.0.0.7", "172.17.0.2"] })

  it("lands every DESIGN.md §8 default in Settings", () => {
    assert.deepStrictEqual(s.node, { name: "node-7", address: "10.0.0.7", bindAddress: "0.0.0.0", apiPort: 8008 })
    assert.deepStrictEqual([s.consul.host, s.consul.port], ["consul", 8500])
    assert.isTrue(Option.isNone(s.consul.token))
    assert.deepStrictEqual(s.log, { level: "info", format: "text" })
    assert.strictEqual(s.serviceName, "redis")
    assert.strictEqual(s.masterName, "mymaster")
    assert.strictEqual(s.redis.port, 6379)
    assert.isTrue(Option.isNone(s.redis.password))
    assert.strictEqual(s.redis.minReplicasToWrite, 0)
    assert.strictEqual(ms(s.redis.minReplicasMaxLag), 5_000)
    assert.strictEqual(s.sentinel.port, 26379)
    assert.strictEqual(s.sentinel.quorum, 2)
    assert.strictEqual(ms(s.sentinel.downAfter), 5_000)
    assert.strictEqual(ms(s.sentinel.failoverTimeout), 30_000)
    assert.strictEqual(s.sentinel.parallelSyncs, 1)
    assert.strictEqual(ms(s.masterWaitTimeout), 60_000)
    assert.strictEqual(s.dataDir, "/data")
    assert.strictEqual(s.configDir, "/etc/redis")
    assert.deepStrictEqual([ms(s.health.interval), ms(s.health.ttl), ms(s.health.timeout)], [5_000, 15_000, 4_000])
    assert.strictEqual(ms(s.preStopTimeout), 15_000)
    assert.deepStrictEqual(s.backup.target, { _tag: "local", dir: "/backups" })
    assert.strictEqual(ms(s.backup.interval), 24 * 3_600_000)
    assert.strictEqual(s.backup.keep, 7)
    assert.strictEqual(ms(s.backup.stallTimeout), 60_000)
    assert.deepStrictEqual(s.peers, [])
    assert.strictEqual(ms(s.foundingGrace), 20_000)
  })

  it("this node's Redis and Sentinel endpoints use the announced address", () => {
    assert.deepStrictEqual(selfRedis(s), { host: "10.0.0.7", port: 6379 })
    assert.deepStrictEqual(selfSentinel(s), { host: "10.0.0.7", port: 26379 })
  })

  it("writing every documented default explicitly changes nothing (the docs table and the decoder agree)", () => {
    const explicit: Record<string, string> = {}
    for (const [name, v] of Object.entries(variables)) if ("default" in v) explicit[name] = v.default
    assert.deepStrictEqual(settingsFrom(explicit, { hostname: "node-7", ipv4: ["10.0.0.7"] }), s)
  })
})

describe("invalid values", () => {
  it("REDIS_PORT=70000 is named with its value and what is expected", () => {
    const [p, ...rest] = problemsOf({ REDIS_PORT: "70000" })
    assert.lengthOf(rest, 0)
    assert.strictEqual(p?.variable, "REDIS_PORT")
    assert.include(p?.message, `REDIS_PORT="70000"`)
    assert.include(p?.message, "1-65535")
  })

  it("REDIS_PORT=abc is named, but a word is not shown (it could be a password on the wrong line)", () => {
    const [p] = problemsOf({ REDIS_PORT: "abc" })
    assert.strictEqual(p?.message, "REDIS_PORT (value not shown): expected a TCP port (1-65535) other than SENTINEL_PORT and API_PORT")
  })

  it("ports outside 1..65535 are rejected", () => {
    for (const port of ["0", "65536", "-1", "6379.5", "6379abc"]) assert.deepStrictEqual(named({ SENTINEL_PORT: port }), ["SENTINEL_PORT"], port)
    assert.strictEqual(settingsFrom({ REDIS_PORT: "65535" }).redis.port, 65535)
    assert.strictEqual(settingsFrom({ REDIS_PORT: "1" }).redis.port, 1)
  })

  it("SENTINEL_QUORUM=0 is rejected; 1 is the least quorum", () => {
    assert.include(messageOf({ SENTINEL_QUORUM: "0" }), `SENTINEL_QUORUM="0"`)
    assert.strictEqual(settingsFrom({ SENTINEL_QUORUM: "1" }).sentinel.quorum, 1)
  })

  it("a duration out of range is shown with the accepted range; a word like 'soon' is not shown", () => {
    const message = messageOf({ SENTINEL_DOWN_AFTER: "50ms" })
    assert.include(message, `SENTINEL_DOWN_AFTER="50ms"`)
    assert.include(message, "100ms to 10m")
    assert.include(messageOf({ SENTINEL_DOWN_AFTER: "soon" }), "SENTINEL_DOWN_AFTER (value not shown): expected a duration from 100ms to 10m")
  })

  it("BACKUP_STORE=manta without MANTA_* names the missing variables", () => {
    assert.sameMembers([...named({ BACKUP_STORE: "manta" })], ["MANTA_USER", "MANTA_PRIVATE_KEY"])
    assert.include(messageOf({ BACKUP_STORE: "manta" }), "required when BACKUP_STORE=manta")
  })

  it("several bad variables are ALL named in ONE message", () => {
    const env = { REDIS_PORT: "abc", SENTINEL_QUORUM: "0", SENTINEL_DOWN_AFTER: "soon", BACKUP_STORE: "manta", LOG_FORMAT: "xml" }
    const message = messageOf(env)
    assert.notInclude(message, "\n")
    assert.match(message, /^invalid environment: /)
    for (const name of ["REDIS_PORT", "SENTINEL_QUORUM", "SENTINEL_DOWN_AFTER", "MANTA_USER", "MANTA_PRIVATE_KEY", "LOG_FORMAT"]) {
      assert.include(message, name)
    }
  })

  it("problems come one per variable, in the order of the variables table", () => {
    const order = Object.keys(variables)
    const got = named({ BACKUP_KEEP: "0", REDIS_PORT: "x", CONSUL: "a:b:c", LOG_LEVEL: "loud" })
    assert.deepStrictEqual(got, [...got].sort((a, b) => order.indexOf(a) - order.indexOf(b)))
    assert.strictEqual(new Set(got).size, got.length)
  })

  it("a bad value does not also produce a spurious cross-variable complaint", () => {
    // Against the defaults (interval 5, wait 60s) these would break the TTL and pre-start rules.
    assert.deepStrictEqual(named({ HEALTH_INTERVAL: "abc", HEALTH_TTL: "4", HEALTH_TIMEOUT: "2s" }), ["HEALTH_INTERVAL"])
    assert.deepStrictEqual(named({ MASTER_WAIT_TIMEOUT: "forever", PRESTART_TIMEOUT: "30s" }), ["MASTER_WAIT_TIMEOUT"])
  })

  it("other bad values are still reported next to a cross-variable rule", () => {
    assert.sameMembers([...named({ HEALTH_TTL: "5", REDIS_PORT: "x" })], ["HEALTH_TTL", "REDIS_PORT"])
  })

  it("rejects unknown literals but accepts them in any case", () => {
    assert.deepStrictEqual(named({ LOG_LEVEL: "verbose" }), ["LOG_LEVEL"])
    assert.deepStrictEqual(named({ BACKUP_STORE: "s3" }), ["BACKUP_STORE"])
    assert.strictEqual(settingsFrom({ LOG_LEVEL: "DEBUG", LOG_FORMAT: "JSON" }).log.level, "debug")
  })

  it("names that would break Consul or sentinel.conf are rejected", () => {
    assert.deepStrictEqual(named({ SERVICE_NAME: "Redis" }), ["SERVICE_NAME"])
    assert.deepStrictEqual(named({ SERVICE_NAME: "my redis" }), ["SERVICE_NAME"])
    assert.deepStrictEqual(named({ MASTER_NAME: "my master" }), ["MASTER_NAME"])
    assert.deepStrictEqual(named({ DATA_DIR: "data" }), ["DATA_DIR"])
  })
})

describe("cross-variable rules", () => {
  // the manta cross-check runs against a decode with the bad
  // key dropped and lists only BACKUP_STORE/MANTA_USER in `involves`, so an invalid key
  // is reported twice, the second time falsely as "MANTA_PRIVATE_KEY is not set".
  it("an invalid MANTA_PRIVATE_KEY is reported once, not also as 'not set'", () => {
    const problems = problemsOf({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: "garbage" })
    assert.deepStrictEqual(problems.map((p) => p.variable), ["MANTA_PRIVATE_KEY"])
    assert.notInclude(formatProblems(problems), "is not set")
  })

  it("Redis, Sentinel and the agent API listen on distinct ports; the one the operator set is named", () => {
    assert.deepStrictEqual(named({ REDIS_PORT: "7000", SENTINEL_PORT: "7000" }), ["SENTINEL_PORT"])
    assert.deepStrictEqual(named({ SENTINEL_PORT: "8008" }), ["SENTINEL_PORT"])
    assert.deepStrictEqual(named({ API_PORT: "6379" }), ["API_PORT"])
    assert.deepStrictEqual(named({ REDIS_PORT: "7000", SENTINEL_PORT: "7000", API_PORT: "7000" }), ["SENTINEL_PORT", "API_PORT"])
    assert.include(messageOf({ SENTINEL_PORT: "6379" }), `SENTINEL_PORT="6379": expected a port other than REDIS_PORT's (6379)`)
  })

  it("a loopback announced address needs BIND_ADDRESS 0.0.0.0 or that address; a loopback bind behind a proxy is allowed", () => {
    assert.deepStrictEqual(named({ ANNOUNCE_IP: "127.0.0.11", BIND_ADDRESS: "127.0.0.12" }), ["BIND_ADDRESS"])
    assert.deepStrictEqual(named({ ANNOUNCE_IP: "127.0.0.11", BIND_ADDRESS: "10.0.0.5" }), ["BIND_ADDRESS"])
    for (const bind of ["0.0.0.0", "127.0.0.11"]) assert.strictEqual(settingsFrom({ ANNOUNCE_IP: "127.0.0.11", BIND_ADDRESS: bind }).node.bindAddress, bind)
    assert.strictEqual(settingsFrom({ ANNOUNCE_IP: "10.0.0.5", BIND_ADDRESS: "127.0.0.1" }).node.address, "10.0.0.5")
  })

  it("HEALTH_TTL must exceed HEALTH_INTERVAL", () => {
    assert.include(messageOf({ HEALTH_INTERVAL: "10", HEALTH_TTL: "10", HEALTH_TIMEOUT: "4s" }), "HEALTH_TTL")
    assert.strictEqual(ms(settingsFrom({ HEALTH_INTERVAL: "10", HEALTH_TTL: "11" }).health.ttl), 11_000)
  })

  it("HEALTH_TIMEOUT may not exceed HEALTH_INTERVAL", () => {
    assert.deepStrictEqual(named({ HEALTH_INTERVAL: "3", HEALTH_TIMEOUT: "4s" }), ["HEALTH_TIMEOUT"])
  })

  it("PRESTART_TIMEOUT must be longer than MASTER_WAIT_TIMEOUT", () => {
    assert.deepStrictEqual(named({ MASTER_WAIT_TIMEOUT: "1h", PRESTART_TIMEOUT: "1h" }), ["PRESTART_TIMEOUT"])
  })

  it("an explicit BACKUP_STALL_TIMEOUT must be shorter than BACKUP_TIMEOUT and PRESTART_TIMEOUT; the default yields to a short job", () => {
    assert.deepStrictEqual(named({ BACKUP_STALL_TIMEOUT: "30m" }), ["BACKUP_STALL_TIMEOUT"])
    assert.match(messageOf({ BACKUP_STALL_TIMEOUT: "30m" }), /BACKUP_STALL_TIMEOUT="30m": expected shorter than BACKUP_TIMEOUT \(30m\)/)
    assert.match(messageOf({ BACKUP_STALL_TIMEOUT: "20m", PRESTART_TIMEOUT: "20m", MASTER_WAIT_TIMEOUT: "1m" }), /shorter than PRESTART_TIMEOUT \(20m\)/)
    assert.strictEqual(ms(settingsFrom({ BACKUP_STALL_TIMEOUT: "5s" }).backup.stallTimeout), 5_000)
    assert.strictEqual(ms(settingsFrom({ BACKUP_TIMEOUT: "1m", PRESTART_TIMEOUT: "30s", MASTER_WAIT_TIMEOUT: "10s" }).backup.stallTimeout), 60_000)
  })

  it("FOUNDING_GRACE: an explicit value at most half of MASTER_WAIT_TIMEOUT (pre-start starts over after it); the default shrinks to fit", () => {
    assert.deepStrictEqual(named({ FOUNDING_GRACE: "31s" }), ["FOUNDING_GRACE"])
    assert.match(messageOf({ FOUNDING_GRACE: "31s" }), /FOUNDING_GRACE="31s": expected at most half of MASTER_WAIT_TIMEOUT \(60s\)/)
    assert.match(messageOf({ FOUNDING_GRACE: "20s", MASTER_WAIT_TIMEOUT: "30s" }), /FOUNDING_GRACE="20s": expected at most half of MASTER_WAIT_TIMEOUT \(30s\)/)
    assert.strictEqual(ms(settingsFrom({ FOUNDING_GRACE: "30s" }).foundingGrace), 30_000)
    assert.strictEqual(ms(settingsFrom({ FOUNDING_GRACE: "0s" }).foundingGrace), 0, "0s: an empty node founds at once, as before")
    assert.strictEqual(ms(settingsFrom({ MASTER_WAIT_TIMEOUT: "30s" }).foundingGrace), 15_000)
    assert.strictEqual(ms(settingsFrom({ MASTER_WAIT_TIMEOUT: "1s" }).foundingGrace), 500)
    assert.deepStrictEqual(named({ FOUNDING_GRACE: "31m", MASTER_WAIT_TIMEOUT: "1h", PRESTART_TIMEOUT: "2h" }), ["FOUNDING_GRACE"])
    assert.deepStrictEqual(named({ FOUNDING_GRACE: "-1s" }), ["FOUNDING_GRACE"])
  })

  it("PEERS: host names and IPv4 addresses, comma-separated, in order without repeats; no ports, spaces or empty parts", () => {
    assert.deepStrictEqual(settingsFrom({ PEERS: "redis" }).peers, ["redis"])
    assert.deepStrictEqual(settingsFrom({ PEERS: "tasks.redis,10.0.0.5,redis-2.internal,10.0.0.5" }).peers, ["tasks.redis", "10.0.0.5", "redis-2.internal"])
    for (const bad of ["redis:6379", "redis, cache", "redis,,cache", ",redis", "redis,", "0.0.0.0", "10.0.0.256", "-redis", "re dis", "224.0.0.1"]) {
      assert.deepStrictEqual(named({ PEERS: bad }), ["PEERS"], bad)
    }
    assert.match(messageOf({ PEERS: "redis:6379" }), /PEERS \(value not shown\): expected comma-separated host names or IPv4 addresses, no ports and no spaces/)
  })

  it("MANTA_BUCKET must lie under /<MANTA_USER>/stor", () => {
    const base = { MANTA_USER: "acme", MANTA_PRIVATE_KEY: mantaKey }
    for (const bucket of ["/other/stor/x", "/acme/public/x", "/acme/store", "/acme"]) assert.deepStrictEqual(named({ ...base, MANTA_BUCKET: bucket }), ["MANTA_BUCKET"], bucket)
    for (const bucket of ["/acme/stor/backups", "/acme/stor"]) {
      const s = settingsFrom({ ...base, MANTA_BUCKET: bucket })
      assert.strictEqual(s.backup.target._tag === "manta" ? s.backup.target.directory : "", bucket)
    }
  })
})

describe("least-privilege users", () => {
  it("REDIS_APP_PASSWORD turns them on, with REDIS_APP_USER (app by default); REDIS_PASSWORD is required with it", () => {
    const app = Option.getOrThrow(settingsFrom({ REDIS_PASSWORD: "admin-pw", REDIS_APP_PASSWORD: "app-pw" }).redis.app)
    assert.strictEqual(app.user, "app")
    assert.strictEqual(Redacted.value(app.password), "app-pw")
    assert.isTrue(Option.isNone(settingsFrom({ REDIS_PASSWORD: "admin-pw", REDIS_APP_USER: "web" }).redis.app))
    assert.deepStrictEqual(named({ REDIS_APP_PASSWORD: "app-pw" }), ["REDIS_PASSWORD"])
    assert.notInclude(messageOf({ REDIS_APP_PASSWORD: "app-pw" }), "app-pw")
  })

  it("REDIS_APP_USER is a plain word and not one of the users the setup defines itself", () => {
    for (const user of ["default", "manage", "Replication", "sentinel", "web app", "a".repeat(65), "web>x"]) {
      assert.deepStrictEqual(named({ REDIS_PASSWORD: "admin-pw", REDIS_APP_PASSWORD: "app-pw", REDIS_APP_USER: user }), ["REDIS_APP_USER"], user)
    }
  })
})

describe("TLS and Consul over HTTPS", () => {
  const tlsEnv = { TLS_CERT_FILE: "/tls/node.pem", TLS_KEY_FILE: "/tls/node-key.pem", TLS_CA_FILE: "/tls/ca.pem" }
  const certificate = Result.succeed("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
  const key = Result.succeed("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIsecretbody\n-----END EC PRIVATE KEY-----\n")
  const reads = (overrides: Readonly<Record<string, Result.Result<string, string>>> = {}) =>
    new Map(Object.entries({ TLS_CERT_FILE: certificate, TLS_KEY_FILE: key, TLS_CA_FILE: certificate, CONSUL_CACERT: certificate, ...overrides }))
  const decoded = (env: Env, r = reads()) => decodeSettings(env, hostFacts, inspectPrivateKey, r)
  const problems = (env: Env, r = reads()): ReadonlyArray<Problem> => {
    const d = decoded(env, r)
    return Result.isFailure(d) ? d.failure : assert.fail("expected a refusal")
  }

  it("off unless all three files are given; the files and what they hold are kept, the key redacted", () => {
    assert.isTrue(Option.isNone(settingsFrom({}).tls))
    const d = decoded(tlsEnv)
    if (Result.isFailure(d)) return assert.fail(formatProblems(d.failure))
    const tls = Option.getOrThrow(d.success.tls)
    assert.deepStrictEqual([tls.certFile, tls.keyFile, tls.caFile, tls.authClients], ["/tls/node.pem", "/tls/node-key.pem", "/tls/ca.pem", "no"])
    assert.include(Redacted.value(tls.key), "secretbody")
    assert.notInclude(inspect(d.success, { depth: 10 }), "secretbody")
  })

  it("half a TLS setup names each missing file", () => {
    assert.deepStrictEqual(problems({ TLS_CERT_FILE: "/tls/node.pem" }).map((p) => p.variable), ["TLS_KEY_FILE", "TLS_CA_FILE"])
  })

  it("a file that cannot be read, or holds no PEM of its kind, is named with its path and never its content", () => {
    const unreadable = problems(tlsEnv, reads({ TLS_CA_FILE: Result.fail("is a FIFO (named pipe), not a regular file") }))
    assert.deepStrictEqual(unreadable.map((p) => p.variable), ["TLS_CA_FILE"])
    assert.include(formatProblems(unreadable), `TLS_CA_FILE="/tls/ca.pem": is a FIFO (named pipe), not a regular file, expected a PEM file holding a certificate`)
    const swapped = problems(tlsEnv, reads({ TLS_CERT_FILE: key, TLS_KEY_FILE: certificate }))
    assert.deepStrictEqual(swapped.map((p) => p.variable), ["TLS_CERT_FILE", "TLS_KEY_FILE"])
    assert.notInclude(formatProblems(swapped), "secretbody")
    assert.include(formatProblems(swapped), "holds no PEM private key")
  })

  it("TLS_AUTH_CLIENTS is no, optional or yes", () => {
    assert.deepStrictEqual(problems({ ...tlsEnv, TLS_AUTH_CLIENTS: "required" }).map((p) => p.variable), ["TLS_AUTH_CLIENTS"])
  })

  it("Consul over HTTPS with a CA and the name its certificate bears; both only with CONSUL_HTTP_SSL=true", () => {
    assert.isTrue(Option.isNone(settingsFrom({}).consul.https))
    const d = decoded({ CONSUL_HTTP_SSL: "true", CONSUL: "consul:8501", CONSUL_CACERT: "/tls/consul-ca.pem", CONSUL_TLS_SERVER_NAME: "server.dc1.consul" })
    if (Result.isFailure(d)) return assert.fail(formatProblems(d.failure))
    const https = Option.getOrThrow(d.success.consul.https)
    assert.deepStrictEqual([Option.getOrUndefined(https.caFile), Option.getOrUndefined(https.serverName)], ["/tls/consul-ca.pem", "server.dc1.consul"])
    assert.include(Option.getOrThrow(https.ca), "BEGIN CERTIFICATE")
    assert.deepStrictEqual(
      problems({ CONSUL_CACERT: "/tls/consul-ca.pem", CONSUL_TLS_SERVER_NAME: "server.dc1.consul" }).map((p) => p.variable),
      ["CONSUL_CACERT", "CONSUL_TLS_SERVER_NAME"]
    )
    assert.deepStrictEqual(problems({ CONSUL_HTTP_SSL: "true", CONSUL_TLS_SERVER_NAME: "10.0.0.1" }).map((p) => p.variable), ["CONSUL_TLS_SERVER_NAME"])
  })

  it("with CONSUL_AGENT=true the node asks its own agent on loopback, and CONSUL names the servers it joins, without a port", () => {
    const own = settingsFrom({ CONSUL_AGENT: "true", CONSUL: "tasks.consul" }).consul
    assert.deepStrictEqual([own.host, own.port], ["127.0.0.1", 8500])
    const remote = settingsFrom({ CONSUL: "tasks.consul" }).consul
    assert.deepStrictEqual([remote.host, remote.port], ["tasks.consul", 8500])
    // A port would go nowhere (the agent joins on the gossip port), HTTPS to nothing that serves it.
    assert.deepStrictEqual(problems({ CONSUL_AGENT: "true", CONSUL: "tasks.consul:8500" }).map((p) => p.variable), ["CONSUL"])
    assert.deepStrictEqual(problems({ CONSUL_AGENT: "true", CONSUL_HTTP_SSL: "true" }).map((p) => p.variable), ["CONSUL_HTTP_SSL"])
    assert.deepStrictEqual(problems({ CONSUL_AGENT: "yes" }).map((p) => p.variable), ["CONSUL_AGENT"])
  })
})

describe("secrets", () => {
  const secrets = { REDIS_PASSWORD: "hunter2-pw", CONSUL_HTTP_TOKEN: "tok-0c1d-secret", MANTA_PRIVATE_KEY: mantaKey }
  const leaks = (text: string) => ["hunter2", "tok-0c1d", keyBody, "b3BlbnNzaC1rZXktdjEAAAAA", "PRIVATE KEY-----"].filter((s) => text.includes(s))

  it("an invalid secret is named but its value never appears", () => {
    const env = {
      REDIS_PASSWORD: "hunter2\nsecond-line",
      CONSUL_HTTP_TOKEN: "tok-0c1d has spaces",
      MANTA_PRIVATE_KEY: "b3BlbnNzaC1rZXktdjEAAAAA not a key",
      MANTA_USER: "acme"
    }
    const problems = problemsOf(env)
    assert.sameMembers([...new Set(problems.map((p) => p.variable))], ["REDIS_PASSWORD", "CONSUL_HTTP_TOKEN", "MANTA_PRIVATE_KEY"])
    const message = formatProblems(problems)
    assert.deepStrictEqual(leaks(message), [])
    assert.include(message, "REDIS_PASSWORD (secret, value not shown)")
  })

  it("valid secrets never appear in the message about other bad variables", () => {
    const message = messageOf({ ...secrets, MANTA_USER: "acme", REDIS_PORT: "abc", MANTA_BUCKET: "/x/y" })
    assert.deepStrictEqual(leaks(message), [])
  })

  it("are Redacted in Settings: String, JSON and inspect never show them", () => {
    const s: Settings = settingsFrom({ ...secrets, MANTA_USER: "acme" })
    for (const text of [String(s), JSON.stringify(s), inspect(s, { depth: 20 }), `${s.redis.password}`, String(s.consul.token)]) {
      assert.deepStrictEqual(leaks(text), [], text)
    }
    assert.strictEqual(Option.map(s.redis.password, Redacted.value).pipe(Option.getOrNull), "hunter2-pw")
    assert.strictEqual(Option.map(s.consul.token, Redacted.value).pipe(Option.getOrNull), "tok-0c1d-secret")
  })

  it("MANTA_PRIVATE_KEY: '#' stands for a newline (an _env file cannot hold one)", () => {
    const s = settingsFrom({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: mantaKey })
    assert.strictEqual(s.backup.target._tag, "manta")
    if (s.backup.target._tag !== "manta") return
    assert.strictEqual(Redacted.value(s.backup.target.privateKey), testKey.privateKey.trim())
  })
})

describe("backup store", () => {
  it("defaults to manta when MANTA_USER is set, with the bucket under the user's stor", () => {
    const s = settingsFrom({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: mantaKey, MANTA_ROLE: "ops,backup", SERVICE_NAME: "cache" })
    const t = s.backup.target
    assert.strictEqual(t._tag, "manta")
    if (t._tag !== "manta") return
    assert.strictEqual(t.user, "acme")
    assert.strictEqual(t.directory, "/acme/stor/cache")
    assert.deepStrictEqual(t.roles, ["ops", "backup"])
    assert.strictEqual(t.url, "https://us-central.manta.mnx.io")
  })

  it("BACKUP_STORE=local or none wins over MANTA_USER", () => {
    assert.deepStrictEqual(settingsFrom({ MANTA_USER: "acme", BACKUP_STORE: "local", BACKUP_DIR: "/vol" }).backup.target, { _tag: "local", dir: "/vol" })
    assert.deepStrictEqual(settingsFrom({ MANTA_USER: "acme", BACKUP_STORE: "none" }).backup.target, { _tag: "none" })
  })
})

describe("empty values count as unset", () => {
  it("VAR= values fall back to the default", () => {
    const s = settingsFrom({ REDIS_PORT: "", SENTINEL_QUORUM: "", REDIS_PASSWORD: "", BACKUP_STORE: "", ANNOUNCE_IP: "", CONSUL: "" })
    assert.strictEqual(s.redis.port, 6379)
    assert.strictEqual(s.sentinel.quorum, 2)
    assert.isTrue(Option.isNone(s.redis.password))
    assert.strictEqual(s.backup.target._tag, "local")
    assert.strictEqual(s.node.address, hostFacts.ipv4[0])
    assert.strictEqual(s.consul.host, "consul")
  })

  // ContainerPilot's `default` replaces only "", so a blank value would reach its
  // configuration; and a blank REDIS_PASSWORD would silently mean "no password".
  it("whitespace-only values are rejected, not taken as unset", () => {
    assert.deepStrictEqual(named({ SENTINEL_QUORUM: "   ", HEALTH_INTERVAL: " ", REDIS_PASSWORD: "  " }), ["REDIS_PASSWORD", "SENTINEL_QUORUM", "HEALTH_INTERVAL"])
    assert.include(messageOf({ REDIS_PASSWORD: "\t " }), "REDIS_PASSWORD (secret, value not shown): is only whitespace")
  })

  it("an empty MANTA_USER does not switch the store to manta", () => {
    assert.strictEqual(settingsFrom({ MANTA_USER: "" }).backup.target._tag, "local")
  })
})

describe("ANNOUNCE_IP", () => {
  const noIp: HostFacts = { hostname: "node-1", ipv4: [] }

  it("an explicit ANNOUNCE_IP wins over ContainerPilot's and the host's", () => {
    assert.strictEqual(settingsFrom({ ANNOUNCE_IP: "10.9.9.9", CONTAINERPILOT_REDIS_IP: "10.8.8.8" }).node.address, "10.9.9.9")
  })

  it("defaults to CONTAINERPILOT_<SERVICE>_IP, then to the host's first IPv4", () => {
    assert.strictEqual(settingsFrom({ CONTAINERPILOT_REDIS_IP: "10.8.8.8" }).node.address, "10.8.8.8")
    assert.strictEqual(settingsFrom({ SERVICE_NAME: "my-cache", CONTAINERPILOT_MY_CACHE_IP: "10.7.7.7" }).node.address, "10.7.7.7")
    assert.strictEqual(settingsFrom({ SERVICE_NAME: "my-cache", CONTAINERPILOT_REDIS_IP: "10.7.7.7" }).node.address, hostFacts.ipv4[0])
    assert.strictEqual(settingsFrom({}, { hostname: "h", ipv4: ["172.17.0.5", "10.0.0.9"] }).node.address, "172.17.0.5")
  })

  it("a malformed ContainerPilot IP falls back to the host's", () => {
    assert.strictEqual(settingsFrom({ CONTAINERPILOT_REDIS_IP: "not-an-ip" }).node.address, hostFacts.ipv4[0])
  })

  it("no address anywhere is a clear problem naming ANNOUNCE_IP", () => {
    const [p, ...rest] = problemsOf({}, noIp)
    assert.lengthOf(rest, 0)
    assert.strictEqual(p?.variable, "ANNOUNCE_IP")
    assert.include(p?.message, "no usable non-loopback IPv4")
    assert.strictEqual(settingsFrom({ CONTAINERPILOT_REDIS_IP: "10.8.8.8" }, noIp).node.address, "10.8.8.8")
  })

  it("an invalid ANNOUNCE_IP is rejected, not replaced by a default", () => {
    for (const ip of ["10.0.0.256", "10.0.0", "::1", "host.example"]) assert.deepStrictEqual(named({ ANNOUNCE_IP: ip }), ["ANNOUNCE_IP"], ip)
  })

  it("HOSTNAME overrides the host's name", () => {
    assert.strictEqual(settingsFrom({ HOSTNAME: "redis-3" }).node.name, "redis-3")
  })
})

describe("durations", () => {
  it("accept Go-style 500ms and 1h30m", () => {
    assert.strictEqual(ms(settingsFrom({ SENTINEL_DOWN_AFTER: "500ms" }).sentinel.downAfter), 500)
    assert.strictEqual(ms(settingsFrom({ BACKUP_INTERVAL: "1h30m" }).backup.interval), 90 * 60_000)
    assert.strictEqual(ms(settingsFrom({ SENTINEL_FAILOVER_TIMEOUT: "1m30s" }).sentinel.failoverTimeout), 90_000)
    assert.deepStrictEqual(named({ MASTER_WAIT_TIMEOUT: " 90s " }), ["MASTER_WAIT_TIMEOUT"], "ContainerPilot does not trim, so neither do the handlers")
  })

  it("enforce their bounds inclusively", () => {
    assert.strictEqual(ms(settingsFrom({ SENTINEL_DOWN_AFTER: "100ms" }).sentinel.downAfter), 100)
    assert.strictEqual(ms(settingsFrom({ SENTINEL_DOWN_AFTER: "10m" }).sentinel.downAfter), 600_000)
    assert.deepStrictEqual(named({ SENTINEL_DOWN_AFTER: "99ms" }), ["SENTINEL_DOWN_AFTER"])
    assert.deepStrictEqual(named({ SENTINEL_DOWN_AFTER: "10m1ms" }), ["SENTINEL_DOWN_AFTER"])
    assert.deepStrictEqual(named({ BACKUP_INTERVAL: "59s" }), ["BACKUP_INTERVAL"])
    assert.deepStrictEqual(named({ MASTER_WAIT_TIMEOUT: "1h1s" }), ["MASTER_WAIT_TIMEOUT"])
  })

  it("reject bare numbers, negatives, fractions and unknown units", () => {
    for (const d of ["5", "-5s", "1.5s", "5 s", "5sec", "1d", "s"]) assert.deepStrictEqual(named({ SENTINEL_FAILOVER_TIMEOUT: d }), ["SENTINEL_FAILOVER_TIMEOUT"], d)
  })

  it("REDIS_MIN_REPLICAS_MAX_LAG must be whole seconds (redis.conf takes seconds)", () => {
    assert.deepStrictEqual(named({ REDIS_MIN_REPLICAS_MAX_LAG: "1500ms" }), ["REDIS_MIN_REPLICAS_MAX_LAG"])
    assert.strictEqual(ms(settingsFrom({ REDIS_MIN_REPLICAS_MAX_LAG: "2000ms" }).redis.minReplicasMaxLag), 2_000)
  })
})

describe("CONSUL", () => {
  it("host alone gets port 8500; host:port keeps its port", () => {
    assert.deepStrictEqual(pick(settingsFrom({ CONSUL: "consul.service.dc1" })), ["consul.service.dc1", 8500])
    assert.deepStrictEqual(pick(settingsFrom({ CONSUL: "10.0.0.2:8501" })), ["10.0.0.2", 8501])
    assert.deepStrictEqual(pick(settingsFrom({ CONSUL: "consul:65535" })), ["consul", 65535], "the highest port")
    assert.deepStrictEqual(named({ CONSUL: "consul:65536" }), ["CONSUL"])
  })

  it("rejects a URL, an empty or bad port, or extra colons", () => {
    for (const c of ["http://consul:8500", "consul:", "consul:0", "consul:70000", "consul:http", "a:1:2", "bad host"]) {
      assert.deepStrictEqual(named({ CONSUL: c }), ["CONSUL"], c)
    }
  })
})
const pick = (s: Settings) => [s.consul.host, s.consul.port] as const

describe("REDIS_PORT over arbitrary strings", () => {
  it("either decodes to an integer 1..65535 or fails naming REDIS_PORT (and nothing else)", () => {
    const candidates = fc.oneof(
      fc.string(),
      fc.integer({ min: -100_000, max: 100_000 }).map(String),
      fc.tuple(fc.constantFrom("", " ", "\t", "0"), fc.nat(70_000), fc.constantFrom("", " ", "x", ".0", "e1")).map(([a, n, b]) => `${a}${n}${b}`)
    )
    fc.assert(
      fc.property(candidates, (raw) => {
        const r = decodeSettings({ REDIS_PORT: raw }, hostFacts, inspectPrivateKey)
        if (Result.isSuccess(r)) {
          const port = r.success.redis.port
          assert.isTrue(Number.isInteger(port) && port >= 1 && port <= 65535, `${JSON.stringify(raw)} → ${port}`)
          if (raw !== "") assert.strictEqual(String(port), raw, "only the plain decimal spelling is accepted")
        } else {
          assert.deepStrictEqual(r.failure.map((p) => p.variable), ["REDIS_PORT"])
        }
      }),
      { numRuns: 500 }
    )
  })
})

describe("arbitrary environments", () => {
  const names = Object.keys(variables)
  const secretNames = ["REDIS_PASSWORD", "CONSUL_HTTP_TOKEN", "MANTA_PRIVATE_KEY"]
  const plausible = fc.constantFrom("", " ", "0", "1", "5", "15", "6379", "abc", "5s", "500ms", "1h30m", "soon", "manta", "local", "none", "acme", "/data", "10.0.0.9", "consul:8500", "-1", "text", "json")
  const envArb = fc.dictionary(fc.constantFrom(...names.filter((n) => !secretNames.includes(n))), fc.oneof(plausible, fc.string({ maxLength: 12 })), { maxKeys: 8 })
  const secretArb = fc.record(
    {
      REDIS_PASSWORD: fc.string({ maxLength: 8 }).map((s) => `S3CR3T-pw${s}`),
      CONSUL_HTTP_TOKEN: fc.string({ maxLength: 8 }).map((s) => `S3CR3T-tok${s}`),
      MANTA_PRIVATE_KEY: fc.constantFrom("-----BEGIN RSA PRIVATE KEY-----#S3CR3T-key#-----END RSA PRIVATE KEY-----", "S3CR3T-key garbage")
    },
    { requiredKeys: [] }
  )

  it("decoding never throws, names only known variables, and never prints a secret", () => {
    fc.assert(
      fc.property(envArb.filter((env) => Object.values(env).every((v) => !v.includes("S3CR3T"))), secretArb, fc.boolean(), (env, secrets, hasIp) => {
        const r = decodeSettings({ ...env, ...secrets }, { hostname: "node-1", ipv4: hasIp ? ["10.0.0.1"] : [] }, inspectPrivateKey)
        if (Result.isSuccess(r)) {
          assert.notInclude(JSON.stringify(r.success), "S3CR3T")
          assert.notInclude(inspect(r.success, { depth: 20 }), "S3CR3T")
          return
        }
        assert.isAbove(r.failure.length, 0)
        for (const p of r.failure) assert.include(names, p.variable)
        assert.notInclude(formatProblems(r.failure), "S3CR3T")
      }),
      { numRuns: 500 }
    )
  })
})

describe("what the operator reads about a rule between variables", () => {
  const only = (env: Env, host: HostFacts = hostFacts): string => {
    const [p, ...rest] = problemsOf(env, host)
    assert.lengthOf(rest, 0, formatProblems(problemsOf(env, host)))
    return p?.message ?? ""
  }

  it("two equal ports: the one set is named, with the other's name and port", () => {
    assert.strictEqual(only({ REDIS_PORT: "8008" }), `REDIS_PORT="8008": expected a port other than API_PORT's (8008): both listen on this node`)
    assert.strictEqual(only({ API_PORT: "26379" }), `API_PORT="26379": expected a port other than SENTINEL_PORT's (26379): both listen on this node`)
    assert.strictEqual(only({ REDIS_PORT: "7000", SENTINEL_PORT: "7000" }), `SENTINEL_PORT="7000": expected a port other than REDIS_PORT's (7000): both listen on this node`)
  })

  it("three equal ports set: the two later ones are named, each against REDIS_PORT", () => {
    const problems = problemsOf({ REDIS_PORT: "7000", SENTINEL_PORT: "7000", API_PORT: "7000" })
    assert.deepStrictEqual(problems.map((p) => p.message), [
      `SENTINEL_PORT="7000": expected a port other than REDIS_PORT's (7000): both listen on this node`,
      `API_PORT="7000": expected a port other than REDIS_PORT's (7000): both listen on this node`
    ])
  })

  it("a loopback announced address nothing listens on: BIND_ADDRESS named with that address", () => {
    assert.strictEqual(
      only({ ANNOUNCE_IP: "127.0.0.11", BIND_ADDRESS: "10.0.0.5" }),
      `BIND_ADDRESS="10.0.0.5": expected 0.0.0.0 or the announced loopback address 127.0.0.11, which nothing would listen on`
    )
  })

  it("a loopback address from the host alone (no ANNOUNCE_IP) is held to the same rule", () => {
    assert.deepStrictEqual(named({ BIND_ADDRESS: "10.0.0.5" }, { hostname: "node-1", ipv4: ["127.0.0.2"] }), ["BIND_ADDRESS"])
    assert.strictEqual(settingsFrom({ BIND_ADDRESS: "10.0.0.5" }).node.bindAddress, "10.0.0.5")
  })

  it("HEALTH_TTL not above HEALTH_INTERVAL: the interval named", () => {
    assert.strictEqual(only({ HEALTH_INTERVAL: "10", HEALTH_TTL: "10", HEALTH_TIMEOUT: "4s" }), `HEALTH_TTL="10": expected whole seconds greater than HEALTH_INTERVAL (10)`)
    assert.strictEqual(only({ HEALTH_INTERVAL: "10", HEALTH_TTL: "9", HEALTH_TIMEOUT: "4s" }), `HEALTH_TTL="9": expected whole seconds greater than HEALTH_INTERVAL (10)`)
  })

  it("HEALTH_TIMEOUT above HEALTH_INTERVAL: the interval named in seconds; equal to it is accepted", () => {
    assert.strictEqual(only({ HEALTH_INTERVAL: "3", HEALTH_TIMEOUT: "3001ms" }), `HEALTH_TIMEOUT="3001ms": expected at most HEALTH_INTERVAL (3s)`)
    assert.strictEqual(ms(settingsFrom({ HEALTH_INTERVAL: "3", HEALTH_TIMEOUT: "3s" }).health.timeout), 3_000)
  })

  it("PRESTART_TIMEOUT not longer than MASTER_WAIT_TIMEOUT", () => {
    assert.strictEqual(only({ MASTER_WAIT_TIMEOUT: "1h", PRESTART_TIMEOUT: "30m" }), `PRESTART_TIMEOUT="30m": expected longer than MASTER_WAIT_TIMEOUT`)
    assert.strictEqual(ms(settingsFrom({ MASTER_WAIT_TIMEOUT: "1h", PRESTART_TIMEOUT: "61m" }).masterWaitTimeout), 3_600_000)
  })

  it("BACKUP_STALL_TIMEOUT: one problem even when it reaches both timeouts; just below BACKUP_TIMEOUT is accepted", () => {
    assert.strictEqual(
      only({ BACKUP_STALL_TIMEOUT: "1h", BACKUP_TIMEOUT: "30m", PRESTART_TIMEOUT: "20m" }),
      `BACKUP_STALL_TIMEOUT="1h": expected shorter than BACKUP_TIMEOUT (30m)`
    )
    assert.strictEqual(ms(settingsFrom({ BACKUP_STALL_TIMEOUT: "29m", BACKUP_TIMEOUT: "30m", PRESTART_TIMEOUT: "1h" }).backup.stallTimeout), 29 * 60_000)
    assert.strictEqual(only({ BACKUP_STALL_TIMEOUT: "10m", PRESTART_TIMEOUT: "10m", MASTER_WAIT_TIMEOUT: "1m" }), `BACKUP_STALL_TIMEOUT="10m": expected shorter than PRESTART_TIMEOUT (10m)`)
  })

  it("FOUNDING_GRACE above half a MASTER_WAIT_TIMEOUT left at its default: the default named", () => {
    assert.strictEqual(only({ FOUNDING_GRACE: "30001ms" }), `FOUNDING_GRACE="30001ms": expected at most half of MASTER_WAIT_TIMEOUT (60s)`)
  })

  it("Manta chosen by MANTA_USER without a key: the key named as required, and why", () => {
    assert.strictEqual(only({ MANTA_USER: "acme" }), "MANTA_PRIVATE_KEY is not set: required when MANTA_USER is set")
    assert.deepStrictEqual(problemsOf({ BACKUP_STORE: "manta" }).map((p) => p.message), [
      "MANTA_USER is not set: required when BACKUP_STORE=manta",
      "MANTA_PRIVATE_KEY is not set: required when BACKUP_STORE=manta"
    ])
  })

  it("a MANTA_BUCKET outside the user's stor: the directory it must lie under named", () => {
    assert.strictEqual(only({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: mantaKey, MANTA_BUCKET: "/acme/storage" }), "MANTA_BUCKET (value not shown): expected /acme/stor or a directory below it")
  })

  it("a MANTA_KEY_ID of another key: the given id and this key's two fingerprints", () => {
    const other = generateTestKey("ed25519")
    const sha256 = Result.getOrThrow(inspectPrivateKey(testKey.privateKey)).fingerprintSha256
    assert.strictEqual(
      only({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: mantaKey, MANTA_KEY_ID: other.fingerprintMd5 }),
      `MANTA_KEY_ID="${other.fingerprintMd5}": does not match MANTA_PRIVATE_KEY, whose fingerprints are ${testKey.fingerprintMd5} and ${sha256}`
    )
  })

  it("a MANTA_PRIVATE_KEY Manta cannot use: named as a secret with the key's reason", () => {
    assert.strictEqual(
      only({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----#QUJDREVGR0hJSktMTU5PUA==#-----END PRIVATE KEY-----" }),
      "MANTA_PRIVATE_KEY (secret, value not shown): not a private key in PEM or OpenSSH format"
    )
  })

  it("with BACKUP_STORE=local, leftover MANTA_* values are not checked: a stale key id blocks no handler", () => {
    const other = generateTestKey("ed25519")
    const s = settingsFrom({ BACKUP_STORE: "local", MANTA_USER: "acme", MANTA_PRIVATE_KEY: mantaKey, MANTA_KEY_ID: other.fingerprintMd5, MANTA_BUCKET: "/other/stor" })
    assert.deepStrictEqual(s.backup.target, { _tag: "local", dir: "/backups" })
  })

  it("a host name that is no usable node name, and no HOSTNAME: HOSTNAME named as not set", () => {
    assert.strictEqual(
      only({}, { hostname: "-node_1", ipv4: ["10.0.0.1"] }),
      `HOSTNAME is not set and this host's name is not usable: expected ${variables.HOSTNAME.expects}`
    )
    assert.strictEqual(settingsFrom({ HOSTNAME: "node-1" }, { hostname: "-node_1", ipv4: ["10.0.0.1"] }).node.name, "node-1")
    assert.deepStrictEqual(named({}, { hostname: "-node_1", ipv4: ["10.0.0.1"] }), ["HOSTNAME"])
  })

  it("no usable address anywhere: the exact sentence", () => {
    assert.strictEqual(only({}, { hostname: "node-1", ipv4: [] }), "ANNOUNCE_IP is not set and this host has no usable non-loopback IPv4 address to default to")
  })
})

describe("the Manta target a backup signs with", () => {
  it("carries the subuser, roles, key id and key as given, the bucket and URL as set", () => {
    const s = settingsFrom({
      MANTA_USER: "acme",
      MANTA_SUBUSER: "ops",
      MANTA_ROLE: "backup",
      MANTA_KEY_ID: testKey.fingerprintMd5,
      MANTA_PRIVATE_KEY: mantaKey,
      MANTA_URL: "https://manta.example.com",
      MANTA_BUCKET: "/acme/stor/b"
    })
    const t = s.backup.target
    if (t._tag !== "manta") return assert.fail(`target ${t._tag}`)
    assert.deepStrictEqual(
      [t.url, t.user, Option.getOrNull(t.subuser), t.roles, Option.getOrNull(t.keyId), Redacted.value(t.privateKey), t.directory],
      ["https://manta.example.com", "acme", "ops", ["backup"], testKey.fingerprintMd5, testKey.privateKey.trim(), "/acme/stor/b"]
    )
  })

  it("without subuser, roles or key id: none of them, and no roles assumed", () => {
    const t = settingsFrom({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: mantaKey }).backup.target
    if (t._tag !== "manta") return assert.fail(`target ${t._tag}`)
    assert.deepStrictEqual([Option.isNone(t.subuser), t.roles, Option.isNone(t.keyId), t.directory], [true, [], true, "/acme/stor/redis"])
  })

  it("BACKUP_STORE=manta with a user: the user's stor under the service name", () => {
    const t = settingsFrom({ BACKUP_STORE: "manta", MANTA_USER: "acme", MANTA_PRIVATE_KEY: mantaKey }).backup.target
    assert.strictEqual(t._tag === "manta" ? t.directory : t._tag, "/acme/stor/redis")
  })
})

describe("where this node's own health checks reach its agent", () => {
  it("bound to every interface: on loopback at API_PORT", () => {
    assert.deepStrictEqual(selfApi(settingsFrom({ API_PORT: "9008" })), { host: "127.0.0.1", port: 9008 })
  })

  it("bound to one address: on that address", () => {
    assert.deepStrictEqual(selfApi(settingsFrom({ ANNOUNCE_IP: "10.0.0.5", BIND_ADDRESS: "10.0.0.5" })), { host: "10.0.0.5", port: 8008 })
  })
})

describe("LOG_FORMAT read on its own, for the last line of a failed run", () => {
  it("json in any case gives JSON lines", () => {
    assert.deepStrictEqual(["json", "JSON", "Json"].map((v) => logFormatOf({ LOG_FORMAT: v })), ["json", "json", "json"])
  })

  it("text, unset, empty or invalid gives text, whatever else is wrong", () => {
    assert.deepStrictEqual([{ LOG_FORMAT: "text" }, {}, { LOG_FORMAT: "" }, { LOG_FORMAT: "xml" }, { LOG_FORMAT: "json ", REDIS_PORT: "x" }].map(logFormatOf), ["text", "text", "text", "text", "text"])
  })
})

describe("a bad value is reported once: rules that read it do not also complain against its default", () => {
  const cases: ReadonlyArray<readonly [string, Env, ReadonlyArray<string>, HostFacts?]> = [
    ["REDIS_PORT bad, SENTINEL_PORT at REDIS_PORT's default", { REDIS_PORT: "x", SENTINEL_PORT: "6379" }, ["REDIS_PORT"]],
    ["ANNOUNCE_IP bad on a loopback-only host", { ANNOUNCE_IP: "x", BIND_ADDRESS: "10.0.0.5" }, ["ANNOUNCE_IP"], { hostname: "node-1", ipv4: ["127.0.0.2"] }],
    ["HEALTH_TTL bad, HEALTH_INTERVAL above its default", { HEALTH_TTL: "x", HEALTH_INTERVAL: "20", HEALTH_TIMEOUT: "4s" }, ["HEALTH_TTL"]],
    ["HEALTH_INTERVAL bad, HEALTH_TIMEOUT above its default", { HEALTH_INTERVAL: "x", HEALTH_TIMEOUT: "6s" }, ["HEALTH_INTERVAL"]],
    ["HEALTH_TIMEOUT bad, HEALTH_INTERVAL below its default", { HEALTH_TIMEOUT: "x", HEALTH_INTERVAL: "3" }, ["HEALTH_TIMEOUT"]],
    ["FOUNDING_GRACE bad, MASTER_WAIT_TIMEOUT below twice its default", { FOUNDING_GRACE: "x", MASTER_WAIT_TIMEOUT: "30s" }, ["FOUNDING_GRACE"]],
    ["MASTER_WAIT_TIMEOUT bad, FOUNDING_GRACE above half its default", { MASTER_WAIT_TIMEOUT: "x", FOUNDING_GRACE: "31s" }, ["MASTER_WAIT_TIMEOUT"]],
    ["PRESTART_TIMEOUT bad, MASTER_WAIT_TIMEOUT above its default", { PRESTART_TIMEOUT: "x", MASTER_WAIT_TIMEOUT: "1h" }, ["PRESTART_TIMEOUT"]],
    ["BACKUP_STALL_TIMEOUT bad, BACKUP_TIMEOUT at its default", { BACKUP_STALL_TIMEOUT: "x", BACKUP_TIMEOUT: "1m" }, ["BACKUP_STALL_TIMEOUT"]],
    ["BACKUP_TIMEOUT bad, BACKUP_STALL_TIMEOUT above its default", { BACKUP_TIMEOUT: "x", BACKUP_STALL_TIMEOUT: "45m", PRESTART_TIMEOUT: "2h" }, ["BACKUP_TIMEOUT"]],
    ["BACKUP_STORE bad beside a MANTA_USER without key", { BACKUP_STORE: "s3", MANTA_USER: "acme" }, ["BACKUP_STORE"]],
    ["MANTA_USER bad with BACKUP_STORE=manta", { BACKUP_STORE: "manta", MANTA_USER: "1acme", MANTA_PRIVATE_KEY: mantaKey }, ["MANTA_USER"]],
    ["ANNOUNCE_IP bad on a host without addresses", { ANNOUNCE_IP: "x" }, ["ANNOUNCE_IP"], { hostname: "node-1", ipv4: [] }],
    ["HOSTNAME bad on a host whose name is unusable", { HOSTNAME: "-x" }, ["HOSTNAME"], { hostname: "-node_1", ipv4: ["10.0.0.1"] }]
  ]
  for (const [what, env, expected, host] of cases) {
    it(what, () => assert.deepStrictEqual(named(env, host), expected))
  }

  it("a MANTA_BUCKET with no MANTA_USER to compare against is not also called outside it", () => {
    assert.deepStrictEqual(named({ BACKUP_STORE: "manta", MANTA_BUCKET: "/acme/stor", MANTA_PRIVATE_KEY: mantaKey }), ["MANTA_USER"])
  })
})

describe("the variable each key problem names", () => {
  it("a key Manta cannot use names MANTA_PRIVATE_KEY; a mismatched id names MANTA_KEY_ID", () => {
    assert.deepStrictEqual(named({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----#QUJD#-----END PRIVATE KEY-----" }), ["MANTA_PRIVATE_KEY"])
    assert.deepStrictEqual(named({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: mantaKey, MANTA_KEY_ID: generateTestKey("ed25519").fingerprintMd5 }), ["MANTA_KEY_ID"])
  })

  it("a pasted public key with real newlines is refused for its shape, not for the newlines a key may hold", () => {
    const message = messageOf({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: "-----BEGIN PUBLIC KEY-----\nQUJD\n-----END PUBLIC KEY-----" })
    assert.strictEqual(message, `invalid environment: MANTA_PRIVATE_KEY (secret, value not shown): expected ${variables.MANTA_PRIVATE_KEY.expects}`)
  })
})

describe("a newline is a flaw in every variable but the key", () => {
  it("REDIS_PASSWORD holding a newline (two _env lines run together) is told so; the key may hold newlines", () => {
    assert.strictEqual(
      messageOf({ REDIS_PASSWORD: "hunter2\nsecond" }),
      `invalid environment: REDIS_PASSWORD (secret, value not shown): holds a control character, expected ${variables.REDIS_PASSWORD.expects}`
    )
    assert.strictEqual(settingsFrom({ MANTA_USER: "acme", MANTA_PRIVATE_KEY: testKey.privateKey }).backup.target._tag, "manta")
  })
})
