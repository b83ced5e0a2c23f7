// `manage health master|replica`: passes only when this node's real role matches the
// Consul service whose check is running (DESIGN.md §1, §4). A founding master also
// keeps the bootstrap lock alive until Consul shows it passing, then releases it.
// Always answers within HEALTH_TIMEOUT, also when Redis or Consul hangs.
import { Duration, Effect, Option, Schema } from "effect"
import { consulNames } from "../domain/ConsulNames.ts"
import { sameEndpoint } from "../domain/Endpoint.ts"
import { bootstrapLockCare, type ExpectedRole, roleVerdict, type Verdict } from "../domain/Health.ts"
import { bootstrapSessionFile } from "../domain/RedisConf.ts"
import { selfRedis } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { Consul } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Settings } from "../layers/Settings.ts"
import { readOptional, removeIfPresent } from "./files.ts"

export class HealthCheckFailed extends Schema.TaggedError<HealthCheckFailed>()("HealthCheckFailed", {
  check: Schema.String,
  reason: Schema.String,
  /** The node simply has the other role: every node fails one role check every interval, which is not news. */
  expected: Schema.optionalKey(Schema.Boolean)
}) {
  override get message(): string {
    return `${this.check} check failing: ${this.reason}`
  }
}

/** Keeps the answer inside ContainerPilot's timeout, leaving room for process start and exit. */
export const withinCheckTimeout = <A, E, R>(check: string, effect: Effect.Effect<A, E | HealthCheckFailed, R>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const timings = yield* Timings
    const budget = Duration.max(Duration.millis(250), Duration.subtract(settings.health.timeout, timings.healthMargin))
    return yield* effect.pipe(
      Effect.timeoutOrElse({
        duration: budget,
        orElse: () => Effect.fail(new HealthCheckFailed({ check, reason: `no answer within ${Duration.format(budget)}` }))
      })
    )
  })

/** Best effort: a Consul outage must never change the verdict or delay it past the deadline. */
const careForBootstrapLock = (verdict: Verdict) =>
  Effect.gen(function*() {
    const { lockCare } = yield* Timings
    return yield* lockCareSteps(verdict).pipe(
      Effect.timeoutOrElse({ duration: lockCare, orElse: () => Effect.logWarning("bootstrap lock care timed out") }),
      Effect.catch((e) => Effect.logWarning(`bootstrap lock care skipped: ${e.message}`))
    )
  })

const lockCareSteps = (verdict: Verdict) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const marker = bootstrapSessionFile(settings)
    const recorded = yield* readOptional(marker)
    if (Option.isNone(recorded)) return
    const session = recorded.value.trim()
    const names = consulNames(settings.serviceName)
    const self = selfRedis(settings)
    const [lock, masters] = yield* Effect.all([consul.get(names.masterLock), consul.instances(names.masterService)], { concurrency: 2 })
    const care = bootstrapLockCare({
      verdict,
      stillHeld: Option.exists(lock, (entry) => Option.contains(entry.session, session)),
      registeredPassing: masters.some((m) => m.passing && sameEndpoint({ host: m.address, port: m.port }, self)),
      self
    })
    yield* Effect.log(care.reason)
    switch (care._tag) {
      case "Renew":
        if (!(yield* consul.renewSession(session))) yield* removeIfPresent(marker)
        return
      case "Release":
        yield* consul.release(names.masterLock, Option.match(lock, { onNone: () => "", onSome: (e) => e.value ?? "" }), session)
        yield* consul.destroySession(session)
        yield* removeIfPresent(marker)
        return
      case "Forget":
        yield* removeIfPresent(marker)
        return
      case "LetLapse":
        return
    }
  })

export const health = (expected: ExpectedRole) => {
  const check = expected === "master" ? "redis master" : "redis replica"
  return withinCheckTimeout(
    check,
    Effect.gen(function*() {
      const settings = yield* Settings
      const redis = yield* Redis
      const role = yield* redis.role(selfRedis(settings)).pipe(
        Effect.mapError((e) => new HealthCheckFailed({ check, reason: e.message }))
      )
      const verdict = roleVerdict(expected, role)
      if (expected === "master") yield* careForBootstrapLock(verdict)
      if (!verdict.pass) return yield* new HealthCheckFailed({ check, reason: verdict.reason, expected: role._tag === (expected === "master" ? "Replica" : "Master") })
      yield* Effect.logDebug(`${check} passing: ${verdict.reason}`)
    })
  )
}
