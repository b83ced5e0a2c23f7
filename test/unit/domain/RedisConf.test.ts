// redis.conf and sentinel.conf as Redis reads them. Config lines are split with a
// port of Redis's own sdssplitargs (the parser redis-server and redis-sentinel use for
// their config files), so quoting is checked the way Redis would read it, not by
// string matching.
import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { Duration } from "effect"
import fc from "fast-check"
import {
  applyTuningOverrides,
  renderRedisConf,
  renderSentinelConf,
  sentinelMyId,
  type SentinelTuning
} from "../../../src/domain/RedisConf.ts"
import { startedWithoutAof } from "../../../src/domain/RestartResync.ts"
import { at, settingsFrom } from "../../support/scenarios.ts"

/** Redis's sdssplitargs (sds.c): how a config line becomes arguments; null when Redis would reject the quoting. */
const splitArgs = (line: string): ReadonlyArray<string> | null => {
  const args: Array<string> = []
  const isSpace = (c: string | undefined) => c !== undefined && " \t\n\r\v\f".includes(c)
  const isHex = (c: string | undefined) => c !== undefined && /^[0-9a-fA-F]$/.test(c)
  let i = 0
  for (;;) {
    while (isSpace(line[i])) i++
    if (i >= line.length) return args
    let current = ""
    let inq = false
    let insq = false
    let done = false
    while (!done) {
      const c = line[i]
      if (inq) {
        if (c === "\\" && line[i + 1] === "x" && isHex(line[i + 2]) && isHex(line[i + 3])) {
          current += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16))
          i += 3
        } else if (c === "\\" && line[i + 1] !== undefined) {
          i++
          const e = line[i] as string
          current += ({ n: "\n", r: "\r", t: "\t", b: "\b", a: "\x07" } as Record<string, string>)[e] ?? e
        } else if (c === "\"") {
          if (line[i + 1] !== undefined && !isSpace(line[i + 1])) return null
          done = true
        } else if (c === undefined) {
          return null
        } else {
          current += c
        }
      } else if (insq) {
        if (c === "\\" && line[i + 1] === "'") {
          i++
          current += "'"
        } else if (c === "'") {
          if (line[i + 1] !== undefined && !isSpace(line[i + 1])) return null
          done = true
        } else if (c === undefined) {
          return null
        } else {
          current += c
        }
      } else if (c === undefined || isSpace(c)) {
        done = true
      } else if (c === "\"") {
        inq = true
      } else if (c === "'") {
        insq = true
      } else {
        current += c
      }
      if (c !== undefined) i++
    }
    args.push(current)
  }
}

/** Every directive of a rendered file as Redis reads it (comments and blank lines skipped). */
const directives = (conf: string): ReadonlyArray<ReadonlyArray<string>> =>
  conf.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")).map((l) => {
    const args = splitArgs(l)
    if (args === null) return assert.fail(`Redis would reject the quoting of: ${l}`)
    return args
  })

const directive = (conf: string, ...prefix: ReadonlyArray<string>): ReadonlyArray<ReadonlyArray<string>> =>
  directives(conf).filter((d) => prefix.every((p, i) => d[i] === p))

const only = (conf: string, ...prefix: ReadonlyArray<string>): ReadonlyArray<string> => {
  const found = directive(conf, ...prefix)
  assert.lengthOf(found, 1, `exactly one "${prefix.join(" ")}" line`)
  return found[0] ?? []
}

const tuning: SentinelTuning = { quorum: 2, downAfter: Duration.seconds(5), failoverTimeout: Duration.seconds(30) }

/** Passwords the environment check accepts, drawn from any text. */
const acceptablePassword = fc.string({
  minLength: 1,
  // The characters that matter to Redis's config parser, often enough to be drawn.
  unit: fc.oneof(fc.constantFrom(" ", "\"", "'", "\\", "#", "$"), fc.string({ minLength: 1, maxLength: 1, unit: "binary" }))
}).filter((p) => {
  try {
    settingsFrom({ REDIS_PASSWORD: p })
    return true
  } catch {
    return false
  }
})

