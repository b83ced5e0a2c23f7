// `manage switchover` over in-memory Redis, Sentinel and Consul: a refusal changes
// nothing; --to holds the other replicas at priority 0 until the failover is over and
// restores every one, also when the handover fails; the old master follows the new one.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { switchover } from "../../../src/programs/switchover.ts"
import { preStop } from "../../../src/programs/preStop.ts"
import { makeWorlds, redisAt, registeredCluster, runFor, sentinelAt, testNode, type Worlds } from "../../support/harness.ts"

const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")
const server = (w: Worlds, i: number) => w.redis.servers.get(formatEndpoint(redisAt(i)))
const priorities = (w: Worlds) => [2, 3].map((i) => server(w, i)?.priority)

/** Node 1 master of 2 and 3 (priority 100 and 50), sentinels on all three, registered in Consul; FAILOVER promotes the best promotable replica. */
const trio = (w: Worlds) => {
  registeredCluster(w, 1, [2, 3])
  const three = server(w, 3)
  if (three !== undefined) three.priority = 50
  // As Sentinel: the lowest non-zero priority wins. The new master's agent passes it in Consul.
  w.redis.onFailover = () => {
    const [best] = [2, 3].filter((i) => (server(w, i)?.priority ?? 0) > 0).sort((a, b) => (server(w, a)?.priority ?? 0) - (server(w, b)?.priority ?? 0))
    if (best === undefined) return
    w.redis.master(redisAt(best))
    w.redis.switchMaster("mymaster", redisAt(best))
    w.consul.register(`redis-node-${best}`, "redis", redisAt(best).host, 6379)
    w.consul.services.delete("redis-node-1")
  }
}

describe("switchover", () => {
  it.live("--to node-2 (Sentinel alone would pick node-3): node 3 held at 0 meanwhile, node 2 promoted, every priority restored, the old master follows", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(priorities(w), [100, 50])
      const calls = w.redis.calls.filter((c) => /CONFIG SET|CLIENT|FAILOVER/.test(c))
      assert.deepStrictEqual(calls, [
        `${formatEndpoint(redisAt(3))} CONFIG SET replica-priority 0`,
        `${formatEndpoint(redisAt(1))} CLIENT PAUSE`,
        `${formatEndpoint(sentinelAt(2))} SENTINEL FAILOVER`,
        `${formatEndpoint(redisAt(3))} CONFIG SET replica-priority 50`,
        `${formatEndpoint(redisAt(1))} CLIENT UNPAUSE`
      ])
      const old = server(w, 1)?.role
      assert.deepStrictEqual(old?._tag === "Replica" ? old.master : undefined, redisAt(2))
    }))

  it.live("refused (unknown node, paused, lagging target): exit 1 with the reason, no command that changes anything", () =>
    Effect.gen(function*() {
      for (const [setup, to, reason] of [
        [() => {}, "node-9", "unknown node \"node-9\""],
        [(w: Worlds) => void w.consul.kv.set("service/redis/paused", { value: "{}", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 }), "node-2", "the cluster is paused"],
        [(w: Worlds) => {
          const master = server(w, 1)
          if (master !== undefined) master.role = { _tag: "Master", offset: 5_000_000, replicas: [{ endpoint: redisAt(2), offset: 1000 }, { endpoint: redisAt(3), offset: 5_000_000 }] }
        }, "node-2", "bytes behind the master"]
      ] as const) {
        const w = makeWorlds()
        trio(w)
        setup(w)
        const n = yield* testNode(1)
        const exit = yield* runFor(switchover(Option.some(to)), n, w)
        assert.include(failureOf(exit), "SwitchoverRefused")
        assert.include(failureOf(exit), reason)
        assert.isFalse(w.redis.calls.some((c) => /CONFIG SET|CLIENT|FAILOVER|REPLICAOF/.test(c)), w.redis.calls.join("\n"))
      }
    }))

  it.live("the target does not catch up once writes are paused: every priority restored, writes unpaused, no failover, exit 1", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.redis.replica(redisAt(2), redisAt(1), "connected", 10)
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.include(failureOf(exit), "did not catch up")
      assert.deepStrictEqual(priorities(w), [100, 50])
      assert.isUndefined(server(w, 1)?.pausedFor, "writes unpaused")
      assert.isFalse(w.redis.calls.some((c) => c.includes("FAILOVER")))
    }))

  it.live("a failover asked but no new master named: priorities restored, exit 1, and writes stay paused until the pause ends (Sentinel may still promote)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.redis.onFailover = () => {}
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.include(failureOf(exit), "Sentinel named no new master")
      assert.deepStrictEqual(priorities(w), [100, 50])
      assert.isDefined(server(w, 1)?.pausedFor)
    }))
})

describe("switchover: no master to hand over from", () => {
  it.live("the passing sentinels name no master, or name one that does not answer as master: refused, nothing changed", () =>
    Effect.gen(function*() {
      // The three passing sentinels name three different masters.
      const split = makeWorlds()
      trio(split)
      split.redis.sentinels.get(formatEndpoint(sentinelAt(2)))?.masters.set("mymaster", { endpoint: redisAt(2), flags: ["master"], replicas: 0, otherSentinels: 0, quorum: 2 })
      split.redis.sentinels.get(formatEndpoint(sentinelAt(3)))?.masters.set("mymaster", { endpoint: redisAt(3), flags: ["master"], replicas: 0, otherSentinels: 0, quorum: 2 })
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, split)
      assert.include(failureOf(exit), "no master to hand over from: no majority of the 3 passing sentinels names one")

      const demoted = makeWorlds()
      trio(demoted)
      demoted.redis.replica(redisAt(1), redisAt(2))
      const again = yield* runFor(switchover(Option.some("node-2")), n, demoted)
      assert.include(failureOf(again), "no master to hand over from: the sentinels name 10.0.0.11:6379, which does not answer as master")
      assert.isFalse(demoted.redis.calls.some((c) => /CONFIG SET|CLIENT PAUSE|FAILOVER/.test(c)))
    }))

  it.live("sentinels failing their checks in Consul are not asked: the passing ones decide", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      for (const i of [4, 5, 6]) {
        w.redis.sentinel(sentinelAt(i), "mymaster", redisAt(3))
        w.consul.register(`redis-sentinel-node-${i}`, "redis-sentinel", sentinelAt(i).host, 26379, "critical")
      }
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(server(w, 2)?.role._tag, "Master")
    }))
})

