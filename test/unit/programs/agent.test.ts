// The node agent over in-memory Redis, Sentinel and Consul, with its real HTTP API on
// a free loopback port: it passes and fails this node's checks in Consul as the role
// changes, fails another node's stale master check before passing its own, heals a
// Consul that lost everything, cares for the bootstrap lock, moves a stranded replica
// (not while paused), counts a failover once, and reports it all over HTTP.
import { assert, describe, it } from "@effect/vitest"
import { existsSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Duration, Effect, Fiber, Schema } from "effect"
import { AgentReportFromJson } from "../../../src/domain/AgentReport.ts"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { agent } from "../../../src/programs/agent.ts"
import { closedPort } from "../../support/fakeServers.ts"
import { eventually, fastTimings, makeWorlds, memoryLayers, passingSentinel, redisAt, sentinelAt, startAgent, testNode, type TestNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")

/** Starts node i's agent over the worlds, on a free API port; stopped with the test's scope. */
const get = (url: string) => fetch(url).then(async (r) => ({ status: r.status, body: await r.text() }))
const statusOf = (w: Worlds, id: string) => w.consul.services.get(id)?.status

/** Node i is master; the three sentinels name it and pass in Consul. */
const clusterWithMaster = (w: Worlds, master: number, replicas: ReadonlyArray<number> = []) => {
  w.redis.master(redisAt(master), replicas.map(redisAt))
  for (const r of replicas) w.redis.replica(redisAt(r), redisAt(master))
  for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(master))
}

