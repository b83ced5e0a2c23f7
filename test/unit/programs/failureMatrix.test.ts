// Every handler against every way a dependency can fail, through the live layers and
// real sockets: Consul down, hanging or answering garbage (the HTTP emulator), Redis
// and Sentinel down, hanging or answering garbage (fake servers registered in Consul
// so the handlers reach them), and an invalid environment. Whatever happens, a run
// ends within its bound, fails only with a typed error (never a defect), and the
// best-effort pre-stop still succeeds; `status` fails (exit 1, after printing what it
// saw) when Consul or every Redis is unreachable. The agent has its own matrix
// (agentFaults.test.ts): it runs on, so "ends in time" is not its contract.
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { backup } from "../../../src/programs/backup.ts"
import { health } from "../../../src/programs/health.ts"
import { preStart } from "../../../src/programs/preStart.ts"
import { preStop } from "../../../src/programs/preStop.ts"
import { status } from "../../../src/programs/status.ts"
import { startConsulEmulator } from "../../support/consul/ConsulEmulator.ts"
import { closedPort, garbageRespServer, silentServer } from "../../support/fakeServers.ts"
import { runLive, scoped, testNode } from "../../support/harness.ts"

type Fault =
  | "consul down" | "consul hanging" | "consul garbage"
  | "redis down" | "redis hanging" | "redis garbage"
  | "invalid environment"

const faults: ReadonlyArray<Fault> = [
  "consul down", "consul hanging", "consul garbage",
  "redis down", "redis hanging", "redis garbage",
  "invalid environment"
]

/** Widened to one type (outcome unknown, void result) so one table holds every handler. */
const handler = <A, E, R>(program: Effect.Effect<A, E, R>, alwaysSucceeds: boolean) => ({
  program: program.pipe(Effect.asVoid, Effect.mapError((e): unknown => e)),
  alwaysSucceeds
})

const handlers = {
  "pre-start": handler(preStart, false),
  "health master": handler(health("master"), false),
  "health replica": handler(health("replica"), false),
  "health-sentinel": handler(health("sentinel"), false),
  "backup --now": handler(backup(true), false),
  "pre-stop": handler(preStop, true),
  status: handler(status(true), false)
}

/** Registers a passing service in the emulator, so handlers find the faulty servers. */
const register = (consulAddress: string, id: string, name: string, port: number) =>
  Effect.promise(() =>
    fetch(`http://${consulAddress}/v1/agent/service/register`, {
      method: "PUT",
      body: JSON.stringify({ ID: id, Name: name, Address: "127.0.0.1", Port: port, Check: { TTL: "60s", Status: "passing" } })
    })
  )

/** The environment and servers for one fault; everything is released with the test's scope. */
const arrange = (fault: Fault) =>
  Effect.gen(function*() {
    const consul = yield* scoped(() => startConsulEmulator())
    const redisFault = fault.startsWith("redis")
    // Redis and Sentinel listen on different ports (the environment requires it), both faulty alike.
    const faultyPort = Effect.gen(function*() {
      const server = fault === "redis hanging"
        ? yield* scoped(silentServer)
        : fault === "redis garbage" || !redisFault
        ? yield* scoped(garbageRespServer)
        : undefined
      return server?.port ?? (yield* Effect.promise(closedPort))
    })
    const port = yield* faultyPort
    const sentinelPort = yield* faultyPort
    yield* register(consul.address, "redis-sentinel-node-9", "redis-sentinel", sentinelPort)
    yield* register(consul.address, "redis-node-9", "redis", port)
    yield* register(consul.address, "redis-replica-node-8", "redis-replica", port)
    if (fault === "consul down") yield* Effect.promise(() => consul.setMode("down"))
    if (fault === "consul hanging") yield* Effect.promise(() => consul.setMode("hang"))
    if (fault === "consul garbage") yield* Effect.promise(() => consul.setMode("garbage"))
    return yield* testNode(1, {
      CONSUL: consul.address,
      ANNOUNCE_IP: "127.0.0.1",
      REDIS_PORT: String(port),
      SENTINEL_PORT: String(sentinelPort),
      PRESTOP_TIMEOUT: "3s",
      ...(fault === "invalid environment" ? { REDIS_PORT: "abc", SENTINEL_DOWN_AFTER: "soon" } : {})
    })
  })

describe("failure matrix: every handler, every failing dependency", () => {
  for (const [name, h] of Object.entries(handlers)) {
    for (const fault of faults) {
      it.live(`${name} with ${fault}: ends in time, with a typed outcome`, () =>
        Effect.gen(function*() {
          const node = yield* arrange(fault)
          const started = Date.now()
          const exit = yield* runLive(h.program, node)
          const ms = Date.now() - started
          // MASTER_WAIT_TIMEOUT is 1 s and HEALTH_TIMEOUT 2 s in tests; pre-stop's bound is 3 s here.
          assert.isBelow(ms, 6000, `${name} took ${ms} ms`)
          if (Exit.isFailure(exit)) {
            assert.isFalse(Cause.hasDies(exit.cause), `a defect, not a typed error: ${String(exit.cause)}`)
            assert.isFalse(h.alwaysSucceeds && fault !== "invalid environment", `${name} must not fail: ${String(exit.cause)}`)
          }
          // Every fault here leaves nothing to see: Consul unreadable, or no Redis answering.
          if (name === "status" && fault !== "invalid environment") {
            assert.match(Exit.isFailure(exit) ? String(exit.cause) : "succeeded", /status: could not see the cluster/)
          }
          if (fault === "invalid environment") {
            assert.match(String(Exit.isFailure(exit) ? exit.cause : ""), /REDIS_PORT \(value not shown\).*SENTINEL_DOWN_AFTER \(value not shown\)/)
          }
        }))
    }
  }
})
