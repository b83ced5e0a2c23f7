// The AgentApi service: asking a node agent's read-only HTTP API (this node's, for
// `manage health`; every node's, for `manage status`). Plain node:http, one bounded
// GET per call: a one-shot handler must not pay for a full HTTP client. The answer is
// the status code and the body; what it means is the caller's business.
import { request } from "node:http"
import { Context, Duration, Effect, Layer, Schema } from "effect"
import { type Endpoint, formatEndpoint } from "../domain/Endpoint.ts"

export class AgentApiError extends Schema.TaggedError<AgentApiError>()("AgentApiError", {
  endpoint: Schema.String,
  path: Schema.String,
  reason: Schema.Literals(["unreachable", "timeout"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `agent API ${this.endpoint}${this.path}: ${this.reason} (${this.detail})`
  }
}

export interface AgentAnswer {
  readonly status: number
  readonly body: string
}

/** Bodies beyond this are not the agent's: `/status` is a few KiB. */
const maxBody = 1024 * 1024

export class AgentApi extends Context.Service<AgentApi, {
  readonly get: (at: Endpoint, path: `/${string}`, timeout: Duration.Duration) => Effect.Effect<AgentAnswer, AgentApiError>
}>()("autopilot-redis/AgentApi") {
  static readonly layer: Layer.Layer<AgentApi> = Layer.succeed(AgentApi, AgentApi.of({
    get: (at, path, timeout) =>
      Effect.callback<AgentAnswer, AgentApiError>((resume, signal) => {
        const failed = (reason: AgentApiError["reason"], detail: string) =>
          resume(Effect.fail(new AgentApiError({ endpoint: formatEndpoint(at), path, reason, detail })))
        const req = request({ host: at.host, port: at.port, path, method: "GET", agent: false, signal }, (res) => {
          const chunks: Array<Buffer> = []
          let size = 0
          res.on("data", (chunk: Buffer) => {
            size += chunk.length
            if (size > maxBody) return req.destroy(new Error(`answer larger than ${maxBody} bytes`))
            chunks.push(chunk)
          })
          res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })))
          res.on("error", (e) => failed("unreachable", e.message))
        })
        req.on("error", (e) => failed("unreachable", e.message))
        req.end()
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () => Effect.fail(new AgentApiError({ endpoint: formatEndpoint(at), path, reason: "timeout", detail: `no answer within ${Duration.format(timeout)}` }))
        })
      )
  }))

  /** Answers from a table; a missing endpoint is unreachable. */
  static readonly layerTest = (answers: Map<string, (path: string) => AgentAnswer>): Layer.Layer<AgentApi> =>
    Layer.succeed(AgentApi, AgentApi.of({
      get: (at, path) =>
        Effect.suspend(() => {
          const answer = answers.get(formatEndpoint(at))
          return answer === undefined
            ? Effect.fail(new AgentApiError({ endpoint: formatEndpoint(at), path, reason: "unreachable", detail: "connect ECONNREFUSED (simulated)" }))
            : Effect.succeed(answer(path))
        })
    }))
}
