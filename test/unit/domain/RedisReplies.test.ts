// Decoding what Redis and Sentinel answer, using the reply shapes observed against
// real Redis 7.0.15 through ioredis 6 (reference/ioredis.md): real shapes decode,
// anything else (wrong arity, strings where numbers belong, odd flat arrays, null) fails.
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import {
  ConfigAppendOnly,
  decodeMasterAddress,
  decodePeers,
  decodeRole,
  decodeSentinelMaster,
  keyspaceKeys,
  parseInfo,
  PersistenceInfo,
  ReplicationInfo
} from "../../../src/domain/RedisReplies.ts"
import { at } from "../../support/scenarios.ts"

const failed = (r: Result.Result<unknown, unknown>): boolean => Result.isFailure(r)

describe("decodeRole", () => {
  it("a master with its replicas (nested port and offset arrive as strings)", () => {
    assert.deepStrictEqual(
      decodeRole(["master", 2232, [["127.0.0.1", "16380", "2098"]]]),
      Result.succeed({ _tag: "Master" as const, offset: 2232, replicas: [{ endpoint: at("127.0.0.1", 16380), offset: 2098 }] })
    )
    assert.deepStrictEqual(decodeRole(["master", 0, []]), Result.succeed({ _tag: "Master" as const, offset: 0, replicas: [] }))
  })

  it("a replica with its master and link state", () => {
    assert.deepStrictEqual(
      decodeRole(["slave", "127.0.0.1", 16379, "connected", 2232]),
      Result.succeed({ _tag: "Replica" as const, master: at("127.0.0.1", 16379), state: "connected" as const, offset: 2232 })
    )
  })

  it("every documented link state is kept; an unknown one becomes 'unknown' rather than 'connected'", () => {
    for (const state of ["connect", "connecting", "handshake", "sync", "connected"] as const) {
      const r = decodeRole(["slave", "10.0.0.5", 6379, state, -1])
      assert.isTrue(Result.isSuccess(r) && r.success._tag === "Replica" && r.success.state === state, state)
    }
    const odd = decodeRole(["slave", "10.0.0.5", 6379, "rebooting", -1])
    assert.isTrue(Result.isSuccess(odd) && odd.success._tag === "Replica" && odd.success.state === "unknown")
  })

  it("a sentinel and the masters it monitors", () => {
    assert.deepStrictEqual(decodeRole(["sentinel", ["mymaster"]]), Result.succeed({ _tag: "Sentinel" as const, masters: ["mymaster"] }))
  })

  it("garbage fails", () => {
    const garbage: ReadonlyArray<unknown> = [
      null,
      undefined,
      "master",
      [],
      ["master"],
      ["master", "2232", []],
      ["master", 2232, [["127.0.0.1", "16380"]]],
      ["master", 2232, [["127.0.0.1", "port", "1"]]],
      ["master", 2232, [["127.0.0.1", 16380, 1]]],
      ["slave", "127.0.0.1", "16379", "connected", 2232],
      ["slave", "127.0.0.1", 16379, "connected"],
      ["slave", "127.0.0.1", 16379, "connected", 2232, "extra"],
      ["sentinel", "mymaster"],
      ["leader", 1, []]
    ]
    for (const reply of garbage) assert.isTrue(failed(decodeRole(reply)), JSON.stringify(reply))
  })
})

const replicationOnMaster = [
  "# Replication",
  "role:master",
  "connected_slaves:1",
  "slave0:ip=127.0.0.1,port=16380,state=online,offset=2232,lag=1",
  "master_failover_state:no-failover",
  "master_replid:8b5b5e2a2b1f6a0c0e1d4d6f9e3d3b2f1a0b9c8d",
  "master_repl_offset:2232",
  ""
].join("\r\n")

const replicationOnReplica = [
  "# Replication",
  "role:slave",
  "master_host:127.0.0.1",
  "master_port:16379",
  "master_link_status:up",
  "master_last_io_seconds_ago:1",
  "master_sync_in_progress:0",
  "master_repl_offset:2232",
  ""
].join("\r\n")

describe("parseInfo", () => {
  it("reads CRLF key:value lines, skipping section headers; values may hold colons", () => {
    const fields = parseInfo(replicationOnMaster)
    assert.strictEqual(fields["role"], "master")
    assert.strictEqual(fields["slave0"], "ip=127.0.0.1,port=16380,state=online,offset=2232,lag=1")
    assert.notProperty(fields, "# Replication")
    assert.strictEqual(parseInfo("a:b:c\n")["a"], "b:c")
  })

  it("feeds the typed INFO views", () => {
    const onMaster = Schema.decodeUnknownResult(ReplicationInfo)(parseInfo(replicationOnMaster))
    assert.isTrue(Result.isSuccess(onMaster) && onMaster.success.role === "master" && onMaster.success.connected_slaves === 1)
    const onReplica = Schema.decodeUnknownResult(ReplicationInfo)(parseInfo(replicationOnReplica))
    assert.isTrue(Result.isSuccess(onReplica) && onReplica.success.master_link_status === "up" && onReplica.success.master_repl_offset === 2232)
    // Redis 7.0.15's, abridged, while the AOF it was just told to turn on is written.
    const persistence = parseInfo(
      "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:1795550000\r\nrdb_last_bgsave_status:ok\r\nrdb_saves:3\r\n" +
        "aof_enabled:1\r\naof_rewrite_in_progress:1\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\n"
    )
    const p = Schema.decodeUnknownResult(PersistenceInfo)(persistence)
    assert.isTrue(Result.isSuccess(p) && p.success.rdb_bgsave_in_progress === 0 && p.success.rdb_last_bgsave_status === "ok")
    assert.isTrue(Result.isSuccess(p) && p.success.aof_rewrite_in_progress === 1 && p.success.aof_rewrite_scheduled === 0 && p.success.aof_last_bgrewrite_status === "ok")
  })

  it("the typed views reject INFO that lacks or garbles a field", () => {
    assert.isTrue(failed(Schema.decodeUnknownResult(ReplicationInfo)(parseInfo("role:sentinel\r\nmaster_repl_offset:1\r\n"))))
    assert.isTrue(failed(Schema.decodeUnknownResult(ReplicationInfo)(parseInfo("role:master\r\nmaster_repl_offset:lots\r\n"))))
    assert.isTrue(failed(Schema.decodeUnknownResult(PersistenceInfo)(parseInfo("rdb_bgsave_in_progress:0\r\n"))))
  })

  it("keyspaceKeys sums keys over every database", () => {
    const keyspace = parseInfo("# Keyspace\r\ndb0:keys=10,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=1,avg_ttl=10\r\n")
    assert.strictEqual(keyspaceKeys(keyspace), 15)
    assert.strictEqual(keyspaceKeys(parseInfo("# Keyspace\r\n")), 0)
    assert.strictEqual(keyspaceKeys({ db0: "keys=1,expires=0", db15: "keys=20,expires=0", olddb1: "keys=300", db2x: "keys=4000" }), 21, "databases 0 to 15, and nothing that only looks like one")
  })
})