describe("splitArgs (the sdssplitargs port the tests rely on)", () => {
  it("matches Redis on the cases it must", () => {
    assert.deepStrictEqual(splitArgs(`requirepass "a b\\"c\\\\d"`), ["requirepass", "a b\"c\\d"])
    assert.deepStrictEqual(splitArgs(`dir /a b`), ["dir", "/a", "b"])
    assert.deepStrictEqual(splitArgs(`x "\\x41\\n"`), ["x", "A\n"])
    assert.isNull(splitArgs(`x "unterminated`))
    assert.isNull(splitArgs(`x "a"b`))
  })
})

describe("renderRedisConf", () => {
  const plain = settingsFrom({ ANNOUNCE_IP: "10.0.0.7", DATA_DIR: "/srv/redis data" })
  const withPassword = settingsFrom({ ANNOUNCE_IP: "10.0.0.7", REDIS_PASSWORD: `p\\a$s#wo%rd\\n` })

  it("a master has no replicaof line", () => {
    assert.lengthOf(directive(renderRedisConf(plain, { _tag: "Master" }), "replicaof"), 0)
  })

  it("keeps REDIS_REPL_BACKLOG_SIZE of writes for replicas that come back (64mb unless set), in bytes", () => {
    assert.deepStrictEqual(only(renderRedisConf(plain, { _tag: "Master" }), "repl-backlog-size"), ["repl-backlog-size", "67108864"])
    assert.deepStrictEqual(only(renderRedisConf(settingsFrom({ REDIS_REPL_BACKLOG_SIZE: "1gb" }), { _tag: "Master" }), "repl-backlog-size"), ["repl-backlog-size", "1073741824"])
  })

  it("persists through its AOF, and RDB saves go to dump.rdb", () => {
    const conf = renderRedisConf(plain, { _tag: "Master" })
    assert.deepStrictEqual(only(conf, "appendonly"), ["appendonly", "yes"])
    assert.deepStrictEqual(only(conf, "dbfilename"), ["dbfilename", "dump.rdb"])
  })

  it("a replica started from resync.rdb loads it (as dump.rdb) with the AOF off, and the agent can tell from the file", () => {
    const conf = renderRedisConf(plain, { _tag: "Replica", master: at("10.0.0.5", 7000) }, "resync-rdb")
    assert.deepStrictEqual(only(conf, "appendonly"), ["appendonly", "no"])
    assert.deepStrictEqual(only(conf, "dbfilename"), ["dbfilename", "dump.rdb"])
    assert.isTrue(startedWithoutAof(conf))
    assert.isFalse(startedWithoutAof(renderRedisConf(plain, { _tag: "Replica", master: at("10.0.0.5", 7000) })))
  })

  it("a replica follows its master", () => {
    const conf = renderRedisConf(plain, { _tag: "Replica", master: at("10.0.0.5", 7000) })
    assert.deepStrictEqual(only(conf, "replicaof"), ["replicaof", "10.0.0.5", "7000"])
  })

  it("persists with AOF into DATA_DIR (one argument even with a space) and announces this node", () => {
    const conf = renderRedisConf(plain, { _tag: "Master" })
    assert.deepStrictEqual(only(conf, "appendonly"), ["appendonly", "yes"])
    assert.deepStrictEqual(only(conf, "dir"), ["dir", "/srv/redis data"])
    assert.deepStrictEqual(only(conf, "replica-announce-ip"), ["replica-announce-ip", "10.0.0.7"])
    assert.deepStrictEqual(only(conf, "port"), ["port", "6379"])
    assert.deepStrictEqual(only(conf, "bind"), ["bind", "0.0.0.0"])
  })

  it("requirepass and masterauth appear only with a password", () => {
    const conf = renderRedisConf(plain, { _tag: "Master" })
    assert.lengthOf(directive(conf, "requirepass"), 0)
    assert.lengthOf(directive(conf, "masterauth"), 0)
  })

  it("the password reaches Redis exactly, backslashes, '#' and '$' included", () => {
    const conf = renderRedisConf(withPassword, { _tag: "Replica", master: at("10.0.0.5") })
    assert.deepStrictEqual(only(conf, "requirepass"), ["requirepass", `p\\a$s#wo%rd\\n`])
    assert.deepStrictEqual(only(conf, "masterauth"), ["masterauth", `p\\a$s#wo%rd\\n`])
  })

  it("any password the environment accepts round-trips and cannot add a directive", () => {
    const withoutPassword = directives(renderRedisConf(settingsFrom(), { _tag: "Master" })).length
    fc.assert(
      fc.property(acceptablePassword, (password) => {
        const conf = renderRedisConf(settingsFrom({ REDIS_PASSWORD: password }), { _tag: "Master" })
        assert.deepStrictEqual(only(conf, "requirepass"), ["requirepass", password])
        assert.lengthOf(directives(conf), withoutPassword + 2)
      }),
      { numRuns: 300 }
    )
  })

  it("replica-priority is REPLICA_PRIORITY, 100 (Redis's default) when unset, 0 allowed", () => {
    assert.deepStrictEqual(only(renderRedisConf(settingsFrom(), { _tag: "Master" }), "replica-priority"), ["replica-priority", "100"])
    assert.deepStrictEqual(only(renderRedisConf(settingsFrom({ REPLICA_PRIORITY: "0" }), { _tag: "Master" }), "replica-priority"), ["replica-priority", "0"])
  })

  it("min-replicas settings are rendered, the lag in seconds", () => {
    const conf = renderRedisConf(settingsFrom({ REDIS_MIN_REPLICAS_TO_WRITE: "1", REDIS_MIN_REPLICAS_MAX_LAG: "10s" }), { _tag: "Master" })
    assert.deepStrictEqual(only(conf, "min-replicas-to-write"), ["min-replicas-to-write", "1"])
    assert.deepStrictEqual(only(conf, "min-replicas-max-lag"), ["min-replicas-max-lag", "10"])
  })
})

