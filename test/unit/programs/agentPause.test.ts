// The agent's pause care over in-memory Redis and Consul: a node's Redis goes to
// replica-priority 0 when `service/redis/paused` appears, is held there (also after
// its Redis restarted with the configured value), gets REPLICA_PRIORITY back on
// resume, keeps the last known state while Consul is down, and reports it at /status.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { AgentReportFromJson } from "../../../src/domain/AgentReport.ts"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { eventually, makeWorlds, passingSentinel, redisAt, startAgent, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")

const priorityOf = (w: Worlds, i: number) => w.redis.servers.get(formatEndpoint(redisAt(i)))?.priority
const pause = (w: Worlds) => w.consul.kv.set(names.paused, { value: "{}", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })

/** Node 1 master, node 2 its replica (configured REPLICA_PRIORITY 30), three sentinels. */
const cluster = (w: Worlds) => {
  w.redis.master(redisAt(1), [redisAt(2)])
  w.redis.replica(redisAt(2), redisAt(1))
  for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(1))
}

describe("agent: maintenance mode", () => {
  it.live("paused: priority 0 and held there across a Redis restart; resumed: REPLICA_PRIORITY back; /status shows both", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      cluster(w)
      const server = w.redis.servers.get(formatEndpoint(redisAt(2)))
      if (server !== undefined) server.priority = 30 // as rendered from REPLICA_PRIORITY
      const { api } = yield* startAgent(2, w, { REPLICA_PRIORITY: "30" })
      pause(w)
      yield* eventually("priority 0 while paused", 3_000, () => priorityOf(w, 2) === 0)
      // Redis restarted: it reads redis.conf again.
      if (server !== undefined) server.priority = 30
      yield* eventually("priority 0 again", 3_000, () => priorityOf(w, 2) === 0)
      const paused = yield* eventually("/status reports the pause", 3_000, async () => {
        const report = Schema.decodeUnknownSync(AgentReportFromJson)(await (await fetch(`${api}/status`)).text())
        return report.consul.paused && report.priority?.current === 0 ? report : undefined
      })
      assert.deepStrictEqual(paused.priority, { configured: 30, current: 0 })
      assert.isFalse(w.redis.calls.some((c) => c.endsWith("REPLICAOF")), "paused: nothing else changes")
      w.consul.kv.delete(names.paused)
      yield* eventually("REPLICA_PRIORITY back", 3_000, () => priorityOf(w, 2) === 30)
    }))

  it.live("an agent starting while paused brings its node to 0; a Consul outage keeps it there", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      cluster(w)
      pause(w)
      yield* startAgent(2, w)
      yield* eventually("priority 0", 3_000, () => priorityOf(w, 2) === 0)
      w.consul.outage = "unreachable"
      const server = w.redis.servers.get(formatEndpoint(redisAt(2)))
      if (server !== undefined) server.priority = 100
      yield* eventually("still held at 0 without Consul", 3_000, () => priorityOf(w, 2) === 0)
    }))

  it.live("not paused: once REPLICA_PRIORITY was confirmed, Redis is left alone (a switchover's temporary priority stays)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      cluster(w)
      yield* startAgent(2, w)
      const reads = () => w.redis.calls.filter((c) => c.endsWith("CONFIG GET replica-priority")).length
      const rounds = () => w.consul.calls.filter((c) => c === `kv.get ${names.paused}`).length
      yield* eventually("the agent confirmed the priority", 3_000, () => reads() >= 1 && rounds() >= 2)
      const server = w.redis.servers.get(formatEndpoint(redisAt(2)))
      if (server !== undefined) server.priority = 0
      const [readsBefore, roundsBefore] = [reads(), rounds()]
      yield* eventually("a few more rounds", 3_000, () => rounds() >= roundsBefore + 5)
      assert.strictEqual(priorityOf(w, 2), 0)
      assert.strictEqual(reads(), readsBefore, "no command to Redis at rest")
    }))
})
