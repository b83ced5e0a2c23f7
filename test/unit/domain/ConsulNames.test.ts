// The Consul contract (DESIGN.md §3): names operators and clients depend on, all
// derived from SERVICE_NAME, and the lock holder value peers decode.
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { checkId, consulNames, LockHolderFromJson, serviceId } from "../../../src/domain/ConsulNames.ts"

describe("consulNames", () => {
  it("match the DESIGN.md §3 table for the default service", () => {
    assert.deepStrictEqual(consulNames("redis"), {
      masterService: "redis",
      replicaService: "redis-replica",
      sentinelService: "redis-sentinel",
      masterLock: "service/redis/locks/master",
      backupLock: "service/redis/locks/backup",
      lastBackup: "service/redis/last-backup",
      sentinelTuning: "service/redis-sentinel/",
      sentinelReset: "service/redis/sentinel-reset",
      paused: "service/redis/paused",
      cluster: "service/redis/cluster",
      starting: "service/redis/starting/"
    })
  })

  it("follow SERVICE_NAME", () => {
    const n = consulNames("cache")
    assert.deepStrictEqual([n.masterService, n.replicaService, n.masterLock], ["cache", "cache-replica", "service/cache/locks/master"])
  })

  it("service and check ids are ContainerPilot's `<job>-<hostname>` and `service:<id>`", () => {
    assert.strictEqual(serviceId("redis-replica", "node-2"), "redis-replica-node-2")
    assert.strictEqual(checkId(serviceId("redis", "node-2")), "service:redis-node-2")
  })
})

describe("LockHolder", () => {
  it("decodes the lock value JSON and rejects a malformed one", () => {
    const decode = Schema.decodeUnknownResult(LockHolderFromJson)
    assert.deepStrictEqual(decode(`{"node":"node-1","address":"10.0.0.1","port":6379}`), Result.succeed({ node: "node-1", address: "10.0.0.1", port: 6379 }))
    assert.isTrue(Result.isFailure(decode(`{"node":"node-1","address":"10.0.0.1","port":"6379"}`)))
    assert.isTrue(Result.isFailure(decode("node-1")))
  })
})