describe("least-privilege users in redis.conf and sentinel.conf (REDIS_APP_PASSWORD)", () => {
  const env = { ANNOUNCE_IP: "10.0.0.7", REDIS_PASSWORD: "admin-Secret-1", REDIS_APP_PASSWORD: "app-Secret-2", REDIS_APP_USER: "web" }
  const s = settingsFrom(env)
  const redisConf = renderRedisConf(s, { _tag: "Replica", master: at("10.0.0.5") })
  const sentinelConf = renderSentinelConf(s, at("10.0.0.5"), tuning)
  const users = (conf: string) => directive(conf, "user").map((d) => d[1])

  it("the default user is off; manage, replication, sentinel and the application's user are defined, each password only as its SHA-256", () => {
    assert.deepStrictEqual(users(redisConf), ["default", "manage", "replication", "sentinel", "web"])
    assert.deepStrictEqual(users(sentinelConf), ["default", "manage", "sentinel", "web"])
    assert.deepStrictEqual(directive(redisConf, "user", "default")[0], ["user", "default", "reset", "off"])
    for (const conf of [redisConf, sentinelConf]) {
      assert.notInclude(conf, "admin-Secret-1")
      assert.notInclude(conf, "app-Secret-2")
      assert.lengthOf(directive(conf, "requirepass"), 0)
    }
  })

  it("replication logs in as its user, Sentinel as its own, to Redis and to its peers, with a password derived from REDIS_PASSWORD", () => {
    const masterauth = only(redisConf, "masterauth")[1] ?? ""
    assert.deepStrictEqual(only(redisConf, "masteruser"), ["masteruser", "replication"])
    assert.match(masterauth, /^[0-9a-f]{64}$/)
    const authPass = only(sentinelConf, "sentinel", "auth-pass")[3] ?? ""
    assert.deepStrictEqual(only(sentinelConf, "sentinel", "auth-user"), ["sentinel", "auth-user", "mymaster", "sentinel"])
    assert.deepStrictEqual(only(sentinelConf, "sentinel", "sentinel-user"), ["sentinel", "sentinel-user", "sentinel"])
    assert.deepStrictEqual(only(sentinelConf, "sentinel", "sentinel-pass"), ["sentinel", "sentinel-pass", authPass])
    assert.notStrictEqual(authPass, masterauth)
    // Every node derives the same; another REDIS_PASSWORD derives others.
    const other = settingsFrom({ ...env, ANNOUNCE_IP: "10.0.0.8", HOSTNAME: "node-8" })
    assert.strictEqual(only(renderRedisConf(other, { _tag: "Master" }), "masterauth")[1], masterauth)
    const rotated = settingsFrom({ ...env, REDIS_PASSWORD: "admin-Secret-9" })
    assert.notStrictEqual(only(renderRedisConf(rotated, { _tag: "Master" }), "masterauth")[1], masterauth)
  })

  it("replication may only replicate; Sentinel has its documented ACL (no key, no CONFIG SET, no FLUSHALL); the application no admin or dangerous command", () => {
    const rules = (conf: string, user: string) => (directive(conf, "user", user)[0] ?? []).slice(5)
    assert.deepStrictEqual(rules(redisConf, "replication"), ["resetchannels", "-@all", "+psync", "+sync", "+replconf", "+ping"])
    const sentinel = rules(redisConf, "sentinel")
    assert.notInclude(sentinel.join(" "), "~")
    assert.notInclude(sentinel, "+config|set")
    assert.notInclude(sentinel, "+flushall")
    assert.includeMembers(sentinel, ["+slaveof", "+config|rewrite", "+info", "+role", "+publish", "+subscribe", "+client|kill"])
    assert.includeMembers(rules(redisConf, "web"), ["~*", "+@all", "-@admin", "-@dangerous"])
    assert.notInclude(rules(sentinelConf, "web"), "+@all")
    assert.include(rules(sentinelConf, "web"), "+sentinel|get-master-addr-by-name")
  })

  it("without REDIS_APP_PASSWORD: REDIS_PASSWORD on the default user, as before, and no user line", () => {
    const plain = settingsFrom({ REDIS_PASSWORD: "admin-Secret-1", REDIS_APP_USER: "web" })
    assert.lengthOf(directive(renderRedisConf(plain, { _tag: "Master" }), "user"), 0)
    assert.deepStrictEqual(only(renderRedisConf(plain, { _tag: "Master" }), "requirepass"), ["requirepass", "admin-Secret-1"])
  })
})

