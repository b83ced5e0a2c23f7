import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { onFailover } from "../../../src/programs/onFailover.ts"
import { startConsulEmulator } from "../../support/consul/ConsulEmulator.ts"
import { masterRespServer } from "../../support/fakeServers.ts"
import { testNode, makeWorlds, redisAt, runFor, runLive, scoped } from "../../support/harness.ts"

const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")
const sentinelArgs = (from: number, to: number) => ["mymaster", "leader", "start", redisAt(from).host, "6379", redisAt(to).host, "6379"]

describe("on-failover", () => {
  it.live("on the promoted node: registers it passing as redis at once and fails its replica check", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.master(redisAt(2))
      w.consul.register("redis-replica-node-2", "redis-replica", redisAt(2).host, 6379, "passing")
      const n = yield* testNode(2)
      const exit = yield* runFor(onFailover(sentinelArgs(1, 2)), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(w.consul.services.get("redis-node-2")?.status, "passing")
      assert.strictEqual(w.consul.services.get("redis-node-2")?.address, "10.0.0.12")
      assert.strictEqual(w.consul.services.get("redis-replica-node-2")?.status, "critical")
    }))

  it.live("on every node: fails the old master's redis check, which a dead master cannot do itself", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.replica(redisAt(3), redisAt(2))
      w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379, "passing")
      const n = yield* testNode(3)
      const exit = yield* runFor(onFailover(sentinelArgs(1, 2)), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(w.consul.services.get("redis-node-1")?.status, "critical")
      assert.match(w.consul.services.get("redis-node-1")?.output ?? "", /demoted: failover of mymaster from 10\.0\.0\.11:6379 to 10\.0\.0\.12:6379/)
      assert.isUndefined(w.consul.services.get("redis-node-3"), "a bystander never registers itself as master")
    }))

  it.live("never marks a node passing as master when its Redis does not answer as master", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.replica(redisAt(2), redisAt(1))
      const n = yield* testNode(2)
      assert.isTrue(Exit.isSuccess(yield* runFor(onFailover(sentinelArgs(1, 2)), n, w)))
      assert.isUndefined(w.consul.services.get("redis-node-2"))
    }))

  it.live("Consul down: exits 0 quickly, the failover is never failed by its script", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.master(redisAt(2))
      w.consul.outage = "unreachable"
      const n = yield* testNode(2)
      const started = Date.now()
      const exit = yield* runFor(onFailover(sentinelArgs(1, 2)), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isBelow(Date.now() - started, 1000)
    }))

  for (const mode of ["hang", "garbage"] as const) {
    it.live(`Consul ${mode === "hang" ? "hanging" : "answering garbage"}: still exits 0 within its bound`, () =>
      Effect.gen(function*() {
        const consul = yield* scoped(() => startConsulEmulator())
        const redis = yield* scoped(masterRespServer)
        yield* Effect.promise(() => consul.setMode(mode))
        const n = yield* testNode(2, { CONSUL: consul.address, ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(redis.port) })
        const started = Date.now()
        const exit = yield* runLive(onFailover(["mymaster", "observer", "start", "127.0.0.9", "6379", "127.0.0.1", String(redis.port)]), n)
        assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
        assert.isBelow(Date.now() - started, 6000)
      }))
  }

  it.live("registers through the real Consul API: the new master shows up passing in health ?passing", () =>
    Effect.gen(function*() {
      const consul = yield* scoped(() => startConsulEmulator())
      const redis = yield* scoped(masterRespServer)
      const n = yield* testNode(2, { CONSUL: consul.address, ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(redis.port) })
      const exit = yield* runLive(onFailover(["mymaster", "leader", "start", "127.0.0.9", "6379", "127.0.0.1", String(redis.port)]), n)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const passing = consul.services().filter((s) => s.name === "redis" && s.checks.every((c) => c.status === "passing"))
      assert.deepStrictEqual(passing.map((s) => [s.id, s.address, s.port]), [["redis-node-2", "127.0.0.1", redis.port]])
    }))

  it.live("arguments that are not Sentinel's: a usage error (exit 2), no registry change", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(2)
      const exit = yield* runFor(onFailover(["mymaster", "leader"]), n, w)
      assert.match(failureOf(exit), /UsageError.*expected <master-name> <role> <state>/)
      assert.deepStrictEqual(w.consul.calls, [])
    }))

  it.live("invalid environment: fails naming the variable", () =>
    Effect.gen(function*() {
      const n = yield* testNode(2, { SERVICE_NAME: "Bad Name" })
      assert.match(failureOf(yield* runFor(onFailover(sentinelArgs(1, 2)), n, makeWorlds())), /SERVICE_NAME="Bad Name"/)
    }))
})
