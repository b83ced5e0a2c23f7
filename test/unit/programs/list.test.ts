// `manage list` and `manage status` read each node from its agent's `/status` where the
// agent answers (no command to that Redis), and from Redis directly where it does not;
// both show the cluster paused and each node's priority.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { AgentReportFromJson } from "../../../src/domain/AgentReport.ts"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { list } from "../../../src/programs/list.ts"
import { status } from "../../../src/programs/status.ts"
import { agentReport, makeWorlds, passingSentinel, redisAt, runFor, sentinelAt, testNode, type Worlds } from "../../support/harness.ts"

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
    body: encode(agentReport(1, { role: "master", following: null, link: null, offset: 1500, replicas: [{ redis: formatEndpoint(redisAt(2)), offset: 1400, lagBytes: 100 }, { redis: formatEndpoint(redisAt(3)), offset: 1500, lagBytes: 0 }] }))
  }))
  w.agents.set(`${redisAt(2).host}:8008`, () => ({ status: 200, body: encode(agentReport(2, {})) }))
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

describe("a fenced master in list and status", () => {
  const why = "no majority of the sentinels named this node master within FENCE_AFTER (2s)"
  const fencedCluster = (w: Worlds, agentAnswers: boolean) => {
    w.redis.master(redisAt(1), [redisAt(2)], 1000)
    w.redis.replica(redisAt(2), redisAt(1))
    for (const i of [1, 2]) passingSentinel(w, i, redisAt(1))
    w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379, "critical")
    w.consul.register("redis-replica-node-2", "redis-replica", redisAt(2).host, 6379)
    const one = w.redis.servers.get(formatEndpoint(redisAt(1)))
    if (one !== undefined) one.minReplicas = 1_000_000
    const encode = Schema.encodeSync(AgentReportFromJson)
    if (agentAnswers) {
      w.agents.set(`${redisAt(1).host}:8008`, () => ({
        status: 200,
        body: encode(agentReport(1, {
          role: "master",
          following: null,
          link: null,
          replicas: [],
          fence: { fenced: true, reason: why, since: "2026-01-01T00:00:09.000Z", minReplicasToWrite: 1_000_000, applied: 1_000_000 }
        }))
      }))
    }
    w.agents.set(`${redisAt(2).host}:8008`, () => ({ status: 200, body: encode(agentReport(2, {})) }))
  }

  it.live("from its agent: state fenced and why; status says it under the master line", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      fencedCluster(w, true)
      const n = yield* testNode(2)
      const listed = yield* printed(runFor(list(false), n, w))
      assert.match(listed.out, /\| node-1 \| 10\.0\.0\.11:6379 \| master +\| fenced +\|/)
      assert.include(listed.out, `node-1 refuses writes: ${why}`)
      const shown = yield* printed(runFor(status(false), n, w))
      assert.include(shown.out, `fenced: 10.0.0.11:6379 refuses writes: ${why}`)
    }))

  it.live("its agent not answering: read from Redis itself (min-replicas-to-write)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      fencedCluster(w, false)
      const n = yield* testNode(2)
      const listed = yield* printed(runFor(list(true), n, w))
      const one = JSON.parse(listed.out).nodes.find((x: { readonly address: string }) => x.address === formatEndpoint(redisAt(1)))
      assert.strictEqual(one.state, "fenced, agent not answering")
      assert.include(one.fenced, "min-replicas-to-write")
    }))
})