describe("a password rotation's second accepted password", () => {
  const hashes = (conf: string, user: string) => (directive(conf, "user", user)[0] ?? []).filter((a) => a.startsWith("#"))
  const sha = (p: string) => `#${createHash("sha256").update(p).digest("hex")}`

  it("without ACL users: the default user accepts both passwords (as SHA-256), replication and Sentinel still send REDIS_PASSWORD", () => {
    const s = settingsFrom({ REDIS_PASSWORD: "old-Secret-1", REDIS_PASSWORD_ACCEPTED: "new-Secret-2" })
    const redis = renderRedisConf(s, { _tag: "Replica", master: at("10.0.0.5") })
    const sentinel = renderSentinelConf(s, at("10.0.0.5"), tuning)
    for (const conf of [redis, sentinel]) {
      assert.deepStrictEqual(hashes(conf, "default"), [sha("old-Secret-1"), sha("new-Secret-2")])
      assert.includeMembers([...(directive(conf, "user", "default")[0] ?? [])], ["on", "~*", "&*", "+@all"])
      assert.lengthOf(directive(conf, "requirepass"), 0)
      assert.notInclude(conf, "new-Secret-2")
    }
    assert.deepStrictEqual(only(redis, "masterauth"), ["masterauth", "old-Secret-1"])
    assert.deepStrictEqual(only(sentinel, "sentinel", "sentinel-pass"), ["sentinel", "sentinel-pass", "old-Secret-1"])
  })

  it("with ACL users: every user REDIS_PASSWORD derives accepts what either password derives; what a node sends is REDIS_PASSWORD's", () => {
    const base = { REDIS_PASSWORD: "old-Secret-1", REDIS_APP_PASSWORD: "app-Secret-2", REDIS_APP_USER: "web" }
    const before = renderRedisConf(settingsFrom(base), { _tag: "Master" })
    const after = renderRedisConf(settingsFrom({ ...base, REDIS_PASSWORD: "new-Secret-3" }), { _tag: "Master" })
    const during = settingsFrom({ ...base, REDIS_PASSWORD_ACCEPTED: "new-Secret-3", REDIS_APP_PASSWORD_ACCEPTED: "app-Secret-4" })
    const redis = renderRedisConf(during, { _tag: "Master" })
    const sentinel = renderSentinelConf(during, at("10.0.0.5"), tuning)
    for (const user of ["manage", "replication", "sentinel"]) {
      assert.deepStrictEqual(hashes(redis, user), [...hashes(before, user), ...hashes(after, user)], user)
    }
    assert.deepStrictEqual(hashes(sentinel, "sentinel"), [...hashes(before, "sentinel"), ...hashes(after, "sentinel")])
    assert.deepStrictEqual(hashes(redis, "web"), [sha("app-Secret-2"), sha("app-Secret-4")])
    assert.deepStrictEqual(hashes(sentinel, "web"), [sha("app-Secret-2"), sha("app-Secret-4")])
    assert.deepStrictEqual(only(redis, "masterauth"), only(before, "masterauth"))
    assert.deepStrictEqual(directive(redis, "user", "default")[0], ["user", "default", "reset", "off"])
  })

  it("each needs the password it is accepted beside", () => {
    assert.throws(() => settingsFrom({ REDIS_PASSWORD_ACCEPTED: "new-Secret-2" }), /REDIS_PASSWORD_ACCEPTED needs REDIS_PASSWORD/)
    assert.throws(() => settingsFrom({ REDIS_PASSWORD: "a-Secret-1", REDIS_APP_PASSWORD_ACCEPTED: "app-Secret-2" }), /REDIS_APP_PASSWORD_ACCEPTED needs REDIS_APP_PASSWORD/)
  })
})

