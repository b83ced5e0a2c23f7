// The agent keeping its node in line after start (what `manage reconcile` did every
// 30 s): (1) a replica that has followed another master than the sentinels name for
// longer than Sentinel's own reconfiguration takes is moved to it (Sentinel never
// moves replicas it does not know); (2) the local Sentinel forgets dead replicas and
// peers (DESIGN.md §6), one sentinel at a time cluster-wide, the turn claimed by a
// compare-and-set on `service/<name>/sentinel-reset`. Any doubt means no action; both
// are skipped while the cluster is paused.
import { Clock, Duration, Effect, Option, Ref, Schema } from "effect"
import { consulNames } from "../../domain/ConsulNames.ts"
import { sentinelsSay } from "../../domain/Health.ts"
import { decideReplicaTarget } from "../../domain/ReplicaReconcile.ts"
import { decideSentinelReset, LastResetFromJson } from "../../domain/SentinelReset.ts"
import { periodChanges, sentinelPeriods } from "../../domain/SentinelTuning.ts"
import { selfRedis, selfSentinel } from "../../domain/Settings.ts"
import { Timings } from "../../domain/Timings.ts"
import { Consul, endpointOf, type ServiceInstance } from "../../layers/Consul.ts"
import { Redis } from "../../layers/Redis.ts"
import { Sentinel } from "../../layers/Sentinel.ts"
import { Settings } from "../../layers/Settings.ts"
import { type AgentState } from "./AgentState.ts"

const alive = (instances: ReadonlyArray<ServiceInstance>) => instances.filter((i) => i.passing).map(endpointOf)

const followSentinelsMaster = (state: Ref.Ref<AgentState>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const redis = yield* Redis
    const timings = yield* Timings
    const s = yield* Ref.get(state)
    if (Option.isNone(s.observation) || Option.isNone(s.strandedSince)) return
    const { role, sentinels } = s.observation.value
    if (role._tag === "Unseen") return
    const self = selfRedis(settings)
    const say = sentinelsSay(sentinels)
    const now = yield* Clock.currentTimeMillis
    const strandedFor = Duration.millis(now - s.strandedSince.value)
    const answers = say._tag === "Named" && Duration.isGreaterThanOrEqualTo(strandedFor, timings.strandedGrace)
      ? yield* redis.role(say.master).pipe(Effect.map((r) => r._tag === "Master"), Effect.orElseSucceed(() => false))
      : false
    const action = decideReplicaTarget({ self, role: role.value, say, strandedFor, grace: timings.strandedGrace, namedAnswersMaster: answers })
    if (action._tag === "Leave") return yield* Effect.logDebug(action.reason)
    yield* redis.replicaOf(self, action.master)
    yield* Effect.log(action.reason)
  })

const resetStaleSentinel = (state: Ref.Ref<AgentState>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const sentinel = yield* Sentinel
    const timings = yield* Timings
    const names = consulNames(settings.serviceName)
    const local = selfSentinel(settings)
    const key = names.sentinelReset

    const master = yield* sentinel.master(local, settings.masterName)
    if (Option.isNone(master)) return yield* Effect.logDebug(`the local Sentinel does not monitor ${settings.masterName}`)
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
    if (decision._tag === "Keep") return yield* Effect.logDebug(decision.reason)
    if ((yield* Ref.get(state)).consul.paused) return yield* Effect.log(`paused: not resetting the local Sentinel (${decision.reason})`)

    const claimed = yield* consul.put(key, JSON.stringify({ node: settings.node.name, at: now }), {
      cas: Option.match(record, { onNone: () => 0, onSome: (e) => e.modifyIndex })
    })
    if (!claimed) return yield* Effect.logDebug("another node took this turn to reset its sentinel")
    yield* sentinel.reset(local, settings.masterName)
    yield* Effect.log(decision.reason)
  })

/** The local Sentinel's internal periods (SentinelTuning.ts), put back after every restart of it. */
const tuneSentinel = Effect.gen(function*() {
  const settings = yield* Settings
  const sentinel = yield* Sentinel
  const local = selfSentinel(settings)
  const changes = periodChanges(yield* sentinel.periods(local))
  if (changes.length === 0) return
  yield* sentinel.setPeriods(local, changes)
  yield* Effect.log(`local Sentinel tuned: ${changes.map(([name, ms]) => `${name} ${ms} ms (${sentinelPeriods[name].sentinelDefault} by default)`).join(", ")}`)
})

/** Each step on its own: one failing (e.g. Redis down) must not skip the other. */
const step = <E extends { readonly message: string }, R>(name: string, effect: Effect.Effect<void, E, R>) =>
  Effect.gen(function*() {
    const { careStep } = yield* Timings
    yield* effect.pipe(
      Effect.timeoutOrElse({ duration: careStep, orElse: () => Effect.logWarning(`${name} did not finish within ${Duration.format(careStep)}`) }),
      Effect.catch((e) => Effect.logWarning(`${name} skipped: ${e.message}`))
    )
  })

/** Every few seconds: a stranded replica is noticed from the observations, moved after the grace. */
export const careForReplica = (state: Ref.Ref<AgentState>) =>
  Effect.flatMap(Ref.get(state), (s) => (s.consul.paused ? Effect.void : step("following the sentinels' master", followSentinelsMaster(state))))

/** Every 30 s (Sentinel's advice for resets), so asking Consul and Sentinel costs little at rest. */
export const careForSentinel = (state: Ref.Ref<AgentState>) => step("sentinel reset", resetStaleSentinel(state))

/**
 * Every second: one local read at rest, so a restarted sentinel is tuned again within
 * a second. A sentinel that does not answer yet (starting) is tried again next second,
 * quietly: its own check says whether it is healthy.
 */
export const careForSentinelPeriods = tuneSentinel.pipe(Effect.catch((e) => Effect.logDebug(`sentinel tuning skipped: ${e.message}`)))
