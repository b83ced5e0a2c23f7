// Asking the node agents what they see (`GET /status` on API_PORT, decoded as an
// AgentReport), all at once and briefly: `status`, `list` and `resume` read the
// cluster from the agents where they answer, and ask Redis directly where they do not.
// Every node is assumed to serve its API on this node's API_PORT (one image, one env).
import { Effect, Option, Schema } from "effect"
import { AgentReportFromJson, type AgentReport } from "../domain/AgentReport.ts"
import { type Endpoint } from "../domain/Endpoint.ts"
import { Timings } from "../domain/Timings.ts"
import { AgentApi } from "../layers/AgentApi.ts"
import { Settings } from "../layers/Settings.ts"

export interface AgentAnswer {
  /** The node's Redis, as Consul lists it. */
  readonly redis: Endpoint
  readonly report: Option.Option<AgentReport>
}

/** The agent on the node of each Redis endpoint; None where it did not answer, or not with a report. */
export const askAgents = (nodes: ReadonlyArray<Endpoint>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const api = yield* AgentApi
    const { agentReport } = yield* Timings
    return yield* Effect.forEach(nodes, (redis): Effect.Effect<AgentAnswer> =>
      api.get({ host: redis.host, port: settings.node.apiPort }, "/status", agentReport).pipe(
        Effect.map((answer) => (answer.status === 200 ? Schema.decodeUnknownOption(AgentReportFromJson)(answer.body) : Option.none())),
        Effect.orElseSucceed(() => Option.none<AgentReport>()),
        Effect.map((report) => ({ redis, report }))
      ), { concurrency: "unbounded" })
  })
