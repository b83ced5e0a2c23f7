// `manage health master|replica` and `health-sentinel` give the agent's verdict; when
// the agent does not answer (down, hanging, answering nonsense) they judge the node
// directly with the same functions and no history, so a missing answer fails. They
// always end within HEALTH_TIMEOUT, whatever hangs.
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit } from "effect"
import { health, HealthCheckFailed } from "../../../src/programs/health.ts"
import { closedPort, garbageRespServer, silentServer } from "../../support/fakeServers.ts"
import { makeWorlds, passingSentinel, redisAt, runFor, runLive, scoped, sentinelAt, testNode } from "../../support/harness.ts"

const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "passed")
const passed = <E>(exit: Exit.Exit<unknown, E>) => assert.isTrue(Exit.isSuccess(exit), failureOf(exit))

/** Runs `f` and returns its exit with the elapsed wall time. */
const timed = <A, E, R>(f: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const exit = yield* f
    return { exit, ms: Date.now() - started }
  })

/** This node's agent API as the tests' nodes reach it (BIND_ADDRESS defaults to all interfaces). */
const localAgent = "127.0.0.1:8008"

describe("health through the agent", () => {
  it.live("passes on 200 and fails on 503 with the agent's reason; the other role is an expected failure", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.agents.set(localAgent, (path) =>
        path === "/master"
          ? { status: 200, body: "pass: master with 2 connected replica(s); 3 of 3 sentinels name it\n" }
          : { status: 503, body: "fail: this node is master, not a replica\n" })
      passed(yield* runFor(health("master"), n, w))
      const replica = yield* runFor(health("replica"), n, w)
      assert.match(failureOf(replica), /redis replica check failing: this node is master, not a replica/)
      const error = Exit.isFailure(replica) ? Cause.squash(replica.cause) : undefined
      assert.isTrue(error instanceof HealthCheckFailed && error.expected === true, "the other role is logged at debug level only")
    }))

  it.live("the agent's verdict wins over what this process would see (one source of truth)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      passingSentinel(w, 1, redisAt(1))
      w.agents.set(localAgent, () => ({ status: 503, body: "fail: Redis says master, but 2 of 3 sentinels name 10.0.0.12:6379: demoted or cut off\n" }))
      assert.match(failureOf(yield* runFor(health("master"), n, w)), /demoted or cut off/)
    }))
})

describe("health without the agent: judged here, no history", () => {
  it.live("a master the sentinels name passes; as a replica it fails, expectedly", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(1))
      passed(yield* runFor(health("master"), n, w))
      passed(yield* runFor(health("sentinel"), n, w))
      assert.match(failureOf(yield* runFor(health("replica"), n, w)), /this node is master, not a replica/)
    }))

  it.live("a master the sentinels no longer name fails at once", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(2))
      assert.match(failureOf(yield* runFor(health("master"), n, w)), /3 of 3 sentinels name 10\.0\.0\.12:6379: demoted or cut off/)
    }))

  it.live("a master that reaches a minority of its sentinels fails: it cannot know it is still master", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(1))
      w.redis.stop(sentinelAt(2))
      w.redis.stop(sentinelAt(3))
      assert.match(failureOf(yield* runFor(health("master"), n, w)), /only 1 of 3 sentinels answered/)
    }))

  it.live("a replica passes only with its link up to the master the sentinels name", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      for (const i of [1, 2]) passingSentinel(w, i, redisAt(2))
      w.redis.replica(redisAt(1), redisAt(2))
      passed(yield* runFor(health("replica"), n, w))
      w.redis.replica(redisAt(1), redisAt(2), "sync")
      assert.match(failureOf(yield* runFor(health("replica"), n, w)), /link sync/)
      w.redis.replica(redisAt(1), redisAt(3))
      assert.match(failureOf(yield* runFor(health("replica"), n, w)), /name 10\.0\.0\.12:6379 master/)
    }))

  it.live("an agent answering something other than a verdict is not believed", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      for (const answer of [{ status: 200, body: "<html>a proxy</html>" }, { status: 404, body: "not found" }, { status: 503, body: "" },
        { status: 200, body: "fail: demoted" }, { status: 503, body: "pass: fine" }, { status: 200, body: "note: pass: fine" }, { status: 200, body: "pass: fine\nand a second line" }]) {
        w.agents.set(localAgent, () => answer)
        assert.match(failureOf(yield* runFor(health("master"), n, w)), /Redis did not answer/, JSON.stringify(answer))
      }
    }))

  it.live("the sentinel check fails when the local Sentinel does not monitor MASTER_NAME or does not answer", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.sentinel(sentinelAt(1), "mymaster", undefined)
      assert.match(failureOf(yield* runFor(health("sentinel"), n, w)), /Sentinel does not monitor mymaster/)
      w.redis.stop(sentinelAt(1))
      assert.match(failureOf(yield* runFor(health("sentinel"), n, w)), /Sentinel did not answer/)
    }))

  it.live("invalid environment: fails naming the variable", () =>
    Effect.gen(function*() {
      const n = yield* testNode(1, { HEALTH_TIMEOUT: "soon" })
      assert.match(failureOf(yield* runFor(health("master"), n, makeWorlds())), /HEALTH_TIMEOUT \(value not shown\): expected a duration/)
    }))
})

describe("health within HEALTH_TIMEOUT whatever hangs (live sockets)", () => {
  const bound = Duration.toMillis(Duration.seconds(2))

  it.live("the agent accepts and never answers, Redis and Sentinel are down: fails within HEALTH_TIMEOUT", () =>
    Effect.gen(function*() {
      const agent = yield* scoped(silentServer)
      const port = yield* Effect.promise(closedPort)
      const sentinelPort = yield* Effect.promise(closedPort)
      // 4 s: the agent gets half the budget (1.75 s) and the look without it the rest,
      // which a loaded machine needs to show that look ran (a loaded run: 2 s was short).
      const n = yield* testNode(1, { BIND_ADDRESS: "127.0.0.1", API_PORT: String(agent.port), ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(port), SENTINEL_PORT: String(sentinelPort), HEALTH_TIMEOUT: "4s" })
      const { exit, ms } = yield* timed(runLive(health("master"), n))
      assert.match(failureOf(exit), /Redis did not answer/)
      assert.isBelow(ms, 4_000)
    }))

  for (const [what, make, expected] of [
    ["Redis and Sentinel accept and never answer", silentServer, /no answer|timeout/],
    ["Redis and Sentinel answer garbage", garbageRespServer, /unexpected-reply/]
  ] as const) {
    it.live(`no agent; ${what}: fails within HEALTH_TIMEOUT`, () =>
      Effect.gen(function*() {
        // Redis and Sentinel on two servers of the same kind: the environment requires distinct ports.
        const server = yield* scoped(make)
        const sentinel = yield* scoped(make)
        const api = yield* Effect.promise(closedPort)
        const n = yield* testNode(1, { BIND_ADDRESS: "127.0.0.1", API_PORT: String(api), ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(server.port), SENTINEL_PORT: String(sentinel.port), HEALTH_TIMEOUT: "2s" })
        for (const check of ["master", "replica", "sentinel"] as const) {
          const { exit, ms } = yield* timed(runLive(health(check), n))
          assert.match(failureOf(exit), expected)
          assert.isBelow(ms, bound, `${check} took ${ms} ms`)
        }
      }))
  }
})