describe("switchover when a step fails", () => {
  const noCommandThatChanges = (w: Worlds) => assert.isFalse(w.redis.calls.some((c) => /CONFIG SET|CLIENT PAUSE|FAILOVER|REPLICAOF/.test(c)), w.redis.calls.join("\n"))

  it.live("without --to: Sentinel's own choice (the lowest priority, node 3) is promoted, and Consul shows it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.none()), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(server(w, 3)?.role._tag, "Master")
      assert.strictEqual(server(w, 2)?.priority, 100, "held at 0 meanwhile, then restored")
    }))

  it.live("the other replicas' priorities cannot be read: exit 1, nothing was changed", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.redis.failing.set(`${formatEndpoint(redisAt(3))} CONFIG GET replica-priority`, "timeout")
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.include(failureOf(exit), "could not read the other replicas' priorities, nothing was changed")
      noCommandThatChanges(w)
    }))

  it.live("a replica cannot be held at 0: exit 1, no failover, every priority as before", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.redis.failing.set(`${formatEndpoint(redisAt(3))} CONFIG SET replica-priority 0`, "refused")
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.include(failureOf(exit), "could not hold the other replicas at priority 0")
      assert.isFalse(w.redis.calls.some((c) => /CLIENT PAUSE|FAILOVER/.test(c)))
      assert.deepStrictEqual(priorities(w), [100, 50])
    }))

  it.live("no sentinel reports the held priorities in time: exit 1, writes never paused, no failover, priorities restored", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      // Every sentinel still has node 3 at the priority it read before (it reads a replica's INFO every 10 s).
      for (const i of [1, 2, 3]) {
        const known = w.redis.sentinels.get(formatEndpoint(sentinelAt(i)))?.replicas
        known?.splice(1, 1, { endpoint: redisAt(3), runId: "r3", flags: ["slave"], priority: 50 })
      }
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.include(failureOf(exit), "no sentinel reported the held priorities")
      assert.isFalse(w.redis.calls.some((c) => /CLIENT PAUSE|FAILOVER/.test(c)))
      assert.deepStrictEqual(priorities(w), [100, 50])
    }))

  it.live("the sentinel refuses SENTINEL FAILOVER: exit 1 naming it, writes resumed, priorities restored", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      for (const i of [1, 2, 3]) w.redis.failing.set(`${formatEndpoint(sentinelAt(i))} SENTINEL FAILOVER`, "refused")
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.match(failureOf(exit), /sentinel 10\.0\.0\.1\d:26379 refused SENTINEL FAILOVER/)
      assert.isUndefined(server(w, 1)?.pausedFor, "writes resumed: no failover was asked")
      assert.strictEqual(server(w, 1)?.role._tag, "Master")
      assert.deepStrictEqual(priorities(w), [100, 50])
    }))

  it.live("Sentinel promotes another replica than asked: exit 1 naming both", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.redis.onFailover = () => {
        w.redis.master(redisAt(3))
        w.redis.switchMaster("mymaster", redisAt(3))
      }
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.include(failureOf(exit), "Sentinel promoted 10.0.0.13:6379 instead of 10.0.0.12:6379")
      assert.isFalse(w.redis.calls.includes(`${formatEndpoint(redisAt(1))} REPLICAOF`), "the old master is not pointed at a node that is not master")
    }))

  it.live("Sentinel reconfigures the held replica right after the promotion, closing its clients for half a second: its priority is still put back", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      const promote = w.redis.onFailover
      w.redis.onFailover = (at, name) => {
        promote(at, name)
        w.redis.closingClients.set(formatEndpoint(redisAt(3)), Date.now() + 500)
      }
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(priorities(w), [100, 50])
    }))

  it.live("a priority that cannot be put back: exit 1 naming the node and the value, the others restored", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.redis.failing.set(`${formatEndpoint(redisAt(3))} CONFIG SET replica-priority 50`, "timeout")
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.include(failureOf(exit), "replica-priority not restored on 10.0.0.13:6379 (to 50")
      assert.strictEqual(server(w, 2)?.role._tag, "Master", "the switchover itself happened")
    }))

  it.live("Consul never shows the new master passing alone: exit 1 saying so", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.redis.onFailover = () => {
        w.redis.master(redisAt(2))
        w.redis.switchMaster("mymaster", redisAt(2))
      }
      const n = yield* testNode(1)
      const exit = yield* runFor(switchover(Option.some("node-2")), n, w)
      assert.include(failureOf(exit), "10.0.0.12:6379 is master in Sentinel but Consul does not show it as the one passing redis")
    }))
})

describe("pre-stop while paused", () => {
  it.live("hands nothing over: no pause of writes, no failover", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.consul.kv.set("service/redis/paused", { value: "{}", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      const n = yield* testNode(1)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit))
      assert.isFalse(w.redis.calls.some((c) => /CLIENT|FAILOVER/.test(c)))
    }))
})