describe("TLS in redis.conf and sentinel.conf", () => {
  const tls = settingsFrom({
    ANNOUNCE_IP: "10.0.0.7",
    TLS_CERT_FILE: "/run/secrets/node cert.pem",
    TLS_KEY_FILE: "/run/secrets/node-key.pem",
    TLS_CA_FILE: "/run/secrets/ca.pem",
    TLS_AUTH_CLIENTS: "yes"
  })
  const confs = [
    ["redis.conf", renderRedisConf(tls, { _tag: "Replica", master: at("10.0.0.5") }), "6379"],
    ["sentinel.conf", renderSentinelConf(tls, at("10.0.0.5"), tuning), "26379"]
  ] as const

  it.each(confs)("%s serves TLS only, on the usual port, and speaks TLS on every outgoing link", (_, conf, port) => {
    assert.deepStrictEqual(only(conf, "port"), ["port", "0"])
    assert.deepStrictEqual(only(conf, "tls-port"), ["tls-port", port])
    assert.deepStrictEqual(only(conf, "tls-cert-file"), ["tls-cert-file", "/run/secrets/node cert.pem"])
    assert.deepStrictEqual(only(conf, "tls-key-file"), ["tls-key-file", "/run/secrets/node-key.pem"])
    assert.deepStrictEqual(only(conf, "tls-ca-cert-file"), ["tls-ca-cert-file", "/run/secrets/ca.pem"])
    assert.deepStrictEqual(only(conf, "tls-auth-clients"), ["tls-auth-clients", "yes"])
    assert.deepStrictEqual(only(conf, "tls-replication"), ["tls-replication", "yes"])
  })

  it.each(confs)("%s holds paths, never the key itself", (_, conf) => {
    assert.notInclude(conf, "PRIVATE KEY")
    assert.notInclude(conf, "MIIE")
  })

  it("without the files: plaintext on the usual port and no TLS line", () => {
    for (const conf of [renderRedisConf(settingsFrom(), { _tag: "Master" }), renderSentinelConf(settingsFrom(), at("10.0.0.5"), tuning)]) {
      assert.notMatch(conf, /^tls-/m)
    }
    assert.deepStrictEqual(only(renderRedisConf(settingsFrom(), { _tag: "Master" }), "port"), ["port", "6379"])
  })
})

