// The agent's HTTP API as a client sees it (apiLayer over a state held by hand): the
// content types scrapers and `manage status` rely on, and /liveness following the
// observation loop (the verdict routes are in agent.test.ts, the bodies in
// agentReport.test.ts).
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Ref } from "effect"
import { type AgentState, initialState } from "../../../src/programs/agent/AgentState.ts"
import { apiLayer } from "../../../src/programs/agent/api.ts"
import { Settings } from "../../../src/layers/Settings.ts"
import { closedPort } from "../../support/fakeServers.ts"
import { fastTimings } from "../../support/harness.ts"

const serve = (state: Ref.Ref<AgentState>) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(closedPort)
    const settings = yield* Effect.gen(function*() {
      return yield* Settings
    }).pipe(Effect.provide(Settings.layerFrom({ HOSTNAME: "node-1", ANNOUNCE_IP: "10.0.0.11", CONSUL: "127.0.0.1", BIND_ADDRESS: "127.0.0.1", API_PORT: String(port) })))
    yield* Layer.build(apiLayer(state, settings, fastTimings))
    return (path: string) => Effect.promise(() => fetch(`http://127.0.0.1:${port}${path}`).then(async (r) => ({ status: r.status, type: r.headers.get("content-type"), body: await r.text() })))
  })

describe("agent API over HTTP", () => {
  it.live("/status is JSON, /metrics Prometheus text (version 0.0.4), the verdicts and /liveness one line of text", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make<AgentState>({ ...initialState(Date.now()), lastCycle: Option.some({ at: Date.now(), trigger: "tick", tookMs: 1 }) })
      const get = yield* serve(state)
      assert.strictEqual((yield* get("/status")).type, "application/json")
      assert.strictEqual((yield* get("/metrics")).type, "text/plain; version=0.0.4; charset=utf-8")
      const live = yield* get("/liveness")
      assert.deepStrictEqual([live.status, live.body], [200, "ok\n"])
      const master = yield* get("/master")
      assert.deepStrictEqual([master.status, master.body], [503, "fail: the agent has not observed this node yet\n"])
    }))

  it.live("/liveness fails once the observation loop has made no progress for three periods plus an observation", () =>
    Effect.gen(function*() {
      const stale = Date.now() - 60_000
      const state = yield* Ref.make<AgentState>({ ...initialState(stale), lastCycle: Option.some({ at: stale, trigger: "tick", tookMs: 1 }) })
      const get = yield* serve(state)
      const live = yield* get("/liveness")
      assert.deepStrictEqual([live.status, live.body], [503, "fail: the observation loop has stalled\n"])
    }))
})
