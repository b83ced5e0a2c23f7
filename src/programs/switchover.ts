// `manage switchover [--to NODE]`: a planned handover of the master role with no
// acknowledged write lost (DESIGN.md §4). Observe (paused?, the sentinels' master, its
// replicas with their lag, link and priority) → Switchover.ts decides → act with
// pre-stop's steps (handover.ts). Sentinel has no targeted failover, so every other
// replica is held at replica-priority 0 until the failover is over, and only once the
// sentinel that will fail over reports those priorities is it asked; every priority
// is put back afterwards, also on failure or interrupt. Exit 1 with the reason when
// refused or failed.
import { Duration, Effect, Option, Ref, Schedule, Schema } from "effect"
import { consulNames } from "../domain/ConsulNames.ts"
import { type Endpoint, formatEndpoint, sameEndpoint } from "../domain/Endpoint.ts"
import { sentinelMajority } from "../domain/RoleDecision.ts"
import { selfSentinel } from "../domain/Settings.ts"
import { decideSwitchover, type SwitchoverReplica } from "../domain/Switchover.ts"
import { Timings } from "../domain/Timings.ts"
import { Consul, endpointOf } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { askSentinels } from "./askSentinels.ts"
import { pollUntil } from "./poll.ts"
import { nodeOf, registeredRedis } from "./registered.ts"
import { awaitNewMaster, moveLeftBehind, pauseUntilCaughtUp, requestFailover, sentinelsToAsk } from "./handover.ts"

export class SwitchoverRefused extends Schema.TaggedError<SwitchoverRefused>()("SwitchoverRefused", { reason: Schema.String }) {
  override get message(): string {
    return `switchover refused, nothing was changed: ${this.reason}`
  }
}

export class SwitchoverFailed extends Schema.TaggedError<SwitchoverFailed>()("SwitchoverFailed", { reason: Schema.String }) {
  override get message(): string {
    return `switchover failed: ${this.reason}`
  }
}

const observe = (requested: Option.Option<string>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const redis = yield* Redis
    const names = consulNames(settings.serviceName)
    const [paused, sentinels, registered] = yield* Effect.all([
      consul.get(names.paused).pipe(Effect.map(Option.isSome)),
      consul.instances(names.sentinelService),
      registeredRedis
    ], { concurrency: 3 })
    const passing = sentinels.filter((s) => s.passing)
    const reports = yield* askSentinels(passing, { withReplicas: false })
    const majority = sentinelMajority(reports.map((r) => r.master))
    const role = Option.isSome(majority) ? yield* redis.role(majority.value.master).pipe(Effect.option) : Option.none()
    const master = Option.filter(role, (r) => r._tag === "Master")
    const noMaster = Option.isNone(majority)
      ? `no majority of the ${passing.length} passing sentinels names one`
      : `the sentinels name ${Option.match(majority, { onNone: () => "", onSome: (m) => formatEndpoint(m.master) })}, which does not answer as master`
    const found = Option.isSome(master) && master.value._tag === "Master" && Option.isSome(majority)
      ? { endpoint: majority.value.master, offset: master.value.offset, replicas: master.value.replicas }
      : undefined
    const described: ReadonlyArray<SwitchoverReplica> = found === undefined ? [] : yield* Effect.forEach(found.replicas, (r) =>
      Effect.all([redis.role(r.endpoint).pipe(Effect.option), redis.replicaPriority(r.endpoint).pipe(Effect.option)], { concurrency: 2 }).pipe(
        Effect.map(([own, priority]): SwitchoverReplica => ({
          endpoint: r.endpoint,
          node: nodeOf(registered, r.endpoint),
          link: Option.flatMap(own, (x) => (x._tag === "Replica" ? Option.some(x.state) : Option.none())),
          lagBytes: Math.max(0, found.offset - r.offset),
          priority
        }))
      ), { concurrency: "unbounded" })
    return {
      decision: decideSwitchover({
        pausedKey: names.paused,
        paused,
        master: found === undefined ? Option.none() : Option.some({ endpoint: found.endpoint, node: nodeOf(registered, found.endpoint) }),
        noMaster,
        replicas: described,
        requested
      }),
      sentinels: sentinelsToAsk(sentinels, selfSentinel(settings))
    }
  })

/**
 * Holds every other replica at priority 0 for the length of `use` and puts each value
 * back after, whatever happened: the values are read before anything changes, so a
 * failure part-way through setting them still restores every one. A value that could
 * not be put back is recorded in `unrestored` (the caller fails with it).
 */
const withPrioritiesHeld = <A, E, R>(others: ReadonlyArray<Endpoint>, unrestored: Ref.Ref<ReadonlyArray<string>>, use: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const redis = yield* Redis
    const timings = yield* Timings
    return yield* Effect.acquireUseRelease(
      Effect.forEach(others, (at) => Effect.map(redis.replicaPriority(at), (before) => ({ at, before })), { concurrency: "unbounded" }).pipe(
        Effect.mapError((e) => new SwitchoverFailed({ reason: `could not read the other replicas' priorities, nothing was changed: ${e.message}` }))
      ),
      () =>
        Effect.forEach(others, (at) => redis.setReplicaPriority(at, 0), { discard: true }).pipe(
          Effect.mapError((e) => new SwitchoverFailed({ reason: `could not hold the other replicas at priority 0: ${e.message}` })),
          Effect.andThen(use)
        ),
      (held) =>
        Effect.forEach(held, ({ at, before }) =>
          // Sentinel reconfigures the replicas right after the promotion, closing their
          // client connections and rewriting redis.conf (with the 0 held then): set,
          // read back and rewrite, on a fresh connection each try, until it holds or
          // priorityRestore passes. What still fails, the node's agent puts back later.
          redis.setReplicaPriority(at, before).pipe(
            Effect.andThen(redis.replicaPriority(at)),
            Effect.filterOrFail((now) => now === before, (now) => new SwitchoverFailed({ reason: `reads ${now}` })),
            Effect.andThen(redis.rewriteConfig(at)),
            Effect.retry(Schedule.spaced(timings.pollEvery).pipe(Schedule.upTo({ duration: timings.priorityRestore }))),
            Effect.catch((e) => Ref.update(unrestored, (xs) => [...xs, `${formatEndpoint(at)} (to ${before}: ${e.message})`]))
          ), { discard: true })
    )
  })

