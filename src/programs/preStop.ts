// `manage pre-stop`: a stopping master hands over to a replica before Redis gets
// SIGTERM (DESIGN.md §4). Writes are paused first and a replica must have caught up,
// so no acknowledged write is lost; writes then stay paused until this Redis exits,
// because after SENTINEL FAILOVER the old master would otherwise accept writes for
// ~10 s that nobody keeps. Never SENTINEL RESET. Always exits 0: stopping proceeds.
import { Duration, Effect, Option, Schedule } from "effect"
import { consulNames, serviceId } from "../domain/ConsulNames.ts"
import { type Endpoint, formatEndpoint, sameEndpoint } from "../domain/Endpoint.ts"
import { selfRedis, selfSentinel } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { Consul } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"

const handover = Effect.gen(function*() {
  const settings = yield* Settings
  const redis = yield* Redis
  const sentinel = yield* Sentinel
  const consul = yield* Consul
  const timings = yield* Timings
  const self = selfRedis(settings)
  const names = consulNames(settings.serviceName)

  const role = yield* redis.role(self)
  if (role._tag !== "Master") return yield* Effect.log(`pre-stop: not master (${role._tag.toLowerCase()}), nothing to hand over`)
  if (role.replicas.length === 0) return yield* Effect.log("pre-stop: master without a connected replica, nothing to hand over to")

  // Peers first: this node's own Sentinel may be stopping alongside Redis.
  const peers = yield* consul.instances(names.sentinelService).pipe(
    Effect.map((list) => list.filter((s) => s.passing).map((s): Endpoint => ({ host: s.address, port: s.port }))),
    Effect.orElseSucceed((): ReadonlyArray<Endpoint> => [])
  )
  const sentinels = [...peers.filter((p) => !sameEndpoint(p, selfSentinel(settings))), selfSentinel(settings)]

  yield* redis.pauseWrites(self, Duration.sum(settings.preStopTimeout, timings.handoverPause))
  const paused = yield* redis.replication(self)
  const caughtUp = yield* Effect.forEach(role.replicas, (r) => redis.role(r.endpoint).pipe(Effect.option), { concurrency: "unbounded" }).pipe(
    Effect.map((roles) => roles.some((r) => Option.isSome(r) && r.value._tag === "Replica" && r.value.offset >= paused.master_repl_offset)),
    Effect.repeat({ schedule: Schedule.spaced(timings.pollEvery), until: (ok) => ok }),
    Effect.timeoutOrElse({ duration: timings.replicaCatchUp, orElse: () => Effect.succeed(false) })
  )
  if (!caughtUp) {
    yield* redis.unpause(self)
    return yield* Effect.logWarning(`pre-stop: no replica caught up within ${Duration.format(timings.replicaCatchUp)}; not handing over, Sentinel will fail over after down-after`)
  }

  // A Sentinel only reconfigures replicas it knows, and it learns them from the master's
  // INFO every 10 s: give the one that will fail over time to know them all.
  const knowsAll = (at: Endpoint) =>
    sentinel.replicas(at, settings.masterName).pipe(
      Effect.map((known) => role.replicas.every((r) => known.some((k) => sameEndpoint(k.endpoint, r.endpoint)))),
      Effect.orElseSucceed(() => false)
    )
  const informed = yield* Effect.findFirst(sentinels, knowsAll).pipe(
    Effect.repeat({ schedule: Schedule.spaced(timings.pollEvery), until: Option.isSome }),
    Effect.timeoutOrElse({ duration: timings.sentinelDiscovery, orElse: () => Effect.succeed(Option.none<Endpoint>()) })
  )
  const ordered = Option.match(informed, { onNone: () => sentinels, onSome: (first) => [first, ...sentinels.filter((x) => !sameEndpoint(x, first))] })

  const asked = yield* Effect.findFirst(ordered, (at) =>
    sentinel.failover(at, settings.masterName).pipe(
      Effect.as(true),
      Effect.catch((e) => Effect.logWarning(`pre-stop: ${e.message}`).pipe(Effect.as(false)))
    ))
  if (Option.isNone(asked)) {
    yield* redis.unpause(self)
    return yield* Effect.logWarning("pre-stop: no Sentinel accepted SENTINEL FAILOVER; Sentinel will fail over after down-after")
  }
  const newMaster = yield* sentinel.masterAddress(asked.value, settings.masterName).pipe(
    Effect.option,
    Effect.map(Option.flatten),
    Effect.repeat({ schedule: Schedule.spaced(timings.pollEvery), until: (m) => Option.exists(m, (e) => !sameEndpoint(e, self)) })
  )
  yield* Effect.log(`pre-stop: handed over to ${Option.match(newMaster, { onNone: () => "?", onSome: formatEndpoint })}; writes stay paused here until Redis exits`)
  yield* consul.setCheck(`service:${serviceId(names.masterService, settings.node.name)}`, "critical", "stopping: handed over").pipe(Effect.ignore)

  // A replica the Sentinel did not know still follows this node; left alone it would
  // chain to it forever once it returns as a replica. Move it to the new master.
  if (Option.isSome(newMaster)) {
    yield* Effect.forEach(role.replicas.filter((r) => !sameEndpoint(r.endpoint, newMaster.value)), (r) =>
      redis.role(r.endpoint).pipe(
        Effect.flatMap((now) =>
          now._tag === "Replica" && sameEndpoint(now.master, self)
            ? redis.replicaOf(r.endpoint, newMaster.value).pipe(
              Effect.tap(() => Effect.log(`pre-stop: moved ${formatEndpoint(r.endpoint)}, which Sentinel had not moved, to ${formatEndpoint(newMaster.value)}`))
            )
            : Effect.void
        ),
        Effect.catch((e) => Effect.logWarning(`pre-stop: ${e.message}`))
      ), { discard: true })
  }
})

export const preStop = Effect.gen(function*() {
  const settings = yield* Settings
  yield* handover.pipe(
    Effect.timeoutOrElse({
      duration: settings.preStopTimeout,
      orElse: () => Effect.logWarning(`pre-stop: handover did not finish within ${Duration.format(settings.preStopTimeout)}`)
    }),
    Effect.catch((e) => Effect.logWarning(`pre-stop: ${e.message}`))
  )
})