describe("list --json", () => {
  const nodesOf = (out: string) => JSON.parse(out).nodes

  it.live("no agent answers: every row from Redis itself, each replica's lag from the master's ROLE, a dead Redis shown as such", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.master(redisAt(1), [redisAt(2), redisAt(3)], 1000)
      const master = w.redis.servers.get(formatEndpoint(redisAt(1)))
      if (master !== undefined && master.role._tag === "Master") {
        master.role = { ...master.role, replicas: [{ endpoint: redisAt(2), offset: 900 }, { endpoint: redisAt(3), offset: 1200 }] }
      }
      w.redis.replica(redisAt(2), redisAt(1)).replica(redisAt(3), redisAt(1), "sync")
      const two = w.redis.servers.get(formatEndpoint(redisAt(2)))
      if (two !== undefined) two.priority = 25
      w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379)
      for (const i of [2, 3, 4]) w.consul.register(`redis-replica-node-${i}`, "redis-replica", redisAt(i).host, 6379, "critical")
      const n = yield* testNode(1)
      const { exit, out } = yield* printed(runFor(list(true), n, w))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.isFalse(JSON.parse(out).paused)
      const row = (i: number, role: string, state: string, lagBytes: number | null, priority: number | null) => ({
        node: `node-${i}`,
        address: formatEndpoint(redisAt(i)),
        role,
        state,
        lagBytes,
        priority,
        configuredPriority: null,
        lastCheck: null,
        fenced: null
      })
      assert.deepStrictEqual(nodesOf(out), [
        row(1, "master", "running, agent not answering", 0, 100),
        row(2, "replica", "streaming, agent not answering", 100, 25),
        row(3, "replica", "link sync, agent not answering", 0, 100),
        row(4, "unknown", "Redis not answering, agent not answering", null, null)
      ])
    }))

  it.live("agents' reports: a link that is down, an agent of an earlier version (no priority), a node registered under another name", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379)
      w.consul.register("some-other-id", "redis-replica", redisAt(2).host, 6379)
      w.consul.register("redis-replica-node-3", "redis-replica", redisAt(3).host, 6379)
      const encode = Schema.encodeSync(AgentReportFromJson)
      const answers = {
        1: agentReport(1, { role: "master", following: null, link: null, offset: 2000, replicas: [{ redis: formatEndpoint(redisAt(2)), offset: 1500, lagBytes: 500 }], consul: { lastSync: null, problem: null, paused: false } }),
        2: (({ priority: _, ...older }) => older)(agentReport(2, { link: "connect" })),
        3: agentReport(3, { role: "unknown", following: null, link: null, offset: null, priority: { configured: 100, current: null } })
      }
      for (const [i, r] of Object.entries(answers)) w.agents.set(`${redisAt(Number(i)).host}:8008`, () => ({ status: 200, body: encode(r) }))
      const n = yield* testNode(1)
      const { exit, out } = yield* printed(runFor(list(true), n, w))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      const rows = nodesOf(out)
      assert.deepStrictEqual(rows.map((r: { node: string; role: string; state: string; lagBytes: number | null; priority: number | null; configuredPriority: number | null }) => [r.node, r.role, r.state, r.lagBytes, r.priority, r.configuredPriority]), [
        ["node-1", "master", "running", 0, 0, 100],
        ["node-2", "replica", "link connect", 500, null, null],
        ["node-3", "unknown", "Redis not answering", null, null, null]
      ])
      assert.deepStrictEqual(w.redis.calls, [], "every agent answered: no Redis was asked")
    }))

  it.live("nothing registered, or nothing answering: exit 1 saying which", () =>
    Effect.gen(function*() {
      const n = yield* testNode(1)
      const empty = yield* printed(runFor(list(false), n, makeWorlds()))
      assert.include(String(empty.exit), "no Redis node is registered in Consul")
      const w = makeWorlds()
      w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379)
      const silent = yield* printed(runFor(list(false), n, w))
      assert.include(String(silent.exit), "no registered node answered")
      assert.include(silent.out, "| node-1 | 10.0.0.11:6379 | unknown | Redis not answering, agent not answering |")
    }))
})