describe("agent: verdicts into Consul and over HTTP", () => {
  it.live("a master registers itself passing as redis, answers 200 on /master and 503 on /replica, with reasons", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 1)
      const { api } = yield* startAgent(1, w)
      yield* eventually("redis-node-1 passing in Consul", 5_000, () => statusOf(w, "redis-node-1") === "passing")
      assert.isUndefined(w.consul.services.get("redis-replica-node-1"), "a role it never had is not registered")
      const master = yield* Effect.promise(() => get(`${api}/master`))
      assert.deepStrictEqual(master, { status: 200, body: "pass: master with 0 connected replica(s); 3 of 3 sentinels name it\n" })
      const replica = yield* Effect.promise(() => get(`${api}/replica`))
      assert.deepStrictEqual(replica, { status: 503, body: "fail: this node is master, not a replica\n" })
      assert.strictEqual((yield* Effect.promise(() => get(`${api}/sentinel`))).status, 200)
    }))

  it.live("demoted by the sentinels: fails its master check in Consul at once, not at a TTL lapse", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 1)
      const { api } = yield* startAgent(1, w)
      yield* eventually("passing first", 5_000, () => statusOf(w, "redis-node-1") === "passing")
      // Frozen, then woken: Redis still says master, the sentinels moved on.
      w.redis.switchMaster("mymaster", redisAt(2))
      yield* eventually("redis-node-1 critical", 2_000, () => statusOf(w, "redis-node-1") === "critical")
      assert.include(w.consul.services.get("redis-node-1")?.output ?? "", "3 of 3 sentinels name 10.0.0.12:6379: demoted or cut off")
      assert.strictEqual((yield* Effect.promise(() => get(`${api}/master`))).status, 503)
    }))

  it.live("promoted: fails the old master's still-passing check first, then passes its own", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 1, [2])
      w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379, "passing")
      yield* startAgent(2, w)
      yield* eventually("node 2 passing as a replica", 5_000, () => statusOf(w, "redis-replica-node-2") === "passing")
      const before = w.consul.calls.length
      // The old master dies; Sentinel promotes node 2 and tells of it.
      w.redis.stop(redisAt(1))
      w.redis.master(redisAt(2))
      w.redis.switchMaster("mymaster", redisAt(2))
      w.redis.publish(sentinelAt(2), "+switch-master", `mymaster ${redisAt(1).host} 6379 ${redisAt(2).host} 6379`)
      yield* eventually("node 2 passing as redis", 2_000, () => statusOf(w, "redis-node-2") === "passing")
      assert.strictEqual(statusOf(w, "redis-node-1"), "critical")
      assert.strictEqual(statusOf(w, "redis-replica-node-2"), "critical")
      const calls = w.consul.calls.slice(before)
      const failedOld = calls.indexOf("agent.check service:redis-node-1")
      const passedNew = calls.indexOf("agent.service.register redis-node-2")
      assert.isAtLeast(failedOld, 0, calls.join("\n"))
      assert.isBelow(failedOld, passedNew, "never two masters passing")
    }))

  it.live("Consul lost its state: every registration of this node is back within the sync interval", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 2, [1])
      yield* startAgent(1, w)
      yield* eventually("registered", 5_000, () => statusOf(w, "redis-replica-node-1") === "passing")
      w.consul.wipe()
      yield* eventually("registrations back", 3_000, () =>
        statusOf(w, "redis-replica-node-1") === "passing" && statusOf(w, "redis-sentinel-node-1") === "passing")
    }))

  it.live("a Consul agent per node, one restarted without its state: only that node's registrations were lost, and its agent brings them back", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.agents = "perNode"
      clusterWithMaster(w, 1, [2])
      yield* startAgent(1, w)
      yield* startAgent(2, w)
      yield* eventually("both registered", 5_000, () => statusOf(w, "redis-node-1") === "passing" && statusOf(w, "redis-replica-node-2") === "passing")
      w.consul.restartAgent("node-2")
      assert.strictEqual(statusOf(w, "redis-node-1"), "passing", "node 1's agent kept its registrations")
      yield* eventually("node 2 registered again", 3_000, () =>
        statusOf(w, "redis-replica-node-2") === "passing" && statusOf(w, "redis-sentinel-node-2") === "passing")
      assert.strictEqual(w.consul.services.get("redis-replica-node-2")?.agent, "node-2", "through its own agent")
    }))

  /** Node 1, the master, dies with its own Consul agent (its check stays on that agent); Sentinel promotes node 2, whose agent runs here. */
  const promoteOverDeadMaster = (w: Worlds) =>
    Effect.gen(function*() {
      w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379, "passing", "node-1")
      yield* startAgent(2, w)
      yield* eventually("node 2 passing as a replica", 5_000, () => statusOf(w, "redis-replica-node-2") === "passing")
      w.redis.stop(redisAt(1))
      w.redis.master(redisAt(2))
      w.redis.switchMaster("mymaster", redisAt(2))
      w.redis.publish(sentinelAt(2), "+switch-master", `mymaster ${redisAt(1).host} 6379 ${redisAt(2).host} 6379`)
      yield* eventually("node 2 passing as redis", 2_000, () => statusOf(w, "redis-node-2") === "passing")
    })

  it.live("a Consul agent per node: the promoted node passes at once and fails the old master's check, which only the old node's own agent holds, in the catalog", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.agents = "perNode"
      clusterWithMaster(w, 1, [2])
      yield* promoteOverDeadMaster(w)
      assert.strictEqual(statusOf(w, "redis-replica-node-2"), "critical")
      // Node 1's agent died with it, and Consul's gossip takes seconds to say so: until
      // then Consul would show two masters passing.
      yield* eventually("node 1 no longer passing as redis", 2_000, () => statusOf(w, "redis-node-1") === "critical")
      assert.isTrue(w.consul.calls.includes("agent.check service:redis-node-1"), "its own agent tried first")
      assert.isTrue(w.consul.calls.includes("catalog.register node-1 service:redis-node-1"), "then the catalog")
    }))

  it.live("a Consul agent per node: a catalog write refused (an ACL without the right) is logged, and the promoted node still passes", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.agents = "perNode"
      w.consul.failing.set("catalog.register node-1 service:redis-node-1", "unexpected-reply")
      clusterWithMaster(w, 1, [2])
      yield* promoteOverDeadMaster(w)
      assert.isTrue(w.consul.calls.includes("catalog.register node-1 service:redis-node-1"), "the catalog was tried")
      assert.strictEqual(statusOf(w, "redis-node-1"), "passing", "left to gossip")
    }))

  it.live("a missing answer holds a passing verdict for one health interval, never longer", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 1)
      const { api } = yield* startAgent(1, w, { HEALTH_INTERVAL: "1", HEALTH_TTL: "3", HEALTH_TIMEOUT: "1s" })
      yield* eventually("passing", 5_000, () => get(`${api}/master`).then((r) => r.status === 200))
      w.redis.stop(redisAt(1))
      const stopped = Date.now()
      yield* eventually("failing", 5_000, () => get(`${api}/master`).then((r) => r.status === 503 && r.body.includes("Redis did not answer")))
      // Held for one HEALTH_INTERVAL from the start of the last answering look, which a
      // busy machine can put well before the stop: half of it is the bound.
      assert.isAtLeast(Date.now() - stopped, 500, "held for one HEALTH_INTERVAL")
    }))
})