const sentinelMasterReply = [
  "name", "mymaster", "ip", "127.0.0.1", "port", "16379", "runid", "3f4e8c0b0c1d", "flags", "master",
  "link-pending-commands", "0", "link-refcount", "1", "last-ping-sent", "0", "last-ok-ping-reply", "533",
  "num-slaves", "2", "num-other-sentinels", "2", "quorum", "2", "failover-timeout", "30000", "parallel-syncs", "1"
]

describe("Sentinel replies", () => {
  it("SENTINEL master: the flat k/v array decodes", () => {
    assert.deepStrictEqual(
      decodeSentinelMaster(sentinelMasterReply),
      Result.succeed({ endpoint: at("127.0.0.1", 16379), flags: ["master"], replicas: 2, otherSentinels: 2, quorum: 2 })
    )
  })

  it("SENTINEL master: odd length, missing fields, numbers as words, null fail", () => {
    assert.isTrue(failed(decodeSentinelMaster(sentinelMasterReply.slice(0, -1))))
    assert.isTrue(failed(decodeSentinelMaster(["name", "mymaster", "ip", "127.0.0.1"])))
    assert.isTrue(failed(decodeSentinelMaster(sentinelMasterReply.map((v) => (v === "16379" ? "sixteen" : v)))))
    assert.isTrue(failed(decodeSentinelMaster(null)))
  })

  it("SENTINEL replicas|sentinels: one flat array per peer", () => {
    const reply = [
      ["name", "127.0.0.1:16380", "ip", "127.0.0.1", "port", "16380", "runid", "abc", "flags", "slave"],
      ["name", "127.0.0.1:16381", "ip", "127.0.0.1", "port", "16381", "runid", "def", "flags", "s_down,slave,disconnected"]
    ]
    assert.deepStrictEqual(
      decodePeers(reply),
      Result.succeed([
        { endpoint: at("127.0.0.1", 16380), runId: "abc", flags: ["slave"] },
        { endpoint: at("127.0.0.1", 16381), runId: "def", flags: ["s_down", "slave", "disconnected"] }
      ])
    )
    assert.deepStrictEqual(decodePeers([]), Result.succeed([]))
  })

  it("SENTINEL replicas: an odd-length or incomplete peer fails the whole reply", () => {
    assert.isTrue(failed(decodePeers([["ip", "127.0.0.1", "port"]])))
    assert.isTrue(failed(decodePeers([["ip", "127.0.0.1", "port", "16380"]])))
    assert.isTrue(failed(decodePeers(["ip", "127.0.0.1"])))
    assert.isTrue(failed(decodePeers(null)))
  })

  it("get-master-addr-by-name: [ip, port], or null for an unknown name", () => {
    assert.deepStrictEqual(decodeMasterAddress(["127.0.0.1", "16379"]), Result.succeed(at("127.0.0.1", 16379)))
    assert.deepStrictEqual(decodeMasterAddress(null), Result.succeed(null))
  })

  it("get-master-addr-by-name: wrong arity or a non-numeric port fails", () => {
    for (const reply of [["127.0.0.1"], ["127.0.0.1", "16379", "x"], ["127.0.0.1", "port"], ["127.0.0.1", ""], ["127.0.0.1", "1e3"], ["127.0.0.1", "0x10"], ["127.0.0.1", 16379], "127.0.0.1:16379", undefined]) {
      assert.isTrue(failed(decodeMasterAddress(reply)), JSON.stringify(reply))
    }
  })
})

describe("CONFIG GET appendonly", () => {
  const decode = Schema.decodeUnknownResult(ConfigAppendOnly)

  it("reads yes or no", () => {
    assert.deepStrictEqual(Result.getOrThrow(decode(["appendonly", "yes"])), ["appendonly", "yes"])
    assert.deepStrictEqual(Result.getOrThrow(decode(["appendonly", "no"])), ["appendonly", "no"])
  })

  it("another parameter, another value or no pair is refused", () => {
    for (const reply of [["appendonly", "maybe"], ["appendfsync", "yes"], ["appendonly"], [], "yes"]) assert.isTrue(Result.isFailure(decode(reply)), JSON.stringify(reply))
  })
})
