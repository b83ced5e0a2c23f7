// `manage list` and `manage status` read each node from its agent's `/status` where the
// agent answers (no command to that Redis), and from Redis directly where it does not;
// both show the cluster paused and each node's priority.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { type AgentReport, AgentReportFromJson } from "../../../src/domain/AgentReport.ts"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { list } from "../../../src/programs/list.ts"
import { status } from "../../../src/programs/status.ts"
import { makeWorlds, passingSentinel, redisAt, runFor, testNode, type Worlds } from "../../support/harness.ts"

const report = (i: number, o: Partial<AgentReport>): AgentReport => ({
  node: `node-${i}`,
  redis: formatEndpoint(redisAt(i)),
  role: "replica",
  priority: { configured: 100, current: 0 },
  following: formatEndpoint(redisAt(1)),
  link: "connected",
  offset: 1000,
  replicas: [],
  sentinels: { known: 3, answered: 3, master: formatEndpoint(redisAt(1)), votes: 3 },
  verdicts: null,
  consul: { lastSync: null, problem: null, paused: true },
  failovers: { seen: 0, last: null },
  lastBackup: null,
  agent: { startedAt: "2026-01-01T00:00:00.000Z", cycles: 10, lastCycleAt: "2026-01-01T00:00:10.000Z" },
  ...o
})

/** Node 1 master of 2 and 3; agents answer on nodes 1 and 2, node 3's agent is down; paused. */
const cluster = (w: Worlds) => {
  w.redis.master(redisAt(1), [redisAt(2), redisAt(3)], 1000)
  w.redis.replica(redisAt(2), redisAt(1)).replica(redisAt(3), redisAt(1))
  for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(1))
  w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379)
  for (const i of [2, 3]) w.consul.register(`redis-replica-node-${i}`, "redis-replica", redisAt(i).host, 6379)
  w.consul.kv.set("service/redis/paused", { value: "{}", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
  const encode = Schema.encodeSync(AgentReportFromJson)
  w.agents.set(`${redisAt(1).host}:8008`, () => ({
    status: 200,
    body: encode(report(1, { role: "master", following: null, link: null, offset: 1500, replicas: [{ redis: formatEndpoint(redisAt(2)), offset: 1400, lagBytes: 100 }, { redis: formatEndpoint(redisAt(3)), offset: 1500, lagBytes: 0 }] }))
  }))
  w.agents.set(`${redisAt(2).host}:8008`, () => ({ status: 200, body: encode(report(2, {})) }))
}

const printed = <A, E, R>(run: Effect.Effect<Exit.Exit<A, E>, never, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const original = console.log
    console.log = (line: string) => void lines.push(line)
    const exit = yield* run.pipe(Effect.ensuring(Effect.sync(() => (console.log = original))))
    return { exit, out: lines.join("\n") }
  })

describe("list and status read the agents", () => {
  it.live("list: agents' rows, Redis asked only for the node whose agent is down; paused in the title", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      cluster(w)
      const n = yield* testNode(1)
      const { exit, out } = yield* printed(runFor(list(false), n, w))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.include(out, "maintenance mode: paused")
      assert.match(out, /\| node-1 \| 10\.0\.0\.11:6379 \| master  \| running +\| 0 +\| 0 \(configured 100\) \| 2026-01-01T00:00:10\.000Z \|/)
      assert.match(out, /\| node-2 \| 10\.0\.0\.12:6379 \| replica \| streaming +\| 100 +\| 0 \(configured 100\) \|/)
      assert.match(out, /\| node-3 \| 10\.0\.0\.13:6379 \| replica \| streaming, agent not answering \| 0 +\| 100 +\| - +\|/)
      const asked = new Set(w.redis.calls.map((c) => c.split(" ")[0]))
      assert.deepStrictEqual([...asked], [formatEndpoint(redisAt(3))])
    }))

  it.live("status: paused, priorities, offsets from the agents", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      cluster(w)
      const n = yield* testNode(1)
      const { exit, out } = yield* printed(runFor(status(false), n, w))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.include(out, "maintenance: paused")
      // Lag: the master's offset (its agent: 1500) less the replica's own (node 2's agent, node 3's Redis: 1000).
      assert.match(out, /10\.0\.0\.12:6379\s+replica of 10\.0\.0\.11:6379 \(connected\)\s+500 B\s+0\s+absent\s+passing/)
      assert.match(out, /10\.0\.0\.13:6379\s+replica of 10\.0\.0\.11:6379 \(connected\)\s+500 B\s+100\s+absent\s+passing/)
      assert.isFalse(w.redis.calls.some((c) => c.startsWith(`${formatEndpoint(redisAt(2))} `)), "node 2 read from its agent")
    }))
})
