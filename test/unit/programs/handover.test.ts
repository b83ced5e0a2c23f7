// The handover steps shared by pre-stop and switchover, each on its own: which
// sentinels are asked and in what order, and which replicas a failover left behind
// are moved (only those still following the old master; one that cannot be asked
// does not stop the others).
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { type ServiceInstance } from "../../../src/layers/Consul.ts"
import { moveLeftBehind, sentinelsToAsk } from "../../../src/programs/handover.ts"
import { makeWorlds, memoryLayers, redisAt, sentinelAt, testNode, type Worlds } from "../../support/harness.ts"

const instance = (i: number, passing: boolean): ServiceInstance => ({
  id: `redis-sentinel-node-${i}`,
  service: "redis-sentinel",
  node: `node-${i}`,
  nodeAddress: sentinelAt(i).host,
  address: sentinelAt(i).host,
  port: 26379,
  checks: [{ checkId: `service:redis-sentinel-node-${i}`, status: passing ? "passing" : "critical", output: "" }],
  passing
})

const following = (w: Worlds, i: number) => {
  const role = w.redis.servers.get(formatEndpoint(redisAt(i)))?.role
  return role?._tag === "Replica" ? formatEndpoint(role.master) : role?._tag
}

describe("sentinelsToAsk", () => {
  it("the passing peers first, in Consul's order, then this node's own (which may be stopping with it), once", () => {
    assert.deepStrictEqual(sentinelsToAsk([instance(1, true), instance(2, false), instance(3, true), instance(4, true)], sentinelAt(1)), [sentinelAt(3), sentinelAt(4), sentinelAt(1)])
    assert.deepStrictEqual(sentinelsToAsk([], sentinelAt(1)), [sentinelAt(1)])
  })
})

describe("moveLeftBehind", () => {
  it.live("moves only the replicas still following the old master; never the new master; one that fails to answer does not stop the rest", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.master(redisAt(2))
      w.redis.replica(redisAt(3), redisAt(1)) // left behind
      w.redis.replica(redisAt(4), redisAt(2)) // already moved by Sentinel
      w.redis.replica(redisAt(5), redisAt(9)) // follows something else entirely: not ours to move
      w.redis.replica(redisAt(7), redisAt(1)) // left behind too, after one that fails
      w.redis.failing.set(`${formatEndpoint(redisAt(6))} ROLE`, "timeout")
      w.redis.replica(redisAt(6), redisAt(1))
      const n = yield* testNode(1)
      yield* moveLeftBehind(redisAt(1), [2, 3, 4, 5, 6, 7].map(redisAt), redisAt(2), "test").pipe(Effect.provide(memoryLayers(n, w)))
      assert.deepStrictEqual([2, 3, 4, 5, 6, 7].map((i) => following(w, i)), ["Master", "10.0.0.12:6379", "10.0.0.12:6379", "10.0.0.19:6379", "10.0.0.11:6379", "10.0.0.12:6379"])
      assert.deepStrictEqual(w.redis.calls.filter((c) => c.endsWith("REPLICAOF")), [`${formatEndpoint(redisAt(3))} REPLICAOF`, `${formatEndpoint(redisAt(7))} REPLICAOF`])
      assert.notInclude(w.redis.calls, `${formatEndpoint(redisAt(2))} ROLE`, "the new master is not even asked")
    }))
})
