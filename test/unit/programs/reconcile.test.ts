import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option } from "effect"
import { type Endpoint, formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { type SentinelPeer } from "../../../src/domain/RedisReplies.ts"
import { decideReplicaTarget } from "../../../src/domain/ReplicaReconcile.ts"
import { decideSentinelReset } from "../../../src/domain/SentinelReset.ts"
import { reconcile } from "../../../src/programs/reconcile.ts"
import { testNode, makeWorlds, redisAt, runFor, sentinelAt, type Worlds, passingSentinel } from "../../support/harness.ts"

const peer = (e: Endpoint, ...flags: ReadonlyArray<string>): SentinelPeer => ({ endpoint: e, runId: formatEndpoint(e), flags })
const healthyMaster = { endpoint: redisAt(1), flags: ["master"], replicas: 2, otherSentinels: 2, quorum: 2 }

describe("decideSentinelReset", () => {
  const base = {
    master: healthyMaster,
    replicas: [peer(redisAt(2), "slave"), peer(redisAt(9), "slave", "s_down", "disconnected")],
    sentinels: [peer(sentinelAt(2), "sentinel"), peer(sentinelAt(8), "sentinel", "s_down")],
    aliveReplicas: [redisAt(2)],
    aliveSentinels: [sentinelAt(1), sentinelAt(2)],
    sinceLastReset: Option.none<Duration.Duration>(),
    spacing: Duration.seconds(30)
  }

  it("resets when dead peers that Consul does not know are counted, naming them", () => {
    const d = decideSentinelReset(base)
    assert.strictEqual(d._tag, "Reset")
    assert.include(d.reason, "replica 10.0.0.19:6379")
    assert.include(d.reason, "sentinel 10.0.0.18:26379")
  })

  it("keeps a down peer that is still registered passing (it is restarting, not gone)", () => {
    assert.strictEqual(decideSentinelReset({ ...base, aliveReplicas: [redisAt(2), redisAt(9)], aliveSentinels: [sentinelAt(8)] })._tag, "Keep")
  })

  it("never resets while the master is down or no replica is up", () => {
    assert.match(decideSentinelReset({ ...base, master: { ...healthyMaster, flags: ["master", "s_down"] } }).reason, /never reset then/)
    assert.match(decideSentinelReset({ ...base, replicas: [peer(redisAt(9), "slave", "s_down")] }).reason, /no replica is up/)
  })

  it("waits the spacing after any reset in the cluster", () => {
    assert.strictEqual(decideSentinelReset({ ...base, sinceLastReset: Option.some(Duration.seconds(10)) })._tag, "Keep")
    assert.strictEqual(decideSentinelReset({ ...base, sinceLastReset: Option.some(Duration.seconds(31)) })._tag, "Reset")
  })
})

describe("reconcile: sentinel reset", () => {
  /** Node i's sentinel still counts a replica (node 9) and a sentinel (node 8) that are gone. */
  const withStaleEntries = (w: Worlds, i: number) => {
    w.redis.sentinel(sentinelAt(i), "mymaster", redisAt(1))
    const s = w.redis.sentinels.get(formatEndpoint(sentinelAt(i)))
    s?.replicas.push(peer(redisAt(2), "slave"), peer(redisAt(9), "slave", "s_down"))
    s?.sentinels.push(peer(sentinelAt(8), "sentinel", "s_down"))
    w.consul.register(`redis-sentinel-node-${i}`, "redis-sentinel", sentinelAt(i).host, 26379)
  }

  it.live("of two nodes with stale entries, only one resets in a turn; the other waits", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      withStaleEntries(w, 1)
      withStaleEntries(w, 2)
      w.consul.register("redis-replica-node-2", "redis-replica", redisAt(2).host, 6379)
      const a = yield* testNode(1)
      const b = yield* testNode(2)
      assert.isTrue(Exit.isSuccess(yield* runFor(reconcile, a, w)))
      assert.isTrue(Exit.isSuccess(yield* runFor(reconcile, b, w)))
      const resets = [1, 2].map((i) => w.redis.sentinels.get(formatEndpoint(sentinelAt(i)))?.resets)
      assert.deepStrictEqual(resets, [1, 0])
      assert.include(w.consul.kv.get("service/redis/sentinel-reset")?.value ?? "", "node-1")
    }))

  it.live("Consul down: no reset, exit 0", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      withStaleEntries(w, 1)
      w.consul.outage = "unreachable"
      const n = yield* testNode(1)
      assert.isTrue(Exit.isSuccess(yield* runFor(reconcile, n, w)))
      assert.strictEqual(w.redis.sentinels.get(formatEndpoint(sentinelAt(1)))?.resets, 0)
    }))
})

describe("reconcile: a replica following the wrong master", () => {
  const majority = (master: Endpoint) => Option.some({ master, votes: 2, of: 3 })
  const strandedOn = (master: Endpoint) => ({ _tag: "Replica" as const, master, state: "connect" as const, offset: 10 })

  it("follows the master a sentinel majority names, once it answers as master", () => {
    const d = decideReplicaTarget({ self: redisAt(3), role: strandedOn(redisAt(1)), majority: majority(redisAt(2)), majorityAnswersMaster: true })
    assert.deepStrictEqual(d._tag === "Follow" ? d.master : undefined, redisAt(2))
    assert.match(d.reason, /replica of 10\.0\.0\.11:6379, but 2 of 3 sentinels name 10\.0\.0\.12:6379 master/)
  })

  it("leaves it alone when it already follows that master, when no majority exists, when that master is silent, or when it is named itself", () => {
    const cases = [
      { self: redisAt(3), role: strandedOn(redisAt(2)), majority: majority(redisAt(2)), majorityAnswersMaster: true },
      { self: redisAt(3), role: strandedOn(redisAt(1)), majority: Option.none(), majorityAnswersMaster: false },
      { self: redisAt(3), role: strandedOn(redisAt(1)), majority: majority(redisAt(2)), majorityAnswersMaster: false },
      { self: redisAt(3), role: strandedOn(redisAt(1)), majority: majority(redisAt(3)), majorityAnswersMaster: true }
    ]
    for (const c of cases) assert.strictEqual(decideReplicaTarget(c)._tag, "Leave")
  })

  it.live("moves a stranded replica to the sentinels' master", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.master(redisAt(2)).replica(redisAt(3), redisAt(1), "connect")
      for (const i of [2, 3]) {
        passingSentinel(w, i, redisAt(2))
      }
      const n = yield* testNode(3)
      assert.isTrue(Exit.isSuccess(yield* runFor(reconcile, n, w)))
      const role = w.redis.servers.get(formatEndpoint(redisAt(3)))?.role
      assert.deepStrictEqual(role?._tag === "Replica" ? role.master : undefined, redisAt(2))
    }))

  it.live("never moves a replica when the named master does not answer (Redis down there)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.replica(redisAt(3), redisAt(1), "connect")
      for (const i of [2, 3]) {
        passingSentinel(w, i, redisAt(2))
      }
      const n = yield* testNode(3)
      assert.isTrue(Exit.isSuccess(yield* runFor(reconcile, n, w)))
      assert.isFalse(w.redis.calls.some((c) => c.endsWith("REPLICAOF")))
    }))
})