describe("renderSentinelConf", () => {
  const s = settingsFrom({ ANNOUNCE_IP: "10.0.0.7", HOSTNAME: "node-7", MASTER_NAME: "cachemaster", CONFIG_DIR: "/etc/redis" })
  const conf = renderSentinelConf(s, at("10.0.0.5"), { quorum: 3, downAfter: Duration.millis(1500), failoverTimeout: Duration.minutes(1) })

  it("monitors the master with the quorum", () => {
    assert.deepStrictEqual(only(conf, "sentinel", "monitor"), ["sentinel", "monitor", "cachemaster", "10.0.0.5", "6379", "3"])
  })

  it("writes down-after and failover-timeout in milliseconds", () => {
    assert.deepStrictEqual(only(conf, "sentinel", "down-after-milliseconds"), ["sentinel", "down-after-milliseconds", "cachemaster", "1500"])
    assert.deepStrictEqual(only(conf, "sentinel", "failover-timeout"), ["sentinel", "failover-timeout", "cachemaster", "60000"])
  })

  it("announces this node and listens on SENTINEL_PORT", () => {
    assert.deepStrictEqual(only(conf, "sentinel", "announce-ip"), ["sentinel", "announce-ip", "10.0.0.7"])
    assert.deepStrictEqual(only(conf, "port"), ["port", "26379"])
  })

  it("requirepass, sentinel-pass and auth-pass appear only with a password, exactly as Redis must read it", () => {
    assert.lengthOf(directive(conf, "requirepass"), 0)
    assert.lengthOf(directive(conf, "sentinel", "sentinel-pass"), 0)
    assert.lengthOf(directive(conf, "sentinel", "auth-pass"), 0)
    const secured = renderSentinelConf(settingsFrom({ REDIS_PASSWORD: `se#cr\\et$` }), at("10.0.0.5"), tuning)
    // Clients (and the handlers) must authenticate to this sentinel; it authenticates to
    // its peers and to the master and replicas with the same password.
    assert.deepStrictEqual(only(secured, "requirepass"), ["requirepass", `se#cr\\et$`])
    assert.deepStrictEqual(only(secured, "sentinel", "sentinel-pass"), ["sentinel", "sentinel-pass", `se#cr\\et$`])
    assert.deepStrictEqual(only(secured, "sentinel", "auth-pass"), ["sentinel", "auth-pass", "mymaster", `se#cr\\et$`])
  })

  // Sentinel's config rewrite (at start and at every state change) prints auth-pass and
  // sentinel-pass with a bare %s; ContainerPilot restarts a crashed redis-sentinel on
  // that rewritten file. So a password must read back the same unquoted.
  it("any password the environment accepts survives Sentinel's unquoted rewrite of its own file", () => {
    fc.assert(
      fc.property(acceptablePassword, (password) => {
        const secured = renderSentinelConf(settingsFrom({ REDIS_PASSWORD: password }), at("10.0.0.5"), tuning)
        const [, , , rendered] = only(secured, "sentinel", "auth-pass")
        assert.strictEqual(rendered, password)
        assert.deepStrictEqual(splitArgs(`sentinel auth-pass mymaster ${password}`), ["sentinel", "auth-pass", "mymaster", password])
        assert.deepStrictEqual(splitArgs(`sentinel sentinel-pass ${password}`), ["sentinel", "sentinel-pass", password])
      }),
      { numRuns: 300 }
    )
  })

  it("a password that would not read back unquoted is refused by the environment check", () => {
    for (const password of ["two words", `say"cheese`, "it's"]) {
      assert.throws(() => settingsFrom({ REDIS_PASSWORD: password }), /REDIS_PASSWORD \(secret, value not shown\)/)
    }
  })

  // The agent hears Sentinel's events over Pub/Sub: no process is started per failover.
  it("sets no client-reconfig-script", () => {
    assert.lengthOf(directive(conf, "sentinel", "client-reconfig-script"), 0)
  })

  it("carries no known-replica or known-sentinel lines: dead peers never count toward quorum", () => {
    assert.notMatch(conf, /known-(replica|slave|sentinel)/)
  })

  it("keeps a stable 40-hex myid derived from the node's identity", () => {
    const [, , id] = only(conf, "sentinel", "myid")
    assert.match(id ?? "", /^[0-9a-f]{40}$/)
    // sha1("autopilot-redis/redis/node-7"), computed with sha1sum: the id must never change
    // between releases, or every upgraded sentinel would leave a phantom behind.
    assert.strictEqual(id, "a9bdf85e4998c7d7afea239c74d54a694d916a2a")
    const again = renderSentinelConf(s, at("10.0.0.6"), tuning)
    assert.deepStrictEqual(only(again, "sentinel", "myid"), only(conf, "sentinel", "myid"))
  })
})

describe("sentinelMyId", () => {
  it("same node, same id; another node or another service, another id", () => {
    assert.strictEqual(sentinelMyId("redis", "node-1"), "48a6f6883eac9cb16cdc588d323bd1a8eda4b877")
    assert.strictEqual(sentinelMyId("redis", "node-2"), "f7dc5307307b8705af71c3114cedec47a2ee6378")
    assert.notStrictEqual(sentinelMyId("redis", "node-1"), sentinelMyId("redis", "node-2"))
    assert.notStrictEqual(sentinelMyId("redis", "node-1"), sentinelMyId("cache", "node-1"))
  })

  it("is always 40 lower-case hex digits (what Sentinel requires)", () => {
    fc.assert(fc.property(fc.string(), fc.string(), (svc, node) => /^[0-9a-f]{40}$/.test(sentinelMyId(svc, node))), { numRuns: 200 })
  })
})