describe("status --json", () => {
  it.live("every node and sentinel as it answered: agents' reports, Redis directly, replicas registered nowhere, sentinels that do not count", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      // Sentinels: 1 and 3 pass in Consul, 2 is critical (names another master: does not count), 4 does not answer;
      // 3 answers but does not monitor mymaster.
      w.redis.sentinel(sentinelAt(1), "mymaster", redisAt(1)).sentinel(sentinelAt(2), "mymaster", redisAt(2)).sentinel(sentinelAt(3), "othermaster", redisAt(1))
      w.consul.register("redis-sentinel-node-1", "redis-sentinel", sentinelAt(1).host, 26379)
      w.consul.register("redis-sentinel-node-2", "redis-sentinel", sentinelAt(2).host, 26379, "critical")
      w.consul.register("redis-sentinel-node-3", "redis-sentinel", sentinelAt(3).host, 26379)
      w.consul.register("redis-sentinel-node-4", "redis-sentinel", sentinelAt(4).host, 26379)
      // Redis: node 1 master (no agent) of 2 and 6; node 6 is registered nowhere; node 2 read from its agent,
      // in a warning state in Consul; node 5's agent answers but its Redis did not; node 7's agent
      // reports a replica that follows nobody.
      w.redis.master(redisAt(1), [redisAt(2), redisAt(6)], 2000)
      const master = w.redis.servers.get(formatEndpoint(redisAt(1)))
      if (master !== undefined) master.priority = 100
      w.redis.replica(redisAt(6), redisAt(1), "sync", 1500)
      w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379)
      w.consul.register("redis-replica-node-2", "redis-replica", redisAt(2).host, 6379, "warning")
      w.consul.register("redis-replica-node-5", "redis-replica", redisAt(5).host, 6379, "critical")
      w.consul.register("redis-replica-node-7", "redis-replica", redisAt(7).host, 6379, "critical")
      const encode = Schema.encodeSync(AgentReportFromJson)
      const answers = {
        2: agentReport(2, { offset: 1800, link: "connected", priority: { configured: 100, current: 40 } }),
        5: agentReport(5, { role: "unknown", following: null, link: null, offset: null, priority: { configured: 100, current: null } }),
        7: agentReport(7, { following: null, link: null })
      }
      for (const [i, r] of Object.entries(answers)) w.agents.set(`${redisAt(Number(i)).host}:8008`, () => ({ status: 200, body: encode(r) }))
      w.consul.kv.set("service/redis/last-backup", { value: "not a manifest", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      const n = yield* testNode(1)
      const { exit, out } = yield* printed(runFor(status(true), n, w))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      const json = JSON.parse(out.slice(out.indexOf("{")))
      const node = (i: number, role: string, lagBytes: number | null, priority: number | null, master: string, replica: string) => ({
        redis: formatEndpoint(redisAt(i)),
        role,
        lagBytes,
        priority,
        fenced: null,
        consul: { master, replica }
      })
      assert.deepStrictEqual(json.nodes, [
        node(1, "master", null, 100, "passing", "absent"),
        node(2, "replica of 10.0.0.11:6379 (connected)", 200, 40, "absent", "warning"),
        node(5, "not answering", null, null, "absent", "critical"),
        node(7, "not answering", null, 0, "absent", "critical"),
        node(6, "replica of 10.0.0.11:6379 (sync)", 500, 100, "absent", "absent")
      ])
      assert.deepStrictEqual(json.sentinels, [
        { sentinel: "10.0.0.11:26379", consul: "passing", reports: "10.0.0.11:6379" },
        { sentinel: "10.0.0.12:26379", consul: "critical", reports: "10.0.0.12:6379" },
        { sentinel: "10.0.0.13:26379", consul: "passing", reports: "does not know mymaster" },
        { sentinel: "10.0.0.14:26379", consul: "passing", reports: "not answering" }
      ])
      assert.isNull(json.sentinelMaster, "1 of the 3 passing sentinels is no majority; the critical one does not vote")
      assert.isNull(json.lastBackup, "an unreadable record is no backup")
      assert.deepStrictEqual(json.problems, [])
    }))
})

describe("status when one Consul read fails", () => {
  it.live("each failed read is a problem it prints, and status exits 1; what it could read is still shown", () =>
    Effect.gen(function*() {
      for (const call of ["kv.get service/redis/paused", "kv.get service/redis/last-backup", "health.service redis-replica"]) {
        const w = makeWorlds()
        cluster(w)
        w.consul.failing.set(call, "timeout")
        const n = yield* testNode(1)
        const { exit, out } = yield* printed(runFor(status(true), n, w))
        assert.include(String(exit), "Consul could not be read", call)
        const json = JSON.parse(out.slice(out.indexOf("{")))
        assert.strictEqual(json.problems.length, 1, call)
        assert.include(json.problems[0], call.split(" ")[1])
        assert.include(JSON.stringify(json.nodes), "10.0.0.11:6379", "the master is still shown")
      }
    }))
})
