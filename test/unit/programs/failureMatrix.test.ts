// Every handler against every way a dependency can fail, through the live layers and
// real sockets, each case with the verdict an operator should get. Consul faults: the
// HTTP emulator down, hanging or answering garbage while this node's Redis and Sentinel
// are healthy (a master its Sentinel names), so every Consul call is really made. Redis
// faults: this node's Redis and Sentinel and the peer registered in Consul as master
// (node-9, 127.0.0.2) all down, hanging or answering garbage, Consul healthy. And an
// invalid environment. Health checks run with the production timings and must give
// their verdict within HEALTH_TIMEOUT; the agent's own matrix is agentFaults.test.ts.
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, type Layer } from "effect"
import { defaultTimings } from "../../../src/domain/Timings.ts"
import { backup } from "../../../src/programs/backup.ts"
import { health } from "../../../src/programs/health.ts"
import { preStart } from "../../../src/programs/preStart.ts"
import { preStop } from "../../../src/programs/preStop.ts"
import { status } from "../../../src/programs/status.ts"
import { startConsulEmulator } from "../../support/consul/ConsulEmulator.ts"
import { closedPort, controllableServer, redisMaster, sentinelOf } from "../../support/fakeServers.ts"
import { fastTimings, liveLayers, scoped, testNode } from "../../support/harness.ts"

type Fault =
  | "consul down" | "consul hanging" | "consul garbage"
  | "redis down" | "redis hanging" | "redis garbage"
  | "invalid environment"

const faults: ReadonlyArray<Fault> = [
  "consul down", "consul hanging", "consul garbage",
  "redis down", "redis hanging", "redis garbage",
  "invalid environment"
]

const HEALTH_TIMEOUT_MS = 2_000

type LiveServices = Layer.Success<ReturnType<typeof liveLayers>>

/** Widened to one type (outcome unknown, void result) so one table holds every handler. */
const handler = <A, E, R extends LiveServices>(
  program: Effect.Effect<A, E, R>,
  production = false
): { readonly program: Effect.Effect<void, unknown, LiveServices>; readonly production: boolean } => ({
  program: program.pipe(Effect.asVoid, Effect.mapError((e): unknown => e)),
  production
})

const handlers = {
  "pre-start": handler(preStart),
  "health master": handler(health("master"), true),
  "health replica": handler(health("replica"), true),
  "health-sentinel": handler(health("sentinel"), true),
  "backup --now": handler(backup(true)),
  "pre-stop": handler(preStop),
  status: handler(status(true))
}
type Handler = keyof typeof handlers

/** "pass", or the failure the operator must read. */
type Verdict = "pass" | RegExp

const invalid = /REDIS_PORT \(value not shown\).*SENTINEL_DOWN_AFTER \(value not shown\)/
const consulFault: Record<Handler, Verdict> = {
  // A new node cannot learn the cluster without Consul: it fails and ContainerPilot retries.
  "pre-start": /Consul/,
  // Redis serves and its Sentinel names it master: the verdicts stand without Consul.
  "health master": "pass",
  "health replica": /this node is master, not a replica/,
  "health-sentinel": "pass",
  "backup --now": /backup failed, nothing was recorded: .*Consul/,
  "pre-stop": "pass",
  status: /status: could not see the cluster/
}
const redisFault: Record<Handler, Verdict> = {
  // A master is registered passing but does not answer: never found beside it.
  "pre-start": /no safe role/,
  "health master": /redis master check failing/,
  "health replica": /redis replica check failing/,
  "health-sentinel": /redis-sentinel check failing/,
  // The run at container start, before Redis answers: nothing to back up, not an error.
  "backup --now": "pass",
  "pre-stop": "pass",
  status: /status: could not see the cluster/
}
const expected = (name: Handler, fault: Fault): Verdict =>
  fault === "invalid environment" ? invalid : fault.startsWith("consul") ? consulFault[name] : redisFault[name]