describe("applyTuningOverrides", () => {
  it("no keys: the environment's values", () => {
    assert.deepStrictEqual(applyTuningOverrides(tuning, {}), { tuning, ignored: [] })
  })

  it("reads milliseconds (as the original image wrote them) and Go durations", () => {
    const r = applyTuningOverrides(tuning, { quorum: "3", "down-after": "3000", "failover-timeout": "1m30s" })
    assert.deepStrictEqual(r.ignored, [])
    assert.strictEqual(r.tuning.quorum, 3)
    assert.strictEqual(Duration.toMillis(r.tuning.downAfter), 3000)
    assert.strictEqual(Duration.toMillis(r.tuning.failoverTimeout), 90_000)
  })

  it("surrounding blanks (a value written from a file with a trailing newline) are ignored", () => {
    const r = applyTuningOverrides(tuning, { quorum: " 3\n", "down-after": "3000\n", "failover-timeout": " 1m " })
    assert.deepStrictEqual(r.ignored, [])
    assert.deepStrictEqual([r.tuning.quorum, Duration.toMillis(r.tuning.downAfter), Duration.toMillis(r.tuning.failoverTimeout)], [3, 3000, 60_000])
  })

  it("empty or blank values keep the environment's", () => {
    assert.deepStrictEqual(applyTuningOverrides(tuning, { quorum: " ", "down-after": "" }), { tuning, ignored: [] })
  })

  it("bad values are ignored and reported by key, never fatal", () => {
    const r = applyTuningOverrides(tuning, { quorum: "many", "down-after": "soon", "failover-timeout": "50" })
    assert.deepStrictEqual(r.tuning, tuning)
    assert.lengthOf(r.ignored, 3)
    assert.include(r.ignored[0], `quorum="many"`)
    assert.isTrue(r.ignored.some((i) => i.startsWith(`down-after="soon"`)))
    assert.isTrue(r.ignored.some((i) => i.startsWith(`failover-timeout="50"`)))
  })

  it("quorum must lie within 1..100", () => {
    assert.strictEqual(applyTuningOverrides(tuning, { quorum: "0" }).tuning.quorum, 2)
    assert.strictEqual(applyTuningOverrides(tuning, { quorum: "101" }).tuning.quorum, 2)
    assert.strictEqual(applyTuningOverrides(tuning, { quorum: "1" }).tuning.quorum, 1)
    assert.strictEqual(applyTuningOverrides(tuning, { quorum: "100" }).tuning.quorum, 100)
    assert.lengthOf(applyTuningOverrides(tuning, { quorum: "-1" }).ignored, 1)
    for (const q of ["3x", "x3", "3.0"]) assert.strictEqual(applyTuningOverrides(tuning, { quorum: q }).tuning.quorum, 2, q)
  })

  it("durations up to 10 minutes for down-after; plain digits are milliseconds, anything else a Go duration", () => {
    assert.strictEqual(Duration.toMillis(applyTuningOverrides(tuning, { "down-after": "600000" }).tuning.downAfter), 600_000)
    assert.strictEqual(Duration.toMillis(applyTuningOverrides(tuning, { "down-after": "600001" }).tuning.downAfter), 5000)
    assert.strictEqual(Duration.toMillis(applyTuningOverrides(tuning, { "down-after": "x3000" }).tuning.downAfter), 5000)
  })

  it("durations below 100ms are ignored", () => {
    assert.strictEqual(Duration.toMillis(applyTuningOverrides(tuning, { "down-after": "99" }).tuning.downAfter), 5000)
    assert.strictEqual(Duration.toMillis(applyTuningOverrides(tuning, { "down-after": "100ms" }).tuning.downAfter), 100)
  })

  // Sentinel parses down-after-milliseconds / failover-timeout with atoi: 2^31 ms or more
  // wraps and redis-sentinel 7.0.15 refuses to start ("negative or zero time parameter"),
  // so one KV typo would stop every node's Sentinel.
  it("an override Sentinel cannot parse (>= 2^31 ms) is ignored, not rendered", () => {
    const r = applyTuningOverrides(tuning, { "down-after": "3000000000", "failover-timeout": "900h" })
    assert.deepStrictEqual(r.tuning, tuning)
    assert.lengthOf(r.ignored, 2)
  })
})

