// `manage health master|replica` and `manage health-sentinel`: the verdict this node's
// agent gives (DESIGN.md §4), for operators and as a fallback. When the agent does
// not answer, the node is observed once here and judged by the same pure functions,
// with no history to lean on, so a missing answer fails. Always answers within
// HEALTH_TIMEOUT, also when the agent, Redis or Consul hangs.
import { Duration, Effect, Option, Schema } from "effect"
import { consulNames } from "../domain/ConsulNames.ts"
import { type Endpoint, sameEndpoint } from "../domain/Endpoint.ts"
import { type CheckName, findings, settle, type Verdict } from "../domain/Health.ts"
import { selfApi, selfSentinel } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { type AgentAnswer, AgentApi } from "../layers/AgentApi.ts"
import { Consul, endpointOf } from "../layers/Consul.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { observeNode } from "./observeNode.ts"

export class HealthCheckFailed extends Schema.TaggedError<HealthCheckFailed>()("HealthCheckFailed", {
  check: Schema.String,
  reason: Schema.String,
  /** The node simply has the other role: every node fails one role check, which is not news. */
  expected: Schema.optionalKey(Schema.Boolean)
}) {
  override get message(): string {
    return `${this.check} check failing: ${this.reason}`
  }
}

const checkLabel: Record<CheckName, string> = { master: "redis master", replica: "redis replica", sentinel: "redis-sentinel" }

/** The other role, named in a verdict that fails only because of it. */
const otherRole = /^(this node is master, not a replica|a replica of .*, not master)$/

/**
 * Without the agent: one look now, peers from the local Sentinel and Consul (each best
 * effort; Consul's given at most `peersWithin`: a hanging Consul, whose calls and
 * retries outlast a short HEALTH_TIMEOUT, must not turn a healthy node's verdict into
 * "no answer", as the verdict never needs Consul).
 */
const judgeHere = (check: CheckName, peersWithin: Duration.Duration) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const sentinel = yield* Sentinel
    const consul = yield* Consul
    const local = selfSentinel(settings)
    const [known, registered] = yield* Effect.all([
      sentinel.sentinels(local, settings.masterName).pipe(Effect.map((ps) => ps.map((p) => p.endpoint)), Effect.orElseSucceed((): ReadonlyArray<Endpoint> => [])),
      consul.instances(consulNames(settings.serviceName).sentinelService).pipe(
        Effect.map((is) => is.map(endpointOf)),
        Effect.timeoutOrElse({ duration: peersWithin, orElse: () => Effect.succeed([]) }),
        Effect.orElseSucceed((): ReadonlyArray<Endpoint> => [])
      )
    ], { concurrency: 2 })
    const observation = yield* observeNode([...known, ...registered].filter((e) => !sameEndpoint(e, local)))
    return settle(Option.none(), findings(observation)[check], 0, 0)
  })

/** Only the agent's own answers count: 200 "pass: …" or 503 "fail: …"; anything else is no answer. */
const agentVerdict = (answer: AgentAnswer): Option.Option<Verdict> => {
  const line = /^(pass|fail): (.*)$/.exec(answer.body.trim())
  if (line === null) return Option.none()
  const pass = line[1] === "pass"
  return answer.status === (pass ? 200 : 503) ? Option.some({ pass, reason: line[2] ?? "" }) : Option.none()
}

export const health = (check: CheckName) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const timings = yield* Timings
    const api = yield* AgentApi
    const label = checkLabel[check]
    const budget = Duration.max(Duration.millis(250), Duration.subtract(settings.health.timeout, timings.healthMargin))
    const verdict = Effect.gen(function*() {
      const asked = yield* api.get(selfApi(settings), `/${check}`, Duration.millis(Duration.toMillis(budget) / 2)).pipe(Effect.option)
      const verdict = Option.flatMap(asked, agentVerdict)
      if (Option.isSome(verdict)) return verdict.value
      yield* Effect.logDebug("the agent does not answer: judging this node directly")
      // A quarter of the budget for the peers leaves the rest for Redis's and the sentinels' answers.
      return yield* judgeHere(check, Duration.millis(Duration.toMillis(budget) / 4))
    })
    const result = yield* verdict.pipe(
      Effect.timeoutOrElse({ duration: budget, orElse: () => Effect.succeed({ pass: false, reason: `no answer within ${Duration.format(budget)}` }) })
    )
    if (!result.pass) return yield* new HealthCheckFailed({ check: label, reason: result.reason, expected: otherRole.test(result.reason) })
    yield* Effect.logDebug(`${label} passing: ${result.reason}`)
  })
