// What the agent reads from a master's INFO replication and from Sentinel about each
// replica, as Redis 7.0.15 writes it: the replicas' links (the fence counts the ones in
// sync, status and list show their lag), Sentinel's tuned periods, a replica's
// priority; and the INFO text's own shape (sections, comments, values holding ':').
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { decodePeers, decodePeriods, keyspaceKeys, parseInfo, replicaLinks } from "../../../src/domain/RedisReplies.ts"

describe("replicaLinks", () => {
  it("reads every slave<n> line of a master's INFO replication", () => {
    const fields = parseInfo([
      "# Replication",
      "role:master",
      "connected_slaves:2",
      "slave0:ip=10.0.0.12,port=6379,state=online,offset=5052,lag=0",
      "slave1:ip=10.0.0.13,port=6380,state=wait_bgsave,offset=0,lag=3",
      "master_replid:3b3c0e3d1f0c4f4e9a1b2c3d4e5f60718293a4b5",
      "master_repl_offset:5052"
    ].join("\r\n"))
    assert.deepStrictEqual(replicaLinks(fields), [
      { endpoint: { host: "10.0.0.12", port: 6379 }, state: "online", offset: 5052, lag: 0 },
      { endpoint: { host: "10.0.0.13", port: 6380 }, state: "wait_bgsave", offset: 0, lag: 3 }
    ])
  })

  it("leaves out a line it cannot read, and fields that only look like replicas", () => {
    const line = "ip=10.0.0.12,port=6379,state=online,offset=5052,lag=0"
    const without = (field: string) => line.split(",").filter((kv) => !kv.startsWith(`${field}=`)).join(",")
    for (const field of ["ip", "port", "state", "offset", "lag"]) {
      assert.deepStrictEqual(replicaLinks({ slave0: without(field) }), [], `without ${field}`)
    }
    assert.deepStrictEqual(replicaLinks({ slave0: line.replace("ip=10.0.0.12", "ip=") }), [])
    assert.deepStrictEqual(replicaLinks({ slave0: line.replace("port=6379", "port=x") }), [])
    assert.deepStrictEqual(replicaLinks({ slave0: line.replace("offset=5052", "offset=1.5") }), [])
    assert.deepStrictEqual(replicaLinks({ slave0: line.replace("lag=0", "lag=soon") }), [])
    assert.deepStrictEqual(replicaLinks({ slaves: line, slave_read_only: "1", xslave0: line, slave0x: line }), [])
    assert.lengthOf(replicaLinks({ slave12: line }), 1)
  })
})

describe("parseInfo", () => {
  it("skips section headers and blank lines, keeps a value holding ':', ignores a line without a key", () => {
    const fields = parseInfo("# Server\r\nredis_version:7.0.15\r\n\r\n# Replication\r\nmaster_host:10.0.0.5\r\nexecutable:/usr/bin/redis:server\r\n:orphan\r\n")
    assert.deepStrictEqual(fields, { redis_version: "7.0.15", master_host: "10.0.0.5", executable: "/usr/bin/redis:server" })
    assert.notProperty(parseInfo("#role:master"), "#role")
  })
})

describe("keyspaceKeys", () => {
  it("a database line without keys= counts none", () => {
    assert.strictEqual(keyspaceKeys({ db0: "keys=3,expires=0,avg_ttl=0", db1: "expires=0" }), 3)
  })
})

describe("decodePeriods", () => {
  it("SENTINEL DEBUG's flat pairs, names as Redis spells them, milliseconds as numbers; a non-numeric value is left out", () => {
    const r = decodePeriods(["INFO-PERIOD", "1000", "PING-PERIOD", "500", "TILT-PERIOD", "30000", "SCRIPT-MAX-RUNTIME", "n/a"])
    assert.deepStrictEqual(Result.getOrThrow(r), { "INFO-PERIOD": 1000, "PING-PERIOD": 500, "TILT-PERIOD": 30000 })
    assert.deepStrictEqual(Result.getOrThrow(decodePeriods(["X", "12a", "Y", "a12"])), {})
  })

  it("an odd or non-string reply is refused", () => {
    assert.isTrue(Result.isFailure(decodePeriods(["INFO-PERIOD"])))
    assert.isTrue(Result.isFailure(decodePeriods([1000])))
  })
})

describe("decodePeers: a replica's priority", () => {
  const row = (extra: ReadonlyArray<string>) => ["name", "10.0.0.12:6379", "ip", "10.0.0.12", "port", "6379", "runid", "abc", "flags", "slave", ...extra]
  it("is read when Sentinel reports it, absent when not", () => {
    const peers = Result.getOrThrow(decodePeers([row(["slave-priority", "0"]), row([])]))
    assert.strictEqual(peers[0]?.priority, 0)
    assert.notProperty(peers[1] ?? {}, "priority")
  })
})
