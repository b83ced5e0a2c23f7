// Latency and errors of every call to an outside system (Consul, Redis, Sentinel), as
// Effect metrics that the agent's `/metrics` exposes in Prometheus' format. The
// layers wrap their one bounded call path with `measured`; operation names are
// families (`kv.get`, `ROLE`), never keys or addresses, so the series stay few.
import { Clock, Duration, Effect, Exit, Metric } from "effect"

export type System = "consul" | "redis" | "sentinel"

const callDuration = Metric.timer("autopilot_redis_call_duration", {
  description: "Duration of calls from manage to Consul, Redis and Sentinel, in milliseconds",
  boundaries: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]
})

const callErrors = Metric.counter("autopilot_redis_call_errors_total", {
  description: "Calls from manage to Consul, Redis and Sentinel that failed (refused, timed out, unreachable, garbage)",
  incremental: true
})

/** One pair of series per (system, operation), made once: the agent calls every second. */
const series = new Map<string, { readonly duration: Metric.Metric<Duration.Duration, unknown>; readonly errors: Metric.Metric<number, unknown> }>()
const seriesOf = (system: System, operation: string) => {
  const key = `${system} ${operation}`
  let found = series.get(key)
  if (found === undefined) {
    const attributes = { system, operation }
    found = { duration: Metric.withAttributes(callDuration, attributes), errors: Metric.withAttributes(callErrors, attributes) }
    series.set(key, found)
  }
  return found
}

/** A call this slow is named in the debug log with where it went: the metrics say how many, not which peer. */
const slowCallMs = 250

export const measured = <A, E, R>(system: System, operation: string, effect: Effect.Effect<A, E, R>, target?: string): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(effect)
    const { duration, errors } = seriesOf(system, operation)
    const tookMs = (yield* Clock.currentTimeMillis) - started
    yield* Metric.update(duration, Duration.millis(tookMs))
    if (tookMs >= slowCallMs) yield* Effect.logDebug(`slow call: ${system} ${operation}${target === undefined ? "" : ` to ${target}`} took ${tookMs} ms (${Exit.isFailure(exit) ? "failed" : "answered"})`)
    if (Exit.isFailure(exit)) yield* Metric.update(errors, 1)
    return yield* exit
  })