export const switchover = (to: Option.Option<string>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const redis = yield* Redis
    const sentinel = yield* Sentinel
    const consul = yield* Consul
    const timings = yield* Timings
    const names = consulNames(settings.serviceName)
    const { decision, sentinels } = yield* observe(to)
    if (decision._tag === "Refuse") return yield* new SwitchoverRefused({ reason: decision.reason })
    yield* Effect.log(`switchover: ${decision.reason}`)
    const { master, target, others } = decision
    const priority = Option.getOrElse(target.priority, () => 1)

    // The sentinel to ask is one that already sees the target as the only promotable replica.
    const sees = (at: Endpoint) =>
      sentinel.replicas(at, settings.masterName).pipe(
        Effect.map((known) =>
          known.some((k) => sameEndpoint(k.endpoint, target.endpoint) && k.priority === priority) &&
          others.every((o) => known.some((k) => sameEndpoint(k.endpoint, o) && k.priority === 0))
        ),
        Effect.orElseSucceed(() => false)
      )
    const failedOver = yield* Ref.make(false)
    const unrestored = yield* Ref.make<ReadonlyArray<string>>([])
    const handover = Effect.gen(function*() {
      const ready = yield* pollUntil(Effect.findFirst(sentinels, sees), Option.isSome, timings.priorityPropagation, () => Option.none<Endpoint>())
      if (Option.isNone(ready)) {
        return yield* new SwitchoverFailed({ reason: `no sentinel reported the held priorities within ${Duration.format(timings.priorityPropagation)}; nothing was handed over` })
      }
      const caughtUp = yield* pauseUntilCaughtUp(master, [target.endpoint], Duration.sum(timings.replicaCatchUp, timings.switchoverSettle))
      if (Option.isNone(caughtUp)) {
        return yield* new SwitchoverFailed({ reason: `${formatEndpoint(target.endpoint)} did not catch up within ${Duration.format(timings.replicaCatchUp)} of pausing writes; writes resumed, nothing was handed over` })
      }
      const asked = yield* requestFailover([ready.value], "switchover")
      if (Option.isNone(asked)) return yield* new SwitchoverFailed({ reason: `sentinel ${formatEndpoint(ready.value)} refused SENTINEL FAILOVER` })
      yield* Ref.set(failedOver, true)
      const promoted = yield* awaitNewMaster(asked.value, master, timings.switchoverSettle)
      if (Option.isNone(promoted)) return yield* new SwitchoverFailed({ reason: `Sentinel named no new master within ${Duration.format(timings.switchoverSettle)}` })
      if (!sameEndpoint(promoted.value, target.endpoint)) {
        return yield* new SwitchoverFailed({ reason: `Sentinel promoted ${formatEndpoint(promoted.value)} instead of ${formatEndpoint(target.endpoint)}` })
      }
      // The old master follows at once instead of taking writes nobody keeps until Sentinel converts it (~10 s).
      yield* redis.replicaOf(master, target.endpoint)
      yield* moveLeftBehind(master, others, target.endpoint, "switchover")
    })
    // Writes on the old master resume once it is a replica (its clients then get READONLY and
    // follow Sentinel), or at once when no failover was asked; else its pause ends by itself.
    const resumeWrites = Effect.gen(function*() {
      const asked = yield* Ref.get(failedOver)
      const now = yield* redis.role(master).pipe(Effect.option)
      if (!asked || Option.exists(now, (r) => r._tag === "Replica")) return yield* redis.unpause(master).pipe(Effect.ignore)
      yield* Effect.logWarning(`switchover: ${formatEndpoint(master)} still answers as master: its writes stay paused until the pause ends`)
    })
    yield* withPrioritiesHeld(others, unrestored, handover).pipe(Effect.ensuring(resumeWrites))
    const left = yield* Ref.get(unrestored)
    if (left.length > 0) return yield* new SwitchoverFailed({ reason: `replica-priority not restored on ${left.join(", ")}: set it back with CONFIG SET replica-priority` })

    const onlyTarget = consul.instances(names.masterService).pipe(
      Effect.map((list) => list.filter((i) => i.passing).map(endpointOf)),
      Effect.option,
      Effect.map((m) => Option.exists(m, (ms) => ms.length === 1 && ms.some((e) => sameEndpoint(e, target.endpoint))))
    )
    const inConsul = yield* pollUntil(onlyTarget, (ok) => ok, timings.switchoverSettle, () => false)
    if (!inConsul) return yield* new SwitchoverFailed({ reason: `${formatEndpoint(target.endpoint)} is master in Sentinel but Consul does not show it as the one passing ${names.masterService} within ${Duration.format(timings.switchoverSettle)}` })
    yield* Effect.log(`switchover: ${formatEndpoint(target.endpoint)} is the master in Sentinel and in Consul; ${formatEndpoint(master)} follows it`)
  })
