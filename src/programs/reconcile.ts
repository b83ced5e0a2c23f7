// `manage reconcile`, every 30 s: keeps this node in line with the cluster after
// start. (1) A replica following another master than the one a majority of sentinels
// names is moved to it (Sentinel never moves replicas it does not know). (2) The local
// Sentinel forgets dead replicas and peers (DESIGN.md §6), one sentinel at a time
// cluster-wide: the turn is claimed by a compare-and-set on Consul's
// `service/<name>/sentinel-reset` record. Any doubt (Consul, Redis or Sentinel
// unreachable) means no action; exits 0 either way, the next run tries again.
import { Clock, Duration, Effect, Option, Schema } from "effect"
import { consulNames } from "../domain/ConsulNames.ts"
import { type Endpoint } from "../domain/Endpoint.ts"
import { decideReplicaTarget } from "../domain/ReplicaReconcile.ts"
import { sentinelMajority } from "../domain/RoleDecision.ts"
import { decideSentinelReset, LastResetFromJson } from "../domain/SentinelReset.ts"
import { selfRedis, selfSentinel } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { Consul, endpointOf, type ServiceInstance } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { askSentinels } from "./askSentinels.ts"

const alive = (instances: ReadonlyArray<ServiceInstance>): ReadonlyArray<Endpoint> => instances.filter((i) => i.passing).map(endpointOf)

const followSentinelsMaster = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const redis = yield* Redis
  const self = selfRedis(settings)
  const role = yield* redis.role(self)
  if (role._tag !== "Replica") return
  const sentinels = yield* consul.instances(consulNames(settings.serviceName).sentinelService)
  const reports = (yield* askSentinels(sentinels.filter((s) => s.passing), { withReplicas: false })).map((a) => a.master)
  const majority = sentinelMajority(reports)
  const answers = Option.isSome(majority)
    ? yield* redis.role(majority.value.master).pipe(Effect.map((r) => r._tag === "Master"), Effect.orElseSucceed(() => false))
    : false
  const action = decideReplicaTarget({ self, role, majority, majorityAnswersMaster: answers })
  if (action._tag === "Leave") return yield* Effect.logDebug(`reconcile: ${action.reason}`)
  yield* redis.replicaOf(self, action.master)
  yield* Effect.log(`reconcile: ${action.reason}`)
})

const resetStaleSentinel = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const sentinel = yield* Sentinel
  const timings = yield* Timings
  const names = consulNames(settings.serviceName)
  const local = selfSentinel(settings)
  const key = names.sentinelReset

  const master = yield* sentinel.master(local, settings.masterName)
  if (Option.isNone(master)) return yield* Effect.logDebug(`reconcile: the local Sentinel does not monitor ${settings.masterName}`)
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
  if (decision._tag === "Keep") return yield* Effect.logDebug(`reconcile: ${decision.reason}`)

  const claimed = yield* consul.put(key, JSON.stringify({ node: settings.node.name, at: now }), {
    cas: Option.match(record, { onNone: () => 0, onSome: (e) => e.modifyIndex })
  })
  if (!claimed) return yield* Effect.logDebug("reconcile: another node took this turn to reset its sentinel")
  yield* sentinel.reset(local, settings.masterName)
  yield* Effect.log(`reconcile: ${decision.reason}`)
})

/** Each step on its own: one failing (e.g. Redis down) must not skip the other. */
const step = <E extends { readonly message: string }, R>(name: string, effect: Effect.Effect<void, E, R>) =>
  Effect.gen(function*() {
    const { reconcileStep } = yield* Timings
    yield* effect.pipe(
      Effect.timeoutOrElse({ duration: reconcileStep, orElse: () => Effect.logWarning(`reconcile: ${name} did not finish within ${Duration.format(reconcileStep)}`) }),
      Effect.catch((e) => Effect.logWarning(`reconcile: ${name} skipped: ${e.message}`))
    )
  })

export const reconcile = Effect.all([
  step("following the sentinels' master", followSentinelsMaster),
  step("sentinel reset", resetStaleSentinel)
], { discard: true })
