// `manage sentinel-reset`: makes the local Sentinel forget dead replicas and peers
// (DESIGN.md §6), one sentinel at a time cluster-wide. The turn is claimed by a
// compare-and-set on Consul's `service/<name>/sentinel-reset` record, so two nodes
// never reset within the spacing. Any doubt (Consul or Sentinel unreachable) means
// no reset; exits 0 either way, the next run tries again.
import { Clock, Duration, Effect, Option, Schema } from "effect"
import { consulNames } from "../domain/ConsulNames.ts"
import { type Endpoint } from "../domain/Endpoint.ts"
import { decideSentinelReset, LastResetFromJson } from "../domain/SentinelReset.ts"
import { selfSentinel } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { Consul, type ServiceInstance } from "../layers/Consul.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"

const alive = (instances: ReadonlyArray<ServiceInstance>): ReadonlyArray<Endpoint> =>
  instances.filter((i) => i.passing).map((i) => ({ host: i.address, port: i.port }))

const maintain = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const sentinel = yield* Sentinel
  const timings = yield* Timings
  const names = consulNames(settings.serviceName)
  const local = selfSentinel(settings)
  const key = names.sentinelReset

  const master = yield* sentinel.master(local, settings.masterName)
  if (Option.isNone(master)) return yield* Effect.logDebug(`sentinel-reset: the local Sentinel does not monitor ${settings.masterName}`)
  const [replicas, sentinels, aliveReplicas, aliveSentinels, record] = yield* Effect.all([
    sentinel.replicas(local, settings.masterName),
    sentinel.sentinels(local, settings.masterName),
    consul.instances(names.replicaService).pipe(Effect.map(alive)),
    consul.instances(names.sentinelService).pipe(Effect.map(alive)),
    consul.get(key)
  ], { concurrency: "unbounded" })
  const now = yield* Clock.currentTimeMillis
  const last = Option.flatMap(record, (e) => Schema.decodeUnknownOption(LastResetFromJson)(e.value ?? ""))
  const decision = decideSentinelReset({
    master: master.value,
    replicas,
    sentinels,
    aliveReplicas,
    aliveSentinels,
    sinceLastReset: Option.map(last, (l) => Duration.millis(Math.max(0, now - l.at))),
    spacing: timings.sentinelResetSpacing
  })
  if (decision._tag === "Keep") return yield* Effect.logDebug(`sentinel-reset: ${decision.reason}`)

  const claimed = yield* consul.put(key, JSON.stringify({ node: settings.node.name, at: now }), {
    cas: Option.match(record, { onNone: () => 0, onSome: (e) => e.modifyIndex })
  })
  if (!claimed) return yield* Effect.logDebug("sentinel-reset: another node took this turn")
  yield* sentinel.reset(local, settings.masterName)
  yield* Effect.log(`sentinel-reset: ${decision.reason}`)
})

export const sentinelReset = maintain.pipe(
  Effect.timeoutOrElse({ duration: Duration.seconds(10), orElse: () => Effect.logWarning("sentinel-reset: did not finish within 10s") }),
  Effect.catch((e) => Effect.logWarning(`sentinel-reset skipped: ${e.message}`))
)