describe("agent: the bootstrap lock and the node's place in the cluster", () => {
  it.live("keeps the founding session until Consul shows it passing, then releases it and forgets the session", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 1)
      w.consul.sessions.set("s-1", { behavior: "release" })
      w.consul.kv.set(names.masterLock, { value: JSON.stringify({ node: "node-1", address: "10.0.0.11", port: 6379 }), session: "s-1", modifyIndex: w.consul.next(), lockIndex: 1 })
      const port = yield* Effect.promise(closedPort)
      const node: TestNode = yield* testNode(1, { BIND_ADDRESS: "127.0.0.1", API_PORT: String(port) })
      yield* Effect.promise(async () => {
        await mkdir(join(node.dir, "conf"), { recursive: true })
        await writeFile(join(node.dir, "conf", "bootstrap-session"), "s-1")
      })
      yield* agent.pipe(Effect.provide(memoryLayers(node, w)), Effect.forkScoped)
      yield* eventually("lock released", 5_000, () => w.consul.kv.get(names.masterLock)?.session === undefined)
      assert.strictEqual(statusOf(w, "redis-node-1"), "passing", "released only once passing in Consul")
      assert.include(w.consul.kv.get(names.masterLock)?.value ?? "", "node-1", "the founder stays on record")
      // Forgotten right after the release and the session's end (a loaded run saw the file a moment after the release).
      yield* eventually("the session forgotten", 5_000, () => !existsSync(join(node.dir, "conf", "bootstrap-session")))
    }))

  it.live("moves a replica the failover left behind, after the grace; never while paused", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 2, [1])
      w.redis.replica(redisAt(1), redisAt(3)) // still following the dead old master
      w.redis.master(redisAt(3)) // which came back as a master nobody names
      w.consul.kv.set(names.paused, { value: "operator", session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      yield* startAgent(1, w)
      yield* Effect.sleep("1500 millis") // three times the grace, paused
      assert.isFalse(w.redis.calls.includes(`${formatEndpoint(redisAt(1))} REPLICAOF`), "paused: nothing changes")
      w.consul.kv.delete(names.paused)
      yield* eventually("moved to the sentinels' master", 5_000, () => {
        const role = w.redis.servers.get(formatEndpoint(redisAt(1)))?.role
        return role?._tag === "Replica" && role.master.host === redisAt(2).host
      })
    }))
})

describe("agent: listening to the sentinels", () => {
  it.live("subscribes to every sentinel it learns of, and stops listening to one that left the cluster", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 1)
      const subscribed = (i: number) => (w.redis.subscribers.get(formatEndpoint(sentinelAt(i)))?.size ?? 0) > 0
      yield* startAgent(1, w)
      yield* eventually("listening to all three", 5_000, () => [1, 2, 3].every(subscribed))
      // Sentinel 3 is replaced: gone from the world and from Consul.
      w.redis.stop(sentinelAt(3))
      w.consul.services.delete("redis-sentinel-node-3")
      const asked = () => w.redis.calls.filter((c) => c === `${formatEndpoint(sentinelAt(3))} PSUBSCRIBE *`).length
      yield* eventually("no longer retried", 5_000, async () => {
        const before = asked()
        await new Promise((resolve) => setTimeout(resolve, 4 * Duration.toMillis(fastTimings.registrySyncEvery)))
        return asked() === before
      })
      assert.isTrue(subscribed(1) && subscribed(2), "the others are still listened to")
    }))
})

describe("agent: what it reports", () => {
  it.live("/status is the AgentReport; a failover told by three sentinels counts once", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 1)
      const { api } = yield* startAgent(1, w)
      yield* eventually("peers known", 5_000, () =>
        get(`${api}/status`).then((r) => Schema.decodeUnknownSync(AgentReportFromJson)(r.body).sentinels.known === 3))
      for (const i of [1, 2, 3]) w.redis.publish(sentinelAt(i), "+switch-master", `mymaster ${redisAt(2).host} 6379 ${redisAt(1).host} 6379`)
      const report = yield* eventually("failover seen", 3_000, () =>
        get(`${api}/status`).then((r) => {
          const decoded = Schema.decodeUnknownSync(AgentReportFromJson)(r.body)
          return decoded.failovers.seen === 1 ? decoded : undefined
        }))
      assert.strictEqual(report.role, "master")
      assert.strictEqual(report.sentinels.master, "10.0.0.11:6379")
      assert.strictEqual(report.failovers.last?.to, "10.0.0.11:6379")
      assert.isTrue(report.verdicts?.master.pass)
    }))

  it.live("/metrics is Prometheus text with the role and the checks", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 1)
      const { api } = yield* startAgent(1, w)
      yield* eventually("passing", 5_000, () => get(`${api}/master`).then((r) => r.status === 200))
      const text = (yield* Effect.promise(() => get(`${api}/metrics`))).body
      assert.match(text, /^autopilot_redis_is_master 1$/m)
      assert.match(text, /^autopilot_redis_check_passing\{check="master"\} 1$/m)
      assert.match(text, /^autopilot_redis_check_passing\{check="replica"\} 0$/m)
    }))

  it.live("/health says what it cannot reach; the agent keeps running while Consul is down", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      clusterWithMaster(w, 1)
      const { api, fiber } = yield* startAgent(1, w)
      yield* eventually("healthy", 5_000, () => get(`${api}/health`).then((r) => r.status === 200))
      w.consul.outage = "unreachable"
      yield* eventually("unhealthy, naming Consul", 3_000, () => get(`${api}/health`).then((r) => r.status === 503 && r.body.includes("Consul")))
      assert.strictEqual((yield* Effect.promise(() => get(`${api}/master`))).status, 200, "a Consul outage changes no verdict")
      assert.isUndefined(fiber.pollUnsafe(), "still running")
      w.consul.outage = undefined
      yield* eventually("healthy again", 3_000, () => get(`${api}/health`).then((r) => r.status === 200))
      yield* Fiber.interrupt(fiber)
    }))
})