/** Registers a passing service in the emulator, so handlers find the faulty servers. */
const register = (consulAddress: string, id: string, name: string, address: string, port: number) =>
  Effect.promise(() =>
    fetch(`http://${consulAddress}/v1/agent/service/register`, {
      method: "PUT",
      body: JSON.stringify({ ID: id, Name: name, Address: address, Port: port, Check: { TTL: "60s", Status: "passing" } })
    })
  )

/** The environment and servers for one fault; everything is released with the test's scope. */
const arrange = (fault: Fault) =>
  Effect.gen(function*() {
    const consul = yield* scoped(() => startConsulEmulator())
    const redisFault = fault.startsWith("redis")
    const mode = fault === "redis down" ? "down" : fault === "redis hanging" ? "hang" : "garbage"
    // This node's Redis and Sentinel; faulty alike in the Redis cases, healthy otherwise.
    const redis = yield* scoped(() => controllableServer("127.0.0.1", redisMaster))
    const sentinel = yield* scoped(() => controllableServer("127.0.0.1", sentinelOf("mymaster", { host: "127.0.0.1", port: redis.port })))
    // The peer Consul names master, on another address: faulty in the Redis cases.
    const peer = yield* scoped(() => controllableServer("127.0.0.2", redisMaster))
    const peerSentinel = yield* scoped(() => controllableServer("127.0.0.2", sentinelOf("mymaster", { host: "127.0.0.2", port: peer.port })))
    yield* register(consul.address, "redis-node-9", "redis", "127.0.0.2", peer.port)
    yield* register(consul.address, "redis-sentinel-node-9", "redis-sentinel", "127.0.0.2", peerSentinel.port)
    if (redisFault) {
      for (const s of [redis, sentinel, peer, peerSentinel]) yield* Effect.promise(() => s.setMode(mode))
    }
    if (fault === "consul down") yield* Effect.promise(() => consul.setMode("down"))
    if (fault === "consul hanging") yield* Effect.promise(() => consul.setMode("hang"))
    if (fault === "consul garbage") yield* Effect.promise(() => consul.setMode("garbage"))
    return yield* testNode(1, {
      CONSUL: consul.address,
      ANNOUNCE_IP: "127.0.0.1",
      BIND_ADDRESS: "127.0.0.1",
      // No agent answers: the checks judge the node themselves, the slower path.
      API_PORT: String(yield* Effect.promise(closedPort)),
      REDIS_PORT: String(redis.port),
      SENTINEL_PORT: String(sentinel.port),
      HEALTH_TIMEOUT: `${HEALTH_TIMEOUT_MS}ms`,
      PRESTOP_TIMEOUT: "3s",
      ...(fault === "invalid environment" ? { REDIS_PORT: "abc", SENTINEL_DOWN_AFTER: "soon" } : {})
    })
  })

describe("failure matrix: every handler, every failing dependency, the right verdict", () => {
  for (const [name, h] of Object.entries(handlers)) {
    for (const fault of faults) {
      const verdict = expected(name as Handler, fault)
      it.live(`${name} with ${fault}: ${verdict === "pass" ? "succeeds" : `fails (${verdict.source.slice(0, 40)})`}, in time`, () =>
        Effect.gen(function*() {
          const node = yield* arrange(fault)
          const layers = liveLayers(node, new Map(), h.production ? defaultTimings : fastTimings)
          const started = Date.now()
          const exit = yield* h.program.pipe(Effect.provide(layers), Effect.exit)
          const ms = Date.now() - started
          const outcome = Exit.isFailure(exit) ? String(exit.cause) : "succeeded"
          // MASTER_WAIT_TIMEOUT is 1 s in tests; pre-stop's bound is 3 s here.
          assert.isBelow(ms, h.production ? HEALTH_TIMEOUT_MS : 6000, `${name} took ${ms} ms: ${outcome}`)
          if (Exit.isFailure(exit)) assert.isFalse(Cause.hasDies(exit.cause), `a defect, not a typed error: ${outcome}`)
          if (verdict === "pass") assert.isTrue(Exit.isSuccess(exit), `${name} must succeed: ${outcome}`)
          else assert.match(outcome, verdict)
        }))
    }
  }
})
