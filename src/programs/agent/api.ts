// The agent's read-only HTTP API on BIND_ADDRESS:API_PORT (Patroni's REST API is the
// model): `/master`, `/replica`, `/sentinel` answer 200 or 503 with the reason in one
// line, which is all ContainerPilot's health checks need; `/health` says whether the
// agent runs and reaches its dependencies, `/liveness` only whether its loop runs;
// `/status` is this node's view as JSON, `/metrics` Prometheus' text format. Nothing
// here changes anything: every route only reads the agent's state.
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Clock, Effect, Layer, Ref, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { AgentReport } from "../../domain/AgentReport.ts"
import { type CheckName } from "../../domain/Health.ts"
import { type Settings } from "../../domain/Settings.ts"
import { type Timings } from "../../domain/Timings.ts"
import { type AgentState } from "./AgentState.ts"
import { healthLine, loopAlive, metricsText, report, verdictLine } from "./report.ts"

const line = (answer: { readonly pass: boolean; readonly line: string }) =>
  HttpServerResponse.text(`${answer.line}\n`, { status: answer.pass ? 200 : 503 })

const encodeReport = Schema.encodeSync(Schema.fromJsonString(AgentReport))

export const apiLayer = (state: Ref.Ref<AgentState>, settings: Settings, timings: Timings) => {
  const withClock = <A>(f: (s: AgentState, now: number) => A) => Effect.zipWith(Ref.get(state), Clock.currentTimeMillis, f)
  const verdict = (check: CheckName) => withClock((s, now) => line(verdictLine(settings, s, check, now)))
  const routes = HttpRouter.addAll([
    HttpRouter.route("GET", "/master", verdict("master")),
    HttpRouter.route("GET", "/replica", verdict("replica")),
    HttpRouter.route("GET", "/sentinel", verdict("sentinel")),
    HttpRouter.route("GET", "/health", withClock((s, now) => line(healthLine(s, timings, now)))),
    HttpRouter.route(
      "GET",
      "/liveness",
      withClock((s, now) => line(loopAlive(s, timings, now) ? { pass: true, line: "ok" } : { pass: false, line: "fail: the observation loop has stalled" }))
    ),
    HttpRouter.route(
      "GET",
      "/status",
      withClock((s, now) => HttpServerResponse.text(encodeReport(report(settings, s, now)), { contentType: "application/json" }))
    ),
    HttpRouter.route(
      "GET",
      "/metrics",
      Effect.flatten(withClock((s, now) => metricsText(settings, s, now))).pipe(
        Effect.map((text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))
      )
    )
  ])
  return HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(NodeHttpServer.layerServer(createServer, { host: settings.node.bindAddress, port: settings.node.apiPort }))
  )
}
