// `manage health-sentinel`: passes while the local Sentinel answers and monitors
// MASTER_NAME, so clients only find sentinels that can tell them the master.
import { Effect, Option } from "effect"
import { sentinelVerdict } from "../domain/Health.ts"
import { selfSentinel } from "../domain/Settings.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { HealthCheckFailed, withinCheckTimeout } from "./health.ts"

const check = "redis-sentinel"

export const healthSentinel = withinCheckTimeout(
  check,
  Effect.gen(function*() {
    const settings = yield* Settings
    const sentinel = yield* Sentinel
    const state = yield* sentinel.master(selfSentinel(settings), settings.masterName).pipe(
      Effect.mapError((e) => new HealthCheckFailed({ check, reason: e.message }))
    )
    const verdict = sentinelVerdict(settings.masterName, Option.getOrNull(state))
    if (!verdict.pass) return yield* new HealthCheckFailed({ check, reason: verdict.reason })
    yield* Effect.logDebug(`${check} passing: ${verdict.reason}`)
  })
)
