// `manage pause` / `manage resume` over in-memory Redis, Sentinel, Consul and agents:
// pause writes the key once, sets every replica it reaches to priority 0 itself (the
// master keeps its own), and waits, bounded, until the sentinels report 0; resume
// removes the key and waits, bounded, until the agents report their REPLICA_PRIORITY back.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Schema } from "effect"
import { AgentReportFromJson } from "../../../src/domain/AgentReport.ts"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { pause, resume } from "../../../src/programs/maintenance.ts"
import { agentReport, fastTimings, makeWorlds, redisAt, registeredCluster, runFor, sentinelAt, testNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")
const priorityOf = (w: Worlds, i: number) => w.redis.servers.get(formatEndpoint(redisAt(i)))?.priority
const bound = Duration.toMillis(fastTimings.priorityPropagation)
const sentinelRounds = (w: Worlds) => w.redis.calls.filter((c) => c.endsWith("SENTINEL REPLICAS")).length / 3

/** Node 1 master of 2 and 3, all registered; each sentinel knows both replicas (and reads their priority from them). */
const trio = (w: Worlds) => registeredCluster(w, 1, [2, 3])

const timed = <A, E, R>(run: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const result = yield* run
    return { result, tookMs: Date.now() - started }
  })

describe("pause", () => {
  it.live("writes the key naming this node, sets every replica to priority 0 (the master keeps its own), and returns once the sentinels report it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      const n = yield* testNode(2)
      const result = yield* runFor(pause, n, w)
      assert.isTrue(Exit.isSuccess(result), failureOf(result))
      assert.include(w.consul.kv.get(names.paused)?.value ?? "", "node-2")
      assert.deepStrictEqual([priorityOf(w, 1), priorityOf(w, 2), priorityOf(w, 3)], [100, 0, 0])
      assert.strictEqual(sentinelRounds(w), 1, "the sentinels reported at once: asked once, no wait for the bound")
    }))

  it.live("already paused: the key is left as it was (who paused, and when), the priorities still set", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.consul.kv.set(names.paused, { value: "paused by node-3", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      const n = yield* testNode(1)
      const exit = yield* runFor(pause, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(w.consul.kv.get(names.paused)?.value, "paused by node-3")
      assert.deepStrictEqual([priorityOf(w, 2), priorityOf(w, 3)], [0, 0])
    }))

  it.live("a replica whose Redis refuses: the others are still set, and pause succeeds (its agent sets it once it can)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.redis.stop(redisAt(3))
      const n = yield* testNode(1)
      const exit = yield* runFor(pause, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(priorityOf(w, 2), 0)
      assert.isDefined(w.consul.kv.get(names.paused))
      assert.strictEqual(sentinelRounds(w), 1, "not held up waiting for a node it could not reach")
    }))

  it.live("a replica that answers but refuses the new priority: the others are still set, and pause succeeds", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.redis.failing.set(`${formatEndpoint(redisAt(2))} CONFIG SET replica-priority 0`, "refused")
      const n = yield* testNode(1)
      const exit = yield* runFor(pause, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual([priorityOf(w, 2), priorityOf(w, 3)], [100, 0])
    }))

  it.live("a sentinel that fails its check in Consul is not waited for", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.consul.register("redis-sentinel-node-4", "redis-sentinel", sentinelAt(4).host, 26379, "critical")
      const n = yield* testNode(1)
      const exit = yield* runFor(pause, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(sentinelRounds(w), 1)
    }))

  it.live("a sentinel that does not report the new priority: pause waits for it, bounded, then returns", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      // Sentinel 3 still has the priority it read before (it reads a replica's INFO every 10 s).
      const stale = w.redis.sentinels.get(formatEndpoint(sentinelAt(3)))
      // It already read node 2's new priority, not node 3's.
      if (stale !== undefined) stale.replicas.splice(1, 1, { endpoint: redisAt(3), runId: "r3", flags: ["slave"], priority: 100 })
      const n = yield* testNode(1)
      const { result, tookMs } = yield* timed(runFor(pause, n, w))
      assert.isTrue(Exit.isSuccess(result), failureOf(result))
      assert.isAtLeast(tookMs, bound, "waited for the sentinel up to the bound")
      assert.isAbove(sentinelRounds(w), 1, "asked again while waiting")
    }))

  it.live("Consul down: fails, and changes no priority (nothing would say the cluster is paused)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.consul.outage = "unreachable"
      const n = yield* testNode(1)
      const exit = yield* runFor(pause, n, w)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual([priorityOf(w, 2), priorityOf(w, 3)], [100, 100])
    }))
})

describe("resume", () => {
  /** Agents on nodes 1-3 that report the key as they see it in Consul and put their priority back once it is gone, if `restore`. */
  let asked = 0
  const agents = (w: Worlds, restore: boolean) => {
    asked = 0
    const encode = Schema.encodeSync(AgentReportFromJson)
    for (const i of [1, 2, 3]) {
      w.agents.set(`${redisAt(i).host}:8008`, () => {
        asked += 1
        const paused = w.consul.kv.has(names.paused)
        const current = paused || !restore ? 0 : 100
        return { status: 200, body: encode(agentReport(i, { consul: { lastSync: null, problem: null, paused }, priority: { configured: 100, current } })) }
      })
    }
  }

  it.live("removes the key and returns once every agent reports its REPLICA_PRIORITY back", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.consul.kv.set(names.paused, { value: "paused", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      agents(w, true)
      const n = yield* testNode(1)
      const result = yield* runFor(resume, n, w)
      assert.isTrue(Exit.isSuccess(result), failureOf(result))
      assert.isFalse(w.consul.kv.has(names.paused))
      assert.strictEqual(asked, 3, "one round: every agent had its priority back")
    }))

  it.live("an agent that does not put its priority back: resume waits for it, bounded, then returns with the key removed", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      w.consul.kv.set(names.paused, { value: "paused", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      agents(w, false)
      const n = yield* testNode(1)
      const { result, tookMs } = yield* timed(runFor(resume, n, w))
      assert.isTrue(Exit.isSuccess(result), failureOf(result))
      assert.isFalse(w.consul.kv.has(names.paused))
      assert.isAtLeast(tookMs, bound)
      assert.isAbove(asked, 3, "asked again while waiting")
    }))

  it.live("not paused: nothing to wait for", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      trio(w)
      agents(w, false)
      const n = yield* testNode(1)
      const result = yield* runFor(resume, n, w)
      assert.isTrue(Exit.isSuccess(result), failureOf(result))
      assert.strictEqual(asked, 0, "returned without asking the agents")
    }))
})
