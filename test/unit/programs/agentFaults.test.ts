// The agent against every way a dependency can fail, over the live layers and real
// sockets: Consul (the HTTP emulator), Redis and Sentinel (fake servers) each down,
// hanging (accepts, never answers) and answering garbage. Whatever happens the agent
// keeps running and answering its API at once; a bad Redis or Sentinel makes the
// master check fail (after holding at most one health interval), a bad Consul changes
// no verdict; and once the dependency is back, so are the verdict and the registry.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { Timings } from "../../../src/domain/Timings.ts"
import { AgentApi } from "../../../src/layers/AgentApi.ts"
import { BackupStore } from "../../../src/layers/BackupStore.ts"
import { Consul } from "../../../src/layers/Consul.ts"
import { Redis } from "../../../src/layers/Redis.ts"
import { Sentinel } from "../../../src/layers/Sentinel.ts"
import { Settings } from "../../../src/layers/Settings.ts"
import { agent } from "../../../src/programs/agent.ts"
import { startConsulEmulator } from "../../support/consul/ConsulEmulator.ts"
import { closedPort, controllableServer, type FakeMode, redisMaster, sentinelOf } from "../../support/fakeServers.ts"
import { eventually, fastTimings, platform, scoped, testNode } from "../../support/harness.ts"

const HOLD_MS = 1_000

type Dependency = "consul" | "redis" | "sentinel"
const faults: ReadonlyArray<Exclude<FakeMode, "good">> = ["down", "hang", "garbage"]

const get = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(1_000) }).then(async (r) => ({ status: r.status, body: await r.text() }))

const arrange = Effect.gen(function*() {
  const consul = yield* scoped(() => startConsulEmulator())
  const redis = yield* scoped(() => controllableServer("127.0.0.1", redisMaster))
  const sentinel = yield* scoped(() => controllableServer("127.0.0.1", sentinelOf("mymaster", { host: "127.0.0.1", port: redis.port })))
  const apiPort = yield* Effect.promise(closedPort)
  const node = yield* testNode(1, {
    CONSUL: consul.address,
    ANNOUNCE_IP: "127.0.0.1",
    BIND_ADDRESS: "127.0.0.1",
    API_PORT: String(apiPort),
    REDIS_PORT: String(redis.port),
    SENTINEL_PORT: String(sentinel.port),
    HEALTH_INTERVAL: String(HOLD_MS / 1000),
    HEALTH_TTL: "3",
    HEALTH_TIMEOUT: "1s"
  })
  const layers = Layer.mergeAll(Consul.layer, Redis.layer, Sentinel.layer, AgentApi.layer, BackupStore.layerTest(new Map())).pipe(
    Layer.provideMerge(Layer.mergeAll(Settings.layerFrom(node.env), platform, Layer.succeed(Timings, fastTimings)))
  )
  const fiber = yield* agent.pipe(Effect.provide(layers), Effect.forkScoped)
  const api = `http://127.0.0.1:${apiPort}`
  const registered = async () => {
    const checks = await fetch(`http://${consul.address}/v1/agent/checks`).then((r) => r.json() as Promise<Record<string, { Status: string }>>)
    return checks["service:redis-node-1"]?.Status
  }
  return { consul, redis, sentinel, fiber, api, registered }
})

describe("agent fault matrix: every dependency down, hanging, answering garbage", () => {
  for (const dependency of ["redis", "sentinel", "consul"] as const satisfies ReadonlyArray<Dependency>) {
    for (const fault of faults) {
      it.live(`${dependency} ${fault}: the agent runs on, never passes on a bad answer, and recovers`, () =>
        Effect.gen(function*() {
          const x = yield* arrange
          yield* eventually("passing as master in Consul", 10_000, async () => (await get(`${x.api}/master`)).status === 200 && (await x.registered()) === "passing")

          if (dependency === "consul") {
            if (fault === "down") yield* Effect.promise(() => x.consul.setMode("down").then(() => x.consul.restartEmpty()))
            else yield* Effect.promise(() => x.consul.setMode(fault))
            yield* eventually("/health names Consul", 10_000, async () => {
              const h = await get(`${x.api}/health`)
              return h.status === 503 && h.body.includes("Consul")
            })
            for (let i = 0; i < 5; i++) {
              const started = Date.now()
              assert.strictEqual((yield* Effect.promise(() => get(`${x.api}/master`))).status, 200, "a Consul fault changes no verdict")
              assert.isBelow(Date.now() - started, 1_000, "the API answers at once")
              yield* Effect.sleep("100 millis")
            }
            yield* Effect.promise(() => x.consul.setMode("normal"))
            // After "down" Consul came back empty: the agent registers the node again.
            yield* eventually("registered and passing again", 10_000, async () => (await x.registered()) === "passing")
          } else {
            const server = dependency === "redis" ? x.redis : x.sentinel
            yield* Effect.promise(() => server.setMode(fault))
            const faulted = Date.now()
            const failing = yield* eventually("the master check fails", 10_000, async () => {
              const m = await get(`${x.api}/master`)
              return m.status === 503 ? m : undefined
            })
            // The hold runs from the start of the last confirming look, which a busy machine
            // puts further before the fault than one look's period: half the hold is the bound.
            assert.isAtLeast(Date.now() - faulted, HOLD_MS / 2, "a passing verdict is held for one health interval, no longer")
            assert.match(failing.body, /^fail: /)
            yield* eventually("critical in Consul", 10_000, async () => (await x.registered()) === "critical")
            yield* Effect.promise(() => server.setMode("good"))
            yield* eventually("passing again, in Consul too", 10_000, async () => (await get(`${x.api}/master`)).status === 200 && (await x.registered()) === "passing")
          }
          assert.isUndefined(x.fiber.pollUnsafe(), "the agent still runs")
          yield* Fiber.interrupt(x.fiber)
        }), 40_000)
    }
  }
})