describe("sentinel.conf knows the live peers from the start", () => {
  it("lists passing sentinels with their derived ids and passing replicas, never itself or the master", () => {
    const s = settingsFrom({ ANNOUNCE_IP: "10.0.0.11", HOSTNAME: "node-1" })
    const conf = renderSentinelConf(s, { host: "10.0.0.12", port: 6379 }, { quorum: 2, downAfter: Duration.seconds(5), failoverTimeout: Duration.seconds(30) }, {
      sentinels: [{ endpoint: { host: "10.0.0.11", port: 26379 }, node: "node-1" }, { endpoint: { host: "10.0.0.12", port: 26379 }, node: "node-2" }],
      replicas: [{ host: "10.0.0.11", port: 6379 }, { host: "10.0.0.12", port: 6379 }, { host: "10.0.0.13", port: 6379 }, { host: "10.0.0.11", port: 6380 }, { host: "10.0.0.12", port: 6380 }]
    })
    const known = conf.split("\n").filter((l) => l.includes("known-"))
    assert.deepStrictEqual(known, [
      "sentinel known-sentinel mymaster 10.0.0.12 26379 f7dc5307307b8705af71c3114cedec47a2ee6378",
      "sentinel known-replica mymaster 10.0.0.13 6379",
      "sentinel known-replica mymaster 10.0.0.11 6380",
      "sentinel known-replica mymaster 10.0.0.12 6380"
    ], "another port on this host or on the master's is another node")
  })
})

describe("sentinel.conf, whole", () => {
  it("is exactly this for node-1 at 10.0.0.11 monitoring 10.0.0.12 (each line checked against DESIGN.md §6 by hand)", () => {
    const conf = renderSentinelConf(settingsFrom({ ANNOUNCE_IP: "10.0.0.11", HOSTNAME: "node-1" }), at("10.0.0.12"), tuning)
    assert.strictEqual(conf, [
      "# Rendered by `manage pre-start` at every start; Sentinel rewrites it at run time.",
      "bind 0.0.0.0",
      "port 26379",
      "protected-mode no",
      "daemonize no",
      "dir /tmp",
      "sentinel myid 48a6f6883eac9cb16cdc588d323bd1a8eda4b877",
      "sentinel announce-ip 10.0.0.11",
      "sentinel announce-port 26379",
      "sentinel resolve-hostnames no",
      "sentinel monitor mymaster 10.0.0.12 6379 2",
      "sentinel down-after-milliseconds mymaster 5000",
      "sentinel failover-timeout mymaster 30000",
      "sentinel parallel-syncs mymaster 1",
      ""
    ].join("\n"))
  })
})

describe("redis.conf, whole", () => {
  it("is exactly this for a replica of 10.0.0.12 with a password (each line checked against DESIGN.md §6 by hand)", () => {
    const conf = renderRedisConf(
      settingsFrom({ ANNOUNCE_IP: "10.0.0.11", HOSTNAME: "node-1", REDIS_PASSWORD: "s3cr\\et", REDIS_MIN_REPLICAS_TO_WRITE: "1", REPLICA_PRIORITY: "40" }),
      { _tag: "Replica", master: at("10.0.0.12") }
    )
    assert.strictEqual(conf, [
      "# Rendered by `manage pre-start` at every start; Sentinel may rewrite replicaof at run time.",
      "bind 0.0.0.0",
      "port 6379",
      "protected-mode no",
      "daemonize no",
      "dir \"/data\"",
      "appendonly yes",
      "appendfsync everysec",
      "save \"\"",
      "dbfilename dump.rdb",
      "repl-diskless-sync-delay 1",
      "repl-backlog-size 67108864",
      "replica-announce-ip 10.0.0.11",
      "replica-announce-port 6379",
      "replicaof 10.0.0.12 6379",
      "requirepass \"s3cr\\\\et\"",
      "masterauth \"s3cr\\\\et\"",
      "min-replicas-to-write 1",
      "min-replicas-max-lag 5",
      "replica-priority 40",
      ""
    ].join("\n"))
  })

  it("a master has no replicaof line, and without a password no auth lines", () => {
    const conf = renderRedisConf(settingsFrom({ ANNOUNCE_IP: "10.0.0.11" }), { _tag: "Master" })
    assert.notMatch(conf, /^(replicaof|requirepass|masterauth) /m)
    assert.match(conf, /^min-replicas-to-write 0\nmin-replicas-max-lag 5\nreplica-priority 100\n$/m)
  })
})
